"""Precise cut points for a discovered slice's numeric predicates.

Discovery cuts a numeric column at a few quantiles of all the rows it searches, so the slice it
finds says ``age > 47 AND sex = 'female'`` when the model fails from 39 on: its cut is a bin
edge of the whole log, not where the failures start, and a failure queue grouped by it leaves
the failures between the two cuts to other groups. :func:`refine_cuts` moves each end of each
range predicate, one end after the other, to where the rows of the slice's other predicates
split best:

* **Candidates**: the cuts of a fine binning of the column over those rows
  (:func:`analysis.slicing.binning.plan_bins` with :data:`~analysis.slicing.binning.MAX_BINS`
  bins: every distinct value when there are few, else fine quantiles), the current cut, and no
  cut at all for an end whose other end stays.
* **Admissible moves**: the rows a move lets in or out (the band between the two cuts) must
  be on their right side by the grouping's own criterion, "these rows fail more often than
  the rest" (one-sided Fisher exact tests): a band let in must fail significantly more often
  than the rows outside the new slice, at ``significance`` over the candidates tried
  (Bonferroni: the band is the best of many); a band let out must not fail significantly
  more often than the rows outside the current slice, at ``significance`` itself (no
  correction, which would make dropping failing rows easier). Failures whose rate only
  rises along the column (the demo's kiosks fail more the riskier the merchant) so keep
  the rows that still fail more than the rest.
* **Choice**: of the admissible candidates and the current cut, the one whose slice fails more
  often than every row outside it with the largest likelihood ratio (scipy's G statistic,
  which never ties at an underflowed p-value as an exact test does): the slice that best
  separates the failures from the rest, which is what a group of failures is for.
* **Kept only if significant**: the slice so cut must still fail more often than every row
  outside it, by a one-sided Fisher exact test at ``significance`` divided by the candidates
  tried over all ends (Bonferroni). Otherwise the end keeps discovery's cut.

Discovery's bins also split a numeric cause across bins, so a slice may name its other
predicates alone (``industry = 'Manufacturing'`` where the failures are those with more than
twelve years of school): :func:`with_thresholds` *adds* one threshold to a slice with no numeric
predicate. This module is the one place that proposes and tests such cut points:

* **Candidates** (:func:`thresholds`): ``x > e`` and ``x <= e`` at each inner edge ``e`` of the
  quantile cut discovery makes of each numeric column ``x`` (:func:`analysis.slicing.binning.bin_column`,
  five bins), over the slice's rows.
* **Choice** (:func:`sharpest`): the threshold whose rows fail most beyond the slice's other
  rows, kept only if significantly so, Bonferroni over every threshold tried. Grouping tests
  it with one-sided Fisher tests of the error rate (:func:`with_thresholds`: the sharpest
  of each column); compare's
  regressed slices with its paired tests of the worsening
  (:func:`analysis.compare.regressed_slices.slice_comparisons`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Sequence

import numpy as np

from analysis.discovery.sliceline import DiscoveredSlice
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slices import Compare
from analysis.slicing.binning import (IN, IS_NULL, MAX_BINS, RANGE, BinnedFeature, BinPredicate, bin_column,
                                      code_case, plan_bins)
from analysis.stats.intervals import wilson
from analysis.stats.significance import g_statistics, rate_above_p, rates_above_p

LOW, HIGH = "low", "high"


@dataclass(frozen=True)
class _Cut:
    """One candidate for an end: its value (None: no cut) and the rows and errors of the slice
    it gives."""

    value: object
    rows: int
    errors: int


@dataclass(frozen=True)
class _End:
    """One end's candidates and its current cut."""

    cuts: list[_Cut]
    current: _Cut


def refine_cuts(scope: Scope, found: DiscoveredSlice, error_sql: str, significance: float = 0.05,
                cancel: CancelToken = NEVER_CANCELLED) -> DiscoveredSlice:
    """``found`` with each range predicate's cuts moved where the rows split best (module doc);
    ``error_sql`` is each row's 0/1 error (discovery's misclassification). The slice's counts
    and interval are those of its new rows; ``p_value`` tests them against every other row of
    ``scope`` and ``p_adjusted`` is it times the candidates tried. ``found`` itself when no
    cut moves."""
    return refine_each(scope, [found], error_sql, significance, cancel)[0]


def refine_each(scope: Scope, found: Sequence[DiscoveredSlice], error_sql: str, significance: float = 0.05,
                cancel: CancelToken = NEVER_CANCELLED) -> list[DiscoveredSlice]:
    """:func:`refine_cuts` of each slice of ``found``, all in the same rows, which are read
    once for all of them (:func:`known_rows`) rather than once per statement: each end costs
    a binning and a count, some thirty ends an intake, and each of them reading the log and
    computing the error anew was most of the refinement's CPU."""
    if not any(_ends(s) for s in found):
        return list(found)
    columns = {p.column for s in found for p in s.predicates}
    with known_rows(scope, columns, error_sql, cancel) as (rows, error):
        known = Sql(f"{error} IS NOT NULL")
        totals = _counts(rows, known, error)
        return [_refined(rows, s, error, significance, cancel, known, totals) for s in found]


@contextlib.contextmanager
def known_rows(scope: Scope, columns: Iterable[str], error_sql: str,
               cancel: CancelToken = NEVER_CANCELLED) -> Iterator[tuple[Scope, str]]:
    """The scope's rows with a known error, copied once into a scratch table (dropped on exit)
    with their row id, ``columns`` and their error, as a scope over that table and the error's
    column: the same rows and values as the log's (so the same bins, quantile samples and
    counts), without the log's other columns or the error's expression (a paired join, for a
    regression's signal) in every statement that reads them."""
    store, dataset = scope.store, scope.dataset
    kept = [c for c in dataset.columns if c.name in set(columns)]
    name, error = store.new_name("known"), ident(KNOWN_ERROR)
    where = Sql(f"({error_sql}) IS NOT NULL") & scope.condition
    read = ", ".join([ident(ROW_ID)] + [ident(c.name) for c in kept] + [f"({error_sql}) AS {error}"])
    store.execute(Sql(f"CREATE TABLE {ident(name)} AS SELECT {read} FROM {ident(dataset.view)} "
                      f"WHERE {where.text}", where.params), cancel)
    try:
        yield Scope(store, replace(dataset, view=name, columns=tuple(kept)), scope.roles), error
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(name)}")


KNOWN_ERROR = "_sleuth_error"
"""The error's column in :func:`known_rows`' table (no log column starts with ``_sleuth``)."""


def _ends(found: DiscoveredSlice) -> list[tuple[int, str]]:
    """(predicate index, end) of each cut end of the slice's range predicates."""
    return [(i, end) for i, p in enumerate(found.predicates) if p.kind == RANGE
            for end, value in ((LOW, p.low), (HIGH, p.high)) if value is not None]


def _refined(scope: Scope, found: DiscoveredSlice, error_sql: str, significance: float, cancel: CancelToken,
             known: Sql, totals: tuple[int, int]) -> DiscoveredSlice:
    """:func:`refine_cuts` of one slice, given the rows with a known error and their counts."""
    ends = _ends(found)
    if not ends:
        return found
    all_rows, all_errors = totals
    predicates, tried, kept = list(found.predicates), 0, None
    for index, end in ends:
        one = _candidates(scope, replace(found, predicates=tuple(predicates)), index, end, known, error_sql, cancel)
        tried += len(one.cuts) + 1
        level = significance / (len(ends) * (len(one.cuts) + 1))
        admissible = _admissible(one.cuts, one.current, all_rows, all_errors, level, significance)
        best = _best(_End(admissible, one.current), all_rows, all_errors)
        if best is not one.current and rate_above_p(best.errors, best.rows, all_errors - best.errors,
                                                    all_rows - best.rows) < level:
            predicates[index], kept = _moved(predicates[index], end, best.value), best
    if kept is None:
        return found
    p_value = rate_above_p(kept.errors, kept.rows, all_errors - kept.errors, all_rows - kept.rows)
    low, high = wilson(kept.errors, kept.rows)
    return replace(found, predicates=tuple(predicates), size=kept.rows, error_sum=float(kept.errors),
                   error_rate=kept.errors / kept.rows, ci_low=low, ci_high=high, p_value=p_value,
                   p_adjusted=min(1.0, p_value * tried))


def _counts(scope: Scope, where: Sql, error_sql: str) -> tuple[int, int]:
    """Rows and errors of ``where`` in the scope's view."""
    rows, errors = scope.store.rows(Sql(f"SELECT count(*), coalesce(sum({error_sql}), 0) "
                                        f"FROM {ident(scope.dataset.view)} WHERE {where.text}", where.params))[0]
    return int(rows), _whole(errors)


def _candidates(scope: Scope, now: DiscoveredSlice, index: int, end: str, known: Sql, error_sql: str,
                cancel: CancelToken) -> _End:
    """The candidate cuts of one end of ``now``'s predicate ``index``, with the rows and errors
    of the slice each gives, and the current cut's: one binning of the column over the rows
    every other condition holds, and one scan counting its bins."""
    predicates = list(now.predicates)
    target, other_end = predicates[index], _moved(predicates[index], end, None)
    fixed = known
    for predicate in predicates[:index] + predicates[index + 1:] + ([other_end] if other_end else []):
        fixed = fixed & predicate.sql()
    column = scope.dataset.column(target.column)
    features = plan_bins(scope.store, scope.dataset.view, [column], fixed, n_bins=MAX_BINS,
                         max_categories=MAX_BINS, cancel=cancel)
    ordered = _ordered_bins(features[0]) if features else None
    current = now.sql()
    code = code_case(features[0]) if ordered else Sql("0")
    frame = scope.store.df(Sql(
        f"SELECT code, count(*) AS n, coalesce(sum(e), 0) AS e, count(*) FILTER (WHERE cur) AS cn, "
        f"coalesce(sum(e) FILTER (WHERE cur), 0) AS ce FROM (SELECT {code.text} AS code, ({error_sql}) AS e, "
        f"coalesce({current.text}, FALSE) AS cur FROM {ident(scope.dataset.view)} WHERE {fixed.text}) GROUP BY code",
        code.params + current.params + fixed.params), cancel)
    held = _Cut(target.low if end == LOW else target.high, int(frame["cn"].sum()), _whole(frame["ce"].sum()))
    cuts = []
    if ordered:
        by_code = frame.set_index("code")
        rows = np.array([int(by_code["n"].get(code, 0)) for code, _ in ordered])
        errors = np.array([_whole(by_code["e"].get(code, 0)) for code, _ in ordered])
        cuts = _side_counts([value for _, value in ordered], rows, errors, end, keep_none=other_end is not None)
    return _End(cuts, held)


def _whole(errors) -> int:
    """A sum of 0/1 errors (a DOUBLE in SQL) as the count it is."""
    return int(round(float(errors)))


def _ordered_bins(feature: BinnedFeature) -> list[tuple[int, object]] | None:
    """(code, largest value) of the column's non-NULL bins in the column's order, or None when a
    bin has no place in it (the "other values" bin of a column with too many to list)."""
    kept = [(code, b) for code, b in enumerate(feature.bins) if b.kind != IS_NULL]
    if kept and all(b.kind == IN and len(b.values) == 1 for _, b in kept):
        return sorted(((code, b.values[0]) for code, b in kept), key=lambda pair: pair[1])
    if kept and all(b.kind == RANGE for _, b in kept):
        return [(code, b.high) for code, b in kept]
    return None


def _side_counts(values: list, rows: np.ndarray, errors: np.ndarray, end: str, keep_none: bool) -> list[_Cut]:
    """The slice's side of each cut between two bins (above it for a lower end, at or below it
    for an upper end), and with no cut when ``keep_none``."""
    below_rows, below_errors = np.cumsum(rows)[:-1], np.cumsum(errors)[:-1]
    if end == LOW:
        below_rows, below_errors = rows.sum() - below_rows, errors.sum() - below_errors
    cuts = [_Cut(value, int(n), int(e)) for value, n, e in zip(values[:-1], below_rows, below_errors)]
    return cuts + ([_Cut(None, int(rows.sum()), int(errors.sum()))] if keep_none else [])


def _admissible(cuts: list[_Cut], current: _Cut, all_rows: int, all_errors: int, level: float,
                significance: float) -> list[_Cut]:
    """The cuts whose rows between ``current`` and them are on the side the move puts them
    (module doc), all tested at once. Both cut one column within the same other conditions, so
    one slice holds the other."""
    rows = np.array([c.rows for c in cuts], dtype=np.int64)
    errors = np.array([c.errors for c in cuts], dtype=np.int64)
    wider = rows > current.rows
    outside_rows = all_rows - np.where(wider, rows, current.rows)
    outside_errors = all_errors - np.where(wider, errors, current.errors)
    p = rates_above_p(np.abs(errors - current.errors), np.abs(rows - current.rows), outside_errors, outside_rows)
    kept = (rows == current.rows) | np.where(wider, p < level, p >= significance)
    return [cut for cut, ok in zip(cuts, kept) if ok]


def _best(end: _End, all_rows: int, all_errors: int) -> _Cut:
    """The cut whose slice fails more often than every other row with the largest likelihood
    ratio; the current cut unless another is strictly better (the first of equals)."""
    g = _g([end.current, *end.cuts], all_rows, all_errors)
    best = int(np.argmax(g))
    return end.current if g[best] <= g[0] else end.cuts[best - 1]


def _g(cuts: list[_Cut], all_rows: int, all_errors: int) -> np.ndarray:
    """The G statistic of each cut's slice against every other row; 0 unless it fails more."""
    rows = np.array([c.rows for c in cuts], dtype=np.int64)
    errors = np.array([c.errors for c in cuts], dtype=np.int64)
    other_rows, other_errors = all_rows - rows, all_errors - errors
    g = g_statistics(errors, rows, other_errors, other_rows)
    return np.where((rows == 0) | (other_rows == 0) | (errors * other_rows <= other_errors * rows), 0.0, g)


def _moved(predicate: BinPredicate, end: str, value) -> BinPredicate | None:
    """The range with ``end`` cut at ``value`` (None: no cut there); None when no end is left."""
    if end == LOW:
        moved = replace(predicate, low=value, low_inclusive=False)
    else:
        moved = replace(predicate, high=value, high_inclusive=True)
    return None if moved.low is None and moved.high is None else moved


def thresholds(scope: Scope, rows: Sql, columns: Sequence[str], cancel: CancelToken = NEVER_CANCELLED) -> list[Compare]:
    """``x > e`` and ``x <= e`` at each inner edge ``e`` of each numeric column's quantile cut
    over ``rows`` (discovery's binning): the thresholds a slice with no numeric predicate is
    offered (module doc), in the order of ``columns`` and edges."""
    return [cut for column in columns
            for edge in bin_column(scope.store, scope.dataset, column, rows, cancel=cancel).edges[1:-1]
            for cut in (Compare(column, ">", edge), Compare(column, "<=", edge))]


def sharpest(p_values: Sequence[float], significance: float, tried: int | None = None) -> int | None:
    """The index of the threshold whose test is smallest (the first of equals), if it is below
    ``significance`` over the ``tried`` thresholds (all of ``p_values`` unless said; Bonferroni:
    the chosen one is the best of all tried)."""
    if not len(p_values):
        return None
    best = int(np.argmin(p_values))
    return best if p_values[best] < significance / (tried or len(p_values)) else None


def with_thresholds(scope: Scope, found: DiscoveredSlice, columns: Sequence[str], error_sql: str,
                    significance: float = 0.05, cancel: CancelToken = NEVER_CANCELLED) -> list[DiscoveredSlice]:
    """``found`` with, for each of ``columns``, the threshold of :func:`thresholds` over its rows
    whose rows fail more often than the slice's other rows by the most significant one-sided
    Fisher test, when significant over every threshold tried on every column
    (:func:`sharpest`): one slice per column whose threshold sharpens ``found``. Thresholds of
    one column are variants of one cut, but two columns are two explanations (the failures of
    well-schooled workers, or of well-paid ones) that grouping weighs against each other.
    Counts, interval and ``p_value`` are those of each slice's rows against every other row of
    ``scope``; ``p_adjusted`` is it times the thresholds tried."""
    known = Sql(f"({error_sql}) IS NOT NULL") & scope.condition
    options = thresholds(scope, found.sql() & known, columns, cancel)
    if not options:
        return []
    rows, errors, cut_rows, cut_errors = _threshold_counts(scope, found.sql() & known, options, error_sql, cancel)
    p_values = rates_above_p(cut_errors, cut_rows, errors - cut_errors, rows - cut_rows)
    all_rows, all_errors = _counts(scope, known, error_sql)
    sharpened = []
    for column in dict.fromkeys(o.column for o in options):
        mine = [i for i, o in enumerate(options) if o.column == column]
        best = sharpest(p_values[mine], significance, tried=len(options))
        if best is None:
            continue
        n, e = int(cut_rows[mine[best]]), int(cut_errors[mine[best]])
        p_value = rate_above_p(e, n, all_errors - e, all_rows - n)
        low, high = wilson(e, n)
        sharpened.append(replace(found, predicates=found.predicates + (_bin_predicate(options[mine[best]]),), size=n,
                                 error_sum=float(e), error_rate=e / n, ci_low=low, ci_high=high, p_value=p_value,
                                 p_adjusted=min(1.0, p_value * len(options))))
    return sharpened


def _threshold_counts(scope: Scope, where: Sql, options: Sequence[Compare], error_sql: str,
                      cancel: CancelToken) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Rows and errors of ``where``, and of each threshold within it, in one scan."""
    flags = [_bin_predicate(o).sql() for o in options]
    columns_in = ", ".join(f"({f.text}) AS _sleuth_in_{i}" for i, f in enumerate(flags))
    sums = ", ".join(f"count(*) FILTER (WHERE _sleuth_in_{i}), coalesce(sum(_sleuth_e) FILTER (WHERE _sleuth_in_{i}), 0)"
                     for i in range(len(flags)))
    row = scope.store.rows(Sql(f"SELECT count(*), coalesce(sum(_sleuth_e), 0), {sums} FROM (SELECT ({error_sql}) "
                               f"AS _sleuth_e, {columns_in} FROM {ident(scope.dataset.view)} WHERE {where.text})",
                               tuple(p for f in flags for p in f.params) + where.params), cancel)[0]
    cut_rows = np.array([int(n) for n in row[2::2]], dtype=np.int64)
    cut_errors = np.array([_whole(e) for e in row[3::2]], dtype=np.int64)
    return int(row[0]), _whole(row[1]), cut_rows, cut_errors


def _bin_predicate(cut: Compare) -> BinPredicate:
    """A threshold of :func:`thresholds` as the range predicate a discovered slice holds."""
    if cut.op == ">":
        return BinPredicate(cut.column, RANGE, low=cut.value, low_inclusive=False)
    return BinPredicate(cut.column, RANGE, high=cut.value, high_inclusive=True)
