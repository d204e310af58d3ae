"""The window at 1280x720 on the demo, walked through every panel as a person would: each one
draws its result, nothing raises or reports an error, no control runs past what holds it, no
dock moves when another tab is raised, no header title is cut, and no label, box or cell is
cut without an ellipsis and a tooltip that gives the whole text (:mod:`tests.views.layout_check`)."""

import pytest
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QLineEdit, QScrollArea, QTableView, QWidget

from analysis.demo.workspace import ensure_demo_workspace
from app.window_tour import stops, visit
from tests.conftest import WINDOW_DEMO_ROWS
from tests.views.helpers import close_shared_window, not_blank, reuse_check_in_panel, settle, shared_window
from tests.views.layout_check import cut_texts, dock_places, overflowing
from views.widgets.header_elision import elide_headers, section_tooltip

SMALL_SCREEN = (1280, 720)


@pytest.fixture(scope="module")
def small_screen_window(qapp, tmp_path_factory, window_demo_files, window_demo_check, window_demo_influence):
    """One window at 1280x720 on the demo workspace, shared by the tour and the reading of the
    trace and the queue (both only visit panels and read them). The workspace is the 20k
    demo's: every incident, version card, trace and queue group of the 200k one is in it, so
    every panel draws the same kinds of result at a tenth of the cost; its counts have one
    digit less, a layout check's margin the headers' and cells' room covers. What the tour
    computes that other tests compute too is the session's: the input checks of the log, and
    the models' influence preparations (the trace panel's and the queue intake's blame)."""
    workspace = ensure_demo_workspace(window_demo_files.log.parent, rows=WINDOW_DEMO_ROWS, seed=7)
    window = shared_window(tmp_path_factory, size=SMALL_SCREEN)
    window.session.influence = window_demo_influence
    drawn = set()
    for stop in stops(window):
        stop.panel.sig_rendered.connect(lambda name=stop.name: drawn.add(name))
    assert window.controller.open_workspace(workspace)
    QApplication.processEvents()
    window.drawn = drawn
    with pytest.MonkeyPatch.context() as patch:
        reuse_check_in_panel(patch, window_demo_files, window_demo_check)
        yield window
    close_shared_window(window)


def test_every_panel_at_1280x720_draws_its_result_with_nothing_cut(small_screen_window, qtbot):
    window = small_screen_window
    settle(qtbot, window)
    drawn, tour = window.drawn, stops(window)
    problems, places = {}, dock_places(window)
    for stop in tour:
        visit(window, stop, lambda: settle(qtbot, window, timeout=120000))
        assert stop.name in drawn, f"{stop.name} drew nothing: {stop.panel.empty_message()}"
        assert not_blank(stop.panel), stop.name
        if stop.dock is window.queue_dock:  # the picture shows groups, not an empty agenda
            assert window.queue_panel.agenda.tree.topLevelItemCount() > 0
        found = cut_texts(window) + overflowing(window)
        if dock_places(window) != places:
            found.append(f"docks moved: {places} -> {dock_places(window)}")
        if found:
            problems[stop.name] = found
    assert problems == {}
    assert window.notifications.messages() == []


def test_the_check_sees_a_cut_label_header_and_cell_and_accepts_only_the_label_and_cell_elided_with_a_tooltip(qtbot):
    window = QWidget()
    row = QHBoxLayout(window)
    label = QLabel("challenger (boosted trees) is better overall")
    label.setMinimumWidth(10)
    model = QStandardItemModel(1, 1)
    model.setHorizontalHeaderLabels(["challenger (boosted trees)"])
    model.setItem(0, 0, QStandardItem("merchant_risk > 0.3 AND customer_age_days <= 264"))
    table = QTableView()
    table.setModel(model)
    table.setWordWrap(False)
    table.horizontalHeader().resizeSection(0, 60)
    row.addWidget(label)
    row.addWidget(table)
    qtbot.addWidget(window)
    window.resize(200, 150)
    window.show()
    assert cut_texts(window) == ["challenger (boosted trees) is better overall", "challenger (boosted trees)",
                                 "merchant_risk > 0.3 AND customer_age_days <= 264"]
    label.setText("challenger (boosted…")
    label.setToolTip("challenger (boosted trees) is better overall")
    model.item(0, 0).setToolTip("merchant_risk > 0.3 AND customer_age_days <= 264 (fraud-lr-2026.09)")
    elide_headers(window)
    assert section_tooltip(table.horizontalHeader(), 0) == "challenger (boosted trees)"
    assert cut_texts(window) == ["challenger (boosted trees)"]  # a hover does not help a projected table
    table.horizontalHeader().resizeSection(0, 400)
    assert cut_texts(window) == []


def test_the_check_sees_a_row_of_controls_wider_than_what_holds_it(qtbot):
    dock = QWidget()
    panel = QWidget(dock)
    row = QHBoxLayout(panel)
    edges = QLineEdit()
    edges.setPlaceholderText("e.g. 0, 50, 200")
    row.addWidget(QLabel("Bins"))
    row.addWidget(edges)
    panel.setFixedWidth(300)
    qtbot.addWidget(dock)
    dock.resize(400, 60)
    dock.show()
    assert overflowing(dock) == []
    dock.resize(200, 60)  # the panel keeps its width: the field runs past the dock's edge
    assert overflowing(dock) == ["e.g. 0, 50, 200 (past QWidget)"]
    scroll = QScrollArea()  # scrolled out of a viewport is not cut: the user scrolls to it
    panel.setParent(None)
    scroll.setWidget(panel)
    qtbot.addWidget(scroll)
    scroll.resize(150, 100)
    scroll.show()
    assert overflowing(scroll) == []


def rows_in_view(view) -> int:
    """Rows of ``view`` drawn whole in its viewport (its header aside)."""
    model, height = view.model(), view.viewport().height()
    return sum(1 for row in range(model.rowCount())
               if 0 <= view.visualRect(model.index(row, 0)).top() and view.visualRect(model.index(row, 0)).bottom() < height)


def test_at_1280x720_the_trace_lists_and_the_queue_agenda_read_without_scrolling(small_screen_window, qtbot):
    """The influence tables show at least six training rows each, none scrolled sideways, and
    the queue's agenda room for at least ten groups under its one-line note of the last intake."""
    window = small_screen_window
    settle(qtbot, window)
    by_name = {stop.name: stop for stop in stops(window)}
    visit(window, by_name["trace"], lambda: settle(qtbot, window, timeout=120000))
    panel = window.trace_panel
    for table in (panel.harmful, panel.helpful):
        assert table.rowCount() >= 6 and rows_in_view(table) >= 6
        assert not table.horizontalScrollBar().isVisible()
    assert not panel.comparison.isVisible()  # until a training row is chosen
    panel.harmful.selectRow(0)
    assert panel.comparison.isVisible() and panel.comparison.rowCount() > 0
    visit(window, by_name["failure-queue"], lambda: settle(qtbot, window, timeout=120000))
    agenda = window.queue_panel.agenda.tree
    groups = agenda.topLevelItemCount()  # the 20k demo's queue has fewer than ten: the room is counted
    assert groups > 0 and rows_in_view(agenda) == groups
    assert agenda.viewport().height() // agenda.visualItemRect(agenda.topLevelItem(0)).height() >= 10
    assert window.queue_panel.last_intake.height() <= 2 * window.queue_panel.last_intake.fontMetrics().height() + 8
