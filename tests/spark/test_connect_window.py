"""File > Connect to Spark… against the local Spark Connect server (this folder's conftest).

One test: the window pulls a filtered sample of the demo log through the dialog's path and works
on it, while its table pages over every matching row on the server (keys and clicks: to the
end, a sort by a header click, a jump), until the server stops answering.
The dialog, cancel, a server that is down and the workspace's record are tested without a
server in ``tests/views/dialogs/test_connect_spark.py``.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from analysis.query import ident
from analysis.report.formatting import escape_html
from tests.views.dialogs.test_connect_spark import answer_with
from tests.views.helpers import close_window, make_window, settle

pytestmark = pytest.mark.slow

DEMO_ROWS = 5_000
PULLED_ROWS = 2_000
FILTER = "amount > 20"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A small demo log, generated while the server's JVM starts (it is asked for before ``spark_url``)."""
    from analysis.demo.generate import generate_demo

    return generate_demo(tmp_path_factory.mktemp("connect-demo"), rows=DEMO_ROWS, seed=7)


def test_the_window_pulls_a_sample_of_the_demo_and_says_so(small_demo, spark_url, qtbot, qsettings, monkeypatch):
    import pandas as pd

    matching = int((pd.read_parquet(small_demo.log)["amount"] > 20).sum())
    assert PULLED_ROWS < matching < DEMO_ROWS
    window = make_window(qtbot, qsettings)
    try:
        answer_with(qtbot, monkeypatch, spark_url, str(small_demo.log), PULLED_ROWS, FILTER)
        window.actions_by_id["connect_spark"].trigger()
        settle(qtbot, window, timeout=120_000)

        opened = window.session.active
        assert opened is not None, window.notifications.messages()
        assert opened.dataset.row_count == PULLED_ROWS
        assert opened.roles.label == "is_fraud" and opened.roles.model_version == "model_version"
        sentence = f"computed on a {PULLED_ROWS:,}-row sample of {matching:,} rows matching {FILTER} on {spark_url}"
        assert opened.pulled.sentence == sentence
        assert escape_html(sentence) in window.metrics_panel.caption.text()  # rich text: the filter's ">" escaped
        assert sum(result.rows for result in window.metrics_panel.results) == PULLED_ROWS  # metrics on the pull
        assert window.session.store.scalar(f"SELECT min(amount) FROM {ident(opened.dataset.view)}") > 20
        check_the_table_pages_over_the_cluster(qtbot, window, small_demo.log, spark_url, matching)
    finally:
        window.controller.close_clusters()
        close_window(window)


def check_the_table_pages_over_the_cluster(qtbot, window, log, spark_url, matching):
    """Every row matching the filter, in the file's order (a row's id on the server is its
    position in the one-partition file), then sorted by a clicked header as pandas sorts
    (nulls last, ties in file order); a server that stops answering is one sentence, and the
    table falls back to the pulled rows."""
    import pandas as pd

    table = window.table_panel
    model, view = table.model, table.view
    frame = pd.read_parquet(log)
    rows = frame[frame["amount"] > 20]
    assert table.cluster_pages is not None
    assert table.status.text() == (f"{matching:,} rows matching {FILTER} on {spark_url}; "
                                   f"other panels on a {PULLED_ROWS:,}-row sample")
    assert model.rowCount() == matching

    def shown(row: int, column: str):
        qtbot.waitUntil(lambda: model.row_id(row) is not None, timeout=120_000)
        return model.row_id(row), model.raw_value(row, model.column_names().index(column))

    last_was_pulled = int(rows.index[-1]) in set(table.cluster_pages.cluster.sample.row_ids.tolist())
    view.setCurrentIndex(model.index(matching - 1, 0))  # to the last row (Ctrl+End: test_table_cluster.py)
    view.scrollTo(model.index(matching - 1, 0))
    settle(qtbot, window, timeout=120_000)
    assert shown(matching - 1, "request_id") == (rows.index[-1], rows["request_id"].iloc[-1])
    before_last = (matching - 1) // model.page_size * model.page_size - 10  # in the page before the last
    view.scrollTo(model.index(before_last, 0))
    settle(qtbot, window, timeout=120_000)
    assert shown(before_last, "request_id") == (rows.index[before_last], rows["request_id"].iloc[before_last])

    amount = model.column_names().index("amount")
    view.scrollTo(model.index(before_last, amount))  # the header of amount in sight
    qtbot.mouseClick(view.horizontalHeader().viewport(), Qt.LeftButton, pos=_header_point(view, amount))
    settle(qtbot, window, timeout=120_000)
    ordered = rows.sort_values("amount", kind="stable", na_position="last")
    assert "sorted by amount" in table.status.text() and model.rowCount() == matching
    assert shown(0, "amount") == (ordered.index[0], ordered["amount"].iloc[0])
    middle = matching // 2 + 3
    view.scrollTo(model.index(middle, amount))  # a drag of the scroll bar to the middle: a jump
    settle(qtbot, window, timeout=120_000)
    assert shown(middle, "amount") == (ordered.index[middle], ordered["amount"].iloc[middle])

    table.cluster_pages.cluster.store.close()  # the server stops answering this session
    view.scrollTo(model.index(matching - 1, amount))
    settle(qtbot, window, timeout=120_000)
    qtbot.waitUntil(lambda: table.cluster_pages is None and table.window is not None, timeout=60_000)
    settle(qtbot, window, timeout=120_000)
    status = table.status.text()
    assert f"the table on {spark_url} could not be read (" in status and status.endswith("it shows the pulled rows")
    # the pulled rows, and the last row made current above: fetched into the pull when it was not pulled
    pulled = PULLED_ROWS + (0 if last_was_pulled else 1)
    assert status.startswith(f"{pulled:,} rows") and model.rowCount() == pulled


def _header_point(view, column: int):
    from PySide6.QtCore import QPoint

    header = view.horizontalHeader()
    return QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2)
