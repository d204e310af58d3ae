"""Where in time a problem sits, found from the rows: Kulldorff's Bernoulli scan statistic.

A finding's window used to be read off fixed time buckets (hours, days), which fails on a
sparse log: at twenty rows a day an hourly bucket holds one or two rows, and a two-week
incident either vanishes in noise or becomes a two-row "window". The scan statistic has no
bucket: it takes the time-ordered 0/1 indicator "this row shows the problem" and finds the
interval whose rate is most unlike the rate outside it (Kulldorff 1997, "A spatial scan
statistic", one dimension). For an interval holding ``n`` of ``N`` rows and ``c`` of ``C``
cases, with a higher rate inside than outside, the log likelihood ratio is::

    LLR = c ln(c/n) + (n-c) ln(1-c/n) + (C-c) ln((C-c)/(N-n)) + (N-n-C+c) ln(1-(C-c)/(N-n))
          - C ln(C/N) - (N-C) ln(1-C/N)

and the window is the interval that maximises it. Adjacent bursts of one problem need no
merging step: their union is itself a candidate interval, and it wins whenever the rows
between them do not dilute the evidence more than the union adds.

**Units.** Rows are grouped into time-ordered units (rows sharing a time unit, at most
:data:`MAX_UNITS` of them over the scanned span) so a ten-million-row log costs what a
thousand-row one does; a sparse log keeps about one row per unit. Intervals start and end
on unit boundaries, and span at most half the rows (Kulldorff's usual upper bound: a
"window" holding most of the log says the rest is the anomaly).

**Significance.** The maximum LLR over all intervals is compared with its distribution when
the cases are spread over the rows at random (Monte Carlo: the unit case counts drawn from
the multivariate hypergeometric distribution, which is permuting the row indicators). The
p-value comes from a Gumbel distribution fitted to those maxima (Abrams, Kleinman and
Kulldorff 2010), which gives p-values far below ``1 / (permutations + 1)`` that
multiple-comparison control over many findings needs. A fixed seed makes it repeatable.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from scipy import stats

MAX_UNITS = 400
"""Time units a span is scanned in: enough resolution for a window, bounded cost."""

MAX_WINDOW_SHARE = 0.5
"""An interval holds at most this share of the scanned rows."""

PERMUTATIONS = 99
"""Monte Carlo replicates behind the Gumbel fit of the null maximum."""

SEED = 20260413
"""Fixed seed of the Monte Carlo replicates, so the same log gives the same p-values."""


@dataclass(frozen=True)
class ScanWindow:
    """Units ``first``..``last`` (inclusive) of a scanned series: the interval whose case rate
    is most above the rest's, with its rows, cases, both rates, LLR and p-value."""

    first: int
    last: int
    rows: int
    cases: int
    rate_inside: float
    rate_outside: float
    llr: float
    p_value: float | None


def bernoulli_llr(cases: np.ndarray, rows: np.ndarray, total_cases: float, total_rows: float) -> np.ndarray:
    """Kulldorff's Bernoulli LLR of intervals holding ``rows`` rows and ``cases`` cases (arrays
    of one shape), 0 where the rate inside is not above the rate outside."""
    c = np.asarray(cases, dtype=np.float64)
    n = np.asarray(rows, dtype=np.float64)
    c_out, n_out = total_cases - c, total_rows - n
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = _xlogy(c, c / n) + _xlogy(n - c, 1.0 - c / n)
        outside = _xlogy(c_out, c_out / n_out) + _xlogy(n_out - c_out, 1.0 - c_out / n_out)
        p = total_cases / total_rows
        null = _xlogy(total_cases, p) + _xlogy(total_rows - total_cases, 1.0 - p)
        llr = inside + outside - null
        higher = (n > 0) & (n_out > 0) & (c * n_out > c_out * n)
    return np.where(higher, np.nan_to_num(llr, nan=0.0), 0.0)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x ln y`` with ``0 ln 0 = 0``, the convention of the likelihood."""
    return np.where(np.asarray(x) > 0, np.asarray(x) * np.log(np.where(np.asarray(x) > 0, y, 1.0)), 0.0)


XLOGX_TABLE_ROWS = 1 << 20
"""Series of up to this many rows look ``x ln x`` up in a table (8 MB at most) instead of
taking logarithms: the Monte Carlo replicates evaluate the LLR of every interval a hundred
times over, and the logarithms were most of the checks' time on a sparse log."""


@dataclass(frozen=True)
class Intervals:
    """The candidate intervals of a series of units: every ``[first, last]`` holding at most
    :data:`MAX_WINDOW_SHARE` of the rows, with its row count. They depend on the rows only,
    so the Monte Carlo replicates (which move the cases) share them, and so do the LLR's
    terms that depend on the rows only (``fixed``, with the table ``xlogx`` of ``x ln x``;
    ``whole`` and ``outside``, the row counts inside and outside as integers, and ``after``,
    ``last + 1``: each replicate converted or added them again)."""

    first: np.ndarray
    last: np.ndarray
    rows: np.ndarray
    total_rows: float
    xlogx: np.ndarray | None = None
    fixed: np.ndarray | None = None
    whole: np.ndarray | None = None
    outside: np.ndarray | None = None
    after: np.ndarray | None = None

    @classmethod
    def of(cls, rows: np.ndarray) -> "Intervals":
        row_sums = np.concatenate([[0], np.cumsum(np.asarray(rows, dtype=np.int64))])
        first, last = np.triu_indices(len(rows))
        n = row_sums[last + 1] - row_sums[first]
        keep = (n > 0) & (n <= MAX_WINDOW_SHARE * row_sums[-1])
        total = int(row_sums[-1])
        first, last, n = first[keep], last[keep], n[keep]
        if total > XLOGX_TABLE_ROWS:
            return cls(first, last, n.astype(np.float64), float(total), after=last + 1)
        xlogx = _xlogy(np.arange(total + 1, dtype=np.float64), np.arange(total + 1, dtype=np.float64))
        return cls(first, last, n.astype(np.float64), float(total), xlogx, xlogx[n] + xlogx[total - n],
                   n, total - n, last + 1)

    def best(self, cases: np.ndarray) -> tuple[int, int, float]:
        """``(first, last, llr)`` of the interval maximising the LLR for ``cases`` per unit;
        ``(0, -1, 0.0)`` when none has a higher rate than the rest. O(intervals) arithmetic
        over cumulative counts, no loop over rows."""
        case_sums = np.concatenate([[0], np.cumsum(np.asarray(cases, dtype=np.int64))])
        total_cases = case_sums[-1]
        if len(self.rows) == 0 or total_cases <= 0 or total_cases >= self.total_rows:
            return 0, -1, 0.0
        c = case_sums[self.after] - case_sums[self.first]
        if self.xlogx is None:
            llr = bernoulli_llr(c, self.rows, float(total_cases), self.total_rows)
            top = int(np.argmax(llr))
            return (int(self.first[top]), int(self.last[top]), float(llr[top])) if llr[top] > 0 else (0, -1, 0.0)
        higher = np.flatnonzero(c * self.outside > (int(total_cases) - c) * self.whole)
        if not len(higher):
            return 0, -1, 0.0
        llr = self._tabled_llr(c[higher], self.whole[higher], int(total_cases), self.fixed[higher])
        top = int(np.argmax(llr))
        return (int(self.first[higher[top]]), int(self.last[higher[top]]), float(llr[top])) if llr[top] > 0 \
            else (0, -1, 0.0)

    def llr(self, c: np.ndarray, rows: np.ndarray, total_cases: int, fixed: np.ndarray | None = None) -> np.ndarray:
        """:func:`bernoulli_llr` of intervals of ``rows`` rows and ``c`` cases; with the table,
        regrouped as sums of ``x ln x`` over whole counts (``c ln(c/n) = c ln c - c ln n``...),
        ``fixed`` the rows' own terms when known."""
        if self.xlogx is None:
            return bernoulli_llr(c, rows, float(total_cases), self.total_rows)
        n, total = np.asarray(rows).astype(np.int64), int(self.total_rows)
        c = np.asarray(c).astype(np.int64)
        llr = self._tabled_llr(c, n, total_cases, fixed)
        higher = (n > 0) & (n < total) & (c * (total - n) > (total_cases - c) * n)
        return np.where(higher, np.maximum(llr, 0.0), 0.0)

    def _tabled_llr(self, c: np.ndarray, n: np.ndarray, total_cases: int, fixed: np.ndarray | None) -> np.ndarray:
        """The LLR's sum of table terms for ``c`` cases in ``n`` rows, before its sign is
        checked; :meth:`best` asks for the intervals whose rate is higher inside only (about
        half of them under the null), whose terms alone it reads."""
        t, total = self.xlogx, int(self.total_rows)
        fixed = t[n] + t[total - n] if fixed is None else fixed
        null = t[total_cases] + t[total - total_cases] - t[total]
        return t[c] + t[n - c] + t[total_cases - c] + t[total - n - total_cases + c] - fixed - null


def scan(rows: np.ndarray, cases: np.ndarray, permutations: int = PERMUTATIONS, seed: int = SEED,
         level: float | None = None, intervals: Intervals | None = None) -> ScanWindow | None:
    """The most likely window of a time-ordered series of units (``rows`` rows each, ``cases``
    of them showing the problem) with its Monte Carlo / Gumbel p-value (None with no
    permutations: a window only refined, whose evidence was weighed at a coarser scale);
    None when no interval has a higher rate than the rest.

    ``level`` is the p-value a caller screening many series needs. The replicates then stop
    as soon as enough of them reach the observed maximum that the p-value cannot fall below
    it (sequential Monte Carlo, Besag and Clifford 1991), and the p-value is the sequential
    estimate ``exceedances / replicates``: a series of plain noise costs a replicate or two.

    ``intervals`` is ``Intervals.of(rows)`` when the caller scans several series over the same
    rows (the checks' defects of one log): building it costs several replicates' arithmetic."""
    rows = np.asarray(rows, dtype=np.int64)
    cases = np.asarray(cases, dtype=np.int64)
    intervals = Intervals.of(rows) if intervals is None else intervals
    first, last, llr = intervals.best(cases)
    if last < first:
        return None
    null = _null_maxima(intervals, rows, int(cases.sum()), llr, permutations, seed, level)
    return _window(rows, cases, first, last, llr, null, permutations)


def _window(rows: np.ndarray, cases: np.ndarray, first: int, last: int, llr: float, null: tuple[np.ndarray, bool],
            permutations: int) -> ScanWindow:
    """The :class:`ScanWindow` of units ``first``..``last``, its p-value from the replicates'
    maxima (``null``: the maxima and whether they stopped early; None with no replicates)."""
    null_maxima, stopped_early = null
    inside_rows, inside_cases = int(rows[first:last + 1].sum()), int(cases[first:last + 1].sum())
    outside_rows = int(rows.sum()) - inside_rows
    if not permutations:
        p_value = None
    elif stopped_early:
        p_value = float(np.sum(null_maxima >= llr) / len(null_maxima))
    else:
        p_value = gumbel_p_value(llr, null_maxima)
    return ScanWindow(
        first=first, last=last, rows=inside_rows, cases=inside_cases,
        rate_inside=inside_cases / inside_rows if inside_rows else 0.0,
        rate_outside=(int(cases.sum()) - inside_cases) / outside_rows if outside_rows else 0.0,
        llr=llr, p_value=p_value,
    )


def _null_maxima(intervals: Intervals, rows: np.ndarray, total: int, observed: float, permutations: int, seed: int,
                 level: float | None, draw=None, series: tuple = ()) -> tuple[np.ndarray, bool]:
    """The maximum LLR of ``permutations`` replicates with the cases spread at random (by
    ``draw(rng)``, else as a permutation of the rows' indicators), and whether they stopped
    early: at ``level``, once ``h`` replicates reach ``observed`` with
    ``(h + 1) / (permutations + 1) > level``, no later replicate can make it significant.

    The replicates depend on ``series`` (what ``draw`` and ``intervals`` read: by default the
    rows), ``total`` and ``seed`` only, never on where the observed cases sit, so the maxima
    already drawn for the same three are read back (:func:`_kept_maxima`) and only the rest
    drawn, from the generator's state where they stopped: the same numbers, drawn once."""
    draw = draw or (lambda generator: generator.multivariate_hypergeometric(rows, total))
    needed = None if level is None else max(1, math.ceil(level * (permutations + 1)))
    key = (series or ("bernoulli", np.asarray(rows, dtype=np.int64).tobytes()), total, seed)
    kept, state = _kept_maxima(key)
    rng = np.random.default_rng(seed)
    if state is not None:
        rng.bit_generator.state = state
    maxima, reached, stopped = [], 0, False
    for index in range(permutations):
        maxima.append(kept[index] if index < len(kept) else intervals.best(draw(rng))[2])
        reached += maxima[-1] >= observed
        if needed is not None and reached >= needed:
            stopped = True
            break
    if len(maxima) > len(kept):
        _keep_maxima(key, tuple(maxima), rng.bit_generator.state)
    return np.array(maxima), stopped


KEPT_SERIES = 512
"""Series whose replicates' maxima a process keeps, the least recently used dropped first (a
few kilobytes each). One check scans a series more than once (a defect's rows by the row scan,
then by the localisation of its finding; defects of one column with equal counts), and a
window or a queue checks the same log again with another reference."""

_kept: OrderedDict[tuple, tuple[tuple[float, ...], dict]] = OrderedDict()
_kept_lock = threading.Lock()


def _kept_maxima(key: tuple) -> tuple[tuple[float, ...], dict | None]:
    """The maxima kept for ``key`` and the generator's state after them; none yet: ``()``, None."""
    with _kept_lock:
        if key not in _kept:
            return (), None
        _kept.move_to_end(key)
        return _kept[key]


def _keep_maxima(key: tuple, maxima: tuple[float, ...], state: dict) -> None:
    """Keep ``maxima`` for ``key`` unless more are kept already (another thread drew them)."""
    with _kept_lock:
        if len(_kept.get(key, ((), None))[0]) < len(maxima):
            _kept[key] = (maxima, state)
        _kept.move_to_end(key)
        while len(_kept) > KEPT_SERIES:
            _kept.popitem(last=False)


@dataclass(frozen=True)
class ExpectedIntervals:
    """Every interval ``[first, last]`` of a series of units, scored against cases expected in
    proportion to an expectation per unit (Kulldorff's Poisson model, conditional on the
    total: :func:`peer_scan`); ``after`` is ``last + 1``. They depend on the number of units
    only, so the replicates of one series share them, and each replicate's expectation and
    cases are read over them in one pass: cutting the intervals to those expected to hold at
    most :data:`MAX_WINDOW_SHARE` of the cases first, then to those holding more than
    expected, gathered every kept interval's ends twice (821 peer scans of the corpus's incident
    checks: 2.9 CPU-s that way, 2.4-2.6 in one pass)."""

    first: np.ndarray
    last: np.ndarray
    after: np.ndarray

    @classmethod
    def of(cls, units: int) -> "ExpectedIntervals":
        first, last = np.triu_indices(units)
        return cls(first, last, last + 1)

    def best(self, expected: np.ndarray, cases: np.ndarray) -> tuple[int, int, float]:
        """``(first, last, llr)`` of the interval whose cases most exceed their ``expected``
        share (per unit); ``(0, -1, 0.0)`` when none holds more than expected. An interval
        takes part when it is expected to hold some cases and at most :data:`MAX_WINDOW_SHARE`
        of them. The LLR of ``c`` of ``C`` cases where ``mu`` were expected is
        ``c ln(c/mu) + (C-c) ln((C-c)/(C-mu))``, taken only for the intervals holding more than
        expected (the others score 0: about half, under the null)."""
        sums = np.concatenate([[0.0], np.cumsum(np.asarray(expected, dtype=np.float64))])
        case_sums = np.concatenate([[0], np.cumsum(np.asarray(cases, dtype=np.int64))])
        total = float(case_sums[-1])
        if total <= 0:
            return 0, -1, 0.0
        share = (sums[self.after] - sums[self.first]) / sums[-1]
        c = (case_sums[self.after] - case_sums[self.first]).astype(np.float64)
        mu = share * total
        above = np.flatnonzero((share > 0) & (share <= MAX_WINDOW_SHARE) & (c > mu))
        if not len(above):
            return 0, -1, 0.0
        c, mu = c[above], mu[above]
        with np.errstate(divide="ignore", invalid="ignore"):
            llr = _xlogy(c, c / mu) + _xlogy(total - c, (total - c) / (total - mu))
        llr = np.nan_to_num(llr, nan=0.0)
        top = int(np.argmax(llr))
        return (int(self.first[above[top]]), int(self.last[above[top]]), float(llr[top])) if llr[top] > 0 \
            else (0, -1, 0.0)


def peer_scan(rows: np.ndarray, cases: np.ndarray, peer_rows: np.ndarray, peer_cases: np.ndarray,
              permutations: int = PERMUTATIONS, seed: int = SEED, level: float | None = None) -> ScanWindow | None:
    """The window where a group's ``cases`` most exceed what its peers (the rest of the log:
    ``peer_rows``, ``peer_cases`` per unit) show at the same time, with a p-value over every
    window tried.

    The group's cases are expected in each unit in proportion to its rows times the peers'
    share there (a pseudo-row at the peers' overall share keeps a unit with few peer rows from
    expecting nothing), and the window is the interval whose cases most exceed that
    expectation scaled to the group's total (Kulldorff's Poisson LLR, ``c ln(c/mu) +
    (C-c) ln((C-c)/(C-mu))``): what changes for every group at once (a drift) and what the
    group always shows more than its peers cancel out. Under the null each unit's cases are
    split between the group and its peers at random, given the unit's rows and cases (a
    hypergeometric draw per unit), and the expectation is computed again from each draw's
    peers, so its own noise is part of the null distribution. ``level`` stops the replicates
    early, as :func:`scan` does."""
    rows, cases = np.asarray(rows, dtype=np.int64), np.asarray(cases, dtype=np.int64)
    peer_rows, holding = np.asarray(peer_rows, dtype=np.int64), cases + np.asarray(peer_cases, dtype=np.int64)
    total_peer_rows = max(int(peer_rows.sum()), 1)
    intervals = ExpectedIntervals.of(len(rows))

    def expected(drawn: np.ndarray) -> np.ndarray:
        peers = holding - drawn
        return rows * (peers + peers.sum() / total_peer_rows) / (peer_rows + 1.0)

    def best(drawn: np.ndarray) -> tuple[int, int, float]:
        """The best interval of ``drawn`` against the expectation its own peers give."""
        mu = expected(drawn)
        return intervals.best(mu, drawn) if mu.sum() > 0 else (0, -1, 0.0)

    first, last, llr = best(cases)
    if last < first:
        return None
    null = _null_maxima(SimpleNamespace(best=best), rows, int(cases.sum()), llr, permutations, seed, level,
                        lambda generator: generator.hypergeometric(rows, peer_rows, holding),
                        ("peer", rows.tobytes(), peer_rows.tobytes(), holding.tobytes()))
    return _window(rows, cases, first, last, llr, null, permutations)


def interval_p_value(rows: np.ndarray, cases: np.ndarray, first: int, last: int,
                     permutations: int = PERMUTATIONS, seed: int = SEED) -> float:
    """The p-value of units ``first``..``last`` chosen by other means (the checks' buckets):
    their LLR against the null distribution of the *maximum* over every interval, so the
    choice among all the windows that could have been picked is paid for. 1 when the rate
    inside is not above the rest's."""
    rows = np.asarray(rows, dtype=np.int64)
    cases = np.asarray(cases, dtype=np.int64)
    intervals = Intervals.of(rows)
    total = int(cases.sum())
    if total <= 0 or total >= intervals.total_rows:
        return 1.0
    inside_rows, inside_cases = rows[first:last + 1].sum(), cases[first:last + 1].sum()
    llr = float(intervals.llr(np.array([inside_cases]), np.array([inside_rows]), total)[0])
    if llr <= 0:
        return 1.0
    null_maxima, _ = _null_maxima(intervals, rows, total, llr, permutations, seed, None)
    return gumbel_p_value(llr, null_maxima)


def gumbel_p_value(observed: float, null_maxima: np.ndarray) -> float:
    """P(max LLR >= observed) under the null, from a Gumbel fitted to the Monte Carlo maxima;
    the plain Monte Carlo p-value when the maxima do not vary (nothing to fit)."""
    if np.ptp(null_maxima) <= 0:
        return float((1 + np.sum(null_maxima >= observed)) / (1 + len(null_maxima)))
    location, scale = stats.gumbel_r.fit(null_maxima)
    return float(stats.gumbel_r.sf(observed, location, scale))
