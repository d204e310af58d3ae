"""Where the candidate is worse: the comparison repeated on many slices, ranked.

Slices come from three places: the saved slices, every group of one column (binned as the
breakdown panel bins it), and slices discovered automatically. Discovery runs SliceLine
(:mod:`analysis.discovery`) over the paired rows with a per-pair regression signal: 1 for a
negative flip (for regression: the absolute error grew by more than the tolerance), so
conjunctions of up to ``max_level`` predicates where the candidate breaks what the base got
right are found. Discovery needs pairs; an unpaired comparison tests saved slices and groups.

Each slice is then tested like the overall comparison (accuracy: McNemar paired / Fisher
unpaired; log loss and MAE: the mean-difference interval; any other metric falls back to
accuracy for classification and MAE for regression, whose per-slice tests are cheap), and
all p-values are adjusted together by Benjamini-Yekutieli, because slices overlap.

Ranking: slices where the candidate is significantly worse (adjusted p < :data:`ALPHA` and
worse by more than the tolerance) first, then by the size of the regression, ``(worsening -
tolerance) x rows``: the number of requests the regression costs beyond what is tolerated.
A slice is not listed when a better-ranked one has the same rows (same counts and metric
values) or when it only adds predicates to a better-ranked one (a redundant refinement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .breakdown import bin_column
from .compare import (
    Pairing, Rows, at_threshold, accuracy_test, default_metric, mean_loss_test, pair_versions, paired_rows,
    paired_view, side_rows,
)
from .compare_stats import DiffTest, adjust_by
from .dataset import Dataset
from .discovery import discover_slices
from .flips import flip_indicator_sql
from .metrics import METRICS
from .progress import NEVER_CANCELLED, CancelToken
from .query import Sql
from .roles import RoleMap
from .slices import And, Predicate, Slice, to_sql, to_text
from .store import Store

ALPHA = 0.05
"""Significance level of "significantly worse", on Benjamini-Yekutieli adjusted p-values."""

DISCOVERED = 10
"""Slices discovery proposes for testing."""

SLICE_METRICS = {"accuracy", "error_rate", "log_loss", "mae"}


@dataclass(frozen=True)
class SliceDiff:
    """One slice's comparison. ``diff = candidate - base`` of ``metric``; ``rows`` are the
    slice's compared rows (paired: pairs; unpaired: both sides' rows)."""

    predicate_text: str
    predicate: Predicate
    source: str
    metric: str
    rows: int
    base: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None

    @property
    def worsening(self) -> float:
        """How much worse the candidate is on the slice (negative: better)."""
        if self.diff is None:
            return 0.0
        return -self.diff if METRICS[self.metric].higher_is_better else self.diff

    def significantly_worse(self, tolerance: float = 0.0) -> bool:
        return self.p_adjusted is not None and self.p_adjusted < ALPHA and self.worsening > tolerance


def slice_metric(roles: RoleMap, metric: str | None) -> str:
    """The metric slices are compared by: ``metric`` when it has a per-slice test, else the
    task's default (accuracy or MAE)."""
    return metric if metric in SLICE_METRICS and roles.task in METRICS[metric].tasks else default_metric(roles)


def regressed_slices(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    base: str,
    candidate: str,
    condition: Sql | None = None,
    saved: Sequence[Slice] = (),
    column: str | None = None,
    discover: bool = True,
    max_level: int = 3,
    min_support: int | None = None,
    tolerance: float = 0.0,
    metric: str | None = None,
    threshold: float | None = None,
    pairing: Pairing | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[SliceDiff]:
    """Slices where ``candidate`` is worse than ``base`` by more than ``tolerance``, worst first."""
    roles = at_threshold(roles, threshold)
    metric = slice_metric(roles, metric)
    pairing = pairing or pair_versions(store, dataset, roles, base, candidate, condition, cancel=cancel)
    candidates = [(to_text(s.predicate), s.predicate, "saved") for s in saved]
    if column is not None:
        binning = bin_column(store, dataset, column, condition, cancel=cancel)
        candidates += [(g.key, g.predicate, "group") for g in binning.groups]
    if pairing.paired:
        with paired_view(store, dataset, roles, pairing) as view:
            if discover:
                candidates += _discovered(store, dataset, roles, view, condition, max_level, min_support, tolerance, cancel)
            tested = [_test(store, roles, metric, True, text, predicate, source,
                            paired_rows(view, to_sql(predicate) & condition), None, cancel)
                      for text, predicate, source in _unique(candidates)]
    else:
        tested = [_test(store, roles, metric, False, text, predicate, source,
                        side_rows(dataset, roles, pairing.base, "b", to_sql(predicate) & condition),
                        side_rows(dataset, roles, pairing.candidate, "c", to_sql(predicate) & condition), cancel)
                  for text, predicate, source in _unique(candidates)]
    return _ranked(_adjusted(tested), tolerance)


def _discovered(store: Store, dataset: Dataset, roles: RoleMap, view: str, condition: Sql | None, max_level: int,
                min_support: int | None, tolerance: float, cancel: CancelToken) -> list[tuple[str, Predicate, str]]:
    columns = [dataset.column(name) for name in roles.features if name in dataset.column_names]
    if not columns:
        return []
    found = discover_slices(store, view, columns, flip_indicator_sql(roles, tolerance), condition,
                            k=DISCOVERED, max_level=max_level, min_support=min_support, cancel=cancel)
    return [(s.text, s.to_slice().predicate, "discovered") for s in found]


def _unique(candidates: list[tuple[str, Predicate, str]]) -> list[tuple[str, Predicate, str]]:
    """Candidates with the same predicate text tested once (the first source named wins)."""
    seen: dict[str, tuple[str, Predicate, str]] = {}
    for entry in candidates:
        seen.setdefault(entry[0], entry)
    return list(seen.values())


def _test(store: Store, roles: RoleMap, metric: str, paired: bool, text: str, predicate: Predicate, source: str,
          base_rows: Rows, cand_rows: Rows | None, cancel: CancelToken) -> SliceDiff:
    cand_rows = cand_rows or base_rows
    if metric in ("accuracy", "error_rate"):
        test = accuracy_test(store, paired, base_rows, cand_rows, cancel)
        if metric == "error_rate" and test.diff is not None:
            test = DiffTest(1 - test.base, 1 - test.candidate, -test.diff, -test.ci_high, -test.ci_low,
                            test.p_value, test.method)
    else:
        test = mean_loss_test(store, paired, base_rows, cand_rows, cancel)
    rows = _count(store, base_rows, cancel) + (0 if paired else _count(store, cand_rows, cancel))
    return SliceDiff(text, predicate, source, metric, rows, test.base, test.candidate, test.diff,
                     test.ci_low, test.ci_high, test.p_value, None)


def _count(store: Store, rows: Rows, cancel: CancelToken) -> int:
    return int(store.scalar(Sql(f"SELECT COUNT(*) FROM ({rows.sql.text}) WHERE {rows.label} IS NOT NULL",
                                rows.sql.params), cancel))


def _adjusted(tested: list[SliceDiff]) -> list[SliceDiff]:
    with_p = [s for s in tested if s.p_value is not None]
    adjusted = dict(zip(map(id, with_p), adjust_by([s.p_value for s in with_p])))
    return [_with_p_adjusted(s, adjusted.get(id(s))) for s in tested]


def _with_p_adjusted(s: SliceDiff, p_adjusted: float | None) -> SliceDiff:
    return SliceDiff(s.predicate_text, s.predicate, s.source, s.metric, s.rows, s.base, s.candidate, s.diff,
                     s.ci_low, s.ci_high, s.p_value, p_adjusted)


def _ranked(tested: list[SliceDiff], tolerance: float) -> list[SliceDiff]:
    worse = [s for s in tested if s.worsening > tolerance]
    worse.sort(key=lambda s: (not s.significantly_worse(tolerance), -(s.worsening - tolerance) * s.rows))
    kept: list[SliceDiff] = []
    for s in worse:
        if not any(_repeats(s, better) for better in kept):
            kept.append(s)
    return kept


def _repeats(s: SliceDiff, better: SliceDiff) -> bool:
    """True when ``s`` has the same rows as ``better`` or only adds predicates to it."""
    same_rows = (s.rows, s.base, s.candidate) == (better.rows, better.base, better.candidate)
    return same_rows or _parts(better.predicate) < _parts(s.predicate)


def _parts(predicate: Predicate) -> frozenset[str]:
    parts = predicate.parts if isinstance(predicate, And) else (predicate,)
    return frozenset(to_text(p) for p in parts)
