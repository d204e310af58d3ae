"""The one registry of what a workspace file holds: its tables, their columns and types.

Everything that reads or writes a ``*.sleuth`` file derives from :data:`TABLES`: the CREATE
statements of a new file, the columns copied out of a file being opened (and nothing else
from it), the checks on those rows, and the upgrade of an older file (a table added in schema
version N is created empty when a file older than N is opened). A new table is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.query import ident

SCHEMA_VERSION = 12


@dataclass(frozen=True)
class Column:
    """One column; ``required`` columns may not be NULL, ``json`` ones must hold JSON text."""

    name: str
    type: str
    required: bool = True
    json: bool = False
    comment: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: str | tuple[str, ...] | None = None  # the primary key: one column, several, or none
    since: int = 1  # the schema version that added the table

    @property
    def key_columns(self) -> tuple[str, ...]:
        return () if self.key is None else (self.key,) if isinstance(self.key, str) else self.key

    def create_statement(self) -> str:
        parts = [f"{ident(c.name)} {c.type}" for c in self.columns]
        if self.key_columns:
            parts.append(f"PRIMARY KEY ({', '.join(ident(k) for k in self.key_columns)})")
        return f"CREATE TABLE {ident(self.name)} ({', '.join(parts)})"

    def select_statement(self, database: str | None) -> str:
        """Read exactly the expected columns, qualified by ``database`` when it is an attached one."""
        names = ", ".join(ident(c.name) for c in self.columns)
        source = f"{ident(database)}.main.{ident(self.name)}" if database else ident(self.name)
        return f"SELECT {names} FROM {source}"

    def insert_statement(self) -> str:
        return f"INSERT INTO {ident(self.name)} VALUES ({', '.join('?' for _ in self.columns)})"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


TABLES: tuple[Table, ...] = (
    Table("meta", (Column("key", "VARCHAR"), Column("value", "VARCHAR", json=True)), key="key"),
    Table(
        "datasets",
        (
            Column("name", "VARCHAR"),
            Column("position", "INTEGER"),
            Column("paths", "VARCHAR", json=True, comment="JSON list"),
            Column("format", "VARCHAR"),
            Column("kind", "VARCHAR", required=False),
            Column("roles", "VARCHAR", required=False, json=True, comment="JSON RoleMap or NULL"),
            Column("added_at", "TIMESTAMP", required=False),
        ),
        key="name",
    ),
    # A slice or card this version cannot read is skipped with a note when it is used, so
    # their documents are not checked as JSON here.
    Table("slices", (Column("name", "VARCHAR"), Column("document", "VARCHAR"),
                     Column("saved_at", "TIMESTAMP", required=False)), key="name", since=2),
    Table("version_cards", (Column("version", "VARCHAR"), Column("document", "VARCHAR")), key="version", since=3),
    Table(
        "decisions",  # append-only: the history of each finding key
        (Column("position", "INTEGER"), Column("check_key", "VARCHAR"), Column("document", "VARCHAR", json=True),
         Column("saved_at", "TIMESTAMP", required=False)),
        since=4,
    ),
    Table("profiles", (Column("dataset", "VARCHAR"), Column("document", "VARCHAR", json=True),
                       Column("saved_at", "TIMESTAMP", required=False)), key="dataset", since=4),
    Table(  # the last check's findings of each log, shown again when the log reopens
        "findings",
        (Column("dataset", "VARCHAR"), Column("position", "INTEGER"), Column("finding_key", "VARCHAR"),
         Column("document", "VARCHAR", json=True, comment="analysis.triage.check_report.finding_to_dict"),
         Column("reference", "VARCHAR", required=False, comment="the reference the check used, in words"),
         Column("checked_at", "TIMESTAMP", required=False)),
        key=("dataset", "position"), since=8,
    ),
    Table(  # each log's last check, whether it found anything: a clean log is not checked again at intake
        "checks",
        (Column("dataset", "VARCHAR"), Column("reference", "VARCHAR", required=False, comment="as findings"),
         Column("findings", "INTEGER", comment="how many it found; 0 is a clean check"),
         Column("checked_at", "TIMESTAMP", required=False)),
        key="dataset", since=12,
    ),
    Table("check_references", (Column("dataset", "VARCHAR"),
                               Column("document", "VARCHAR", json=True, comment="check_report.Reference + since"),
                               Column("saved_at", "TIMESTAMP", required=False)), key="dataset", since=8),
    Table(
        "rule_sets",  # append-only: every rule-set version of every base (analysis.rules)
        (Column("base", "VARCHAR"), Column("number", "INTEGER"),
         Column("document", "VARCHAR", json=True, comment="RuleSet JSON"),
         Column("saved_at", "TIMESTAMP", required=False)),
        since=5,
    ),
    Table(
        "golden_requests",  # append-only: one row per golden request (analysis.golden)
        (Column("golden_version", "INTEGER", comment="the addition that brought it; version N holds 1..N"),
         Column("request_id", "VARCHAR"), Column("golden_group", "VARCHAR", required=False),
         Column("source_dataset", "VARCHAR", required=False), Column("source_row", "BIGINT", required=False),
         Column("source_version", "VARCHAR", required=False), Column("label", "VARCHAR"),
         Column("recorded_prediction", "VARCHAR", required=False), Column("recorded_score", "DOUBLE", required=False),
         Column("recorded_correct", "BOOLEAN", required=False),
         Column("inputs", "VARCHAR", json=True, comment="the request's features, as a JSON object")),
        key="request_id", since=5,
    ),
    Table(
        "golden_versions",  # append-only: one row per addition to the golden set
        (Column("golden_version", "INTEGER"), Column("golden_group", "VARCHAR", required=False),
         Column("source", "VARCHAR", required=False), Column("added", "INTEGER"),
         Column("saved_at", "TIMESTAMP", required=False)),
        key="golden_version", since=5,
    ),
    # The failure queue of the weekly review (analysis.queue): links to log rows, never copies.
    Table(
        "queue_items",
        (Column("item_key", "VARCHAR", comment="request id (or dataset + row number) + version"),
         Column("dataset", "VARCHAR"), Column("row_key", "VARCHAR"), Column("row_number", "BIGINT"),
         Column("version", "VARCHAR", required=False), Column("label", "VARCHAR", required=False),
         Column("prediction", "VARCHAR", required=False), Column("loss", "DOUBLE", required=False),
         Column("observed_at", "TIMESTAMP", required=False), Column("group_id", "BIGINT", required=False),
         Column("pinned", "BOOLEAN", required=False), Column("status", "VARCHAR", required=False),
         Column("added_at", "TIMESTAMP", required=False)),
        key="item_key", since=5,
    ),
    Table(
        "queue_groups",
        (Column("group_id", "BIGINT"), Column("group_key", "VARCHAR", required=False),
         Column("reason", "VARCHAR", required=False), Column("title", "VARCHAR", required=False),
         Column("dataset", "VARCHAR", required=False), Column("version", "VARCHAR", required=False),
         Column("slice", "VARCHAR", required=False, json=True), Column("evidence", "VARCHAR", required=False, json=True),
         Column("status", "VARCHAR", required=False), Column("owner", "VARCHAR", required=False),
         Column("tags", "VARCHAR", required=False, json=True), Column("decision", "VARCHAR", required=False),
         Column("rationale", "VARCHAR", required=False), Column("decided_at", "TIMESTAMP", required=False),
         Column("followup", "VARCHAR", required=False, json=True), Column("merged_into", "BIGINT", required=False),
         Column("created_at", "TIMESTAMP", required=False)),
        key="group_id", since=5,
    ),
    Table("queue_group_counts", (Column("group_id", "BIGINT"), Column("dataset", "VARCHAR"),
                                 Column("failures", "BIGINT", required=False)),
          key=("group_id", "dataset"), since=5),
    Table("queue_counted",  # failures counted in a group's impact but left out of its items by a sample
          (Column("item_key", "VARCHAR", comment="as queue_items: request id (or dataset + row number) + version"),
           Column("dataset", "VARCHAR"), Column("group_id", "BIGINT", required=False)),
          key="item_key", since=11),
    Table("queue_notes", (Column("note_id", "BIGINT"), Column("group_id", "BIGINT", required=False),
                          Column("made_at", "TIMESTAMP", required=False), Column("who", "VARCHAR", required=False),
                          Column("text", "VARCHAR", required=False)), key="note_id", since=5),
    Table(
        "queue_history",  # append-only: who changed what and when
        (Column("position", "BIGINT"), Column("made_at", "TIMESTAMP", required=False),
         Column("who", "VARCHAR", required=False), Column("target", "VARCHAR", required=False),
         Column("what", "VARCHAR", required=False), Column("before", "VARCHAR", required=False, json=True),
         Column("after", "VARCHAR", required=False, json=True)),
        key="position", since=5,
    ),
    Table("queue_taxonomy", (Column("tag", "VARCHAR"), Column("parent", "VARCHAR", required=False),
                             Column("position", "INTEGER", required=False)), key="tag", since=5),
    Table(
        "queue_intakes",  # each intake run, so "failures since the last review" has a start
        (Column("intake_id", "BIGINT"), Column("made_at", "TIMESTAMP", required=False),
         Column("dataset", "VARCHAR", required=False), Column("condition", "VARCHAR", required=False),
         Column("added", "BIGINT", required=False), Column("duplicates", "BIGINT", required=False),
         Column("period_end", "TIMESTAMP", required=False)),
        key="intake_id", since=5,
    ),
    Table(
        "label_joins",  # labels that arrived later, joined to a registered log (analysis.data.labels)
        (Column("dataset", "VARCHAR", comment="the joined dataset's name in datasets"),
         Column("labels", "VARCHAR", json=True, comment="JSON list of the labels files"),
         Column("on_column", "VARCHAR", required=False, comment="the labels' id column, NULL: detected"),
         Column("joined_at", "TIMESTAMP", required=False)),
        key="dataset", since=6,
    ),
    Table("queue_meetings",  # each review meeting: when, who was there
          (Column("meeting_id", "BIGINT"), Column("held_at", "TIMESTAMP"),
           Column("attendees", "VARCHAR", json=True, comment="JSON list of names"),
           Column("ended_at", "TIMESTAMP", required=False)), key="meeting_id", since=7),
    Table("queue_meeting_decisions",  # the decisions a meeting took, so the report can say where
          (Column("record_id", "BIGINT"), Column("meeting_id", "BIGINT"), Column("group_id", "BIGINT"),
           Column("decision", "VARCHAR"), Column("made_at", "TIMESTAMP")), key="record_id", since=7),
    Table(
        "compare_verdicts",  # append-only: each finished comparison, so the review's report lists them
        (Column("position", "BIGINT"), Column("dataset", "VARCHAR", required=False),
         Column("base", "VARCHAR"), Column("candidate", "VARCHAR"),
         Column("document", "VARCHAR", json=True, comment="analysis.compare.verdicts.verdict_record"),
         Column("compared_at", "TIMESTAMP")),
        key="position", since=9,
    ),
    Table(
        "spark_pulls",  # a log pulled from Spark (File > Connect to Spark…): how to pull it again
        (Column("dataset", "VARCHAR", comment="the pulled dataset's name in datasets"),
         Column("document", "VARCHAR", json=True, comment="SparkSource: URL without parameters, table, rows, where"),
         Column("pulled_at", "TIMESTAMP", required=False)),
        key="dataset", since=10,
    ),
)

TABLES_BY_NAME = {table.name: table for table in TABLES}
