"""The agenda widget turns keys into queue edits and applies none itself: number keys toggle the
taxonomy's tags, letters decide, Ctrl+Z / Ctrl+Shift+Z ask for undo and redo; a read-only
agenda turns no key into an edit."""

import pytest
from PySide6.QtCore import Qt

from analysis.queue.edits import apply
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import SEED_TAXONOMY
from analysis.workspace.workspace_file import Workspace
from views.widgets.queue_agenda import QueueAgenda


@pytest.fixture
def agenda(qtbot, tmp_path):
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        for title, failures in (("big group", 30), ("small group", 10)):
            group_id = queue.new_group(f"manual:{title}", "manual", title, "log", "v1", None, {})
            queue.add_count(group_id, "log", failures)
    widget = QueueAgenda()
    widget.show_queue(queue)
    qtbot.addWidget(widget)
    widget.show()
    widget.tree.setFocus()
    yield widget, queue
    workspace.close()


def test_keys_become_edits_and_undo_requests(agenda, qtbot):
    widget, queue = agenda
    edits, undos, redos = [], [], []
    widget.sig_edit.connect(edits.append)
    widget.sig_undo.connect(lambda: undos.append(1))
    widget.sig_redo.connect(lambda: redos.append(1))
    assert widget.tree.topLevelItem(0).text(0) == "big group"  # impact first
    qtbot.keyClick(widget.tree, Qt.Key_Down)
    qtbot.keyClick(widget.tree, Qt.Key_6)
    qtbot.keyClick(widget.tree, Qt.Key_C)
    qtbot.keyClick(widget.tree, Qt.Key_X)  # not a key of the agenda
    assert [e.label for e in edits] == [f"Tag: {SEED_TAXONOMY[5][0]}", "Decide: collect"]
    for edit in edits:
        apply(queue, edit)
    widget.refresh()
    small = {g.title: g for g in queue.groups()}["small group"]
    assert small.tags == [SEED_TAXONOMY[5][0]] and small.decision == "collect"
    assert widget.selected_group() == small.id and widget.tree.currentItem().text(7) == "collect"
    qtbot.keyClick(widget.tree, Qt.Key_Z, Qt.ControlModifier)
    qtbot.keyClick(widget.tree, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert (undos, redos) == ([1], [1])


def test_a_read_only_agenda_makes_no_edit(agenda, qtbot):
    widget, queue = agenda
    widget.show_queue(queue, editable=False)
    edits = []
    widget.sig_edit.connect(edits.append)
    qtbot.keyClick(widget.tree, Qt.Key_1)
    qtbot.keyClick(widget.tree, Qt.Key_G)
    assert edits == [] and "Tags:" not in widget.caption.text()
