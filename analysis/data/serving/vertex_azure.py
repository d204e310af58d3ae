"""Google Vertex AI request-response logging and Azure ML's data collector.

Vertex AI ("Online prediction logging", cloud.google.com/vertex-ai/docs/predictions/
online-prediction-logging) writes one BigQuery row per request: ``endpoint``,
``deployed_model_id`` (the model version), ``logging_time``, ``request_id``,
``request_payload`` and ``response_payload`` (repeated strings, one JSON instance or
prediction each); exported as JSON lines or Parquet.

Azure ML's data collector ("Collect production data from models deployed for real-time
inferencing", learn.microsoft.com/azure/machine-learning/how-to-collect-production-data)
writes JSON lines in CloudEvents form: ``type`` ``azureml.inference.model_inputs`` or
``...model_outputs``, ``data`` (the rows, as a list of records), ``correlationid`` (shared by
a request's inputs and outputs), ``time``, and ``modelversion``, under
``<collection>/yyyy/mm/dd/hh/`` folders.
"""

from __future__ import annotations

from analysis.data.serving.events import EventLayout, paired_requests_sql
from analysis.data.serving.payload import input_rows, output_rows

VERTEX_TITLE = "Vertex AI request-response log"
AZURE_TITLE = "Azure ML data collector log"
AZURE_TYPES = ("azureml.inference.model_inputs", "azureml.inference.model_outputs")


def is_vertex_row(record: dict) -> bool:
    return {"request_payload", "response_payload"} <= set(record)


def is_azure_event(record: dict) -> bool:
    return record.get("type") in AZURE_TYPES and "correlationid" in record


def _parsed(column: str) -> str:
    return f"list_transform(json_extract_string(doc, '$.{column}[*]'), lambda s: TRY_CAST(s AS JSON))"


def _unreadable(column: str) -> str:
    return f"list_bool_or(list_transform(json_extract_string(doc, '$.{column}[*]'), lambda s: NOT json_valid(s)))"


def vertex_requests_sql(raw: str) -> str:
    return f"""
    SELECT file, record, doc->>'$.request_id' AS request_id, doc->>'$.logging_time' AS event_time,
        doc->>'$.deployed_model_id' AS model_version, CAST(NULL AS INTEGER) AS status,
        {input_rows(f"json_object('instances', {_parsed('request_payload')})")} AS rows,
        CASE WHEN json_array_length(doc, '$.response_payload') > 0
             THEN {output_rows(f"json_object('predictions', {_parsed('response_payload')})")} END AS outputs,
        CASE
            WHEN coalesce(json_array_length(doc, '$.request_payload'), 0) = 0 THEN 'request_payload is missing or empty'
            WHEN {_unreadable('request_payload')} THEN 'an element of request_payload is not valid JSON'
            WHEN {_unreadable('response_payload')} THEN 'an element of response_payload is not valid JSON'
        END AS problem
    FROM {raw}
    """


AZURE_LAYOUT = EventLayout(
    event_id="doc->>'$.correlationid'",
    is_input="(doc->>'$.type') = 'azureml.inference.model_inputs'",
    is_output="(doc->>'$.type') = 'azureml.inference.model_outputs'",
    body="CASE WHEN json_type(doc, '$.data') = 'VARCHAR' THEN TRY_CAST(doc->>'$.data' AS JSON) "
         "ELSE json_extract(doc, '$.data') END",
    time="doc->>'$.time'",
    version="doc->>'$.modelversion'",
    kind="doc->>'$.type'",
)


def azure_requests_sql(raw: str) -> str:
    return paired_requests_sql(raw, AZURE_LAYOUT)
