"""Confidence intervals: of a proportion (Wilson), of a mean (Student t), and of a difference of
two proportions (Newcombe), each in one place so every panel, report and test agrees.

Wilson's score interval stays inside [0, 1] and keeps its coverage for rates near 0 or 1, where
the normal ("Wald") interval fails; it is the closed form ``scipy.stats.binomtest(k, n)
.proportion_ci(method="wilson")`` computes, written vectorised because breakdowns need it for
every group at once. Newcombe's hybrid score intervals (Newcombe 1998, *Stat Med* 17:873 and
17:2635, method 10) combine the two Wilson intervals into one for the difference, with the
correlation of the 2x2 table when the proportions are paired.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
"""The confidence level every interval uses unless its caller asks otherwise."""


@lru_cache(maxsize=8)
def z_quantile(confidence: float = CONFIDENCE) -> float:
    """The standard normal quantile of a two-sided interval at ``confidence`` (1.96 at 95%);
    kept per level, since scipy's ``ppf`` costs ~50 us a call and every Wilson interval asks for
    it (hundreds per queue intake, nearly always at 95%)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes`` in ``trials``, element-wise (NaN where trials is 0)."""
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    z = z_quantile(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of one proportion, as two floats (NaN when there are no trials)."""
    low, high = wilson_interval(np.asarray(successes), np.asarray(trials), confidence)
    return float(low), float(high)


def t_interval(
    mean: np.ndarray, variance: np.ndarray, n: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval of a mean from its sample variance and count, element-wise.

    NaN wherever the variance is undefined (fewer than two values); the t quantile with
    ``n - 1`` degrees of freedom widens the normal interval for small groups.
    """
    mean, variance, n = (np.asarray(x, float) for x in (mean, variance, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
        half = t * np.sqrt(variance / n)
    return mean - half, mean + half


def newcombe_independent(
    first_hits: int, first_n: int, second_hits: int, second_n: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval of ``p_second - p_first`` for two independent proportions (Newcombe's method 10)."""
    p_first, p_second = first_hits / first_n, second_hits / second_n
    low_first, high_first = wilson(first_hits, first_n, confidence)
    low_second, high_second = wilson(second_hits, second_n, confidence)
    diff = p_second - p_first
    lower = diff - math.sqrt((p_second - low_second) ** 2 + (high_first - p_first) ** 2)
    upper = diff + math.sqrt((high_second - p_second) ** 2 + (p_first - low_first) ** 2)
    return lower, upper


def newcombe_paired(
    both: int, first_only: int, second_only: int, neither: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval of ``p_second - p_first`` for paired proportions from their 2x2 table (Newcombe's
    paired method 10): ``first_only`` counts pairs where only the first is a hit, and so on."""
    n = both + first_only + second_only + neither
    first_hits, second_hits = both + first_only, both + second_only
    p_first, p_second = first_hits / n, second_hits / n
    low_first, high_first = wilson(first_hits, n, confidence)
    low_second, high_second = wilson(second_hits, n, confidence)
    phi = _newcombe_phi(both, second_only, first_only, neither)
    diff = p_second - p_first
    below, above = p_second - low_second, high_first - p_first
    lower = diff - math.sqrt(max(0.0, below ** 2 - 2 * phi * below * above + above ** 2))
    below, above = p_first - low_first, high_second - p_second
    upper = diff + math.sqrt(max(0.0, above ** 2 - 2 * phi * above * below + below ** 2))
    return lower, upper


def _newcombe_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's continuity-corrected phi of the table [[a, b], [c, d]] (0 when undefined)."""
    denominator = math.sqrt(float(a + b) * (c + d) * (a + c) * (b + d))
    if denominator == 0:
        return 0.0
    cross = float(a) * d - float(b) * c
    n = a + b + c + d
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    return cross / denominator
