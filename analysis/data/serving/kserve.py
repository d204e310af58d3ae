"""KServe and Seldon payload logs: CloudEvents for each request and each response.

Documented in KServe's "Inference Logger" (kserve.github.io/website/docs/model-serving/
predictive-inference/logger): the logger posts a CloudEvent of type
``org.kubeflow.serving.inference.request`` and one of type ``...inference.response`` with the
same ``id``, plus the extensions ``inferenceservicename``, ``namespace``, ``component`` and
``endpoint``; the sink writes them as structured CloudEvents JSON (``specversion``, ``id``,
``type``, ``time``, ``data`` or ``data_base64``). Bodies are V1 (``instances`` /
``predictions``) or the V2 Open Inference Protocol (``inputs`` / ``outputs`` tensors with
``name``, ``shape``, ``datatype``, ``data``, and ``model_version`` in the response); Seldon's
logger uses ``io.seldon.serving.inference.*`` types and ``data.ndarray`` bodies.
"""

from __future__ import annotations

from analysis.data.serving.events import EventLayout, paired_requests_sql

TITLE = "KServe/Seldon payload log (CloudEvents)"
EVENT_TYPES = ("org.kubeflow.serving.inference.", "io.seldon.serving.inference.")


def is_event(record: dict) -> bool:
    kind = record.get("type")
    return "specversion" in record and isinstance(kind, str) and kind.startswith(EVENT_TYPES)


BODY = (
    "CASE WHEN json_type(doc, '$.data') = 'VARCHAR' THEN TRY_CAST(doc->>'$.data' AS JSON) "
    "WHEN json_exists(doc, '$.data') THEN json_extract(doc, '$.data') "
    "ELSE TRY_CAST(try(decode(from_base64(doc->>'$.data_base64'))) AS JSON) END"
)

LAYOUT = EventLayout(
    event_id="doc->>'$.id'",
    is_input="(doc->>'$.type') LIKE '%.inference.request'",
    is_output="(doc->>'$.type') LIKE '%.inference.response'",
    body=BODY,
    time="doc->>'$.time'",
    version=f"coalesce(({BODY})->>'$.model_version', doc->>'$.inferenceservicename')",
    kind="doc->>'$.type'",
)


def requests_sql(raw: str) -> str:
    return paired_requests_sql(raw, LAYOUT)
