"""Kulldorff's Bernoulli scan: the LLR and the best interval against brute force, and its
p-value: small for a planted burst, uniform-ish (not small) for exchangeable noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.triage.scan import MAX_WINDOW_SHARE, Intervals, bernoulli_llr, peer_scan, scan


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


def drifting_peers(seed: int, units: int = 120, stuck: tuple[int, int] | None = None):
    """A group of about one row in four over ``units`` units whose value's share drifts from 5%
    to 60% for every row of the log; the group holds it in every row of ``stuck``'s units."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 5, units)
    peer_rows = rng.integers(4, 12, units)
    share = np.linspace(0.05, 0.6, units)
    cases, peer_cases = rng.binomial(rows, share), rng.binomial(peer_rows, share)
    if stuck is not None:
        cases[stuck[0]:stuck[1] + 1] = rows[stuck[0]:stuck[1] + 1]
    return rows, cases, peer_rows, peer_cases


@pytest.mark.parametrize("seed", range(5))
def test_a_drift_every_group_shares_is_no_window_against_the_peers(seed):
    """The same series is a significant window for the scan of the group's own share (the drift
    clusters its cases late), and none against its peers."""
    rows, cases, peer_rows, peer_cases = drifting_peers(seed)
    assert scan(rows, cases).p_value < 0.05
    found = peer_scan(rows, cases, peer_rows, peer_cases)
    assert found is None or found.p_value >= 0.05, found


def test_a_group_stuck_in_a_drifting_log_is_found_against_its_peers():
    rows, cases, peer_rows, peer_cases = drifting_peers(7, stuck=(80, 100))
    found = peer_scan(rows, cases, peer_rows, peer_cases)
    assert found.p_value < 0.001
    assert found.first >= 75 and found.last <= 105 and found.last - found.first >= 15, (found.first, found.last)


def test_the_peer_scans_window_maximises_kulldorffs_poisson_llr():
    """The window's LLR is the largest over every interval expected to hold at most half the
    cases, computed here from the formula with the expectation of the docstring."""
    from scipy.special import xlogy

    rows, cases, peer_rows, peer_cases = drifting_peers(3, units=40, stuck=(25, 30))
    found = peer_scan(rows, cases, peer_rows, peer_cases, permutations=0)
    mu = rows * (peer_cases + peer_cases.sum() / peer_rows.sum()) / (peer_rows + 1.0)
    mu = mu * cases.sum() / mu.sum()
    total, best = cases.sum(), (0.0, None)
    for first in range(40):
        for last in range(first, 40):
            c, m = cases[first:last + 1].sum(), mu[first:last + 1].sum()
            if m > total / 2 or c <= m:
                continue
            llr = xlogy(c, c / m) + xlogy(total - c, (total - c) / (total - m))
            best = max(best, (llr, (first, last)), key=lambda b: b[0])
    assert (found.first, found.last) == best[1]
    assert found.llr == pytest.approx(best[0], rel=1e-9)
