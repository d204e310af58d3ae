"""Kulldorff's Bernoulli scan: the LLR and the best interval against brute force, and its
p-value: small for a planted burst, uniform-ish (not small) for exchangeable noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.triage.scan import MAX_WINDOW_SHARE, Intervals, bernoulli_llr, scan


def brute_force_llr(c: int, n: int, C: int, N: int) -> float:
    """The Bernoulli LLR written out term by term from Kulldorff (1997)."""
    def term(k, m):
        return 0.0 if k == 0 else k * math.log(k / m)

    if n == 0 or n == N or c / n <= (C - c) / (N - n):
        return 0.0
    alternative = term(c, n) + term(n - c, n) + term(C - c, N - n) + term(N - n - (C - c), N - n)
    return alternative - term(C, N) - term(N - C, N)


@pytest.mark.parametrize("seed", range(6))
def test_best_interval_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    units = int(rng.integers(5, 25))
    rows = rng.integers(1, 6, units)
    cases = rng.binomial(rows, rng.uniform(0.05, 0.6, units))
    N, C = int(rows.sum()), int(cases.sum())
    best = (0, -1, 0.0)
    for i in range(units):
        for j in range(i, units):
            n, c = int(rows[i:j + 1].sum()), int(cases[i:j + 1].sum())
            if n <= MAX_WINDOW_SHARE * N:
                value = brute_force_llr(c, n, C, N)
                if value > best[2] + 1e-12:
                    best = (i, j, value)
    first, last, llr = Intervals.of(rows).best(cases)
    assert llr == pytest.approx(best[2], rel=1e-9, abs=1e-12)
    if best[2] > 0:
        assert int(cases[first:last + 1].sum()) == int(cases[best[0]:best[1] + 1].sum())


def test_llr_is_zero_where_the_rate_inside_is_not_higher():
    assert bernoulli_llr(np.array([1]), np.array([10]), 10, 20)[0] == 0.0
    assert bernoulli_llr(np.array([9]), np.array([10]), 10, 20)[0] == pytest.approx(brute_force_llr(9, 10, 10, 20))


def test_a_planted_burst_is_found_and_significant():
    rng = np.random.default_rng(1)
    cases = (rng.random(600) < 0.02).astype(int)
    cases[300:340] = (rng.random(40) < 0.6).astype(int)
    window = scan(np.ones(600, dtype=int), cases)
    assert abs(window.first - 300) <= 3 and abs(window.last - 339) <= 3
    assert window.p_value < 1e-6
    assert window.rate_inside > 0.5 > 0.05 > window.rate_outside


def test_noise_is_not_significant():
    """Exchangeable cases: over many series the p-values are not concentrated near 0."""
    p_values = []
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        cases = (rng.random(300) < 0.1).astype(int)
        p_values.append(scan(np.ones(300, dtype=int), cases, permutations=49).p_value)
    assert min(p_values) > 0.005
    assert np.median(p_values) > 0.2


def test_no_cases_or_no_excess_gives_no_window():
    assert scan(np.ones(50, dtype=int), np.zeros(50, dtype=int)) is None
    assert scan(np.ones(50, dtype=int), np.ones(50, dtype=int)) is None


def test_screening_stops_early_on_noise_and_changes_nothing_on_a_burst():
    """With a level, plain noise costs a replicate or two and cannot come out significant;
    a real burst runs every replicate and gets the same p-value as without a level."""
    rng = np.random.default_rng(5)
    noise = (rng.random(300) < 0.1).astype(int)
    screened = scan(np.ones(300, dtype=int), noise, level=0.001)
    assert screened.p_value >= 0.001
    burst = noise.copy()
    burst[100:130] = 1
    assert scan(np.ones(300, dtype=int), burst, level=0.001).p_value == scan(np.ones(300, dtype=int), burst).p_value


def test_an_interval_chosen_elsewhere_is_weighed_against_every_window():
    from analysis.triage.scan import interval_p_value

    rng = np.random.default_rng(6)
    cases = (rng.random(400) < 0.05).astype(int)
    cases[200:230] = (rng.random(30) < 0.7).astype(int)
    rows = np.ones(400, dtype=int)
    best = scan(rows, cases)
    assert interval_p_value(rows, cases, best.first, best.last) == best.p_value
    assert interval_p_value(rows, cases, 20, 40) > 0.05
