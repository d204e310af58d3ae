"""Intervals against their closed forms, scipy, a published example and coverage simulations."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats.intervals import (
    newcombe_independent, newcombe_paired, t_interval, wilson, wilson_interval, z_quantile,
)


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(0, 7), (7, 7), (3, 10), (870, 1000), (1, 100_000)])
def test_wilson_equals_the_closed_form_and_scipy(k, n):
    scipy_ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson(k, n) == pytest.approx(_wilson_closed_form(k, n), abs=1e-12)
    assert wilson(k, n) == pytest.approx((scipy_ci.low, scipy_ci.high), abs=1e-12)


def test_vectorised_wilson_is_the_scalar_one_element_wise_and_nan_without_trials():
    k, n = np.array([0, 3, 870, 0]), np.array([7, 10, 1000, 0])
    low, high = wilson_interval(k, n)
    for i in range(3):
        assert (low[i], high[i]) == pytest.approx(wilson(int(k[i]), int(n[i])))
    assert math.isnan(low[3]) and math.isnan(high[3])
    assert all(math.isnan(bound) for bound in wilson(0, 0))


def test_wilson_at_another_level_uses_that_levels_quantile():
    z90 = z_quantile(0.90)
    assert z90 == pytest.approx(1.6448536, abs=1e-6)
    assert wilson(3, 10, 0.90) == pytest.approx(_wilson_closed_form(3, 10, z90), abs=1e-12)


def test_wilson_intervals_cover_the_true_rate_about_95_percent():
    rng = np.random.default_rng(11)
    for rate, n in ((0.05, 80), (0.3, 200), (0.5, 40)):
        k = rng.binomial(n, rate, size=4000)
        low, high = wilson_interval(k, np.full_like(k, n))
        coverage = np.mean((low <= rate) & (rate <= high))
        assert 0.92 <= coverage <= 0.98, (rate, n, coverage)


def test_t_interval_equals_scipys_and_is_undefined_for_one_value():
    rng = np.random.default_rng(4)
    samples = [rng.normal(3, 2, size) for size in (2, 5, 40)]
    mean = np.array([s.mean() for s in samples])
    variance = np.array([s.var(ddof=1) for s in samples])
    n = np.array([len(s) for s in samples])
    low, high = t_interval(mean, variance, n)
    for i, s in enumerate(samples):
        expected = stats.t.interval(0.95, len(s) - 1, loc=s.mean(), scale=stats.sem(s))
        assert (low[i], high[i]) == pytest.approx(expected, rel=1e-12)
    low, high = t_interval(np.array([1.0]), np.array([np.nan]), np.array([1]))
    assert math.isnan(low[0]) and math.isnan(high[0])


def test_independent_difference_matches_newcombes_published_example():
    """Newcombe (1998, Stat Med 17:873), 56/70 vs 48/80: method 10 gives 0.0524 to 0.3339."""
    low, high = newcombe_independent(48, 80, 56, 70)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_paired_difference_without_correlation_is_the_independent_square_and_add():
    """With ad - bc between 0 and n/2, Newcombe's corrected phi is 0, so the paired interval
    squares and adds the two Wilson intervals' arms as the independent one does."""
    both, first_only, second_only, neither = 10, 10, 10, 10  # ad - bc = 0
    n = 40
    p_first, p_second = 20 / n, 20 / n
    low_1, high_1 = wilson(20, n)
    low_2, high_2 = wilson(20, n)
    expected_low = -math.hypot(p_second - low_2, high_1 - p_first)
    expected_high = math.hypot(high_2 - p_second, p_first - low_1)
    assert newcombe_paired(both, first_only, second_only, neither) == pytest.approx((expected_low, expected_high))


def test_positive_correlation_narrows_the_paired_interval():
    independent = newcombe_paired(25, 25, 25, 25)
    correlated = newcombe_paired(45, 5, 5, 45)  # same margins, strongly concordant
    assert correlated[1] - correlated[0] < 0.6 * (independent[1] - independent[0])
    assert correlated[0] < 0 < correlated[1]
