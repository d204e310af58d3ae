"""File dialogs start in the folder used last, by any dialog of the window, after a restart too."""

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from tests.views.helpers import close_window, make_window


def test_every_dialog_starts_where_the_last_one_ended_even_after_a_restart(app_window, qtbot, qsettings,
                                                                         demo_files, tmp_path, monkeypatch):
    started_in = []

    def answer(chosen):
        def dialog(_parent, _title, start, *_rest):
            started_in.append(start)
            return chosen
        return dialog

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", answer(([str(demo_files.log)], "")))
    app_window.actions_by_id["open"].trigger()
    saved = tmp_path / "elsewhere" / "incident.sleuth"
    saved.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer((str(saved), "")))
    app_window.actions_by_id["save_workspace_as"].trigger()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer(("", "")))
    app_window.actions_by_id["open_workspace"].trigger()
    assert started_in[1] == str(demo_files.log.parent)  # the save dialog starts where the log was
    assert started_in[2] == str(saved.parent)  # a file about to be written counts by its folder
    app_window.close()

    restarted = make_window(qtbot, QSettings(qsettings.fileName(), QSettings.IniFormat))
    restarted.actions_by_id["open_workspace"].trigger()
    assert started_in[3] == str(saved.parent)
    close_window(restarted)
