"""ROC AUC's DeLong test from the scores' dense ranks (what a paired comparison fetches from
DuckDB) against its definition, scikit-learn and scipy on the same rows."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from analysis.compare.comparison import CompareSettings, compare_versions
from analysis.data.open_log import load_log
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.stats import comparison as cs
from analysis.stats.significance import delong_rank_components, dense_rank
from tests.analysis.stats.test_significance import _labelled_scores as _scores, _placements


def _scipy_dense_rank(score):
    return stats.rankdata(score, method="dense").astype(np.int64) - 1


def test_dense_rank_is_scipys():
    _, a, _ = _scores(2)
    np.testing.assert_array_equal(dense_rank(a), _scipy_dense_rank(a))


def test_rank_components_are_the_pairwise_definition():
    """V10 and V01 by definition: each positive's wins over the negatives, ties half."""
    y, a, _ = _scores(5)
    auc, v10, v01 = delong_rank_components(y, _scipy_dense_rank(a))
    psi = _placements(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    np.testing.assert_allclose(v10, psi.mean(axis=1))
    np.testing.assert_allclose(v01, psi.mean(axis=0))


def test_ranked_paired_test_is_the_score_test():
    y, a, b = _scores(9)
    ranked = cs.delong_paired_ranked(y, _scipy_dense_rank(a), _scipy_dense_rank(b))
    scored = cs.delong_paired(y, a, b)
    assert ranked.base == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert ranked.candidate == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    for field in ("diff", "ci_low", "ci_high", "p_value"):
        assert getattr(ranked, field) == pytest.approx(getattr(scored, field), rel=1e-12)
    assert cs.delong_paired_ranked(np.ones(5, bool), np.arange(5), np.arange(5)) is cs.UNDEFINED


def test_a_paired_comparisons_auc_test_is_the_test_on_the_pairs_scores(store, tmp_path):
    """The comparison ranks the scores in SQL; its AUCs are scikit-learn's on the pairs and its
    interval and p-value those of DeLong's test on the pairs' scores, fetched by pandas."""
    rng = np.random.default_rng(4)
    n = 3000
    requests = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": (rng.random(n) < 0.3).astype(int)})
    frames = []
    for version, signal in (("v1", 0.3), ("v2", 0.5)):
        frame = requests.copy()
        frame["version"] = version
        frame["score"] = np.round(np.clip(0.3 + signal * frame["label"] + rng.normal(0, 0.25, n), 0, 1), 3)
        frame["pred"] = (frame["score"] >= 0.5).astype(int)
        frames.append(frame)
    frames[1].loc[:99, "label"] = None  # late labels: those pairs leave the test
    frames[0].loc[:99, "label"] = None
    path = tmp_path / "log.parquet"
    pd.concat(frames).sample(frac=1.0, random_state=0).reset_index(drop=True).to_parquet(path)
    roles = RoleMap(id="id", model_version="version", label="label", prediction="pred", scores=("score",),
                    task=TaskType.BINARY, positive_class="1")
    log = load_log(store, [str(path)], roles=roles, check=False)
    auc = compare_versions(Scope(store, log.dataset, log.roles), "v1", "v2",
                           CompareSettings(metrics=["roc_auc"])).get("roc_auc")
    pairs = frames[0].merge(frames[1], on="id", suffixes=("_b", "_c")).dropna(subset=["label_c"])
    y = pairs["label_c"].to_numpy() == 1
    expected = cs.delong_paired(y, pairs["score_b"].to_numpy(), pairs["score_c"].to_numpy())
    assert auc.base == pytest.approx(roc_auc_score(y, pairs["score_b"]), abs=1e-12)
    assert auc.candidate == pytest.approx(roc_auc_score(y, pairs["score_c"]), abs=1e-12)
    assert (auc.ci_low, auc.ci_high, auc.p_value) == pytest.approx(
        (expected.ci_low, expected.ci_high, expected.p_value), rel=1e-9)
    assert auc.method == "DeLong (paired)"
