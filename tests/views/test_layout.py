"""Layout for a projector: any panel maximised and restored by a key or a double-click on its
tab, a rearranged layout and the zoom kept across restarts, View > Reset layout."""

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QApplication, QTabBar

from tests.views.helpers import close_window, make_window


def _visible_docks(window):
    return [dock for dock in window.docks if dock.isVisible()]


def _layout(window):
    """Where each dock is: its area, whether shown, and its geometry when on screen (a dock in a
    tab behind another is parked outside the window)."""
    return {dock.objectName(): (window.dockWidgetArea(dock), dock.isVisible(),
                                dock.geometry() if dock.geometry().intersects(window.rect()) else None)
            for dock in window.docks}


def _tab_of(window, title):
    for bar in window.findChildren(QTabBar):
        if bar.isVisible():
            for index in range(bar.count()):
                if bar.tabText(index) == title:
                    return bar, bar.tabRect(index).center()
    raise AssertionError(f"no visible tab named {title}")


def test_a_key_or_a_double_click_maximises_a_panel_and_the_same_restores_the_layout(app_window, qtbot):
    window = app_window
    QApplication.processEvents()
    before = _layout(window)
    qtbot.keyClick(window, Qt.Key_4, Qt.ControlModifier)  # View > Metric over time focuses the time plot
    qtbot.keyClick(window, Qt.Key_M, Qt.ControlModifier | Qt.ShiftModifier)
    QApplication.processEvents()
    assert _visible_docks(window) == [window.time_dock]
    assert not window.table_panel.isVisible()
    assert window.time_dock.width() >= 0.95 * window.width() and window.time_dock.height() >= 0.8 * window.height()
    qtbot.keyClick(window, Qt.Key_M, Qt.ControlModifier | Qt.ShiftModifier)
    QApplication.processEvents()
    assert _layout(window) == before
    assert window.table_panel.isVisible()

    bar, centre = _tab_of(window, window.compare_dock.windowTitle())
    qtbot.mouseDClick(bar, Qt.LeftButton, pos=centre)
    QApplication.processEvents()
    assert _visible_docks(window) == [window.compare_dock]
    title_bar = QPoint(window.compare_dock.width() // 2, window.compare_dock.widget().geometry().top() // 2)
    qtbot.mouseDClick(window.compare_dock, Qt.LeftButton, pos=title_bar)
    QApplication.processEvents()
    assert _layout(window) == before
    assert not window.compare_dock.isFloating()


def test_the_table_is_maximised_when_it_has_the_focus(app_window, qtbot):
    qtbot.keyClick(app_window, Qt.Key_2, Qt.ControlModifier)  # View > Table
    qtbot.keyClick(app_window, Qt.Key_M, Qt.ControlModifier | Qt.ShiftModifier)
    QApplication.processEvents()
    assert _visible_docks(app_window) == [] and app_window.table_panel.isVisible()
    qtbot.keyClick(app_window, Qt.Key_M, Qt.ControlModifier | Qt.ShiftModifier)
    QApplication.processEvents()
    assert app_window.metrics_dock.isVisible() and app_window.data_dock.isVisible()


def _tick_size(window):
    return window.time_panel.plot.getPlotItem().getAxis("bottom").style["tickFont"].pointSizeF()


def test_layout_and_zoom_are_kept_across_a_restart_and_reset_layout_restores_the_first_one(
        app_window, qtbot, qsettings):
    base = QApplication.font().pointSizeF()
    app_window.addDockWidget(Qt.LeftDockWidgetArea, app_window.compare_dock)
    app_window.findings_dock.close()
    qtbot.keyClick(app_window, Qt.Key_Equal, Qt.ControlModifier)
    qtbot.keyClick(app_window, Qt.Key_Equal, Qt.ControlModifier)
    assert QApplication.font().pointSizeF() == base * 1.3
    assert _tick_size(app_window) == base * 1.3
    app_window.close()
    assert QApplication.font().pointSizeF() == base

    again = make_window(qtbot, QSettings(qsettings.fileName(), QSettings.IniFormat))
    QApplication.processEvents()
    try:
        assert again.dockWidgetArea(again.compare_dock) == Qt.LeftDockWidgetArea
        assert not again.findings_dock.isVisible()
        assert QApplication.font().pointSizeF() == base * 1.3 and _tick_size(again) == base * 1.3
        again.actions_by_id["reset_layout"].trigger()
        QApplication.processEvents()
        assert again.dockWidgetArea(again.compare_dock) == Qt.TopDockWidgetArea
        assert again.compare_dock in again.tabifiedDockWidgets(again.time_dock)
        assert again.findings_dock in again.tabifiedDockWidgets(again.time_dock)
        qtbot.keyClick(again, Qt.Key_0, Qt.ControlModifier)
        assert QApplication.font().pointSizeF() == base and _tick_size(again) == base
        qtbot.keyClick(again, Qt.Key_Minus, Qt.ControlModifier)
        assert QApplication.font().pointSizeF() == base * 0.9
    finally:
        again.close()
        close_window(again)


def test_an_unreadable_zoom_in_the_settings_starts_at_the_normal_size(qtbot, qsettings):
    base = QApplication.font().pointSizeF()
    qsettings.setValue("zoom", "huge")
    window = make_window(qtbot, qsettings)
    try:
        assert window.zoom == 1.0 and QApplication.font().pointSizeF() == base
    finally:
        window.close()
        close_window(window)


def test_the_window_and_its_tab_bars_never_call_the_maximiser_and_a_new_tab_bar_still_maximises(
        qtbot, qsettings, monkeypatch):
    """Every event a Python filter sees is a call into Python under the interpreter lock; the
    maximiser sees only its docks' events, and finds the tab bars a rearrangement creates."""
    from PySide6.QtWidgets import QDockWidget

    from app.panel_layout import PanelMaximiser

    seen = []

    class Counting(PanelMaximiser):
        def eventFilter(self, watched, event):
            seen.append(type(watched).__name__)
            return super().eventFilter(watched, event)

    monkeypatch.setattr("app.main_window.PanelMaximiser", Counting)
    window = make_window(qtbot, qsettings)
    window.resize(1300, 800)
    QApplication.processEvents()
    window.repaint()
    bar, centre = _tab_of(window, window.compare_dock.windowTitle())
    qtbot.mouseMove(bar, centre)
    qtbot.mouseClick(bar, Qt.LeftButton, pos=centre)
    QApplication.processEvents()
    assert seen and set(seen) <= {QDockWidget.__name__}

    window.tabifyDockWidget(window.metrics_dock, window.data_dock)  # a tab bar the layout did not have
    window.data_dock.raise_()
    qtbot.waitUntil(lambda: any(bar.isVisible() and window.data_dock.windowTitle() in
                                [bar.tabText(i) for i in range(bar.count())] for bar in window.findChildren(QTabBar)))
    bar, centre = _tab_of(window, window.data_dock.windowTitle())
    qtbot.mouseDClick(bar, Qt.LeftButton, pos=centre)
    QApplication.processEvents()
    assert _visible_docks(window) == [window.data_dock]
    qtbot.mouseDClick(window.data_dock, Qt.LeftButton, pos=QPoint(window.data_dock.width() // 2, 4))
    QApplication.processEvents()
    try:
        assert len(_visible_docks(window)) > 1 and window.table_panel.isVisible()
        assert not window.data_dock.isFloating()
    finally:
        window.close()
        close_window(window)
