"""The comparison statistics against scipy, a slow reference DeLong, a published interval,
and a coverage simulation."""

import numpy as np
import pytest
from scipy import stats

from analysis.stats import comparison as cs


def test_paired_accuracy_is_the_proportions_with_mcnemars_p_and_an_interval_around_them():
    test = cs.paired_proportions(both=800, negative=40, positive=70, neither=90)
    assert test.base == pytest.approx(0.84) and test.candidate == pytest.approx(0.87)
    assert test.diff == pytest.approx(0.03)
    assert test.p_value == pytest.approx(stats.binomtest(70, 110, 0.5).pvalue)
    assert test.ci_low < 0.03 < test.ci_high


def test_unpaired_interval_matches_newcombes_published_example():
    """Newcombe (1998, Stat Med 17:873), 56/70 vs 48/80: method 10 gives 0.0524 to 0.3339."""
    test = cs.independent_proportions(base_hits=48, base_n=80, cand_hits=56, cand_n=70)
    assert test.diff == pytest.approx(0.2)
    assert test.ci_low == pytest.approx(0.0524, abs=1e-4)
    assert test.ci_high == pytest.approx(0.3339, abs=1e-4)
    assert test.p_value == pytest.approx(stats.fisher_exact([[56, 14], [48, 32]]).pvalue)


def _slow_delong(y, scores):
    """DeLong et al. (1988) by definition: O(n_pos x n_neg) placement values."""
    y = np.asarray(y, bool)
    aucs, v10s, v01s = [], [], []
    for s in scores:
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.vstack(v10s)), np.cov(np.vstack(v01s))
    cov = s10 / y.sum() + s01 / (~y).sum()
    return aucs, cov


def test_delong_equals_the_definition_on_small_data():
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    a = np.round(rng.random(300) + 0.4 * y, 2)  # rounding makes ties
    b = np.round(rng.random(300) + 0.6 * y, 2)
    (auc_a, auc_b), cov = _slow_delong(y, [a, b])
    test = cs.delong_paired(y, a, b)
    assert test.base == pytest.approx(auc_a) and test.candidate == pytest.approx(auc_b)
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert test.p_value == pytest.approx(2 * stats.norm.sf(abs(auc_b - auc_a) / se))
    unpaired = cs.delong_unpaired(y, a, y, b)
    se_independent = np.sqrt(cov[0, 0] + cov[1, 1])
    assert unpaired.ci_high - unpaired.diff == pytest.approx(1.959964 * se_independent, rel=1e-5)


def test_paired_intervals_cover_the_true_difference_about_95_percent():
    rng = np.random.default_rng(11)
    n, repeats, true_diff = 2000, 300, 0.02
    base_right = rng.random((repeats, n)) < 0.85
    # candidate: right where base is right except 4% of those, plus some of base's errors
    lose = rng.random((repeats, n)) < 0.04
    gain_p = (0.85 * 0.04 + true_diff) / 0.15
    gain = rng.random((repeats, n)) < gain_p
    cand_right = np.where(base_right, ~lose, gain)
    covered = 0
    for b, c in zip(base_right, cand_right):
        t = cs.paired_proportions(int((b & c).sum()), int((b & ~c).sum()), int((~b & c).sum()), int((~b & ~c).sum()))
        covered += t.ci_low <= true_diff <= t.ci_high
    assert 0.92 <= covered / repeats <= 0.98


def test_unpaired_intervals_cover_the_true_difference_about_95_percent():
    rng = np.random.default_rng(5)
    repeats = 300
    base_hits = rng.binomial(2000, 0.80, repeats)
    cand_hits = rng.binomial(1500, 0.83, repeats)
    covered = sum(
        t.ci_low <= 0.03 <= t.ci_high
        for t in (cs.independent_proportions(int(b), 2000, int(c), 1500) for b, c in zip(base_hits, cand_hits))
    )
    assert 0.92 <= covered / repeats <= 0.98


def test_paired_mean_loss_interval_equals_a_t_interval_of_the_differences():
    rng = np.random.default_rng(2)
    b = rng.exponential(0.3, 500)
    c = b * 0.9 + rng.normal(0, 0.05, 500)
    sums = cs.LossSums(500, b.sum(), c.sum(), (b * b).sum(), (c * c).sum(), (b * c).sum())
    test = cs.paired_mean_loss(sums)
    d = c - b
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert test.diff == pytest.approx(d.mean())
    assert test.ci_high - test.diff == pytest.approx(1.959964 * se, rel=1e-5)
    assert test.p_value == pytest.approx(2 * stats.norm.sf(abs(d.mean()) / se))
