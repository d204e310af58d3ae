"""A table window's tables are dropped off the GUI thread: a DROP waits for DuckDB while a
sorted copy of them is being interrupted, which blocked the event loop 940 ms at 10M rows."""

import threading

from PySide6.QtCore import QPoint, Qt

import views.panels.table
from analysis.progress import NEVER_CANCELLED
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


def test_a_search_still_reading_a_replaced_window_ends_cancelled_not_failed(qtbot, qsettings, demo_files,
                                                                           monkeypatch):
    """The table lane runs two jobs at once, so the old window's tables can be dropped while a
    search (or a page, a copy) of it is still running: that job is cancelled, not reported as
    failed when its table is gone."""
    searching, go_on, dropped = threading.Event(), threading.Event(), threading.Event()
    find, release = views.panels.table.find_row, views.panels.table.release_table

    def held_find(store, window, text, column=None, after=-1, forward=True, cancel=NEVER_CANCELLED):
        searching.set()
        go_on.wait(60)
        return find(store, window, text, column=column, after=after, forward=forward, cancel=cancel)

    def recording(store, window):
        release(store, window)
        dropped.set()

    monkeypatch.setattr(views.panels.table, "find_row", held_find)
    monkeypatch.setattr(views.panels.table, "release_table", recording)
    window = make_window(qtbot, qsettings, threaded=True)
    failures = []
    window.tasks.sig_error.connect(lambda task, text: failures.append(text))
    try:
        open_demo(qtbot, window, demo_files)
        panel = window.table_panel
        window.slice_bar.edit.setText("amount > 100")
        qtbot.keyClick(window.slice_bar.edit, Qt.Key_Return)
        settle(qtbot, window)
        filtered = panel.window
        assert filtered.ordering is not None  # a slice's window has its ordering table
        panel.show_find()
        panel.find_text.setText("EU")
        qtbot.keyClick(panel.find_text, Qt.Key_Return)
        qtbot.waitUntil(searching.is_set, timeout=30_000)
        window.slice_bar.edit.setText("amount > 200")
        qtbot.keyClick(window.slice_bar.edit, Qt.Key_Return)
        qtbot.waitUntil(dropped.is_set, timeout=60_000)  # the search's window is gone
        go_on.set()
        settle(qtbot, window)
        assert panel.window is not filtered and failures == []
        assert not panel.job_running("find") and panel.job_cancelled("find")
        assert panel.find_result.text() == ""  # no "searching…" left behind
    finally:
        go_on.set()
        close_window(window)
