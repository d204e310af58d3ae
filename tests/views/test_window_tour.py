"""The window at 1280x720 on the demo, walked through every panel as a person would: each one
draws its result, nothing raises or reports an error, and no label or header is cut without
an ellipsis and a tooltip that gives the whole text."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel

from analysis.demo.workspace import ensure_demo_workspace
from app.window_tour import stops, visit
from tests.views.helpers import close_window, make_window, not_blank, settle
from views.widgets.header_elision import section_fits, section_tooltip

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
    """Shown and not parked behind another dock's tab (Qt keeps those "visible", off the window)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


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
            cut = cut_texts(window)
            if cut:
                problems[stop.name] = cut
        assert problems == {}
        assert window.notifications.messages() == []
    finally:
        window.close()
        close_window(window)
