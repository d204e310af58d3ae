"""McNemar and DeLong against scipy, scikit-learn and DeLong's definition."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from analysis.stats.significance import (
    delong_components, delong_paired_variance, delong_variance, g_statistics, mcnemar_exact, pooled_proportion_z,
    rate_above_p, rates_above_p,
)


def test_pooled_z_squared_is_pearsons_chi_square_and_signed_by_the_difference():
    hits_1, n_1, hits_2, n_2 = np.array([30, 5, 120]), np.array([100, 40, 1000]), np.array([20, 9, 150]), np.array([120, 35, 900])
    z = pooled_proportion_z(hits_1, n_1, hits_2, n_2)
    for i in range(3):
        table = [[hits_1[i], n_1[i] - hits_1[i]], [hits_2[i], n_2[i] - hits_2[i]]]
        chi2 = stats.chi2_contingency(table, correction=False).statistic
        assert z[i] ** 2 == pytest.approx(chi2)
        assert np.sign(z[i]) == np.sign(hits_1[i] / n_1[i] - hits_2[i] / n_2[i])


def test_many_tables_at_once_match_scipy_table_by_table():
    """rates_above_p and g_statistics give, for every table of a batch (empty sides and all-hit
    sides among them), exactly what scipy's fisher_exact and chi2_contingency give for it alone:
    a search may test its candidates in one pass and choose as it would one by one."""
    rng = np.random.default_rng(3)
    trials = rng.integers(0, 400, 300)
    hits = np.minimum((rng.random(300) * (trials + 1)).astype(int), trials)
    other_trials = rng.integers(0, 20_000, 300)
    other_hits = np.minimum((rng.random(300) ** 2 * (other_trials + 1)).astype(int), other_trials)
    trials[:4], hits[:4] = 0, 0
    hits[4:8] = trials[4:8]
    other_hits[8:12], hits[8:12] = 0, 0
    p = rates_above_p(hits, trials, other_hits, other_trials)
    g = g_statistics(hits, trials, other_hits, other_trials)
    for i in range(300):
        table = [[hits[i], trials[i] - hits[i]], [other_hits[i], other_trials[i] - other_hits[i]]]
        assert p[i] == rate_above_p(int(hits[i]), int(trials[i]), int(other_hits[i]), int(other_trials[i]))
        if 0 in np.sum(table, axis=0) or 0 in np.sum(table, axis=1):
            assert g[i] == 0.0
        else:
            assert g[i] == stats.chi2_contingency(table, correction=False, lambda_="log-likelihood").statistic
    assert (p < 0.05).any() and (p > 0.5).any() and (g > 10).any()

def test_pooled_z_is_zero_for_equal_degenerate_rates_and_undefined_without_trials():
    z = pooled_proportion_z(np.array([0, 10, 3]), np.array([10, 10, 0]), np.array([0, 20, 1]), np.array([20, 20, 5]))
    assert z[0] == 0.0 and z[1] == 0.0 and np.isnan(z[2])


def test_mcnemar_is_scipys_exact_binomial_test_on_the_discordant_pairs():
    """The same float as binomtest (results, thresholds and the reports' p-values unchanged), on
    every split of up to 60 pairs, even splits and one-sided ones included, and on large counts."""
    rng = np.random.default_rng(3)
    counts = [(b, c) for b in range(61) for c in range(61)] + [tuple(map(int, pair))
                                                               for pair in rng.integers(0, 20_000, size=(60, 2))]
    counts += [(b, b + d) for b, d in zip(map(int, rng.integers(500, 50_000, 60)), map(int, rng.integers(-40, 40, 60)))]
    for first_only, second_only in counts:
        discordant = first_only + second_only
        expected = stats.binomtest(second_only, discordant, 0.5).pvalue if discordant else 1.0
        assert mcnemar_exact(first_only, second_only) == expected, (first_only, second_only)
    assert mcnemar_exact(30, 12) == pytest.approx(2 * sum(math.comb(42, k) for k in range(13)) / 2 ** 42)  # by hand


def _placements(y, score):
    """DeLong et al. (1988) by definition: the O(n_pos x n_neg) matrix of pairwise wins."""
    pos, neg = score[y], score[~y]
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def _labelled_scores(seed, n=300):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    a = np.round(rng.random(n) + 0.4 * y, 2)  # rounding makes ties
    b = np.round(rng.random(n) + 0.6 * y, 2)
    return y, a, b


def test_delong_auc_is_sklearns_and_components_are_the_definitions():
    y, a, _ = _labelled_scores(3)
    auc, v10, v01 = delong_components(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    psi = _placements(y, a)
    np.testing.assert_allclose(v10, psi.mean(axis=1))
    np.testing.assert_allclose(v01, psi.mean(axis=0))


def test_delong_variance_equals_the_brute_force_variance_of_the_placements():
    y, a, b = _labelled_scores(7)
    psi = _placements(y, a)
    expected = psi.mean(axis=1).var(ddof=1) / y.sum() + psi.mean(axis=0).var(ddof=1) / (~y).sum()
    auc, variance = delong_variance(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a))
    assert variance == pytest.approx(expected, rel=1e-10)
    pa, pb = psi, _placements(y, b)
    s10 = np.cov(np.vstack([pa.mean(axis=1), pb.mean(axis=1)]))
    s01 = np.cov(np.vstack([pa.mean(axis=0), pb.mean(axis=0)]))
    cov = s10 / y.sum() + s01 / (~y).sum()
    auc_a, auc_b, diff_variance = delong_paired_variance(y, a, b)
    assert (auc_a, auc_b) == pytest.approx((roc_auc_score(y, a), roc_auc_score(y, b)))
    assert diff_variance == pytest.approx(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], rel=1e-10)


def test_the_paired_variance_of_a_score_against_itself_is_zero():
    y, a, _ = _labelled_scores(1)
    assert delong_paired_variance(y, a, a)[2] == pytest.approx(0.0, abs=1e-15)


def test_homogeneity_chi_square_is_scipys_on_the_table_its_bins_pool_into():
    """With every bin expecting five rows a side the statistic is scipy's 2 x k chi-square;
    sparse outer bins are pooled with their neighbours first (Cochran's rule)."""
    from analysis.stats.significance import homogeneity_chi_square

    dense_a, dense_b = np.array([40, 55, 80, 30]), np.array([90, 100, 120, 95])
    sparse_a, sparse_b = np.array([1, 40, 55, 80, 30, 2]), np.array([0, 90, 100, 120, 95, 3])
    chi2, dof = homogeneity_chi_square(np.array([dense_a, sparse_a[1:5]]), np.array([dense_b, sparse_b[1:5]]))
    expected = stats.chi2_contingency([dense_a, dense_b], correction=False)
    assert chi2[0] == pytest.approx(expected.statistic) and dof[0] == expected.dof == 3
    chi2, dof = homogeneity_chi_square(sparse_a[None], sparse_b[None])
    pooled = [[41, 55, 80, 32], [90, 100, 120, 98]]
    assert chi2[0] == pytest.approx(stats.chi2_contingency(pooled, correction=False).statistic) and dof[0] == 3
    assert homogeneity_chi_square(np.array([[0, 0, 0]]), np.array([[3, 4, 5]]))[1][0] == 0


def test_overdispersion_restores_the_level_of_clustered_comparisons():
    """Rows drawn in clusters (a request repeated over several rows) inflate every chi-square
    by the cluster size: at the 5% level, uncorrected p-values reject far more than 5% of
    comparisons of one distribution; divided by the estimated factor they reject about 5%,
    and a real change among them keeps a tiny p-value."""
    from analysis.stats.significance import chi_square_p_values, homogeneity_chi_square, overdispersion

    rng = np.random.default_rng(11)
    shares = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    cluster = 3
    cells = np.array([rng.multinomial(100, shares) * cluster for _ in range(2000)])
    reference = rng.multinomial(2000, shares) * cluster
    shifted = rng.multinomial(100, [0.3, 0.3, 0.2, 0.1, 0.1]) * cluster
    chi2, dof = homogeneity_chi_square(np.vstack([cells, shifted]), np.tile(reference, (len(cells) + 1, 1)))
    factor = overdispersion(chi2, dof)
    raw, corrected = chi_square_p_values(chi2, dof), chi_square_p_values(chi2, dof, factor)
    assert (raw[:-1] < 0.05).mean() > 0.3
    assert 0.03 < (corrected[:-1] < 0.05).mean() < 0.07
    assert 2.5 < factor < 3.5 and corrected[-1] < 1e-6
