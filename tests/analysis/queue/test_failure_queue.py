"""The queue's edits: each one undoable, recorded in the append-only history, durable when
acknowledged even if the process is killed; a second process gets a read-only copy."""

import json
import multiprocessing
import os
import random
import signal

import pytest

from analysis.errors import InputError
from analysis.queue.edits import AddCauseTag, AddNote, SetGroupFields, SplitGroup, apply, decide, revert, toggle_tag
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import SEED_TAXONOMY
from analysis.workspace.workspace_file import Workspace
from tests.app.run_cli import sleuth_in_another_process

import pandas as pd


def _queue_with_group(path, user="ana"):
    """A workspace holding one group of three items."""
    workspace = Workspace.open(path)
    queue = FailureQueue(workspace, user=user)
    with queue.edit():
        group_id = queue.new_group("manual:seed", "manual", "seed group", "log", "v1", None, {})
        queue.insert_items(pd.DataFrame({
            "item_key": ["a@v1", "b@v1", "c@v1"], "dataset": "log", "row_key": ["a", "b", "c"],
            "row_number": [0, 1, 2], "version": "v1", "label": "1", "prediction": "0", "loss": 1.0,
            "observed_at": pd.Timestamp("2026-10-01"), "group_id": group_id, "pinned": False, "status": "new",
            "added_at": pd.Timestamp("2026-12-01")}))
    return workspace, queue, group_id


def test_taxonomy_is_seeded_and_editable(tmp_path):
    workspace, queue, group_id = _queue_with_group(tmp_path / "w.sleuth")
    assert queue.taxonomy() == list(SEED_TAXONOMY)
    apply(queue, AddCauseTag("currency", parent="data error"))
    apply(queue, toggle_tag(queue, group_id, "currency"))
    apply(queue, toggle_tag(queue, group_id, "drift"))
    assert queue.group(group_id).tags == ["currency", "drift"]
    apply(queue, toggle_tag(queue, group_id, "currency"))
    assert queue.group(group_id).tags == ["drift"]
    with pytest.raises(InputError, match="not in the cause taxonomy"):
        toggle_tag(queue, group_id, "gremlins")
    workspace.close()


def test_every_edit_undoes_and_leaves_history(tmp_path):
    workspace, queue, group_id = _queue_with_group(tmp_path / "w.sleuth")
    decision = apply(queue, decide(group_id, "retrain", rationale="stale features", owner="bo"))
    group = queue.group(group_id)
    assert (group.decision, group.rationale, group.owner, group.status) == ("retrain", "stale features", "bo", "decided")
    note = apply(queue, AddNote(group_id, "seen again on Monday"))
    split = apply(queue, SplitGroup(["c@v1"], "the odd one"))
    assert queue.group(split.group_id).items == 1 and queue.group(group_id).items == 2
    for edit in (split, note, decision):
        revert(queue, edit)
    group = queue.group(group_id)
    assert (group.decision, group.owner, group.status, group.items) == (None, None, "new", 3)
    assert queue.notes(group_id) == []
    history = queue.history()
    assert [h.what for h in history][-3:] == ["undo Split group", "undo Add note", "undo Decide: retrain"]
    assert {h.who for h in history} == {"ana"}
    workspace.close()


def test_unknown_status_and_decision_are_refused(tmp_path):
    workspace, queue, group_id = _queue_with_group(tmp_path / "w.sleuth")
    with pytest.raises(InputError, match="unknown status"):
        SetGroupFields(group_id, {"status": "done-ish"})
    with pytest.raises(InputError, match="unknown decision"):
        decide(group_id, "pray")
    workspace.close()


def _edit_until_killed(path, acks):
    """Child: note after note and owner after owner, acknowledging each once committed."""
    workspace = Workspace.open(path)
    queue = FailureQueue(workspace, user="child")
    group_id = queue.groups()[0].id
    start = len(queue.notes(group_id))
    for i in range(start, start + 10_000):
        apply(queue, AddNote(group_id, f"note {i}"))
        apply(queue, SetGroupFields(group_id, {"owner": f"owner {i}"}))
        acks.send(i)


@pytest.mark.slow
def test_killed_editor_loses_no_acknowledged_edit(tmp_path):
    """SIGKILL lands mid-edit at a random point: every acknowledged edit is there, and the
    workspace opens (50 runs, each killed after a random number of acknowledgements)."""
    path = tmp_path / "crash.sleuth"
    _queue_with_group(path)[0].close()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # children fork with DuckDB and Sleuth imported
    rng = random.Random(16)
    acknowledged = -1
    for _ in range(50):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_edit_until_killed, args=(str(path), sender))
        child.start()
        sender.close()
        for _ in range(rng.randint(1, 3)):
            acknowledged = receiver.recv()
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        receiver.close()
        workspace = Workspace.open(path)
        queue = FailureQueue(workspace)
        group = queue.groups()[0]
        texts = [n["text"] for n in queue.notes(group.id)]
        # The child goes on editing between the last acknowledgement read and the kill (several
        # edits on a loaded machine): every acknowledged edit is kept, the notes are a gapless
        # run, and the owner is the one set after the newest kept note or the one before it.
        assert len(texts) > acknowledged and texts == [f"note {i}" for i in range(len(texts))]
        assert group.owner in (f"owner {len(texts) - 1}", f"owner {len(texts) - 2}")
        assert int(group.owner.split()[1]) >= acknowledged
        workspace.close()


@pytest.fixture(scope="module")
def held_elsewhere(tmp_path_factory):
    """Two workspaces this process holds, one with a decided group and one that never held a
    queue, and what a second process's ``queue list`` and ``queue decide`` of each got: the four
    commands run in one other process, which pays a fresh interpreter's imports once."""
    folder = tmp_path_factory.mktemp("held")
    decided, plain = folder / "shared.sleuth", folder / "plain.sleuth"
    workspace, queue, group_id = _queue_with_group(decided)
    apply(queue, decide(group_id, "collect", owner="ana"))
    empty = Workspace.open(plain)
    results = sleuth_in_another_process(("queue", "list", decided, "--json"),
                                        ("queue", "decide", decided, group_id, "--decision", "fix"),
                                        ("queue", "list", plain, "--json"),
                                        ("queue", "decide", plain, "1", "--decision", "none"))
    yield queue, group_id, results
    empty.close()
    workspace.close()


def test_a_second_process_gets_a_read_only_copy(held_elsewhere):
    queue, group_id, (listing, writing, *_) = held_elsewhere
    assert listing.returncode == 0, listing.stderr
    assert "read-only" in listing.stderr and str(os.getpid()) in listing.stderr
    assert json.loads(listing.stdout)["groups"][0]["decision"] == "collect"
    assert writing.returncode == 2
    assert "read-only" in writing.stderr and "Traceback" not in writing.stderr
    assert queue.group(group_id).decision == "collect"


def test_a_workspace_held_elsewhere_lists_its_empty_queue_and_refuses_edits(held_elsewhere):
    """Every workspace has the queue's tables (the registry makes them), so a read-only copy of
    one that never held a queue lists an empty one; an edit is refused in one sentence."""
    _, _, (_, _, listing, deciding) = held_elsewhere
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["groups"] == [] and "read-only copy" in listing.stderr
    assert deciding.returncode == 2 and "Traceback" not in deciding.stderr


def test_agenda_puts_actions_awaiting_their_check_first_and_closed_groups_last(tmp_path):
    workspace, queue, seed = _queue_with_group(tmp_path / "w.sleuth")
    with queue.edit():
        big, small, closed = (queue.new_group(f"manual:{t}", "manual", t, "log", "v1", None, {})
                              for t in ("big", "small", "closed"))
        for group_id, failures in ((seed, 1), (big, 50), (small, 5), (closed, 99)):
            queue.add_count(group_id, "log", failures)
    apply(queue, decide(small, "collect"))
    apply(queue, decide(closed, "none"))
    assert [g.title for g in queue.agenda()] == ["small", "big", "seed group", "closed"]
    workspace.close()
