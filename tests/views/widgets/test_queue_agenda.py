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
    assert edits == [] and "Tags:" not in widget.caption.whole_text()


AGENDA_AT_1280 = (790, 300)
"""The agenda's size in the failure queue's dock of a 1280x720 window."""


def test_at_1280x720_the_group_column_has_the_room_and_every_title_reads_whole_or_in_its_tooltip(qtbot, tmp_path):
    from analysis.slices import Compare, Range, Slice
    from tests.views.layout_check import cells_cut, headers_cut

    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    risky = Slice(Range("merchant_risk", 0.3, None) & Compare("customer_age_days", "<=", 264),
                  name="merchant_risk > 0.3 AND customer_age_days <= 264")
    with queue.edit():  # the demo's groups: a slice's title names its version, the slice does not
        for title, slice_, failures, rate in (
                (f"{risky.name} (fraud-lr-2026.09)", risky, 792, (0.194, 0.183, 0.206)),
                ("swap of amount and distance_from_home_km where client = 'stark-pay' (fraud-lr-2026.09)", None,
                 750, (0.173, 0.162, 0.185)),
                ("failures no finding or failing slice explains (fraud-gbm-2026.10)", None, 458, (0.034, 0.033, 0.035))):
            group_id = queue.new_group(f"slice:{title}", "slice", title, "log", "v1", slice_,
                                       {"error_rate": rate[0], "ci": list(rate[1:])})
            queue.add_count(group_id, "log", failures)
    widget = QueueAgenda()
    widget.show_queue(queue)
    qtbot.addWidget(widget)
    widget.resize(*AGENDA_AT_1280)
    widget.show()
    qtbot.waitExposed(widget)
    try:
        header, tree = widget.tree.header(), widget.tree
        needs = {column: max(tree.sizeHintForColumn(column), header.sectionSizeFromContents(column).width())
                 for column in range(1, header.count())}
        # the other columns take what their numbers and titles need, the titles the meeting reads the rest
        assert {column: header.sectionSize(column) for column in needs} == needs
        assert header.sectionSize(0) > max(needs.values())
        assert header.sectionSize(0) + sum(needs.values()) >= tree.viewport().width() - 1
        assert headers_cut(header) == []
        assert cells_cut(widget.tree) == []  # each title or number whole, or elided with the whole title as tooltip
        first = widget.tree.topLevelItem(0)
        assert first.text(0) in first.toolTip(0) and risky.name in first.toolTip(0)
    finally:
        workspace.close()
