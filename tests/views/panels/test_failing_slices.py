"""The Failing slices panel driven as a person would: pick a version, click Find, open a result."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from analysis.discovery.failing_slices import failing_slices
from analysis.scope import Scope
from analysis.slices import Compare, Slice
from app.commands import SetSlice
from app.controller import AppController
from app.state import Session
from tests.views.helpers import settle
from views.panel import narrow_slice
from views.panels.failing_slices import ALL_VERSIONS, DiscoveryPanel


@pytest.fixture
def panel(qtbot, sync_tasks):
    session = Session()
    widget = DiscoveryPanel(session, sync_tasks)
    widget.controller = AppController(session, sync_tasks)
    qtbot.addWidget(widget)
    widget.resize(1000, 480)
    widget.show()
    yield widget
    session.close()


def open_in_panel(qtbot, panel, path, kind="log"):
    panel.controller.open_paths([str(path)], kind=kind)
    settle(qtbot, panel)
    assert panel.session.active is not None
    return panel.session.active


def stronger_version(window_demo_files):
    incidents = {i["id"]: i for i in json.loads(window_demo_files.manifest.read_text())["incidents"]}
    return incidents["d"]["versions"][0]


def choose(box, data):
    index = box.findData(data)
    assert index >= 0, [box.itemData(i) for i in range(box.count())]
    box.setCurrentIndex(index)


def find(qtbot, panel):
    with qtbot.waitSignal(panel.sig_rendered, timeout=30000):
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    settle(qtbot, panel)


def test_empty_panel_says_what_to_open(panel):
    assert "Open a prediction log" in panel.empty_message()
    assert not panel.find_button.isEnabled()


def test_a_training_snapshot_is_not_searched(panel, qtbot, window_demo_files):
    open_in_panel(qtbot, panel, window_demo_files.training, kind="training")
    assert "training snapshot" in panel.empty_message()
    assert not panel.find_button.isEnabled()


def test_find_lists_what_discovery_finds_and_names_the_kiosks(panel, qtbot, demo_files):
    open_in_panel(qtbot, panel, demo_files.log)  # the 200k demo: at 20k rows the kiosks are not found
    version = stronger_version(demo_files)
    assert panel.version_box.itemText(0) == ALL_VERSIONS
    choose(panel.version_box, version)
    find(qtbot, panel)

    opened = panel.session.active
    settings = panel.settings()
    assert settings.version == version and settings.error == "misclass"
    expected = failing_slices(Scope(panel.session.store, opened.dataset, opened.roles), settings)
    shown = [panel.table.item(row, 1).text() for row in range(panel.table.rowCount())]
    assert shown == [s.text for s in expected]
    assert any("device_type = 'kiosk'" in text for text in shown[:5]), shown
    for row, result in enumerate(expected):
        assert panel.table.item(row, 2).text() == f"{result.size:,}"
        assert panel.table.item(row, 3).text() == f"{result.error_rate:.1%}"

    frame = pd.read_parquet(demo_files.log, columns=["model_version", "is_fraud", "prediction"])
    labelled = frame[(frame.model_version == version) & frame.is_fraud.notna()]
    overall = float(np.mean(labelled.is_fraud != labelled.prediction))
    assert f"{expected[0].size:,} rows" in panel.summary.text()
    assert f"vs {overall:.1%} overall" in panel.summary.text()
    assert "all rows" in panel.caption.text()


def test_double_click_opens_the_row_even_after_sorting(panel, qtbot, demo_files):
    open_in_panel(qtbot, panel, demo_files.log)  # the 200k demo: at 20k rows one slice is found, too few to sort
    choose(panel.version_box, stronger_version(demo_files))
    find(qtbot, panel)
    panel.table.sortItems(2, Qt.DescendingOrder)  # by rows, largest first
    largest = max(panel.results, key=lambda s: s.size)
    rect = panel.table.visualItemRect(panel.table.item(0, 1))
    with qtbot.waitSignal(panel.sig_open_slice) as opened:
        qtbot.mouseClick(panel.table.viewport(), Qt.LeftButton, pos=rect.center())  # a double-click starts with a press
        qtbot.mouseDClick(panel.table.viewport(), Qt.LeftButton, pos=rect.center())
    assert opened.args[0] == largest.to_slice().predicate

    panel.table.setCurrentCell(1, 1)
    with qtbot.waitSignal(panel.sig_open_slice) as entered:
        qtbot.keyClick(panel.table, Qt.Key_Return)
    assert entered.args[0] == panel.result_at(1).to_slice().predicate != largest.to_slice().predicate

    narrow_slice(panel.session, opened.args[0])
    settle(qtbot, panel)
    assert panel.session.current_slice.predicate == largest.to_slice().predicate


def test_changing_the_slice_marks_results_stale_and_keeps_them(panel, qtbot, window_demo_files):
    open_in_panel(qtbot, panel, window_demo_files.log)
    find(qtbot, panel)
    rows = panel.table.rowCount()
    assert rows > 0 and not panel.stale
    panel.session.run(SetSlice(Slice(Compare("region", "=", "EU-West"))))
    assert panel.stale
    assert "Stale" in panel.caption.text()
    assert panel.table.rowCount() == rows

    panel.activateWindow()
    panel.table.setFocus()
    with qtbot.waitSignal(panel.sig_rendered, timeout=30000):
        qtbot.keyClick(panel.table, Qt.Key_Return, Qt.ControlModifier)
    settle(qtbot, panel)
    assert not panel.stale
    assert "within slice <code>region = 'EU-West'</code>" in panel.caption.text()
    assert all(p.column != "region" for s in panel.results for p in s.predicates)


def test_nothing_significant_says_what_to_loosen(panel, qtbot, window_demo_files):
    open_in_panel(qtbot, panel, window_demo_files.log)
    panel.support_spin.setValue(panel.support_spin.maximum())
    find(qtbot, panel)
    assert panel.results == []
    assert "untick “Only significant”" in panel.empty_message()


def test_disagreement_shows_the_second_version(panel, qtbot, window_demo_files):
    open_in_panel(qtbot, panel, window_demo_files.log)
    assert not panel.other_version_box.isVisible()
    choose(panel.error_box, "disagree")
    assert panel.other_version_box.isVisible()
    settings = panel.settings()
    assert settings.version and settings.other_version and settings.version != settings.other_version
    kinds = [panel.error_box.itemData(i) for i in range(panel.error_box.count())]
    assert kinds == ["misclass", "logloss", "disagree"]


def test_panel_renders_readably(panel, qtbot, window_demo_files):
    open_in_panel(qtbot, panel, window_demo_files.log)
    choose(panel.version_box, stronger_version(window_demo_files))
    find(qtbot, panel)
    image = panel.grab().toImage()
    pixels = np.array([[image.pixelColor(x, y).lightness() for x in range(0, image.width(), 7)]
                       for y in range(0, image.height(), 7)])
    assert pixels.std() > 10


def test_settings_that_do_not_fit_reach_the_error_surface(panel, qtbot, window_demo_files):
    opened = open_in_panel(qtbot, panel, window_demo_files.log)
    panel.controller.set_roles(opened.name, replace(opened.roles, features=()))
    settle(qtbot, panel)
    choose(panel.version_box, stronger_version(window_demo_files))
    with qtbot.waitSignal(panel.tasks.sig_error, timeout=30000) as failed:
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    settle(qtbot, panel)
    assert "no feature columns" in failed.args[1]
    assert "failed" in panel.caption.text()


def test_opening_a_result_keeps_the_list_current(panel, qtbot, window_demo_files):
    """Opening a found slice is what the list is for: the list stays current, not stale."""
    open_in_panel(qtbot, panel, window_demo_files.log)
    panel.sig_open_slice.connect(lambda predicate: narrow_slice(panel.session, predicate))
    find(qtbot, panel)
    panel.table.setFocus()
    panel.table.setCurrentCell(1, 1)
    qtbot.keyClick(panel.table, Qt.Key_Return)
    settle(qtbot, panel)
    assert panel.session.current_slice.predicate == panel.result_at(1).to_slice().predicate
    assert not panel.stale
    assert "Stale" not in panel.caption.text()

    panel.session.run(SetSlice(Slice(Compare("region", "=", "EU-West"))))
    assert panel.stale


def test_results_and_caption_name_versions_by_their_cards(qtbot, panel, demo_files):
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard

    open_in_panel(qtbot, panel, demo_files.log)  # the 200k demo: at 20k rows no found slice names a version
    first, second = panel.session.version_order()
    panel.session.run(SaveVersionCard(VersionCard(first, name="incumbent")))
    panel.k_spin.setValue(5)
    panel.level_spin.setValue(2)
    find(qtbot, panel)
    raw_texts = [panel.result_at(row).text for row in range(panel.table.rowCount())]
    assert any(first in text for text in raw_texts), raw_texts  # the case is real: a result names the version
    for row in range(panel.table.rowCount()):
        cell, raw = panel.table.item(row, 1), panel.result_at(row).text
        assert raw in cell.toolTip()
        if first in raw:
            assert "'incumbent'" in cell.text() and first not in cell.text()
        else:
            assert cell.text() == raw
    choose(panel.version_box, second)
    panel.session.run(SaveVersionCard(VersionCard(second, name="challenger")))
    find(qtbot, panel)
    assert "challenger" in panel.caption.text() and second not in panel.caption.text()


def _slice_text_fits(table, row) -> bool:
    """The row's slice text fits its cell: on one line, or wrapped (when the table wraps) at
    the column's width within the row's height."""
    from PySide6.QtCore import QRect

    text = table.item(row, 1).text()
    margin = table.style().pixelMetric(table.style().PixelMetric.PM_FocusFrameHMargin)
    width = table.columnWidth(1) - 2 * margin - 2
    if table.fontMetrics().horizontalAdvance(text) <= width:
        return True
    needed = table.fontMetrics().boundingRect(QRect(0, 0, width, 10_000), Qt.TextWordWrap, text)
    return table.wordWrap() and needed.width() <= width and needed.height() <= table.rowHeight(row)


@pytest.mark.parametrize("size", [(800, 330), (1000, 420)])  # the dock at 1280x720 and at 1600x1000
def test_every_slice_text_reads_whole_in_its_cell(panel, qtbot, window_demo_files, size):
    """Three conditions and a version's card name are longer than the slice column is wide:
    the text wraps in its cell instead of ending in '…', and every number column stays in view."""
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard

    open_in_panel(qtbot, panel, window_demo_files.log)
    first, _second = panel.session.version_order()
    panel.session.run(SaveVersionCard(VersionCard(first, name="incumbent (logistic)")))
    panel.resize(*size)
    find(qtbot, panel)
    table = panel.table
    texts = [table.item(row, 1).text() for row in range(table.rowCount())]
    widest = max(table.fontMetrics().horizontalAdvance(text) for text in texts)
    assert widest > table.columnWidth(1)  # the case is real: a slice is longer than one line
    assert table.horizontalHeader().length() <= table.viewport().width()
    assert all(_slice_text_fits(table, row) for row in range(table.rowCount())), texts
