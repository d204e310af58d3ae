"""Since when, to the hour, and for whom, as a slice: a finding's problem located row by row.

The checks see days and the groups of single low-cardinality columns. Given the rows that
show a problem (an expression of :mod:`analysis.triage.violating_rows`), this module narrows both:

* :func:`hourly_stretch`: the hourly share of such rows, over the checks' stretch and two
  buckets either side, less its baseline, goes through the same change-point detection as
  the buckets (:func:`analysis.triage.changepoint.find_stretch`). The baseline (what the expression
  gives on healthy rows, e.g. unusual rows that merely look swapped) is the median hour of
  the *outer* buckets: the bucket next to the stretch may be partly broken already (a
  problem that began at 09:00 fills too little of its day for the daily check to fire).
  Hours without rows are left out rather than read as healthy, so a quiet night does not
  cut a stretch in two.
* :func:`violating_slice`: inside the window, slice discovery (SliceLine,
  :mod:`analysis.discovery.sliceline`) with "shows the problem" as the error signal, over the log's
  categorical columns. The top slice is where the problem is when it *concentrates* it:
  its excess rate (above the baseline) is at least :data:`MIN_LIFT` times the window's, and
  it holds at least :data:`MIN_COVERAGE` of the window's excess rows. Otherwise the problem
  is everywhere.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.slicing.binning import IN, IS_NULL
from analysis.triage.changepoint import find_stretch
from analysis.dataset import Column, Dataset
from analysis.discovery.sliceline import discover_slices
from analysis.data.time import timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.data.roles import RoleMap
from analysis.store import Store
from analysis.triage.violating_rows import Violation

HOUR = _dt.timedelta(hours=1)

MIN_OUTSIDE_HOURS = 3
"""Hours outside the stretch needed to measure the baseline from the log itself."""

MIN_LIFT = 2.0
"""A slice concentrates a problem when its excess rate is at least this many times the
window's: the problem then sits in at most about half of the window's rows."""

MIN_COVERAGE = 0.8
"""...and when it holds at least this share of the window's excess rows ("most of them")."""

SLICE_MAX_LEVEL = 2
"""Predicates per slice: ``region = 'EU-West' AND device_type = 'ios'`` at most."""

SLICE_COLUMN_TYPES = ("VARCHAR", "BOOLEAN")


@dataclass(frozen=True)
class HourlyStretch:
    """The hours a problem lasted: ``[start, end)``, the share of rows showing it inside
    (``inside_share``, over ``rows`` rows) and outside (``baseline``)."""

    start: _dt.datetime
    end: _dt.datetime
    inside_share: float
    baseline: float
    rows: int


def hourly_stretch(
    store: Store, dataset: Dataset, roles: RoleMap, violation: Violation, group: Sql,
    start: _dt.datetime, end: _dt.datetime, pad: _dt.timedelta, cancel: CancelToken = NEVER_CANCELLED,
) -> HourlyStretch | None:
    """The stretch of hours, within ``[start - 2 pad, end + 2 pad)`` and the rows of ``group``,
    where ``violation``'s share departs from its baseline; None when none overlaps
    ``[start, end)`` (the checks' stretch)."""
    ts = timestamp_expr(dataset, roles)
    where = Sql(f"{ts} >= ? AND {ts} < ?", (start - 2 * pad, end + 2 * pad)) & group
    hours = store.rows(Sql(
        f"SELECT time_bucket(INTERVAL 1 HOUR, {ts}) AS hour_start, avg({violation.expression}) AS share, "
        f"count({violation.expression}) AS n FROM {ident(dataset.view)} WHERE {where.text} "
        f"GROUP BY 1 HAVING count({violation.expression}) > 0 ORDER BY 1", where.params), cancel)
    if not hours:
        return None
    moments = [h for h, _, _ in hours]
    shares = np.array([s for _, s, _ in hours], dtype=np.float64)
    counts = np.array([n for _, _, n in hours], dtype=np.float64)
    outside = np.array([not (start - pad <= h < end + pad) for h in moments])
    baseline = _baseline(shares[outside], violation)
    stretch = find_stretch(np.clip(violation.direction * (shares - baseline), 0.0, None))
    if stretch is None:
        return None
    first, last = moments[stretch.first], moments[stretch.last] + HOUR
    if not (first < end and start < last):
        return None
    inside = slice(stretch.first, stretch.last + 1)
    rows = int(counts[inside].sum())
    return HourlyStretch(first, last, float(np.dot(shares[inside], counts[inside]) / rows), baseline, rows)


def _baseline(outside: np.ndarray, violation: Violation) -> float:
    """The share on healthy rows: the median hour of the outer buckets, else the reference's."""
    if len(outside) >= MIN_OUTSIDE_HOURS:
        return float(np.median(outside))
    return violation.reference_share or 0.0


@dataclass(frozen=True)
class Concentration:
    """Where a problem sits inside its window.

    ``group`` is the slice as ``((column, value), ...)`` (``None`` values for IS NULL), ``()``
    when the problem is everywhere. ``slice_rate`` and ``window_rate`` are the shares of rows
    showing it in the slice and in the whole window; ``coverage`` the slice's share of the
    window's excess rows (those above the baseline).
    """

    group: tuple[tuple[str, Any], ...]
    slice_text: str | None
    slice_rows: int
    slice_rate: float
    window_rows: int
    window_rate: float
    coverage: float


def violating_slice(
    store: Store, dataset: Dataset, roles: RoleMap, violation: Violation, window: Sql,
    columns: Sequence[Column], baseline: float, cancel: CancelToken = NEVER_CANCELLED,
) -> Concentration | None:
    """The slice of the ``window`` rows where ``violation``'s rows concentrate (see the
    module text); None when no slice can be stated as equalities over ``columns``."""
    total = Sql(f"SELECT count(*), CAST(sum({violation.expression}) AS DOUBLE) FROM {ident(dataset.view)} "
                f"WHERE {window.text}", window.params)
    window_rows, violating = store.rows(total, cancel)[0]
    if not window_rows or not violating:
        return None
    violating = float(violating)
    window_rate = violating / window_rows
    found = discover_slices(store, dataset.view, list(columns), violation.expression, window,
                            k=1, max_level=SLICE_MAX_LEVEL, cancel=cancel)
    group = _as_group(found[0].predicates) if found else None
    if group is None:
        return None
    top = found[0]
    excess_window = violating - baseline * window_rows
    excess_slice = top.error_sum - baseline * top.size
    coverage = excess_slice / excess_window if excess_window > 0 else 0.0
    lift = (top.error_rate - baseline) / (window_rate - baseline) if window_rate > baseline else 0.0
    concentrated = lift >= MIN_LIFT and coverage >= MIN_COVERAGE
    return Concentration(
        group=group if concentrated else (), slice_text=top.text if concentrated else None,
        slice_rows=top.size, slice_rate=top.error_rate, window_rows=int(window_rows),
        window_rate=window_rate, coverage=float(coverage),
    )


def _as_group(predicates) -> tuple[tuple[str, Any], ...] | None:
    """Equality predicates (and IS NULL) as a group; None for a range or an "other" bin."""
    group = []
    for predicate in predicates:
        if predicate.kind == IN and len(predicate.values) == 1:
            group.append((predicate.column, predicate.values[0]))
        elif predicate.kind == IS_NULL:
            group.append((predicate.column, None))
        else:
            return None
    return tuple(group)


def slice_columns(dataset: Dataset, roles: RoleMap, excluded: Sequence[str]) -> list[Column]:
    """The columns a problem can be confined to: the log's text and boolean columns, less the
    id, the model's outputs and the finding's own columns (a null burst is trivially
    "where the column is null")."""
    skipped = {ROW_ID, roles.id, roles.timestamp, roles.label, roles.prediction, *roles.scores, *excluded}
    return [c for c in dataset.columns
            if c.name not in skipped and c.dtype.upper().split("(")[0] in SLICE_COLUMN_TYPES]
