"""Databricks inference tables exported as Parquet, with the columns of "Inference tables for
monitoring and debugging models" (https://docs.databricks.com/machine-learning/model-serving/
inference-tables): databricks_request_id, client_request_id, date, timestamp_ms, status_code,
sampling_fraction, execution_time_ms, request / response (JSON strings), request_metadata
(map: endpoint_name, model_name, model_version). Request bodies in the four MLflow forms."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.analysis.data.serving.conftest import load, skipped_lines


def body_for(form, truth, rows):
    records = [{"age": int(truth.age[i]), "income": float(truth.income[i]), "city": truth.city[i]} for i in rows]
    if form == "dataframe_split":
        return {"dataframe_split": {"columns": ["age", "income", "city"],
                                    "data": [[r["age"], r["income"], r["city"]] for r in records]}}
    if form == "dataframe_records":
        return {"dataframe_records": records}
    if form == "instances":
        return {"instances": records}
    return {"inputs": {key: [r[key] for r in records] for key in ("age", "income", "city")}}


def table_row(truth, rows, form, status=200, version="3", request=None, client_id=True):
    first = rows[0]
    response = {"predictions": [float(truth.score[i]) for i in rows]} if status == 200 else \
        {"error_code": "INTERNAL_ERROR", "message": "model crashed"}
    return {
        "databricks_request_id": f"dbx-{first}",
        "client_request_id": truth.request_id[first] if client_id else None,
        "date": truth.timestamp[first].date(),
        "timestamp_ms": int(truth.timestamp[first].timestamp() * 1000),
        "status_code": status,
        "sampling_fraction": 1.0,
        "execution_time_ms": 12,
        "request": request if request is not None else json.dumps(body_for(form, truth, rows)),
        "response": json.dumps(response),
        "request_metadata": [("endpoint_name", "fraud"), ("model_name", "fraud_model"), ("model_version", version)],
    }


SCHEMA = pa.schema([
    ("databricks_request_id", pa.string()), ("client_request_id", pa.string()), ("date", pa.date32()),
    ("timestamp_ms", pa.int64()), ("status_code", pa.int32()), ("sampling_fraction", pa.float64()),
    ("execution_time_ms", pa.int64()), ("request", pa.string()), ("response", pa.string()),
    ("request_metadata", pa.map_(pa.string(), pa.string())),
])


def write_table(rows, path):
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)


def test_each_request_form_unpacks_and_failed_requests_are_counted_not_scored(store, truth, tmp_path):
    rows = [
        table_row(truth, [0, 1], "dataframe_split"),
        table_row(truth, [2], "dataframe_records"),
        table_row(truth, [3, 4], "instances", version="4"),
        table_row(truth, [5], "inputs", version="4"),
        table_row(truth, [6], "instances", status=500),
        table_row(truth, [7], "instances", client_id=False),
    ]
    path = tmp_path / "inference_table.parquet"
    write_table(rows, path)
    loaded, frame = load(store, path)
    assert loaded.dataset.format == "databricks-inference"
    assert list(frame.request_id) == ["req-000:0", "req-000:1", "req-002", "req-003:0", "req-003:1", "req-005",
                                      "dbx-7"]
    kept = [0, 1, 2, 3, 4, 5, 7]
    np.testing.assert_allclose(frame.income, truth.income[kept])
    assert list(frame.city) == list(truth.city[kept])
    np.testing.assert_allclose(frame.score, truth.score[kept])
    assert list(frame.model_version) == ["3", "3", "3", "4", "4", "4", "3"]
    failed = [w for w in loaded.dataset.report.warnings if "failed request" in w]
    assert failed and failed[0].startswith("1 failed request(s) (status 500)") and "record 5" in failed[0]


def test_unreadable_request_is_named_by_row(store, truth, tmp_path):
    rows = [table_row(truth, [0], "instances"), table_row(truth, [1], "instances", request="{\"instances\": ["),
            table_row(truth, [2], "instances")]
    path = tmp_path / "inference_table.parquet"
    write_table(rows, path)
    loaded, frame = load(store, path)
    assert skipped_lines(loaded) == [2]
    assert "request column" in loaded.dataset.report.skipped[0].reason
    assert list(frame.request_id) == ["req-000", "req-002"]


def test_inference_table_as_a_delta_table(store, truth, tmp_path):
    """The same table written as Delta (what Databricks keeps in Unity Catalog) opens the same way."""
    from deltalake import write_deltalake

    rows = [table_row(truth, [0], "instances"), table_row(truth, [1, 2], "dataframe_split", version="4")]
    write_deltalake(str(tmp_path / "payload"), pa.Table.from_pylist(rows, schema=SCHEMA))
    loaded, frame = load(store, tmp_path / "payload")
    assert loaded.dataset.format == "databricks-inference"
    assert loaded.dataset.report.warnings[0].startswith("Delta table version 0")
    assert list(frame.request_id) == ["req-000", "req-001:0", "req-001:1"]
    np.testing.assert_allclose(frame.score, truth.score[:3])


def test_inference_table_in_delta_with_a_deleted_request_and_column_mapping(store, truth, tmp_path):
    """Databricks turns deletion vectors on for new tables: a request deleted from the inference
    table (here by a hand-made vector, see lake_by_hand) stays out of the unpacked rows, and a
    table under column mapping is recognised by its own column names, not its files' ones."""
    from deltalake import DeltaTable, write_deltalake
    from tests.analysis.data.lake_by_hand import delete_with_vector

    rows = [table_row(truth, [i], "instances") for i in range(4)]
    write_deltalake(str(tmp_path / "dv"), pa.Table.from_pylist(rows, schema=SCHEMA),
                    configuration={"delta.enableDeletionVectors": "true"})
    delete_with_vector(tmp_path / "dv", {DeltaTable(str(tmp_path / "dv")).get_add_actions().column("path")[0].as_py(): [1]})
    loaded, frame = load(store, tmp_path / "dv")
    assert loaded.dataset.format == "databricks-inference"
    assert list(frame.request_id) == ["req-000", "req-002", "req-003"]
    np.testing.assert_allclose(frame.score, truth.score[[0, 2, 3]])
    write_deltalake(str(tmp_path / "mapped"), pa.Table.from_pylist(rows, schema=SCHEMA),
                    configuration={"delta.columnMapping.mode": "name"})
    loaded, frame = load(store, tmp_path / "mapped")
    assert loaded.dataset.format == "databricks-inference" and list(frame.request_id) == list(truth.request_id[:4])
