"""A row of controls that wraps onto a second row when its panel is narrow.

A panel's controls in one ``QHBoxLayout`` make the panel as wide as the whole row: in a
1280x720 window the breakdown's row was wider than its dock, and the dock clipped the bin-edges
field. :class:`FlowLayout` (Qt's *Flow Layout* example) lays its items left to right and starts
a new row where the next one would not fit, so the panel is as narrow as its widest item and
shows every control whole; at 1600x1000 the row is one line, as before. Items keep the order
they were added in, and so does the Tab order (it follows the widgets, not the layout).
Keep a label with its box by adding both as one item (:func:`labelled`).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QLayoutItem, QSizePolicy, QStyle, QWidget


class FlowLayout(QLayout):
    """Items left to right, wrapped to as many rows as the width needs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt's name
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def invalidate(self) -> None:
        """An item's size changed, so the rows may be more or fewer: the widget holding the
        layout asks its own layout for the new height now, not a pass of the event loop later
        (a wrapped row would otherwise be drawn past the bottom of its widget meanwhile)."""
        super().invalidate()
        holder = self.parentWidget()
        if holder is not None:
            holder.updateGeometry()

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        """One row: the width that shows every item side by side."""
        shown = [item.sizeHint() for item in self._items if not item.isEmpty()]
        width = sum(size.width() for size in shown) + self._gap() * max(len(shown) - 1, 0)
        height = max((size.height() for size in shown), default=0)
        return QSize(width, height).grownBy(self.contentsMargins())

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest item: narrower than that, an item would be cut."""
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size.grownBy(self.contentsMargins())

    def _gap(self) -> int:
        spacing = self.spacing()
        if spacing >= 0:
            return spacing
        parent = self.parentWidget()
        style = parent.style() if parent is not None else None
        return style.pixelMetric(QStyle.PM_LayoutHorizontalSpacing) if style is not None else 6

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Place the items in rows within ``rect`` (when ``move``); return the height they take."""
        area = rect.marginsRemoved(self.contentsMargins())
        x, y, row_height, gap = area.x(), area.y(), 0, self._gap()
        for item in self._items:
            if item.isEmpty():
                continue
            size = item.sizeHint().boundedTo(QSize(area.width(), item.sizeHint().height())).expandedTo(item.minimumSize())
            if x > area.x() and x + size.width() > area.right() + 1:
                x, y, row_height = area.x(), y + row_height + gap, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), size))
            x += size.width() + gap
            row_height = max(row_height, size.height())
        margins = self.contentsMargins()
        return y + row_height - rect.y() + margins.bottom()


def labelled(text: str, *widgets: QWidget) -> QWidget:
    """``widgets`` after their label, as one item of a :class:`FlowLayout` (a row never wraps
    between a label and what it names); the label is the first widget's buddy."""
    label = QLabel(text)
    label.setBuddy(widgets[0])
    return together(label, *widgets)


def together(*widgets: QWidget) -> QWidget:
    """``widgets`` side by side as one item of a :class:`FlowLayout`: a row never wraps between them."""
    group = QWidget()
    group.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
    row = QHBoxLayout(group)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget)
    return group
