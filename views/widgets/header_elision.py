"""Header sections too narrow for their text end in "…" and show the whole text as a tooltip.

Qt's headers clip a long title on both sides by default (a centred "challenger (boosted
trees)" shows as "allenger (boosted tree"), which on a small screen or a projector reads as a
different name. :func:`elide_headers` makes every header of a window elide on the right, and a
hover on a section that does not fit shows its whole title, unless the model gives a tooltip of
its own.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHeaderView, QStyle, QToolTip, QWidget

def elide_headers(root: QWidget) -> None:
    """Make every header under ``root`` elide, with the full title as tooltip where cut."""
    for header in root.findChildren(QHeaderView):
        header.setTextElideMode(Qt.ElideRight)
        if not any(isinstance(child, _FullTitleTip) for child in header.children()):
            header.viewport().installEventFilter(_FullTitleTip(header))


def section_tooltip(header: QHeaderView, section: int) -> str:
    """What a hover on ``section`` shows: the model's tooltip, else the title when it does not fit."""
    model = header.model()
    if model is None:
        return ""
    own = model.headerData(section, header.orientation(), Qt.ToolTipRole)
    if own:
        return str(own)
    title = model.headerData(section, header.orientation(), Qt.DisplayRole)
    return str(title) if title is not None and not section_fits(header, section) else ""


def section_fits(header: QHeaderView, section: int) -> bool:
    """Whether ``section``'s title is shown whole (a vertical header is as wide as its widest title)."""
    model = header.model()
    title = model.headerData(section, header.orientation(), Qt.DisplayRole) if model is not None else None
    room = header.sectionSize(section) if header.orientation() == Qt.Horizontal else header.width()
    margin = header.style().pixelMetric(QStyle.PM_HeaderMargin, None, header)
    return title is None or header.fontMetrics().horizontalAdvance(str(title)) + 2 * margin <= room


class _FullTitleTip(QObject):
    """Shows :func:`section_tooltip` for the section under the mouse."""

    def __init__(self, header: QHeaderView) -> None:
        super().__init__(header)
        self.header = header

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.ToolTip:
            return False
        position = event.pos()
        along = position.x() if self.header.orientation() == Qt.Horizontal else position.y()
        section = self.header.logicalIndexAt(along)
        text = section_tooltip(self.header, section) if section >= 0 else ""
        if text:
            QToolTip.showText(event.globalPos(), text, self.header)
        else:
            QToolTip.hideText()
        return True
