"""Before and after: a finding's column on its rows against the same subgroup outside them.

Clicking a finding shows what changed in the data, not just a sentence about it: the
histogram of its column on the finding's rows (its subgroup inside its time window) over
the histogram of the same subgroup before the window (after it, when the window starts the
log), as shares so that two parts of different sizes compare. A swap shows both columns.
Missing values have no bin; their share is reported beside each histogram, since for a
null burst it is the whole story.

Numeric columns share equal-width bins over the subgroup's 1st to 99th percentile (values
beyond fall in the end bins); other columns show their most common categories with the rest
as "other".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.dataset import Dataset
from analysis.data.time import timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.data.roles import RoleMap
from analysis.store import Store
from analysis.slices import to_sql
from analysis.triage.ranking import MIN_BASELINE_ROWS, Finding, group_predicate
from analysis.report.formatting import count, percent
from analysis.scope import Scope

NUMERIC_BINS = 20
MAX_CATEGORIES = 12
OTHER = "other"
RANGE_QUANTILES = (0.01, 0.99)


@dataclass(frozen=True)
class ColumnHistograms:
    """One column before and on the finding's rows.

    Numeric columns have ``edges`` (``NUMERIC_BINS + 1`` of them) and no ``categories``;
    the others have ``categories`` (most common first, ``"other"`` last when some were
    folded) and no ``edges``. ``baseline``/``finding`` are the shares of the non-missing
    values per bin or category (each sums to 1, or is all 0 when a part has no value);
    ``*_rows`` count the part's rows and ``*_missing`` the share of them without a value.
    """

    column: str
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    baseline: np.ndarray
    finding: np.ndarray
    baseline_rows: int
    finding_rows: int
    baseline_missing: float
    finding_missing: float

    @property
    def numeric(self) -> bool:
        return bool(self.edges)


@dataclass(frozen=True)
class FindingHistograms:
    """The histograms of a finding's columns; ``baseline`` says which rows they compare
    with: ``"before"`` or ``"after"`` the window in the same subgroup, ``"none"`` when
    there are too few (or no window to step out of)."""

    baseline: str
    columns: tuple[ColumnHistograms, ...]


def finding_histograms(scope: Scope, finding: Finding, cancel: CancelToken = NEVER_CANCELLED) -> FindingHistograms:
    """Before/after histograms of every column of ``finding`` (the score for a model-only one)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    present = {c.name for c in dataset.columns}
    columns = [c for c in finding.columns if c in present] or [s for s in roles.scores[:1] if s in present]
    group = to_sql(group_predicate(finding.group))
    part = _part_expression(dataset, roles, finding.window)
    counts = {column: _counts(store, dataset, column, group, part, cancel) for column in columns}
    rows = {p: 0 for p in ("before", "after")}
    for (p, _), n in (next(iter(counts.values())).by_part.items() if counts else ()):
        rows[p] = rows.get(p, 0) + n
    baseline = "before" if rows["before"] >= MIN_BASELINE_ROWS else "after" if rows["after"] else "none"
    return FindingHistograms(baseline, tuple(_histograms(column, c, baseline) for column, c in counts.items()))


def _part_expression(dataset: Dataset, roles: RoleMap, window) -> Sql:
    start, end = window
    if roles.timestamp is None or start is None or end is None:
        return Sql("'inside'")
    ts = timestamp_expr(dataset, roles)
    return Sql(f"CASE WHEN {ts} < ? THEN 'before' WHEN {ts} < ? THEN 'inside' ELSE 'after' END", (start, end))


@dataclass(frozen=True)
class _Counts:
    """Rows per (part, bin) of one column; bin None is a missing value."""

    edges: tuple[float, ...]
    by_part: dict[tuple[str, Any], int]


def _counts(store: Store, dataset: Dataset, column: str, group: Sql, part: Sql, cancel: CancelToken) -> _Counts:
    if dataset.column(column).is_numeric:
        x = f"CAST({ident(column)} AS DOUBLE)"
        edges = _edges(store, dataset, x, group, cancel)
        width = (edges[-1] - edges[0]) / NUMERIC_BINS
        bin_sql = (f"CASE WHEN isfinite({x}) THEN least(greatest(CAST(floor(({x} - {edges[0]!r}) / {width!r}) "
                   f"AS INTEGER), 0), {NUMERIC_BINS - 1}) END")
    else:
        edges = ()
        bin_sql = f"CAST({ident(column)} AS VARCHAR)"
    rows = store.rows(Sql(
        f"SELECT {part.text} AS part, {bin_sql} AS bin, count(*) FROM {ident(dataset.view)} "
        f"WHERE {group.text} GROUP BY ALL", part.params + group.params), cancel)
    return _Counts(edges, {(p, b): int(n) for p, b, n in rows})


def _edges(store: Store, dataset: Dataset, x: str, group: Sql, cancel: CancelToken) -> tuple[float, ...]:
    """Equal-width edges over the subgroup's 1st to 99th percentile (widened when constant)."""
    low, high = store.rows(Sql(
        f"SELECT quantile_cont({x}, {RANGE_QUANTILES[0]}) FILTER (WHERE isfinite({x})), "
        f"quantile_cont({x}, {RANGE_QUANTILES[1]}) FILTER (WHERE isfinite({x})) "
        f"FROM {ident(dataset.view)} WHERE {group.text}", group.params), cancel)[0]
    if low is None:
        low, high = 0.0, 1.0
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return tuple(float(e) for e in np.linspace(low, high, NUMERIC_BINS + 1))


def _histograms(column: str, counts: _Counts, baseline: str) -> ColumnHistograms:
    parts = {name: {b: n for (p, b), n in counts.by_part.items() if p == name} for name in (baseline, "inside")}
    if counts.edges:
        categories: tuple[str, ...] = ()
        shares = {name: _numeric_counts(found) for name, found in parts.items()}
    else:
        categories = _shown_categories(parts)
        shares = {name: _category_counts(found, categories) for name, found in parts.items()}
    rows = {name: sum(found.values()) for name, found in parts.items()}
    missing = {name: (found.get(None, 0) / rows[name] if rows[name] else 0.0) for name, found in parts.items()}
    return ColumnHistograms(
        column=column, edges=counts.edges, categories=categories,
        baseline=_normalised(shares[baseline]), finding=_normalised(shares["inside"]),
        baseline_rows=rows[baseline], finding_rows=rows["inside"],
        baseline_missing=missing[baseline], finding_missing=missing["inside"],
    )


def _numeric_counts(found: dict[Any, int]) -> np.ndarray:
    counts = np.zeros(NUMERIC_BINS)
    for b, n in found.items():
        if b is not None:
            counts[int(b)] += n
    return counts


def _shown_categories(parts: dict[str, dict[Any, int]]) -> tuple[str, ...]:
    """The most common categories over both parts, "other" last when some do not fit."""
    totals: dict[str, float] = {}
    for found in parts.values():
        known = sum(n for b, n in found.items() if b is not None)
        for b, n in found.items():
            if b is not None:
                totals[b] = totals.get(b, 0.0) + n / known
    ordered = sorted(totals, key=lambda v: (-totals[v], v))
    if len(ordered) <= MAX_CATEGORIES:
        return tuple(ordered)
    return (*ordered[:MAX_CATEGORIES - 1], OTHER)


def _category_counts(found: dict[Any, int], categories: tuple[str, ...]) -> np.ndarray:
    counts = np.zeros(len(categories))
    index = {c: i for i, c in enumerate(categories)}
    folded = index.get(OTHER) if categories and categories[-1] == OTHER else None
    for b, n in found.items():
        if b is None:
            continue
        i = index.get(b, folded)
        if i is not None:
            counts[i] += n
    return counts


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def histogram_labels(histograms: ColumnHistograms, baseline: str) -> tuple[str, str]:
    """Legend labels of the two parts (the same subgroup before or after the finding's window, and
    the finding's rows), with their rows, and their missing shares where either part has missing
    values (otherwise there is no missing bar): short, so two legends side by side keep one line."""
    before = {"before": "before", "after": "after"}.get(baseline, "no baseline")
    any_missing = histograms.baseline_missing > 0 or histograms.finding_missing > 0

    def part(name: str, rows: int, missing: float) -> str:
        return f"{name} ({count(rows)} rows" + (f", {percent(missing, 0)} missing)" if any_missing else ")")

    return (part(before, histograms.baseline_rows, histograms.baseline_missing),
            part("finding", histograms.finding_rows, histograms.finding_missing))

