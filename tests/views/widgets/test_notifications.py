"""The notification area: a banner dismissed by hand before its timer leaves nothing behind."""

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QToolButton

from views.widgets import notifications
from views.widgets.notifications import NotificationArea


def test_a_banner_dismissed_before_its_timer_does_not_raise(qtbot, monkeypatch):
    monkeypatch.setattr(notifications, "INFO_TIMEOUT_MS", 0)
    area = NotificationArea()
    qtbot.addWidget(area)
    area.show_message("info", "Workspace saved")
    qtbot.mouseClick(area.findChildren(QToolButton)[0], Qt.LeftButton)
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # the banner is gone for good
    QApplication.processEvents()  # the timer's turn: it must find nothing to do
    assert area.messages() == [] and not area.isVisible()
    area.show_message("error", "still works")
    assert area.messages() == ["still works"]
