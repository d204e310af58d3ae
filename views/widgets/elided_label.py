"""A one-line label that elides its text to its width and gives the whole text in its tooltip.

A note of several sentences wrapped in a short dock takes the rows of what the dock is for (the
queue's agenda, say); one line with an ellipsis keeps the gist in view and the rest one hover away.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text on one line, cut with "…" where it is wider than the label; the whole text is
    the tooltip (and :meth:`whole_text`) whenever it is cut."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.PlainText)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # the layout's width, not the text's
        self._whole = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._whole = " ".join(text.split())
        self._elide()

    def whole_text(self) -> str:
        return self._whole

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._whole, Qt.ElideRight, max(self.contentsRect().width(), 0))
        super().setText(shown)
        self.setToolTip(self._whole if shown != self._whole else "")
