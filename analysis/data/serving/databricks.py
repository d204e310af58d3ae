"""Databricks inference tables (exported as Parquet): one row per request.

Documented in "Inference tables for monitoring and debugging models" (docs.databricks.com/
machine-learning/model-serving/inference-tables): ``databricks_request_id``,
``client_request_id`` (what labels join on, when the client sent one), ``date``,
``timestamp_ms``, ``status_code``, ``sampling_fraction``, ``execution_time_ms``,
``request`` / ``response`` (JSON strings; the request in MLflow's ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` form; a batch is one row) and
``request_metadata`` (a map with ``endpoint_name``, ``model_name``, ``model_version``).
Requests whose status is not 2xx are counted and shown, never scored, whatever their request
holds (a failed request's body may be what made it fail: it is counted once, as failed).
"""

from __future__ import annotations

from analysis.data.serving.payload import input_rows, output_rows

TITLE = "Databricks inference table"


def is_inference_row(record: dict) -> bool:
    return {"request", "response", "status_code"} <= set(record) and bool(
        {"databricks_request_id", "timestamp_ms"} & set(record))


def requests_sql(raw: str) -> str:
    return f"""
    SELECT file, record,
        coalesce(doc->>'$.client_request_id', doc->>'$.databricks_request_id') AS request_id,
        epoch_ms(TRY_CAST(doc->>'$.timestamp_ms' AS BIGINT)) AS event_time,
        doc->>'$.request_metadata.model_version' AS model_version,
        TRY_CAST(doc->>'$.status_code' AS INTEGER) AS status,
        {input_rows("TRY_CAST(doc->>'$.request' AS JSON)")} AS rows,
        {output_rows("TRY_CAST(doc->>'$.response' AS JSON)")} AS outputs,
        CASE
            WHEN coalesce(TRY_CAST(doc->>'$.status_code' AS INTEGER) BETWEEN 200 AND 299, TRUE)
                 AND NOT coalesce(json_valid(doc->>'$.request'), FALSE) THEN 'the request column is missing or is not valid JSON'
            WHEN TRY_CAST(doc->>'$.status_code' AS INTEGER) BETWEEN 200 AND 299
                 AND NOT coalesce(json_valid(doc->>'$.response'), FALSE) THEN 'the response column is missing or is not valid JSON'
        END AS problem
    FROM {raw}
    """
