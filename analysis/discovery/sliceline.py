"""Automatic slice discovery: the top-k subpopulations where the model's error is highest.

The search is SliceLine (Sagadeeva and Boehm, "SliceLine: Fast, Linear-Algebra-based Slice
Finding for ML Model Debugging", SIGMOD 2021), re-implemented from the paper over numpy so it
scales to millions of rows in little memory. A *slice* is a conjunction of predicates
``feature = code`` over binned features (see :mod:`analysis.slicing.binning`), at most one per feature.
Its score trades how much worse it is than average against how small it is::

    score = alpha * (slice error / average error - 1) - (1 - alpha) * (n / slice size - 1)

Only slices with at least ``min_support`` rows and a positive score are reported.

The lattice is walked level by level. Level 1 holds single predicates; a level-L candidate
joins two level-(L-1) slices that share their first L-2 predicates (the Apriori prefix join,
which yields every candidate exactly once, so the paper's deduplication step is not needed)
and is kept only if all L of its parents survived the previous level. Its size, error sum and
maximum error are bounded by the minimum over its parents (the paper's ``ss_ub``, ``se_ub``,
``sm_ub``), which bounds its score; candidates whose bound cannot beat the current k-th best
score, or whose size bound is below the minimum support, are never evaluated. Candidates are
evaluated one feature combination at a time, best bound first, so the k-th best score rises
during a level and prunes the rest of it.

Evaluation differs from the paper's sparse matrix products on purpose: for one feature
combination the counts and error sums of *all* its cells are a contingency table (which is what
the one-hot product computes). One ``np.bincount`` over a mixed-radix cell key counts the table
of a whole block of features, and every combination inside the block is a marginal of it, so
one pass over the rows serves the many combinations of a level that pruning leaves (a dozen
passes for the 190 pairs of twenty features instead of 190). When pruning leaves only a few
values of one feature, only the rows carrying those values are read. Memory stays at a few
bytes per row and feature; no dense rows x candidates matrix exists.

Two deliberate differences from the ``sliceline`` package: a slice whose rows are exactly those
of a shorter slice it extends (the extra predicate holds on all of its rows) is *redundant* and
never reported or extended, the shorter one is kept; and exactly ``k`` slices are returned
(ties at the k-th score are broken by fewer predicates, then by predicate order).

Each reported slice also gets a 95% interval for its error rate and a one-sided test against
the rest of the rows (see :func:`slice_statistics`), with p-values adjusted by
Benjamini-Yekutieli over every slice the search evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from scipy import stats

from analysis.slicing.binning import BinnedFeature, BinnedFrame, BinPredicate, bin_features, code_case, plan_bins
from analysis.dataset import Column
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.query import Sql, ident, inline, select
from analysis.slices import Slice, all_of
from analysis.stats.intervals import t_interval, wilson
from analysis.stats.multiple_testing import adjust_p_values
from analysis.store import Store

CodePredicate = tuple[int, int]
"""``(feature index, code)``: the rows whose ``codes[:, feature]`` equals ``code``."""

SUBSET_FRACTION = 0.15
"""Evaluate a feature combination on a row subset when that subset is below this share of rows:
gathering a row costs several times what a sequential pass over it costs."""

MAX_CODES = 255
"""Codes per feature are kept as ``uint8`` (one byte per row and feature)."""

CELLS_PER_PASS = 2**21
"""Cells one pass over the rows may count (16 MB of counts): a block of eight five-valued
features with a NULL code (1.7M cells) counts in about 1.5 times what a pair of them does."""

CELLS_PER_ROW = 1
"""And cells per row read: past one cell per row the block's table is mostly empty cells, and
summing its marginals (each reads a table as large as its parent) costs more than reading the
rows again. A 20k-row log's blocks were 2M cells, 100 per row: most of its search summed them."""

ENGINE_BLOCK_CELLS = 2**15
"""Cells of one block of features the engine counts for a level: every combination inside the
block is then a marginal summed here. A GROUPING SETS statement expands each row once per set,
so counting blocks (a dozen per level) instead of combinations (hundreds, each its own set)
cuts the rows the engine hashes by as much; at most this many cells per block come back."""

CELLS_PER_STATEMENT = 2**20
"""Block cells one engine statement counts (one GROUP BY GROUPING SETS over the scratch table of
codes: one scan, one expansion per block, one shuffle of partial counts), bounding the tables
the client fills from its result."""

ROWS_PER_RESULT_CELL = 32
"""And at most one result row per this many rows of the table, so what comes back stays
aggregates: a result near the table's size would move the rows the engine pass exists to keep on
the cluster. A block's rows are bounded by its cells, or, when only its cells of
``min_support`` rows come back (:meth:`_EngineSearch._result_bound`), by the table's rows over
``min_support`` (by default at least 32 and 1% of them)."""


@dataclass(frozen=True)
class FoundSlice:
    """One discovered slice: its predicates, how many rows it has, its error and its score.

    ``ci_low``/``ci_high`` bound the slice's mean error (error rate for 0/1 errors) at 95%;
    ``p_value`` tests "the slice's error is higher than the rest's" and ``p_adjusted`` is that
    p-value after Benjamini-Yekutieli adjustment over all slices the search evaluated.
    """

    predicates: tuple[CodePredicate, ...]
    size: int
    error_sum: float
    error_mean: float
    score: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float


@dataclass(frozen=True)
class DiscoveredSlice:
    """A discovered slice of a dataset view, with its predicates as data.

    ``error_rate`` is the mean error of its rows (the misclassification rate for 0/1 errors);
    ``ci_low``/``ci_high`` its 95% interval; ``p_value`` and ``p_adjusted`` as in
    :class:`FoundSlice`.
    """

    predicates: tuple[BinPredicate, ...]
    size: int
    error_sum: float
    error_rate: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    score: float

    @property
    def text(self) -> str:
        """E.g. ``region = 'EU-West' AND amount > 500``."""
        return " AND ".join(p.text for p in self.predicates)

    def sql(self) -> Sql:
        """The slice's rows as a SQL condition over the view it was found in."""
        condition = self.predicates[0].sql()
        for predicate in self.predicates[1:]:
            condition = condition & predicate.sql()
        return condition

    def to_slice(self) -> Slice:
        """The slice as a first-class :class:`analysis.slices.Slice`, named by its text."""
        return Slice(all_of([p.to_predicate() for p in self.predicates]), name=self.text)


@dataclass(frozen=True)
class Search:
    """What :func:`searched_slices` found, and the rows it searched: their codes and error
    (``rows.extra[0]``), on DuckDB, where they come to the client; None where they stay on the
    engine. A later test of the same slices over the same rows counts them from the codes (a
    bin's code holds exactly its predicate's rows) rather than scanning the log again."""

    slices: list[DiscoveredSlice]
    rows: BinnedFrame | None = None


def searched_slices(
    store: Store,
    view: str,
    columns: list[Column],
    error_sql: str,
    condition: Sql | None = None,
    *,
    k: int = 10,
    max_level: int = 3,
    alpha: float = 0.95,
    min_support: int | None = None,
    n_bins: int = 5,
    max_categories: int = 10,
    zero_one_error: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Search:
    """The ``k`` slices of ``view`` (rows matching ``condition``) where the error is worst.

    ``error_sql`` is a SQL expression (built by Sleuth from :mod:`analysis.metrics.outcomes`, never
    user text) giving each row's non-negative error: ``CASE WHEN label = prediction THEN 0
    ELSE 1 END``, a log loss, an absolute error, or whether two versions disagree. Rows where
    it is NULL (no label yet) or not finite are left out, of the bins as well as the search.
    ``columns`` are binned as :mod:`analysis.slicing.binning` describes; no slice (no rows with an
    error, or nothing to slice by) is returned when there is nothing to search. ``zero_one_error``:
    the caller knows every known error is 0 or 1 (a misclassification, a disagreement), which an
    engine then keeps exactly in a narrower column (:func:`find_slices_on_engine`).
    """
    known_error = Sql(f"isfinite(CAST(({error_sql}) AS DOUBLE))") & condition
    cancel.raise_if_cancelled()
    progress(0.0, "Binning features")
    options = dict(k=k, max_level=max_level, alpha=alpha, min_support=min_support,
                   progress=scaled(progress, 0.3, 1.0), cancel=cancel)
    if store.engine == "duckdb":
        frame = bin_features(
            store, view, columns, known_error,
            n_bins=n_bins, max_categories=max_categories, extra=[error_sql], cancel=cancel,
        )
        cancel.raise_if_cancelled()
        if not frame.features or frame.codes.shape[0] == 0:
            return Search([])
        features, found = frame.features, find_slices(frame.codes, frame.extra[0], **options)
    else:
        frame = None
        features = plan_bins(store, view, columns, known_error, n_bins=n_bins, max_categories=max_categories,
                             cancel=cancel)
        found = (find_slices_on_engine(store, view, features, error_sql, known_error, zero_one_error=zero_one_error,
                                       **options) if features else [])
    return Search([
        DiscoveredSlice(
            predicates=tuple(features[f].bins[code] for f, code in s.predicates),
            size=s.size,
            error_sum=s.error_sum,
            error_rate=s.error_mean,
            ci_low=s.ci_low,
            ci_high=s.ci_high,
            p_value=s.p_value,
            p_adjusted=s.p_adjusted,
            score=s.score,
        )
        for s in found
    ], frame)


def default_min_support(n_rows: int) -> int:
    """At least 32 rows (SystemDS's SliceLine default) and at least 1% of the rows.

    The ``sliceline`` package defaults to 10 rows, which on a production log reports slices of
    a handful of rows: too small to act on and too noisy to trust. A share of the rows keeps
    the slices large enough to matter (and prunes the lattice hard on big logs).
    """
    return max(32, math.ceil(n_rows / 100))


def slice_scores(
    sizes: np.ndarray, error_sums: np.ndarray, *, n_rows: int, mean_error: float, alpha: float
) -> np.ndarray:
    """SliceLine's score of slices with these sizes and error sums (``-inf`` for empty ones)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = alpha * (error_sums / (sizes * mean_error) - 1.0) - (1.0 - alpha) * (
            n_rows / sizes - 1.0
        )
    return np.where(sizes > 0, scores, -np.inf)


def score_upper_bounds(
    size_ub: np.ndarray,
    error_ub: np.ndarray,
    max_error_ub: np.ndarray,
    *,
    min_support: int,
    n_rows: int,
    mean_error: float,
    alpha: float,
) -> np.ndarray:
    """The highest score a slice can reach given bounds on its size, error sum and max error.

    A slice of size ``s`` has an error sum of at most ``min(error_ub, s * max_error_ub)``. The
    score with that error sum is monotone in ``s`` on each side of ``s = error_ub /
    max_error_ub``, so its maximum over ``[min_support, size_ub]`` lies at one of the two ends
    or at that kink (the paper's bound).
    """
    size_ub = np.asarray(size_ub, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = np.where(max_error_ub > 0, error_ub / max_error_ub, size_ub)
    best = np.full(size_ub.shape, -np.inf)
    for size in (np.full(size_ub.shape, float(min_support)), kink, size_ub):
        size = np.clip(size, min_support, np.maximum(size_ub, min_support))
        errors = np.minimum(error_ub, size * max_error_ub)
        best = np.maximum(
            best, slice_scores(size, errors, n_rows=n_rows, mean_error=mean_error, alpha=alpha)
        )
    return np.where(size_ub >= min_support, best, -np.inf)


def find_slices(
    codes: np.ndarray,
    errors: np.ndarray,
    *,
    k: int = 10,
    max_level: int = 3,
    alpha: float = 0.95,
    min_support: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[FoundSlice]:
    """The ``k`` best-scoring slices of up to ``max_level`` predicates, best first.

    ``codes`` is an ``n x m`` integer array, one small code per row and feature (``-1`` is
    allowed and is a value of its own, e.g. missing); ``errors`` holds each row's non-negative
    error (0/1 misclassification, log loss, absolute error, ...). ``min_support`` defaults to
    :func:`default_min_support`. Codes in the result are the caller's codes.
    """
    codes_by_feature, errors = _validated(codes, errors, k, max_level, alpha)
    n_rows = errors.shape[0]
    min_support = default_min_support(n_rows) if min_support is None else int(min_support)
    if n_rows == 0 or codes_by_feature.shape[0] == 0 or not errors.any():
        return []
    search = _Search(codes_by_feature, errors, k=k, alpha=alpha, min_support=min_support)
    return _walk(search, max_level, progress, cancel)


def find_slices_on_engine(
    store, view: str, features: Sequence[BinnedFeature], error_sql: str, condition: Sql | None, *,
    k: int = 10, max_level: int = 3, alpha: float = 0.95, min_support: int | None = None,
    zero_one_error: bool = False, progress: Progress = no_progress, cancel: CancelToken = NEVER_CANCELLED,
) -> list[FoundSlice]:
    """:func:`find_slices` where the rows are (a Spark cluster): the same search, the same slices,
    but each row's codes and error stay on the engine, in a scratch table, and only counts and
    error sums per cell of a feature combination come back (see :class:`_EngineSearch`).

    The error is a ``TINYINT`` when ``zero_one_error`` says it is 0 or 1 (exact: its sums and
    variances are the same), else a ``DOUBLE``, so that the engine holds the table in memory
    instead of spilling it and reading it back at every level: at 1M rows Spark's cache held 32
    bytes a row with a ``DOUBLE`` error, 26 with a ``TINYINT`` one. The codes stay ``INTEGER``:
    Spark's cache already stores small integers in a byte each."""
    if k < 1 or max_level < 1 or not 0.0 < alpha <= 1.0:
        raise ValueError("k and max_level must be at least 1, alpha in (0, 1]")
    table = store.new_name("sleuth_slice_codes")
    codes = [code_case(feature) for feature in features]
    body = select([f"CAST({case.text} AS INTEGER) AS {ident(f'c{i}')}" for i, case in enumerate(codes)]
                  + [f"CAST(({error_sql}) AS {'TINYINT' if zero_one_error else 'DOUBLE'}) AS e"], ident(view), condition)
    params = tuple(p for case in codes for p in case.params) + body.params
    store.execute(Sql(f"CREATE TABLE {ident(table)} AS {inline(Sql(body.text, params))}"), cancel)
    try:
        search = _EngineSearch(store, table, len(features), k=k, alpha=alpha, min_support=min_support,
                               cancel=cancel)
        if search.n_rows == 0 or search.mean_error == 0:
            return []
        return _walk(search, max_level, progress, cancel)
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(table)}")


def _walk(search: "_Search", max_level: int, progress: Progress, cancel: CancelToken) -> list[FoundSlice]:
    """SliceLine's level-wise walk of the lattice, up to ``max_level`` predicates."""
    if float(search.radix) ** max_level >= 2**63:
        raise ValueError(f"too many codes to search slices of {max_level} predicates")
    level = search.first_level()
    progress(1.0 / max_level, "Slices of 1 predicate")
    for size in range(2, max_level + 1):
        cancel.raise_if_cancelled()
        report = _level_progress(progress, size, max_level)
        level = search.next_level(level, progress=report, cancel=cancel)
        report(1.0)
    cancel.raise_if_cancelled()
    return search.report()


def _validated(
    codes: np.ndarray, errors: np.ndarray, k: int, max_level: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs and return codes as ``m x n`` uint8 (shifted by one) and float errors."""
    codes = np.asarray(codes)
    errors = np.asarray(errors, dtype=np.float64)
    if codes.ndim != 2 or errors.ndim != 1 or codes.shape[0] != errors.shape[0]:
        raise ValueError("codes must be n x m and errors must have n values")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("codes must be integers")
    if codes.size and (codes.min() < -1 or codes.max() >= MAX_CODES):
        raise ValueError(f"codes must lie in [-1, {MAX_CODES - 1}]")
    if not np.isfinite(errors).all() or (errors < 0).any():
        raise ValueError("errors must be finite and non-negative")
    if k < 1 or max_level < 1 or not 0.0 < alpha <= 1.0:
        raise ValueError("k and max_level must be at least 1, alpha in (0, 1]")
    shifted = np.empty((codes.shape[1], codes.shape[0]), dtype=np.uint8)
    for feature in range(codes.shape[1]):
        np.add(codes[:, feature], 1, out=shifted[feature], casting="unsafe")
    return shifted, errors


def _level_progress(progress: Progress, level: int, max_level: int) -> Progress:
    def report(fraction: float, message: str = "") -> None:
        progress((level - 1 + fraction) / max_level, f"Slices of {level} predicates")

    return report


@dataclass
class _Level:
    """The slices of one lattice level that may be extended: valid, non-redundant, evaluated.

    ``predicates`` holds global predicate ids (one-hot column numbers), ascending per row, rows
    sorted; ``keys`` encodes each row as one integer for parent look-ups.
    """

    predicates: np.ndarray
    keys: np.ndarray
    sizes: np.ndarray
    error_sums: np.ndarray
    max_errors: np.ndarray

    @property
    def count(self) -> int:
        return int(self.keys.shape[0])


class _TopK:
    """The best ``k`` slices seen so far; its k-th score is the pruning threshold."""

    def __init__(self, k: int) -> None:
        self.k = k
        self._entries: list[tuple[float, int, tuple[int, ...], int, float]] = []

    @property
    def threshold(self) -> float:
        """Scores must exceed this to enter: 0 until ``k`` slices are known, then the k-th."""
        if len(self._entries) < self.k:
            return 0.0
        return self._entries[-1][0]

    def offer(
        self, predicates: np.ndarray, sizes: np.ndarray, error_sums: np.ndarray, scores: np.ndarray
    ) -> None:
        """Add the slices that beat the threshold (rows of ``predicates`` are predicate ids)."""
        better = np.flatnonzero(scores > self.threshold)
        if better.size == 0:
            return
        for i in better:
            self._entries.append(
                (float(scores[i]), predicates.shape[1], tuple(int(p) for p in predicates[i]),
                 int(sizes[i]), float(error_sums[i]))
            )
        self._entries.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
        del self._entries[self.k:]

    def entries(self) -> list[tuple[float, int, tuple[int, ...], int, float]]:
        """``(score, level, predicate ids, size, error sum)``, best first."""
        return list(self._entries)


class _Search:
    """One SliceLine run over fixed codes and errors."""

    def __init__(
        self, codes: np.ndarray, errors: np.ndarray, *, k: int, alpha: float, min_support: int
    ) -> None:
        self.codes = codes
        self.errors = errors
        cards = codes.max(axis=1).astype(np.int64) + 1 if codes.size else np.zeros(0, np.int64)
        self._set_lattice(cards, errors.shape[0], float(errors.mean()), k=k, alpha=alpha, min_support=min_support)
        self._error_rows = self._rows_with_errors()
        self._row_order: dict[int, np.ndarray] = {}
        self._level_combinations: list[tuple[int, ...]] = []
        self._counted: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def _set_lattice(self, cards: np.ndarray, n_rows: int, mean_error: float, *, k: int, alpha: float,
                     min_support: int) -> None:
        """The predicates of features with these numbers of codes, and an empty top-k."""
        self.n_rows = n_rows
        self.mean_error = mean_error
        self.alpha = alpha
        self.min_support = min_support
        self.cards = cards
        self.offsets = np.concatenate([[0], np.cumsum(self.cards)])
        self.feature_of = np.repeat(np.arange(cards.shape[0]), self.cards)
        self.code_of = np.arange(self.offsets[-1]) - self.offsets[self.feature_of]
        self.radix = int(self.offsets[-1]) + 1
        self.best = _TopK(k)
        self.tested = 0
        self._single_sizes = np.zeros(0)

    def _rows_with_errors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Codes and errors of the rows with a non-zero error, when they are few.

        Error sums only need those rows, so for a 10% error rate the weighted counts read a
        tenth of the data.
        """
        nonzero = np.flatnonzero(self.errors)
        if nonzero.size > self.n_rows // 2:
            return None
        return self.codes[:, nonzero], self.errors[nonzero]

    def _scores(self, sizes: np.ndarray, error_sums: np.ndarray) -> np.ndarray:
        return slice_scores(
            sizes, error_sums, n_rows=self.n_rows, mean_error=self.mean_error, alpha=self.alpha
        )

    def first_level(self) -> _Level:
        """Every single predicate: counts, error sums and exact maximum errors per code."""
        sizes, error_sums, max_errors = self._single_totals()
        self._single_sizes = sizes
        keep = (sizes >= self.min_support) & (error_sums > 0) & (sizes < self.n_rows)
        predicates = np.flatnonzero(keep).reshape(-1, 1)
        sizes, error_sums, max_errors = sizes[keep], error_sums[keep], max_errors[keep]
        self.tested += int(keep.sum())
        self.best.offer(predicates, sizes, error_sums, self._scores(sizes, error_sums))
        return _Level(predicates, predicates[:, 0].astype(np.int64), sizes, error_sums, max_errors)

    def _single_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row count, error sum and maximum error of every code of every feature, in predicate order.

        Error sums and maxima read only the rows with an error when those are few: errors are
        non-negative, so a code without such rows has a sum and a maximum of 0."""
        error_codes, error_values = self._error_rows or (self.codes, self.errors)
        sizes, error_sums, max_errors = [], [], []
        for feature, card in enumerate(self.cards):
            sizes.append(np.bincount(self.codes[feature], minlength=card))
            error_sums.append(np.bincount(error_codes[feature], weights=error_values, minlength=card))
            maxima = np.zeros(card)
            np.maximum.at(maxima, error_codes[feature], error_values)
            max_errors.append(maxima)
        return tuple(np.concatenate(a) for a in (sizes, error_sums, max_errors))

    def next_level(self, level: _Level, *, progress: Progress, cancel: CancelToken) -> _Level:
        """Generate, bound, prune and evaluate the candidates one predicate longer."""
        candidates = self._join(level)
        if candidates.shape[0] == 0:
            return _empty_level(level.predicates.shape[1] + 1)
        size_ub, error_ub, max_error_ub, complete = self._parent_bounds(candidates, level)
        bounds = score_upper_bounds(
            size_ub, error_ub, max_error_ub, min_support=self.min_support,
            n_rows=self.n_rows, mean_error=self.mean_error, alpha=self.alpha,
        )
        alive = complete & (size_ub >= self.min_support) & (bounds > self.best.threshold)
        candidates, size_ub, max_error_ub, bounds = (
            a[alive] for a in (candidates, size_ub, max_error_ub, bounds)
        )
        groups = self._by_feature_combination(candidates, bounds)
        self._level_combinations = [tuple(int(f) for f in self.feature_of[candidates[g[0]]]) for g in groups]
        self._counted = {}
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for done, members in enumerate(groups):
            cancel.raise_if_cancelled()
            members = members[bounds[members] > self.best.threshold]
            if members.size:
                kept.append(
                    self._evaluate(candidates[members], size_ub[members], max_error_ub[members])
                )
            progress((done + 1) / len(groups))
        return _level_of(kept, candidates.shape[1], self.radix)

    def _join(self, level: _Level) -> np.ndarray:
        """Pairs of slices that share all but their last predicate, on different features."""
        predicates = level.predicates
        width = predicates.shape[1]
        if width == 1:
            starts = np.array([0, predicates.shape[0]])
        else:
            changes = np.any(predicates[1:, :-1] != predicates[:-1, :-1], axis=1)
            starts = np.concatenate([[0], np.flatnonzero(changes) + 1, [predicates.shape[0]]])
        pieces = []
        for lo, hi in zip(starts[:-1], starts[1:]):
            if hi - lo < 2:
                continue
            last = predicates[lo:hi, -1]
            first, second = np.triu_indices(hi - lo, 1)
            different = self.feature_of[last[first]] != self.feature_of[last[second]]
            first, second = first[different], second[different]
            prefix = np.broadcast_to(predicates[lo, :-1], (first.size, width - 1))
            pieces.append(np.column_stack([prefix, last[first], last[second]]))
        if not pieces:
            return np.zeros((0, width + 1), dtype=np.int64)
        return np.concatenate(pieces).astype(np.int64)

    def _parent_bounds(
        self, candidates: np.ndarray, level: _Level
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Minimum size, error sum and max error over each candidate's parents, and whether
        all of them survived (a missing parent was too small, error-free, redundant or pruned,
        and so is the candidate)."""
        count, width = candidates.shape
        size_ub = np.full(count, np.inf)
        error_ub = np.full(count, np.inf)
        max_error_ub = np.full(count, np.inf)
        complete = np.ones(count, dtype=bool)
        for dropped in range(width):
            parents = _keys(np.delete(candidates, dropped, axis=1), self.radix)
            where = np.minimum(np.searchsorted(level.keys, parents), max(level.count - 1, 0))
            found = level.keys[where] == parents
            complete &= found
            size_ub = np.minimum(size_ub, np.where(found, level.sizes[where], 0))
            error_ub = np.minimum(error_ub, np.where(found, level.error_sums[where], 0.0))
            max_error_ub = np.minimum(max_error_ub, np.where(found, level.max_errors[where], 0.0))
        return size_ub, error_ub, max_error_ub, complete

    def _by_feature_combination(
        self, candidates: np.ndarray, bounds: np.ndarray
    ) -> list[np.ndarray]:
        """Candidate indices grouped by feature combination, in the order to evaluate them.

        Combinations that share all but their last feature are evaluated one after the other
        (so they tend to fall in one counting pass, see :meth:`_block_around`); prefixes, and
        combinations within a prefix, come best bound first.
        """
        if candidates.shape[0] == 0:
            return []
        features = self.feature_of[candidates]
        combination = _keys(features, len(self.cards))
        order = np.argsort(combination, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(combination[order])) + 1)
        prefixes = [int(_keys(features[g[:1], :-1], len(self.cards))[0]) for g in groups]
        group_best = [float(bounds[g].max()) for g in groups]
        prefix_best: dict[int, float] = {}
        for prefix, best in zip(prefixes, group_best):
            prefix_best[prefix] = max(best, prefix_best.get(prefix, -np.inf))
        order = sorted(
            range(len(groups)),
            key=lambda i: (-prefix_best[prefixes[i]], prefixes[i], -group_best[i]),
        )
        return [groups[i] for i in order]

    def _evaluate(
        self, candidates: np.ndarray, size_ub: np.ndarray, max_error_ub: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sizes and error sums of candidates sharing one feature combination; offer the good
        ones to the top-k and return those that may be extended."""
        features = self.feature_of[candidates[0]]
        local_codes = self.code_of[candidates]
        cells = _mixed_radix(local_codes, self.cards[features])
        sizes, error_sums = self._cell_totals(features, local_codes)
        sizes, error_sums = sizes[cells], error_sums[cells]
        valid = (sizes >= self.min_support) & (error_sums > 0) & (sizes < size_ub)
        self.tested += int(valid.sum())
        candidates, sizes, error_sums = candidates[valid], sizes[valid], error_sums[valid]
        self.best.offer(candidates, sizes, error_sums, self._scores(sizes, error_sums))
        return candidates, sizes, error_sums, max_error_ub[valid]

    def _cell_totals(
        self, features: np.ndarray, local_codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row count and error sum of every cell of one feature combination (mixed-radix order).

        Taken from a pass that already counted it; else read from only the rows whose code on
        the most selective feature is one the candidates need, when those are few enough;
        else from a new pass over all rows that counts a block of features around it.
        """
        combination = tuple(int(f) for f in features)
        if combination in self._counted:
            return self._counted.pop(combination)
        subset = self._selective_rows(features, local_codes)
        if subset is not None:
            cards = self.cards[features]
            n_cells = int(np.prod(cards))
            key = _cell_keys([self.codes[f][subset] for f in features], cards)
            return (
                np.bincount(key, minlength=n_cells),
                np.bincount(key, weights=self.errors[subset], minlength=n_cells),
            )
        self._count_block(self._block_around(combination), [combination, *self._level_combinations])
        return self._counted.pop(combination)

    def _block_around(self, combination: tuple[int, ...]) -> list[int]:
        """The combination's features plus, greedily, the features that complete the most of this
        level's combinations not counted yet, while the block's cells fit :data:`CELLS_PER_PASS`
        and :data:`CELLS_PER_ROW`.

        A pass costs about the same for one combination as for a block of them (the rows are
        read once either way), so on a level where little is pruned, twenty features' 190 pairs
        take about a dozen passes instead of 190.
        """
        waiting = [c for c in self._level_combinations if c not in self._counted and c != combination]
        return _grow_block(combination, waiting, self.cards, min(CELLS_PER_PASS, CELLS_PER_ROW * self.n_rows))

    def _count_block(self, block: list[int], wanted: list[tuple[int, ...]]) -> None:
        """One pass over the rows: the contingency table of the block's features (counts and
        error sums), and from it, as marginals, every ``wanted`` combination inside the block."""
        cards = self.cards[block]
        shape = tuple(int(c) for c in cards)
        key = _cell_keys([self.codes[f] for f in block], cards)
        sizes = np.bincount(key, minlength=int(np.prod(cards))).reshape(shape)
        if self._error_rows is None:
            error_sums = np.bincount(key, weights=self.errors, minlength=sizes.size)
        else:
            error_codes, error_values = self._error_rows
            error_key = _cell_keys([error_codes[f] for f in block], cards)
            error_sums = np.bincount(error_key, weights=error_values, minlength=sizes.size)
        error_sums = error_sums.reshape(shape)
        inside = [c for c in wanted if c not in self._counted and set(c) <= set(block)]
        # both are in ascending feature order, so the kept axes are the combination's, in order
        kept = {c: tuple(block.index(f) for f in c) for c in dict.fromkeys(inside)}
        for combination, marginal in _block_marginals(sizes, error_sums, kept).items():
            self._counted[combination] = (marginal[0].ravel(), marginal[1].ravel())

    def _selective_rows(self, features: np.ndarray, local_codes: np.ndarray) -> np.ndarray | None:
        """Rows carrying the needed codes of the feature that needs the fewest rows, or None
        when even those are too many to be worth gathering."""
        best: tuple[int, int, np.ndarray] | None = None
        for position, feature in enumerate(features):
            needed = np.unique(local_codes[:, position])
            rows = int(self._single_sizes[self.offsets[feature] + needed].sum())
            if best is None or rows < best[0]:
                best = (rows, int(feature), needed)
        if best is None or best[0] > SUBSET_FRACTION * self.n_rows:
            return None
        _, feature, needed = best
        sizes = self._single_sizes[self.offsets[feature]:self.offsets[feature + 1]].astype(np.int64)
        ends = np.cumsum(sizes)
        order = self._rows_by_code(feature)
        return np.concatenate([order[ends[code] - sizes[code]:ends[code]] for code in needed])

    def report(self) -> list[FoundSlice]:
        """The best slices in the caller's codes, with their intervals and tests."""
        entries = self.best.entries()
        binary = self._binary()
        tests = self._statistics([ids for _, _, ids, _, _ in entries], binary)
        p_values = np.ones(max(self.tested, len(entries)))
        p_values[: len(tests)] = [p for _, _, p in tests]
        adjusted = adjust_p_values(p_values, "by")
        return [
            FoundSlice(
                predicates=tuple((int(self.feature_of[i]), int(self.code_of[i]) - 1) for i in ids),
                size=size,
                error_sum=error_sum,
                error_mean=error_sum / size,
                score=score,
                ci_low=low,
                ci_high=high,
                p_value=p,
                p_adjusted=float(adjusted[rank]),
            )
            for rank, ((score, _, ids, size, error_sum), (low, high, p)) in enumerate(
                zip(entries, tests)
            )
        ]

    def _binary(self) -> bool:
        """Whether every error is 0 or 1 (a misclassification), which decides the slices' tests."""
        return bool(np.all((self.errors == 0) | (self.errors == 1)))

    def _statistics(self, slices: list[tuple[int, ...]], binary: bool) -> list[tuple[float, float, float]]:
        """Each slice's interval and p-value (:func:`slice_statistics`), ``slices`` given by
        their predicates' ids."""
        tests = []
        for ids in slices:
            inside = np.ones(self.n_rows, dtype=bool)
            for i in ids:
                inside &= self.codes[self.feature_of[i]] == self.code_of[i]
            tests.append(slice_statistics(self.errors[inside], self.errors[~inside], binary=binary))
        return tests

    def _rows_by_code(self, feature: int) -> np.ndarray:
        """Row numbers sorted by the feature's code (computed once per feature)."""
        if feature not in self._row_order:
            order = np.argsort(self.codes[feature], kind="stable")
            self._row_order[feature] = order.astype(np.int32)
        return self._row_order[feature]


class _EngineSearch(_Search):
    """SliceLine over codes and errors that stay in a scratch table on the engine.

    The walk, the bounds and the pruning are :class:`_Search`'s; what read rows is replaced by
    GROUP BY passes whose results are aggregates: the single predicates' totals in one
    statement; at each level, the cells of every feature combination that survived the level's
    bounds (gathered into blocks of features, :data:`ENGINE_BLOCK_CELLS`), counted before the level is walked,
    so the walk prunes and counts its tests exactly as the in-memory search does; and each
    reported slice's moments inside and outside. Codes are shifted by one, as :func:`_validated`
    shifts them, so the predicates and their order are the in-memory search's.
    """

    def __init__(self, store, table: str, n_features: int, *, k: int, alpha: float, min_support: int | None,
                 cancel: CancelToken) -> None:
        self.store, self.table, self.cancel = store, ident(table), cancel
        maxima = "".join(f", max({ident(f'c{i}')})" for i in range(n_features))
        n_rows, error_sum, not_binary, *top = store.rows(
            f"SELECT count(*), sum(e), sum(CASE WHEN e = 0 OR e = 1 THEN 0 ELSE 1 END){maxima} FROM {self.table}",
            cancel)[0]
        n_rows = int(n_rows)
        cards = np.array([int(t) + 2 if t is not None else 1 for t in top], dtype=np.int64)
        min_support = default_min_support(n_rows) if min_support is None else int(min_support)
        self._set_lattice(cards, n_rows, float(error_sum or 0.0) / max(n_rows, 1), k=k, alpha=alpha,
                          min_support=min_support)
        self._binary_errors = not not_binary
        self._cells: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def _single_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each single predicate's rows, error sum and largest error, summed from blocks of
        features as the levels' cells are (a UNION ALL of one GROUP BY per feature had Spark
        plan and scan the table once per feature)."""
        sizes = np.zeros(int(self.offsets[-1]), dtype=np.int64)
        error_sums, max_errors = np.zeros(sizes.size), np.zeros(sizes.size)
        for blocks in self._batches([(f,) for f in range(len(self.cards))]):
            for (block, _), tables in zip(blocks, self._count_blocks(blocks)):
                for axis, feature in enumerate(block):
                    others = tuple(a for a in range(len(block)) if a != axis)
                    at = slice(int(self.offsets[feature]), int(self.offsets[feature + 1]))
                    sizes[at], error_sums[at] = tables[0].sum(axis=others), tables[1].sum(axis=others)
                    max_errors[at] = tables[2].max(axis=others)
        return sizes, error_sums, max_errors

    def _by_feature_combination(self, candidates: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
        groups = super()._by_feature_combination(candidates, bounds)
        self._cells = self._count_cells([tuple(int(f) for f in self.feature_of[candidates[g[0]]]) for g in groups])
        return groups

    def _count_cells(self, combinations: list[tuple[int, ...]]) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
        """Row count and error sum of every cell of each feature combination, in mixed-radix order:
        the combinations gathered into blocks (:func:`_engine_blocks`), each block's table counted
        on the engine and every combination inside it summed from it as the in-memory search's
        blocks are (:func:`_block_marginals`)."""
        cells: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        inside_of = {}
        for blocks in self._batches(combinations, inside_of):
            for (features, _), (sizes, error_sums, _) in zip(blocks, self._count_blocks(blocks)):
                kept = {c: tuple(features.index(f) for f in c) for c in inside_of[tuple(features)]}
                for combination, (size_table, error_table) in _block_marginals(sizes, error_sums, kept).items():
                    cells[combination] = (size_table.ravel(), error_table.ravel())
        return cells

    def _batches(self, combinations: list[tuple[int, ...]],
                 inside_of: dict | None = None) -> Iterator[list[tuple[list[int], bool]]]:
        """The blocks that hold ``combinations`` (each block's combinations put in ``inside_of``),
        a statement's worth at a time, each block with whether only its cells of ``min_support``
        rows need come back (:meth:`_result_bound`): at most :data:`CELLS_PER_STATEMENT` cells,
        and one result row per :data:`ROWS_PER_RESULT_CELL` rows."""
        result_rows = max(1, self.n_rows // ROWS_PER_RESULT_CELL)
        batch, cells, rows = [], 0, 0
        for block, inside in _engine_blocks(combinations, self.cards, min(ENGINE_BLOCK_CELLS, result_rows)):
            if inside_of is not None:
                inside_of[tuple(block)] = inside
            supported_only = inside == [tuple(block)]
            size = int(np.prod(self.cards[block]))
            bound = self._result_bound(size, supported_only)
            if batch and (cells + size > CELLS_PER_STATEMENT or rows + bound > result_rows):
                yield batch
                batch, cells, rows = [], 0, 0
            batch.append((block, supported_only))
            cells, rows = cells + size, rows + bound
        if batch:
            yield batch

    def _result_bound(self, cells: int, supported_only: bool) -> int:
        """The most rows a block of ``cells`` cells brings back. A block that is exactly one
        combination, no marginal summed from it, needs only its cells of at least ``min_support``
        rows (the walk evaluates no other: :meth:`_Search._evaluate`; a missing cell reads as
        empty), and the rows fill at most ``n_rows // min_support`` of those: on small tables,
        where every level-3 combination had a statement of its own, several share one."""
        return min(cells, self.n_rows // max(self.min_support, 1)) if supported_only else cells

    def _count_blocks(self, blocks: list[tuple[list[int], bool]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each block's tables of row counts, error sums and largest errors (one axis per feature, codes shifted by
        one), from one GROUP BY GROUPING SETS whose GROUPING() bitmask says which block a row
        counts (a bit is set for each column the set does not group by). A block marked
        supported-only (:meth:`_batches`) brings back only its cells of ``min_support`` rows;
        its other cells read as empty."""
        self.cancel.raise_if_cancelled()
        # in order of first appearance in the sets: Spark's GROUPING_ID must list them so
        features = list(dict.fromkeys(f for block, _ in blocks for f in block))
        columns = [ident(f"c{f}") for f in features]
        mask_of = {sum(1 << (len(features) - 1 - i) for i, f in enumerate(features) if f not in block): n
                   for n, (block, _) in enumerate(blocks)}
        sets = ", ".join("(" + ", ".join(ident(f"c{f}") for f in block) + ")" for block, _ in blocks)
        codes = ", ".join(f"coalesce({column}, -1) AS {ident(f'k{f}')}" for f, column in zip(features, columns))
        found = np.array(self.store.rows(f"SELECT GROUPING({', '.join(columns)}) AS g, {codes}, count(*) AS n, "
                                         f"sum(e) AS s, max(e) AS m FROM {self.table} GROUP BY GROUPING SETS ({sets})"
                                         f"{self._having(mask_of, blocks)}",
                                         self.cancel), dtype=float).reshape(-1, len(features) + 4)
        masks = found[:, 0].astype(np.int64)
        tables = []
        for mask, (block, _) in zip(mask_of, blocks):
            cards = self.cards[block]
            rows = masks == mask
            local = np.column_stack([found[rows, 1 + features.index(f)].astype(np.int64) + 1 for f in block])
            at = _mixed_radix(local, cards)
            shape = tuple(int(c) for c in cards)
            sizes = np.bincount(at, weights=found[rows, -3], minlength=int(np.prod(cards)))
            error_sums = np.bincount(at, weights=found[rows, -2], minlength=sizes.size)
            max_errors = np.zeros(sizes.size)
            np.maximum.at(max_errors, at, found[rows, -1])
            tables.append((np.rint(sizes).astype(np.int64).reshape(shape), error_sums.reshape(shape),
                           max_errors.reshape(shape)))
        return tables

    def _having(self, mask_of: dict[int, int], blocks: list[tuple[list[int], bool]]) -> str:
        """The HAVING clause that keeps the supported-only blocks' cells of ``min_support`` rows
        and every cell of the others, told apart by their GROUPING() bitmask ``g`` (named by its
        alias: Spark resolves GROUPING_ID's columns in HAVING only among the selected ones)."""
        whole = [str(mask) for mask, n in mask_of.items() if not blocks[n][1]]
        if len(whole) == len(blocks):
            return ""
        supported = f"count(*) >= {int(self.min_support)}"
        return f" HAVING {supported} OR g IN ({', '.join(whole)})" if whole else f" HAVING {supported}"

    def _cell_totals(self, features: np.ndarray, local_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._cells[tuple(int(f) for f in features)]

    def _binary(self) -> bool:
        return self._binary_errors

    def _statistics(self, slices: list[tuple[int, ...]], binary: bool) -> list[tuple[float, float, float]]:
        """Every reported slice's moments inside and outside from one statement (one scan of the
        scratch table; a statement per slice cost Spark its fixed ~0.2 s each), then the tests
        on the client."""
        if not slices:
            return []
        parts = []
        for ids in slices:
            inside = " AND ".join(f"{ident(f'c{self.feature_of[i]}')} = {int(self.code_of[i]) - 1}" for i in ids)
            for where in (f"({inside})", f"NOT ({inside})"):
                parts.append(f"count(*) FILTER (WHERE {where}), sum(e) FILTER (WHERE {where}), "
                             f"var_samp(e) FILTER (WHERE {where})")
        values = self.store.rows(f"SELECT {', '.join(parts)} FROM {self.table}", self.cancel)[0]
        moments = [Moments(int(size), float(total or 0.0), float("nan") if variance is None else float(variance))
                   for size, total, variance in zip(values[0::3], values[1::3], values[2::3])]
        return [slice_statistics_of_moments(inside, outside, binary=binary)
                for inside, outside in zip(moments[0::2], moments[1::2])]


@dataclass(frozen=True)
class Moments:
    """What a slice's tests read of its errors: how many, their sum, their variance (ddof 1;
    NaN for fewer than two), so they can be computed where the rows are."""

    size: int
    total: float
    variance: float


def slice_statistics(
    inside: np.ndarray, outside: np.ndarray, *, binary: bool
) -> tuple[float, float, float]:
    """:func:`slice_statistics_of_moments` of the errors inside and outside a slice."""
    def moments(errors: np.ndarray) -> Moments:
        return Moments(errors.size, float(errors.sum()), float(errors.var(ddof=1)) if errors.size > 1 else float("nan"))

    return slice_statistics_of_moments(moments(inside), moments(outside), binary=binary)


def slice_statistics_of_moments(
    inside: Moments, outside: Moments, *, binary: bool
) -> tuple[float, float, float]:
    """95% interval of the mean error inside a slice, and the one-sided p-value of "the error
    inside is higher than outside".

    0/1 errors: Wilson score interval (good coverage even for rates near 0 or 1) and Fisher's
    exact test on the 2x2 table, exact at any size. Continuous errors (log loss, absolute
    error): Student t interval and Welch's t-test, which allows the slice and the rest to have
    different variances; with the slice sizes discovery reports (at least 32 rows) the mean is
    close enough to normal. One-sided because discovery only looks for slices that are worse.
    """
    if binary:
        errors_in, errors_out = round(inside.total), round(outside.total)
        low, high = wilson(errors_in, inside.size)
        table = [[errors_in, inside.size - errors_in], [errors_out, outside.size - errors_out]]
        p_value = stats.fisher_exact(table, alternative="greater").pvalue
        return low, high, float(p_value)
    mean = inside.total / inside.size
    low = high = mean
    if inside.size > 1:
        low, high = (float(bound) for bound in t_interval(mean, inside.variance, inside.size))
    if outside.size < 2 or inside.size < 2:
        return low, high, 1.0
    p_value = stats.ttest_ind_from_stats(mean, math.sqrt(inside.variance), inside.size,
                                         outside.total / outside.size, math.sqrt(outside.variance), outside.size,
                                         equal_var=False, alternative="greater").pvalue
    return low, high, float(p_value) if np.isfinite(p_value) else 1.0


def _grow_block(combination: tuple[int, ...], waiting: list[tuple[int, ...]], cards: np.ndarray,
                at_most: float) -> list[int]:
    """``combination``'s features plus, greedily, the features that complete the most of the
    ``waiting`` combinations, while the block's cells stay within ``at_most``."""
    block = list(combination)
    if not waiting:
        return sorted(block)
    members = np.zeros((len(waiting), len(cards)), dtype=bool)
    for row, other in enumerate(waiting):
        members[row, list(other)] = True
    inside = np.zeros(len(cards), dtype=bool)
    inside[block] = True
    cells = float(np.prod(cards[block].astype(float)))
    while True:
        missing = members & ~inside
        gain = missing[missing.sum(axis=1) == 1].sum(axis=0)
        gain[inside | (cells * cards > at_most)] = 0
        if not gain.any():
            return sorted(block)
        feature = int(np.argmax(gain))
        block.append(feature)
        inside[feature] = True
        cells *= float(cards[feature])


def _engine_blocks(combinations: list[tuple[int, ...]], cards: np.ndarray,
                   at_most: float) -> list[tuple[list[int], list[tuple[int, ...]]]]:
    """The combinations gathered into blocks of features (each within ``at_most`` cells, or one
    combination's own), each block with the combinations inside it."""
    blocks, left = [], list(combinations)
    while left:
        block = _grow_block(left[0], left[1:], cards, at_most)
        inside = [c for c in left if set(c) <= set(block)]
        blocks.append((block, inside))
        left = [c for c in left if not set(c) <= set(block)]
    return blocks


def _keys(predicates: np.ndarray, radix: int) -> np.ndarray:
    """One int64 per row of small non-negative ints, order-preserving (lexicographic)."""
    keys = np.zeros(predicates.shape[0], dtype=np.int64)
    for column in range(predicates.shape[1]):
        keys = keys * radix + predicates[:, column]
    return keys


def _mixed_radix(local_codes: np.ndarray, cards: np.ndarray) -> np.ndarray:
    cells = np.zeros(local_codes.shape[0], dtype=np.int64)
    for position, card in enumerate(cards):
        cells = cells * int(card) + local_codes[:, position]
    return cells


def _block_marginals(sizes: np.ndarray, error_sums: np.ndarray,
                     kept: dict[tuple, tuple[int, ...]]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """For each key of ``kept``, the (sizes, error sums) table of a block summed over every
    axis but its kept ones (ascending).

    Each marginal is summed from the one keeping a single axis more, the first one it drops,
    and those are kept while they serve: summing every level-3 marginal of an eight-feature
    block from the whole table read the table 56 times (0.51 s of CPU on 1.7M cells); this way
    most are sums of small tables (0.05 s). The marginals share the one that drops the last
    missing axis first, so they are taken grouped by that axis and the kept tables cleared
    between groups: at most about the block's table again is held at once.
    """
    full = tuple(range(sizes.ndim))
    found: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def marginal(axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if axes == full:
            return sizes, error_sums
        if axes not in cache:
            missing = next(axis for axis in full if axis not in axes)
            parent = tuple(sorted((*axes, missing)))
            table_sizes, table_errors = marginal(parent)
            axis = parent.index(missing)
            cache[axes] = (table_sizes.sum(axis=axis), table_errors.sum(axis=axis))
        return cache[axes]

    def last_missing(axes: tuple[int, ...]) -> int:
        return max((axis for axis in full if axis not in axes), default=-1)

    group = None
    for key, axes in sorted(kept.items(), key=lambda item: last_missing(item[1])):
        if last_missing(axes) != group:
            group = last_missing(axes)
            cache.clear()
        found[key] = marginal(axes)
    return found


def _cell_keys(columns: list[np.ndarray], cards: np.ndarray, room: int = 0) -> np.ndarray:
    """Per-row cell number of a feature combination, built in place to keep memory flat, in
    the narrowest integer type that holds ``max(room, number of cells)`` (bincount reads
    narrow keys faster)."""
    largest = max(room, int(np.prod(cards.astype(float))))
    dtype = next(t for t in (np.int16, np.int32, np.int64) if largest <= np.iinfo(t).max)
    key = columns[0].astype(dtype)
    for column, card in zip(columns[1:], cards[1:]):
        key *= int(card)
        key += column
    return key


def _empty_level(width: int) -> _Level:
    nothing = np.zeros(0)
    return _Level(np.zeros((0, width), np.int64), np.zeros(0, np.int64), nothing, nothing, nothing)


def _level_of(kept: list[tuple[np.ndarray, ...]], width: int, radix: int) -> _Level:
    """Assemble the extendable slices of a level, sorted for the next prefix join."""
    if not kept:
        return _empty_level(width)
    predicates, sizes, error_sums, max_errors = (np.concatenate(parts) for parts in zip(*kept))
    keys = _keys(predicates, radix)
    order = np.argsort(keys)
    return _Level(predicates[order], keys[order], sizes[order], error_sums[order], max_errors[order])
