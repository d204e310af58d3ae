"""The windowed table model: placeholders, late pages, stale generations, copy and sort."""

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from analysis.report.cell_text import selection_text
from analysis.query import ROW_ID, Sql, ident
from analysis.window import TableSpec, fetch_window, prepare_table
from views.widgets.table_model import PLACEHOLDER, WindowedTableModel

N_ROWS = 5_000
COLUMNS = ["score", "name", "ok"]


@pytest.fixture
def log_view(store) -> str:
    """A view whose values follow from the row id, so any cell can be checked."""
    store.execute(
        f"CREATE VIEW log AS SELECT range AS {ident(ROW_ID)}, range / 4 AS score, "
        "'row ' || range AS name, range % 3 = 0 AS ok FROM range(5000)"
    )
    return "log"


def synchronous_source(model, store, window):
    """A fetch_page that delivers at once, as a test stand-in for the task runner."""
    requests = []

    def fetch_page(start, stop):
        requests.append((start, stop))
        model.receive_page(model.generation, fetch_window(store, window, start, stop))

    return fetch_page, requests


def test_model_passes_qt_model_tester(qtmodeltester, store, log_view):
    model = WindowedTableModel()
    window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS)))
    fetch_page, _ = synchronous_source(model, store, window)
    model.set_source(COLUMNS, window.row_count, fetch_page)
    qtmodeltester.check(model)
    assert model.rowCount() == N_ROWS and model.columnCount() == 3


def test_async_page_shows_placeholder_then_values(qtbot, store, log_view):
    model = WindowedTableModel()
    window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS)))
    pending = []
    model.set_source(COLUMNS, window.row_count, lambda start, stop: pending.append((model.generation, start, stop)))

    cell = model.index(450, 1)
    assert model.data(cell) == PLACEHOLDER
    assert model.data(model.index(451, 0)) == PLACEHOLDER
    assert [(start, stop) for _, start, stop in pending] == [(400, 600)]
    assert model.row_id(450) is None

    generation, start, stop = pending.pop()
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.receive_page(generation, fetch_window(store, window, start, stop))
    top_left, bottom_right = changed.args[0], changed.args[1]
    assert (top_left.row(), bottom_right.row(), bottom_right.column()) == (400, 599, 2)
    assert model.data(cell) == "row 450"
    assert model.data(model.index(450, 0)) == "112.5"
    assert model.data(model.index(450, 0), Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert model.data(model.index(450, 1), Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignLeft
    assert model.data(model.index(450, 2)) == "true"
    assert model.row_id(450) == 450
    assert model.headerData(450, Qt.Orientation.Vertical) == "450"


def test_no_duplicate_requests_and_neighbour_prefetch(store, log_view):
    model = WindowedTableModel()
    pending = []
    model.set_source(COLUMNS, N_ROWS, lambda start, stop: pending.append((start, stop)))
    for row in (300, 310, 320):
        for column in range(3):
            model.data(model.index(row, column))
    assert pending == [(200, 400)]
    model.data(model.index(395, 0))
    assert pending == [(200, 400), (400, 600)]
    model.data(model.index(N_ROWS - 1, 0))
    assert pending[-1] == (4800, 5000)


def test_stale_generation_is_dropped(store, log_view):
    model = WindowedTableModel()
    window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS)))
    pending = []
    model.set_source(COLUMNS, window.row_count, lambda start, stop: pending.append((model.generation, start, stop)))
    model.data(model.index(0, 0))
    old_generation, start, stop = pending.pop()

    sorted_window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS), sort=(("score", False),)))
    model.set_source(COLUMNS, sorted_window.row_count, lambda start, stop: pending.append((model.generation, start, stop)))
    assert model.generation == old_generation + 1
    model.receive_page(old_generation, fetch_window(store, window, start, stop))
    assert model.data(model.index(0, 1)) == PLACEHOLDER

    generation, start, stop = pending.pop()
    model.receive_page(generation, fetch_window(store, sorted_window, start, stop))
    assert model.data(model.index(0, 1)) == f"row {N_ROWS - 1}"
    assert model.row_id(0) == N_ROWS - 1


def test_lru_keeps_a_bounded_number_of_pages(store, log_view):
    model = WindowedTableModel(page_size=100, cache_pages=3)
    window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS)))
    fetch_page, requests = synchronous_source(model, store, window)
    model.set_source(COLUMNS, window.row_count, fetch_page)
    for row in (50, 1050, 2050, 3050):
        model.data(model.index(row, 0))
    assert model.row_id(50) is None and model.row_id(3050) == 3050
    model.data(model.index(50, 0))
    assert requests.count((0, 100)) == 2


def test_copy_text_of_a_selection(store, log_view):
    model = WindowedTableModel()
    window = prepare_table(
        store, TableSpec(log_view, tuple(COLUMNS), condition=Sql(f"{ident('ok')}"))
    )
    fetch_page, _ = synchronous_source(model, store, window)
    model.set_source(COLUMNS, window.row_count, fetch_page)
    model.data(model.index(1, 0))
    assert selection_text(store, window, [(1, 2, 0, 1), (3, 3, 2, 2)]) == (
        "score\tname\tok\n"
        "0.75\trow 3\t\n"
        "1.5\trow 6\t\n"
        "\t\ttrue\n"
    )
    assert model.raw_value(2, 0) == 1.5


def test_header_icons_tooltips_and_sort_request(qtbot, store, log_view):
    model = WindowedTableModel()
    model.set_source(COLUMNS, N_ROWS, lambda start, stop: None, header_tooltips={"score": "score: model output"})
    assert model.headerData(0, Qt.Orientation.Horizontal) == "score"
    assert model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == "score: model output"
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == "name"
    with qtbot.waitSignal(model.sort_requested) as requested:
        model.sort(1, Qt.SortOrder.DescendingOrder)
    assert requested.args == ["name", False]
    assert model.sort_indicator() == (1, Qt.SortOrder.DescendingOrder)
    assert model.rowCount() == N_ROWS


def test_table_view_scrolled_to_bottom_shows_last_rows(qtbot, store, log_view):
    model = WindowedTableModel()
    window = prepare_table(store, TableSpec(log_view, tuple(COLUMNS)))
    fetch_page, requests = synchronous_source(model, store, window)
    model.set_source(COLUMNS, window.row_count, fetch_page)
    view = QTableView()
    qtbot.addWidget(view)
    view.verticalHeader().setDefaultSectionSize(20)
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    view.scrollToBottom()
    qtbot.wait(20)

    last_visible = view.rowAt(view.viewport().height() - 2)
    assert last_visible == N_ROWS - 1
    assert model.data(model.index(N_ROWS - 1, 1)) == f"row {N_ROWS - 1}"
    assert view.model().index(N_ROWS - 1, 0).data() == str((N_ROWS - 1) / 4)
    assert (4800, 5000) in requests
    assert len(requests) <= 4, "scrolling must not fetch every page on the way"

    selection = QItemSelection(model.index(N_ROWS - 2, 0), model.index(N_ROWS - 1, 1))
    view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
    ranges = [(r.top(), r.bottom(), r.left(), r.right()) for r in view.selectionModel().selection()]
    assert selection_text(store, window, ranges) == (
        f"score\tname\n{(N_ROWS - 2) / 4}\trow {N_ROWS - 2}\n{(N_ROWS - 1) / 4}\trow {N_ROWS - 1}\n"
    )
