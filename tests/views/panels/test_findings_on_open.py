"""On call without a click: a log is checked in the background when it opens, its findings and
the reference chosen are kept in the workspace, and a check covers the current slice."""

import datetime as dt

import pytest
from PySide6.QtCore import Qt

from analysis.query import Sql, ident
from analysis.slices import Compare, Slice, to_sql
from app.commands import SetActive, SetSlice
from tests.views.helpers import PLANTED, close_window, make_window, reuse_check_in_panel, settle
from views.panels.findings import FindingsPanel

LONG = 240000


@pytest.fixture
def session_check(monkeypatch, window_demo_files, window_demo_check):
    """The findings panel's check of the whole 20k demo is the session's (these tests are of when
    a check runs, what is kept and shown, and what a check the user left becomes); a check of
    anything else still runs."""
    return reuse_check_in_panel(monkeypatch, window_demo_files, window_demo_check)


def test_a_log_is_checked_in_the_background_when_it_opens_and_its_findings_are_kept(qtbot, qsettings,
                                                                                  window_demo_files, tmp_path,
                                                                                  session_check, monkeypatch):
    release = _hold_the_check(monkeypatch)  # the session's check is at once: held, it is seen running
    window = make_window(qtbot, qsettings, threaded=True, check_on_open=True)
    window.controller.save_workspace_as(tmp_path / "oncall.sleuth")
    window.open_paths([str(window_demo_files.log)])
    panel = window.findings_panel
    qtbot.waitUntil(lambda: panel.job_running("check"), timeout=LONG)  # nobody clicked anything
    release.set()
    settle(qtbot, window, timeout=LONG)
    assert session_check.reused == 1
    kinds = {f.kind for f in window.session.findings}
    assert PLANTED <= kinds, [f.sentence for f in window.session.findings]
    name = window.session.active.name
    reference, kept = window.session.workspace.findings(name)
    assert reference == "the log's first 20% of time"
    assert [d["key"] for d in kept] == [f.key for f in window.session.findings]
    close_window(window)

    again = make_window(qtbot, qsettings, threaded=True)  # no check on open: what shows is what was kept
    again.controller.open_workspace(tmp_path / "oncall.sleuth")
    settle(qtbot, again, timeout=LONG)
    again.findings_dock.raise_()
    settle(qtbot, again)
    shown = again.findings_panel.shown
    assert {f.key for f in shown} == {d["key"] for d in kept}
    assert "the log's first 20% of time" in again.findings_panel.caption.text()
    swap = next(f for f in shown if f.kind == "unit_change")
    assert swap.slice.columns == {"client", "timestamp"}  # its rows can be opened as before
    close_window(again)


def _hold_the_check(monkeypatch):
    """Make the findings panel's check wait for the returned event before it runs: the test
    leaves the log while its check is in flight, deterministically (no race with the worker)."""
    import threading

    import views.panels.findings as findings_module

    release, real = threading.Event(), findings_module.check_dataset

    def held(*args, **kwargs):
        release.wait(LONG / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(findings_module, "check_dataset", held)
    return release


def _leave_the_log_while_it_is_checked(qtbot, qsettings, window_demo_files, tmp_path):
    """A threaded window checking the 20k demo ("first") on open, whose check is held while
    the user makes the training snapshot active."""
    window = make_window(qtbot, qsettings, threaded=True, check_on_open=True)
    window.controller.save_workspace_as(tmp_path / "w.sleuth")
    window.controller.open_paths([str(window_demo_files.training)], name="snapshot", kind="training")  # no check
    settle(qtbot, window, timeout=LONG)
    window.controller.open_paths([str(window_demo_files.log)], name="first")
    qtbot.waitUntil(lambda: window.findings_panel.job_running("check"), timeout=LONG)
    window.session.run(SetActive("snapshot"))  # the user leaves the log while it is checked
    return window


def test_a_check_finishing_after_the_user_left_its_log_is_dropped(qtbot, qsettings, window_demo_files, tmp_path,
                                                                  session_check, monkeypatch):
    """The guard in ``_checked``: a check whose cancel came too late (it had finished) delivers
    a result for a log that is no longer active; it must not become the active one's findings
    nor be kept for the log it checked."""
    release = _hold_the_check(monkeypatch)
    monkeypatch.setattr(FindingsPanel, "cancel_job", lambda panel, name: None)  # the cancel lands too late
    window = _leave_the_log_while_it_is_checked(qtbot, qsettings, window_demo_files, tmp_path)
    release.set()
    settle(qtbot, window, timeout=LONG)
    assert not window.findings_panel.job_cancelled("check")  # it ran to the end: only the guard dropped it
    assert session_check.reused == 1
    assert window.session.workspace.findings("first") == (None, [])
    assert window.session.findings == ()
    close_window(window)


def test_leaving_a_log_cancels_its_check_and_coming_back_checks_it_again(qtbot, qsettings, window_demo_files,
                                                                         tmp_path, session_check, monkeypatch):
    """The cancel in ``_follow_active``: leaving the log cancels its check (no result is
    delivered at all), and coming back to it checks it again."""
    release = _hold_the_check(monkeypatch)
    window = _leave_the_log_while_it_is_checked(qtbot, qsettings, window_demo_files, tmp_path)
    panel = window.findings_panel
    release.set()
    settle(qtbot, window, timeout=LONG)
    assert panel.job_cancelled("check") and panel.caption.text() == "Check cancelled."
    assert window.session.workspace.findings("first") == (None, [])
    window.session.run(SetActive("first"))  # back to the log: it is checked again
    qtbot.waitUntil(lambda: panel.job_running("check") or bool(window.session.findings), timeout=LONG)
    settle(qtbot, window, timeout=LONG)
    assert PLANTED <= {f.kind for f in window.session.findings}
    assert session_check.reused == 1  # the cancelled check stopped before it was reused
    close_window(window)


def test_reference_since_and_slice_are_the_users_and_are_kept(app_window, qtbot, qsettings, demo_files, tmp_path):
    window = app_window
    window.controller.save_workspace_as(tmp_path / "w.sleuth")
    window.open_paths([str(demo_files.log)])  # the 200k demo: the swap found in the slice since the 15th
    settle(qtbot, window)
    window.findings_dock.raise_()
    panel = window.findings_panel
    panel.reference_box.setCurrentIndex(panel.reference_box.findText("the log before…"))
    panel.before_edit.setDateTime(dt.datetime(2026, 10, 8))
    qtbot.mouseClick(panel.since_box, Qt.LeftButton)
    panel.since_edit.setDateTime(dt.datetime(2026, 10, 15))
    assert "the log before 2026-10-08 00:00" in panel.reference_label.text()
    assert "since 2026-10-15 00:00" in panel.reference_label.text()
    window.session.run(SetSlice(Slice(Compare("region", "=", "US-East"))))
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    settle(qtbot, window, timeout=LONG)
    findings = window.session.findings
    assert "the log before 2026-10-08 00:00" in panel.caption.text()
    assert "region = 'US-East'" in panel.caption.text()
    # what was seen since the 15th, located over the whole slice: a problem starts when it began
    assert all(f.window[1] is None or f.window[1] > dt.datetime(2026, 10, 15) for f in findings)
    assert "null_burst" not in {f.kind for f in findings}  # EU-West, on the 12th: outside both
    assert any(f.kind == "swap" for f in findings)
    assert all("region" in f.slice.columns for f in findings)  # opening one keeps the slice
    view = ident(window.session.active.dataset.view)
    for finding in findings:  # its rows are counted among the slice's, not the whole log's
        where = to_sql(finding.slice)
        in_slice = window.session.store.scalar(Sql(f"SELECT COUNT(*) FROM {view} WHERE {where.text}", where.params))
        assert finding.rows <= in_slice, finding.sentence
    name = window.session.active.name
    kept = window.session.workspace.check_reference(name)
    assert (kept["kind"], kept["before"], kept["since"]) == ("before", "2026-10-08T00:00:00", "2026-10-15T00:00:00")

    again = make_window(qtbot, qsettings)
    again.controller.open_workspace(tmp_path / "w.sleuth")
    settle(qtbot, again)
    again.findings_dock.raise_()
    settle(qtbot, again)
    label = again.findings_panel.reference_label.text()
    assert "the log before 2026-10-08 00:00" in label and "since 2026-10-15 00:00" in label
    close_window(again)


def test_where_labels_stopped_the_time_plot_says_so_and_offers_the_estimate(app_window, qtbot, window_demo_files,
                                                                           session_check):
    import json

    incidents = json.loads(window_demo_files.manifest.read_text())["incidents"]
    truth = next(i for i in incidents if i["kind"] == "label_delay")
    window = app_window
    window.open_paths([str(window_demo_files.log)])
    settle(qtbot, window)
    plot = window.time_panel
    window.time_dock.raise_()
    settle(qtbot, window)
    assert not plot.labels_note.isVisible()  # nothing checked yet: nothing claimed
    window.findings_dock.raise_()
    qtbot.mouseClick(window.findings_panel.run_button, Qt.LeftButton)
    settle(qtbot, window, timeout=LONG)
    window.time_dock.raise_()
    settle(qtbot, window)
    since = dt.datetime.fromisoformat(truth["window"][0])
    assert plot.labels_note.isVisible()
    assert f"No labels since {since:%Y-%m-%d %H:%M}: {truth['rows_affected']:,} predictions" in plot.labels_note.text()
    assert plot.estimate_button.isVisible()
    qtbot.mouseClick(plot.estimate_button, Qt.LeftButton)
    settle(qtbot, window)
    assert plot.series.metric == "estimated_accuracy" and "ESTIMATE" in plot.caption.text()
    assert not plot.estimate_button.isVisible()
