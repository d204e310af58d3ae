"""The weekly review meeting: who met when, what it decided, and what it looks at.

A meeting is a row of the workspace (when, attendees); a decision taken in it is an ordinary
decision on the group plus a line tying it to the meeting, undone together, so the report can
say which meeting decided what. The agenda is the queue's own order (groups whose action awaits
its check first, then by impact); each group shows its evidence, then a few of its failures one
by one, the most confident mistakes first (highest loss), as they teach the most per minute.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any


from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.queue.edits import QueueEdit, SetGroupFields, decide
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.queue.followup import AWAITING, measure
from analysis.scope import Scope
from analysis.store import Store

EXAMPLES_PER_GROUP = 5
"""Failures shown one per screen for each group: enough to recognise the pattern, few enough
that an hour covers the agenda."""


@dataclass(frozen=True)
class Meeting:
    id: int
    held_at: _dt.datetime
    attendees: tuple[str, ...]


def start_meeting(queue: FailureQueue, attendees: list[str]) -> Meeting:
    """Record that a meeting starts now with ``attendees`` (names, in the order given)."""
    names = tuple(dict.fromkeys(name.strip() for name in attendees if name.strip())) or (queue.user,)
    con = queue.workspace.connection
    with queue.edit():
        meeting_id = queue.next_id("queue_meetings", "meeting_id")
        held_at = _dt.datetime.now()
        con.execute("INSERT INTO queue_meetings VALUES (?, ?, ?, NULL)",
                    [meeting_id, held_at, json.dumps(list(names))])
        queue.record(f"meeting {meeting_id}", "meeting started", None, {"attendees": list(names)})
    return Meeting(meeting_id, held_at, names)


def end_meeting(queue: FailureQueue, meeting: Meeting) -> None:
    with queue.edit():
        queue.workspace.connection.execute("UPDATE queue_meetings SET ended_at = ? WHERE meeting_id = ?",
                                           [_dt.datetime.now(), meeting.id])
        queue.record(f"meeting {meeting.id}", "meeting ended")


def meeting_decisions(queue: FailureQueue, meeting_id: int) -> list[dict[str, Any]]:
    """What a meeting decided, in the order it decided it."""
    rows = queue.workspace.connection.execute(
        "SELECT group_id, decision, made_at FROM queue_meeting_decisions WHERE meeting_id = ? ORDER BY record_id",
        [meeting_id]).fetchall()
    return [{"group": g, "decision": d, "at": at} for g, d, at in rows]


@dataclass
class DecideInMeeting(QueueEdit):
    """A decision on a group taken in a meeting: the group's decision, and the meeting's record of it."""

    meeting_id: int
    group_id: int
    decision: str
    rationale: str | None = None
    label: str = ""
    _decide: SetGroupFields | None = field(default=None, init=False)
    _record_id: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._decide = decide(self.group_id, self.decision, self.rationale)
        self.label = self.label or self._decide.label

    def do(self, queue: FailureQueue) -> None:
        self._decide.do(queue)
        con = queue.workspace.connection
        self._record_id = queue.next_id("queue_meeting_decisions", "record_id")
        con.execute("INSERT INTO queue_meeting_decisions VALUES (?, ?, ?, ?, ?)",
                    [self._record_id, self.meeting_id, self.group_id, self.decision, _dt.datetime.now()])

    def undo(self, queue: FailureQueue) -> None:
        queue.workspace.connection.execute("DELETE FROM queue_meeting_decisions WHERE record_id = ?", [self._record_id])
        self._decide.undo(queue)


def agenda_screens(queue: FailureQueue, cap: int = EXAMPLES_PER_GROUP) -> list[tuple[int, dict[str, Any] | None]]:
    """The meeting's screens in agenda order: each group's evidence (``None``), then at most
    ``cap`` of its queued failures, the most confident mistakes first; one query for all groups."""
    sampled = queue.workspace.connection.execute(
        "SELECT * EXCLUDE (rank) FROM (SELECT *, row_number() OVER (PARTITION BY group_id "
        "ORDER BY loss DESC NULLS LAST, item_key) AS rank FROM queue_items WHERE group_id IS NOT NULL) WHERE rank <= ? "
        "ORDER BY group_id, loss DESC NULLS LAST, item_key", [cap]).df()
    by_group: dict[int, list[dict[str, Any]]] = {}
    for item in sampled.to_dict("records"):  # one conversion: per-group frames cost ~2 ms each
        by_group.setdefault(int(item["group_id"]), []).append(item)
    screens: list[tuple[int, dict[str, Any] | None]] = []
    for group in queue.agenda():
        screens.append((group.id, None))
        screens += [(group.id, item) for item in by_group.get(group.id, [])]
    return screens


def example_row(store: Store, dataset: Dataset, row_number: int, cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
    """One log row's values by column (what the meeting reads about a failure); empty when gone."""
    frame = store.df(Sql(f"SELECT * EXCLUDE ({ident(ROW_ID)}) FROM {ident(dataset.view)} WHERE {ident(ROW_ID)} = ?",
                         (int(row_number),)), cancel)
    return {} if frame.empty else {column: frame.iloc[0][column] for column in frame.columns}


def measure_awaiting(scope: Scope, groups: list[Group],
                     cancel: CancelToken = NEVER_CANCELLED) -> dict[int, dict[str, Any]]:
    """The follow-up of every group whose action awaits its check, measured on ``dataset``'s new
    rows (reads the log only; the caller writes the results, on the thread that owns the workspace)."""
    measured = {}
    for group in groups:
        cancel.raise_if_cancelled()
        if group.status in AWAITING and group.slice is not None and group.evidence.get("rows"):
            result = measure(scope, group)
            if result is not None:
                measured[group.id] = result
    return measured
