"""The failure queue's edits as Session commands, so Edit > Undo undoes them like any other.

A :class:`~analysis.queue.edits.QueueEdit` already knows how to apply and revert itself inside
one workspace transaction with its history line; :class:`EditQueue` only puts it on the
Session's undo history and publishes ``Changes(queue=True)`` so the queue panel and meeting
mode redraw. Adding failures (intake) is not undoable: the queue's history is append-only and
adding the same request again never duplicates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.errors import InputError
from analysis.queue.edits import QueueEdit, apply, revert
from analysis.queue.failure_queue import FailureQueue

from app.commands import Command
from app.state import Changes, Session


def session_queue(session: Session) -> FailureQueue:
    """The failure queue of the session's workspace; a sentence when no workspace is open."""
    if session.workspace is None:
        raise InputError("the failure queue lives in a workspace: save or open one first (File > Save workspace as…)")
    return FailureQueue(session.workspace)


@dataclass
class EditQueue(Command):
    """One person's change to the queue (status, owner, tags, decision, note, merge, split, move)."""

    edit: QueueEdit
    label: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.label = self.edit.label

    def do(self, session: Session) -> Changes:
        apply(session_queue(session), self.edit)
        return Changes(queue=True)

    def undo(self, session: Session) -> Changes:
        revert(session_queue(session), self.edit)
        return Changes(queue=True)


@dataclass
class QueueChanged(Command):
    """Say that the queue changed outside a person's edit (an intake job added failures)."""

    undoable = False
    label: str = "Queue failures"

    def do(self, session: Session) -> Changes:
        return Changes(queue=True)
