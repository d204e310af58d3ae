"""The workspace in the window: saving never destroys a file, a bad file leaves the window as
it was, closing a dataset loses nothing."""

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from analysis.data.roles import Role
from analysis.slices import Everything, Slice
from analysis.workspace.workspace_file import Workspace
from tests.analysis.workspace.corrupt_workspaces import make_variant
from tests.views.helpers import open_demo, reuse_check_in_panel, settle
from tests.views.panels.test_findings import run_checks


def _save_dialog_answers(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def test_save_as_onto_the_open_workspace_keeps_it_and_later_edits(app_window, qtbot, window_demo_files, tmp_path,
                                                                  monkeypatch):
    opened = open_demo(qtbot, app_window, window_demo_files)
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


def test_a_typed_name_without_suffix_asks_before_replacing(app_window, qtbot, window_demo_files, tmp_path, monkeypatch):
    open_demo(qtbot, app_window, window_demo_files)
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


def test_a_broken_workspace_leaves_the_window_on_what_was_open(app_window, qtbot, window_demo_files, tmp_path):
    opened = open_demo(qtbot, app_window, window_demo_files)
    good = tmp_path / "good.sleuth"
    assert app_window.controller.save_workspace_as(good)
    (tmp_path / "other").mkdir()
    bad = make_variant("schema_version = 'four'", tmp_path / "other")
    assert not app_window.controller.open_workspace(bad)
    assert app_window.session.workspace.path == good
    assert list(app_window.session.datasets) == [opened.name]
    assert any(str(bad) in m and "schema_version" in m for m in app_window.notifications.messages())


def test_closing_a_dataset_is_undoable_and_keeps_its_roles(app_window, qtbot, window_demo_files, tmp_path):
    opened = open_demo(qtbot, app_window, window_demo_files)
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


def test_select_all_and_copy_copies_every_row_exactly_off_the_gui_thread(app_window, qtbot, window_demo_files):
    """Today: a 15-17 s freeze and 199,801 of 200,000 rows copied as empty fields."""
    import csv

    import pandas as pd
    from PySide6.QtWidgets import QApplication

    open_demo(qtbot, app_window, window_demo_files)
    app_window.apply_filter("amount > 1000")
    settle(qtbot, app_window)
    view = app_window.table_panel.view
    view.selectAll()
    app_window.actions_by_id["copy"].trigger()
    settle(qtbot, app_window)
    rows = list(csv.reader(QApplication.clipboard().text().splitlines(), delimiter="\t"))
    expected = pd.read_parquet(window_demo_files.log)
    expected = expected[expected.amount > 1000]
    header = rows[0]
    assert len(rows) - 1 == len(expected) > 200  # more than one page, every row
    ids = [row[header.index("request_id")] for row in rows[1:]]
    assert sorted(ids) == sorted(expected.request_id) and all(ids)


def test_a_copy_still_reading_when_the_table_changes_is_cancelled_not_failed(qtbot, qsettings, window_demo_files,
                                                                             monkeypatch):
    """A new slice drops the shown window's tables; a copy still reading them is cancelled with
    it (the copy once ran under another key than the one the release cancels, and failed with
    "Table with name sleuth_order_N does not exist" when the monkey test sorted, copied and
    sliced quickly)."""
    import threading

    import views.panels.table as table_module
    from tests.views.helpers import close_window, make_window

    app_window = make_window(qtbot, qsettings, threaded=True)  # the copy reads on a worker, as in use
    open_demo(qtbot, app_window, window_demo_files)
    reading, release = threading.Event(), threading.Event()

    def slow_copy(*args, **kwargs):
        reading.set()
        release.wait(30)
        return "copied"

    monkeypatch.setattr(table_module, "selection_text", slow_copy)
    panel = app_window.table_panel
    panel.view.selectAll()
    app_window.actions_by_id["copy"].trigger()
    assert reading.wait(30)
    app_window.apply_filter("amount > 1000")  # the shown window is released while the copy reads it
    release.set()
    settle(qtbot, app_window)
    assert panel.job_cancelled("copy")
    assert not [m for m in app_window.notifications.messages() if "Copying" in m]
    close_window(app_window)


@pytest.fixture
def row_count_calls(monkeypatch):
    """Calls of the table model's rowCount, counted from before the window exists (PySide looks
    up a Python override once per object, so patching later counts nothing)."""
    from views.widgets.table_model import WindowedTableModel

    calls = []
    row_count = WindowedTableModel.rowCount
    monkeypatch.setattr(WindowedTableModel, "rowCount", lambda self, *a: (calls.append(1), row_count(self, *a))[1])
    return calls


def test_select_all_does_not_make_the_column_header_walk_every_row(row_count_calls, app_window, qtbot,
                                                                  window_demo_files):
    """Issue #15: after select-all, Qt's column header asked whether each column was selected
    whole, through the model row by row: two Python calls per row and column on every repaint
    (2.4 s on 12,000 rows under load; seconds more at 200,000). The 20k demo's walk would be
    tens of thousands of calls, as far past the bound as the 200k demo's, at a tenth of the open."""
    open_demo(qtbot, app_window, window_demo_files)
    view = app_window.table_panel.view
    assert view.model().rowCount() > 10_000
    row_count_calls.clear()
    view.selectAll()
    view.horizontalHeader().viewport().repaint()
    assert len(row_count_calls) < 1_000


def test_save_as_keeps_decisions_the_current_slice_and_profiles(app_window, qtbot, window_demo_files,
                                                                 window_demo_check, tmp_path, monkeypatch):
    """Saved as twice from one checked window: first with nothing saved yet (the session's state
    written into a new file), then from the workspace that save opened (a copy of that file);
    each file keeps the decision, the current slice, the active dataset and the profile. (The
    same edits written into a workspace already open are kept too: test_findings.py, for the
    decision and the profile, and test_slicing.py, for the slice, reopen such a workspace.)
    The window's check is the session's check of the log: what is saved is tested, not the check."""
    reuse_check_in_panel(monkeypatch, window_demo_files, window_demo_check)
    opened = open_demo(qtbot, app_window, window_demo_files)
    panel = run_checks(qtbot, app_window)
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    key = panel.shown[0].key
    panel.decide("expected", note="the client migrates this week")
    app_window.slice_bar.edit.setText("region = 'EU-West'")
    qtbot.keyClick(app_window.slice_bar.edit, Qt.Key_Return)
    settle(qtbot, app_window)
    shown = app_window.session.current_slice
    assert shown.predicate is not Everything
    first, copied = tmp_path / "first.sleuth", tmp_path / "kept.sleuth"
    assert app_window.controller.save_workspace_as(first)  # nothing saved yet
    assert app_window.controller.save_workspace_as(copied)  # from another workspace
    app_window.session.workspace.close()
    app_window.session.workspace = None
    for path in (first, copied):
        kept = Workspace.open(path)
        assert [(d["check_key"], d["action"], d["note"]) for d in kept.decisions()] == [
            (key, "expected", "the client migrates this week")], path
        assert Slice.from_dict(kept.meta("current_slice")) == shown
        assert kept.meta("active_dataset") == opened.name
        assert json.loads(kept.profile(opened.name))
        kept.close()


def test_undo_after_opening_a_workspace_keeps_every_dataset(app_window, qtbot, window_demo_files, tmp_path):
    opened = open_demo(qtbot, app_window, window_demo_files)
    path = tmp_path / "two.sleuth"
    assert app_window.controller.save_workspace_as(path)
    app_window.open_paths([str(window_demo_files.training)])
    settle(qtbot, app_window)
    assert len(app_window.session.datasets) == 2
    assert app_window.controller.open_workspace(path)
    settle(qtbot, app_window)
    names = set(app_window.session.datasets)
    assert len(names) == 2 and opened.name in names
    assert not app_window.actions_by_id["undo"].isEnabled()
    qtbot.keyClick(app_window, Qt.Key_Z, Qt.ControlModifier)
    settle(qtbot, app_window)
    assert set(app_window.session.datasets) == names
    assert {e.name for e in app_window.session.workspace.datasets()} == names
