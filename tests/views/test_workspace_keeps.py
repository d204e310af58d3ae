"""The workspace keeps everything, driven as a person drives it: Ctrl+Z after opening a log and a
training snapshot takes back the last edit, never an opened dataset, and the workspace file keeps
both; *Save workspace as* (Ctrl+S) keeps the finding decisions, the current slice and the
reference profile, and a new window on the saved file shows them."""

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog

from analysis.workspace.workspace_file import Workspace
from tests.views.helpers import close_window, make_window, open_demo, reuse_check_in_panel, settle
from tests.views.panels.test_findings import run_checks


def _answer_save_dialog(monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def _type_slice(qtbot, window, text: str) -> None:
    window.slice_bar.edit.setText(text)
    qtbot.keyClick(window.slice_bar.edit, Qt.Key_Return)
    settle(qtbot, window)


def _names_in_file(path) -> set[str]:
    kept = Workspace.open(path)
    try:
        return {entry.name for entry in kept.datasets()}
    finally:
        kept.close()


def test_ctrl_z_after_opening_a_log_and_a_snapshot_undoes_the_last_edit_and_keeps_both(
        app_window, qtbot, demo_files, tmp_path, monkeypatch):
    log = open_demo(qtbot, app_window, demo_files)
    path = tmp_path / "incident.sleuth"
    _answer_save_dialog(monkeypatch, path)
    qtbot.keyClick(app_window, Qt.Key_S, Qt.ControlModifier)
    settle(qtbot, app_window)
    assert app_window.session.workspace is not None and app_window.session.workspace.path == path
    _type_slice(qtbot, app_window, "region = 'EU-West'")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("eu", True))
    qtbot.mouseClick(app_window.slice_bar.save, Qt.LeftButton)  # an undoable edit, before the snapshot
    settle(qtbot, app_window)
    assert "eu" in app_window.session.saved_slices
    app_window.open_paths([str(demo_files.training)])
    settle(qtbot, app_window)
    names = set(app_window.session.datasets)
    assert len(names) == 2 and log.name in names and _names_in_file(path) == names

    # the slice bar's own Ctrl+Z edits its text; the person clicks the table first
    qtbot.mouseClick(app_window.table_panel.view.viewport(), Qt.LeftButton)
    qtbot.keyClick(app_window.table_panel.view, Qt.Key_Z, Qt.ControlModifier)  # takes back the saved slice
    settle(qtbot, app_window)
    assert set(app_window.session.datasets) == names and _names_in_file(path) == names
    assert app_window.statusBar().currentMessage() == "Undone: Save slice"
    assert "eu" not in app_window.session.saved_slices
    while app_window.actions_by_id["undo"].isEnabled():  # everything there is to undo
        qtbot.keyClick(app_window.table_panel.view, Qt.Key_Z, Qt.ControlModifier)
        settle(qtbot, app_window)
    assert set(app_window.session.datasets) == names and _names_in_file(path) == names


def test_save_as_by_keys_keeps_decisions_slice_and_profile_for_the_next_window(
        app_window, qtbot, qsettings, demo_files, demo_check, tmp_path, monkeypatch):
    """The check is the session's check of the demo: what the workspace keeps of a check is
    tested here, not what a check finds (the 200k demo's check is ~5 CPU-s)."""
    session_check = reuse_check_in_panel(monkeypatch, demo_files, demo_check)
    log = open_demo(qtbot, app_window, demo_files)
    panel = run_checks(qtbot, app_window)
    assert session_check.reused == 1
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton,
                     pos=panel.tree.visualItemRect(panel.tree.topLevelItem(0)).center())
    settle(qtbot, app_window)
    decided = panel.current()
    qtbot.mouseClick(panel.buttons["confirmed"], Qt.LeftButton)
    settle(qtbot, app_window)
    _type_slice(qtbot, app_window, "region = 'EU-West'")
    shown = app_window.session.current_slice
    path = tmp_path / "kept.sleuth"
    _answer_save_dialog(monkeypatch, path)
    qtbot.keyClick(app_window, Qt.Key_S, Qt.ControlModifier)
    settle(qtbot, app_window)
    app_window.close()

    again = make_window(qtbot, QSettings(qsettings.fileName(), QSettings.IniFormat))
    try:
        assert again.controller.open_workspace(path)
        settle(qtbot, again)
        assert again.session.active_name == log.name
        assert again.session.current_slice == shown
        assert again.slice_bar.typed_text() == "region = 'EU-West'"
        again.findings_dock.raise_()
        settle(qtbot, again)
        kept = again.findings_panel.shown
        assert [f.decision for f in kept if f.key == decided.key] == ["confirmed"], [f.key for f in kept]
        assert again.session.workspace.profile(log.name)
    finally:
        close_window(again)
