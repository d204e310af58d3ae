"""Since when and for whom, as a slice: a finding's problem located row by row.

The checks see time buckets and the groups of single low-cardinality columns. Given the rows
that show a problem (an expression of :mod:`analysis.triage.violating_rows`), this module
narrows both:

* :func:`scanned_window`: Kulldorff's scan statistic (:mod:`analysis.triage.scan`) over the
  time-ordered rows of the finding's group finds the window whose share of such rows is most
  above the rest's, at whatever scale the rows hold (hours in a dense log, days or weeks in
  a log of twenty rows a day), with a p-value over all the windows tried. The baseline (what
  the expression gives on healthy rows, e.g. unusual rows that merely look swapped) is the
  share outside the window, measured on the log itself.
* :func:`violating_slice`: inside the window, slice discovery (SliceLine,
  :mod:`analysis.discovery.sliceline`) with "shows the problem" as the error signal, over the
  log's categorical columns. The top slice is where the problem is when it *concentrates*
  it: it holds at least :data:`MIN_COVERAGE` of the window's excess rows, and its share of
  such rows is above the rest of the window's beyond chance (one-sided Fisher exact test,
  Bonferroni over the slices such a search can try). Otherwise the problem is everywhere.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from analysis.slicing.binning import IN, IS_NULL
from analysis.dataset import Column, Dataset
from analysis.discovery.sliceline import searched_slices
from analysis.data.time import BUCKETS, Bucket, time_span, timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.data.roles import RoleMap
from analysis.scope import Scope
from analysis.slices import Compare, IsNull, Predicate, all_of, to_sql, to_text
from analysis.stats.multiple_testing import adjust_p_values
from analysis.store import Store
from analysis.triage.scan import MAX_UNITS, PERMUTATIONS, interval_p_value, scan
from analysis.triage.violating_rows import Violation

MIN_COVERAGE = 0.8
"""A slice concentrates a problem only if it holds at least this share of the window's excess
rows ("most of them")..."""

SLICE_ALPHA = 0.05
"""...and if its share of such rows exceeds the rest's at this family-wise level."""

CATEGORIES_PER_COLUMN = 10
"""Values per column slice discovery considers (its ``max_categories``): with the columns and
:data:`SLICE_MAX_LEVEL`, the count of slices the Bonferroni correction divides by."""

FINEST_UNIT_SECONDS = 3600.0
"""Windows are told to the hour: finer edges would follow the gaps between single rows."""

SLICE_MAX_LEVEL = 2
"""Predicates per slice: ``region = 'EU-West' AND device_type = 'ios'`` at most."""

SLICE_COLUMN_TYPES = ("VARCHAR", "BOOLEAN")


@dataclass(frozen=True)
class ScannedWindow:
    """The time ``[start, end)`` a problem lasted, found by the scan statistic over the rows of
    one group: rows and the share showing the problem inside (``inside_share``) and outside
    (``baseline``), the units' width, and the scan's p-value (all windows of the span tried)."""

    start: _dt.datetime
    end: _dt.datetime
    rows: int
    inside_share: float
    baseline: float
    unit: Bucket
    p_value: float | None


def scanned_window(scope: Scope, violation: Violation, group: Sql,
                   cancel: CancelToken = NEVER_CANCELLED) -> ScannedWindow | None:
    """The window of the log (rows of ``group``) where ``violation``'s rows are most in excess;
    None when no stretch of time has more of them than the rest.

    The whole log is scanned in units as fine as :data:`analysis.triage.scan.MAX_UNITS` allows,
    which weighs the evidence (the p-value); then the window's edges are refined by scanning
    again around it (the window and as much again on each side) in finer units, until the
    units stop getting finer: an hour-long burst in a month of traffic ends on its hour."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    span = time_span(scope.with_condition(group))
    if span is None:
        return None
    found = _scan_span(store, dataset, roles, violation, group, span, PERMUTATIONS, cancel)
    if found is None:
        return None
    window = found
    while True:
        length = window.end - window.start
        around = (max(span[0], window.start - length), min(span[1], window.end + length))
        if scan_unit(*around).seconds >= window.unit.seconds:
            break
        refined = _scan_span(store, dataset, roles, violation, group, around, 0, cancel)
        if refined is None or not (refined.start < window.end and window.start < refined.end):
            break
        window = refined
    return replace(window, p_value=found.p_value)


def _scan_span(
    store: Store, dataset: Dataset, roles: RoleMap, violation: Violation, group: Sql,
    span: tuple[_dt.datetime, _dt.datetime], permutations: int, cancel: CancelToken,
) -> ScannedWindow | None:
    """One scan of the rows of ``group`` from ``span[0]`` to ``span[1]`` (both included)."""
    unit = scan_unit(*span)
    series = _unit_series(store, dataset, roles, violation, group, span, unit, cancel)
    if series is None:
        return None
    starts, rows, cases = series
    found = scan(rows, cases, permutations)
    if found is None:
        return None
    inside, outside = found.rate_inside, found.rate_outside
    if violation.direction < 0:
        inside, outside = 1.0 - inside, 1.0 - outside
    end = unit_end(starts[found.last], unit)
    return ScannedWindow(starts[found.first], end, found.rows, inside, outside, unit, found.p_value)


def stretch_p_value(scope: Scope, violation: Violation, group: Sql, start: _dt.datetime, end: _dt.datetime,
                    cancel: CancelToken = NEVER_CANCELLED) -> float | None:
    """The scan's p-value of the window ``[start, end)`` the checks' buckets gave, when the
    rows' own most likely window lies elsewhere: the evidence that this stretch, among all
    the windows of the log, holds more of ``violation``'s rows than chance. None without rows."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    span = time_span(scope.with_condition(group))
    if span is None:
        return None
    unit = scan_unit(*span)
    series = _unit_series(store, dataset, roles, violation, group, span, unit, cancel)
    if series is None:
        return None
    starts, rows, cases = series
    inside = [i for i, s in enumerate(starts) if start <= s < end]
    if not inside:
        return None
    return interval_p_value(rows, cases, inside[0], inside[-1])


def _unit_series(
    store: Store, dataset: Dataset, roles: RoleMap, violation: Violation, group: Sql,
    span: tuple[_dt.datetime, _dt.datetime], unit: Bucket, cancel: CancelToken,
) -> tuple[list, np.ndarray, np.ndarray] | None:
    """Unit starts, rows and rows showing the problem (in its direction) per unit of ``span``."""
    ts = timestamp_expr(dataset, roles)
    where = Sql(f"{ts} >= ? AND {ts} <= ?", span) & group
    units = store.rows(Sql(
        f"SELECT {unit.sql(ts)} AS unit_start, count({violation.expression}) AS n, "
        f"sum({violation.expression}) AS cases FROM {ident(dataset.view)} WHERE {where.text} "
        f"GROUP BY 1 HAVING count({violation.expression}) > 0 ORDER BY 1", where.params), cancel)
    if not units:
        return None
    starts = [u for u, _, _ in units]
    rows = np.array([n for _, n, _ in units], dtype=np.int64)
    cases = np.rint(np.array([float(c) for _, _, c in units])).astype(np.int64)
    return starts, rows, (rows - cases if violation.direction < 0 else cases)


def surrounding_share(scope: Scope, violation: Violation, rows: Sql, start: _dt.datetime, end: _dt.datetime,
                      cancel: CancelToken = NEVER_CANCELLED) -> float | None:
    """The share of ``rows`` showing ``violation`` in the window's length of time on each side
    of ``[start, end)``: what the window's rows would show were they healthy, measured on the
    rows :func:`violating_slice` counts (the whole log's, where the window was scanned over one
    group's). A group's own rows around its window are few, and a value common everywhere
    (Movies' share of films rated 1 by 4.5% of voters) may sit below the rest of the log's in
    them by chance: the other groups' rows in the window then read as excess, and the stuck
    source no longer holds most of it. None without rows around the window."""
    ts = timestamp_expr(scope.dataset, scope.roles)
    length = end - start
    around = Sql(f"{ts} >= ? AND {ts} < ? AND NOT ({ts} >= ? AND {ts} < ?)",
                 (start - length, end + length, start, end)) & rows
    count, showing = _counts(scope.store, scope.dataset, violation, around, cancel)
    return showing / count if count else None


def outside_windows(dataset: Dataset, roles: RoleMap, windows: Sequence[tuple[_dt.datetime, _dt.datetime]]) -> Sql:
    """The rows outside every ``[start, end)`` of ``windows``: where a finding's rows are
    another finding's (a column's far values inside the window of a swap that holds it)."""
    if not windows:
        return Sql("TRUE")
    ts = timestamp_expr(dataset, roles)
    return Sql(" AND ".join(f"NOT ({ts} >= ? AND {ts} < ?)" for _ in windows),
               tuple(moment for window in windows for moment in window))


def scan_unit(start: _dt.datetime, end: _dt.datetime) -> Bucket:
    """The finest time unit, an hour at least, giving at most
    :data:`analysis.triage.scan.MAX_UNITS` units over the span."""
    seconds = max((end - start).total_seconds(), 0.0)
    return next((b for b in BUCKETS if b.seconds >= FINEST_UNIT_SECONDS and seconds / b.seconds <= MAX_UNITS),
                BUCKETS[-1])


def unit_end(unit_start: _dt.datetime, unit: Bucket) -> _dt.datetime:
    """Where the unit starting at ``unit_start`` ends (months by the calendar)."""
    if unit.interval.endswith("month") or unit.interval.endswith("months"):
        months = int(unit.interval.split()[0])
        index = unit_start.month - 1 + months
        return unit_start.replace(year=unit_start.year + index // 12, month=index % 12 + 1)
    if unit.interval.endswith("year"):
        return unit_start.replace(year=unit_start.year + 1)
    return unit_start + _dt.timedelta(seconds=unit.seconds)


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


def violating_slice(scope: Scope, violation: Violation, window: Sql, columns: Sequence[Column], baseline: float,
                    cancel: CancelToken = NEVER_CANCELLED) -> Concentration | None:
    """The slice of the ``window`` rows where ``violation``'s rows concentrate (see the
    module text); None when no slice can be stated as equalities over ``columns``.

    A predicate of the slice found stays only if it sharpens it: the rows it adds to the
    slice without it must show the problem less often, beyond chance (a predicate true for
    most rows, such as ``children <= 1``, rides along with the real one otherwise)."""
    store, dataset = scope.store, scope.dataset
    window_rows, violating = _counts(store, dataset, violation, window, cancel)
    if not window_rows or not violating:
        return None
    found = searched_slices(store, dataset.view, list(columns), violation.expression, window,
                            k=1, max_level=SLICE_MAX_LEVEL, max_categories=CATEGORIES_PER_COLUMN, cancel=cancel).slices
    group = _as_group(found[0].predicates) if found else None
    searched = None
    if group is not None:
        alpha = SLICE_ALPHA / (CATEGORIES_PER_COLUMN * len(columns)) ** SLICE_MAX_LEVEL
        group = _sharpening(store, dataset, violation, window, group, alpha, cancel)
        slice_rows, slice_cases = _counts(store, dataset, violation, window & to_sql(_group_predicate(group)), cancel)
        searched = _concentration(group, slice_rows, slice_cases, window_rows, violating, baseline,
                                  lambda: _sharper_than_rest(round(slice_cases), slice_rows, round(violating),
                                                             window_rows, alpha))
        if searched.group:
            return searched
    return _concentrated_level(store, dataset, violation, window, columns, baseline, window_rows, violating,
                               cancel) or searched


def _concentration(group: tuple[tuple[str, Any], ...], slice_rows: int, slice_cases: float, window_rows: int,
                   violating: float, baseline: float, sharper: Callable[[], bool]) -> Concentration:
    """The slice ``group`` as a :class:`Concentration`: named when it holds
    :data:`MIN_COVERAGE` of the window's excess rows and is ``sharper`` than the rest."""
    excess_window = violating - baseline * window_rows
    excess_slice = slice_cases - baseline * slice_rows
    coverage = excess_slice / excess_window if excess_window > 0 else 0.0
    concentrated = coverage >= MIN_COVERAGE and sharper()
    return Concentration(
        group=group if concentrated else (), slice_text=to_text(_group_predicate(group)) if concentrated else None,
        slice_rows=slice_rows, slice_rate=slice_cases / slice_rows if slice_rows else 0.0,
        window_rows=window_rows, window_rate=violating / window_rows, coverage=float(coverage),
    )


def _concentrated_level(
    store: Store, dataset: Dataset, violation: Violation, window: Sql, columns: Sequence[Column], baseline: float,
    window_rows: int, violating: float, cancel: CancelToken,
) -> Concentration | None:
    """The one level of one column where the window's problem rows concentrate, when slice
    discovery named none; None when no level does.

    Slice discovery searches slices of :func:`analysis.discovery.sliceline.default_min_support`
    rows at least (32): at three requests a day a month-long incident of one channel holds
    fewer, and the finding stayed "for all rows". A single level needs no search: each level's
    share of problem rows is tested against the rest of the window's (one-sided Fisher, which is
    the level's share of the problem rows against its share of all rows), the
    Benjamini-Hochberg procedure controls the false discovery rate over every level tried
    (the :data:`CATEGORIES_PER_COLUMN` most frequent of each column), and of the levels it
    keeps that hold :data:`MIN_COVERAGE` of the excess rows, the most significant is named."""
    levels = _level_counts(store, dataset, violation, window, columns, cancel)
    if not levels:
        return None
    p_values = [_fisher_greater(round(cases), rows, round(violating - cases), window_rows - rows)
                for _, rows, cases in levels]
    adjusted = adjust_p_values(p_values, "bh")
    best = None
    for (group, rows, cases), p_value, q_value in zip(levels, p_values, adjusted):
        found = _concentration(group, rows, cases, window_rows, violating, baseline, lambda: q_value < SLICE_ALPHA)
        if found.group and (best is None or p_value < best[0]):
            best = (p_value, found)
    return best[1] if best else None


def _level_counts(store: Store, dataset: Dataset, violation: Violation, window: Sql, columns: Sequence[Column],
                  cancel: CancelToken) -> list[tuple[tuple[tuple[str, Any], ...], int, float]]:
    """``(((column, value),), rows, problem rows)`` of the :data:`CATEGORIES_PER_COLUMN` most
    frequent levels of each column in ``window``, in one pass (GROUPING SETS)."""
    if not columns:
        return []
    names = [ident(c.name) for c in columns]
    result = store.rows(Sql(
        f"SELECT {', '.join(names)}, {', '.join(f'grouping({n})' for n in names)}, count(*), "
        f"CAST(sum({violation.expression}) AS DOUBLE) FROM {ident(dataset.view)} WHERE {window.text} "
        f"GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})", window.params), cancel)
    width = len(columns)
    levels: dict[str, list] = {}
    for row in result:
        index = list(row[width:2 * width]).index(0)
        levels.setdefault(columns[index].name, []).append(
            (((columns[index].name, row[index]),), int(row[2 * width]), float(row[2 * width + 1] or 0.0)))
    return [level for found in levels.values()
            for level in sorted(found, key=lambda level: -level[1])[:CATEGORIES_PER_COLUMN]]


def _counts(store: Store, dataset: Dataset, violation: Violation, where: Sql, cancel: CancelToken) -> tuple[int, float]:
    """Rows matching ``where`` and how many of them show the problem."""
    rows, cases = store.rows(Sql(f"SELECT count(*), CAST(sum({violation.expression}) AS DOUBLE) "
                                 f"FROM {ident(dataset.view)} WHERE {where.text}", where.params), cancel)[0]
    return int(rows or 0), float(cases or 0.0)


def _sharpening(
    store: Store, dataset: Dataset, violation: Violation, window: Sql, group: tuple[tuple[str, Any], ...],
    alpha: float, cancel: CancelToken,
) -> tuple[tuple[str, Any], ...]:
    """``group`` less the predicates that do not sharpen it: dropping one, the rows it let in
    must show the problem less often than the slice's, beyond chance (one-sided Fisher at
    ``alpha``). The predicate whose removal costs least goes first, until every one sharpens."""
    while len(group) > 1:
        slice_rows, slice_cases = _counts(store, dataset, violation, window & to_sql(_group_predicate(group)), cancel)
        worst, worst_p = None, 0.0
        for kept in group:
            parent = tuple(g for g in group if g != kept)
            rows, cases = _counts(store, dataset, violation, window & to_sql(_group_predicate(parent)), cancel)
            p_value = _fisher_greater(round(slice_cases), slice_rows, round(cases - slice_cases), rows - slice_rows)
            if p_value >= alpha and p_value >= worst_p:
                worst, worst_p = kept, p_value
        if worst is None:
            break
        group = tuple(g for g in group if g != worst)
    return group


def _group_predicate(group: tuple[tuple[str, Any], ...]) -> Predicate:
    return all_of([IsNull(c) if v is None else Compare(c, "=", v) for c, v in group])


def _fisher_greater(cases: int, rows: int, other_cases: int, other_rows: int) -> float:
    """One-sided Fisher p-value that ``cases / rows`` exceeds ``other_cases / other_rows``."""
    if rows <= 0 or other_rows <= 0:
        return 1.0
    table = [[cases, rows - cases], [other_cases, other_rows - other_cases]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def _sharper_than_rest(cases: int, rows: int, total_cases: int, total_rows: int, alpha: float) -> bool:
    """Whether a slice's share of cases is above the rest's beyond chance (one-sided Fisher)."""
    return _fisher_greater(cases, rows, total_cases - cases, total_rows - rows) < alpha


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
