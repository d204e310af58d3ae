"""The failure queue kept in a workspace: failed predictions, their groups, and what the review
decided about them.

Items are links to log rows (dataset, request id or row number, version) with the few values
a reviewer reads at a glance, never copies of logs. Every change is one transaction of the
workspace, committed and checkpointed when made, and leaves a line in an append-only history
saying who (the OS user name unless told) did what and when. Changes people make are
:class:`~analysis.queue.edits.QueueEdit` objects, so a window can undo them.

A group's impact counts every failure once, whether it is queued as an item or was left out
by an intake's sample: the keys of the sampled-out ones (ids only, never row values) are kept
in ``queue_counted``, so reading the same rows again adds nothing to any count, while rows
no intake has read add their failures. Keys rather than a watermark of rows read, because an
intake reads any subset of a log (a filter, a selection, a slice), which no time or row range
describes; a key per failure is bounded by the failures the queue counts.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from analysis.errors import InputError
from analysis.queue.schema import SEED_TAXONOMY
from analysis.slices import Slice
from analysis.workspace.workspace_file import Workspace

GROUP_COLUMNS = ("group_id", "group_key", "reason", "title", "dataset", "version", "slice", "evidence", "status",
                 "owner", "tags", "decision", "rationale", "decided_at", "followup", "merged_into", "created_at")
EDITABLE_GROUP_FIELDS = ("title", "status", "owner", "tags", "decision", "rationale", "decided_at", "followup",
                         "merged_into")
_JSON_FIELDS = ("evidence", "tags", "followup")


@dataclass(frozen=True)
class Group:
    """One group of failures as the review sees it (``failures`` counts sampled-out ones too)."""

    id: int
    key: str
    reason: str
    title: str
    dataset: str | None
    version: str | None
    slice: Slice | None
    evidence: dict[str, Any]
    status: str
    owner: str | None
    tags: list[str]
    decision: str | None
    rationale: str | None
    decided_at: _dt.datetime | None
    followup: dict[str, Any] | None
    merged_into: int | None
    created_at: _dt.datetime
    items: int = 0
    failures: int = 0

    def to_dict(self, total_failures: int) -> dict[str, Any]:
        """The group as ``sleuth queue list --json`` prints it."""
        share = self.failures / total_failures if total_failures else 0.0
        return {
            "id": self.id, "title": self.title, "reason": self.reason, "version": self.version,
            "slice": self.slice.name if self.slice else None, "items": self.items,
            "impact": {"failures": self.failures, "share": share, **{k: self.evidence.get(k) for k in (
                "error_rate", "ci", "rows")}},
            "blamed_batch": self.evidence.get("blamed_batch"), "regression": self.evidence.get("regression"),
            "status": self.status, "tags": self.tags, "owner": self.owner, "decision": self.decision,
            "rationale": self.rationale, "followup": self.followup, "merged_into": self.merged_into,
        }


@dataclass(frozen=True)
class HistoryEntry:
    at: _dt.datetime
    who: str
    target: str
    what: str
    before: Any
    after: Any


class FailureQueue:
    """The queue tables of one open workspace; creates them (and the seed taxonomy) when missing."""

    def __init__(self, workspace: Workspace, user: str | None = None) -> None:
        self.workspace = workspace
        self.user = user or os_user()
        self._con = workspace.connection
        self._seed_taxonomy()

    @property
    def read_only_reason(self) -> str | None:
        return self.workspace.read_only_reason

    def _seed_taxonomy(self) -> None:
        """The seed cause tags, in a workspace whose taxonomy is still empty (a new queue)."""
        if self._con.execute("SELECT count(*) FROM queue_taxonomy").fetchall()[0][0] or self.read_only_reason:
            return
        with self.workspace.transaction():
            self._con.executemany("INSERT INTO queue_taxonomy VALUES (?, ?, ?)",
                                  [[tag, parent, i] for i, (tag, parent) in enumerate(SEED_TAXONOMY)])

    def edit(self):
        """A transaction for one edit (callers record history inside it)."""
        return self.workspace.transaction()

    # reading ---------------------------------------------------------------------------------
    def groups(self, status: str | None = None, include_merged: bool = False) -> list[Group]:
        """Groups with their item and failure counts, largest impact first."""
        found = self._read_groups()
        found = [g for g in found if (include_merged or g.merged_into is None) and (status is None or g.status == status)]
        return sorted(found, key=lambda g: (-g.failures, g.id))

    def _read_groups(self, group_id: int | None = None) -> list[Group]:
        """The groups (or the one ``group_id``) with their item and failure counts, by id."""
        where, params = ("WHERE g.group_id = ? ", [group_id]) if group_id is not None else ("", [])
        rows = self._con.execute(
            f"SELECT {', '.join('g.' + c for c in GROUP_COLUMNS)}, "
            "(SELECT count(*) FROM queue_items i WHERE i.group_id = g.group_id), "
            "(SELECT coalesce(sum(failures), 0) FROM queue_group_counts c WHERE c.group_id = g.group_id) "
            f"FROM queue_groups g {where}ORDER BY g.group_id", params).fetchall()
        return [_group(row) for row in rows]

    def agenda(self) -> list[Group]:
        """The review's order: groups whose action awaits its check first (did it work?), then
        the open groups by impact; closed groups (verified, won't fix, duplicate) last."""
        first, closed = ("decided", "awaiting verification", "regressed"), ("verified", "won't fix", "duplicate")
        groups = self.groups()
        return ([g for g in groups if g.status in first] + [g for g in groups if g.status not in first + closed]
                + [g for g in groups if g.status in closed])

    def group(self, group_id: int) -> Group:
        """One group, read alone: an intake reads each of its groups in turn, and reading every
        group (with its counts and evidence) for each made that quadratic in the groups."""
        try:
            wanted = int(group_id)  # DuckDB takes no numpy integer as a parameter
        except (TypeError, ValueError):
            wanted = None
        found = self._read_groups(wanted) if wanted is not None and wanted == group_id else []
        if not found:
            raise InputError(f"there is no group {group_id} in the queue", file=str(self.workspace.path))
        return found[0]

    def items(self, group_id: int | None = None) -> pd.DataFrame:
        condition, params = ("WHERE group_id = ?", [group_id]) if group_id is not None else ("", [])
        return self._con.execute(f"SELECT * FROM queue_items {condition} ORDER BY added_at, item_key",
                                 params).df()

    def item_count(self) -> int:
        return self._con.execute("SELECT count(*) FROM queue_items").fetchall()[0][0]

    def total_failures(self) -> int:
        return int(self._con.execute("SELECT coalesce(sum(failures), 0) FROM queue_group_counts").fetchall()[0][0])

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """The keys already queued as items."""
        return self._keys_among(keys, "SELECT item_key FROM queue_items")

    def counted_keys(self, keys: Iterable[str]) -> set[str]:
        """The keys already counted in a group's impact: queued, or left out by a sample."""
        return self._keys_among(keys, "SELECT item_key FROM queue_items UNION ALL SELECT item_key FROM queue_counted")

    def _keys_among(self, keys: Iterable[str], source: str) -> set[str]:
        """Which of ``keys`` the key query ``source`` holds, by a join: a list parameter tested
        per row (``list_contains``) took 12 s for a second intake of 100k failures."""
        keys = pd.DataFrame({"item_key": pd.Series(list(keys), dtype=object)})
        if keys.empty:
            return set()
        self._con.register("_sleuth_keys", keys)
        try:
            rows = self._con.execute(f"SELECT k.item_key FROM _sleuth_keys k SEMI JOIN ({source}) s "
                                     "ON s.item_key = k.item_key").fetchall()
        finally:
            self._con.unregister("_sleuth_keys")
        return {r[0] for r in rows}

    def history(self) -> list[HistoryEntry]:
        rows = self._con.execute("SELECT made_at, who, target, what, before, after FROM queue_history ORDER BY position").fetchall()
        return [HistoryEntry(at, who, target, what, _loads(before), _loads(after))
                for at, who, target, what, before, after in rows]

    def notes(self, group_id: int) -> list[dict[str, Any]]:
        rows = self._con.execute("SELECT note_id, made_at, who, text FROM queue_notes WHERE group_id = ? ORDER BY note_id",
                                 [group_id]).fetchall()
        return [{"id": n, "at": at, "who": who, "text": text} for n, at, who, text in rows]

    def taxonomy(self) -> list[tuple[str, str | None]]:
        return [(t, p) for t, p in self._con.execute("SELECT tag, parent FROM queue_taxonomy ORDER BY position, tag").fetchall()]

    def intakes(self) -> list[dict[str, Any]]:
        df = self._con.execute("SELECT * FROM queue_intakes ORDER BY intake_id").df()
        return df.to_dict("records")

    def last_intake_notes(self) -> list[str]:
        """What the last intake said about its grouping (a version traced in part, or skipped),
        kept in its history line."""
        row = self._con.execute("SELECT after FROM queue_history WHERE target = 'intake' "
                                "ORDER BY position DESC LIMIT 1").fetchall()
        return list((_loads(row[0][0]) or {}).get("notes", [])) if row else []

    def last_period_end(self) -> _dt.datetime | None:
        """When the predictions read by the last review's intakes end: "since the last review"."""
        return self._con.execute("SELECT max(period_end) FROM queue_intakes").fetchall()[0][0]

    # writing (inside ``edit()``) ------------------------------------------------------------
    def record(self, target: str, what: str, before: Any = None, after: Any = None) -> None:
        """Append one history line; call inside the edit's transaction."""
        position = self.next_id("queue_history", "position")
        self._con.execute("INSERT INTO queue_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [position, _now(), self.user, target, what, _dumps(before), _dumps(after)])

    def group_fields(self, group_id: int, names: Iterable[str]) -> dict[str, Any]:
        names = list(names)
        _check_fields(names)
        row = self._con.execute(f"SELECT {', '.join(names)} FROM queue_groups WHERE group_id = ?", [group_id]).fetchall()
        if not row:
            raise InputError(f"there is no group {group_id} in the queue", file=str(self.workspace.path))
        return {name: (_loads(value) if name in _JSON_FIELDS else value) for name, value in zip(names, row[0])}

    def write_group_fields(self, group_id: int, values: dict[str, Any]) -> None:
        _check_fields(values)
        assignments = ", ".join(f"{name} = ?" for name in values)
        params = [_dumps(v) if name in _JSON_FIELDS else v for name, v in values.items()]
        self._con.execute(f"UPDATE queue_groups SET {assignments} WHERE group_id = ?", params + [group_id])

    def set_evidence(self, group_id: int, evidence: dict[str, Any]) -> None:
        """Replace what the machine measured about a group (not an edit a person undoes)."""
        self._con.execute("UPDATE queue_groups SET evidence = ? WHERE group_id = ?", [_dumps(evidence), group_id])

    def new_group(self, key: str, reason: str, title: str, dataset: str | None, version: str | None,
                  slice_: Slice | None, evidence: dict[str, Any]) -> int:
        group_id = self.next_id("queue_groups", "group_id")
        self._con.execute(
            "INSERT INTO queue_groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', NULL, '[]', NULL, NULL, NULL, NULL, NULL, ?)",
            [group_id, key, reason, title, dataset, version, slice_.to_json() if slice_ else None,
             _dumps(evidence), _now()])
        return group_id

    def delete_group(self, group_id: int) -> None:
        self._con.execute("DELETE FROM queue_group_counts WHERE group_id = ?", [group_id])
        self._con.execute("DELETE FROM queue_counted WHERE group_id = ?", [group_id])
        self._con.execute("DELETE FROM queue_groups WHERE group_id = ?", [group_id])

    def group_by_key(self, key: str) -> int | None:
        """The group found earlier by the same reason; a merged group answers with its target."""
        row = self._con.execute("SELECT group_id, merged_into FROM queue_groups WHERE group_key = ? ORDER BY group_id",
                                [key]).fetchall()
        if not row:
            return None
        group_id, merged_into = row[0]
        while merged_into is not None:
            group_id, merged_into = self._con.execute(
                "SELECT group_id, merged_into FROM queue_groups WHERE group_id = ?", [merged_into]).fetchall()[0]
        return group_id

    def place_items(self, keys: list[str], group_id: int | None, pinned: bool) -> None:
        self._con.execute("UPDATE queue_items SET group_id = ?, pinned = ? WHERE list_contains(?, item_key)",
                          [group_id, pinned, keys])

    def placements(self, keys: list[str]) -> dict[str, tuple[int | None, bool]]:
        rows = self._con.execute("SELECT item_key, group_id, pinned FROM queue_items WHERE list_contains(?, item_key)",
                                 [keys]).fetchall()
        return {key: (group_id, bool(pinned)) for key, group_id, pinned in rows}

    def add_count(self, group_id: int, dataset: str, failures: int) -> None:
        """Count an intake's new failures (queued or left out by the sample) in the group's impact.
        Added, not replaced: a later intake of other rows of the same log (the next week, or
        "since the last review") adds to the group, and one of the same rows adds nothing, as
        its failures are already counted (:meth:`counted_keys`); so the count shown stays that
        of the group's failures."""
        self._con.execute("INSERT INTO queue_group_counts VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                          "SET failures = coalesce(queue_group_counts.failures, 0) + excluded.failures",
                          [group_id, dataset, failures])

    def insert_items(self, frame: pd.DataFrame) -> None:
        """Insert item rows (columns as ``queue_items``); keys already queued must be left out.
        A failure counted earlier without being queued is queued now, so it is no longer kept
        among the counted-only ones."""
        if frame.empty:
            return
        self._con.register("_sleuth_new_items", frame)
        try:
            self._con.execute("INSERT INTO queue_items SELECT item_key, dataset, row_key, row_number, version, label, "
                              "prediction, loss, observed_at, group_id, pinned, status, added_at FROM _sleuth_new_items")
            self._con.execute("DELETE FROM queue_counted WHERE item_key IN (SELECT item_key FROM _sleuth_new_items)")
        finally:
            self._con.unregister("_sleuth_new_items")

    def insert_counted(self, keys: Iterable[str], dataset: str, group_id: int) -> None:
        """Keep the keys of failures counted in ``group_id``'s impact but not queued (left out by
        a sample), so that reading them again does not count them again."""
        frame = pd.DataFrame({"item_key": pd.Series(list(keys), dtype=object)})
        if frame.empty:
            return
        frame["dataset"], frame["group_id"] = dataset, group_id
        self._con.register("_sleuth_counted", frame)
        try:
            self._con.execute("INSERT INTO queue_counted SELECT item_key, dataset, group_id FROM _sleuth_counted")
        finally:
            self._con.unregister("_sleuth_counted")

    def add_note(self, group_id: int, text: str) -> int:
        note_id = self.next_id("queue_notes", "note_id")
        self._con.execute("INSERT INTO queue_notes VALUES (?, ?, ?, ?, ?)", [note_id, group_id, _now(), self.user, text])
        return note_id

    def remove_note(self, note_id: int) -> None:
        self._con.execute("DELETE FROM queue_notes WHERE note_id = ?", [note_id])

    def add_tag_to_taxonomy(self, tag: str, parent: str | None) -> None:
        position = self.next_id("queue_taxonomy", "position")
        self._con.execute("INSERT INTO queue_taxonomy VALUES (?, ?, ?)", [tag, parent, position])

    def remove_tag_from_taxonomy(self, tag: str) -> None:
        self._con.execute("DELETE FROM queue_taxonomy WHERE tag = ?", [tag])

    def add_intake(self, dataset: str, condition: str, added: int, duplicates: int,
                   period_end: _dt.datetime | None) -> None:
        intake_id = self.next_id("queue_intakes", "intake_id")
        self._con.execute("INSERT INTO queue_intakes VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [intake_id, _now(), dataset, condition, added, duplicates, period_end])

    def next_id(self, table: str, column: str) -> int:
        return int(self._con.execute(f"SELECT coalesce(max({column}) + 1, 1) FROM {table}").fetchall()[0][0])


def _group(row: tuple) -> Group:
    values = dict(zip(GROUP_COLUMNS, row[: len(GROUP_COLUMNS)]))
    return Group(
        id=values["group_id"], key=values["group_key"], reason=values["reason"], title=values["title"],
        dataset=values["dataset"], version=values["version"],
        slice=Slice.from_json(values["slice"]) if values["slice"] else None,
        evidence=_loads(values["evidence"]) or {}, status=values["status"], owner=values["owner"],
        tags=_loads(values["tags"]) or [], decision=values["decision"], rationale=values["rationale"],
        decided_at=values["decided_at"], followup=_loads(values["followup"]), merged_into=values["merged_into"],
        created_at=values["created_at"], items=int(row[-2]), failures=int(row[-1]),
    )


def _check_fields(names: Iterable[str]) -> None:
    for name in names:
        if name not in EDITABLE_GROUP_FIELDS:
            raise ValueError(f"'{name}' is not an editable field of a group")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _now() -> _dt.datetime:
    return _dt.datetime.now()


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
