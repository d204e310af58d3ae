"""BentoML monitoring logs as BentoML's default monitor writes them
(bentoml/_internal/monitoring/default.py; "Monitoring and data collection",
https://docs.bentoml.com/en/latest/build-with-bentoml/observability/monitoring-and-data-collection.html):
``<monitor>/data/data.<worker>.log`` (rotated daily to ``.log.<date>``) with the logged columns plus
timestamp, request_id and trace_id; ``<monitor>/schema/schema.<worker>.log`` with meta_data and columns."""

from __future__ import annotations

import json

import numpy as np

from tests.analysis.data.serving.conftest import load, skipped_lines


def test_monitor_folder_reads_rows_with_the_bento_version(store, truth, tmp_path):
    monitor = tmp_path / "monitoring" / "fraud_prediction"
    (monitor / "data").mkdir(parents=True)
    (monitor / "schema").mkdir()
    schema = {"meta_data": {"bento_name": "fraud", "bento_version": "k3x7"},
              "columns": [{"name": "age", "role": "feature", "type": "numerical"},
                          {"name": "city", "role": "feature", "type": "categorical"},
                          {"name": "pred", "role": "prediction", "type": "numerical"}]}
    (monitor / "schema" / "schema.0.log").write_text(json.dumps(schema) + "\n")
    lines = [json.dumps({"age": int(truth.age[i]), "city": truth.city[i], "pred": float(truth.score[i]),
                         "timestamp": truth.timestamp[i].strftime("%Y-%m-%dT%H:%M:%S.%f"),
                         "request_id": str(14419506828678509143 + i), "trace_id": str(i)}) for i in range(6)]
    (monitor / "data" / "data.0.log.2026-11-21").write_text("\n".join(lines[:3]) + "\n")
    (monitor / "data" / "data.0.log").write_text("\n".join(lines[3:]) + "\n{\"age\": 3, \n")
    loaded, frame = load(store, monitor)
    assert loaded.dataset.format == "bentoml-monitoring"
    assert sorted(frame.request_id) == [str(14419506828678509143 + i) for i in range(6)]
    frame = frame.sort_values("request_id").reset_index(drop=True)
    np.testing.assert_array_equal(frame.age, truth.age[:6])
    np.testing.assert_allclose(frame.pred, truth.score[:6])
    assert (frame.model_version == "k3x7").all() and "trace_id" not in frame
    assert skipped_lines(loaded) == [4]


def test_the_schema_files_roles_set_the_label_and_score(store, truth, tmp_path):
    """The schema names ``verdict`` the target and ``risk`` the prediction: names detection alone
    reads as features. A feature called ``label`` stays a feature."""
    monitor = tmp_path / "monitoring" / "fraud"
    (monitor / "data").mkdir(parents=True)
    (monitor / "schema").mkdir()
    columns = [{"name": "age", "role": "feature", "type": "numerical"},
               {"name": "label", "role": "feature", "type": "categorical"},
               {"name": "risk", "role": "prediction", "type": "numerical"},
               {"name": "verdict", "role": "target", "type": "categorical"}]
    schema = {"meta_data": {"bento_name": "fraud", "bento_version": "v9"}, "columns": columns}
    (monitor / "schema" / "schema.0.log").write_text(json.dumps(schema) + "\n")
    lines = [json.dumps({"age": int(truth.age[i]), "label": ["gold", "silver"][i % 2], "risk": float(truth.score[i]),
                         "verdict": int(truth.score[i] > 0.5), "timestamp": truth.timestamp[i].isoformat(),
                         "request_id": truth.request_id[i], "trace_id": str(i)}) for i in range(12)]
    (monitor / "data" / "data.0.log").write_text("\n".join(lines) + "\n")
    loaded, _ = load(store, monitor)
    roles = loaded.roles
    assert roles.label == "verdict" and roles.scores == ("risk",) and roles.prediction is None
    assert "label" in roles.features and "age" in roles.features
    assert roles.id == "request_id" and roles.model_version == "model_version"
