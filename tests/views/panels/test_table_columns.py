"""The log table's columns are fitted to the text they show once the first page arrives."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from analysis.demo.workspace import ensure_demo_workspace
from tests.views.helpers import close_window, make_window, settle
from views.panels.table import CELL_PADDING, MAX_COLUMN_WIDTH


def test_every_column_of_the_demo_at_1280x720_fits_its_shown_text(qtbot, qsettings, demo_files):
    """The demo workspace names versions by their cards, which reach the table before its
    first page; the timestamp and client columns were fitted to their headers and elided."""
    workspace = ensure_demo_workspace(demo_files.log.parent, rows=200_000, seed=7)
    window = make_window(qtbot, qsettings)
    try:
        window.resize(1280, 720)
        assert window.controller.open_workspace(workspace)
        settle(qtbot, window)
        QApplication.processEvents()
        view, model = window.table_panel.view, window.table_panel.model
        header, metrics = view.horizontalHeader(), view.fontMetrics()
        narrow = {}
        for column in range(model.columnCount()):
            shown = [model.data(model.index(row, column)) for row in range(20)]
            needed = min(max(metrics.horizontalAdvance(text) for text in shown) + CELL_PADDING, MAX_COLUMN_WIDTH)
            if header.sectionSize(column) < needed:
                narrow[model.headerData(column, Qt.Horizontal)] = (header.sectionSize(column), needed)
        assert narrow == {}
        timestamp = model.column_names().index("timestamp")
        assert model.data(model.index(0, timestamp)).count(":") == 2  # a full time is what must fit
    finally:
        window.close()
        close_window(window)
