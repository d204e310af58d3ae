"""Per-failure batch blame on a planted bad batch: the batched influence equals trace's one row
at a time, the p-values are scipy's binomial test with Benjamini-Hochberg, and the failures the
flipped labels cause are blamed on their batch while the others are not."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from analysis.data.open_log import load_log
from analysis.store import Store
from analysis.trace.batch_blame import _score_chunks, blame_batches
from analysis.trace.influence import _encode_targets, influence_for_row
from analysis.trace.tracer import InfluenceCache

BAD_BATCH = "b3"
NOISY = "d"


def _rows(rng, n):
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "shop": rng.choice(list("abcd"), n)})
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * frame["x1"] - 1.5)))).astype(int)
    return frame


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A snapshot of four batches, most of shop d's negatives labelled positive in one of them;
    a linear model trained on it (and one on the clean labels: the truth of which failures the
    flips cause); a log from the clean distribution scored by both."""
    folder = tmp_path_factory.mktemp("blame")
    rng = np.random.default_rng(3)
    train = _rows(rng, 4000)
    train["source"] = np.repeat(["b0", "b1", "b2", BAD_BATCH], 1000)
    clean = train["label"].copy()
    noisy = (train["source"] == BAD_BATCH) & (train["shop"] == NOISY) & (train["label"] == 0)
    train.loc[noisy & (rng.random(len(train)) < 0.6), "label"] = 1
    model, clean_model = (make_pipeline(ColumnTransformer([("shop", OneHotEncoder(), ["shop"])],
                                                          remainder="passthrough"), LogisticRegression())
                          .fit(train[["x1", "x2", "shop"]], labels) for labels in (train["label"], clean))
    log = _rows(rng, 3000)
    log["prediction"] = model.predict(log[["x1", "x2", "shop"]])
    log["clean_prediction"] = clean_model.predict(log[["x1", "x2", "shop"]])
    log.insert(0, "request_id", np.arange(len(log)))
    train.to_parquet(folder / "train.parquet")
    log.to_parquet(folder / "log.parquet")
    skops.io.dump(model, folder / "model.skops")
    store = Store()
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    ready = InfluenceCache().prepared(store, [str(folder / "train.parquet")], str(folder / "model.skops"), False,
                                      loaded)
    failed = log[log["prediction"] != log["label"]].reset_index(drop=True)
    yield ready, failed, blame_batches(ready, failed, failed["label"]), folder
    store.close()


def test_batched_influence_is_trace_one_row_at_a_time(planted):
    ready, failed, blame, _ = planted
    codes = pd.Categorical(ready.training.frame["source"].astype(str), categories=blame.batches).codes
    for i in range(0, len(failed), max(1, len(failed) // 5)):
        scores = influence_for_row(ready.prep, failed[ready.features].iloc[[i]], failed["label"][i]).scores
        top = np.argsort(-scores, kind="stable")[:blame.top_rows]
        expected = np.bincount(codes[top][scores[top] > 0], minlength=len(blame.batches))
        harmful = np.clip(scores, 0, None)
        np.testing.assert_array_equal(blame.top_count[i], expected)
        np.testing.assert_allclose(blame.harmful_share[i],
                                   np.bincount(codes, weights=harmful, minlength=len(blame.batches)) / harmful.sum())


def test_batched_boosting_influence_is_trace_one_row_at_a_time(planted, tmp_path):
    """Boosted trees have their own batched replay: each failure's row equals its own trace."""
    ready, failed, _, folder = planted
    train = ready.training.frame
    model = HistGradientBoostingClassifier(max_iter=15, categorical_features=["shop"], random_state=0)
    model.fit(train[["x1", "x2", "shop"]].astype({"shop": "category"}), train["label"])
    skops.io.dump(model, tmp_path / "boosted.skops")
    store = Store()
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    boosted = InfluenceCache().prepared(store, [str(folder / "train.parquet")],
                                        str(tmp_path / "boosted.skops"), True, loaded)
    some = failed.iloc[:7]
    matrix = next(_score_chunks(boosted, some, _encode_targets(boosted.model, some["label"])))
    for i in range(len(some)):
        single = influence_for_row(boosted.prep, some[boosted.features].iloc[[i]], some["label"][i]).scores
        np.testing.assert_allclose(matrix[i], single, rtol=1e-9, atol=1e-12)
    store.close()


def test_p_values_are_binomial_tests_with_benjamini_hochberg(planted):
    _, _, blame, _ = planted
    raw = np.array([[stats.binomtest(int(k), blame.top_rows, share, alternative="greater").pvalue
                     for k, share in zip(row, blame.row_share)] for row in blame.top_count])
    np.testing.assert_allclose(blame.p_value.ravel(), stats.false_discovery_control(raw.ravel()), rtol=1e-9)


def test_the_failures_the_flips_cause_are_blamed_on_their_batch(planted):
    """Recall against the counterfactual (failures the clean labels' model gets right); purity
    against what the flips push towards (shop d predicted positive: a borderline row the clean
    model also misses is still pushed by them); clean batches and other failures stay unblamed."""
    _, failed, blame, _ = planted
    blamed = np.array([None if b < 0 else blame.batches[b] for b in blame.blamed()], dtype=object)
    caused = (failed["clean_prediction"] == failed["label"]).to_numpy()
    pushed = ((failed["shop"] == NOISY) & (failed["prediction"] == 1)).to_numpy()
    on_bad = blamed == BAD_BATCH
    assert caused.sum() >= 20
    assert on_bad[caused].mean() >= 0.8, on_bad[caused].mean()
    assert pushed[on_bad].mean() >= 0.9, pushed[on_bad].mean()
    assert (blamed[~pushed] != None).mean() <= 0.05  # noqa: E711 (element-wise)
