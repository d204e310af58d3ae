"""A line edit never narrower than its placeholder, so its hint is read whole.

A layout squeezes a ``QLineEdit`` down to a few characters when the row is full (the
breakdown's bin-edges field showed "edges, …" at 1280x720), and the hint of what to type is
then lost. :class:`FittingLineEdit` asks the layout for the placeholder's width at the current
font, so a zoom (which changes the font) widens it too.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLineEdit, QStyle, QStyleOptionFrame

LINE_EDIT_MARGIN = 2
"""QLineEdit's own horizontal margin on each side of its text (``QLineEditPrivate``), in px."""


class FittingLineEdit(QLineEdit):
    """A ``QLineEdit`` whose minimum and preferred widths show its placeholder whole."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(max(hint.width(), self._placeholder_width()), hint.height())

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(max(hint.width(), self._placeholder_width()), hint.height())

    def _placeholder_width(self) -> int:
        """The widget width at which the placeholder's text fits its text area."""
        margins = self.textMargins()
        text = (self.fontMetrics().horizontalAdvance(self.placeholderText()) + 2 * LINE_EDIT_MARGIN
                + margins.left() + margins.right() + 1)
        option = QStyleOptionFrame()
        self.initStyleOption(option)
        height = super().sizeHint().height()
        return self.style().sizeFromContents(QStyle.CT_LineEdit, option, QSize(text, height), self).width()


def text_room(edit: QLineEdit) -> int:
    """The width of ``edit``'s text area, in px: what its text or placeholder can use."""
    option = QStyleOptionFrame()
    edit.initStyleOption(option)
    area = edit.style().subElementRect(QStyle.SE_LineEditContents, option, edit)
    margins = edit.textMargins()
    return area.width() - 2 * LINE_EDIT_MARGIN - margins.left() - margins.right()
