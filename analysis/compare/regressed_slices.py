"""Where the candidate is worse: the comparison repeated on many slices, ranked.

Slices come from three places: the saved slices, every group of one column (binned as the
breakdown panel bins it), and slices discovered automatically. Discovery runs SliceLine
(:mod:`analysis.discovery.sliceline`) over the paired rows with a per-pair regression signal: 1 for a
negative flip (for regression: the absolute error grew by more than the tolerance), so
conjunctions of up to ``max_level`` predicates where the candidate breaks what the base got
right are found. Discovery needs pairs; an unpaired comparison tests saved slices and groups.
Discovery only *proposes* slices, so beyond :data:`DISCOVERY_PAIRS` pairs it searches a fixed
share of them: the pairs whose candidate row lies in :data:`SAMPLE_RUNS` runs of row ids spread
evenly over the log (a rerun proposes the same slices; a log ordered by time is searched across
its whole period); every proposed slice is then tested on all pairs like any other.

Each slice is then tested like the overall comparison (accuracy: McNemar paired / Fisher
unpaired; log loss and MAE: the mean-difference interval; any other metric falls back to
accuracy for classification and MAE for regression, whose per-slice tests are cheap), and
all p-values are adjusted together by Benjamini-Yekutieli, because slices overlap. All slices
are tested in one pass over the rows (:func:`analysis.compare.comparison.grouped_by_slice`).

Ranking: slices where the candidate is significantly worse (adjusted p < :data:`ALPHA` and
worse by more than the tolerance) first, then by the size of the regression, ``(worsening -
tolerance) x rows``: the number of requests the regression costs beyond what is tolerated.
A slice is not listed when a better-ranked one has the same rows (same counts and metric
values) or when it only adds predicates to a better-ranked one (a redundant refinement).

Naming the cause: a predicate stays in a conjunction only if it significantly sharpens the
regression against the slice without it (a predicate true for 85% of the rows, riding along
with the real one, does not), and a parent slice whose lost requests the sharper conjunction
accounts for gives way to it (:func:`_sharpened`). Discovery's bins may split a numeric
cause's threshold (a slice ``channel = 'web' AND lnwg > 2.72`` found as ``channel = 'web'``
alone): each of the worst slices with no numeric predicate is offered one threshold on each
numeric feature, at
the edges the same binning gives over the slice's rows, and takes the one that sharpens it
most if significantly, Bonferroni over every threshold tried (:func:`_refined`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

from scipy import stats

from analysis.slicing.binning import bin_column
from analysis.compare.comparison import (
    PAIR_LABEL, Pairing, Rows, accuracy_tests, at_threshold, complement, compared_rows, default_metric,
    mean_loss_tests, pair_versions, paired_rows_with_log, side_column, stored_pairs,
)
from analysis.stats.multiple_testing import adjust_p_values
from analysis.dataset import Dataset
from analysis.discovery.sliceline import searched_slices
from analysis.compare.flips import flip_indicator_sql
from analysis.metrics.per_version import METRICS
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, where_clause
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slices import And, Not, Predicate, Slice, all_of, role_leaves, to_sql, to_text
from analysis.store import Store

ALPHA = 0.05
"""Significance level of "significantly worse", on Benjamini-Yekutieli adjusted p-values."""

DISCOVERED = 10
"""Slices discovery proposes for testing."""

DISCOVERY_PAIRS = 500_000
"""Pairs discovery searches at most. A slice of 1% of the pairs still has 5,000 of them in
the searched share, ample to rank it, and the search takes seconds instead of a minute at
10M rows."""

SAMPLE_RUNS = 8
"""Runs of consecutive row ids discovery's share of the pairs is drawn from (see
:func:`_searched_pairs`): runs rather than a hash of each row id, so the log's reader skips
the row groups outside them. Fewer runs skip more row groups; more runs spread the share
over more of the log."""

SLICE_METRICS = {"accuracy", "error_rate", "log_loss", "mae"}

_FLIP_OUTCOMES = {TaskType.BINARY: ("pred", "ok"), TaskType.MULTICLASS: ("pred", "ok"), TaskType.REGRESSION: ("loss",)}
"""The outcomes of each version discovery's flip signal reads (:func:`analysis.compare.flips.flip_indicator_sql`):
right/wrong and the prediction, or a regression's losses."""

REFINED = 3
"""The worst slices (significantly worse, most requests lost) offered one numeric threshold more."""


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


@dataclass(frozen=True)
class SliceSettings:
    """Which slices a comparison tests, and how much worse one may be before it counts.

    One value for the knobs every slice comparison shares (the CLI's ``--max-level``,
    ``--min-support``, ``--tolerance``, ``--column`` and the workspace's saved slices), so
    they pass from the command line or the panel to the tests as one argument.

    Parameters
    ----------
    saved : sequence of Slice, default=()
        Slices a person saved, each tested as it is (one on outcomes, such as ``wrong``, is
        about one version's answers and is skipped).
    column : str or None, default=None
        A column whose every group (binned as the breakdown bins it) is tested as a slice.
    discover : bool, default=True
        Whether to search for regressed slices as well (SliceLine; paired comparisons only).
    max_level : int, default=3
        The most predicates a discovered slice combines.
    min_support : int or None, default=None
        The fewest pairs a discovered slice holds; None lets the search choose.
    tolerance : float, default=0.0
        How much worse the candidate may be on a slice before the slice counts as regressed.
    metric : str or None, default=None
        The metric slices are compared by; None (or one without a per-slice test) is the
        task's default, see :func:`slice_metric`.
    """

    saved: Sequence[Slice] = ()
    column: str | None = None
    discover: bool = True
    max_level: int = 3
    min_support: int | None = None
    tolerance: float = 0.0
    metric: str | None = None


def regressed_slices(scope: Scope, base: str, candidate: str, settings: SliceSettings = SliceSettings(),
                     threshold: float | None = None, pairing: Pairing | None = None,
                     cancel: CancelToken = NEVER_CANCELLED) -> list[SliceDiff]:
    """Slices where ``candidate`` is worse than ``base`` by more than ``settings.tolerance``, worst first."""
    dataset, roles = scope.dataset, scope.roles
    saved, column = settings.saved, settings.column
    roles = at_threshold(roles, threshold)
    pairing = pairing or pair_versions(scope.with_roles(roles), base, candidate, cancel=cancel)
    columns = slice_columns(dataset, roles, saved, column) if pairing.paired else ()
    base_rows, cand_rows = compared_rows(scope.with_roles(roles), pairing, columns)
    if not (pairing.paired and settings.discover):  # one pass over the rows: nothing to store
        return slice_comparisons(scope.with_roles(roles), pairing, base_rows, cand_rows, settings, cancel)
    with stored_pairs(scope.with_roles(roles), pairing, base_rows, cand_rows, cancel) as (_, sliced):
        return slice_comparisons(scope.with_roles(roles), pairing, *sliced, settings, cancel)


def slice_columns(dataset: Dataset, roles: RoleMap, saved: Sequence[Slice] = (), column: str | None = None) -> list[str]:
    """The columns a paired table needs for :func:`slice_comparisons`: the features discovery bins,
    the columns the saved slices test and the grouped column."""
    wanted = list(roles.features) + [c for s in saved for c in sorted(s.predicate.columns)] + ([column] if column else [])
    present = set(dataset.column_names)
    return [c for c in dict.fromkeys(wanted) if c in present]


def slice_comparisons(scope: Scope, pairing: Pairing, base_rows: Rows, cand_rows: Rows,
                      settings: SliceSettings = SliceSettings(),
                      cancel: CancelToken = NEVER_CANCELLED) -> list[SliceDiff]:
    """:func:`regressed_slices` over rows already chosen (see :func:`analysis.compare.comparison.compared_rows`;
    paired rows must hold :func:`slice_columns`). ``roles`` are already at the threshold."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    saved, column, discover, max_level, min_support, tolerance, metric = (
        settings.saved, settings.column, settings.discover, settings.max_level, settings.min_support,
        settings.tolerance, settings.metric)
    metric = slice_metric(roles, metric)
    # A saved slice on outcomes (``wrong``, a flip) is about one version's answers; it is not a
    # subpopulation both versions can be compared on, so it is not tested here.
    candidates = [(to_text(s.predicate), s.predicate, "saved") for s in saved if not role_leaves(s.predicate)]
    if column is not None:
        binning = bin_column(store, dataset, column, condition, cancel=cancel)
        candidates += [(g.key, g.predicate, "group") for g in binning.groups]
    if pairing.paired and discover:
        candidates += _discovered(store, dataset, roles, pairing, base_rows, max_level, min_support, tolerance,
                                  cancel)
    tested = _tested(store, metric, pairing.paired, _unique(candidates), base_rows, cand_rows, cancel)
    sharpened = _sharpened(store, metric, pairing.paired, tested, base_rows, cand_rows, tolerance, cancel)
    if pairing.paired and discover:
        sharpened = _refined(scope, metric, sharpened, base_rows, cand_rows, settings, cancel)
    return _ranked(_adjusted(sharpened), tolerance)


def _discovered(store: Store, dataset: Dataset, roles: RoleMap, pairing: Pairing, rows: Rows,
                max_level: int, min_support: int | None, tolerance: float,
                cancel: CancelToken) -> list[tuple[str, Predicate, str]]:
    columns = [dataset.column(name) for name in roles.features if name in dataset.column_names]
    if not columns:
        return []
    with _searched_pairs(store, dataset, roles, pairing, rows, cancel) as (share, searched):
        if min_support is not None:
            min_support = max(1, math.ceil(min_support * share))
        found = searched_slices(store, searched, columns, flip_indicator_sql(roles, tolerance),
                                k=DISCOVERED, max_level=max_level, min_support=min_support, cancel=cancel).slices
    return [(s.text, s.to_slice().predicate, "discovered") for s in found]


@contextlib.contextmanager
def _searched_pairs(store: Store, dataset: Dataset, roles: RoleMap, pairing: Pairing, rows: Rows,
                    cancel: CancelToken) -> Iterator[tuple[float, str]]:
    """(share of the pairs, table) discovery searches, with the features, copied once from the
    paired ``rows`` into a scratch table (discovery reads its rows some ten times): all pairs
    up to :data:`DISCOVERY_PAIRS`, else those whose candidate row id falls in one of
    :data:`SAMPLE_RUNS` evenly spread runs covering that share of the row ids (the share
    returned is the one drawn). The share is a condition on the candidate's row id alone, so
    on stored pairs it applies before the log's features are joined to them, and DuckDB
    carries it across the row-id join into the log's scan, which then decodes the features of
    the runs' row groups only: at 10M rows (24 features) the table took 0.5 CPU-s against
    1.8 s when the share was a hash of every row id, which decoded every row group."""
    share = min(1.0, DISCOVERY_PAIRS / pairing.pairs) if pairing.pairs else 1.0
    sampled = _runs(store, rows, dataset, share, cancel) if share < 1.0 else None
    if rows.stored is not None:
        rows, sampled = paired_rows_with_log(rows.stored, dataset, sampled), None
    where = where_clause(sampled)
    outcomes = [PAIR_LABEL] + [side_column(s, what) for s in ("b", "c") for what in _FLIP_OUTCOMES[roles.task]]
    kept = ", ".join([ident(c) for c in dict.fromkeys([ROW_ID, *roles.features])] + outcomes)
    name = store.new_name("searched")
    store.execute(Sql(f"CREATE TABLE {ident(name)} AS SELECT {kept} FROM ({rows.sql.text}){where.text}",
                      rows.sql.params + where.params), cancel)
    try:
        if share < 1.0:
            share = int(store.scalar(f"SELECT count(*) FROM {ident(name)}", cancel)) / pairing.pairs
        yield share, name
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(name)}")


def _runs(store: Store, rows: Rows, dataset: Dataset, share: float, cancel: CancelToken) -> Sql:
    """A condition on the row id: :data:`SAMPLE_RUNS` runs of consecutive row ids, evenly
    spaced over the candidate rows' ids (those of the stored pairs, else the log's), together
    ``share`` of that range."""
    low, high = 0, dataset.row_count
    if rows.stored is not None:
        low, high = store.rows(f"SELECT min({ident(ROW_ID)}), max({ident(ROW_ID)}) + 1 FROM {ident(rows.stored)}",
                               cancel)[0]
    span = high - low
    width = max(1, math.ceil(share * span / SAMPLE_RUNS))
    starts = [low + k * span // SAMPLE_RUNS for k in range(SAMPLE_RUNS)]
    text = " OR ".join(f"({ident(ROW_ID)} >= ? AND {ident(ROW_ID)} < ?)" for _ in starts)
    return Sql(f"({text})", tuple(v for start in starts for v in (start, start + width)))


def _unique(candidates: list[tuple[str, Predicate, str]]) -> list[tuple[str, Predicate, str]]:
    """Candidates with the same predicate text tested once (the first source named wins)."""
    seen: dict[str, tuple[str, Predicate, str]] = {}
    for entry in candidates:
        seen.setdefault(entry[0], entry)
    return list(seen.values())


def _tested(store: Store, metric: str, paired: bool, candidates: list[tuple[str, Predicate, str]],
            base_rows: Rows, cand_rows: Rows, cancel: CancelToken) -> list[SliceDiff]:
    """Every candidate slice's test, all slices in one pass over each side's rows."""
    slices = [to_sql(predicate) for _, predicate, _ in candidates]
    if metric in ("accuracy", "error_rate"):
        tests = accuracy_tests(store, paired, base_rows, cand_rows, slices, cancel)
        tests = [(complement(t), n) for t, n in tests] if metric == "error_rate" else tests
    else:
        tests = mean_loss_tests(store, paired, base_rows, cand_rows, slices, cancel)
    return [SliceDiff(text, predicate, source, metric, n, t.base, t.candidate, t.diff, t.ci_low, t.ci_high,
                      t.p_value, None)
            for (text, predicate, source), (t, n) in zip(candidates, tests)]


def _sharpened(store: Store, metric: str, paired: bool, tested: list[SliceDiff], base_rows: Rows, cand_rows: Rows,
               tolerance: float, cancel: CancelToken) -> list[SliceDiff]:
    """The slices with every predicate of a conjunction earning its place (see the module text).

    A predicate ``p`` of a worse conjunction ``S`` sharpens it when the candidate is worse on
    ``S`` than on the rows ``p`` would let in without it (``S`` less ``p``, and not ``p``),
    beyond chance: a one-sided z test of the two worsenings (disjoint rows, so independent),
    Bonferroni over every predicate judged. A predicate that does not is dropped (the least
    sharpening first) and the shorter slice is judged again. A parent (``S`` less ``p``)
    whose rows outside ``S`` are not significantly worse loses nothing ``S`` does not
    account for: ``S``, the more precise, is reported instead.

    Each round tests the rests and, in the same pass over the rows, the parents not yet
    tested: a parent is needed only when its predicate turns out weak, but a filter more in a
    pass costs a fraction of another pass (at 10M rows a pass reads the slices' columns of
    every row, about 0.2 CPU-s before any filter; a filter about 0.04)."""
    slices = {to_text(s.predicate): s for s in tested}
    displaced: set[str] = set()
    pending = [s for s in tested if isinstance(s.predicate, And) and s.worsening > tolerance]
    while pending:
        judged = [(s, part, all_of([q for q in s.predicate.parts if q != part])) for s in pending for part in s.predicate.parts]
        outside = [(to_text(parent & Not(part)), parent & Not(part), "rest") for _, part, parent in judged]
        parents = _unique([(to_text(parent), parent, "discovered") for _, _, parent in judged
                           if to_text(parent) not in slices])
        passed = _tested(store, metric, paired, outside + parents, base_rows, cand_rows, cancel)
        rests, parents_tested = passed[:len(outside)], {to_text(p.predicate): p for p in passed[len(outside):]}
        alpha = ALPHA / len(judged)
        weakest: dict[str, tuple[float, Predicate]] = {}
        for (s, part, parent), rest in zip(judged, rests):
            p_value = _sharper_p(s, rest)
            if p_value >= alpha and p_value >= weakest.get(to_text(s.predicate), (-1.0, None))[0]:
                weakest[to_text(s.predicate)] = (p_value, parent)
            elif p_value < alpha and not _loses_requests(rest, alpha, tolerance):
                displaced.add(to_text(parent))
        for text, (_, parent) in weakest.items():
            del slices[text]
        shorter = _unique([(to_text(parent), parent, "discovered") for _, parent in weakest.values()
                           if to_text(parent) not in slices])
        untested = [entry for entry in shorter if entry[0] not in parents_tested]  # a parent dropped this round
        if untested:
            parents_tested.update((to_text(p.predicate), p)
                                  for p in _tested(store, metric, paired, untested, base_rows, cand_rows, cancel))
        fresh = [parents_tested[text] for text, _, _ in shorter]
        slices.update((to_text(f.predicate), f) for f in fresh)
        pending = [f for f in fresh if isinstance(f.predicate, And) and f.worsening > tolerance]
    kept_precise = {text for text in displaced if text in slices}
    return [s for text, s in slices.items() if text not in kept_precise]


def _refined(scope: Scope, metric: str, tested: list[SliceDiff], base_rows: Rows, cand_rows: Rows,
             settings: SliceSettings, cancel: CancelToken) -> list[SliceDiff]:
    """``tested`` with each of the :data:`REFINED` worst slices that test no numeric feature
    sharpened by one threshold on one (see the module text): ``S AND x > e`` or ``S AND x <= e``
    at every inner edge ``e`` of ``x``'s quantile cut over ``S``'s rows, proposed and chosen
    where discovery's failing slices get theirs (:func:`analysis.discovery.refine.thresholds`,
    :func:`~analysis.discovery.refine.sharpest`), judged as :func:`_sharpened` judges a
    predicate, Bonferroni over every threshold tried on ``S``. ``S`` gives way to the
    sharper slice unless it loses requests outside it. A slice that already has a numeric
    predicate got its threshold from discovery's bins, and one of ``settings.max_level``
    predicates is as long as discovery makes them: both are left as they are (a threshold more
    on a second numeric column then splits a regression by where the base was right, not by
    its cause)."""
    from analysis.discovery.refine import sharpest, thresholds

    dataset, roles, tolerance = scope.dataset, scope.roles, settings.tolerance
    numeric = [c.name for c in dataset.columns if c.name in roles.features and c.is_numeric]
    worst = sorted((s for s in tested if s.p_value is not None and s.p_value < ALPHA and s.worsening > tolerance
                    and len(_parts(s.predicate)) < settings.max_level and not s.predicate.columns & set(numeric)),
                   key=lambda s: -(s.worsening - tolerance) * s.rows)[:REFINED]
    slices = {to_text(s.predicate): s for s in tested}
    for s in worst:
        options = thresholds(scope, to_sql(s.predicate) & scope.condition, numeric, cancel)
        if not options:
            continue
        # each threshold's slice and its rest, in one pass over the rows
        passed = _tested(scope.store, metric, True,
                         [(to_text(s.predicate & o), s.predicate & o, "refined") for o in options]
                         + [(to_text(s.predicate & Not(o)), s.predicate & Not(o), "rest") for o in options],
                         base_rows, cand_rows, cancel)
        inside, rests = passed[:len(options)], passed[len(options):]
        best = sharpest([_sharper_p(i, r) for i, r in zip(inside, rests)], ALPHA)
        if best is not None and inside[best].worsening > tolerance:
            slices.setdefault(to_text(inside[best].predicate), inside[best])
            if not _loses_requests(rests[best], ALPHA / len(options), tolerance):
                slices.pop(to_text(s.predicate), None)
    return list(slices.values())


def _loses_requests(rest: SliceDiff, alpha: float, tolerance: float) -> bool:
    """Whether the candidate is worse on a parent's rows outside the sharper conjunction,
    beyond chance at ``alpha`` (the rest's own p-value: a rest is tested apart from the listed
    slices, so it has no adjusted one). Such a parent loses requests the conjunction does not
    account for, and stays listed."""
    return rest.p_value is not None and rest.p_value < alpha and rest.worsening > tolerance


def _sharper_p(conjunction: SliceDiff, rest: SliceDiff) -> float:
    """One-sided p that the candidate is worse on ``conjunction`` than on ``rest`` (disjoint
    rows), standard errors read from the 95% intervals; 1 when either cannot be measured."""
    spreads = [_standard_error(conjunction), _standard_error(rest)]
    if None in spreads or conjunction.diff is None or rest.diff is None or not any(spreads):
        return 1.0
    z = (conjunction.worsening - rest.worsening) / math.hypot(*spreads)
    return float(stats.norm.sf(z))


def _standard_error(s: SliceDiff) -> float | None:
    if s.ci_low is None or s.ci_high is None:
        return None
    return (s.ci_high - s.ci_low) / (2 * stats.norm.ppf(0.975))


def _adjusted(tested: list[SliceDiff]) -> list[SliceDiff]:
    adjusted = adjust_p_values([s.p_value for s in tested], "by")
    return [_with_p_adjusted(s, None if math.isnan(p) else float(p)) for s, p in zip(tested, adjusted)]


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
