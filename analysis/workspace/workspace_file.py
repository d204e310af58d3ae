"""The workspace: a ``*.sleuth`` file that is a DuckDB database of everything the user set up.

It keeps dataset registrations (paths, format, column roles), saved slices, version cards,
reference profiles and the decisions taken on findings, and later the failure queue and notes. Every edit is one transaction committed when it is made,
so a crash loses nothing that was done and never leaves half an edit behind. Content is JSON
with a schema version, never pickle, and opening a file never runs anything stored in it
(see :mod:`analysis.workspace.file_io`): a workspace received from someone else cannot run code.
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
from typing import Any, Sequence

import duckdb

from analysis.errors import InputError, SchemaError
from analysis.data.roles import RoleMap
from analysis.query import Sql
from analysis.slices import Slice
from analysis.workspace.file_io import WORKING_CONFIG, read_workspace, table_rows, write_workspace
from analysis.workspace.schema import SCHEMA_VERSION  # noqa: F401 - re-exported for callers and tests
from analysis.workspace.version_cards import VersionCard

SUFFIX = ".sleuth"


@dataclass(frozen=True)
class SparkSource:
    """Where a log pulled from Spark came from, so a workspace reopens it by pulling again: its
    files were a temporary sample. ``url`` is the Spark Connect URL without its parameters (a
    token is never written); ``rows`` is the most rows pulled, ``where`` the filter, if any."""

    url: str
    table: str
    rows: int
    where: str | None = None

    def __post_init__(self) -> None:
        if "/;" in self.url:
            raise ValueError("a SparkSource keeps the URL without its parameters (they may hold a token)")

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "table": self.table, "rows": self.rows, "where": self.where}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> "SparkSource":
        """Raises :class:`SchemaError` for a record this version cannot read (a file anyone can edit)."""
        try:
            rows = document["rows"]
            if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
                raise ValueError(rows)
            return cls(str(document["url"]).split("/;", 1)[0], str(document["table"]), rows,
                       document.get("where") or None)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SchemaError(f"unreadable Spark source: {str(document)[:200]}") from None


@dataclass(frozen=True)
class DatasetEntry:
    """How to reopen one dataset: where its files are, their format, the roles chosen, and the
    labels files joined to it (``labels_on``: their id column, None when detected); for a log
    pulled from Spark, ``spark`` says how to pull it again (its ``paths`` are empty)."""

    name: str
    paths: tuple[str, ...]
    format: str
    roles: RoleMap | None
    kind: str = "log"  # "log" or "training"
    labels: tuple[str, ...] = ()
    labels_on: str | None = None
    spark: SparkSource | None = None


_OPEN_HERE: dict[Path, int] = {}
"""Workspace files this process has open, and how many times: a file already open here was
checked when first opened and cannot be attached a second time."""


class Workspace:
    """An open ``*.sleuth`` file. Methods commit at once; reading never writes.

    ``notes`` says what opening left out (views, macros and other objects Sleuth never writes);
    ``read_only_reason`` says why edits are refused (the file is open in another Sleuth), or is
    None when the workspace is writable.
    """

    def __init__(self, path: str | Path, con: duckdb.DuckDBPyConnection, notes: tuple[str, ...] = (),
                 read_only_reason: str | None = None) -> None:
        self.path = Path(path)
        self._con = con
        self.notes = notes
        self.read_only_reason = read_only_reason

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> "Workspace":
        """Open (or create) a workspace file, upgrading it to the current schema.

        The file is read through :func:`read_workspace` first; only a file whose structure is
        exactly what Sleuth writes is then opened for editing, anything else is rebuilt from
        its known tables first. Raises :class:`InputError` in one sentence when it cannot be read.
        """
        path = Path(path).expanduser()
        if not path.exists() and not path.is_symlink():
            if not create:
                raise InputError("no such workspace file", file=str(path))
            return cls.new(path)
        if path.resolve() in _OPEN_HERE:  # checked when first opened; DuckDB shares the open file
            return cls._connect(path, ())
        try:
            contents = read_workspace(path)
        except InputError as exc:
            if not _held_elsewhere(str(exc)):
                raise
            return cls._read_only_copy(path, str(exc))
        if contents.needs_rewrite:
            write_workspace(path, contents.rows)
        return cls._connect(path, tuple(contents.notes(path)))

    @classmethod
    def _read_only_copy(cls, path: Path, lock_message: str) -> "Workspace":
        """A workspace another process holds, opened as a read-only copy: DuckDB lets one process
        write a file and refuses every other process, readers included. Every edit is
        checkpointed when made, so the file (and its write-ahead log, if any) holds every
        committed edit. The copy is read as safely as the file itself would be."""
        folder = Path(tempfile.mkdtemp(prefix="sleuth-readonly-"))
        atexit.register(shutil.rmtree, folder, True)
        copy = folder / path.name
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        contents = read_workspace(copy)
        if contents.needs_rewrite:
            write_workspace(copy, contents.rows)
        try:
            con = duckdb.connect(str(copy), read_only=True, config=WORKING_CONFIG)
        except duckdb.Error as exc:
            raise InputError(f"the workspace is open in another Sleuth and its copy cannot be read "
                             f"({_first_line(exc)})", file=str(path)) from exc
        return cls(path, con, tuple(contents.notes(path)), read_only_reason=_lock_holder(lock_message))

    @classmethod
    def new(cls, path: str | Path) -> "Workspace":
        """An empty workspace at ``path``, replacing any file there at once (the caller asked)."""
        path = Path(path).expanduser()
        write_workspace(path, {})
        return cls._connect(path, ())

    @classmethod
    def _connect(cls, path: Path, notes: tuple[str, ...]) -> "Workspace":
        try:
            workspace = cls(path, duckdb.connect(str(path), config=WORKING_CONFIG), notes)
        except duckdb.Error as exc:
            raise InputError(f"cannot open the workspace ({_first_line(exc)})", file=str(path)) from exc
        _OPEN_HERE[path.resolve()] = _OPEN_HERE.get(path.resolve(), 0) + 1
        return workspace

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The workspace's connection, for capabilities that keep tables of their own (the queue)."""
        return self._con

    def transaction(self) -> "_Transaction":
        """One edit of those capabilities' tables, committed and checkpointed like every other."""
        return self._transaction()

    def save_as(self, target: str | Path) -> "Workspace":
        """A complete copy of this workspace at ``target`` (replaced atomically), opened.

        Saving onto the open file itself changes nothing and returns this workspace.
        """
        target = Path(target).expanduser()
        if _same_file(target, self.path):
            return self
        write_workspace(target, table_rows(self._con))
        return Workspace._connect(target, ())

    def _transaction(self):
        if self.read_only_reason:
            raise InputError(f"the workspace is read-only: {self.read_only_reason}", file=str(self.path))
        return _Transaction(self._con)

    def datasets(self) -> list[DatasetEntry]:
        rows = self._con.execute(
            "SELECT d.name, d.paths, d.format, d.roles, d.kind, j.labels, j.on_column, s.document "
            "FROM datasets d LEFT JOIN label_joins j ON j.dataset = d.name "
            "LEFT JOIN spark_pulls s ON s.dataset = d.name ORDER BY d.position, d.added_at"
        ).fetchall()
        return [
            DatasetEntry(
                name=name,
                paths=tuple(json.loads(paths)),
                format=fmt,
                roles=RoleMap.from_dict(json.loads(roles)) if roles else None,
                kind=kind or "log",
                labels=tuple(json.loads(labels)) if labels else (),
                labels_on=on,
                spark=_spark_source(spark),
            )
            for name, paths, fmt, roles, kind, labels, on, spark in rows
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
            self._con.execute("DELETE FROM label_joins WHERE dataset = ?", [entry.name])
            if entry.labels:
                labels = json.dumps([str(Path(p).expanduser().resolve()) for p in entry.labels])
                self._con.execute("INSERT INTO label_joins VALUES (?, ?, ?, ?)",
                                  [entry.name, labels, entry.labels_on, _dt.datetime.now()])
            self._con.execute("DELETE FROM spark_pulls WHERE dataset = ?", [entry.name])
            if entry.spark is not None:
                self._con.execute("INSERT INTO spark_pulls VALUES (?, ?, ?)",
                                  [entry.name, json.dumps(entry.spark.to_dict()), _dt.datetime.now()])

    def save_roles(self, name: str, roles: RoleMap) -> None:
        with self._transaction():
            self._con.execute("UPDATE datasets SET roles = ? WHERE name = ?", [json.dumps(roles.to_dict()), name])

    def remove_dataset(self, name: str) -> None:
        with self._transaction():
            self._con.execute("DELETE FROM datasets WHERE name = ?", [name])
            self._con.execute("DELETE FROM label_joins WHERE dataset = ?", [name])
            self._con.execute("DELETE FROM spark_pulls WHERE dataset = ?", [name])

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

    def compare_verdicts(self, since: _dt.datetime | None = None) -> list[dict[str, Any]]:
        """The comparisons kept (oldest first, from ``since`` on), each its verdict record plus
        the log it ran on and when."""
        rows = self._con.execute("SELECT dataset, document, compared_at FROM compare_verdicts "
                                 "WHERE compared_at >= coalesce(?, compared_at) ORDER BY position",
                                 [since]).fetchall()
        return [{**json.loads(document), "dataset": dataset, "compared_at": compared_at}
                for dataset, document, compared_at in rows]

    def add_compare_verdict(self, dataset: str | None, document: dict[str, Any]) -> None:
        """Keep one comparison's verdict (``document`` names its base and candidate)."""
        with self._transaction():
            position = self._con.execute("SELECT coalesce(max(position) + 1, 0) FROM compare_verdicts").fetchall()[0][0]
            self._con.execute("INSERT INTO compare_verdicts VALUES (?, ?, ?, ?, ?, ?)",
                              [position, dataset, document["base"], document["candidate"], json.dumps(document),
                               _dt.datetime.now()])

    def profile(self, dataset: str) -> str | None:
        """The saved reference profile of ``dataset`` (its JSON text), if any."""
        row = self._con.execute("SELECT document FROM profiles WHERE dataset = ?", [dataset]).fetchall()
        return row[0][0] if row else None

    def profiles(self) -> dict[str, str]:
        """Every saved reference profile (JSON text) by dataset name."""
        return dict(self._con.execute("SELECT dataset, document FROM profiles").fetchall())

    def save_profile(self, dataset: str, document: str) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?)",
                              [dataset, document, _dt.datetime.now()])

    def findings(self, dataset: str) -> tuple[str | None, list[dict[str, Any]]]:
        """The reference and the findings (JSON documents, best first) of ``dataset``'s last check."""
        rows = self._con.execute("SELECT reference, document FROM findings WHERE dataset = ? ORDER BY position",
                                 [dataset]).fetchall()
        return (rows[0][0] if rows else None), [json.loads(document) for _, document in rows]

    def save_findings(self, dataset: str, reference: str, documents: Sequence[dict[str, Any]]) -> None:
        """Replace ``dataset``'s findings by a new check's (an empty list clears them), and
        record the check itself, so a check that found nothing is known to have run."""
        now = _dt.datetime.now()
        with self._transaction():
            self._con.execute("DELETE FROM findings WHERE dataset = ?", [dataset])
            for position, document in enumerate(documents):
                self._con.execute("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?)",
                                  [dataset, position, document["key"], json.dumps(document), reference, now])
            self._con.execute("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?)",
                              [dataset, reference, len(documents), now])

    def last_check(self, dataset: str) -> dict[str, Any] | None:
        """``dataset``'s last check kept here (its reference, how many findings, when), None
        when none was: "checked, no findings" is a check with 0 findings, not a missing one."""
        rows = self._con.execute("SELECT reference, findings, checked_at FROM checks WHERE dataset = ?",
                                 [dataset]).fetchall()
        return dict(zip(("reference", "findings", "checked_at"), rows[0])) if rows else None

    def check_reference(self, dataset: str) -> dict[str, Any] | None:
        """The reference (and checked window) the user chose for ``dataset``'s checks, if any."""
        row = self._con.execute("SELECT document FROM check_references WHERE dataset = ?", [dataset]).fetchall()
        return json.loads(row[0][0]) if row else None

    def save_check_reference(self, dataset: str, document: dict[str, Any]) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO check_references VALUES (?, ?, ?)",
                              [dataset, json.dumps(document), _dt.datetime.now()])

    def fetch(self, query: Sql) -> list[tuple]:
        """Rows of a read-only query over the workspace's tables."""
        return self._con.execute(query.text, list(query.params)).fetchall()

    def edit(self, statements: Sequence[Sql]) -> None:
        """Run ``statements`` as one committed edit: all of them, or none after an error.

        Capabilities that keep their own tables (rules, golden set) pass their
        ``CREATE TABLE IF NOT EXISTS`` first, so a workspace gains a table on its first use.
        """
        with self._transaction():
            for statement in statements:
                self._con.execute(statement.text, list(statement.params))

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return json.loads(row[0][0]) if row else default

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            key = self.path.resolve()
            _OPEN_HERE[key] = _OPEN_HERE.get(key, 1) - 1
            if _OPEN_HERE[key] <= 0:
                del _OPEN_HERE[key]


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


def _spark_source(document: str | None) -> SparkSource | None:
    """A registration's Spark source; an unreadable one is dropped (the entry then has nothing
    to reopen from, which opening the workspace says) rather than failing the whole file."""
    try:
        return SparkSource.from_dict(json.loads(document)) if document else None
    except SchemaError:
        return None


def with_workspace_suffix(path: str | Path) -> Path:
    """``path`` ending in ``.sleuth``: a name typed without it gets it (never replacing another suffix)."""
    path = Path(path)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _held_elsewhere(message: str) -> bool:
    """Whether DuckDB refused the file because another process holds its lock."""
    return "Could not set lock" in message or "Conflicting lock" in message


def _lock_holder(message: str) -> str:
    """'open in another Sleuth (PID 123)', from DuckDB's lock message."""
    pid = re.search(r"PID (\d+)", message)
    return "it is open in another Sleuth" + (f" (PID {pid.group(1)})" if pid else "") + \
        "; this is a read-only copy of it as of opening"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
