"""Amazon SageMaker Data Capture: one JSON line per invocation.

Documented in "Data capture" (docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture):
``captureData.endpointInput`` / ``endpointOutput`` each carry ``observedContentType``, ``mode``,
``data`` and ``encoding`` (CSV, JSON or BASE64: the endpoint base64-encodes content types it
was not told are CSV or JSON); ``eventMetadata`` carries ``eventId``, the caller's optional
``inferenceId`` (what ground truth is keyed by) and ``inferenceTime``. A CSV or JSON-lines
(``application/jsonlines``) payload may hold several records, one per line. Files sit under ``<endpoint>/<variant>/yyyy/mm/dd/hh/``: the
variant is the model version, read from that layout when present.

Ground-truth records (``groundTruthData`` + ``eventMetadata.eventId``) are labels, read by
:mod:`analysis.data.labels`.
"""

from __future__ import annotations

from analysis.data.serving.payload import csv_rows, csv_values, input_rows, one_value_rows, output_rows

TITLE = "SageMaker Data Capture"
VARIANT_FROM_PATH = r"([^/\\]+)[/\\]\d{4}[/\\]\d{2}[/\\]\d{2}[/\\]\d{2}[/\\][^/\\]+$"


def is_capture(record: dict) -> bool:
    capture = record.get("captureData")
    return isinstance(capture, dict) and bool({"endpointInput", "endpointOutput"} & set(capture))


def _decoded(side: str) -> str:
    """The payload text of one side: base64 decoded in DuckDB; NULL when it does not decode."""
    data = f"doc->>'$.captureData.{side}.data'"
    return (f"CASE WHEN upper(doc->>'$.captureData.{side}.encoding') = 'BASE64' "
            f"THEN try(decode(from_base64({data}))) ELSE {data} END")


def _kind(side: str) -> str:
    return (f"CASE WHEN doc->>'$.captureData.{side}.observedContentType' ILIKE '%csv%' THEN 'csv' "
            f"WHEN doc->>'$.captureData.{side}.observedContentType' ILIKE '%jsonlines%' THEN 'jsonl' "
            f"WHEN doc->>'$.captureData.{side}.observedContentType' ILIKE '%json%' THEN 'json' "
            f"WHEN upper(doc->>'$.captureData.{side}.encoding') = 'CSV' THEN 'csv' "
            f"WHEN upper(doc->>'$.captureData.{side}.encoding') = 'JSON' THEN 'json' END")


def _json_text(kind: str, text: str) -> str:
    """The payload as one JSON text: JSON lines (``application/jsonlines``, one record per line)
    become a JSON list of the records."""
    lines = f"list_filter(string_split(replace({text}, chr(13), ''), chr(10)), lambda line: trim(line) <> '')"
    return f"CASE WHEN {kind} = 'jsonl' THEN '[' || array_to_string({lines}, ',') || ']' ELSE {text} END"


def requests_sql(raw: str) -> str:
    parts = (
        f"SELECT file, record, doc, in_kind, {_json_text('in_kind', 'in_raw')} AS in_text, "
        f"out_kind, {_json_text('out_kind', 'out_raw')} AS out_text, has_output FROM ("
        f"SELECT file, record, doc, {_kind('endpointInput')} AS in_kind, {_decoded('endpointInput')} AS in_raw, "
        f"{_kind('endpointOutput')} AS out_kind, {_decoded('endpointOutput')} AS out_raw, "
        f"json_exists(doc, '$.captureData.endpointOutput') AS has_output FROM {raw})"
    )
    return f"""
    SELECT file, record,
        coalesce(doc->>'$.eventMetadata.inferenceId', doc->>'$.eventMetadata.eventId') AS request_id,
        doc->>'$.eventMetadata.inferenceTime' AS event_time,
        nullif(regexp_extract(file, '{VARIANT_FROM_PATH}', 1), '') AS model_version,
        CAST(NULL AS INTEGER) AS status,
        CASE WHEN in_kind = 'csv' THEN {csv_rows('in_text')} WHEN in_kind IN ('json', 'jsonl') THEN {input_rows('TRY_CAST(in_text AS JSON)')} END AS rows,
        CASE WHEN out_kind = 'csv' THEN {one_value_rows(csv_values('out_text'))} WHEN out_kind IN ('json', 'jsonl') THEN {output_rows('TRY_CAST(out_text AS JSON)')} END AS outputs,
        CASE
            WHEN NOT json_exists(doc, '$.captureData.endpointInput') THEN 'no captureData.endpointInput in this record'
            WHEN in_text IS NULL THEN 'endpointInput data is missing or is not valid base64 text'
            WHEN in_kind IS NULL THEN 'endpointInput content type ' || coalesce(doc->>'$.captureData.endpointInput.observedContentType', '(none)') || ' is neither CSV nor JSON'
            WHEN in_kind IN ('json', 'jsonl') AND NOT json_valid(in_text) THEN 'endpointInput data is not valid JSON'
            WHEN has_output AND out_text IS NULL THEN 'endpointOutput data is missing or is not valid base64 text'
            WHEN has_output AND out_kind IS NULL THEN 'endpointOutput content type ' || coalesce(doc->>'$.captureData.endpointOutput.observedContentType', '(none)') || ' is neither CSV nor JSON'
            WHEN has_output AND out_kind IN ('json', 'jsonl') AND NOT json_valid(out_text) THEN 'endpointOutput data is not valid JSON'
        END AS problem
    FROM ({parts})
    """
