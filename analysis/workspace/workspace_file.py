"""The workspace: a ``*.sleuth`` file that is a DuckDB database of everything the user set up.

It keeps dataset registrations (paths, format, column roles), saved slices, version cards,
reference profiles and the decisions taken on findings, and later the failure queue and notes. Every edit is one transaction committed when it is made,
so a crash loses nothing that was done and never leaves half an edit behind. Content is JSON
with a schema version, never pickle: a workspace received from someone else cannot run code.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import duckdb

from analysis.errors import InputError, SchemaError
from analysis.data.roles import RoleMap
from analysis.slices import Slice
from analysis.workspace.version_cards import VersionCard

SCHEMA_VERSION = 4
SUFFIX = ".sleuth"


@dataclass(frozen=True)
class DatasetEntry:
    """How to reopen one dataset: where its files are, their format, and the roles chosen."""

    name: str
    paths: tuple[str, ...]
    format: str
    roles: RoleMap | None
    kind: str = "log"  # "log" or "training"


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: lambda con: con.execute(
        """
        CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE IF NOT EXISTS datasets (
            name VARCHAR PRIMARY KEY,
            position INTEGER,
            paths VARCHAR,      -- JSON list
            format VARCHAR,
            kind VARCHAR,
            roles VARCHAR,      -- JSON RoleMap or NULL
            added_at TIMESTAMP
        );
        """
    ),
    2: lambda con: con.execute(
        """
        CREATE TABLE IF NOT EXISTS slices (
            name VARCHAR PRIMARY KEY,
            document VARCHAR,   -- Slice JSON (kind-tagged, versioned)
            saved_at TIMESTAMP
        );
        """
    ),
    3: lambda con: con.execute(
        """
        CREATE TABLE IF NOT EXISTS version_cards (
            version VARCHAR PRIMARY KEY,
            document VARCHAR    -- VersionCard JSON
        );
        """
    ),
    4: lambda con: con.execute(
        """
        CREATE TABLE IF NOT EXISTS decisions (   -- append-only: the history of each finding key
            position INTEGER,
            check_key VARCHAR,
            document VARCHAR,   -- Decision JSON
            saved_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS profiles (    -- reference profiles, by dataset name
            dataset VARCHAR PRIMARY KEY,
            document VARCHAR,   -- Profile JSON (the expectations format)
            saved_at TIMESTAMP
        );
        """
    ),
}


class Workspace:
    """An open ``*.sleuth`` file. Methods commit at once; reading never writes."""

    def __init__(self, path: str | Path, con: duckdb.DuckDBPyConnection, read_only_reason: str | None = None) -> None:
        self.path = Path(path)
        self._con = con
        self.read_only_reason = read_only_reason
        """Why edits are refused (the file is open in another Sleuth), or None when writable."""

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> "Workspace":
        """Open (or create) a workspace file, migrating it to the current schema."""
        path = Path(path).expanduser()
        if not path.exists() and not create:
            raise InputError("no such workspace file", file=str(path))
        if path.exists():
            _check_is_duckdb(path)
        try:
            con = duckdb.connect(
                str(path),
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise InputError(f"cannot open the workspace ({_first_line(exc)})", file=str(path)) from exc
            return cls(path, _read_only_copy(path), read_only_reason=_lock_holder(exc))
        except duckdb.Error as exc:
            raise InputError(f"not a Sleuth workspace ({_first_line(exc)})", file=str(path)) from exc
        workspace = cls(path, con)
        workspace._migrate()
        return workspace

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The workspace's connection, for capabilities that keep tables of their own (the queue)."""
        return self._con

    def transaction(self) -> "_Transaction":
        """One edit of those capabilities' tables, committed and checkpointed like every other."""
        return self._transaction()

    def _migrate(self) -> None:
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            self._con.close()
            raise InputError(
                f"this workspace was written by a newer Sleuth (schema {version}); update Sleuth to open it",
                file=str(self.path),
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                MIGRATIONS[target](self._con)
                self._con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target)]
                )

    def _schema_version(self) -> int:
        tables = {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" not in tables:
            if tables:
                raise InputError("this DuckDB file is not a Sleuth workspace", file=str(self.path))
            return 0
        row = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        return int(row[0][0]) if row else 0

    def _transaction(self):
        if self.read_only_reason:
            raise InputError(f"the workspace is read-only: {self.read_only_reason}", file=str(self.path))
        return _Transaction(self._con)

    def datasets(self) -> list[DatasetEntry]:
        rows = self._con.execute(
            "SELECT name, paths, format, roles, kind FROM datasets ORDER BY position, added_at"
        ).fetchall()
        return [
            DatasetEntry(
                name=name,
                paths=tuple(json.loads(paths)),
                format=fmt,
                roles=RoleMap.from_dict(json.loads(roles)) if roles else None,
                kind=kind or "log",
            )
            for name, paths, fmt, roles, kind in rows
        ]

    def save_dataset(self, entry: DatasetEntry) -> None:
        """Insert or update one registration (paths stored absolute, so the file can move)."""
        paths = json.dumps([str(Path(p).expanduser().resolve()) for p in entry.paths])
        roles = json.dumps(entry.roles.to_dict()) if entry.roles else None
        with self._transaction():
            existing = self._con.execute("SELECT position FROM datasets WHERE name = ?", [entry.name]).fetchall()
            if existing:
                self._con.execute(
                    "UPDATE datasets SET paths = ?, format = ?, kind = ?, roles = ? WHERE name = ?",
                    [paths, entry.format, entry.kind, roles, entry.name],
                )
            else:
                position = self._con.execute("SELECT coalesce(max(position) + 1, 0) FROM datasets").fetchall()[0][0]
                self._con.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [entry.name, position, paths, entry.format, entry.kind, roles, _dt.datetime.now()],
                )

    def save_roles(self, name: str, roles: RoleMap) -> None:
        with self._transaction():
            self._con.execute("UPDATE datasets SET roles = ? WHERE name = ?", [json.dumps(roles.to_dict()), name])

    def remove_dataset(self, name: str) -> None:
        with self._transaction():
            self._con.execute("DELETE FROM datasets WHERE name = ?", [name])

    def slices(self) -> tuple[list[Slice], list[str]]:
        """Saved slices, in the order saved, and a message for each one that cannot be read."""
        found, problems = [], []
        for name, document in self._con.execute("SELECT name, document FROM slices ORDER BY saved_at, name").fetchall():
            try:
                found.append(Slice.from_json(document))
            except SchemaError as exc:
                problems.append(f"saved slice '{name}' was skipped: {exc}")
        return found, problems

    def save_slice(self, saved: Slice) -> None:
        """Insert or replace the slice called ``saved.name``."""
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO slices VALUES (?, ?, ?)",
                              [saved.name, saved.to_json(), _dt.datetime.now()])

    def remove_slice(self, name: str) -> None:
        with self._transaction():
            self._con.execute("DELETE FROM slices WHERE name = ?", [name])

    def version_cards(self) -> dict[str, VersionCard]:
        cards = {}
        for version, document in self._con.execute("SELECT version, document FROM version_cards").fetchall():
            try:
                cards[version] = VersionCard.from_dict(json.loads(document))
            except (ValueError, SchemaError):
                continue  # an unreadable card falls back to the raw version string
        return cards

    def save_version_card(self, card: VersionCard) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO version_cards VALUES (?, ?)",
                              [card.version, json.dumps(card.to_dict())])

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision taken on findings, oldest first, as the JSON documents saved."""
        rows = self._con.execute("SELECT document FROM decisions ORDER BY position").fetchall()
        return [json.loads(document) for (document,) in rows]

    def add_decision(self, check_key: str, document: dict[str, Any]) -> None:
        with self._transaction():
            position = self._con.execute("SELECT coalesce(max(position) + 1, 0) FROM decisions").fetchall()[0][0]
            self._con.execute("INSERT INTO decisions VALUES (?, ?, ?, ?)",
                              [position, check_key, json.dumps(document), _dt.datetime.now()])

    def profile(self, dataset: str) -> str | None:
        """The saved reference profile of ``dataset`` (its JSON text), if any."""
        row = self._con.execute("SELECT document FROM profiles WHERE dataset = ?", [dataset]).fetchall()
        return row[0][0] if row else None

    def save_profile(self, dataset: str, document: str) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?)",
                              [dataset, document, _dt.datetime.now()])

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return json.loads(row[0][0]) if row else default

    def close(self) -> None:
        self._con.close()


class _Transaction:
    """BEGIN/COMMIT around one edit; ROLLBACK on any error so the file never holds half an edit."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def __enter__(self) -> None:
        self._con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._con.execute("COMMIT")
            self._con.execute("CHECKPOINT")
        else:
            self._con.execute("ROLLBACK")
        return False


def _check_is_duckdb(path: Path) -> None:
    """Refuse files that are not DuckDB databases before DuckDB tries (and maybe downloads)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3"):
        raise InputError("this is a SQLite file, not a Sleuth workspace", file=str(path))
    if len(head) >= 12 and head[8:12] != b"DUCK":
        raise InputError("not a Sleuth workspace (not a DuckDB database file)", file=str(path))


def _read_only_copy(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a copy of a workspace that another process holds: DuckDB lets one process write a
    file and refuses every other process, readers included. Every edit is checkpointed when
    made, so the file (and its write-ahead log, if any) holds every committed edit."""
    folder = Path(tempfile.mkdtemp(prefix="sleuth-readonly-"))
    atexit.register(shutil.rmtree, folder, True)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    try:
        return duckdb.connect(str(copy), read_only=True, config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False})
    except duckdb.Error as exc:
        raise InputError(f"the workspace is open in another Sleuth and its copy cannot be read "
                         f"({_first_line(exc)})", file=str(path)) from exc


def _lock_holder(exc: duckdb.Error) -> str:
    """'open in another Sleuth (PID 123)', from DuckDB's lock message."""
    pid = re.search(r"PID (\d+)", str(exc))
    return "it is open in another Sleuth" + (f" (PID {pid.group(1)})" if pid else "") + \
        "; this is a read-only copy of it as of opening"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
