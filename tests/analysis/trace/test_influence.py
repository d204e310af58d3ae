"""Influence against the ground truth it estimates: retraining without the rows."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from analysis.trace.influence import (
    aggregate_influence,
    influence_for_row,
    prepare_influence,
    prepared_self_influence,
    self_influence,
)
from analysis.trace.model_files import describe_model, load_model


@pytest.fixture(autouse=True)
def one_thread():
    """OpenMP worker threads spin for ages on a busy 2-core machine; one thread is faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def problem():
    """300 training rows x 5 features (10% flipped labels) and 100 query rows."""
    X, y = make_classification(400, 5, n_informative=4, n_redundant=0, flip_y=0.1, random_state=1)
    X = pd.DataFrame(X, columns=list("abcde"))
    return X.iloc[:300], y[:300], X.iloc[300:], y[300:]


def _query_loss(model, x, label):
    return -np.log(model.predict_proba(x)[0, label])


def _worst_query(model, X_test, y_test):
    """The test row whose true label the model finds least probable: a failed prediction."""
    return int(np.argmin(model.predict_proba(X_test)[np.arange(len(y_test)), y_test]))


def _retrained_loss(estimator, X, y, removed, x_query, y_query):
    keep = np.setdiff1d(np.arange(len(X)), removed)
    return _query_loss(clone(estimator).fit(X.iloc[keep], y[keep]), x_query, y_query)


def test_logistic_influence_matches_leave_one_out(problem):
    X, y, X_test, y_test = problem
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, tol=1e-10, max_iter=1000))
    model = describe_model(clone(estimator).fit(X, y))
    q = _worst_query(model.estimator, X_test, y_test)
    x_query = X_test.iloc[[q]]
    result = influence_for_row(prepare_influence(model, X, y), x_query, y_test[q])
    full = _query_loss(model.estimator, x_query, y_test[q])
    # With the row minus without it: the quantity the scores estimate (positive = harmful).
    loo = np.array([full - _retrained_loss(estimator, X, y, [i], x_query, y_test[q]) for i in range(len(X))])
    assert spearmanr(result.scores, loo).statistic >= 0.9
    assert np.corrcoef(result.scores, loo)[0, 1] >= 0.95
    assert 0.8 <= (result.scores @ loo) / (loo @ loo) <= 1.25  # the right scale, not only order
    assert result.method == "influence functions (exact, Koh & Liang 2017)" and not result.surrogate


def test_self_influence_matches_leave_one_out_own_loss(problem):
    X, y, _, _ = problem
    estimator = LogisticRegression(tol=1e-10, max_iter=1000)
    model = describe_model(clone(estimator).fit(X, y))
    rows = np.arange(0, 300, 10)
    rises = [_retrained_loss(estimator, X, y, [i], X.iloc[[i]], y[i]) - _query_loss(model.estimator, X.iloc[[i]], y[i])
             for i in rows]
    assert spearmanr(self_influence(prepare_influence(model, X, y))[rows], rises).statistic >= 0.9


def test_ridge_influence_matches_leave_one_out(problem):
    X, _, X_test, _ = problem
    rng = np.random.default_rng(0)
    target = X["a"] * 2 - X["b"] + rng.normal(scale=0.5, size=len(X))
    estimator = Ridge(alpha=3.0)
    model = describe_model(clone(estimator).fit(X, target))
    x_query, y_query = X_test.iloc[[0]], 5.0
    scores = influence_for_row(prepare_influence(model, X, target), x_query, y_query).scores

    def loss(fitted):
        return 0.5 * (fitted.predict(x_query)[0] - y_query) ** 2

    full = loss(model.estimator)
    loo = [full - loss(clone(estimator).fit(X.drop(index=X.index[i]), target.drop(index=target.index[i])))
           for i in range(len(X))]
    assert spearmanr(scores, loo).statistic >= 0.95


@pytest.mark.parametrize("estimator", [
    LogisticRegression(max_iter=1000),
    GradientBoostingClassifier(n_estimators=30, min_samples_leaf=10, random_state=0),
    RandomForestClassifier(n_estimators=50, min_samples_leaf=3, random_state=0),
], ids=["linear", "boosting", "forest"])
def test_removing_harmful_rows_fixes_the_failure_more_than_random_rows(problem, estimator):
    X, y, X_test, y_test = problem
    model = describe_model(clone(estimator).fit(X, y))
    q = _worst_query(model.estimator, X_test, y_test)
    x_query = X_test.iloc[[q]]
    result = influence_for_row(prepare_influence(model, X, y), x_query, y_test[q], k=20)
    assert len(result.harmful) == 20 and len(result.helpful) == 20
    full = _query_loss(model.estimator, x_query, y_test[q])
    harmful_drop = full - _retrained_loss(estimator, X, y, [i for i, _ in result.harmful], x_query, y_test[q])
    rng = np.random.default_rng(0)
    random_drops = [full - _retrained_loss(estimator, X, y, rng.choice(len(X), 20, replace=False), x_query, y_test[q])
                    for _ in range(5)]
    assert harmful_drop > 0.2
    assert harmful_drop > 5 * max(np.mean(random_drops), 0.02)


def test_lightgbm_uses_boostin_and_finds_harmful_rows(problem):
    lightgbm = pytest.importorskip("lightgbm")
    X, y, X_test, y_test = problem
    # One thread (as XGBoost's below): LightGBM sets its own thread count, past the fixture's limit,
    # and its threads spun on a busy machine (4.9 CPU-s for seven fits of 300 rows, 0.07 s with one).
    estimator = lightgbm.LGBMClassifier(n_estimators=30, min_child_samples=5, verbose=-1, random_state=0, n_jobs=1)
    model = describe_model(clone(estimator).fit(X, y))
    assert model.kind == "lightgbm"
    q = _worst_query(model.estimator, X_test, y_test)
    x_query = X_test.iloc[[q]]
    result = influence_for_row(prepare_influence(model, X, y), x_query, y_test[q], k=10)
    assert result.method.startswith("BoostIn")
    full = _query_loss(model.estimator, x_query, y_test[q])
    harmful_drop = full - _retrained_loss(estimator, X, y, [i for i, _ in result.harmful], x_query, y_test[q])
    rng = np.random.default_rng(0)
    random_drops = [full - _retrained_loss(estimator, X, y, rng.choice(len(X), 10, replace=False), x_query, y_test[q])
                    for _ in range(5)]
    assert harmful_drop > 5 * max(np.mean(random_drops), 0.02)


@pytest.mark.parametrize("wrapper", ["classifier", "booster"])
def test_xgboost_uses_boostin_and_finds_harmful_rows(problem, wrapper):
    xgboost = pytest.importorskip("xgboost")
    X, y, X_test, y_test = problem
    estimator = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)
    fitted = clone(estimator).fit(X, y)
    model = describe_model(fitted if wrapper == "classifier" else fitted.get_booster())
    assert model.kind == "xgboost" and model.feature_names == list("abcde")
    q = _worst_query(fitted, X_test, y_test)
    x_query = X_test.iloc[[q]]
    result = influence_for_row(prepare_influence(model, X, y), x_query, y_test[q], k=10)
    assert result.method == "BoostIn (XGBoost)"
    full = _query_loss(fitted, x_query, y_test[q])
    harmful_drop = full - _retrained_loss(estimator, X, y, [i for i, _ in result.harmful], x_query, y_test[q])
    rng = np.random.default_rng(0)
    random_drops = [full - _retrained_loss(estimator, X, y, rng.choice(len(X), 10, replace=False), x_query, y_test[q])
                    for _ in range(5)]
    assert harmful_drop > 5 * max(np.mean(random_drops), 0.02)


@pytest.mark.parametrize("objective", ["binary:logistic", "reg:squarederror"])
def test_xgboost_replay_reproduces_every_leaf_value(problem, objective):
    """BoostIn's g and h before each tree are right exactly when they rebuild XGBoost's own
    leaf values, -sum(g) / (sum(h) + lambda), in every leaf of every tree."""
    xgboost = pytest.importorskip("xgboost")
    from analysis.trace.influence_trees import _derivatives

    X, y, _, _ = problem
    target = y if objective == "binary:logistic" else X["a"].to_numpy() * 3 + y
    fitted = xgboost.train({"objective": objective, "eta": 0.2, "lambda": 2.0, "max_depth": 3, "nthread": 1},
                           xgboost.DMatrix(X, label=target), num_boost_round=15)
    prep = prepare_influence(describe_model(fitted), X, target)
    trees = prep.state.trees
    assert (trees.learning_rate, trees.l2) == pytest.approx((0.2, 2.0))
    leaves = trees.leaves(X)
    raw = trees.baseline(X, leaves)
    for tree, values in enumerate(trees.values):
        g, h = (d[:, 0] for d in _derivatives(trees.loss, raw, target))
        leaf = leaves[:, tree]
        present = np.unique(leaf)
        total_g, total_h = (np.bincount(leaf, weights=d, minlength=len(values))[present] for d in (g, h))
        assert np.allclose(-total_g / (total_h + 2.0), values[present], atol=1e-5)
        raw = raw + trees.learning_rate * values[leaf][:, None]


@pytest.mark.parametrize("library", ["sklearn", "surrogate", "lightgbm", "xgboost", "forest", "svc"])
def test_self_influence_alone_equals_the_full_preparations(problem, library):
    """What ranking a snapshot's labels reads (``find_suspects`` without a window's cache): the
    same self-influence and method name as a full preparation's, for each boosting library (which
    skips the query-only arrangement) and the rest (which prepare in full); None where undefined."""
    from analysis.data.roles import TaskType
    from analysis.trace.model_files import fit_surrogate

    X, y, _, _ = problem
    if library == "surrogate":
        model = fit_surrogate(X.assign(label=y), list(X.columns), "label", TaskType.BINARY)
    else:
        estimator = {
            "sklearn": lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
            "lightgbm": lambda: pytest.importorskip("lightgbm").LGBMClassifier(
                n_estimators=20, min_child_samples=5, verbose=-1, random_state=0, n_jobs=1),
            "xgboost": lambda: pytest.importorskip("xgboost").XGBClassifier(
                n_estimators=20, max_depth=3, n_jobs=1, random_state=0),
            "forest": lambda: RandomForestClassifier(n_estimators=10, min_samples_leaf=3, random_state=0),
            "svc": SVC,
        }[library]()
        model = describe_model(estimator.fit(X, y))
    full = prepare_influence(model, X, y)
    alone = prepared_self_influence(model, X, y)
    if library == "svc":
        assert alone is None and self_influence(full) is None
        return
    scores, method = alone
    assert method == full.method and ("surrogate" in method) == (library == "surrogate")
    np.testing.assert_array_equal(scores, self_influence(full))
    assert np.ptp(scores) > 0


def test_other_models_get_neighbours_with_label_agreement(problem):
    X, y, X_test, y_test = problem
    model = describe_model(SVC().fit(X, y))
    prep = prepare_influence(model, X, y)
    assert prep.method == "nearest neighbours (approximation)" and self_influence(prep) is None
    result = influence_for_row(prep, X_test.iloc[[0]], y_test[0], k=10)
    assert all(y[i] != y_test[0] for i, _ in result.harmful)
    assert all(y[i] == y_test[0] for i, _ in result.helpful)
    distances = np.linalg.norm(((X - X.mean()) / X.std(ddof=0)).to_numpy()
                               - ((X_test.iloc[0] - X.mean()) / X.std(ddof=0)).to_numpy(), axis=1)
    agreeing = np.flatnonzero(y == y_test[0])
    assert result.helpful[0][0] == agreeing[np.argmin(distances[agreeing])]


def test_aggregate_is_the_sum_over_queries(problem):
    X, y, X_test, y_test = problem
    for estimator in (LogisticRegression(), GradientBoostingClassifier(n_estimators=10, random_state=0)):
        prep = prepare_influence(describe_model(estimator.fit(X, y)), X, y)
        single = sum(influence_for_row(prep, X_test.iloc[[i]], y_test[i]).scores for i in range(5))
        assert np.allclose(aggregate_influence(prep, X_test.iloc[:5], y_test[:5]), single)


def test_demo_models_trace_a_failed_prediction(demo_files):
    from analysis.demo.world import FEATURES

    training = pd.read_parquet(demo_files.training).iloc[:8000]
    log = pd.read_parquet(demo_files.log, columns=["model_version", "prediction", "is_fraud", *FEATURES])
    for version, path in demo_files.models.items():
        model = load_model(path)
        assert model.kind in ("linear", "boosting")
        served = log[(log["model_version"] == version) & log["is_fraud"].notna()]
        failed = served[served["prediction"] != served["is_fraud"]].iloc[[0]]
        prep = prepare_influence(model, training[list(FEATURES)], training["is_fraud"])
        result = influence_for_row(prep, failed[list(FEATURES)], failed["is_fraud"].iloc[0], k=20)
        assert len(result.harmful) == 20 and len(result.helpful) == 20
        assert all(score > 0 for _, score in result.harmful) and all(score < 0 for _, score in result.helpful)
        top = result.harmful[0][0]
        assert result.scores[top] == max(result.scores)
