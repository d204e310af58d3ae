"""The window's cluster table as a full table, against a local Spark Connect server, by keys and
clicks: after File > Connect to Spark… (a filtered sample of the demo), selecting a cluster row
selects the pull's row with its id there (or says the pull lacks it), find and Ctrl+C read the
cluster, and a slice typed in the slice bar filters the cluster's pages. A server process that is
killed (not a session stopped) is one sentence and the pulled rows stay shown: that test reaches
the shared server through a relay process of its own and kills that (``tests/spark/relay.py``), so
the shared server survives. ``tests/views/panels/test_table_cluster_rows.py``
checks the same wiring quickly against a DuckDB stand-in."""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from analysis.query import ROW_ID, ident
from analysis.report.cell_text import clipboard_field
from tests.views.dialogs.test_connect_spark import answer_with
from tests.views.helpers import close_window, make_window, settle
from tests.views.panels.test_table_cluster_rows import _plain

pytestmark = pytest.mark.slow

PULLED_ROWS = 1_000
FILTER = "amount > 20"
WAIT_MS = 180_000


def pulled_window(qtbot, qsettings, monkeypatch, url, log):
    window = make_window(qtbot, qsettings, threaded=True)
    answer_with(qtbot, monkeypatch, url, str(log), PULLED_ROWS, FILTER)
    window.actions_by_id["connect_spark"].trigger()
    settle(qtbot, window, timeout=WAIT_MS)
    assert window.session.active is not None, window.notifications.messages()
    qtbot.waitUntil(lambda: window.table_panel.cluster_pages is not None, timeout=WAIT_MS)
    return window


def loaded(qtbot, model, row: int) -> int:
    qtbot.waitUntil(lambda: model.row_id(row) is not None, timeout=WAIT_MS)
    return model.row_id(row)


def test_selection_find_copy_and_a_slice_work_on_the_spark_table(rows_demo, spark_url, qtbot, qsettings, monkeypatch):
    import pandas as pd

    frame = pd.read_parquet(rows_demo.log)
    rows = frame[frame["amount"] > 20]  # the cluster's table, in file order (a row's id is its position)
    window = pulled_window(qtbot, qsettings, monkeypatch, spark_url, rows_demo.log)
    try:
        table = window.table_panel
        model, view = table.model, table.view
        sample = table.cluster_pages.cluster.sample
        pulled_ids = set(sample.row_ids.tolist())
        assert len(pulled_ids) == PULLED_ROWS and pulled_ids <= set(rows.index)
        pulled_view = ident(window.session.active.dataset.view)

        view.setFocus()
        view.setCurrentIndex(model.index(0, 0))
        settle(qtbot, window, timeout=WAIT_MS)
        seen = {"in": None, "out": None}
        # down until a row the pull has and one it lacks were selected (each row lacking is fetched
        # from the cluster: test_cluster_row_fetch.py follows those fetches)
        for _ in range(40):
            if None not in seen.values():
                break
            row_id = loaded(qtbot, model, view.currentIndex().row())
            settle(qtbot, window, timeout=WAIT_MS)  # a page that arrived after the key selects its row now
            seen["in" if row_id in pulled_ids else "out"] = row_id
            selected = window.session.selected_row
            if row_id in pulled_ids:
                request = window.session.store.scalar(
                    f"SELECT request_id FROM {pulled_view} WHERE {ident(ROW_ID)} = {selected}")
                assert request == frame["request_id"].loc[row_id]
                assert table.row_note.text().endswith("of the pulled rows: the other panels show it")
            else:
                assert selected is not None and "fetched from the cluster" in table.row_note.text()
            qtbot.keyClick(view, Qt.Key_Down)
            settle(qtbot, window, timeout=WAIT_MS)
        assert None not in seen.values()

        ids = rows["request_id"].astype(str).str.lower()
        deep = next(row for row in range(len(rows) - 30, len(rows))
                    if ids.str.contains(ids.iloc[row], regex=False).sum() == 1)
        window.actions_by_id["find"].trigger()
        qtbot.keyClicks(table.find_text, str(rows["request_id"].iloc[deep]))
        qtbot.keyClick(table.find_text, Qt.Key_Return)
        settle(qtbot, window, timeout=WAIT_MS)
        assert table.find_result.text() == f"row {deep + 1:,}" and view.currentIndex().row() == deep

        first = model.column_names().index("request_id")
        view.setFocus()
        view.setCurrentIndex(model.index(deep - 2, first))
        qtbot.keyClick(view, Qt.Key_Right, Qt.ShiftModifier)
        qtbot.keyClick(view, Qt.Key_Down, Qt.ShiftModifier)
        QApplication.clipboard().setText("")
        window.activateWindow()  # active again after the Connect dialog: a shortcut needs it
        view.setFocus()
        qtbot.waitUntil(view.hasFocus)
        qtbot.keyClick(view, Qt.Key_C, Qt.ControlModifier)
        settle(qtbot, window, timeout=WAIT_MS)
        names = model.column_names()[first:first + 2]
        expected = ["\t".join(names)] + ["\t".join(clipboard_field(_plain(rows[name].iloc[row])) for name in names)
                                         for row in (deep - 2, deep - 1)]
        qtbot.waitUntil(lambda: QApplication.clipboard().text() != "", timeout=WAIT_MS)
        assert QApplication.clipboard().text() == "\n".join(expected) + "\n"

        edit = window.slice_bar.edit
        edit.clear()
        qtbot.keyClicks(edit, "amount > 100")
        qtbot.keyClick(edit, Qt.Key_Return)
        settle(qtbot, window, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: table.cluster_pages is not None, timeout=WAIT_MS)
        inside = rows[rows["amount"] > 100]
        assert 0 < len(inside) < len(rows) and model.rowCount() == len(inside)
        assert table.status.text().startswith(f"{len(inside):,} rows matching {FILTER} in the slice on {spark_url}")
        assert loaded(qtbot, model, 0) == inside.index[0]
        view.scrollTo(model.index(len(inside) - 1, 0))
        assert loaded(qtbot, model, len(inside) - 1) == inside.index[-1]
    finally:
        window.controller.close_clusters()
        close_window(window)


def test_a_killed_spark_server_is_one_sentence_and_the_pulled_rows_stay(rows_demo, spark_server, spark_url, qtbot,
                                                                       qsettings, monkeypatch):
    from tests.spark.relay import start_relay

    relay = start_relay(spark_server.port)  # the server process this test kills: the shared one lives on
    url = relay.url
    window = None
    try:
        window = pulled_window(qtbot, qsettings, monkeypatch, url, rows_demo.log)
        table = window.table_panel
        model, view = table.model, table.view
        assert model.rowCount() > PULLED_ROWS

        relay.kill()  # the server's process dies, not only a session
        amount = model.column_names().index("amount")
        view.scrollTo(model.index(model.rowCount() // 2, amount))  # pages the cluster must answer
        # the fall-back to the pulled rows is queued (a zero-time timer) and then prepared as a job:
        # wait for the status it ends with, not for the first state on the way (once seen as "Loading…")
        qtbot.waitUntil(lambda: table.cluster_pages is None and table.window is not None
                        and "could not be read" in table.status.text(), timeout=WAIT_MS)
        settle(qtbot, window, timeout=WAIT_MS)
        status = table.status.text()
        assert status.startswith(f"{PULLED_ROWS:,} rows; the table on {url} could not be read (")
        assert status.endswith("): it shows the pulled rows") and model.rowCount() == PULLED_ROWS
        assert loaded(qtbot, model, 0) == 0  # the pull's own rows
    finally:
        if window is not None:
            window.controller.close_clusters()
            close_window(window)
        relay.kill()
