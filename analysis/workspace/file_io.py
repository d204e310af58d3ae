"""Reading a workspace file without running anything in it, and writing one atomically.

A ``*.sleuth`` file is a DuckDB database, and a database can hold views, macros and defaults
that run when queried or when a row is inserted. A workspace received from someone else must
not be able to read a file, run a query of its own, hang Sleuth or redefine a function Sleuth
calls (a macro named ``max``). So a file is never opened as the main database of a connection
until it has been checked: it is attached read-only to a fresh in-memory connection whose
external access is then switched off, only the tables of :data:`~analysis.workspace.schema.TABLES`
are read, by name, schema-qualified, with their expected columns, and every other object is
listed, never queried. A file whose structure is not exactly what Sleuth writes is rebuilt from
those rows into a new file that replaces it atomically.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analysis.errors import InputError
from analysis.query import ident, literal
from analysis.workspace.schema import SCHEMA_VERSION, TABLES, TABLES_BY_NAME, Table

QUARANTINE = "quarantined"
SAFE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
WORKING_CONFIG = {**SAFE_CONFIG, "enable_external_access": False}

# Everything a database defines, one query per kind, limited to one database: the attached file,
# or the in-memory reference of :func:`_reference`. ``duckdb_*()`` are table functions of the
# system catalog: a macro stored in the attached file is not on the search path, so it cannot
# stand in for them.
_INVENTORY = {
    "table": "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
    "view": "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
    "macro": "SELECT schema_name, function_name FROM duckdb_functions() WHERE database_name = ? AND NOT internal",
    "sequence": "SELECT schema_name, sequence_name FROM duckdb_sequences() WHERE database_name = ?",
    "type": "SELECT schema_name, type_name FROM duckdb_types() WHERE database_name = ? AND NOT internal",
    "index": "SELECT schema_name, index_name FROM duckdb_indexes() WHERE database_name = ?",
    "schema": "SELECT schema_name, schema_name FROM duckdb_schemas() "
              "WHERE database_name = ? AND NOT internal AND schema_name <> 'main'",
}
_TRIGGERS = "SELECT schema_name, trigger_name FROM duckdb_triggers() WHERE database_name = ?"
"""A trigger stored in the file would run on Sleuth's own edits of its table (a DuckDB without
``duckdb_triggers()`` has no triggers to list)."""
_STRUCTURE = {
    "column": "SELECT table_name, column_name, data_type, column_default, is_nullable "
              "FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main'",
    "constraint": "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() "
                  "WHERE database_name = ? AND schema_name = 'main'",
}
_REFERENCE = "memory"
"""The in-memory database holding the tables Sleuth itself writes, which the file is compared with."""


@dataclass
class Contents:
    """The rows of each known table, the schema version, and what was left out."""

    rows: dict[str, list[tuple]]
    version: int
    ignored: list[str] = field(default_factory=list)
    needs_rewrite: bool = False

    def notes(self, path: Path) -> list[str]:
        if not self.ignored:
            return []
        return [f"{path}: ignored and removed what Sleuth does not write: {', '.join(self.ignored)}"]


def read_workspace(path: Path) -> Contents:
    """The known tables of the workspace at ``path``; raises :class:`InputError` in one sentence."""
    _check_is_duckdb_file(path)
    con = duckdb.connect(":memory:", config=SAFE_CONFIG)
    try:
        try:
            con.execute(f"ATTACH {literal(str(path))} AS {QUARANTINE} (READ_ONLY)")
        except duckdb.IOException as exc:
            raise InputError(f"cannot open the workspace ({_first_line(exc)})", file=str(path)) from exc
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return _copy_out(con, path)
    except duckdb.Error as exc:
        raise InputError(f"not a readable Sleuth workspace ({_first_line(exc)})", file=str(path)) from exc
    finally:
        con.close()


def _copy_out(con: duckdb.DuckDBPyConnection, path: Path) -> Contents:
    reference = _reference()
    found = _catalog(con, reference.queries)
    tables = {name for schema, name in found.pop("table") if schema == "main"}
    if "meta" not in tables:
        if tables or any(found.values()):
            raise InputError("this DuckDB file is not a Sleuth workspace", file=str(path))
        return Contents({}, 0, needs_rewrite=True)
    structure = _catalog(con, _STRUCTURE, sort_key=repr)
    types = _column_types(structure["column"])
    _check_columns(TABLES_BY_NAME["meta"], types, path)
    meta_rows = _fetch(con, TABLES_BY_NAME["meta"])
    version = _schema_version(meta_rows, path)
    ignored = [f"{kind} '{name}'" for kind, objects in found.items() for _schema, name in objects]
    ignored += [f"table '{name}'" for name in sorted(tables - {t.name for t in TABLES})]
    counts = _row_counts(con, [table for table in TABLES if table.name in tables and table.name != "meta"])
    rows = {}
    for table in TABLES:
        if table.name == "meta":
            rows[table.name] = _checked_rows(table, meta_rows, path)
        elif table.name in tables:
            _check_columns(table, types, path)
            rows[table.name] = _checked_rows(table, _fetch(con, table), path) if counts[table.name] else []
        elif table.since <= version:
            raise InputError(f"table '{table.name}' is missing", file=str(path))
    same_structure = (structure == reference.structure and found == reference.inventory
                      and tables == set(TABLES_BY_NAME))
    return Contents(migrated(rows, version), version, ignored,
                    needs_rewrite=version < SCHEMA_VERSION or not same_structure)


def migrated(rows: dict[str, list[tuple]], version: int) -> dict[str, list[tuple]]:
    """The rows of a file of schema ``version`` as the current schema holds them, where a new
    table's rows follow from older ones (a new table that does not starts empty).

    12 added ``checks``, each log's last check with how many findings it had: a file from
    before knows a check ran where it kept findings, with their reference and time; a check
    that found nothing left no row then, so such a log is checked once more and then kept."""
    if version < 12 and not rows.get("checks"):
        last: dict[str, tuple] = {}
        for dataset, _position, _key, _document, reference, checked_at in rows.get("findings", []):
            count = last.get(dataset, (None, 0))[1] + 1
            last[dataset] = (reference, count, checked_at)
        rows = {**rows, "checks": [(dataset, *kept) for dataset, kept in sorted(last.items())]}
    return rows


@dataclass(frozen=True)
class _Reference:
    """What the catalog lists of the tables Sleuth itself writes: every kind of object but the
    tables (``inventory``, by the ``queries`` this DuckDB answers), and their columns and
    constraints (``structure``); each opened file is compared with it."""

    queries: dict[str, str]
    inventory: dict[str, list[tuple]]
    structure: dict[str, list[tuple]]


@functools.cache
def _reference() -> _Reference:
    """The reference depends only on :data:`TABLES` and the DuckDB in use, so it is built once
    per process in a scratch in-memory database, where each open created the tables anew
    beside the file it read."""
    con = duckdb.connect(":memory:", config=SAFE_CONFIG)
    try:
        for table in TABLES:
            con.execute(table.create_statement())
        has_triggers = con.execute("SELECT count(*) FROM duckdb_functions() "
                                   "WHERE function_name = 'duckdb_triggers'").fetchone()[0] > 0
        queries = {**_INVENTORY, "trigger": _TRIGGERS} if has_triggers else _INVENTORY
        inventory = _catalog(con, queries, database=_REFERENCE)
        inventory.pop("table")
        return _Reference(queries, inventory, _catalog(con, _STRUCTURE, database=_REFERENCE, sort_key=repr))
    finally:
        con.close()


def _catalog(con: duckdb.DuckDBPyConnection, queries: dict[str, str], database: str = QUARANTINE,
             sort_key=None) -> dict[str, list[tuple]]:
    """What ``queries`` list of ``database``, by kind, each sorted. A catalog function lists every
    database's objects before the filter (``duckdb_functions()`` walks DuckDB's thousands of
    built-in functions, 15 ms a query), so each kind is one query, never one per table."""
    return {kind: sorted(con.execute(sql, [database]).fetchall(), key=sort_key)
            for kind, sql in queries.items()}


def _column_types(columns: list[tuple]) -> dict[str, dict[str, str]]:
    """Each table's column types, from the file's one column listing of :data:`_STRUCTURE`."""
    types: dict[str, dict[str, str]] = {}
    for table_name, column_name, data_type, *_ in columns:
        types.setdefault(table_name, {})[column_name] = data_type
    return types


def _schema_version(meta_rows: list[tuple], path: Path) -> int:
    values = [value for key, value in meta_rows if key == "schema_version"]
    if not values:
        return 0
    try:
        version = json.loads(values[0]) if values[0] is not None else None
    except ValueError:
        version = None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InputError(f"its schema_version {values[0]!r} is not a version number", file=str(path))
    if version > SCHEMA_VERSION:
        raise InputError(f"this workspace was written by a newer Sleuth (schema {version}); update Sleuth to open it",
                         file=str(path))
    return version


def _check_columns(table: Table, types: dict[str, dict[str, str]], path: Path) -> None:
    found = types.get(table.name, {})
    for column in table.columns:
        if column.name not in found:
            raise InputError(f"table '{table.name}' has no column '{column.name}'", file=str(path))
        if found[column.name] != column.type:
            raise InputError(f"table '{table.name}', column '{column.name}' is {found[column.name]}, "
                             f"not {column.type}", file=str(path))


def _fetch(con: duckdb.DuckDBPyConnection, table: Table) -> list[tuple]:
    """The expected columns of ``table`` (checked by :func:`_check_columns`), read by name."""
    return con.execute(table.select_statement(QUARANTINE)).fetchall()


def _row_counts(con: duckdb.DuckDBPyConnection, tables: list[Table]) -> dict[str, int]:
    """How many rows each of ``tables`` holds, in one statement: most of a workspace's tables
    are empty, and reading each of them was a statement of its own."""
    if not tables:
        return {}
    counts = ", ".join(f"(SELECT count(*) FROM {ident(QUARANTINE)}.main.{ident(table.name)})" for table in tables)
    return dict(zip((table.name for table in tables), con.execute(f"SELECT {counts}").fetchone()))


def _checked_rows(table: Table, rows: list[tuple], path: Path) -> list[tuple]:
    keys = set()
    for number, row in enumerate(rows, start=1):
        for column, value in zip(table.columns, row):
            where = f"table '{table.name}', row {number}, column '{column.name}'"
            if value is None and column.required:
                raise InputError(f"{where} is empty", file=str(path))
            if value is not None and column.json and not _is_json(value):
                raise InputError(f"{where} is not valid JSON", file=str(path))
        if table.key_columns:
            key = tuple(row[table.column_names.index(name)] for name in table.key_columns)
            if key in keys:
                shown = key[0] if len(key) == 1 else key
                raise InputError(f"table '{table.name}' holds '{shown}' twice", file=str(path))
            keys.add(key)
    return rows


def _is_json(text: Any) -> bool:
    try:
        json.loads(text)
    except (TypeError, ValueError):
        return False
    return True


def write_workspace(target: Path, rows: dict[str, list[tuple]]) -> None:
    """Write a complete new workspace beside ``target``, then move it over ``target`` at once.

    A crash leaves either the old file or the new one, never half of either. The schema
    version written is always the current one. The staging file is written in one transaction:
    nothing reads it before it is complete, and a commit per table paid a write-ahead log
    write and fsync each.
    """
    rows = {**rows, "meta": [r for r in rows.get("meta", []) if r[0] != "schema_version"]
            + [("schema_version", json.dumps(SCHEMA_VERSION))]}
    staging = target.with_name(f".{target.name}.{os.getpid()}.saving")
    _remove_database(staging)
    try:
        con = duckdb.connect(str(staging), config=WORKING_CONFIG)
        try:
            con.execute("BEGIN TRANSACTION")
            for table in TABLES:
                con.execute(table.create_statement())
                if rows.get(table.name):
                    con.executemany(table.insert_statement(), rows[table.name])
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _remove_database(target, keep_file=True)  # a stale write-ahead log would replay onto the new file
        os.replace(staging, target)
    except (OSError, duckdb.Error) as exc:
        _remove_database(staging)
        raise InputError(f"cannot write the workspace ({_first_line(exc)})", file=str(target)) from exc


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every known table's rows from a workspace Sleuth has open (already checked)."""
    return {table.name: con.execute(table.select_statement(None)).fetchall() for table in TABLES}


def _remove_database(path: Path, keep_file: bool = False) -> None:
    for leftover in ([] if keep_file else [path]) + [path.with_name(path.name + ".wal")]:
        if leftover.is_file():
            leftover.unlink()


def _check_is_duckdb_file(path: Path) -> None:
    """Refuse what is not a DuckDB database file before DuckDB tries (and maybe downloads)."""
    if path.is_dir():
        raise InputError("this is a folder, not a Sleuth workspace file", file=str(path))
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(f"cannot read the workspace ({exc.strerror or exc})", file=str(path)) from exc
    if head.startswith(b"SQLite format 3"):
        raise InputError("this is a SQLite file, not a Sleuth workspace", file=str(path))
    if len(head) < 12 or head[8:12] != b"DUCK":
        raise InputError("not a Sleuth workspace (not a DuckDB database file)", file=str(path))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
