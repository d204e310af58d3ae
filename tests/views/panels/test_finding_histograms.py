"""A finding's before/after histograms as a person reads them at 1280x720: walked with the arrow
keys, each finding shows its own columns' plots, their bars and tick values on screen, at least
200 px tall, without growing the window past the screen; every
non-empty bar is at least a pixel tall (a skewed column's tail drawn on a log axis, where a linear
one would flatten it to nothing), and missing values have a bar of their own."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from tests.views.helpers import close_window, make_window, open_demo, reuse_check_in_panel, settle
from views.panels.findings import PLOT_MIN_HEIGHT


@pytest.fixture
def checked(qtbot, qsettings, demo_files, demo_check, monkeypatch):
    """The window at 1280x720 on the demo log, its inputs checked, the first finding selected.
    The panel's check is the session's check of the demo (the same check, run once per run:
    these tests read how its findings are drawn, not what a check finds)."""
    session_check = reuse_check_in_panel(monkeypatch, demo_files, demo_check)
    window = make_window(qtbot, qsettings, size=(1280, 720))
    open_demo(qtbot, window, demo_files)
    window.findings_dock.raise_()
    qtbot.mouseClick(window.findings_panel.run_button, Qt.LeftButton)
    settle(qtbot, window, timeout=120000)
    assert session_check.reused == 1
    panel = window.findings_panel
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton,
                     pos=panel.tree.visualItemRect(panel.tree.topLevelItem(0)).center())
    settle(qtbot, window)
    yield window
    close_window(window)


def _bar_pixels(plot, bar) -> np.ndarray:
    """How tall each bar is on screen, in pixels."""
    box = plot.getViewBox()
    per_unit = box.height() / box.viewRect().height()
    return np.asarray(bar.opts["height"], float) * per_unit


def _ticks_bottom(plot) -> int:
    """The lowest pixel row of the bottom axis's tick values, in the plot's viewport."""
    box = plot.getViewBox().sceneBoundingRect()
    axis = plot.getAxis("bottom")
    text = QFontMetrics(axis.style["tickFont"] or plot.font()).height()
    return round(plot.mapFromScene(box.bottomLeft()).y() + abs(axis.style["tickLength"])
                 + axis.style["tickTextOffset"][1] + text)


def test_each_finding_by_keys_shows_its_columns_legibly_with_every_bar_visible(checked, qtbot, tmp_path):
    panel = checked.findings_panel
    plots = panel.before_after
    kinds_seen, log_columns, linear_columns = [], set(), set()
    for row in range(len(panel.shown)):
        if row:
            qtbot.keyClick(panel.tree, Qt.Key_Down)
            settle(qtbot, checked)
        checked.grab()  # lays out and ranges the plots as a paint does
        QApplication.processEvents()
        finding = panel.current()
        assert finding is panel.shown[row], "the Down key selects the next finding"
        assert checked.height() == 720, "the panel's needs grew the window past the screen"
        kinds_seen.append(finding.kind)
        columns = plots.histograms.columns
        assert [c.column for c in columns] == list(finding.columns)[:len(columns)] and columns
        for plot, column in zip(plots.plots, columns):
            assert plot.height() >= PLOT_MIN_HEIGHT
            shown = plot.viewport().visibleRegion().boundingRect()  # the viewport says what shows
            assert shown.width() == plot.viewport().width(), f"{column.column}'s plot is cut"
            assert shown.bottom() >= _ticks_bottom(plot), f"{column.column}'s bars or tick values are cut"
            _, before, after = plots.drawn_shares(column.column)
            for bar, shares in zip(plots.items[column.column], (before, after)):
                pixels = _bar_pixels(plot, bar)
                assert np.all(pixels[shares > 0] >= 1), (finding.kind, column.column, shares, pixels)
                assert np.all(pixels[shares == 0] == 0), (finding.kind, column.column)
            log = plots.log_scale[column.column]
            assert plot.getPlotItem().getAxis("left").labelText.endswith("(log scale)") == log
            missing = column.baseline_missing > 0 or column.finding_missing > 0
            ticks = [label for _, label in plot.getAxis("bottom")._tickLevels[0]]
            assert (ticks[-1] == "missing") == missing, (column.column, ticks)
            (log_columns if log else linear_columns).add((finding.kind, column.column))
    assert {"swap", "null_burst"} <= set(kinds_seen)
    # the swapped columns are skewed (a long tail of shares under 0.1%): log; a burst is one bar: linear
    assert {("swap", "amount"), ("swap", "distance_from_home_km")} <= log_columns
    assert ("null_burst", "merchant_risk") in linear_columns
