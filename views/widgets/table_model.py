"""A Qt table model over millions of rows that never queries: it asks for pages and waits.

The model knows the row count and the column names; cell values arrive in pages of ~200 rows
that somebody else fetches (off the GUI thread) and hands to :meth:`receive_page`. ``data()``
only reads the page cache: on a miss it shows :data:`PLACEHOLDER`, asks for the page once, and
emits ``dataChanged`` when the page arrives. Recently read pages are kept in a small LRU, and
reading a row near a page edge asks for the neighbouring page ahead of the scroll.

A page is anything with ``start``, ``row_ids`` (the dataset's ROW_ID of each row), ``text``
(display strings, ``text[row][column]``), ``raw`` (the values, same shape) and ``numeric``
(one flag per column); ``analysis.window.Page`` is one. The model imports neither DuckDB nor
the analysis package: formatting is done when the page is built, not here.

Every ``set_source`` starts a new *generation*; a page that arrives for an older generation
(the user re-sorted or changed slice while it was in flight) is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Protocol, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QIcon

from analysis.report.cell_text import exact_text

PLACEHOLDER = "…"
"""Shown in a cell whose page has not arrived yet."""

PAGE_SIZE = 200
CACHE_PAGES = 24
PREFETCH_MARGIN = 40
"""Reading a row this close to a page edge requests the neighbouring page."""

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class PageLike(Protocol):
    start: int
    row_ids: Sequence[int]
    text: Sequence[Sequence[str]]
    raw: Sequence[Sequence[Any]]
    numeric: Sequence[bool]


AnyIndex = QModelIndex | QPersistentModelIndex


class WindowedTableModel(QAbstractTableModel):
    """Rows of a (filtered, sorted) dataset view, shown a page at a time."""

    sort_requested = Signal(str, bool)
    """A header click asked for this column, ascending or not; the owner re-sorts in DuckDB."""

    def __init__(self, parent: Any = None, page_size: int = PAGE_SIZE, cache_pages: int = CACHE_PAGES) -> None:
        super().__init__(parent)
        self._page_size = page_size
        self._cache_pages = cache_pages
        self._columns: list[str] = []
        self._row_count = 0
        self._fetch_page: Callable[[int, int], None] = lambda start, stop: None
        self._icons: dict[str, QIcon] = {}
        self._tooltips: dict[str, str] = {}
        self._named_column: str | None = None
        self._value_names: dict[str, str] = {}
        self._pages: OrderedDict[int, PageLike] = OrderedDict()
        self._requested: set[int] = set()
        self._numeric: list[bool] = []
        self._generation = 0
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # --- source and pages ---------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Pass this with each request; :meth:`receive_page` ignores pages of older ones."""
        return self._generation

    @property
    def page_size(self) -> int:
        return self._page_size

    def set_source(
        self,
        columns: list[str],
        row_count: int,
        fetch_page: Callable[[int, int], None],
        header_icons: dict[str, QIcon] | None = None,
        header_tooltips: dict[str, str] | None = None,
    ) -> None:
        """Show new rows: forget every cached and requested page and start a new generation."""
        self.beginResetModel()
        self._generation += 1
        self._columns = list(columns)
        self._row_count = max(0, int(row_count))
        self._fetch_page = fetch_page
        self._icons = dict(header_icons or {})
        self._tooltips = dict(header_tooltips or {})
        self._pages.clear()
        self._requested.clear()
        self._numeric = [False] * len(self._columns)
        self.endResetModel()

    def set_header_decorations(self, icons: dict[str, QIcon], tooltips: dict[str, str]) -> None:
        """Change the header icons and tooltips (roles were edited) without refetching rows."""
        self._icons = dict(icons)
        self._tooltips = dict(tooltips)
        if self._columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self._columns) - 1)

    def set_value_names(self, column: str | None, names: dict[str, str]) -> None:
        """Show the values of ``column`` by the names in ``names`` (a version by its card's
        name); the tooltip and copies keep the raw value."""
        self._named_column = column
        self._value_names = dict(names)
        if column in self._columns and self._row_count:
            index = self._columns.index(column)
            self.dataChanged.emit(self.index(0, index), self.index(self._row_count - 1, index))

    def receive_page(self, generation: int, page: PageLike) -> None:
        """Store a page that was asked for, and repaint its rows; stale pages are dropped."""
        if generation != self._generation:
            return
        number = page.start // self._page_size
        self._requested.discard(number)
        self._pages[number] = page
        self._pages.move_to_end(number)
        while len(self._pages) > self._cache_pages:
            self._pages.popitem(last=False)
        if page.numeric:
            self._numeric = list(page.numeric)
        if not page.row_ids or not self._columns:
            return
        first, last = page.start, page.start + len(page.row_ids) - 1
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))
        self.headerDataChanged.emit(Qt.Orientation.Vertical, first, last)

    def _request(self, number: int) -> None:
        """Ask for page ``number`` unless it is cached, already asked for, or out of range."""
        if number < 0 or number * self._page_size >= self._row_count:
            return
        if number in self._pages or number in self._requested:
            return
        self._requested.add(number)
        start = number * self._page_size
        self._fetch_page(start, min(start + self._page_size, self._row_count))

    def _cached_page(self, row: int) -> PageLike | None:
        """The page holding ``row`` if cached (marking it recently used), without requesting."""
        page = self._pages.get(row // self._page_size)
        if page is not None:
            self._pages.move_to_end(row // self._page_size)
        return page

    def cached_texts(self, column: int, first: int, last: int) -> list[str]:
        """Display texts of ``column`` for rows ``first .. last - 1`` that are already fetched
        (measuring column widths must never ask for pages), as shown: a version by its name."""
        texts = []
        for row in range(max(first, 0), min(last, self._row_count)):
            page = self._pages.get(row // self._page_size)
            if page is not None and row - page.start < len(page.text):
                texts.append(self._shown(column, page.text[row - page.start][column]))
        return texts

    def _shown(self, column: int, text: str) -> str:
        """A cell's display text: the value's name in the named column, else the text itself."""
        return self._value_names.get(text, text) if self._columns[column] == self._named_column else text

    def _page_for(self, row: int) -> PageLike | None:
        """The page holding ``row``; on a miss request it; near an edge request the neighbour."""
        number, offset = divmod(row, self._page_size)
        self._request(number)
        if offset < PREFETCH_MARGIN:
            self._request(number - 1)
        elif offset >= self._page_size - PREFETCH_MARGIN:
            self._request(number + 1)
        return self._cached_page(row)

    # --- Qt model -----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._row_count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if self._numeric[column] else LEFT
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        page = self._page_for(row)
        if page is None:
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._shown(column, page.text[row - page.start][column])
        return _full_text(page.raw[row - page.start][column])

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._columns):
                return None
            name = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return name
            if role == Qt.ItemDataRole.DecorationRole:
                return self._icons.get(name)
            if role == Qt.ItemDataRole.ToolTipRole:
                return self._tooltips.get(name, name)
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            row_id = self.row_id(section)
            return "" if row_id is None else str(row_id)
        if role == Qt.ItemDataRole.ToolTipRole:
            row_id = self.row_id(section)
            return f"Position {section + 1}" + ("" if row_id is None else f", row id {row_id}")
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Record the sort indicator and ask the owner to sort; rows arrive via set_source."""
        if not 0 <= column < len(self._columns):
            return
        self._sort_column, self._sort_order = column, order
        self.sort_requested.emit(self._columns[column], order == Qt.SortOrder.AscendingOrder)

    def sort_indicator(self) -> tuple[int, Qt.SortOrder]:
        """The column (-1 for none) and order of the last sort request."""
        return self._sort_column, self._sort_order

    # --- selection and copy -------------------------------------------------------------

    def column_names(self) -> list[str]:
        return list(self._columns)

    def row_id(self, row: int) -> int | None:
        """The dataset ROW_ID shown at ``row``, or None while its page is not loaded."""
        page = self._cached_page(row) if 0 <= row < self._row_count else None
        return None if page is None else int(page.row_ids[row - page.start])

    def raw_value(self, row: int, column: int) -> Any:
        """The value at (row, column) as fetched, or None while its page is not loaded."""
        page = self._cached_page(row) if 0 <= row < self._row_count else None
        return None if page is None else page.raw[row - page.start][column]


def _full_text(value: Any) -> str:
    """A tooltip's text: the whole value, with NULL named."""
    return "NULL" if value is None else exact_text(value)
