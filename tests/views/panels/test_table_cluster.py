"""The table over a whole table on a cluster while the other panels read a pull, driven by keys
and clicks. The cluster here is a second DuckDB store: the keyset pages are the same SQL on both
engines (``tests/analysis/engine/test_pages.py``), so this checks the window's wiring quickly;
``tests/spark/test_connect_window.py`` runs it against a real Spark Connect server."""

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt

from analysis.data.loading import open_dataset
from analysis.engine.sample import Sample
from analysis.progress import NEVER_CANCELLED
from analysis.query import ROW_ID, ident
from analysis.store import Store
from app.commands import AddDataset
from app.spark_table import ClusterTable
from app.state import OpenDataset, PulledLog
from analysis.data.open_log import load_log
from analysis.workspace.workspace_file import SparkSource
from tests.views.helpers import close_window, make_window, settle

URL = "sc://cluster.example:15002"
PULLED = 1_500


class StandInCluster(Store):
    """A DuckDB store named like a Spark server, that can stop answering as a dead one does."""

    url = URL

    def __init__(self) -> None:
        super().__init__(memory_limit="512MB", threads=1)
        self.dead = False

    def rows(self, sql, cancel=NEVER_CANCELLED):
        if self.dead:
            raise ConnectionError("Connection refused\nwith a second line")
        return super().rows(sql, cancel)


def open_pull(window, log, tmp_path, cluster_store):
    """What File > Connect to Spark… leaves: the pulled rows open locally, the table on the
    'cluster' with its session open."""
    frame = pd.read_parquet(log)
    pulled = tmp_path / "pulled.parquet"
    kept = np.arange(0, len(frame), len(frame) // PULLED)[:PULLED]  # the pulled rows' ids on the cluster
    frame.iloc[kept].to_parquet(pulled)
    loaded = load_log(window.session.store, [str(pulled)], check=False)
    sample = Sample(pulled, PULLED, len(frame), URL, row_ids=kept)
    cluster = ClusterTable(cluster_store, open_dataset(cluster_store, [str(log)]), None, sample)
    source = SparkSource(URL, "main.ml.fraud", PULLED, None)
    opened = OpenDataset(loaded.dataset, loaded.roles, pulled=PulledLog(source, sample.sentence(), cluster))
    window.session.run(AddDataset(opened, persist=False))
    return frame


def click_header(qtbot, view, column: int) -> None:
    view.scrollTo(view.model().index(max(view.currentIndex().row(), 0), column))
    header = view.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, 5))


@pytest.fixture
def cluster_window(qtbot, qsettings, window_demo_files, tmp_path):
    """A window with a pull open whose table pages over the stand-in cluster; yields the window,
    the whole log as a frame and the cluster's store."""
    cluster_store = StandInCluster()
    window = make_window(qtbot, qsettings, threaded=True)
    try:
        frame = open_pull(window, window_demo_files.log, tmp_path, cluster_store)
        settle(qtbot, window)
        yield window, frame, cluster_store
    finally:
        close_window(window)
        cluster_store.close()


def test_the_table_pages_over_the_cluster_and_falls_back_to_the_pull(qtbot, cluster_window):
    window, frame, cluster_store = cluster_window
    table = window.table_panel
    model, view = table.model, table.view
    assert table.cluster_pages is not None
    assert model.rowCount() == len(frame)
    assert table.status.text() == f"{len(frame):,} rows on {URL}; other panels on a {PULLED:,}-row sample"

    def shown(row: int, column: str):
        qtbot.waitUntil(lambda: model.row_id(row) is not None, timeout=30_000)
        return model.row_id(row), model.raw_value(row, model.column_names().index(column))

    view.setFocus()
    qtbot.keyClick(view, Qt.Key_End, Qt.ControlModifier)
    settle(qtbot, window)
    assert view.currentIndex().row() == len(frame) - 1
    assert shown(len(frame) - 1, "request_id") == (len(frame) - 1, frame["request_id"].iloc[-1])
    qtbot.keyClick(view, Qt.Key_PageUp)
    settle(qtbot, window)
    row = view.currentIndex().row()
    assert row < len(frame) - 1 and shown(row, "request_id") == (row, frame["request_id"].iloc[row])

    amount = model.column_names().index("amount")
    click_header(qtbot, view, amount)
    settle(qtbot, window)
    ordered = frame.sort_values("amount", kind="stable", na_position="last")
    assert table.status.text().endswith(", sorted by amount ↑")
    assert shown(0, "amount") == (ordered.index[0], ordered["amount"].iloc[0])
    middle = len(frame) // 2 + 3
    view.scrollTo(model.index(middle, amount))
    settle(qtbot, window)
    assert shown(middle, "amount") == (ordered.index[middle], ordered["amount"].iloc[middle])
    view.setCurrentIndex(model.index(middle, amount))  # the pull's row, or fetched into the pull
    settle(qtbot, window)
    cluster = table.cluster_pages.cluster
    selected = window.session.selected_row
    assert selected is not None and selected == cluster.pulled_row(ordered.index[middle])
    assert window.session.store.scalar(
        f"SELECT request_id FROM {ident(window.session.active.dataset.view)} WHERE {ident(ROW_ID)} = {selected}"
    ) == ordered["request_id"].iloc[middle]

    cluster_store.dead = True
    view.scrollTo(model.index(len(frame) - 300, amount))
    qtbot.waitUntil(lambda: table.window is not None, timeout=30_000)
    settle(qtbot, window)
    pulled = PULLED + len(cluster.fetched)  # the rows fetched into the pull are pulled rows now
    assert table.cluster_pages is None and model.rowCount() == pulled
    assert table.status.text() == (f"{pulled:,} rows; the table on {URL} could not be read "
                                   f"(Connection refused): it shows the pulled rows")
