"""The cluster's table as a full table, by keys and clicks: its selection drives the other panels
through the pull's row with the same id on the cluster (fetched into the pull when it lacks it), Ctrl+C
copies cells read from the cluster, find searches the cluster, "add to queue" queues the pull's
rows, and a slice typed in the slice bar filters the cluster's pages. The cluster is the DuckDB
stand-in of ``test_table_cluster.py`` (same SQL on both engines);
``tests/spark/test_cluster_table_rows.py`` runs the same against a Spark Connect server."""

import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from analysis.queue.failure_queue import FailureQueue
from analysis.query import ROW_ID, ident
from analysis.report.cell_text import clipboard_field
from analysis.workspace.workspace_file import Workspace
from app.commands import AttachWorkspace
from tests.views.helpers import settle
from tests.views.panels import test_table_cluster as stand_in
from tests.views.panels.test_table_cluster import URL, click_header

cluster_window = stand_in.cluster_window
"""The stand-in cluster's window fixture, shared with ``test_table_cluster.py``."""


def loaded(qtbot, model, row: int) -> int:
    qtbot.waitUntil(lambda: model.row_id(row) is not None, timeout=30_000)
    return model.row_id(row)


def test_selecting_a_cluster_row_selects_the_pulled_row_with_its_id_or_fetches_it_into_the_pull(qtbot, cluster_window):
    window, frame, _ = cluster_window
    table = window.table_panel
    model, view = table.model, table.view
    pulled_view = ident(window.session.active.dataset.view)
    step = len(frame) // 1_500
    view.setFocus()
    view.setCurrentIndex(model.index(0, 0))
    for _ in range(step):  # down to the cluster's row `step`, the pull's second row
        qtbot.keyClick(view, Qt.Key_Down)
    settle(qtbot, window)
    assert loaded(qtbot, model, step) == step
    selected = window.session.selected_row
    assert selected == 1
    request = window.session.store.scalar(f"SELECT request_id FROM {pulled_view} WHERE {ident(ROW_ID)} = {selected}")
    assert request == frame["request_id"].iloc[step]
    assert table.row_note.text() == f"row id {step:,} on {URL} is row 1 of the pulled rows: the other panels show it"

    qtbot.keyClick(view, Qt.Key_Down)  # row step + 1 was not pulled: fetched from the cluster into the pull
    settle(qtbot, window)
    selected = window.session.selected_row
    assert selected == 1_500  # after the pull's rows
    request = window.session.store.scalar(f"SELECT request_id FROM {pulled_view} WHERE {ident(ROW_ID)} = {selected}")
    assert request == frame["request_id"].iloc[step + 1]
    assert table.row_note.text() == (f"row id {step + 1:,} on {URL}, fetched from the cluster, is row 1,500 of the "
                                     f"pulled rows: the other panels show it")


def test_a_row_made_current_before_its_page_arrives_is_selected_when_it_arrives(qtbot, cluster_window):
    """A jump (or a fast scroll) makes a row current whose page is still on its way: nothing is
    selected then, and the row is selected once its page arrives (it stayed unselected before)."""
    window, frame, _ = cluster_window
    table = window.table_panel
    model, view = table.model, table.view
    pulled_view = ident(window.session.active.dataset.view)
    far = model.rowCount() - 5
    assert model.row_id(far) is None  # its page not asked for yet
    view.setFocus()
    view.setCurrentIndex(model.index(far, 0))
    view.scrollTo(model.index(far, 0))
    row_id = loaded(qtbot, model, far)
    qtbot.waitUntil(lambda: window.session.selected_row is not None, timeout=30_000)
    settle(qtbot, window)
    selected = window.session.selected_row
    request = window.session.store.scalar(f"SELECT request_id FROM {pulled_view} WHERE {ident(ROW_ID)} = {selected}")
    assert request == frame["request_id"].iloc[row_id]
    assert table.row_note.text().startswith(f"row id {row_id:,} on {URL}")
    assert table.row_note.text().endswith("of the pulled rows: the other panels show it")


def test_copy_find_and_a_slice_work_on_the_cluster_table(qtbot, cluster_window):
    window, frame, _ = cluster_window
    table = window.table_panel
    model, view = table.model, table.view
    columns = model.column_names()
    amount = columns.index("amount")
    click_header(qtbot, view, amount)  # sorted on the cluster: find and copy go by keyset pages
    settle(qtbot, window)
    ordered = frame.sort_values("amount", kind="stable", na_position="last")

    ids = ordered["request_id"].astype(str).str.lower()
    deep = next(row for row in range(len(frame) - 40, len(frame))  # never loaded: searched on the cluster
                if ids.str.contains(ids.iloc[row], regex=False).sum() == 1)  # in no other id
    wanted = ordered["request_id"].iloc[deep]
    window.actions_by_id["find"].trigger()  # Edit > Find (Ctrl+F)
    qtbot.keyClicks(table.find_text, str(wanted).upper())  # case-insensitive, as on a local table
    qtbot.keyClick(table.find_text, Qt.Key_Return)
    settle(qtbot, window)
    assert table.find_result.text() == f"row {deep + 1:,}"
    assert view.currentIndex().row() == deep
    assert loaded(qtbot, model, deep) == ordered.index[deep]

    top, bottom = deep - 1500, deep - 1497  # rows of pages not loaded yet, read from the cluster
    first = columns.index("request_id")
    view.setCurrentIndex(model.index(top, first))
    qtbot.keyClick(view, Qt.Key_Right, Qt.ShiftModifier)
    for _ in range(bottom - top):
        qtbot.keyClick(view, Qt.Key_Down, Qt.ShiftModifier)
    QApplication.clipboard().setText("")
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_C, Qt.ControlModifier)
    settle(qtbot, window)
    names = columns[first:first + 2]
    expected = ["\t".join(names)] + ["\t".join(clipboard_field(_plain(ordered[name].iloc[row])) for name in names)
                                     for row in range(top, bottom + 1)]
    qtbot.waitUntil(lambda: QApplication.clipboard().text() != "", timeout=30_000)
    assert QApplication.clipboard().text() == "\n".join(expected) + "\n"

    edit = window.slice_bar.edit
    edit.clear()
    qtbot.keyClicks(edit, "region = 'EU-West' AND amount > 100")
    qtbot.keyClick(edit, Qt.Key_Return)
    settle(qtbot, window)
    inside = ordered[(ordered["region"] == "EU-West") & (ordered["amount"] > 100)]
    assert 0 < len(inside) < len(frame)
    assert model.rowCount() == len(inside) and table.cluster_pages is not None
    assert table.status.text().startswith(f"{len(inside):,} rows in the slice on {URL}")
    last_row = len(inside) - 1
    view.scrollTo(model.index(last_row, amount))
    assert loaded(qtbot, model, last_row) == inside.index[-1]
    assert loaded(qtbot, model, 0) == inside.index[0]


def test_add_to_queue_on_the_cluster_table_queues_the_pulled_rows_of_the_selection(qtbot, cluster_window, tmp_path):
    window, frame, _ = cluster_window
    window.session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    settle(qtbot, window)
    table = window.table_panel
    model, view = table.model, table.view
    view.setFocus()
    view.setCurrentIndex(model.index(0, 0))
    for _ in range(299):
        qtbot.keyClick(view, Qt.Key_Down, Qt.ShiftModifier)
    settle(qtbot, window)
    shown = {loaded(qtbot, model, row) for row in range(300)}
    table.queue_action.trigger()
    settle(qtbot, window, timeout=60_000)
    step = len(frame) // 1_500
    pulled = frame.loc[sorted(i for i in shown if i % step == 0)]
    failed = pulled[pulled["is_fraud"].notna() & (pulled["is_fraud"] != pulled["prediction"])]
    queued = set(FailureQueue(window.session.workspace).items()["row_key"])
    assert len(failed) > 0 and queued == set(failed["request_id"])


def _plain(value):
    """A pandas cell as the store hands it back (NaN is NULL, numpy scalars Python's)."""
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value
