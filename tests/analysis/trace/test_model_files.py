"""Opening model files safely, surrogates, and matching feature columns."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from analysis.dataset import Column
from analysis.errors import SchemaError
from analysis.trace.influence import influence_for_row, prepare_influence
from analysis.trace.model_files import (
    ModelTrustError,
    describe_model,
    fit_surrogate,
    inspect_model,
    load_model,
    match_features,
)
from analysis.data.roles import TaskType


class Doubler(BaseEstimator, TransformerMixin):
    """A type no allow-list knows: skops must report it and Sleuth must ask."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2.0


@pytest.fixture(autouse=True)
def one_thread():
    """OpenMP worker threads spin for ages on a busy 2-core machine; one thread is faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return X, y


def test_tree_models_open_without_trust(tmp_path, data):
    X, y = data
    for name, model, kind in [
        ("hgb", HistGradientBoostingClassifier(max_iter=5).fit(X, y), "boosting"),
        ("forest", RandomForestRegressor(n_estimators=3).fit(X, X["b"]), "forest"),
    ]:
        path = tmp_path / f"{name}.skops"
        skops.io.dump(model, path)
        assert inspect_model(path).needs_trust is False
        loaded = load_model(path)
        assert loaded.kind == kind and loaded.feature_names == ["a", "b", "c"]
        assert np.allclose(loaded.estimator.predict(X), model.predict(X))


def test_unknown_type_in_skops_needs_trust(tmp_path, data):
    X, y = data
    model = make_pipeline(Doubler(), LogisticRegression()).fit(X, y)
    path = tmp_path / "custom.skops"
    skops.io.dump(model, path)
    info = inspect_model(path)
    assert info.needs_trust and any(t.endswith("Doubler") for t in info.untrusted_types)
    with pytest.raises(ModelTrustError, match="Doubler") as refused:
        load_model(path)
    assert "runs code" in str(refused.value)
    loaded = load_model(path, trust=True)
    assert loaded.kind == "linear" and loaded.task is TaskType.BINARY


def test_pickle_and_joblib_always_need_trust(tmp_path, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    pickled, dumped = tmp_path / "model.pkl", tmp_path / "model.joblib"
    pickled.write_bytes(pickle.dumps(model))
    joblib.dump(model, dumped)
    assert "sklearn.linear_model._logistic.LogisticRegression" in inspect_model(pickled).untrusted_types
    for path, file_format in ((pickled, "pickle"), (dumped, "joblib")):
        assert inspect_model(path).format == file_format
        with pytest.raises(ModelTrustError, match="unpickling runs code"):
            load_model(path)
        loaded = load_model(path, trust=True)
        assert np.allclose(loaded.estimator.predict_proba(X), model.predict_proba(X))


def test_surrogate_is_labelled_and_handles_categories(data):
    X, y = data
    frame = X.assign(colour=np.where(X["c"] > 0, "red", "blue"), label=y)
    model = fit_surrogate(frame, ["a", "b", "colour"], "label", TaskType.BINARY)
    assert model.surrogate and model.kind == "boosting" and model.task is TaskType.BINARY
    assert (model.estimator.predict(frame[["a", "b", "colour"]]) == y).mean() > 0.8
    prep = prepare_influence(model, frame[["a", "b", "colour"]], frame["label"])
    result = influence_for_row(prep, frame[["a", "b", "colour"]].iloc[[0]], y.iloc[0], k=5)
    assert result.surrogate and "surrogate" in result.method


@pytest.mark.parametrize("saved", ["classifier.json", "booster.ubj", "regressor.json"])
def test_xgboost_model_files_open_without_trust(tmp_path, data, saved):
    xgboost = pytest.importorskip("xgboost")
    X, y = data
    if saved.startswith("regressor"):
        model, expected = xgboost.XGBRegressor(n_estimators=5, n_jobs=1).fit(X, X["b"]), TaskType.REGRESSION
    else:
        model, expected = xgboost.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y), TaskType.BINARY
    path = tmp_path / saved
    (model.get_booster() if saved.startswith("booster") else model).save_model(path)
    info = inspect_model(path)
    assert info.format == "xgboost" and not info.needs_trust
    loaded = load_model(path)
    assert loaded.kind == "xgboost" and loaded.task is expected and loaded.feature_names == ["a", "b", "c"]
    assert np.allclose(loaded.estimator.predict(X), model.predict(X))
    result = influence_for_row(prepare_influence(loaded, X, y if expected is TaskType.BINARY else X["b"]),
                               X.iloc[[0]], y.iloc[0] if expected is TaskType.BINARY else 0.0, k=5)
    assert result.method == "BoostIn (XGBoost)"


def test_xgboost_objectives_boostin_cannot_replay_fall_back_to_neighbours(data):
    xgboost = pytest.importorskip("xgboost")
    X, y = data
    model = describe_model(xgboost.XGBRegressor(objective="count:poisson", n_estimators=3, n_jobs=1).fit(X, y))
    assert model.kind == "other"
    assert prepare_influence(model, X, y).method == "nearest neighbours (approximation)"


def test_feature_mismatches_name_the_column(data):
    X, y = data
    model = describe_model(LogisticRegression().fit(X, y))
    snapshot = [Column("a", "DOUBLE"), Column("b", "DOUBLE"), Column("c", "INTEGER"), Column("y", "BIGINT")]
    assert match_features(model, snapshot, [Column("c", "BIGINT"), Column("b", "FLOAT"), Column("a", "DOUBLE")]) == ["a", "b", "c"]
    with pytest.raises(SchemaError, match="prediction log lacks .*column.* b"):
        match_features(model, snapshot, [Column("a", "DOUBLE"), Column("c", "DOUBLE")])
    with pytest.raises(SchemaError, match="training snapshot lacks .* c"):
        match_features(model, snapshot[:2], snapshot)
    with pytest.raises(SchemaError, match="column 'b': is DOUBLE in the training snapshot but VARCHAR"):
        match_features(model, snapshot, [Column("a", "DOUBLE"), Column("b", "VARCHAR"), Column("c", "DOUBLE")])


def test_a_file_swapped_after_the_check_is_never_loaded(tmp_path, data, monkeypatch):
    """The race of the issue: the types are checked, then a file naming posix.system is put in
    its place before the load. The bytes checked are the bytes loaded."""
    import os

    X, y = data
    path = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression().fit(X, y), path)
    checked = skops.io.get_untrusted_types

    def check_then_swap(*args, **kwargs):
        found = checked(*args, **kwargs)
        skops.io.dump(os.system, path)  # the attacker wins the race on disk
        return found

    monkeypatch.setattr(skops.io, "get_untrusted_types", check_then_swap)
    loaded = load_model(path)
    assert isinstance(loaded.estimator, LogisticRegression)
    monkeypatch.setattr(skops.io, "get_untrusted_types", checked)
    with pytest.raises(ModelTrustError, match="posix.system"):
        load_model(path)


def test_a_folder_or_missing_model_file_gets_a_sentence(tmp_path):
    from analysis.errors import InputError

    with pytest.raises(InputError, match="model file not found"):
        inspect_model(tmp_path / "gone.skops")
    with pytest.raises(InputError, match="cannot read the model file"):
        inspect_model(tmp_path)
