"""BentoML monitoring logs: ``bentoml.monitor`` data lines, one per prediction.

BentoML's default monitor (``bentoml/_internal/monitoring/default.py``; "Monitoring and data
collection" in docs.bentoml.com) writes, per monitor, ``<name>/data/data.<worker>.log`` (JSON
lines of the logged columns plus ``timestamp``, ``request_id`` and ``trace_id``, rotated daily
to ``data.<worker>.log.<date>``) and ``<name>/schema/schema.<worker>.log`` (``meta_data``
{bento_name, bento_version} and ``columns`` [{name, role, type}]). The schema record is what
identifies the shape; the bento version it names is the model version of the monitor's rows.
Data lines are already one row per prediction; their columns keep their logged names. The
schema's column roles (``feature``, ``prediction``, ``target``) are what the service declared
each column to be, so :func:`declared_roles` hands them to role detection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from analysis.data.serving.raw import first_records

NAME = "bentoml-monitoring"
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


def declared_roles(paths: Sequence[str | Path]) -> dict[str, str]:
    """{column: BentoML role} from the schema files among ``paths`` (``<monitor>/schema/``),
    the later record winning, as the monitor rewrites its schema when the service changes."""
    roles: dict[str, str] = {}
    for path in (Path(p) for p in paths):
        if path.parent.name != "schema":
            continue
        for line in first_records(path):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict) and is_schema(record):
                roles.update({c["name"]: str(c.get("role")) for c in record["columns"]
                              if isinstance(c, dict) and isinstance(c.get("name"), str)})
    return roles
