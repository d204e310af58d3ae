"""The queue panel: groups with their impact, edited by keys and buttons; every edit is in the
workspace when made and Edit > Undo (the Session's history) takes it back; a workspace held by
another process is shown read-only."""

import subprocess
import sys

import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import SEED_TAXONOMY
from analysis.workspace.workspace_file import Workspace
from app.commands import AttachWorkspace
from app.state import Session
from views.panels.queue import QueuePanel


def _items(keys, group_id):
    return pd.DataFrame({
        "item_key": keys, "dataset": "log", "row_key": keys, "row_number": range(len(keys)), "version": "v1",
        "label": "1", "prediction": "0", "loss": 0.9, "observed_at": pd.Timestamp("2026-11-02"),
        "group_id": group_id, "pinned": False, "status": "new", "added_at": pd.Timestamp("2026-11-03")})


def _fill(path):
    """A workspace with two groups: 'big' (3 failures queued of 30) and 'small' (2 of 10)."""
    workspace = Workspace.open(path)
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        for title, failures, keys in (("big", 30, ["a", "b", "c"]), ("small", 10, ["d", "e"])):
            group_id = queue.new_group(f"manual:{title}", "manual", title, "log", "v1", None,
                                       {"error_rate": failures / 100, "ci": [0.1, 0.4], "rows": 100,
                                        "errors": failures})
            queue.add_count(group_id, "log", failures)
            queue.insert_items(_items(keys, group_id))
    return workspace


@pytest.fixture
def panel(qtbot, sync_tasks, tmp_path):
    session = Session()
    session.run(AttachWorkspace(_fill(tmp_path / "review.sleuth")))
    widget = QueuePanel(session, sync_tasks)
    qtbot.addWidget(widget)
    widget.resize(1100, 600)
    widget.show()
    widget.focus_widget().setFocus()
    yield widget
    session.close()


def _reread(panel):
    """The groups as a fresh reader of the workspace sees them, by title."""
    return {g.title: g for g in FailureQueue(panel.session.workspace).groups(include_merged=True)}


def _rows(panel):
    tree = panel.agenda.tree
    return [[tree.topLevelItem(i).text(c) for c in range(tree.columnCount())] for i in range(tree.topLevelItemCount())]


def _answer(monkeypatch, **answers):
    """QInputDialog answers the panel's questions as a person would."""
    for name, value in answers.items():
        monkeypatch.setattr(QInputDialog, name, staticmethod(lambda *args, _v=value, **kwargs: (_v, True)))


def test_groups_show_their_impact_in_agenda_order(panel):
    rows = _rows(panel)
    assert [r[0] for r in rows] == ["big", "small"]
    assert rows[0][1:4] == ["30", "75.0%", "30.0% [10.0–40.0]"]
    assert panel.items.topLevelItemCount() == 3


def test_keys_tag_and_decide_and_the_sessions_undo_takes_them_back(panel, qtbot):
    tree = panel.focus_widget()
    qtbot.keyClick(tree, Qt.Key_Down)
    qtbot.keyClick(tree, Qt.Key_6)
    qtbot.keyClick(tree, Qt.Key_C)
    small = _reread(panel)["small"]
    assert small.tags == [SEED_TAXONOMY[5][0]] and (small.decision, small.status) == ("collect", "decided")
    assert panel.session.can_undo
    qtbot.keyClick(tree, Qt.Key_Z, Qt.ControlModifier)
    assert _reread(panel)["small"].decision is None
    assert panel.session.undo() == f"Tag: {SEED_TAXONOMY[5][0]}"
    assert _reread(panel)["small"].tags == []
    qtbot.keyClick(tree, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert _reread(panel)["small"].tags == [SEED_TAXONOMY[5][0]]
    assert _reread(panel)["big"].tags == []


def test_buttons_set_owner_status_decision_and_note(panel, qtbot, monkeypatch):
    _answer(monkeypatch, getText="  bo  ")
    qtbot.mouseClick(panel.buttons["owner"], Qt.LeftButton)
    _answer(monkeypatch, getItem="triaged")
    qtbot.mouseClick(panel.buttons["status"], Qt.LeftButton)
    assert (_reread(panel)["big"].owner, _reread(panel)["big"].status) == ("bo", "triaged")
    assert _rows(panel)[0][4:6] == ["triaged", "bo"]
    _answer(monkeypatch, getItem="rule", getText="route the fallback")
    qtbot.mouseClick(panel.buttons["decide"], Qt.LeftButton)
    big = _reread(panel)["big"]
    assert (big.decision, big.rationale, big.status) == ("rule", "route the fallback", "decided")
    _answer(monkeypatch, getMultiLineText="same client as last week")
    qtbot.mouseClick(panel.buttons["note"], Qt.LeftButton)
    assert [n["text"] for n in panel.queue.notes(big.id)] == ["same client as last week"]
    panel.session.undo()
    assert panel.queue.notes(big.id) == []


def test_merge_split_and_move_keep_every_failure_and_undo(panel, qtbot, monkeypatch):
    panel.agenda.tree.setCurrentItem(panel.agenda.tree.topLevelItem(1))  # small
    _answer(monkeypatch, getItem=f"#{_reread(panel)['big'].id} big")
    qtbot.mouseClick(panel.buttons["merge"], Qt.LeftButton)
    groups = _reread(panel)
    assert (groups["big"].items, groups["small"].merged_into) == (5, groups["big"].id)
    assert [r[0] for r in _rows(panel)] == ["big"]
    panel.agenda.tree.setCurrentItem(panel.agenda.tree.topLevelItem(0))
    for i in (0, 1):
        panel.items.topLevelItem(i).setSelected(True)
    _answer(monkeypatch, getText="two odd ones")
    qtbot.mouseClick(panel.buttons["split"], Qt.LeftButton)
    groups = _reread(panel)
    assert (groups["two odd ones"].items, groups["big"].items) == (2, 3)
    panel.agenda.tree.setCurrentItem(panel.agenda.tree.topLevelItem(0))
    panel.items.topLevelItem(0).setSelected(True)
    _answer(monkeypatch, getItem=f"#{groups['two odd ones'].id} two odd ones")
    qtbot.mouseClick(panel.buttons["move"], Qt.LeftButton)
    assert _reread(panel)["two odd ones"].items == 3
    for _ in range(3):
        panel.session.undo()
    groups = _reread(panel)
    assert "two odd ones" not in groups and (groups["big"].items, groups["small"].items) == (3, 2)
    assert groups["small"].merged_into is None


def test_a_workspace_held_by_another_process_is_read_only_and_says_so(qtbot, sync_tasks, tmp_path):
    path = tmp_path / "shared.sleuth"
    _fill(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from analysis.workspace.workspace_file import Workspace; "
                               "w = Workspace.open(sys.argv[1]); print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        session = Session()
        session.run(AttachWorkspace(Workspace.open(path)))
        widget = QueuePanel(session, sync_tasks)
        qtbot.addWidget(widget)
        widget.show()
        assert widget.banner.isVisible() and "Read-only" in widget.banner.text()
        assert str(holder.pid) in widget.banner.text()
        assert not widget.buttons["owner"].isEnabled()
        qtbot.keyClick(widget.focus_widget(), Qt.Key_C)
        assert FailureQueue(session.workspace).groups()[0].decision is None and not session.can_undo
        session.close()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_in_the_window_the_queue_is_a_dock_and_edit_undo_takes_back_its_edits(qtbot, qsettings, tmp_path):
    from tests.views.helpers import close_window, make_window

    path = tmp_path / "review.sleuth"
    _fill(path).close()
    window = make_window(qtbot, qsettings)
    try:
        assert window.controller.open_workspace(path)
        assert window.queue_dock.toggleViewAction() in window.actions_by_id["show_data"].associatedObjects()[0].actions()
        window.queue_dock.show()
        window.queue_dock.raise_()
        tree = window.queue_panel.focus_widget()
        tree.setFocus()
        qtbot.keyClick(tree, Qt.Key_G)
        assert _reread(window.queue_panel)["big"].decision == "golden"
        window.actions_by_id["undo"].trigger()
        assert _reread(window.queue_panel)["big"].decision is None
        assert window.queue_panel.agenda.tree.topLevelItem(0).text(7) == ""
    finally:
        close_window(window)


def test_f11_opens_meeting_mode_and_without_a_workspace_says_why(qtbot, qsettings, tmp_path, monkeypatch):
    from tests.views.helpers import close_window, make_window

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("ana, bo", True)))
    window = make_window(qtbot, qsettings)
    try:
        assert window.actions_by_id["meeting"].shortcut().toString() == "F11"
        window.actions_by_id["meeting"].trigger()
        assert window.meeting_view is None
        assert any("workspace" in text for text in window.notifications.messages())
        path = tmp_path / "review.sleuth"
        _fill(path).close()
        assert window.controller.open_workspace(path)
        window.actions_by_id["meeting"].trigger()
        assert window.meeting_view.isVisible() and window.meeting_view.meeting.attendees == ("ana", "bo")
        assert "big" in window.meeting_view.title.text()
        window.meeting_view.close()
    finally:
        close_window(window)
