"""Failing slices in the window, browsed as a person browses a list: Return on one result, then
on another. Each opens the searched slice narrowed to that result (not to the previous result
as well), the table counts its rows, and the list stays current, never "Stale"."""

from PySide6.QtCore import Qt

from analysis.slices import EditMode, Everything, combine
from tests.views.helpers import open_demo, rows_in_slice, settle


def _open_with_return(qtbot, window, row: int) -> None:
    table = window.discovery_panel.table
    table.setFocus()
    table.setCurrentCell(row, 1)
    qtbot.keyClick(table, Qt.Key_Return)
    settle(qtbot, window)


def _type_slice(qtbot, window, text: str) -> None:
    window.slice_bar.edit.setText(text)
    qtbot.keyClick(window.slice_bar.edit, Qt.Key_Return)
    settle(qtbot, window)


def test_browsing_results_one_after_another_opens_each_and_keeps_the_list_current(app_window, qtbot, demo_files):
    open_demo(qtbot, app_window, demo_files)
    _type_slice(qtbot, app_window, "amount > 20")
    searched = app_window.session.current_slice.predicate
    panel = app_window.discovery_panel
    app_window.discovery_dock.raise_()
    with qtbot.waitSignal(panel.sig_rendered, timeout=120000):
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    settle(qtbot, app_window)
    assert panel.table.rowCount() >= 3 and searched is not Everything
    for row in (0, 2, 1):
        _open_with_return(qtbot, app_window, row)
        expected = combine(searched, panel.result_at(row).to_slice().predicate, EditMode.NARROW)
        assert app_window.session.current_slice.predicate == expected, row
        assert app_window.table_panel.model.rowCount() == rows_in_slice(app_window.session)
        assert not panel.stale and "Stale" not in panel.caption.text(), row
