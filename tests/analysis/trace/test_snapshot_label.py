"""A training snapshot's label read from the model trained on it, not only from its name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from analysis.data.roles import Role
from analysis.errors import SchemaError
from analysis.trace.tracer import TrainingFiles, read_training, trace_prediction
from analysis.trace.model_files import describe_model, load_model
from analysis.trace.snapshot_label import model_inputs

N = 400


def churn_snapshot(seed: int = 0) -> pd.DataFrame:
    """A snapshot named the way a churn team names it: the target is ``churned``, and ``y`` is a
    feature (a screen width in mm) that name heuristics alone would take for the label."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, N)
    plan = rng.choice(["basic", "plus", "pro"], N)
    y = rng.normal(70, 8, N)
    churned = (rng.uniform(size=N) < 1 / (1 + np.exp(0.08 * tenure - 2))).astype(int)
    signup = pd.Timestamp("1996-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 3 * 365, N)), unit="D")
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(N)],
        "signup_ts": ((signup - pd.Timestamp("1970-01-01")).total_seconds()).astype("int64"),
        "tenure": tenure, "plan": plan, "y": y, "source": rng.choice(["crm", "web"], N), "churned": churned,
    })


def churn_model(frame: pd.DataFrame) -> Pipeline:
    columns = ColumnTransformer([("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                                 ("numbers", "passthrough", ["tenure", "y"])])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))]).fit(
        frame[["plan", "tenure", "y"]], frame["churned"])


@pytest.fixture
def churn_files(tmp_path):
    frame = churn_snapshot()
    frame.to_parquet(tmp_path / "snapshot.parquet")
    skops.io.dump(churn_model(frame), tmp_path / "churn.skops")
    return tmp_path


def test_model_inputs_come_from_the_column_transformer_too():
    frame = churn_snapshot()
    columns = ColumnTransformer([("plan", OneHotEncoder(), ["plan"]), ("numbers", "passthrough", ["tenure", "y"])])
    bare = Pipeline([("columns", columns), ("model", LogisticRegression())]).fit(frame, frame["churned"])
    assert model_inputs(describe_model(bare)) >= {"plan", "tenure", "y"}
    assert model_inputs(describe_model(LogisticRegression().fit(frame[["tenure"]].to_numpy(), frame["churned"]))) is None


def test_the_model_names_the_label_and_a_feature_called_y_stays_a_feature(store, churn_files):
    snapshot = [str(churn_files / "snapshot.parquet")]
    assert read_training(store, snapshot).label == "y"  # what the names alone say
    training = read_training(store, snapshot, model=load_model(churn_files / "churn.skops"))
    assert training.label == "churned" and "y" in training.features
    assert "'churned' inferred from the model file" in training.label_note and "also possible" not in training.label_note
    assert training.snapshot.roles.timestamp == "signup_ts" and training.id_column == "customer_id"


def test_several_candidates_the_best_name_wins_and_the_others_are_named(store, tmp_path):
    frame = churn_snapshot()
    frame["label"] = frame["churned"]
    frame["reactivated"] = 1 - frame["churned"]
    frame.to_parquet(tmp_path / "snapshot.parquet")
    skops.io.dump(churn_model(frame), tmp_path / "churn.skops")
    training = read_training(store, [str(tmp_path / "snapshot.parquet")], model=load_model(tmp_path / "churn.skops"))
    assert training.label == "label"
    assert "also possible: churned, reactivated" in training.label_note


def test_a_regressor_takes_a_numeric_column_and_text_never_fits(store, tmp_path):
    frame = churn_snapshot()
    frame["monthly_spend"] = 20 + 0.5 * frame["tenure"] + np.random.default_rng(1).normal(0, 2, N)
    frame = frame.drop(columns=["churned"])
    frame["segment"] = np.where(frame["tenure"] > 30, "loyal", "new")
    frame.to_parquet(tmp_path / "snapshot.parquet")
    skops.io.dump(LinearRegression().fit(frame[["tenure", "y"]], frame["monthly_spend"]), tmp_path / "spend.skops")
    training = read_training(store, [str(tmp_path / "snapshot.parquet")], model=load_model(tmp_path / "spend.skops"))
    assert training.label == "monthly_spend"


def test_no_column_fits_the_model_is_one_sentence(store, churn_files):
    frame = churn_snapshot().drop(columns=["churned"])
    frame.to_parquet(churn_files / "no_label.parquet")
    with pytest.raises(SchemaError) as raised:
        read_training(store, [str(churn_files / "no_label.parquet")], model=load_model(churn_files / "churn.skops"))
    assert "--label" in str(raised.value) and "no_label.parquet" in str(raised.value)


def test_the_users_label_wins_over_the_model(store, churn_files):
    training = read_training(store, [str(churn_files / "snapshot.parquet")],
                             model=load_model(churn_files / "churn.skops"), fixed={Role.LABEL: "source"})
    assert training.label == "source" and training.label_note is None


def test_trace_matches_the_logs_label_to_the_snapshots_by_name(store, churn_files):
    log = churn_snapshot(seed=1).drop(columns=["source"]).rename(columns={"customer_id": "request_id"})
    log["prediction"] = churn_model(churn_snapshot()).predict(log[["plan", "tenure", "y"]])
    wrong = log.index[log["prediction"] != log["churned"]][0]
    log.to_parquet(churn_files / "log.parquet")
    training = TrainingFiles([str(churn_files / "snapshot.parquet")], churn_files / "churn.skops")
    report = trace_prediction(store, training, [str(churn_files / "log.parquet")], log.loc[wrong, "request_id"])
    assert report["query"]["label"] == log.loc[wrong, "churned"]
    assert report["query"]["prediction"] == log.loc[wrong, "prediction"]
    assert "churned" in report["label_note"] and len(report["harmful"]) == 20
    assert {row["label"] for row in report["harmful"]} <= {0, 1}
