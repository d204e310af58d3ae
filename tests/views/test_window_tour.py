"""The window at 1280x720 on the demo, walked through every panel as a person would: each one
draws its result, nothing raises or reports an error, and no label or header is cut without
an ellipsis and a tooltip that gives the whole text."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QAbstractScrollArea, QHBoxLayout, QHeaderView, QLabel, QTableView, QWidget

from analysis.demo.workspace import ensure_demo_workspace
from app.window_tour import stops, visit
from tests.views.helpers import close_window, make_window, not_blank, settle
from views.widgets.header_elision import elide_headers, section_fits, section_tooltip

SMALL_SCREEN = (1280, 720)
ELLIPSIS = "…"


def _label_cut(label: QLabel) -> str | None:
    """The text of a one-line label narrower on screen than its text, unless it is elided with
    the whole text in its tooltip (a wrapped label grows instead of cutting)."""
    if label.wordWrap() or not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
        return None
    shown = label.visibleRegion().boundingRect().width()
    needed = label.sizeHint().width()
    elided = label.text().rstrip().endswith(ELLIPSIS) and bool(label.toolTip())
    return None if shown >= needed - 1 or elided else label.text()


def _header_cut(header: QHeaderView) -> list[str]:
    """Titles of sections narrower than their text, unless the header elides and its tooltip
    gives the whole title."""
    elides = header.textElideMode() != Qt.ElideNone
    return [str(header.model().headerData(section, header.orientation(), Qt.DisplayRole))
            for section in range(header.count())
            if not header.isSectionHidden(section) and not section_fits(header, section)
            and not (elides and section_tooltip(header, section))]


def _on_screen(widget) -> bool:
    """Shown and not parked behind another dock's tab (Qt keeps those "visible", off the window).
    A header or table is covered by its own viewport, so the viewport says where it shows."""
    shown = widget.viewport() if isinstance(widget, QAbstractScrollArea) else widget
    return widget.isVisible() and not shown.visibleRegion().isEmpty()


def cut_texts(window) -> list[str]:
    """Every text of the window shown cut (see :func:`_label_cut` and :func:`_header_cut`)."""
    cut = [text for label in window.findChildren(QLabel) if _on_screen(label) for text in [_label_cut(label)] if text]
    for header in window.findChildren(QHeaderView):
        if _on_screen(header) and header.model() is not None:
            cut += _header_cut(header)
    return cut


def test_every_panel_at_1280x720_draws_its_result_with_nothing_cut(qtbot, qsettings, demo_files):
    workspace = ensure_demo_workspace(demo_files.log.parent, rows=200_000, seed=7)
    window = make_window(qtbot, qsettings)
    try:
        window.resize(*SMALL_SCREEN)
        drawn = set()
        tour = stops(window)
        for stop in tour:
            stop.panel.sig_rendered.connect(lambda name=stop.name: drawn.add(name))
        assert window.controller.open_workspace(workspace)
        settle(qtbot, window)
        problems = {}
        for stop in tour:
            visit(window, stop, lambda: settle(qtbot, window, timeout=120000))
            assert stop.name in drawn, f"{stop.name} drew nothing: {stop.panel.empty_message()}"
            assert not_blank(stop.panel), stop.name
            if stop.dock is window.queue_dock:  # the picture shows groups, not an empty agenda
                assert window.queue_panel.agenda.tree.topLevelItemCount() > 0
            cut = cut_texts(window)
            if cut:
                problems[stop.name] = cut
        assert problems == {}
        assert window.notifications.messages() == []
    finally:
        window.close()
        close_window(window)


def test_the_check_sees_a_cut_label_and_header_and_accepts_them_elided_with_a_tooltip(qtbot):
    window = QWidget()
    row = QHBoxLayout(window)
    label = QLabel("challenger (boosted trees) is better overall")
    label.setMinimumWidth(10)
    model = QStandardItemModel(1, 1)
    model.setHorizontalHeaderLabels(["challenger (boosted trees)"])
    table = QTableView()
    table.setModel(model)
    table.horizontalHeader().resizeSection(0, 60)
    row.addWidget(label)
    row.addWidget(table)
    qtbot.addWidget(window)
    window.resize(200, 150)
    window.show()
    assert cut_texts(window) == ["challenger (boosted trees) is better overall", "challenger (boosted trees)"]
    label.setText("challenger (boosted…")
    label.setToolTip("challenger (boosted trees) is better overall")
    elide_headers(window)
    assert cut_texts(window) == []
    assert section_tooltip(table.horizontalHeader(), 0) == "challenger (boosted trees)"
