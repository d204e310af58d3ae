"""The queue panel driven by keys alone: tag with number keys, decide with letters, undo and
redo; every change is in the workspace when the key is pressed."""

import pytest
from PySide6.QtCore import Qt

from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import SEED_TAXONOMY
from analysis.workspace.workspace_file import Workspace
from views.widgets.queue_agenda import QueuePanel


@pytest.fixture
def panel(qtbot, tmp_path):
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        for title, failures in (("big group", 30), ("small group", 10)):
            group_id = queue.new_group(f"manual:{title}", "manual", title, "log", "v1", None, {})
            queue.set_count(group_id, "log", failures)
    widget = QueuePanel(queue)
    qtbot.addWidget(widget)
    widget.show()
    widget.tree.setFocus()
    yield widget, queue
    workspace.close()


def _reread(queue):
    """The groups as a fresh reader of the workspace sees them."""
    return {g.title: g for g in FailureQueue(queue.workspace).groups()}


def test_keys_tag_decide_undo_and_redo(panel, qtbot):
    widget, queue = panel
    assert widget.tree.topLevelItem(0).text(0) == "big group"  # impact first
    qtbot.keyClick(widget.tree, Qt.Key_Down)
    qtbot.keyClick(widget.tree, Qt.Key_6)
    qtbot.keyClick(widget.tree, Qt.Key_C)
    small = _reread(queue)["small group"]
    assert small.tags == [SEED_TAXONOMY[5][0]] and (small.decision, small.status) == ("collect", "decided")
    assert widget.tree.currentItem().text(6) == "collect"
    qtbot.keyClick(widget.tree, Qt.Key_Z, Qt.ControlModifier)
    assert _reread(queue)["small group"].decision is None
    qtbot.keyClick(widget.tree, Qt.Key_Z, Qt.ControlModifier)
    assert _reread(queue)["small group"].tags == []
    qtbot.keyClick(widget.tree, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert _reread(queue)["small group"].tags == [SEED_TAXONOMY[5][0]]
    assert _reread(queue)["big group"].tags == []
    assert [h.who for h in queue.history()][-1] == "ana"


def test_the_panel_renders(panel):
    widget, _ = panel
    image = widget.grab().toImage()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 3
