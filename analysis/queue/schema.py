"""The failure queue's tables in the workspace: one CREATE statement per table.

Kept here, next to the code that reads them, in a shape a registry of workspace tables can
take as it is (name -> statement). Every statement is idempotent, so opening the queue on any
workspace creates what is missing and leaves the rest alone.
"""

from __future__ import annotations

STATUSES = ("new", "triaged", "decided", "awaiting verification", "verified", "regressed", "won't fix",
            "duplicate")
DECISIONS = ("golden", "rule", "collect", "relabel", "retrain", "fix", "none")
SEED_TAXONOMY = (
    ("data error", None), ("swap", "data error"), ("units", "data error"), ("nulls", "data error"),
    ("schema", "data error"), ("drift", None), ("label error", None), ("under-represented slice", None),
    ("new class", None), ("pipeline bug", None), ("ambiguous", None),
)

TABLES: dict[str, str] = {
    # One row per failed prediction: a link to the log's row, never a copy of it.
    "queue_items": """
        CREATE TABLE IF NOT EXISTS queue_items (
            item_key VARCHAR PRIMARY KEY,   -- request id (or dataset + row number) + version
            dataset VARCHAR,                -- the workspace dataset the row is in
            row_key VARCHAR,                -- the request id, or the row number without an id
            row_number BIGINT,              -- the row's _sleuth_row in that dataset
            version VARCHAR,
            label VARCHAR,
            prediction VARCHAR,
            loss DOUBLE,
            observed_at TIMESTAMP,          -- the prediction's time, when the log has one
            group_id BIGINT,
            pinned BOOLEAN,                 -- placed by a person: regrouping leaves it where it is
            status VARCHAR,
            added_at TIMESTAMP
        )""",
    # A group of failures and everything the review decides about it.
    "queue_groups": """
        CREATE TABLE IF NOT EXISTS queue_groups (
            group_id BIGINT PRIMARY KEY,
            group_key VARCHAR,              -- what grouping found it by (slice text + version), or manual
            reason VARCHAR,                 -- 'slice', 'unexplained' or 'manual': why these belong together
            title VARCHAR,
            dataset VARCHAR,
            version VARCHAR,
            slice VARCHAR,                  -- Slice JSON, or NULL
            evidence VARCHAR,               -- JSON: the slice's error, interval, series over time
            status VARCHAR,
            owner VARCHAR,
            tags VARCHAR,                   -- JSON list of cause tags
            decision VARCHAR,
            rationale VARCHAR,
            decided_at TIMESTAMP,
            followup VARCHAR,               -- JSON: the last measurement on later rows
            merged_into BIGINT,
            created_at TIMESTAMP
        )""",
    # How many failures each group had in each dataset, sampled or not: the latest intake of
    # that dataset sets it, so adding the same log twice does not count its failures twice.
    "queue_group_counts": """
        CREATE TABLE IF NOT EXISTS queue_group_counts (
            group_id BIGINT,
            dataset VARCHAR,
            failures BIGINT,
            PRIMARY KEY (group_id, dataset)
        )""",
    "queue_notes": """
        CREATE TABLE IF NOT EXISTS queue_notes (
            note_id BIGINT PRIMARY KEY,
            group_id BIGINT,
            made_at TIMESTAMP,
            who VARCHAR,
            text VARCHAR
        )""",
    # Append-only: who changed what and when.
    "queue_history": """
        CREATE TABLE IF NOT EXISTS queue_history (
            position BIGINT PRIMARY KEY,
            made_at TIMESTAMP,
            who VARCHAR,
            target VARCHAR,                 -- 'group 3', 'item <key>', 'taxonomy', 'intake'
            what VARCHAR,
            before VARCHAR,                 -- JSON
            after VARCHAR                   -- JSON
        )""",
    "queue_taxonomy": """
        CREATE TABLE IF NOT EXISTS queue_taxonomy (
            tag VARCHAR PRIMARY KEY,
            parent VARCHAR,
            position INTEGER
        )""",
    # Each intake run: what was read and when, so "failures since the last review" has a start.
    "queue_intakes": """
        CREATE TABLE IF NOT EXISTS queue_intakes (
            intake_id BIGINT PRIMARY KEY,
            made_at TIMESTAMP,
            dataset VARCHAR,
            condition VARCHAR,
            added BIGINT,
            duplicates BIGINT,
            period_end TIMESTAMP            -- the latest prediction time read
        )""",
}
