"""The workspace in the window: saving never destroys a file, a bad file leaves the window as
it was, closing a dataset loses nothing."""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from analysis.data.roles import Role
from analysis.workspace.workspace_file import Workspace
from tests.analysis.workspace.corrupt_workspaces import make_variant
from tests.views.helpers import open_demo, settle


def _save_dialog_answers(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def test_save_as_onto_the_open_workspace_keeps_it_and_later_edits(app_window, qtbot, demo_files, tmp_path,
                                                                  monkeypatch):
    opened = open_demo(qtbot, app_window, demo_files)
    path = tmp_path / "incident.sleuth"
    assert app_window.controller.save_workspace_as(path)
    _save_dialog_answers(monkeypatch, path)
    app_window.choose_save_workspace()
    edited = opened.roles.with_role("hour", Role.IGNORED)
    app_window.controller.set_roles(opened.name, edited)
    settle(qtbot, app_window)
    assert path.exists() and app_window.session.workspace.path == path
    app_window.session.workspace.close()
    app_window.session.workspace = None
    again = Workspace.open(path)
    assert [e.roles for e in again.datasets()] == [edited]
    again.close()


def test_a_typed_name_without_suffix_asks_before_replacing(app_window, qtbot, demo_files, tmp_path, monkeypatch):
    open_demo(qtbot, app_window, demo_files)
    existing = Workspace.open(tmp_path / "incident.sleuth")
    existing.set_meta("note", "keep me")
    existing.close()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.No)
    _save_dialog_answers(monkeypatch, tmp_path / "incident")
    app_window.choose_save_workspace()
    assert len(asked) == 1 and "incident.sleuth" in asked[0]
    kept = Workspace.open(tmp_path / "incident.sleuth")
    assert kept.meta("note") == "keep me" and kept.datasets() == []
    kept.close()
    assert app_window.session.workspace is None


def test_a_broken_workspace_leaves_the_window_on_what_was_open(app_window, qtbot, demo_files, tmp_path):
    opened = open_demo(qtbot, app_window, demo_files)
    good = tmp_path / "good.sleuth"
    assert app_window.controller.save_workspace_as(good)
    (tmp_path / "other").mkdir()
    bad = make_variant("schema_version = 'four'", tmp_path / "other")
    assert not app_window.controller.open_workspace(bad)
    assert app_window.session.workspace.path == good
    assert list(app_window.session.datasets) == [opened.name]
    assert any(str(bad) in m and "schema_version" in m for m in app_window.notifications.messages())


def test_closing_a_dataset_is_undoable_and_keeps_its_roles(app_window, qtbot, demo_files, tmp_path):
    opened = open_demo(qtbot, app_window, demo_files)
    path = tmp_path / "incident.sleuth"
    assert app_window.controller.save_workspace_as(path)
    edited = opened.roles.with_role("hour", Role.IGNORED)
    app_window.controller.set_roles(opened.name, edited)
    settle(qtbot, app_window)
    app_window.controller.set_roles(opened.name, edited)  # a check job is running while it closes
    qtbot.keyClick(app_window, Qt.Key_W, Qt.ControlModifier)
    settle(qtbot, app_window)
    assert app_window.session.datasets == {}
    assert not [m for m in app_window.notifications.messages() if "unexpectedly" in m]
    qtbot.keyClick(app_window, Qt.Key_Z, Qt.ControlModifier)
    settle(qtbot, app_window)
    assert app_window.session.active.roles == edited
    assert [e.roles for e in app_window.session.workspace.datasets()] == [edited]


def test_select_all_and_copy_copies_every_row_exactly_off_the_gui_thread(app_window, qtbot, demo_files):
    """Today: a 15-17 s freeze and 199,801 of 200,000 rows copied as empty fields."""
    import csv

    import pandas as pd
    from PySide6.QtWidgets import QApplication

    open_demo(qtbot, app_window, demo_files)
    app_window.apply_filter("amount > 1000")
    settle(qtbot, app_window)
    view = app_window.table_panel.view
    view.selectAll()
    app_window.actions_by_id["copy"].trigger()
    settle(qtbot, app_window)
    rows = list(csv.reader(QApplication.clipboard().text().splitlines(), delimiter="\t"))
    expected = pd.read_parquet(demo_files.log)
    expected = expected[expected.amount > 1000]
    header = rows[0]
    assert len(rows) - 1 == len(expected) > 200  # more than one page, every row
    ids = [row[header.index("request_id")] for row in rows[1:]]
    assert sorted(ids) == sorted(expected.request_id) and all(ids)
