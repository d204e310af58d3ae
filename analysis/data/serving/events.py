"""Request and response logged as two records sharing an id (CloudEvents-style loggers).

KServe's and Seldon's payload loggers and Azure ML's data collector write the model's input
and its output as separate events; a request is the pair with the same id. An output with no
input, an event of neither kind, or an id logged twice for one side is named, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.data.serving.payload import input_rows, output_rows


@dataclass(frozen=True)
class EventLayout:
    """SQL expressions over ``doc`` (one event) that say how a vendor writes its events."""

    event_id: str
    is_input: str
    is_output: str
    body: str
    time: str
    version: str
    kind: str


def paired_requests_sql(raw: str, layout: EventLayout) -> str:
    """Requests from input and output events joined by id, their bodies read by :mod:`.payload`."""
    events = (
        f"SELECT file, record, {layout.event_id} AS id, {layout.body} AS body, {layout.time} AS time, "
        f"{layout.version} AS version, {layout.kind} AS kind, "
        f"CASE WHEN {layout.is_input} THEN 'in' WHEN {layout.is_output} THEN 'out' END AS side, "
        f"count(*) OVER (PARTITION BY {layout.event_id}, "
        f"CASE WHEN {layout.is_input} THEN 'in' WHEN {layout.is_output} THEN 'out' END) AS copies FROM {raw}"
    )
    return f"""
    WITH ev AS ({events}),
         i AS (SELECT * FROM ev WHERE side = 'in'),
         o AS (SELECT * FROM ev WHERE side = 'out')
    SELECT coalesce(i.file, o.file) AS file, coalesce(i.record, o.record) AS record,
        coalesce(i.id, o.id) AS request_id, coalesce(i.time, o.time) AS event_time,
        coalesce(o.version, i.version) AS model_version, CAST(NULL AS INTEGER) AS status,
        {input_rows('i.body')} AS rows, {output_rows('o.body')} AS outputs,
        CASE
            WHEN coalesce(i.id, o.id) IS NULL THEN 'the event has no id, so its input and output cannot be paired'
            WHEN i.id IS NULL THEN 'an output event with no input event of the same id (' || o.id || ')'
            WHEN i.copies > 1 OR o.copies > 1 THEN 'the id ''' || i.id || ''' is logged by ' || greatest(i.copies, o.copies) || ' events of one kind'
            WHEN i.body IS NULL THEN 'the input event carries no readable data'
        END AS problem
    FROM i FULL OUTER JOIN o ON i.id = o.id
    UNION ALL
    SELECT file, record, id, time, version, NULL, NULL, NULL,
        'event type ' || coalesce(kind, '(none)') || ' is neither a logged input nor a logged output'
    FROM ev WHERE side IS NULL
    """
