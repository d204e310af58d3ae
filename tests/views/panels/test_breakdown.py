"""The breakdown panel on the demo log: numbers equal a pandas group-by; clicks set the slice."""

import pandas as pd
import pytest
from PySide6.QtCore import QPointF, Qt

from analysis.slices import Compare
from tests.views.helpers import rows_in_slice
from views.panels.breakdown import BreakdownPanel


def choose(box, data):
    box.setCurrentIndex(box.findData(data))


def test_error_rate_by_device_equals_pandas(demo_panel, qtbot, demo_files):
    panel = demo_panel(BreakdownPanel)  # the 200k demo: at 20k the kiosks of one version are not significant
    choose(panel.column_box, "device_type")
    frame = panel.result.frame
    log = pd.read_parquet(demo_files.log).dropna(subset=["is_fraud"])
    expected = (log.prediction != log.is_fraud).groupby([log.model_version, log.device_type]).mean()
    for record in frame.itertuples():
        assert record.value == pytest.approx(expected[(record.version, record.label)])
    assert panel.table.rowCount() == len(frame)
    kiosk = frame[(frame.label == "kiosk")]
    assert kiosk.significant.all()  # kiosks are worse than the rest for both versions


def test_double_click_on_a_row_narrows_the_slice(window_demo_panel, qtbot, window_demo_files):
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "device_type")
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == "kiosk")
    panel.table.itemDoubleClicked.emit(panel.table.item(row, 0))
    assert panel.session.current_slice.predicate == Compare("device_type", "=", "kiosk")
    log = pd.read_parquet(window_demo_files.log)
    assert rows_in_slice(panel.session) == (log.device_type == "kiosk").sum()


def test_double_click_on_a_bar_narrows_the_slice(window_demo_panel, qtbot, window_demo_files):
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "region")
    index = panel._bar_labels.index("EU-West")
    view_box = panel.plot.getPlotItem().vb
    scene_point = view_box.mapViewToScene(QPointF(index, 0.005))
    widget_point = panel.plot.mapFromScene(scene_point)
    qtbot.mouseDClick(panel.plot.viewport(), Qt.LeftButton, pos=widget_point)
    assert panel.session.current_slice.predicate == Compare("region", "=", "EU-West")


def test_crosstab_cells_equal_pandas_pivot(window_demo_panel, qtbot, window_demo_files):
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "device_type")
    choose(panel.second_box, "region")
    frame = panel.result.frame
    log = pd.read_parquet(window_demo_files.log).dropna(subset=["is_fraud"])
    expected = (log.prediction != log.is_fraud).groupby([log.model_version, log.device_type, log.region]).mean()
    for record in frame.itertuples():
        assert record.value == pytest.approx(expected[(record.version, record.row_label, record.col_label)])


def test_bad_edges_are_explained(window_demo_panel, qtbot, window_demo_files):
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "amount")
    panel.edges.setText("10, abc")
    panel.edges.editingFinished.emit()
    assert "must be finite numbers" in panel.caption.text()
    panel.edges.setText("0, 50, 200")
    panel.edges.editingFinished.emit()
    assert set(panel.result.frame.label) >= {"[0, 50]", "(50, 200]"}


@pytest.mark.parametrize("text", ["inf", "0, nan", "1e309", "-inf, 5"])
def test_edges_that_are_not_finite_are_refused_and_later_breakdowns_work(window_demo_panel, qtbot, window_demo_files, text):
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "amount")
    panel.edges.setText(text)
    panel.edges.editingFinished.emit()
    assert "finite numbers" in panel.caption.text()
    panel.edges.setText("0, 50, 200")
    panel.edges.editingFinished.emit()
    assert set(panel.result.frame.label) >= {"[0, 50]", "(50, 200]"}


def test_a_time_column_is_cut_at_dates_and_numbers_are_refused_in_a_sentence(window_demo_panel, qtbot, window_demo_files):
    """Numbers cannot cut a time column (DuckDB refuses to compare a timestamp with a number; the
    random walk of tests/views/test_monkey.py met it as a failed job): they get a sentence, and
    dates cut it, each row in the bin pandas.cut puts it in."""
    panel = window_demo_panel(BreakdownPanel)
    choose(panel.column_box, "timestamp")
    panel.edges.setText("0, 50, 200")
    panel.edges.editingFinished.emit()
    assert "dates or times" in panel.caption.text()
    panel.edges.setText("2026-10-14, 2026-10-07")
    panel.edges.editingFinished.emit()
    frame = panel.result.frame
    assert {"< 2026-10-07", "[2026-10-07, 2026-10-14]", "> 2026-10-14"} <= set(frame.label)
    log = pd.read_parquet(window_demo_files.log, columns=["timestamp"])
    inside = log.timestamp.between(pd.Timestamp("2026-10-07"), pd.Timestamp("2026-10-14")).sum()
    assert frame.loc[frame.label == "[2026-10-07, 2026-10-14]", "rows"].sum() == inside


def _choice_fits(box) -> bool:
    """``box`` shows its current choice whole, or elided with the whole choice as its tooltip."""
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    option = QStyleOptionComboBox()
    box.initStyleOption(option)
    field = box.style().subControlRect(QStyle.CC_ComboBox, option, QStyle.SC_ComboBoxEditField, box)
    return box.fontMetrics().horizontalAdvance(box.currentText()) <= field.width() or box.currentText() in box.toolTip()


def test_the_bin_edges_hint_is_read_whole_at_1280x720_and_zoomed_in(qtbot, qsettings, window_demo_files):
    from tests.views.helpers import close_window, make_window, open_demo
    from tests.views.layout_check import overflowing
    from views.widgets.fitting_edit import text_room

    window = make_window(qtbot, qsettings, size=(1280, 720))
    try:
        open_demo(qtbot, window, window_demo_files)
        beside = window.metrics_dock.geometry()  # with the time plot raised, as the window opens
        window.breakdown_dock.raise_()
        panel = window.breakdown_panel
        choose(panel.column_box, "amount")
        qtbot.waitUntil(lambda: panel.edges.isVisible())
        # The row fits the dock the default layout gives it: it does not hold the dock open (one
        # row took 34 px from the metrics beside it, whose headers were cut further, and left the
        # bin-edges field against the window's edge).
        assert window.metrics_dock.geometry() == beside
        for zoom_in in (0, 1):
            if zoom_in:
                qtbot.keyClick(window, Qt.Key_Equal, Qt.ControlModifier)
            qtbot.waitUntil(lambda: panel.edges.isVisible())
            edges = panel.edges
            hint = edges.fontMetrics().horizontalAdvance(edges.placeholderText())
            assert hint <= text_room(edges), (hint, text_room(edges), window.zoom)
            assert overflowing(window.breakdown_dock) == []  # every control whole inside the dock
            boxes = (panel.column_box, panel.second_box, panel.metric_box, panel.version_box)
            assert [box.currentText() for box in boxes if not _choice_fits(box)] == []
    finally:
        window.close()
        close_window(window)


def test_at_1600x1000_the_controls_are_one_row_reached_by_tab_in_order(qtbot, qsettings, window_demo_files):
    """The row that wraps at 1280x720 is one line on a large screen, and Tab walks it as before."""
    from PySide6.QtWidgets import QApplication

    from tests.views.helpers import close_window, make_window, open_demo
    from tests.views.layout_check import overflowing

    window = make_window(qtbot, qsettings, size=(1600, 1000))
    try:
        open_demo(qtbot, window, window_demo_files)
        window.breakdown_dock.raise_()
        panel = window.breakdown_panel
        qtbot.waitUntil(lambda: panel.edges.isVisible())
        controls = (panel.column_box, panel.second_box, panel.metric_box, panel.version_box, panel.bins, panel.edges)
        spans = [(control.mapTo(panel, control.rect().topLeft()).y(),
                  control.mapTo(panel, control.rect().bottomLeft()).y()) for control in controls]
        assert max(top for top, _ in spans) < min(bottom for _, bottom in spans)  # one row
        assert overflowing(window.breakdown_dock) == []
        panel.column_box.setFocus()
        reached = [panel.column_box]
        for _ in controls[1:]:
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
            focus = QApplication.focusWidget()
            reached.append(next((c for c in controls if c is focus or c.isAncestorOf(focus)), focus))
        assert reached == list(controls)
        choose(panel.metric_box, "accuracy")  # the boxes still drive the breakdown
        assert panel.result is not None and "Accuracy" in panel.caption.text()
    finally:
        window.close()
        close_window(window)
