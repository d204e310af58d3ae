"""The log table: every row of a 10M-row log, scrolled like a spreadsheet.

Pages are fetched from DuckDB on the interactive lane as the view needs them; sorting (a
header click) materialises an ordering once on the heavy lane. The panel never runs SQL: it
asks the task runner for ``analysis.window`` results and hands them to the model.

A log pulled from Spark whose session is still open shows the whole table on the cluster
instead, by keyset pages (:mod:`app.spark_table`), while the other panels work on the pull;
if the cluster stops answering, the table says so in one sentence and shows the pulled rows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from analysis.report.cell_text import selection_text
from analysis.report.formatting import escape_html
from analysis.slices import RowIds
from analysis.window import (
    TableSpec, copy_sorted_rows, fetch_window, find_row, page_is_quick, prepare_table, release_table,
)
from app.commands import SelectRow
from app.spark_table import ClusterPages, open_cluster_pages
from app.state import Changes, Session
from app.tasks import HEAVY, TABLE, TaskRunner

from views.panel import Panel, preview, slice_shown
from views.queue_intake import add_to_queue
from views.widgets.shortcut import shortcut
from views.widgets.role_icons import ROLE_TOOLTIPS, role_icon
from views.widgets.table_model import WindowedTableModel

ROW_HEIGHT = 22
"""Row height at the font the panel was built with; it scales with the font (View > Zoom)."""
MAX_COLUMN_WIDTH = 260
MIN_COLUMN_WIDTH = 70
FITTED_ROWS = 40
"""Rows measured to fit the columns: about a screen, read from the page already fetched."""
CELL_PADDING = 16
PAGE_JOB = "page:"
"""The prefix of a page's job name (its first row follows): one job per page in flight."""
WINDOW_JOBS = ("copy", "find")
"""The other jobs that read the shown window's tables: its sorted copy or a copy of the
selection (one name: a new window replaces either), and a search."""


class TablePanel(Panel):
    """Table of the active dataset with sort, copy and find."""

    title = "Table"
    listens_to = frozenset({"active", "datasets", "slice", "roles", "cards"})

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.window = None
        self.cluster_pages: ClusterPages | None = None
        """The pages of a table on Spark the model shows, in place of a DuckDB ``window``."""
        self._dead_clusters: dict[int, str] = {}
        """Clusters that stopped answering (by id), and the sentence that says so."""
        self._spec: TableSpec | None = None
        self._rows_text = ""
        self._waiting_pages: dict[int, tuple[int, int]] = {}
        """Pages past a sorted window's head asked for before its copy exists: (stop, generation)."""
        self.model = WindowedTableModel(self)
        self.model.sort_requested.connect(self._sort)
        self.model.dataChanged.connect(self._fit_columns_once)
        self.model.dataChanged.connect(self._select_current_once_loaded)
        self._current_unloaded = False
        """The current row's page had not arrived when it became current, so no row is selected yet."""
        self._fitted_columns: tuple[str, ...] = ()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectItems)
        self.view.setAlternatingRowColors(True)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self._built_points = self.font().pointSizeF()  # the font size ROW_HEIGHT is meant for
        self._sized_points = self._built_points  # the font size the column widths were set for
        self.view.horizontalHeader().setSortIndicatorShown(True)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        # The column header asks the view's selection whether each column is selected whole, row by
        # row through the model: after select-all on 200k rows, millions of calls per repaint. It
        # gets a selection of its own (a header click sorts; it never selects a column).
        self.view.horizontalHeader().setSelectionModel(QItemSelectionModel(self.model, self.view))
        self.view.selectionModel().currentRowChanged.connect(self._on_current_row)
        shortcut(QKeySequence.Copy, self.view, self.copy_selection, context=Qt.WidgetShortcut)
        self.view.setContextMenuPolicy(Qt.ActionsContextMenu)
        self.queue_action = QAction("Add the selected rows' failures to the queue", self.view)
        self.queue_action.triggered.connect(self.add_selection_to_queue)
        self.view.addAction(self.queue_action)
        self.status = QLabel()
        self.row_note = QLabel()
        """On a cluster's table: where the other panels read the current row (the pull, or nowhere)."""
        self.row_note.setWordWrap(True)
        self.row_note.setVisible(False)
        self.find_bar = self._build_find_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.find_bar)
        layout.addWidget(self.with_empty_state(self.view), 1)
        layout.addWidget(self.status)
        layout.addWidget(self.row_note)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.view

    def _build_find_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 2, 4, 2)
        self.find_text = QLineEdit()
        self.find_text.setPlaceholderText("Find a value (Enter: next match, Shift+Enter: previous)")
        self.find_text.returnPressed.connect(lambda: self.find(forward=True))
        shortcut(QKeySequence("Shift+Return"), self.find_text, lambda: self.find(forward=False),
                 context=Qt.WidgetShortcut)
        shortcut(QKeySequence(Qt.Key_Escape), self.find_text, self.hide_find, context=Qt.WidgetShortcut)
        self.find_column = QComboBox()
        self.find_column.setToolTip("Column to search")
        self.find_result = QLabel()
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close (Esc)")
        close.clicked.connect(self.hide_find)
        for widget, stretch in ((QLabel("Find:"), 0), (self.find_text, 1), (QLabel("in"), 0),
                                (self.find_column, 0), (self.find_result, 0), (close, 0)):
            row.addWidget(widget, stretch)
        bar.setVisible(False)
        return bar

    def refresh(self, changes: Changes) -> None:
        if changes.touches(("active", "datasets")):
            self._load(sort=())
        elif changes.slice:
            self._load(sort=self._spec.sort if self._spec else ())
        elif changes.roles:
            self._apply_headers()
        elif changes.cards:
            self._name_versions()

    def _load(self, sort: tuple) -> None:
        opened = self.session.active
        if opened is None:
            self._release()
            self._spec = None
            self.model.set_source([], 0, self._request_page)
            self.status.setText("")
            self.show_empty("No data open. Open a prediction log (File > Open, Ctrl+O) to see its rows.")
            return
        columns = tuple(opened.dataset.column_names)
        cluster = self._cluster(opened, columns)
        if cluster is not None:
            spec = cluster.spec(columns, self.session.condition(), sort)
        else:
            spec = TableSpec(view=opened.dataset.view, columns=columns, condition=self.session.condition(), sort=sort)
        if spec == self._spec:
            self._apply_headers()
            return
        self._spec = spec
        if cluster is not None:
            self._load_cluster(cluster, spec)
            return
        self.cancel_job("copy")
        self.status.setText("Sorting…" if sort else "Filtering…" if spec.condition else "Loading…")
        self.run_job("prepare", prepare_table, self.session.store, spec, lane=HEAVY if spec.needs_ordering else TABLE,
                     label="Sorting the table" if sort else "Filtering the table" if spec.condition else "",
                     on_done=lambda window: self._show(spec, window))

    def _cluster(self, opened, columns: tuple[str, ...]):
        """The Spark table to page over for ``opened``: a pull's, with its session open, that
        has every shown column (labels joined on this machine are not on the cluster)."""
        cluster = getattr(opened.pulled, "cluster", None) if opened.pulled is not None else None
        if cluster is None or id(cluster) in self._dead_clusters:
            return None
        return cluster if set(columns) <= set(cluster.dataset.column_names) else None

    def _load_cluster(self, cluster, spec: TableSpec) -> None:
        """Count the rows the table shows on the cluster, then page over them there."""
        self.cancel_job("copy")
        self.status.setText(f"Counting the rows on {cluster.url}…")
        self.run_job("prepare", open_cluster_pages, cluster, spec, lane=TABLE,
                     label=f"Counting the table's rows on {cluster.url}",
                     on_done=lambda pages: self._show_cluster(spec, pages),
                     on_error=lambda exc: self._cluster_failed(cluster, exc))

    def _show_cluster(self, spec: TableSpec, pages: ClusterPages) -> None:
        if spec != self._spec:
            return
        self._release()
        self.cluster_pages = pages
        self._show_rows(spec, pages.row_count, pages.describe(sliced=self.session.condition() is not None))

    def _cluster_failed(self, cluster, exc: BaseException) -> None:
        """The cluster stopped answering (or refused the table's query): one sentence, and the
        table shows the pulled rows, which the other panels read all along."""
        if id(cluster) in self._dead_clusters or (self.cluster_pages is not None
                                                  and self.cluster_pages.cluster is not cluster):
            return  # a later page request to the same dead cluster: the first failure said it
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._dead_clusters[id(cluster)] = (f"the table on {cluster.url} could not be read ({first_line}): "
                                            f"it shows the pulled rows")
        self.cluster_pages, self._spec = None, None
        # not from inside the model's data(), where a page request that fails inline can end
        QTimer.singleShot(0, lambda: self._load(sort=()))

    def _show(self, spec: TableSpec, window) -> None:
        if spec != self._spec:
            self._drop(window)
            return
        self._release()
        self.window = window
        total = self.session.active.dataset.row_count if self.session.active else window.row_count
        shown = f"{window.row_count:,} of {total:,} rows in the slice" if spec.condition else f"{window.row_count:,} rows"
        self._show_rows(spec, window.row_count, shown)
        if spec.sort:
            self.run_job("copy", copy_sorted_rows, self.session.store, window, lane=TABLE, on_done=self._adopt_copy)

    def _show_rows(self, spec: TableSpec, row_count: int, shown: str) -> None:
        """Hand the model ``row_count`` rows of ``spec`` and say what they are (``shown``)."""
        # Other rows start at the top; a deep scroll position carried across the model reset
        # also froze Qt for ~11 s on a 10M-row log (bench_responsiveness.py).
        self.view.scrollToTop()
        self.model.set_source(list(spec.columns), row_count, self._request_page)
        self._apply_headers()
        if not spec.sort:
            self.view.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        self.find_column.clear()
        self.find_column.addItem("any column", None)
        for name in spec.columns:
            self.find_column.addItem(name, name)
        self._rows_text = shown + (f", sorted by {_sort_text(spec.sort)}" if spec.sort else "")
        self._show_status()
        if row_count:
            self.show_content()
        else:
            self.show_empty(self._no_rows_message())
        self.rendered()

    def _no_rows_message(self) -> str:
        name = escape_html(self.session.active.name)
        if self.session.condition() is None:
            return f"{name} has no rows."
        return f"No row of {name} is in the {slice_shown(self.session)}: widen or clear it in the slice bar (Ctrl+L)."

    def _show_status(self) -> None:
        """The rows shown, and while a sorted window's deep pages wait for its copy, that they do."""
        window, waiting = self.window, ""
        if window is not None and not page_is_quick(window, 0, window.row_count):
            waiting = f"; rows past the first {window.head_count:,} show once the sorted copy is ready"
        opened = self.session.active
        dead = self._dead_clusters.get(id(getattr(opened.pulled, "cluster", None))) if opened and opened.pulled else None
        self.status.setText(self._rows_text + waiting + (f"; {dead}" if dead else ""))

    def _adopt_copy(self, copied) -> None:
        """Read pages from the sorted copy once it is built: same rows in the same order, so
        nothing on screen changes, and the deep pages asked for meanwhile arrive. A copy of a
        window no longer shown is dropped."""
        if self.window is not None and self.window.ordering == copied.ordering:
            self.window = copied
            self._show_status()
            waiting, self._waiting_pages = self._waiting_pages, {}
            for start, (stop, generation) in waiting.items():
                if generation == self.model.generation:
                    self._request_page(start, stop)
        else:
            self._drop(copied)

    def _fit_columns_once(self, *_args) -> None:
        """Size columns to their content when the first page of other columns arrives.

        A new slice or sort of the same columns keeps the widths: the person may have set
        them, and measuring thirty columns again costs the event loop ~0.1 s each time. A
        change before any page is cached (the version names arrive first) fits nothing: fitted
        to the headers alone, a timestamp read "2026-10-01 ..." until the person widened it.
        """
        columns = tuple(self.model.headerData(c, Qt.Horizontal) for c in range(self.model.columnCount()))
        first = max(self.view.rowAt(0), 0)
        measured = [self.model.cached_texts(column, first, first + FITTED_ROWS) for column in range(len(columns))]
        if columns == self._fitted_columns or not any(measured):
            return
        self._fitted_columns = columns
        header = self.view.horizontalHeader()
        metrics = self.view.fontMetrics()
        scale = self._sized_points / self._built_points  # the zoom: the bounds grow with the text
        for column, texts in enumerate(measured):
            content = max((metrics.horizontalAdvance(text) for text in texts), default=0) + CELL_PADDING
            width = max(content, header.sectionSizeHint(column), round(MIN_COLUMN_WIDTH * scale))
            header.resizeSection(column, min(width, round(MAX_COLUMN_WIDTH * scale)))

    def changeEvent(self, event) -> None:
        """Zoom (a new application font) scales the row height and every column's width by the
        font's change, so text fits as it did and widths the person set keep their proportion."""
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            self._follow_font(self.font().pointSizeF())

    def _follow_font(self, points: float) -> None:
        if points <= 0 or points == self._sized_points:
            return
        ratio, self._sized_points = points / self._sized_points, points
        self.view.verticalHeader().setDefaultSectionSize(round(ROW_HEIGHT * points / self._built_points))
        header = self.view.horizontalHeader()
        for column in range(header.count()):
            header.resizeSection(column, round(header.sectionSize(column) * ratio))

    def _apply_headers(self) -> None:
        opened = self.session.active
        if opened is None:
            return
        icons, tips = {}, {}
        for name in opened.dataset.column_names:
            role = opened.roles.role_of(name)
            icons[name] = role_icon(role)
            tips[name] = f"{name} ({opened.dataset.column(name).dtype}) — {ROLE_TOOLTIPS[role]}"
        self.model.set_header_decorations(icons, tips)
        self._name_versions()

    def _name_versions(self) -> None:
        """The version column shows card names; a cell's tooltip keeps the raw string."""
        opened = self.session.active
        names = {card.version: card.display_name for card in self.session.version_cards.values()}
        self.model.set_value_names(opened.roles.model_version if opened else None, names)

    def _release(self) -> None:
        """Drop the shown window's tables; the jobs still reading them (its sorted copy, a
        copy of the selection, a search, pages: the table lane runs two at once) are
        cancelled first, since their rows are no longer on screen, so a job that then finds
        a table gone ends as cancelled instead of failing "unexpectedly"."""
        self._waiting_pages = {}
        self.cluster_pages = None
        self._note_row("")
        if self.window is not None:
            for name in [name for name in self._jobs if name in WINDOW_JOBS or name.startswith(PAGE_JOB)]:
                self.cancel_job(name)
            self._drop(self.window)
            self.window = None

    def _drop(self, window) -> None:
        """Drop ``window``'s tables on the table lane: a DROP waits for DuckDB while a copy of
        them is being interrupted, which blocked the GUI thread 940 ms at 10M rows."""
        self.tasks.submit(release_table, self.session.store, window, lane=TABLE)

    def _request_page(self, start: int, stop: int) -> None:
        """Fetch a page on the table lane; one past a sorted window's head waits for its copy
        (through the ids it costs a pass over every shown column, a second or more at 10M
        rows, and would slow the copy it waits for)."""
        window, generation = self.window, self.model.generation
        if self.cluster_pages is not None:
            pages = self.cluster_pages
            self.run_job(f"{PAGE_JOB}{start}", pages.fetch, start, stop, lane=TABLE,
                         on_done=lambda page: self.model.receive_page(generation, page),
                         on_error=lambda exc: self._cluster_failed(pages.cluster, exc))
            return
        if window is None:
            return
        if not page_is_quick(window, start, stop):
            self._waiting_pages[start] = (stop, generation)
            return
        self.run_job(f"{PAGE_JOB}{start}", fetch_window, self.session.store, window, start, stop, lane=TABLE,
                     on_done=lambda page: self.model.receive_page(generation, page))

    def _sort(self, column: str, ascending: bool) -> None:
        self._load(sort=((column, ascending),))

    def _on_current_row(self, current, _previous) -> None:
        """Select the row for the other panels; on a cluster's table, the pull's row with the
        cluster row's id, and the note says which. A row the pull lacks is fetched from the
        cluster into the pull (a job), and selected when it arrives; meanwhile none is."""
        row_id = self.model.row_id(current.row()) if current.isValid() else None
        self._current_unloaded = current.isValid() and row_id is None
        if self.cluster_pages is not None:
            cluster = self.cluster_pages.cluster
            self.cancel_job("fetch-row")
            self._note_row(cluster.where_row(row_id))
            local = cluster.pulled_row(row_id)
            if local is None and row_id is not None and self.session.active is not None:
                self._fetch_row(cluster, row_id)
            row_id = local
        self.session.run(SelectRow(row_id))

    def _select_current_once_loaded(self, top_left, bottom_right) -> None:
        """Select the current row when its page arrives: a key or click that moves onto a row whose
        page is still on its way (a fast scroll, a jump) selects none until then."""
        current = self.view.currentIndex()
        if self._current_unloaded and current.isValid() and top_left.row() <= current.row() <= bottom_right.row():
            if self.model.row_id(current.row()) is not None:
                self._on_current_row(current, None)

    def _fetch_row(self, cluster, row_id: int) -> None:
        """Fetch the cluster's row ``row_id`` into the pull, then select it if it is still current."""
        def fetched(_local: int) -> None:
            if self.cluster_pages is not None and self.cluster_pages.cluster is cluster and self._current_id() == row_id:
                self._on_current_row(self.view.currentIndex(), None)

        def failed(exc: BaseException) -> None:
            if self._current_id() == row_id:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self._note_row(f"row id {row_id:,} could not be fetched from {cluster.url} ({first_line}): "
                               f"the other panels show no row")

        self.run_job("fetch-row", cluster.fetch_row, self.session.store, self.session.active.dataset, row_id,
                     lane=TABLE, label=f"Fetching row id {row_id:,} from {cluster.url}", on_done=fetched,
                     on_error=failed)

    def _current_id(self) -> int | None:
        current = self.view.currentIndex()
        return self.model.row_id(current.row()) if current.isValid() else None

    def _note_row(self, text: str) -> None:
        self.row_note.setText(text)
        self.row_note.setVisible(bool(text))

    def copy_selection(self) -> None:
        """Copy exactly the selected cells, read from DuckDB on a worker (a select-all of
        millions of rows neither freezes the window nor copies pages never loaded)."""
        ranges = [(r.top(), r.bottom(), r.left(), r.right()) for r in self.view.selectionModel().selection()]
        if not ranges or (self.window is None and self.cluster_pages is None):
            return
        rows = sum(bottom - top + 1 for top, bottom, _, _ in ranges)
        if self.cluster_pages is not None:  # read from the cluster, a keyset page at a time
            self.run_job("copy", self.cluster_pages.selection_text, ranges, lane=TABLE,
                         label=f"Copying {rows:,} rows from {self.cluster_pages.cluster.url}",
                         on_done=QApplication.clipboard().setText)
            return
        self.run_job("copy", selection_text, self.session.store, self.window, ranges, lane=TABLE,
                     label=f"Copying {rows:,} rows", on_done=QApplication.clipboard().setText)

    def add_selection_to_queue(self) -> None:
        """Queue the failures among the selected rows (those on screen, whose row ids are known).
        On a cluster's table the queue takes the pull's rows with those ids (the queue's
        analyses read the pull), and its message counts the rows the pull lacks."""
        rows = {self.model.row_id(index.row()) for index in self.view.selectionModel().selectedIndexes()} - {None}
        what = f"{len(rows):,} selected rows"
        if self.cluster_pages is not None and rows:
            rows, missing = self.cluster_pages.cluster.pulled_rows(rows)
            if not rows:
                self._note_row(f"none of the {what} is among the pulled rows the queue reads: nothing was added")
                return
            what += f" ({missing:,} not among the pulled rows, left out)" if missing else ""
        if rows:
            add_to_queue(self, RowIds.of(rows), what=what)

    def show_find(self) -> None:
        self.find_bar.setVisible(True)
        self.find_text.setFocus()
        self.find_text.selectAll()

    def hide_find(self) -> None:
        self.find_bar.setVisible(False)
        self.view.setFocus()

    def find(self, forward: bool = True) -> None:
        """Jump to the next (or previous) row whose value contains the text, searched in DuckDB."""
        text = self.find_text.text()
        if not text or (self.window is None and self.cluster_pages is None):
            return
        current = self.view.currentIndex().row()
        self.find_result.setText("searching…")
        if self.cluster_pages is not None:
            self._find_on_cluster(text, current, forward)
            return
        self.run_job("find", find_row, self.session.store, self.window, text, column=self.find_column.currentData(),
                     after=current, forward=forward, lane=TABLE, on_done=self._found,
                     on_cancelled=lambda: self.find_result.setText(""))

    def _find_on_cluster(self, text: str, current: int, forward: bool) -> None:
        """Search the cluster's rows past the current one (its id and values, which hold its
        sort keys; from the top when none is loaded)."""
        row_id = self.model.row_id(current) if current >= 0 else None
        after = None
        if row_id is not None:
            after = (row_id, [self.model.raw_value(current, c) for c in range(self.model.columnCount())])
        self.run_job("find", self.cluster_pages.find, text, self.find_column.currentData(), after, forward,
                     lane=TABLE, label=f"Finding {text!r} on {self.cluster_pages.cluster.url}", on_done=self._found)

    def _found(self, position: int | None) -> None:
        if position is None:
            self.find_result.setText("no match")
            return
        self.find_result.setText(f"row {position + 1:,}")
        index = self.model.index(position, max(self.view.currentIndex().column(), 0))
        self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.ClearAndSelect)
        self.view.scrollTo(index, QAbstractItemView.PositionAtCenter)


def _sort_text(sort: tuple) -> str:
    return ", ".join(f"{col} {'↑' if asc else '↓'}" for col, asc in sort)


if __name__ == "__main__":
    preview(TablePanel)
