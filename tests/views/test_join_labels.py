"""Data > Join labels in the window: pick a labels file, get the labelled log with its report."""

import pandas as pd
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from analysis.query import ROW_ID
from tests.views.helpers import settle
from views.dialogs.join_labels import JoinLabelsDialog


def fill_dialog(qtbot, path: str, column: str = ""):
    """Type into the Join labels dialog once it is up, then press OK."""
    def fill():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, JoinLabelsDialog)
        ok = dialog.buttons.button(QDialogButtonBox.Ok)
        assert not ok.isEnabled()
        qtbot.keyClicks(dialog.file, path)
        qtbot.keyClicks(dialog.on, column)
        qtbot.mouseClick(ok, Qt.LeftButton)
    QTimer.singleShot(0, fill)


def test_join_labels_from_the_data_menu(app_window, qtbot, tmp_path):
    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(40)], "amount": range(40),
                        "score": [(i % 10) / 10 for i in range(40)]})
    log.to_csv(tmp_path / "log.csv", index=False)
    labels = pd.DataFrame({"request_id": [f"r{i}" for i in range(0, 40, 2)] + ["ghost"],
                           "label": [i % 3 == 0 for i in range(0, 40, 2)] + [True]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    app_window.open_paths([str(tmp_path / "log.csv")])
    settle(qtbot, app_window)
    action = app_window.actions_by_id["join_labels"]
    assert action.isEnabled() and action.shortcut().toString() == "Ctrl+J"
    fill_dialog(qtbot, str(tmp_path / "labels.csv"))
    action.trigger()
    settle(qtbot, app_window)
    opened = app_window.session.active
    assert opened.name == "log + labels" and opened.roles.label == "label"
    got = app_window.session.store.df(f'SELECT request_id, label FROM "{opened.dataset.view}" ORDER BY "{ROW_ID}"')
    assert got.label.notna().sum() == 20 and got.label[0] and not got.label[2]
    assert any("1 label(s) name a request the log does not hold, e.g. ghost" in m
               for m in app_window.notifications.messages())


def test_the_dialog_names_the_id_column(app_window, qtbot, tmp_path):
    """Two columns of the labels file hold log ids; the one typed in the dialog is used."""
    pd.DataFrame({"request_id": ["a", "b", "c"], "score": [0.1, 0.8, 0.4]}).to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"request_id": ["a", "b", "c"], "reviewed_as": ["c", "b", "a"], "label": [1, 0, 0]}).to_csv(
        tmp_path / "truth.csv", index=False)
    app_window.open_paths([str(tmp_path / "log.csv")])
    settle(qtbot, app_window)
    fill_dialog(qtbot, str(tmp_path / "truth.csv"), "reviewed_as")
    qtbot.keyClick(app_window, Qt.Key_J, Qt.ControlModifier)
    settle(qtbot, app_window)
    opened = app_window.session.active
    got = app_window.session.store.df(f'SELECT label FROM "{opened.dataset.view}" ORDER BY "{ROW_ID}"')
    assert got.label.tolist() == [0, 0, 1]


def test_open_with_labels_option_opens_the_labelled_log(app_window, qtbot, tmp_path):
    """What ``sleuth open LOG --labels FILE`` asks the controller for."""
    from analysis.data.open_log import LogOptions

    pd.DataFrame({"request_id": ["a", "b", "c"], "score": [0.1, 0.8, 0.4]}).to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"request_id": ["c", "a"], "label": [1, 0]}).to_csv(tmp_path / "truth.csv", index=False)
    app_window.controller.open_paths([str(tmp_path / "log.csv")],
                                     options=LogOptions(labels=(str(tmp_path / "truth.csv"),)))
    settle(qtbot, app_window)
    opened = app_window.session.active
    got = app_window.session.store.df(f'SELECT label FROM "{opened.dataset.view}" ORDER BY "{ROW_ID}"')
    assert got.label.tolist()[0] == 0 and pd.isna(got.label[1]) and got.label[2] == 1


def test_joined_labels_are_kept_in_the_workspace(app_window, qtbot, qsettings, tmp_path):
    """Reopening the workspace brings the labelled log back with its labels joined."""
    from tests.views.helpers import close_window, make_window

    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(30)], "score": [(i % 10) / 10 for i in range(30)]})
    log.to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"request_id": [f"r{i}" for i in range(0, 30, 3)], "label": [i % 2 for i in range(10)]}).to_csv(
        tmp_path / "labels.csv", index=False)
    path = tmp_path / "incident.sleuth"
    assert app_window.controller.save_workspace_as(path)
    app_window.open_paths([str(tmp_path / "log.csv")])
    settle(qtbot, app_window)
    fill_dialog(qtbot, str(tmp_path / "labels.csv"))
    qtbot.keyClick(app_window, Qt.Key_J, Qt.ControlModifier)
    settle(qtbot, app_window)
    joined = app_window.session.active
    query = f'SELECT request_id, label FROM "{{}}" ORDER BY "{ROW_ID}"'
    before = app_window.session.store.df(query.format(joined.dataset.view))
    assert joined.name == "log + labels" and before.label.notna().sum() == 10
    app_window.session.workspace.close()
    app_window.session.workspace = None

    again = make_window(qtbot, qsettings)
    try:
        assert again.controller.open_workspace(path)
        settle(qtbot, again)
        assert sorted(again.session.datasets) == ["log", "log + labels"]
        reopened = again.session.datasets["log + labels"]
        assert reopened.roles.label == "label" and reopened.labels == (str(tmp_path / "labels.csv"),)
        after = again.session.store.df(query.format(reopened.dataset.view))
        pd.testing.assert_frame_equal(after, before)
        assert "label" not in again.session.datasets["log"].dataset.column_names
    finally:
        close_window(again)
