"""Vertex AI request-response logging rows and Azure ML data collector lines.

Vertex: "Online prediction logging" (https://cloud.google.com/vertex-ai/docs/predictions/
online-prediction-logging) logs to BigQuery: endpoint, deployed_model_id, logging_time,
request_id, request_payload and response_payload (repeated JSON strings), exported as JSON lines.
Azure: "Collect production data from models deployed for real-time inferencing"
(https://learn.microsoft.com/azure/machine-learning/how-to-collect-production-data): CloudEvents
lines of type azureml.inference.model_inputs / model_outputs, ``data`` holding the rows, paired by
``correlationid``, in model_inputs/ and model_outputs/ folders partitioned by yyyy/mm/dd/hh."""

from __future__ import annotations

import json

import numpy as np

from tests.analysis.data.serving.conftest import load, skipped_lines


def vertex_row(truth, rows, model="7261", response=True):
    first = rows[0]
    return json.dumps({
        "endpoint": "projects/1/locations/us-central1/endpoints/42",
        "deployed_model_id": model,
        "logging_time": truth.timestamp[first].isoformat(),
        "request_id": str(9000 + first),
        "request_payload": [json.dumps({"age": int(truth.age[i]), "city": truth.city[i]}) for i in rows],
        "response_payload": [json.dumps(float(truth.score[i])) for i in rows] if response else [],
    })


def test_vertex_rows_unpack_with_deployed_model_as_version(store, truth, tmp_path):
    lines = [vertex_row(truth, [0, 1]), vertex_row(truth, [2], model="8812"), vertex_row(truth, [3], response=False),
             json.dumps({"endpoint": "e", "deployed_model_id": "1", "logging_time": "2026-11-22T08:00:00Z",
                         "request_id": "bad", "request_payload": ["{\"age\":"], "response_payload": ["0.5"]})]
    path = tmp_path / "request_response_logging.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert loaded.dataset.format == "vertex-request-response"
    assert list(frame.request_id) == ["9000:0", "9000:1", "9002", "9003"]
    np.testing.assert_array_equal(frame.age, truth.age[:4])
    np.testing.assert_allclose(frame.score[:3], truth.score[:3])
    assert np.isnan(frame.score[3])
    assert list(frame.model_version) == ["7261", "7261", "8812", "7261"]
    assert [(s.line, s.reason) for s in loaded.dataset.report.skipped] == [
        (4, "an element of request_payload is not valid JSON")]


def azure_event(kind, correlation, time, data, version="blue"):
    return json.dumps({"specversion": "1.0", "id": f"{kind}-{correlation}", "source": "/subscriptions/x/onlineEndpoints/fraud",
                       "type": f"azureml.inference.{kind}", "datacontenttype": "application/json", "time": time,
                       "data": data, "correlationid": correlation, "xrequestid": correlation,
                       "modelversion": version, "collectdatatype": "pandas.core.frame.DataFrame",
                       "agent": "azureml-ai-monitoring/0.1.0b3"})


def test_azure_inputs_and_outputs_in_separate_folders_pair_by_correlation_id(store, truth, tmp_path):
    inputs = tmp_path / "model_inputs" / "2026" / "11" / "22" / "08"
    outputs = tmp_path / "model_outputs" / "2026" / "11" / "22" / "08"
    inputs.mkdir(parents=True)
    outputs.mkdir(parents=True)
    batches = [[0, 1, 2], [3], [4, 5]]
    in_lines, out_lines = [], []
    for rows in batches:
        correlation = truth.request_id[rows[0]]
        time = truth.timestamp[rows[0]].isoformat()
        in_lines.append(azure_event("model_inputs", correlation, time,
                                    [{"age": int(truth.age[i]), "income": float(truth.income[i])} for i in rows]))
        out_lines.append(azure_event("model_outputs", correlation, time, [float(truth.score[i]) for i in rows]))
    out_lines.append(azure_event("model_outputs", "lost-input", "2026-11-22T09:00:00Z", [0.5]))
    (inputs / "part.jsonl").write_text("\n".join(in_lines) + "\n")
    (outputs / "part.jsonl").write_text("\n".join(out_lines) + "\n")
    loaded, frame = load(store, tmp_path)
    assert loaded.dataset.format == "azureml-data-collector"
    assert list(frame.request_id) == ["req-000:0", "req-000:1", "req-000:2", "req-003", "req-004:0", "req-004:1"]
    np.testing.assert_allclose(frame.income, truth.income[:6])
    np.testing.assert_allclose(frame.score, truth.score[:6])
    assert [s.reason for s in loaded.dataset.report.skipped] == [
        "an output event with no input event of the same id (lost-input)"]


def test_vertex_rows_exported_as_parquet(store, truth, tmp_path):
    """The same BigQuery table exported as Parquet: the payloads are lists of strings."""
    import pandas as pd

    rows = [json.loads(vertex_row(truth, [0, 1])), json.loads(vertex_row(truth, [2], model="8812"))]
    pd.DataFrame(rows).to_parquet(tmp_path / "request_response_logging.parquet")
    loaded, frame = load(store, tmp_path / "request_response_logging.parquet")
    assert loaded.dataset.format == "vertex-request-response"
    assert list(frame.request_id) == ["9000:0", "9000:1", "9002"]
    np.testing.assert_allclose(frame.score, truth.score[:3])
    assert list(frame.city) == list(truth.city[:3])
