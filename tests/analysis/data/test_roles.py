"""Role detection on logs shaped the way real systems write them."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.data.loading import open_dataset
from analysis.data.open_log import load_log
from analysis.errors import SchemaError
from analysis.query import ROW_ID
from analysis.data.roles import Role, RoleMap, TaskType, detect_roles, profile_columns

N = 200
rng = np.random.default_rng(7)


def roles_of(store, tmp_path, frame: pd.DataFrame) -> RoleMap:
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    dataset = open_dataset(store, str(path))
    roles = detect_roles(profile_columns(store, dataset))
    assigned = [roles.id, roles.timestamp, roles.model_version, roles.label, roles.prediction,
                *roles.scores, *roles.features, *roles.ignored]
    named = [c for c in assigned if c is not None]
    assert len(named) == len(set(named)), "a column got two roles"
    assert sorted(named) == sorted(frame.columns), "every column gets exactly one role"
    assert ROW_ID not in named
    return roles


def binary(p=0.1):
    return (rng.uniform(size=N) < p).astype(int)


def test_profile_matches_pandas(store, tmp_path):
    frame = pd.DataFrame({"amount": rng.normal(50, 10, N), "label": binary(), "city": rng.choice(["a", "b", None], N)})
    frame.to_parquet(tmp_path / "p.parquet")
    profiles = {p.name: p for p in profile_columns(store, open_dataset(store, str(tmp_path / "p.parquet")))}
    assert profiles["amount"].minimum == pytest.approx(frame["amount"].min())
    assert profiles["amount"].maximum == pytest.approx(frame["amount"].max())
    assert not profiles["amount"].integral and profiles["label"].integral
    assert profiles["label"].in_unit_interval
    assert profiles["city"].null_fraction == pytest.approx(frame["city"].isna().mean())
    assert profiles["city"].distinct == frame["city"].nunique()
    assert dict(profiles["label"].value_counts) == {str(k): v for k, v in frame["label"].value_counts().items()}
    assert ROW_ID not in profiles


def test_profile_of_many_files_is_the_first_rows(store, tmp_path):
    """The sample is the log's first rows by row id, from the first file, whatever order
    DuckDB's threads would finish the files in (files large enough for one scan each)."""
    parts = [pd.DataFrame({"amount": rng.normal(100 * k, 1, 60_000), "part": k}) for k in range(3)]
    for k, part in enumerate(parts):
        part.to_parquet(tmp_path / f"part-{k}.parquet")
    dataset = open_dataset(store, [str(tmp_path / f"part-{k}.parquet") for k in range(3)])
    profiles = {p.name: p for p in profile_columns(store, dataset, sample_rows=2_000)}
    first = parts[0].head(2_000)
    assert profiles["amount"].rows == 2_000
    assert profiles["amount"].minimum == pytest.approx(first["amount"].min())
    assert profiles["amount"].maximum == pytest.approx(first["amount"].max())
    assert (profiles["part"].minimum, profiles["part"].maximum) == (0, 0)


def test_profile_of_a_view_with_sparse_row_ids_still_has_its_rows(store, tmp_path):
    """A view whose row ids do not start at 0 still gets a full sample (from the LIMIT)."""
    frame = pd.DataFrame({"amount": rng.normal(50, 10, 5_000)})
    frame.to_parquet(tmp_path / "p.parquet")
    dataset = open_dataset(store, str(tmp_path / "p.parquet"))
    store.execute(f'CREATE VIEW shifted AS SELECT * REPLACE ("{ROW_ID}" + 1000000 AS "{ROW_ID}") FROM "{dataset.view}"')
    profiles = profile_columns(store, replace(dataset, view="shifted"), sample_rows=1_000)
    assert profiles[0].rows == 1_000


def _profiles_of(path) -> dict:
    """The profiles of the log at ``path`` opened in a store of its own, as a second open is."""
    from analysis.store import Store

    store = Store()
    try:
        return {p.name: p for p in profile_columns(store, open_dataset(store, str(path)))}
    finally:
        store.close()


def test_a_rewritten_file_of_the_same_size_and_time_gets_a_fresh_profile(tmp_path):
    """A process keeps the profiles of the samples it profiled, by what the sample holds: a
    file rewritten with other values of the same length and its modification time put back
    (as a copy within the clock's resolution leaves it) is profiled again, as pandas reads it."""
    path = tmp_path / "log.csv"
    first = pd.DataFrame({"amount": rng.integers(10, 99, N), "label": binary(0.2)})
    first.to_csv(path, index=False)
    assert dict(_profiles_of(path)["label"].value_counts) == {str(k): v for k, v in first["label"].value_counts().items()}
    before = path.stat()
    second = first.assign(label=1 - first["label"])
    second.to_csv(path, index=False)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    profiles = _profiles_of(path)
    assert dict(profiles["label"].value_counts) == {str(k): v for k, v in second["label"].value_counts().items()}
    assert profiles["amount"].minimum == second["amount"].min()


def test_a_sample_profiled_before_is_read_back_and_a_sign_is_not_lost(tmp_path, monkeypatch):
    """The same values in another file are not profiled again, and give the same profiles; a
    zero whose sign changed is profiled again (its text, ``-0.0``, is what a value count shows,
    though it hashes as ``0.0``)."""
    import analysis.data.roles as roles
    from analysis.data.kept import KeptResults

    frame = pd.DataFrame({"score": [0.0, 0.25, 0.5] * 10, "label": [0, 1, 1] * 10})
    frame.to_parquet(tmp_path / "a.parquet")
    frame.to_parquet(tmp_path / "b.parquet")
    frame.assign(score=frame["score"].replace(0.0, -0.0)).to_parquet(tmp_path / "signed.parquet")
    profiled = []
    monkeypatch.setattr(roles, "_kept", KeptResults(roles.KEPT_PROFILES))
    profile_sample = roles._profile_sample
    monkeypatch.setattr(roles, "_profile_sample", lambda *args: profiled.append(args) or profile_sample(*args))
    kept, again = _profiles_of(tmp_path / "a.parquet"), _profiles_of(tmp_path / "b.parquet")
    assert again == kept and len(profiled) == 1
    signed = _profiles_of(tmp_path / "signed.parquet")
    assert len(profiled) == 2
    assert dict(signed["score"].value_counts)["-0.0"] == 10 and "0.0" not in dict(signed["score"].value_counts)


def test_fraud_demo_log(store, tmp_path):
    frame = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(N)],
        "timestamp": pd.date_range("2026-01-01", periods=N, freq="min"),
        "model_version": rng.choice(["v1", "v2"], N),
        "amount": rng.gamma(2, 40, N), "merchant_category": rng.choice(["food", "travel"], N),
        "score": rng.uniform(size=N), "prediction": binary(0.2), "is_fraud": binary(),
    })
    roles = roles_of(store, tmp_path, frame)
    assert (roles.id, roles.timestamp, roles.model_version) == ("request_id", "timestamp", "model_version")
    assert (roles.label, roles.prediction, roles.scores) == ("is_fraud", "prediction", ("score",))
    assert roles.task is TaskType.BINARY and roles.positive_class == "1"
    assert set(roles.features) == {"amount", "merchant_category"}


def test_credit_default_with_target_and_proba(store, tmp_path):
    frame = pd.DataFrame({"loan_id": range(N), "income": rng.normal(5e4, 1e4, N), "age": rng.integers(18, 80, N),
                          "proba": rng.uniform(size=N), "target": binary(0.3)})
    roles = roles_of(store, tmp_path, frame)
    assert (roles.id, roles.label, roles.scores, roles.prediction) == ("loan_id", "target", ("proba",), None)
    assert roles.task is TaskType.BINARY and roles.positive_class == "1"
    assert set(roles.features) == {"income", "age"}


def test_multiclass_probability_family(store, tmp_path):
    probs = rng.dirichlet([1, 1, 1], N)
    classes = np.array(["cat", "dog", "bird"])
    frame = pd.DataFrame({"id": range(N), "p_cat": probs[:, 0], "p_dog": probs[:, 1], "p_bird": probs[:, 2],
                          "label": rng.choice(classes, N), "predicted_label": classes[probs.argmax(1)],
                          "brightness": rng.uniform(size=N) * 255})
    roles = roles_of(store, tmp_path, frame)
    assert roles.task is TaskType.MULTICLASS
    assert roles.scores == ("p_cat", "p_dog", "p_bird") and roles.score_classes == ("cat", "dog", "bird")
    assert (roles.label, roles.prediction, roles.features) == ("label", "predicted_label", ("brightness",))


def test_regression_y_true_y_pred(store, tmp_path):
    y = rng.normal(100, 20, N)
    frame = pd.DataFrame({"house_id": [f"h{i}" for i in range(N)], "sqft": rng.integers(400, 4000, N),
                          "y_true": y, "y_pred": y + rng.normal(0, 5, N)})
    roles = roles_of(store, tmp_path, frame)
    assert (roles.label, roles.prediction, roles.scores) == ("y_true", "y_pred", ())
    assert roles.task is TaskType.REGRESSION and roles.positive_class is None
    assert roles.id == "house_id" and roles.features == ("sqft",)


def test_camel_case_names(store, tmp_path):
    frame = pd.DataFrame({"requestId": [f"q{i}" for i in range(N)],
                          "createdAt": pd.date_range("2026-02-01", periods=N, freq="s", tz="UTC"),
                          "modelVersion": rng.choice(["a", "b"], N), "predictedLabel": rng.choice(["spam", "ham"], N),
                          "trueLabel": rng.choice(["spam", "ham"], N, p=[0.2, 0.8]), "wordCount": rng.integers(1, 500, N)})
    roles = roles_of(store, tmp_path, frame)
    assert (roles.id, roles.timestamp, roles.model_version) == ("requestId", "createdAt", "modelVersion")
    assert (roles.label, roles.prediction) == ("trueLabel", "predictedLabel")
    assert roles.task is TaskType.BINARY and roles.positive_class == "spam"


def test_log_without_labels_takes_task_from_prediction(store, tmp_path):
    frame = pd.DataFrame({"prediction_id": range(N), "feature_a": rng.normal(size=N),
                          "pred": rng.choice(["low", "mid", "high"], N)})
    roles = roles_of(store, tmp_path, frame)
    assert roles.label is None and roles.prediction == "pred"
    assert roles.task is TaskType.MULTICLASS and not roles.has_outcome


def test_sagemaker_flat_columns(store, tmp_path):
    frame = pd.DataFrame({"inferenceId": [f"inf-{i}" for i in range(N)], "eventId": [f"e{i}" for i in range(N)],
                          "inferenceTime": pd.date_range("2026-03-01", periods=N, freq="s"),
                          "feature_0": rng.normal(size=N), "prediction_score": rng.uniform(size=N), "label": binary()})
    roles = roles_of(store, tmp_path, frame)
    assert (roles.id, roles.timestamp, roles.scores, roles.label) == ("inferenceId", "inferenceTime", ("prediction_score",), "label")
    assert "eventId" in roles.ignored and roles.features == ("feature_0",)


def test_epoch_millisecond_timestamps(store, tmp_path):
    frame = pd.DataFrame({"ts": 1_767_225_600_000 + np.arange(N) * 1000, "score": rng.uniform(size=N),
                          "label": binary(), "latency_ms": rng.integers(5, 90, N)})
    roles = roles_of(store, tmp_path, frame)
    assert roles.timestamp == "ts" and roles.features == ("latency_ms",)


def test_string_labels_fraud_legit(store, tmp_path):
    frame = pd.DataFrame({"txn_id": [f"t{i}" for i in range(N)], "amount": rng.gamma(2, 40, N),
                          "outcome": rng.choice(["fraud", "legit"], N, p=[0.1, 0.9]), "fraud_prob": rng.uniform(size=N)})
    roles = roles_of(store, tmp_path, frame)
    assert (roles.label, roles.scores, roles.positive_class) == ("outcome", ("fraud_prob",), "fraud")


def test_wide_log_with_two_prediction_columns(store, tmp_path):
    frame = pd.DataFrame({"id": range(N), "x1": rng.normal(size=N), "label": binary(),
                          "pred_champion": binary(0.3), "pred_challenger": binary(0.3)})
    roles = roles_of(store, tmp_path, frame)
    assert roles.prediction == "pred_champion" and "pred_challenger" in roles.ignored
    assert roles.features == ("x1",)


def test_rarer_value_is_positive_when_names_say_nothing(store, tmp_path):
    frame = pd.DataFrame({"label": rng.choice(["A", "B"], N, p=[0.85, 0.15]), "y_pred": rng.choice(["A", "B"], N)})
    roles = roles_of(store, tmp_path, frame)
    assert roles.task is TaskType.BINARY and roles.positive_class == "B"


def test_boolean_label_and_probability_pair(store, tmp_path):
    p1 = rng.uniform(size=N)
    frame = pd.DataFrame({"churned": rng.uniform(size=N) < 0.2, "prob_0": 1 - p1, "prob_1": p1, "tenure": rng.integers(1, 60, N),
                          "comment": [f"free text number {i}" for i in range(N)]})
    frame = frame.rename(columns={"churned": "target_churned"})
    roles = roles_of(store, tmp_path, frame)
    assert roles.label == "target_churned" and roles.positive_class == "true"
    assert roles.scores == ("prob_1",) and roles.task is TaskType.BINARY
    assert roles.features == ("tenure",) and "comment" in roles.ignored


def test_probability_named_prediction_becomes_the_score(store, tmp_path):
    frame = pd.DataFrame({"y": binary(0.4), "prediction": rng.uniform(size=N), "f": rng.normal(size=N)})
    roles = roles_of(store, tmp_path, frame)
    assert roles.scores == ("prediction",) and roles.prediction is None and roles.label == "y"


def test_an_explicit_label_beats_a_feature_called_y(store, tmp_path):
    frame = pd.DataFrame({"x": rng.normal(size=N), "y": rng.normal(60, 5, N), "label": binary()})
    assert roles_of(store, tmp_path, frame).label == "label"
    frame = frame.rename(columns={"label": "target"})
    assert roles_of(store, tmp_path, frame).label == "target"


def test_named_roles_beat_detection_and_set_the_task(store, tmp_path):
    frame = pd.DataFrame({"request": [f"r{i}" for i in range(N)], "y": rng.normal(60, 5, N),
                          "churned": rng.choice(["stayed", "churned"], N, p=[0.8, 0.2]),
                          "guess": rng.choice(["stayed", "churned"], N), "risk": rng.uniform(size=N)})
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    profiles = profile_columns(store, open_dataset(store, str(path)))
    assert detect_roles(profiles).label == "y"
    roles = detect_roles(profiles, {Role.LABEL: "churned", Role.ID: "request", Role.PREDICTION: "guess",
                                    Role.SCORE: "risk"})
    assert (roles.label, roles.id, roles.prediction, roles.scores) == ("churned", "request", "guess", ("risk",))
    assert roles.features == ("y",)
    assert roles.task is TaskType.BINARY and roles.positive_class == "churned"


def test_a_named_column_that_does_not_exist_is_one_sentence(store, tmp_path):
    frame = pd.DataFrame({"x": rng.normal(size=N), "label": binary()})
    frame.to_parquet(tmp_path / "log.parquet")
    with pytest.raises(SchemaError) as raised:
        load_log(store, [str(tmp_path / "log.parquet")], fixed={Role.LABEL: "churned"})
    message = str(raised.value)
    assert "'churned'" in message and "label" in message and "log.parquet" in message and "\n" not in message
    with pytest.raises(SchemaError, match="two roles"):
        load_log(store, [str(tmp_path / "log.parquet")], fixed={Role.LABEL: "x", Role.SCORE: "x"})


def test_a_named_role_applies_on_top_of_a_saved_mapping(store, tmp_path):
    frame = pd.DataFrame({"x": rng.normal(size=N), "p": rng.uniform(size=N), "score": rng.uniform(size=N),
                          "label": binary()})
    frame.to_parquet(tmp_path / "log.parquet")
    saved = RoleMap(label="label", scores=("score",), features=("x", "p"))
    loaded = load_log(store, [str(tmp_path / "log.parquet")], roles=saved, fixed={Role.SCORE: "p"}, check=False)
    assert loaded.roles.scores == ("p",) and "score" in loaded.roles.ignored and loaded.roles.features == ("x",)
