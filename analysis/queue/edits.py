"""Every change a person makes to the queue, as a value with ``do`` and ``undo``.

The window can push these on its undo stack (the style of :mod:`app.commands`); the CLI just
applies them. :func:`apply` and :func:`revert` run one inside one workspace transaction with
its history line, so an edit is either fully on disk or not at all, and undoing is itself a
recorded change (the history is append-only).
"""

from __future__ import annotations

import abc
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from analysis.errors import InputError
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import DECISIONS, STATUSES


class QueueEdit(abc.ABC):
    label = ""

    @abc.abstractmethod
    def do(self, queue: FailureQueue) -> None:
        """Make the change (inside a transaction) and record it in the history."""

    @abc.abstractmethod
    def undo(self, queue: FailureQueue) -> None:
        """Put back what :meth:`do` changed, and record that."""


def apply(queue: FailureQueue, edit: QueueEdit) -> QueueEdit:
    with queue.edit():
        edit.do(queue)
    return edit


def revert(queue: FailureQueue, edit: QueueEdit) -> QueueEdit:
    with queue.edit():
        edit.undo(queue)
    return edit


@dataclass
class SetGroupFields(QueueEdit):
    """Change a group's status, owner, tags, title, decision... (one or several at once)."""

    group_id: int
    values: dict[str, Any]
    label: str = "Edit group"
    _before: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        status = self.values.get("status")
        if status is not None and status not in STATUSES:
            raise InputError(f"unknown status '{status}'; choose one of {', '.join(STATUSES)}")

    def do(self, queue: FailureQueue) -> None:
        self._before = queue.group_fields(self.group_id, self.values)
        queue.write_group_fields(self.group_id, self.values)
        queue.record(f"group {self.group_id}", self.label, self._before, self.values)

    def undo(self, queue: FailureQueue) -> None:
        queue.write_group_fields(self.group_id, self._before)
        queue.record(f"group {self.group_id}", f"undo {self.label}", self.values, self._before)


def decide(group_id: int, decision: str, rationale: str | None = None, owner: str | None = None) -> SetGroupFields:
    """The review's decision on a group: what to do, why, who; it then awaits its follow-up."""
    if decision not in DECISIONS:
        raise InputError(f"unknown decision '{decision}'; choose one of {', '.join(DECISIONS)}")
    values: dict[str, Any] = {"decision": decision, "rationale": rationale, "decided_at": _dt.datetime.now(),
                              "status": "won't fix" if decision == "none" else "decided"}
    if owner is not None:
        values["owner"] = owner
    return SetGroupFields(group_id, values, label=f"Decide: {decision}")


def toggle_tag(queue: FailureQueue, group_id: int, cause: str) -> SetGroupFields:
    """Add a cause tag from the taxonomy to a group, or take it off when it has it (the
    taxonomy itself is edited with :class:`AddCauseTag`)."""
    known = [t for t, _ in queue.taxonomy()]
    if cause not in known:
        raise InputError(f"'{cause}' is not in the cause taxonomy ({', '.join(known)})")
    tags = queue.group_fields(group_id, ["tags"])["tags"] or []
    changed = [t for t in tags if t != cause] if cause in tags else tags + [cause]
    return SetGroupFields(group_id, {"tags": changed}, label=f"Tag: {cause}")


@dataclass
class MoveItems(QueueEdit):
    """Move items to a group; they stay there when grouping runs again (pinned)."""

    item_keys: list[str]
    group_id: int
    label: str = "Move items"
    _before: dict[str, tuple[int | None, bool]] = field(default_factory=dict, init=False)

    def do(self, queue: FailureQueue) -> None:
        self._before = queue.placements(self.item_keys)
        missing = sorted(set(self.item_keys) - set(self._before))
        if missing:
            raise InputError(f"not in the queue: {', '.join(missing[:5])}")
        queue.group_fields(self.group_id, ["status"])  # the target must exist
        queue.place_items(self.item_keys, self.group_id, pinned=True)
        queue.record(f"group {self.group_id}", self.label, None, self.item_keys)

    def undo(self, queue: FailureQueue) -> None:
        for (group_id, pinned), keys in _by_placement(self._before).items():
            queue.place_items(keys, group_id, pinned)
        queue.record(f"group {self.group_id}", f"undo {self.label}", self.item_keys, None)


@dataclass
class MergeGroups(QueueEdit):
    """Merge ``source`` into ``target``: its items move, it becomes a duplicate pointing there,
    and failures that grouping finds for its reason later go to ``target``."""

    source: int
    target: int
    label: str = "Merge groups"
    _move: MoveItems | None = field(default=None, init=False)
    _mark: SetGroupFields | None = field(default=None, init=False)

    def do(self, queue: FailureQueue) -> None:
        if self.source == self.target:
            raise InputError("a group cannot be merged into itself")
        keys = list(queue.items(self.source)["item_key"])
        self._move = MoveItems(keys, self.target, label=f"Merge group {self.source} into {self.target}")
        self._move.do(queue)
        self._mark = SetGroupFields(self.source, {"status": "duplicate", "merged_into": self.target},
                                    label=f"Merged into group {self.target}")
        self._mark.do(queue)

    def undo(self, queue: FailureQueue) -> None:
        self._mark.undo(queue)
        self._move.undo(queue)


@dataclass
class SplitGroup(QueueEdit):
    """Take items out of their group into a new group of their own, named by a person."""

    item_keys: list[str]
    title: str
    label: str = "Split group"
    group_id: int | None = field(default=None, init=False)
    _move: MoveItems | None = field(default=None, init=False)

    def do(self, queue: FailureQueue) -> None:
        first = queue.placements(self.item_keys[:1])
        source = next(iter(first.values()))[0] if first else None
        origin = queue.group(source) if source is not None else None
        self.group_id = queue.new_group(f"manual:{self.title}", "manual", self.title,
                                        origin.dataset if origin else None, origin.version if origin else None,
                                        None, {})
        queue.record(f"group {self.group_id}", self.label, None, {"title": self.title, "from": source})
        self._move = MoveItems(self.item_keys, self.group_id, label="Move items to the split group")
        self._move.do(queue)

    def undo(self, queue: FailureQueue) -> None:
        self._move.undo(queue)
        queue.delete_group(self.group_id)
        queue.record(f"group {self.group_id}", f"undo {self.label}", {"title": self.title}, None)


@dataclass
class AddNote(QueueEdit):
    group_id: int
    text: str
    label: str = "Add note"
    note_id: int | None = field(default=None, init=False)

    def do(self, queue: FailureQueue) -> None:
        queue.group_fields(self.group_id, ["status"])
        self.note_id = queue.add_note(self.group_id, self.text)
        queue.record(f"group {self.group_id}", self.label, None, self.text)

    def undo(self, queue: FailureQueue) -> None:
        queue.remove_note(self.note_id)
        queue.record(f"group {self.group_id}", f"undo {self.label}", self.text, None)


@dataclass
class AddCauseTag(QueueEdit):
    """Extend the cause taxonomy (e.g. 'currency' under 'data error')."""

    tag: str
    parent: str | None = None
    label: str = "Add cause tag"

    def do(self, queue: FailureQueue) -> None:
        if self.tag in {t for t, _ in queue.taxonomy()}:
            raise InputError(f"'{self.tag}' is already in the cause taxonomy")
        queue.add_tag_to_taxonomy(self.tag, self.parent)
        queue.record("taxonomy", self.label, None, {"tag": self.tag, "parent": self.parent})

    def undo(self, queue: FailureQueue) -> None:
        queue.remove_tag_from_taxonomy(self.tag)
        queue.record("taxonomy", f"undo {self.label}", {"tag": self.tag, "parent": self.parent}, None)


def _by_placement(before: dict[str, tuple[int | None, bool]]) -> dict[tuple[int | None, bool], list[str]]:
    grouped: dict[tuple[int | None, bool], list[str]] = {}
    for key, placement in before.items():
        grouped.setdefault(placement, []).append(key)
    return grouped
