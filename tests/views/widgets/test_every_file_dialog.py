"""Every file dialog of the window starts in the folder used last, whichever dialog used it: the
File menu's, the labels file's *Browse…* and trace's snapshot and model choosers, driven by their
menu actions and buttons."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.main_window import DATA_FILTER
from tests.views.helpers import settle
from views.dialogs.join_labels import JoinLabelsDialog


def test_each_dialog_starts_in_the_folder_the_last_one_chose(app_window, qtbot, demo_files, tmp_path, monkeypatch):
    started = []

    def answering(chosen):
        def dialog(_parent, title, start, *_rest):
            started.append((title, start))
            return chosen
        return dialog

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", answering(([str(demo_files.log)], "")))
    app_window.actions_by_id["open"].trigger()
    settle(qtbot, app_window)
    log_folder = str(demo_files.log.parent)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda _p, title, start, *_r: started.append(
        (title, start)) or "")
    app_window.actions_by_id["open_folder"].trigger()

    labels = tmp_path / "labels" / "late_labels.csv"
    labels.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", answering((str(labels), "")))
    dialog = JoinLabelsDialog(app_window.session.active_name, DATA_FILTER, app_window)
    browse = next(b for b in dialog.findChildren(type(app_window.trace_panel.snapshot_button))
                  if b.text() == "Browse…")
    qtbot.mouseClick(browse, Qt.LeftButton)
    assert dialog.path() == str(labels)
    dialog.reject()

    app_window.trace_dock.raise_()
    app_window.table_panel.view.selectRow(0)
    settle(qtbot, app_window)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", answering(("", "")))
    for button in (app_window.trace_panel.snapshot_button, app_window.trace_panel.model_button):
        assert button.isEnabled(), button.text()
        qtbot.mouseClick(button, Qt.LeftButton)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", answering(("", "")))
    app_window.actions_by_id["save_workspace_as"].trigger()

    assert [start for _, start in started] == [
        started[0][1], log_folder, log_folder, str(labels.parent), str(labels.parent), str(labels.parent)], started
