"""A table window's tables are dropped off the GUI thread: a DROP waits for DuckDB while a
sorted copy of them is being interrupted, which blocked the event loop 940 ms at 10M rows."""

import threading

from PySide6.QtCore import QPoint, Qt

import views.panels.table
from analysis.query import Sql
from tests.views.helpers import close_window, make_window, open_demo, settle


def test_a_new_sort_drops_the_old_window_on_a_worker(qtbot, qsettings, demo_files, monkeypatch):
    dropped_on = []
    release = views.panels.table.release_table

    def recording(store, window):
        dropped_on.append(threading.current_thread())
        release(store, window)

    monkeypatch.setattr(views.panels.table, "release_table", recording)
    window = make_window(qtbot, qsettings, threaded=True)
    try:
        open_demo(qtbot, window, demo_files)
        panel, model = window.table_panel, window.table_panel.model
        header = panel.view.horizontalHeader()
        for name in ("score", "amount"):
            column = model.column_names().index(name)
            panel.view.scrollTo(model.index(0, column))
            qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                             pos=QPoint(header.sectionViewportPosition(column) + 5, 5))
            settle(qtbot, window)
            if name == "score":
                first = panel.window
        assert dropped_on and threading.main_thread() not in dropped_on
        left = window.session.store.scalar(Sql("SELECT count(*) FROM duckdb_tables() WHERE table_name IN (?, ?)",
                                               (first.ordering, first.sorted_rows)))
        assert left == 0
    finally:
        close_window(window)
