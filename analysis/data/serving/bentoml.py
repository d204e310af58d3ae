"""BentoML monitoring logs: ``bentoml.monitor`` data lines, one per prediction.

BentoML's default monitor (``bentoml/_internal/monitoring/default.py``; "Monitoring and data
collection" in docs.bentoml.com) writes, per monitor, ``<name>/data/data.<worker>.log`` (JSON
lines of the logged columns plus ``timestamp``, ``request_id`` and ``trace_id``, rotated daily
to ``data.<worker>.log.<date>``) and ``<name>/schema/schema.<worker>.log`` (``meta_data``
{bento_name, bento_version} and ``columns`` [{name, role, type}]). The schema record is what
identifies the shape; the bento version it names is the model version of the monitor's rows.
Data lines are already one row per prediction; their columns keep their logged names.
"""

from __future__ import annotations

TITLE = "BentoML monitoring log"
PRESERVED = ("timestamp", "request_id", "trace_id")
MONITOR = r"[/\\](data|schema)[/\\][^/\\]+$"


def is_schema(record: dict) -> bool:
    return isinstance(record.get("meta_data"), dict) and isinstance(record.get("columns"), list)


def requests_sql(raw: str) -> str:
    drop = ", ".join(f'"{name}": null' for name in PRESERVED)
    return f"""
    WITH versions AS (
        SELECT regexp_replace(file, '{MONITOR}', '') AS monitor,
               arg_max(doc->>'$.meta_data.bento_version', file || lpad(CAST(record AS VARCHAR), 12, '0')) AS version
        FROM {raw} WHERE json_exists(doc, '$.meta_data') GROUP BY ALL)
    SELECT file, record, doc->>'$.request_id' AS request_id, doc->>'$.timestamp' AS event_time,
        v.version AS model_version, CAST(NULL AS INTEGER) AS status,
        json_array(json_merge_patch(doc, '{{{drop}}}')) AS rows, CAST(NULL AS JSON) AS outputs,
        CASE WHEN NOT json_exists(doc, '$.request_id') THEN 'the data line has no request_id' END AS problem
    FROM {raw} LEFT JOIN versions AS v ON regexp_replace(file, '{MONITOR}', '') = v.monitor
    WHERE NOT json_exists(doc, '$.meta_data')
    """
