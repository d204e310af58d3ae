"""A row of the cluster's table that the pull lacks, against a local Spark Connect server, by
keys: selecting it fetches that one row from the cluster into the pulled rows (the line under
the table says so) and selects it, so the other panels read it as any pulled row; a row already
fetched is not fetched again. ``tests/views/panels/test_table_cluster_rows.py`` checks the same
wiring against a DuckDB stand-in."""

from __future__ import annotations

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from analysis.query import ROW_ID, ident
from tests.spark.test_cluster_table_rows import FILTER, PULLED_ROWS, WAIT_MS, loaded, pulled_window
from tests.views.helpers import close_window, settle

pytestmark = pytest.mark.slow


def test_a_cluster_row_the_pull_lacks_is_fetched_into_the_pull_and_selected(rows_demo, spark_url, qtbot, qsettings,
                                                                            monkeypatch):
    window = pulled_window(qtbot, qsettings, monkeypatch, spark_url, rows_demo.log)
    try:
        cluster = window.table_panel.cluster_pages.cluster
        rows = pd.read_parquet(rows_demo.log).query(FILTER)  # the cluster's table; an id is a row's place in the file
        pulled_ids, pulled_view = set(cluster.sample.row_ids.tolist()), ident(window.session.active.dataset.view)
        assert cluster.sample.rows == PULLED_ROWS and pulled_ids < set(rows.index)
        table = window.table_panel
        model, view = table.model, table.view

        view.setFocus()
        view.setCurrentIndex(model.index(0, 0))
        settle(qtbot, window, timeout=WAIT_MS)
        lacking = []
        for _ in range(40):  # down until two rows the pull lacks were selected
            row_id = loaded(qtbot, model, view.currentIndex().row())
            if row_id not in pulled_ids:
                selected = window.session.selected_row
                assert selected == PULLED_ROWS + len(lacking)  # appended after the pulled rows, ids dense
                assert table.row_note.text() == (f"row id {row_id:,} on {spark_url}, fetched from the cluster, is row "
                                                 f"{selected:,} of the pulled rows: the other panels show it")
                lacking.append((row_id, selected))
                if len(lacking) == 2:
                    break
            qtbot.keyClick(view, Qt.Key_Down)
            settle(qtbot, window, timeout=WAIT_MS)
        assert len(lacking) == 2 and cluster.fetched == dict(lacking)

        columns = ["request_id", "amount", "region", "timestamp"]
        for row_id, local in lacking:  # the fetched rows are the file's, types kept (an instant stays one)
            got = window.session.store.df(
                f"SELECT {', '.join(map(ident, columns))} FROM {pulled_view} WHERE {ident(ROW_ID)} = {local}")
            want = rows.loc[[row_id], columns].reset_index(drop=True)
            got["timestamp"] = pd.to_datetime(got["timestamp"], utc=True)
            want["timestamp"] = pd.to_datetime(want["timestamp"], utc=True)
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
        count = window.session.store.scalar(f"SELECT count(*) FROM {pulled_view}")
        assert count == PULLED_ROWS + 2

        qtbot.keyClick(view, Qt.Key_Up)  # back over the last fetched row's neighbours, then onto it again
        settle(qtbot, window, timeout=WAIT_MS)
        qtbot.keyClick(view, Qt.Key_Down)
        settle(qtbot, window, timeout=WAIT_MS)
        assert window.session.selected_row == lacking[-1][1]
        assert window.session.store.scalar(f"SELECT count(*) FROM {pulled_view}") == PULLED_ROWS + 2  # not again
    finally:
        window.controller.close_clusters()
        close_window(window)
