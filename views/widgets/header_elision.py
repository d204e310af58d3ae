"""Header sections too narrow for their text end in "…" and show the whole text as a tooltip.

Qt's headers clip a long title on both sides by default (a centred "challenger (boosted
trees)" shows as "allenger (boosted tree"), which on a small screen or a projector reads as a
different name. :func:`elide_headers` makes every header of a window elide on the right, and a
hover on a section that does not fit shows its whole title, unless the model gives a tooltip of
its own. Where a title must be read whole (a version's card name heads its column),
:class:`WrappedTitles` breaks it onto as many lines as its section's width needs instead.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QHeaderView, QStyle, QToolTip, QWidget
from shiboken6 import isValid


def elide_headers(root: QWidget) -> None:
    """Make every header under ``root`` elide, with the full title as tooltip where cut."""
    for header in root.findChildren(QHeaderView):
        if not any(isinstance(child, WrappedTitles) for child in header.children()):
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
    return title is None or _widest_line(header.fontMetrics(), str(title)) + 2 * margin <= room


class WrappedTitles(QObject):
    """Keeps each title of a horizontal header whole: broken at spaces onto as many lines as its
    section's width needs, again whenever the section is resized (a dock dragged, a zoom). Only
    a single word wider than its section is still elided, with the whole title in its tooltip.
    The header itself must not elide: Qt elides a title of several lines as if they were one."""

    def __init__(self, header: QHeaderView) -> None:
        super().__init__(header)
        self.header = header
        header.setTextElideMode(Qt.ElideNone)
        self.titles: list[str] = []
        header.sectionResized.connect(lambda section, _old, _new: self._fit(section))
        header.installEventFilter(self)

    def set_titles(self, titles: list[str]) -> None:
        """Head the sections with ``titles``, in order, each wrapped to its section."""
        self.titles = list(titles)
        self._fit_all()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """A stretched header's sections shrink without ``sectionResized`` when the header
        narrows (a taller title brought the table's scroll bar): fit them once it has laid out."""
        if event.type() == QEvent.Resize:
            QTimer.singleShot(0, self, self._fit_all)
        return False

    def _fit_all(self) -> None:
        for section in range(len(self.titles)):
            self._fit(section)

    def title(self, section: int) -> str:
        """The whole title of ``section``, on one line."""
        return self.titles[section]

    def _fit(self, section: int) -> None:
        if not isValid(self.header):  # a table being deleted still resizes its sections
            return
        model = self.header.model()
        if model is None or section >= len(self.titles) or section >= model.columnCount():
            return
        shown = str(model.headerData(section, Qt.Horizontal, Qt.DisplayRole) or "")
        metrics = _sizing_metrics(self.header)
        around = self.header.sectionSizeFromContents(section).width() - _widest_line(metrics, shown)
        wrapped = wrap_words(self.titles[section], metrics, self.header.sectionSize(section) - around)
        if wrapped != shown:
            model.setHeaderData(section, Qt.Horizontal, wrapped, Qt.DisplayRole)


def wrap_words(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` broken at spaces into lines no wider than ``width``; a word wider than that
    breaks after its ``-``, ``_`` or ``/`` (a version string: ``fraud-lr-`` / ``2026.09``), and
    a part still wider ends in "…"."""
    lines: list[str] = []
    for piece, glue in _pieces(text, metrics, width):
        joined = f"{lines[-1]}{glue}{piece}" if lines else piece
        if lines and metrics.horizontalAdvance(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(piece)
    return "\n".join(metrics.elidedText(line, Qt.ElideRight, max(width, 0)) for line in lines)


def _pieces(text: str, metrics: QFontMetrics, width: int):
    """The words of ``text``, each with what joins it to the one before on a line."""
    for word in text.split():
        parts = [word] if metrics.horizontalAdvance(word) <= width else re.findall(r"[^-_/]+[-_/]*|[-_/]+", word)
        for index, part in enumerate(parts):
            yield part, " " if index == 0 else ""


def _sizing_metrics(header: QHeaderView) -> QFontMetrics:
    """The metrics Qt sizes a section's title with: its header's font in bold (a highlighted
    section's title is drawn bold, and must fit then too)."""
    font = QFont(header.font())
    font.setBold(True)
    return QFontMetrics(font)


def _widest_line(metrics: QFontMetrics, text: str) -> int:
    return max((metrics.horizontalAdvance(line) for line in text.split("\n")), default=0)


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
