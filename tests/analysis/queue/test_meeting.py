"""The review meeting in the workspace: who met when, which decisions it took (undone together
with the group's decision), the examples it looks at, and the follow-up it measures first."""

import datetime as dt

import pandas as pd

from analysis.data.open_log import load_log
from analysis.queue.edits import apply, revert
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.meeting import (DecideInMeeting, agenda_screens, end_meeting, example_row, measure_awaiting,
                                    meeting_decisions, start_meeting)
from analysis.scope import Scope
from analysis.workspace.workspace_file import Workspace
from tests.analysis.queue.test_followup import _log, decided  # noqa: F401 - the fixture


def test_a_meeting_and_its_decisions_are_kept_and_undone_together(tmp_path):
    path = tmp_path / "review.sleuth"
    workspace = Workspace.open(path)
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        group_id = queue.new_group("manual:g", "manual", "g", "log", "v1", None, {})
    meeting = start_meeting(queue, [" ana", "bo ", "", "ana"])
    assert meeting.attendees == ("ana", "bo")
    edit = apply(queue, DecideInMeeting(meeting.id, group_id, "golden", "keep these"))
    assert meeting_decisions(queue, meeting.id)[0]["decision"] == "golden"
    revert(queue, edit)
    assert meeting_decisions(queue, meeting.id) == [] and queue.group(group_id).decision is None
    apply(queue, DecideInMeeting(meeting.id, group_id, "rule"))
    end_meeting(queue, meeting)
    workspace.close()
    reopened = FailureQueue(Workspace.open(path))
    held = reopened.workspace.connection.execute("SELECT attendees, ended_at FROM queue_meetings").fetchall()
    assert held[0][0] == '["ana", "bo"]' and held[0][1] is not None
    assert [d["decision"] for d in meeting_decisions(reopened, meeting.id)] == ["rule"]
    assert reopened.group(group_id).decision == "rule" and reopened.group(group_id).status == "decided"
    reopened.workspace.close()


def test_examples_are_the_most_confident_mistakes_and_show_their_row(decided, store, tmp_path):
    queue, group = decided
    screens = agenda_screens(queue, cap=3)
    assert [g for g, item in screens if item is None] == [g.id for g in queue.agenda()]
    assert screens[0] == (group.id, None)  # decided: its follow-up comes first
    shown = pd.DataFrame([item for g, item in screens if g == group.id and item is not None])
    items = queue.items(group.id)
    assert len(shown) == 3 and list(shown["loss"]) == sorted(items["loss"], reverse=True)[:3]
    assert all(len([i for g, i in screens if g == other.id and i is not None]) == min(3, other.items)
               for other in queue.groups())
    path, frame = _log(tmp_path / "october.parquet", dt.datetime(2026, 10, 1), weak_error=0.4)
    loaded = load_log(store, [str(path)], check=False)
    row = example_row(store, loaded.dataset, int(shown["row_number"][0]))
    assert row["request_id"] == shown["row_key"][0]
    source = frame.set_index("request_id").loc[row["request_id"]]
    assert (row["segment"], row["amount"]) == (source["segment"], source["amount"])


def test_the_meeting_measures_awaiting_groups_on_the_new_log(decided, store, tmp_path):
    queue, group = decided
    path, _ = _log(tmp_path / "november.parquet", dt.datetime(2026, 11, 1), weak_error=0.05, seed=1)
    loaded = load_log(store, [str(path)], check=False)
    measured = measure_awaiting(Scope(store, loaded.dataset, loaded.roles), queue.groups())
    assert list(measured) == [group.id] and measured[group.id]["status"] == "verified"
    assert queue.group(group.id).status == "decided"  # measuring writes nothing
