"""On call in the window: run the checks, click a finding, decide on it, reopen the workspace."""

import json

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.views.helpers import (close_shared_window, close_window, make_window, open_demo, reuse_check_in_panel, settle,
                                 shared_window)


def run_checks(qtbot, window):
    window.findings_dock.raise_()
    qtbot.mouseClick(window.findings_panel.run_button, Qt.LeftButton)
    settle(qtbot, window, timeout=120000)
    return window.findings_panel


@pytest.fixture(scope="module")
def checked_window(qapp, tmp_path_factory, demo_files, demo_check):
    """One window on the 200k demo, checked once, for the tests that click its findings (a
    click sets the slice, a decision changes only the finding decided): the ranking they read
    (the swap and the null burst first, no drift alert) is the full demo's; at 20k rows a unit
    change ranks above them. The panel's check is the session's check of the demo (the same
    check, run once per run; what a check finds is tested in tests/analysis/triage)."""
    window = shared_window(tmp_path_factory)
    window.open_paths([str(demo_files.log)])
    QApplication.processEvents()
    assert window.session.active is not None, window.notifications.messages()
    window.findings_dock.raise_()
    with pytest.MonkeyPatch.context() as patch:
        assert reuse_check_in_panel(patch, demo_files, demo_check).reused == 0
        window.findings_panel.run_checks()
    QApplication.processEvents()
    assert window.findings_panel.shown, window.findings_panel.caption.text()
    yield window
    close_shared_window(window)


@pytest.fixture
def checked(checked_window, qtbot):
    """The shared checked window with the findings' tab raised (a test may leave another up)."""
    checked_window.findings_dock.raise_()
    settle(qtbot, checked_window)
    return checked_window


def test_clicking_a_finding_sets_the_slice_and_time_window(checked, qtbot, demo_files):
    app_window, panel = checked, checked.findings_panel
    incidents = {i["id"]: i for i in json.loads(demo_files.manifest.read_text())["incidents"]}
    kinds = [f.kind for f in panel.shown[:2]]
    assert set(kinds) == {"swap", "null_burst"}, [f.sentence for f in panel.shown]
    assert all(f.severity != "alert" for f in panel.shown if f.kind == "drift")
    row = kinds.index("null_burst")
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton,
                     pos=panel.tree.visualItemRect(panel.tree.topLevelItem(row)).center())
    settle(qtbot, app_window)
    finding = panel.shown[row]
    assert app_window.session.current_slice.predicate == finding.slice
    log = pd.read_parquet(demo_files.log)
    start, end = finding.window
    expected = log[(log.region == "EU-West") & (log.timestamp >= start) & (log.timestamp < end)]
    assert app_window.table_panel.model.rowCount() == len(expected)
    burst = pd.Timestamp(incidents["a"]["window"][0])
    assert start <= burst < end
    app_window.time_dock.raise_()  # the plot shares the findings' dock area: it follows once its tab is chosen
    settle(qtbot, app_window)
    shaded = [m for m in app_window.time_panel.markers if m.isVisible()]  # the alert and warning windows
    assert shaded and any(m.getRegion()[0] <= burst.timestamp() < m.getRegion()[1] for m in shaded)


def test_the_profile_and_a_dismissal_are_kept_in_the_workspace(app_window, qtbot, window_demo_files, tmp_path,
                                                                qsettings, window_demo_check, monkeypatch):
    """One checked log, its workspace used twice: the reference profile the first check saved
    is reused by the next check in the same window (the same findings, in the same order), and
    a finding dismissed stays dismissed when the workspace is reopened in another window and
    checked again. The first check is the session's check of the log (what the window keeps of
    a check is tested, not the check); the two after it read the profile it kept, and run."""
    session_check = reuse_check_in_panel(monkeypatch, window_demo_files, window_demo_check)
    open_demo(qtbot, app_window, window_demo_files)
    path = tmp_path / "oncall.sleuth"
    app_window.controller.save_workspace_as(path)
    panel = run_checks(qtbot, app_window)
    first = [f.key for f in panel.shown]
    name = app_window.session.active.name
    assert app_window.session.workspace.profile(name)
    panel = run_checks(qtbot, app_window)
    assert "saved in the workspace" in panel.caption.text()
    assert [f.key for f in panel.shown] == first
    assert session_check.reused == 1  # only the first check was the session's

    alert = next(i for i, f in enumerate(panel.shown) if f.severity != "info")  # dismissing it is seen
    key = panel.shown[alert].key
    panel.tree.setCurrentItem(panel.tree.topLevelItem(alert))
    panel.decide("dismissed", note="client confirmed the fix is deployed")
    settle(qtbot, app_window)
    dismissed = next(f for f in panel.shown if f.key == key)
    assert dismissed.severity == "info" and dismissed.decision == "dismissed"
    app_window.close()

    again = make_window(qtbot, qsettings)
    again.controller.open_workspace(path)
    settle(qtbot, again)
    panel = run_checks(qtbot, again)
    finding = next(f for f in panel.shown if f.key == key)
    assert finding.severity == "info" and finding.decision == "dismissed"
    row = panel.shown.index(finding)
    assert "1 dismissed" in panel.tree.topLevelItem(row).text(3)
    close_window(again)


def _click(qtbot, window, panel, row):
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton,
                     pos=panel.tree.visualItemRect(panel.tree.topLevelItem(row)).center())
    settle(qtbot, window)


def test_clicking_a_finding_shows_before_after_histograms_of_its_columns(checked, qtbot, demo_files):
    app_window, panel = checked, checked.findings_panel
    log = pd.read_parquet(demo_files.log)
    row = next(i for i, f in enumerate(panel.shown) if f.kind == "swap")
    _click(qtbot, app_window, panel, row)
    swap = panel.shown[row]
    plots = panel.before_after
    shown = [p.getAxis("bottom").labelText for p in plots.plots if p.isVisibleTo(panel)]
    assert shown == list(swap.columns)
    start, end = swap.window
    client = log[log.client == "stark-pay"]
    parts = {"before": client[client.timestamp < start],
             "finding": client[(client.timestamp >= start) & (client.timestamp < end)]}
    for column in swap.columns:
        edges = np.asarray(next(c.edges for c in plots.histograms.columns if c.column == column))
        x, *drawn = plots.drawn_shares(column)
        assert np.allclose(x[:len(edges) - 1], (edges[:-1] + edges[1:]) / 2)
        for (name, rows), shares in zip(parts.items(), drawn):
            counts = np.histogram(np.clip(rows[column].dropna(), edges[0], edges[-1]), bins=edges)[0]
            expected = counts / len(rows)  # shares of all the part's rows; missing values have their own bar
            if len(shares) > len(counts):
                expected = np.append(expected, rows[column].isna().mean())
            assert np.allclose(shares, expected), (column, name)

    row = next(i for i, f in enumerate(panel.shown) if f.kind == "null_burst")
    _click(qtbot, app_window, panel, row)
    nulled = plots.histograms.columns
    assert [c.column for c in nulled] == ["merchant_risk"] and plots.histograms.baseline == "before"
    assert nulled[0].finding_missing == 1.0 and nulled[0].baseline_missing < 0.01
    assert not plots.plots[1].isVisibleTo(panel)
    assert "100% missing" in plots.legends[0].text()
    _, before, after = plots.drawn_shares("merchant_risk")
    assert after[-1] == 1.0 and after[:-1].sum() == 0  # the burst is one bar: missing
    assert plots.plots[0].getAxis("bottom")._tickLevels[0][-1][1] == "missing"


def test_histograms_follow_the_selected_finding_through_a_decision(checked, qtbot):
    app_window, panel = checked, checked.findings_panel
    plots = panel.before_after
    swap = next(i for i, f in enumerate(panel.shown) if f.kind == "swap")
    burst = next(i for i, f in enumerate(panel.shown) if f.kind == "null_burst")
    _click(qtbot, app_window, panel, swap)
    assert [c.column for c in plots.histograms.columns] == list(panel.shown[swap].columns)
    _click(qtbot, app_window, panel, burst)
    key = panel.shown[burst].key
    assert [c.column for c in plots.histograms.columns] == ["merchant_risk"]
    qtbot.mouseClick(panel.buttons["confirmed"], Qt.LeftButton)
    settle(qtbot, app_window)
    assert panel.current().key == key and panel.current().decision == "confirmed"
    assert plots.isVisibleTo(panel) and [c.column for c in plots.histograms.columns] == ["merchant_risk"]
    panel.tree.setCurrentItem(None)
    assert plots.histograms is None and not plots.isVisibleTo(panel)
