"""The one notification surface: a dismissable banner for errors, warnings and news.

Background failures, bad input and partial loads all end up here, as a sentence that says
what and where, never as a traceback dialog. Messages stack (newest first, a few kept) so
two problems in a row are both seen.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

COLOURS = {
    "error": ("#fdecea", "#b3261e"),
    "warning": ("#fff4e5", "#8a5300"),
    "info": ("#e8f1fb", "#1a4f8b"),
}
MAX_SHOWN = 4
INFO_TIMEOUT_MS = 6000


class NotificationArea(QWidget):
    """A column of banners at the top of the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 0)
        self._layout.setSpacing(3)
        self.history: list[tuple[str, str]] = []
        self.setVisible(False)

    def show_message(self, level: str, text: str) -> None:
        self.history.append((level, text))
        banner = _Banner(level, text, self)
        banner.dismissed.connect(self._remove)
        self._layout.insertWidget(0, banner)
        while self._layout.count() > MAX_SHOWN:
            self._remove(self._layout.itemAt(self._layout.count() - 1).widget())
        self.setVisible(True)
        if level == "info":
            # The banner owns its timer, so a banner removed (or a window closed) before the
            # timeout takes its timer along instead of leaving it to fire on a deleted widget.
            expiry = QTimer(banner)
            expiry.setSingleShot(True)
            expiry.timeout.connect(lambda: self._remove(banner))
            expiry.start(INFO_TIMEOUT_MS)

    def messages(self) -> list[str]:
        """Texts of the banners shown now, newest first."""
        return [self._layout.itemAt(i).widget().text for i in range(self._layout.count())]

    def clear(self) -> None:
        while self._layout.count():
            self._remove(self._layout.itemAt(0).widget())

    def _remove(self, banner: QWidget) -> None:
        if banner is None or banner.parent() is not self:
            return
        self._layout.removeWidget(banner)
        banner.setParent(None)
        banner.deleteLater()
        self.setVisible(self._layout.count() > 0)


class _Banner(QFrame):
    dismissed = Signal(object)

    def __init__(self, level: str, text: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.text = text
        background, foreground = COLOURS.get(level, COLOURS["info"])
        self.setStyleSheet(
            f"_Banner, QFrame {{ background: {background}; border: 1px solid {foreground}; border-radius: 4px; }}"
            f"QLabel {{ color: {foreground}; border: none; }}"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 4, 3)
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self.dismissed.emit(self))
        layout.addWidget(close)
