"""What a person at a small screen sees cut, found by geometry instead of by looking.

Two kinds of defect, each named by the text a person would read:

* a control (button, box, field, label) that runs past the edge of a widget it lies in, so
  its border or its end is not drawn: a row of controls wider than its dock, say. Clipping
  by a scroll area's viewport is not a defect (the user scrolls to the rest);
* a text shown cut: a label, a box's choice or a view's cell narrower on screen than its text,
  unless it ends in an ellipsis and its tooltip gives the whole text; a wrapped label shorter
  than its lines (a squeezed layout draws the widget below over them); and a header title that
  does not read whole. A header names its column (a model version, a group): the tooltip of
  a hover is no help to the three people reading a projected table, and a title can always
  wrap onto a second line or take the room of a column with spare width.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyleOptionComboBox,
    QStyleOptionViewItem,
    QWidget,
)

ELLIPSIS = "…"
CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QLabel)
"""The widgets a person reads or uses: each must lie whole inside what holds it."""
ROWS_READ = 60
"""Rows of a view checked from its top: more than any view shows at 1280x720."""


def shown(widget: QWidget) -> bool:
    """Visible and not parked behind another dock's tab (Qt keeps those "visible", off the
    window): a dock holding it must show some of itself."""
    if not widget.isVisible():
        return False
    holder = widget
    while holder is not None:
        if isinstance(holder, QDockWidget) and holder.visibleRegion().isEmpty():
            return False
        holder = holder.parentWidget()
    return True


def on_screen(widget: QWidget) -> bool:
    """Shown, and some of it is painted: a header or table is covered by its own viewport, so
    the viewport says where it shows."""
    painted = widget.viewport() if isinstance(widget, QAbstractScrollArea) else widget
    return shown(widget) and not painted.visibleRegion().isEmpty()


def overflowing(window: QWidget) -> list[str]:
    """Every shown control that runs past a widget holding it, as "text (past Holder)"."""
    found = []
    for widget in window.findChildren(QWidget):
        if isinstance(widget, CONTROLS) and shown(widget) and not _inside_holders(widget):
            found.append(f"{_name(widget)} (past {type(_first_overflow(widget)).__name__})")
    return found


def dock_places(window) -> list[tuple[int, int, int, int]]:
    """Where the window's shown docks are: raising another tab must not change it (a panel whose
    row of controls is wider than its dock's share holds the dock open and squeezes the panels
    beside it, even when nothing runs past an edge)."""
    return sorted(dock.geometry().getRect() for dock in window.docks if on_screen(dock))


def _inside_holders(widget: QWidget) -> bool:
    return _first_overflow(widget) is None


def _first_overflow(widget: QWidget) -> QWidget | None:
    """The first widget up from ``widget`` whose rect does not hold it (1 px of rounding
    allowed); None when every holder up to its window does, or a scroll area's viewport clips
    it (scrolling shows the rest)."""
    rect = widget.rect()
    holder, child = widget.parentWidget(), widget
    while holder is not None:
        rect = rect.translated(child.pos())
        if isinstance(holder.parentWidget(), QAbstractScrollArea) and holder is holder.parentWidget().viewport():
            return None
        if not holder.rect().adjusted(-1, -1, 1, 1).contains(rect):
            return holder
        if holder.isWindow():
            return None
        holder, child = holder.parentWidget(), holder
    return None


def _name(widget: QWidget) -> str:
    text = widget.currentText() if isinstance(widget, QComboBox) else getattr(widget, "text", lambda: "")()
    hint = widget.placeholderText() if isinstance(widget, QLineEdit) and not text else ""
    return text or hint or widget.toolTip() or type(widget).__name__


def cut_texts(window: QWidget) -> list[str]:
    """Every text of ``window`` shown cut: labels, boxes' choices, header titles, views' cells."""
    cut = [text for label in window.findChildren(QLabel) if on_screen(label) for text in [label_cut(label)] if text]
    cut += [box.currentText() for box in window.findChildren(QComboBox) if on_screen(box) and choice_cut(box)]
    for header in window.findChildren(QHeaderView):
        if on_screen(header) and header.model() is not None:
            cut += headers_cut(header)
    for view in window.findChildren(QAbstractItemView):
        if not isinstance(view, QHeaderView) and on_screen(view) and view.model() is not None:
            cut += cells_cut(view)
    return cut


def label_cut(label: QLabel) -> str | None:
    """The text of a one-line label narrower on screen than its text, unless it is elided with
    the whole text in its tooltip; of a wrapped label, one given less height than its lines
    need (the lines past its bottom are not drawn), unless a scroll area shows the rest."""
    if not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
        return None
    if label.wordWrap():
        short = label.height() < label.heightForWidth(label.width()) - 1
        return label.text() if short and not _scrolled(label) else None
    shown_width = label.visibleRegion().boundingRect().width()
    needed = label.sizeHint().width()
    elided = label.text().rstrip().endswith(ELLIPSIS) and bool(label.toolTip())
    return None if shown_width >= needed - 1 or elided else label.text()


def _scrolled(widget: QWidget) -> bool:
    """Whether ``widget`` lies in a scroll area's viewport: scrolling shows what it cuts."""
    holder = widget.parentWidget()
    while holder is not None:
        if isinstance(holder.parentWidget(), QAbstractScrollArea) and holder is holder.parentWidget().viewport():
            return True
        holder = holder.parentWidget()
    return False


def choice_cut(box: QComboBox) -> bool:
    """Whether ``box``'s choice is wider than its field and its tooltip does not give it whole."""
    option = QStyleOptionComboBox()
    box.initStyleOption(option)
    field = box.style().subControlRect(QStyle.CC_ComboBox, option, QStyle.SC_ComboBoxEditField, box)
    icon = option.iconSize.width() + 4 if not option.currentIcon.isNull() else 0
    needed = box.fontMetrics().horizontalAdvance(box.currentText()) + icon
    return needed > field.width() + 1 and not _gives_whole(box.toolTip(), box.currentText())


def headers_cut(header: QHeaderView) -> list[str]:
    """Titles of sections narrower than their title (with its icon and margins). A vertical
    header is as wide as its widest title, and only the rows in view are read (the header of
    a 10M-row table widens as the user scrolls to longer row numbers)."""
    cut = []
    for section in range(header.count()):
        if header.isSectionHidden(section) or header.orientation() == Qt.Vertical and not _in_view(header, section):
            continue
        needed = header.sectionSizeFromContents(section)
        title = str(header.model().headerData(section, header.orientation(), Qt.DisplayRole))
        room = header.sectionSize(section) if header.orientation() == Qt.Horizontal else header.width()
        short = needed.width() > room + 1 or header.orientation() == Qt.Horizontal and needed.height() > header.height() + 1
        if short or ELLIPSIS in title or _qt_elides(header, title, room - (needed.width() - _widest(header, title))):
            cut.append(title)
    return cut


def _qt_elides(header: QHeaderView, title: str, room: int) -> bool:
    """Whether Qt's header shortens a title of several lines that its size says fits: it
    elides such a title as one line as long as all of them."""
    mode = header.textElideMode()
    return ("\n" in title and mode != Qt.ElideNone
            and header.fontMetrics().elidedText(title, mode, room + 1) != title)


def _widest(header: QHeaderView, title: str) -> int:
    return max(header.fontMetrics().horizontalAdvance(line) for line in title.split("\n"))


def _in_view(header: QHeaderView, section: int) -> bool:
    start = header.sectionViewportPosition(section)
    return start + header.sectionSize(section) > 0 and start < header.viewport().height()


def cells_cut(view: QAbstractItemView) -> list[str]:
    """Texts of the cells ``view`` shows (its first :data:`ROWS_READ` rows, columns not hidden)
    that need more room than their cell, unless the cell's tooltip gives the whole text."""
    model, root = view.model(), view.rootIndex()
    cut = []  # a list widget's model hides its columnCount (Qt makes it private): a list has one
    for row in range(min(model.rowCount(root), ROWS_READ)):
        for column in range(1 if isinstance(view, QListView) else model.columnCount(root)):
            index = model.index(row, column, root)
            text = index.data(Qt.DisplayRole)
            rect = view.visualRect(index)
            if text in (None, "") or rect.isEmpty() or _column_hidden(view, column):
                continue
            if _cell_needs(view, index, rect) and not _gives_whole(index.data(Qt.ToolTipRole), str(text)):
                cut.append(str(text))
    return cut


def _cell_needs(view: QAbstractItemView, index: QModelIndex, rect: QRect) -> bool:
    """Whether the delegate asks for more than ``rect`` to draw the cell whole (wrapped to the
    cell's width where the view wraps)."""
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = rect
    hint = view.itemDelegateForIndex(index).sizeHint(option, index)
    return hint.width() > rect.width() + 1 or hint.height() > rect.height() + 1


def _column_hidden(view: QAbstractItemView, column: int) -> bool:
    hidden = getattr(view, "isColumnHidden", None)
    return bool(hidden and hidden(column))


def _gives_whole(tooltip, text: str) -> bool:
    """Whether ``tooltip`` holds the whole ``text`` (line breaks and runs of spaces aside)."""
    return bool(tooltip) and " ".join(text.split()) in " ".join(str(tooltip).split())
