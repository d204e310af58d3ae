"""ROC AUC at open: the histogram pass bins scores in numpy exactly as its SQL re-read does, and
its stated bound holds at its very edge (against scikit-learn on the same rows)."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from analysis.data.roles import RoleMap
from analysis.metrics import per_version
from analysis.metrics.per_version import AUC_BINS, AUC_ERROR_BOUND, overall_metrics, score_bins
from analysis.scope import Scope
from tests.analysis.metrics.test_per_version import register

ROLES = RoleMap(label="label", scores=("score",))


def test_numpy_bins_equal_the_sql_bins_on_every_edge(store):
    """The pass bins in numpy, the re-read of chosen bins in SQL: a row must land in the same
    bin on both sides, at a bin's edge, one ulp either side of it, and at 0 and 1."""
    edges = np.arange(0, AUC_BINS + 1, 4099) / AUC_BINS
    scores = np.unique(np.clip(np.concatenate(
        [edges, np.nextafter(edges, -1.0), np.nextafter(edges, 2.0), [0.0, 1.0, 1e-300, 1 - 2**-53]]), 0.0, 1.0))
    frame = pd.DataFrame({"s": scores})
    cur = store.cursor()
    cur.register("scores", frame)
    in_sql = cur.execute(f"SELECT {per_version._score_bin_sql('s')} AS bin FROM scores").fetchnumpy()["bin"]
    cur.close()
    assert np.array_equal(score_bins(scores), np.asarray(in_sql, dtype=np.int64))
    assert score_bins(np.array([1.0]))[0] == AUC_BINS - 1 and score_bins(np.array([0.0]))[0] == 0


def edge_frame(negatives: int) -> pd.DataFrame:
    """1,000 positives and ``negatives`` negatives, each alone in its bin but for one bin that
    holds a positive above a negative: counting that pair one half errs by 1 / (2 P N), the
    bound of the histogram's answer, with nothing else to hide the error."""
    positives = 1000
    bins = np.arange(positives + negatives) * 7 + 3  # distinct bins, far apart
    score = (bins + 0.25) / AUC_BINS
    label = np.r_[np.ones(positives, dtype=int), np.zeros(negatives, dtype=int)]
    rng = np.random.default_rng(7)
    score = score[rng.permutation(len(score))]
    # the shared bin: the last negative moves next to the first positive, just below it
    score[positives + negatives - 1] = score[0] - 0.25 / AUC_BINS
    assert score_bins(score[[0]])[0] == score_bins(score[[-1]])[0]
    return pd.DataFrame({"label": label, "score": score})


def test_the_bound_holds_at_its_edge_and_past_it_the_bin_is_ranked(store):
    """With 1,000 x 1,000 pairs the one unresolved pair errs by exactly ``AUC_ERROR_BOUND``:
    the pass may leave it (the answer is scikit-learn's within the bound, and off by it).
    With one negative fewer the bound is just over: that bin is ranked and the answer exact."""
    assert AUC_ERROR_BOUND == 1 / (2 * 1000 * 1000)
    at_edge = edge_frame(1000)
    (m,) = overall_metrics(Scope(store, register(store, at_edge, "edge"), ROLES))
    exact = skm.roc_auc_score(at_edge["label"], at_edge["score"])
    assert abs(m.metrics["roc_auc"] - exact) <= AUC_ERROR_BOUND * (1 + 1e-9)
    assert abs(m.metrics["roc_auc"] - exact) == pytest.approx(AUC_ERROR_BOUND, rel=1e-6)

    past_edge = edge_frame(999)
    (m,) = overall_metrics(Scope(store, register(store, past_edge, "past"), ROLES))
    assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(past_edge["label"], past_edge["score"]), abs=1e-12)


def test_a_cancelled_pass_stops_counting_and_leaves_no_thread(store, monkeypatch):
    """Cancelled after its first batch is counted, AUC's pass raises ``Cancelled`` and counts
    nothing more; its counting thread is gone (the autouse check fails a test that leaves a
    ``sleuth-`` thread running)."""
    import threading

    from analysis.progress import CancelToken, Cancelled

    monkeypatch.setattr(per_version, "AUC_CHUNK_ROWS", 500)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"label": rng.integers(0, 2, 20_000), "score": rng.random(20_000)})
    dataset = register(store, frame, "cancelled")
    token, counted = CancelToken(), []
    add = per_version.ScoreHistogram.add

    def add_then_cancel(self, cell, y, score):
        counted.append(len(cell))
        token.cancel()
        return add(self, cell, y, score)

    monkeypatch.setattr(per_version.ScoreHistogram, "add", add_then_cancel)
    with pytest.raises(Cancelled):
        overall_metrics(Scope(store, dataset, ROLES), token)
    assert len(counted) == 1 and counted[0] < len(frame)
    assert not [t for t in threading.enumerate() if t.name.startswith("sleuth-auc-count")]
