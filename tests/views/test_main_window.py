"""The main window driven as a person would: open the demo log, read the panels, click, type."""

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from analysis.metrics.per_version import METRICS, overall_metrics
from analysis.data.roles import Role
from analysis.scope import Scope
from tests.views.helpers import close_window, make_window, open_demo, settle


def test_demo_log_opens_into_table_metrics_and_time_plot(qtbot, qsettings, window_demo_files):
    """The one window test with real worker threads: every result crosses back to the GUI thread."""
    app_window = make_window(qtbot, qsettings, threaded=True)
    opened = open_demo(qtbot, app_window, window_demo_files)
    expected = pd.read_parquet(window_demo_files.log)

    model = app_window.table_panel.model
    assert model.rowCount() == len(expected) == opened.dataset.row_count
    model.data(model.index(0, 0))  # first read asks for the page
    settle(qtbot, app_window)
    first_column = model.headerData(0, Qt.Horizontal)
    assert model.data(model.index(0, 0)) == str(expected[first_column].iloc[0])

    results = overall_metrics(Scope(app_window.session.store, opened.dataset, opened.roles))
    panel = app_window.metrics_panel
    assert [r.version for r in panel.results] == [r.version for r in results]
    for result in results:
        shown = panel.cell_text(METRICS["accuracy"].display, result.version)
        assert float(shown) == pytest.approx(result.metrics["accuracy"], abs=5e-5)
        assert panel.cell_text("Rows", result.version) == f"{result.rows:,}"

    versions = set(expected["model_version"].unique())
    assert set(app_window.time_panel.curves) == versions
    close_window(app_window)


def test_window_renders_something_readable(app_window, qtbot, window_demo_files):
    open_demo(qtbot, app_window, window_demo_files)
    image = app_window.grab().toImage()
    pixels = np.array([[image.pixelColor(x, y).lightness() for x in range(0, image.width(), 7)]
                       for y in range(0, image.height(), 7)])
    assert pixels.std() > 10, "the window is blank"
    assert len(np.unique(pixels)) > 20


def test_header_click_sorts_the_table_in_duckdb(app_window, qtbot, window_demo_files):
    open_demo(qtbot, app_window, window_demo_files)
    model = app_window.table_panel.model
    score_col = model.column_names().index("score")
    header = app_window.table_panel.view.horizontalHeader()
    app_window.table_panel.view.scrollTo(model.index(0, score_col))
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(header.sectionViewportPosition(score_col) + 5, 5))
    settle(qtbot, app_window)
    model.data(model.index(0, score_col))
    settle(qtbot, app_window)
    top = [model.raw_value(r, score_col) for r in range(5)]
    scores = pd.read_parquet(window_demo_files.log)["score"]
    ascending = app_window.table_panel.view.horizontalHeader().sortIndicatorOrder() == Qt.AscendingOrder
    expected = sorted(scores)[:5] if ascending else sorted(scores, reverse=True)[:5]
    assert top == pytest.approx(expected)


def test_find_jumps_to_a_matching_row(app_window, qtbot, window_demo_files):
    open_demo(qtbot, app_window, window_demo_files)
    frame = pd.read_parquet(window_demo_files.log)
    wanted = frame["request_id"].iloc[1234]
    qtbot.keyClick(app_window, Qt.Key_F, Qt.ControlModifier)
    assert app_window.table_panel.find_bar.isVisible()
    qtbot.keyClicks(app_window.table_panel.find_text, wanted)
    qtbot.keyClick(app_window.table_panel.find_text, Qt.Key_Return)
    settle(qtbot, app_window)
    row = app_window.table_panel.view.currentIndex().row()
    assert frame["request_id"].iloc[row] == wanted


def test_changing_a_role_updates_panels_and_is_undoable(app_window, qtbot, window_demo_files):
    opened = open_demo(qtbot, app_window, window_demo_files)
    assert opened.roles.model_version == "model_version"
    app_window.controller.set_roles(opened.name, opened.roles.with_role("model_version", Role.FEATURE))
    settle(qtbot, app_window)
    assert [r.version for r in app_window.metrics_panel.results] == [None]
    qtbot.keyClick(app_window, Qt.Key_Z, Qt.ControlModifier)
    settle(qtbot, app_window)
    assert len(app_window.metrics_panel.results) == 2


def test_missing_file_gets_a_message_naming_it(app_window, qtbot, tmp_path):
    missing = tmp_path / "nope.parquet"
    app_window.open_paths([str(missing)])
    settle(qtbot, app_window)
    messages = app_window.notifications.messages()
    assert any("nope.parquet" in m for m in messages), messages
    assert app_window.session.active is None


def test_files_dropped_on_the_window_open(app_window, qtbot, window_demo_files):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(window_demo_files.log))])
    event = QDropEvent(app_window.rect().center().toPointF(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    app_window.dropEvent(event)
    settle(qtbot, app_window)
    assert app_window.session.active is not None


def test_workspace_save_and_reopen_restores_datasets_and_roles(app_window, qtbot, window_demo_files, tmp_path,
        qsettings):
    opened = open_demo(qtbot, app_window, window_demo_files)
    path = tmp_path / "incident.sleuth"
    assert app_window.controller.save_workspace_as(path)
    edited = opened.roles.with_role("hour", Role.IGNORED)
    app_window.controller.set_roles(opened.name, edited)
    settle(qtbot, app_window)
    app_window.close()

    again = make_window(qtbot, qsettings)
    assert again.controller.open_workspace(path)
    settle(qtbot, again)
    assert list(again.session.datasets) == [opened.name]
    assert again.session.active.roles == edited
    assert qsettings.value("last_workspace") == str(path)
    close_window(again)


def test_roles_dialog_edits_are_applied_and_saved(app_window, qtbot, window_demo_files, monkeypatch, tmp_path):
    from views.dialogs.roles import RolesDialog

    open_demo(qtbot, app_window, window_demo_files)
    app_window.controller.save_workspace_as(tmp_path / "w.sleuth")

    def choose_roles(dialog):
        dialog.set_role("prediction", Role.FEATURE)  # metrics then come from the score at the threshold
        dialog.threshold.setValue(0.3)
        return True

    monkeypatch.setattr(RolesDialog, "exec", choose_roles)
    qtbot.keyClick(app_window, Qt.Key_R, Qt.ControlModifier)
    settle(qtbot, app_window)
    roles = app_window.session.active.roles
    assert roles.prediction is None and "prediction" in roles.features and roles.threshold == 0.3
    frame = pd.read_parquet(window_demo_files.log).dropna(subset=["is_fraud"])
    for result in app_window.metrics_panel.results:
        rows = frame[frame.model_version == result.version]
        expected = ((rows.score >= 0.3).astype(int) == rows.is_fraud).mean()
        assert result.metrics["accuracy"] == pytest.approx(expected)
    from analysis.workspace.workspace_file import Workspace

    app_window.session.workspace.close()
    app_window.session.workspace = None
    saved = Workspace.open(tmp_path / "w.sleuth").datasets()[0].roles
    assert saved == roles


def test_giving_a_role_to_another_column_hands_it_over(qtbot, window_demo_files):
    from analysis.data.open_log import load_log
    from analysis.store import Store
    from views.dialogs.roles import RolesDialog

    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(window_demo_files.log)], check=False)
    dialog = RolesDialog(loaded.dataset, loaded.roles)
    qtbot.addWidget(dialog)
    dialog.set_role("score", Role.LABEL)
    roles = dialog.roles()
    assert roles.label == "score"
    assert "is_fraud" in roles.features  # the old label is kept, as a feature
    assert dialog.combos["is_fraud"].currentData() == Role.FEATURE
    store.close()


def test_estimated_accuracy_is_offered_and_marked_as_an_estimate(app_window, qtbot, window_demo_files):
    from analysis.metrics.estimated_performance import ESTIMATED_ACCURACY

    open_demo(qtbot, app_window, window_demo_files)
    box = app_window.time_panel.metric_box
    box.setCurrentIndex(box.findData(ESTIMATED_ACCURACY))
    settle(qtbot, app_window)
    assert "ESTIMATE" in app_window.time_panel.caption.text()
    frame = app_window.time_panel.series.frame
    labelled_days = frame[frame.bucket_start < pd.Timestamp("2026-10-27")]
    assert labelled_days.value.between(0.9, 1.0).all()  # a calibrated fraud model: ~0.96-0.98 correct
    assert set(app_window.time_panel.curves) == set(pd.read_parquet(window_demo_files.log).model_version.unique())


def test_before_the_sorted_copy_the_first_pages_show_and_deep_ones_wait_for_it(app_window, qtbot, window_demo_files,
                                                                                monkeypatch):
    """Sorted, the table shows its head's pages at once; a page past the head waits (the
    status line says so) instead of a slow read through the ids, and arrives with the copy."""
    import analysis.window
    import views.panels.table
    from views.widgets.table_model import PLACEHOLDER

    real_copy = analysis.window.copy_sorted_rows
    monkeypatch.setattr(analysis.window, "HEAD_ROWS", 400)
    monkeypatch.setattr(views.panels.table, "copy_sorted_rows", lambda store, window: window)  # still copying
    open_demo(qtbot, app_window, window_demo_files)
    panel, model = app_window.table_panel, app_window.table_panel.model
    header = panel.view.horizontalHeader()
    score_col = model.column_names().index("score")
    panel.view.scrollTo(model.index(0, score_col))
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(header.sectionViewportPosition(score_col) + 5, 5))
    settle(qtbot, app_window)
    assert panel.window.sorted_rows is None and "rows past the first 400 show once the sorted copy is ready" in \
        panel.status.text()
    scores = pd.read_parquet(window_demo_files.log)["score"].dropna()
    ascending = header.sortIndicatorOrder() == Qt.AscendingOrder
    expected = np.sort(scores.to_numpy()) if ascending else -np.sort(-scores.to_numpy())
    deep = 5_000
    model.data(model.index(10, score_col))
    settle(qtbot, app_window)
    assert model.raw_value(10, score_col) == pytest.approx(expected[10])
    panel.view.scrollTo(model.index(deep, score_col))
    assert model.data(model.index(deep, score_col)) == PLACEHOLDER
    settle(qtbot, app_window)
    assert model.data(model.index(deep, score_col)) == PLACEHOLDER  # waits for the copy
    panel._adopt_copy(real_copy(app_window.session.store, panel.window))  # the copy job delivers
    settle(qtbot, app_window)
    assert model.raw_value(deep, score_col) == pytest.approx(expected[deep])
    assert "sorted copy" not in panel.status.text()


def test_sorted_pages_come_from_the_sorted_copy_and_a_new_sort_drops_the_old_copy(app_window, qtbot, window_demo_files):
    from analysis.query import Sql

    open_demo(qtbot, app_window, window_demo_files)
    panel, store = app_window.table_panel, app_window.session.store
    model = panel.model
    header = panel.view.horizontalHeader()

    def click_header(name):
        column = model.column_names().index(name)
        panel.view.scrollTo(model.index(0, column))
        qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(header.sectionViewportPosition(column) + 5, 5))
        settle(qtbot, app_window)
        return column

    score_col = click_header("score")
    first = panel.window
    assert first.sorted_rows is not None
    model.data(model.index(0, score_col))
    settle(qtbot, app_window)
    ascending = header.sortIndicatorOrder() == Qt.AscendingOrder
    scores = pd.read_parquet(window_demo_files.log)["score"]
    expected = sorted(scores)[:5] if ascending else sorted(scores, reverse=True)[:5]
    assert [model.raw_value(r, score_col) for r in range(5)] == pytest.approx(expected)

    click_header("amount")
    assert panel.window.sorted_rows not in (None, first.sorted_rows)
    left = store.scalar(Sql("SELECT count(*) FROM duckdb_tables() WHERE table_name IN (?, ?)",
                            (first.ordering, first.sorted_rows)))
    assert left == 0
