"""The statistics of a two-version comparison: intervals and tests for a difference of metrics.

Every function takes small aggregated numbers (counts, sums) or, for ROC AUC, the scores of
the labelled rows, and returns a :class:`DiffTest`: the difference ``candidate - base``, its
95% interval and a two-sided p-value for "no difference". Which method serves which metric:

* **Accuracy / error rate, paired**: exact McNemar test on the discordant pairs
  (``scipy.stats.binomtest(b, b + c, 0.5)``) and Newcombe's hybrid score interval for a
  difference of paired proportions (Newcombe 1998, *Stat Med* 17:2635, method 10), built
  from the two Wilson intervals and the phi correlation of the 2x2 table
  (:mod:`analysis.stats.intervals`, :mod:`analysis.stats.significance`).
* **Accuracy / error rate, unpaired**: Fisher's exact test (``scipy.stats.fisher_exact``)
  and Newcombe's hybrid score interval for independent proportions (Newcombe 1998,
  *Stat Med* 17:873, method 10).
* **ROC AUC**: DeLong, DeLong and Clarke-Pearson (1988) with the structural components
  computed from mid-ranks (Sun and Xu 2014, O(n log n); :mod:`analysis.stats.significance`;
  from ranks DuckDB computes, linear);
  paired versions share rows, so the covariance of their components enters the variance;
  unpaired versions are independent.
* **Means of a per-row loss (log loss, MAE)**: the normal interval of the mean difference
  (paired: of the per-pair differences; unpaired: Welch) from sums computed by DuckDB. A
  bootstrap of a mean converges to exactly this interval; with thousands of rows or more
  the two agree to the third digit, and sums need no rows fetched.
* **RMSE**: the delta method on the mean squared errors (paired: with their covariance).
* **Precision, recall, F1, ECE**: a bootstrap that resamples *cells* instead of rows. These
  metrics depend on rows only through cell counts (label x base prediction x candidate
  prediction, plus calibration bins for ECE), so a multinomial draw of the cell counts is a
  row bootstrap, at the cost of a few dozen numbers per replicate. For ECE a cell keeps its
  mean score, so the spread of scores inside one calibration bin is ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from analysis.stats.intervals import CONFIDENCE, newcombe_independent, newcombe_paired, z_quantile
from analysis.stats.significance import (
    delong_paired_rank_variance, delong_paired_variance, delong_variance, mcnemar_exact,
)

Z = z_quantile(CONFIDENCE)


@dataclass(frozen=True)
class DiffTest:
    """``candidate - base`` with its 95% interval, a two-sided p-value and the method's name."""

    base: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str


UNDEFINED = DiffTest(None, None, None, None, None, None, "undefined")


def paired_proportions(both: int, negative: int, positive: int, neither: int) -> DiffTest:
    """Paired difference of two proportions (e.g. accuracies) from the 2x2 table.

    ``both``: both right; ``negative``: base right, candidate wrong; ``positive``: base
    wrong, candidate right; ``neither``: both wrong. Interval: Newcombe's method 10.
    """
    n = both + negative + positive + neither
    if n == 0:
        return UNDEFINED
    p_c, p_b = (both + positive) / n, (both + negative) / n
    lower, upper = newcombe_paired(both, negative, positive, neither)
    return DiffTest(p_b, p_c, p_c - p_b, lower, upper, mcnemar_exact(negative, positive),
                    "exact McNemar; Newcombe paired score interval")


def independent_proportions(base_hits: int, base_n: int, cand_hits: int, cand_n: int) -> DiffTest:
    """Difference of two independent proportions: Newcombe's hybrid score interval, Fisher p."""
    if base_n == 0 or cand_n == 0:
        return UNDEFINED
    p_b, p_c = base_hits / base_n, cand_hits / cand_n
    lower, upper = newcombe_independent(base_hits, base_n, cand_hits, cand_n)
    table = [[cand_hits, cand_n - cand_hits], [base_hits, base_n - base_hits]]
    p_value = float(stats.fisher_exact(table).pvalue)
    return DiffTest(p_b, p_c, p_c - p_b, lower, upper, p_value, "Fisher exact; Newcombe hybrid score interval")


def normal_test(base: float, candidate: float, variance: float, method: str) -> DiffTest:
    """A difference with a known (estimated) variance: normal interval and two-sided z test."""
    diff = candidate - base
    if not math.isfinite(variance) or variance < 0:
        return DiffTest(base, candidate, diff, None, None, None, method)
    se = math.sqrt(variance)
    if se == 0:
        return DiffTest(base, candidate, diff, diff, diff, 1.0 if diff == 0 else 0.0, method)
    p_value = float(2 * stats.norm.sf(abs(diff) / se))
    return DiffTest(base, candidate, diff, diff - Z * se, diff + Z * se, p_value, method)


@dataclass(frozen=True)
class LossSums:
    """Sums of a per-row loss over rows: paired rows fill every field, unpaired sides only
    their own (``n``, ``sum``, ``sum_sq``) and leave ``cross`` at 0."""

    n: int
    base_sum: float
    cand_sum: float
    base_sq: float
    cand_sq: float
    cross: float = 0.0


def paired_mean_loss(s: LossSums, method: str = "paired normal (mean difference)") -> DiffTest:
    """Mean loss of each version over the same rows, and the CLT interval of their difference."""
    if s.n < 2:
        return UNDEFINED
    mean_b, mean_c = s.base_sum / s.n, s.cand_sum / s.n
    diff_sq = s.base_sq + s.cand_sq - 2 * s.cross
    variance = max(diff_sq / s.n - (mean_c - mean_b) ** 2, 0.0) * s.n / (s.n - 1) / s.n
    return normal_test(mean_b, mean_c, variance, method)


def welch_mean_loss(base_n: int, base_sum: float, base_sq: float,
                    cand_n: int, cand_sum: float, cand_sq: float) -> DiffTest:
    """Mean loss of two independent sides: the Welch (unequal variances) normal interval."""
    if base_n < 2 or cand_n < 2:
        return UNDEFINED
    mean_b, mean_c = base_sum / base_n, cand_sum / cand_n
    var_b = max(base_sq / base_n - mean_b ** 2, 0.0) * base_n / (base_n - 1)
    var_c = max(cand_sq / cand_n - mean_c ** 2, 0.0) * cand_n / (cand_n - 1)
    return normal_test(mean_b, mean_c, var_b / base_n + var_c / cand_n, "Welch normal (mean difference)")


def rmse_difference(n_b: int, b_sq: float, b_quad: float, n_c: int, c_sq: float, c_quad: float,
                    cross_sq: float | None) -> DiffTest:
    """RMSE of each version and the delta-method interval of their difference.

    ``*_sq`` are sums of squared errors, ``*_quad`` sums of their squares (4th powers);
    ``cross_sq`` the sum of products of the two versions' squared errors on paired rows
    (None when unpaired).
    """
    if n_b < 2 or n_c < 2 or b_sq <= 0 or c_sq <= 0:
        return UNDEFINED
    m_b, m_c = b_sq / n_b, c_sq / n_c
    var_b = max(b_quad / n_b - m_b ** 2, 0.0) / n_b
    var_c = max(c_quad / n_c - m_c ** 2, 0.0) / n_c
    covariance = 0.0 if cross_sq is None else (cross_sq / n_b - m_b * m_c) / n_b
    g_b, g_c = 1 / (2 * math.sqrt(m_b)), 1 / (2 * math.sqrt(m_c))
    variance = g_c ** 2 * var_c + g_b ** 2 * var_b - 2 * g_b * g_c * covariance
    method = "delta method (paired)" if cross_sq is not None else "delta method (independent)"
    return normal_test(math.sqrt(m_b), math.sqrt(m_c), variance, method)


# --- ROC AUC: DeLong -------------------------------------------------------------------------


def delong_paired(y: np.ndarray, base_score: np.ndarray, cand_score: np.ndarray) -> DiffTest:
    """Correlated DeLong test of two versions' AUCs on the same labelled rows."""
    return _delong_paired(delong_paired_variance, y, base_score, cand_score)


def delong_paired_ranked(y: np.ndarray, base_rank: np.ndarray, cand_rank: np.ndarray) -> DiffTest:
    """:func:`delong_paired` from each version's dense rank of its score instead of the score
    (``dense_rank() OVER (ORDER BY score) - 1``): the same test, without a sort in Python."""
    return _delong_paired(delong_paired_rank_variance, y, base_rank, cand_rank)


def _delong_paired(variance: Callable, y: np.ndarray, base: np.ndarray, cand: np.ndarray) -> DiffTest:
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return UNDEFINED
    auc_b, auc_c, diff_variance = variance(y, base, cand)
    return normal_test(auc_b, auc_c, diff_variance, "DeLong (paired)")


def delong_unpaired(y_b: np.ndarray, s_b: np.ndarray, y_c: np.ndarray, s_c: np.ndarray) -> DiffTest:
    """DeLong test of two AUCs measured on different rows (their variances add)."""
    for y in (np.asarray(y_b).astype(bool), np.asarray(y_c).astype(bool)):
        if y.all() or not y.any():
            return UNDEFINED
    auc_b, var_b = delong_variance(y_b, s_b)
    auc_c, var_c = delong_variance(y_c, s_c)
    return normal_test(auc_b, auc_c, var_b + var_c, "DeLong (independent)")


# --- the cell bootstrap ------------------------------------------------------------------------

CellMetric = Callable[[np.ndarray], np.ndarray]
"""Metric of each replicate from a (replicates x cells) array of cell counts."""


def cell_bootstrap(
    counts: np.ndarray,
    base_metric: CellMetric,
    cand_metric: CellMetric,
    *,
    cand_counts: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    method: str = "cell bootstrap (paired)",
) -> DiffTest:
    """Percentile bootstrap of ``cand_metric - base_metric`` by multinomial draws of cells.

    Paired: ``counts`` are the joint cells of both versions, resampled together. Unpaired:
    ``counts`` are the base side's cells and ``cand_counts`` the candidate's, each resampled
    on its own. The p-value is the two-sided bootstrap p (twice the smaller tail share of
    replicates on either side of 0), floored at one replicate's share.
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts, dtype=np.float64)
    cand = counts if cand_counts is None else np.asarray(cand_counts, dtype=np.float64)
    if counts.sum() == 0 or cand.sum() == 0:
        return UNDEFINED
    base_value = float(base_metric(counts[None, :])[0])
    cand_value = float(cand_metric(cand[None, :])[0])
    if not (math.isfinite(base_value) and math.isfinite(cand_value)):
        return DiffTest(_finite(base_value), _finite(cand_value), None, None, None, None, method)
    draws_b = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=n_boot)
    draws_c = draws_b if cand_counts is None else rng.multinomial(int(cand.sum()), cand / cand.sum(), size=n_boot)
    with np.errstate(divide="ignore", invalid="ignore"):
        diffs = cand_metric(draws_c.astype(np.float64)) - base_metric(draws_b.astype(np.float64))
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return DiffTest(base_value, cand_value, cand_value - base_value, None, None, None, method)
    low, high = np.quantile(diffs, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    tail = min((diffs <= 0).mean(), (diffs >= 0).mean())
    p_value = float(min(1.0, max(2 * tail, 1 / len(diffs))))
    return DiffTest(base_value, cand_value, cand_value - base_value, float(low), float(high), p_value, method)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
