"""Windows of rows for the table: any page of a dataset view, filtered and sorted, in ~20 ms.

The table shows a view of millions of rows through pages of a few hundred. Two shapes:

* **The plain view** (no slice, no sort) needs nothing prepared: a page is the ROW_ID range
  ``[start, stop)``. On Parquet that range is pushed down to ``file_row_number`` and reads
  one row group (of one file, when the log is many: see ``analysis.data.loading``); it beat
  ``LIMIT/OFFSET`` at every position we measured, and unlike OFFSET it does not depend on the
  view returning rows in file order.
* **A slice or a sort** is resolved once, by :func:`prepare_table` on a worker thread, into an
  *ordering table* ``(position, row_id)``: the matching ROW_IDs in display order (nulls last,
  ties broken by ROW_ID so the order is stable). A page then reads ``stop - start`` ids from
  the ordering table and fetches those rows from the view with ``ROW_ID BETWEEN min AND max
  AND ROW_ID IN (...)``: the BETWEEN makes the Parquet reader skip every row group outside the
  ids' span, which for a slice in file order is one or two row groups.

For a sort that page costs what a scan of every shown column costs (170-370 ms from 1M to 10M
Parquet rows, over a second under load): the ids of a sorted page fall in every row group,
and DuckDB decodes each touched row group whatever the form of the id list. So a sorted
window is read from copies of its shown columns in display order, from which a page is a
position range of a few vectors (5 ms against 175 ms on 1M rows x 30 columns):

* the *head*, its first :data:`HEAD_ROWS` rows, copied by :func:`prepare_table` right after
  the sort into an in-memory table (one more pass over the shown columns, what one page
  through the ids costs, and a few MB), so the first pages show at once;
* the whole window, copied by :func:`copy_sorted_rows` in the background into a scratch
  DuckDB file in a temp folder of its own. The file is compressed (about the Parquet file's
  size, 60 MB per 1M such rows) and read through DuckDB's buffer pool, so it costs memory
  only while read; an in-memory copy is not compressed (260 MB per 1M rows) and was over
  budget. It costs about what the sort did again (about 50 s at 10M rows under load), and
  until it is ready a page past the head comes only through the ids, slowly
  (:func:`page_is_quick` tells a caller which pages those are). The folder is removed with
  the store; one a killed process left is removed at the next sorted copy
  (:func:`sweep_stale_sorted_folders`).

The ordering table is an ordinary table of the in-memory database, not a ``TEMP`` one: DuckDB
temp tables belong to one connection, and the table is built on a job cursor and read on
others. :func:`release_table` drops it and the sorted copy.

Values are formatted for display here, a whole page at once, with one formatter chosen per
column; the conventions are at :func:`format_value`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import duckdb

from analysis.dataset import Column
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import ROW_ID, Sql, ident, literal, rows_macro_name, where_clause
from analysis.store import Store

NULL_TEXT = "∅"
"""How a missing value (SQL NULL) is displayed: distinct from NaN, which is a value."""

NAN_TEXT = "NaN"
MAX_DISPLAY_CHARS = 200
"""Longer text is cut in the table cell (the tooltip and copy keep the whole value)."""

NEWLINE_MARK = "⏎"
"""Shown in place of a line break, so a multi-line value stays on its one-line row."""


@dataclass(frozen=True)
class TableSpec:
    """What the table shows: which view, which columns in which order, which rows, which order."""

    view: str
    columns: tuple[str, ...]
    condition: Sql | None = None
    sort: tuple[tuple[str, bool], ...] = ()

    @property
    def needs_ordering(self) -> bool:
        return bool(self.sort) or bool(where_clause(self.condition).text)


@dataclass(frozen=True)
class TableWindow:
    """A prepared :class:`TableSpec`: its row count and, for a slice or sort, its ordering
    table; for a sort, once :func:`copy_sorted_rows` has run, the copy of its rows in order."""

    spec: TableSpec
    row_count: int
    ordering: str | None = None
    sorted_rows: str | None = None
    head_rows: str | None = None
    """For a sort, the in-memory copy of its first ``head_count`` rows in display order."""
    head_count: int = 0
    rows_macro: str | None = None
    """The view's rows macro (:func:`analysis.query.rows_macro_name`), when it has one: plain
    pages and pages by id are read through it, at the cost of the rows' row groups."""


SORTED_COPIES = "sleuth_sorted_rows"
"""The scratch database, attached to the store, that holds the sorted copies of windows."""

COPY_POSITION = "_sleuth_position"
"""A sorted copy's display position column (named apart from any column of the log)."""

HEAD_ROWS = 10_000
"""How many rows of a sorted window :func:`prepare_table` copies at once: fifty pages of the
table, a few MB, which keep the first screens quick while the whole copy is built."""


@dataclass(frozen=True)
class Page:
    """Rows ``start .. start + len(row_ids) - 1`` of a window, formatted and raw.

    ``text[r][c]`` is what the cell shows; ``raw[r][c]`` the value as DuckDB returned it (for
    copying and tooltips); ``numeric[c]`` says whether column ``c`` holds numbers (right-aligned).
    """

    start: int
    row_ids: tuple[int, ...]
    columns: tuple[str, ...]
    text: tuple[tuple[str, ...], ...]
    raw: tuple[tuple[Any, ...], ...]
    numeric: tuple[bool, ...]

    @property
    def stop(self) -> int:
        return self.start + len(self.row_ids)

    def __len__(self) -> int:
        return len(self.row_ids)


def prepare_table(
    store: Store,
    spec: TableSpec,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> TableWindow:
    """Count the rows of ``spec`` and, for a slice or a sort, build its ordering table; for
    a sort, also copy its first :data:`HEAD_ROWS` rows (see the module doc).

    Runs on a worker thread: on 10M Parquet rows a sort takes about a second.
    """
    cancel.raise_if_cancelled()
    if not spec.needs_ordering:
        progress(0.0, "Counting rows")
        count = store.scalar(f"SELECT count(*) FROM {ident(spec.view)}", cancel)
        progress(1.0, "")
        return TableWindow(spec, int(count), rows_macro=rows_macro(store, spec.view))
    ordering = store.new_name("sleuth_order")
    progress(0.0, "Sorting rows" if spec.sort else "Filtering rows")
    with store.job_cursor(cancel) as cur:
        cancel.raise_if_cancelled()
        build = _ordering_sql(spec, ordering)
        cur.execute(build.text, list(build.params))
        count = int(cur.execute(f"SELECT count(*) FROM {ident(ordering)}").fetchall()[0][0])
        window = TableWindow(spec, count, ordering, rows_macro=rows_macro(store, spec.view))
        if spec.sort:
            cancel.raise_if_cancelled()
            head = _head_name(ordering)
            cur.execute(_copy_sql(window, ident(head), HEAD_ROWS))
            window = replace(window, head_rows=head, head_count=min(count, HEAD_ROWS))
    progress(1.0, "")
    return window


def rows_macro(store: Store, view: str) -> str | None:
    """The view's rows macro (:func:`analysis.query.rows_macro_name`), if it has one (only
    Sleuth's DuckDB store makes them: a Spark table is paged by keys, :mod:`analysis.engine.pages`)."""
    if not isinstance(store, Store):
        return None
    name = rows_macro_name(view)
    try:  # binding it costs less than listing the catalog's functions (20-80 ms of CPU)
        store.rows(f"DESCRIBE SELECT * FROM {ident(name)}(0, 0)")
    except duckdb.CatalogException:
        return None
    return name


def first_rows(store: Store, view: str, rows: int) -> str:
    """The view's first ``rows`` rows as a FROM item: the ROW_ID range ``[0, rows)`` through
    its rows macro where it has one, else a LIMIT. Over a log of many Parquet files (one scan
    per file) a LIMIT starts every file's scan (0.4 s of CPU for 50,000 rows of 9 files of 10M
    rows, where the first file alone takes 0.05 s); the range reads the first file's first row
    group only, and over a lakehouse table with deleted rows it does not scan the table."""
    macro = rows_macro(store, view)
    return f"{ident(macro)}(0, {int(rows)})" if macro else f"(SELECT * FROM {ident(view)} LIMIT {int(rows)})"


def _ranged(window: TableWindow, start: int, stop: int) -> str:
    """Where to read the window's rows with ROW_ID in ``[start, stop)`` from."""
    if window.rows_macro is None:
        return ident(window.spec.view)
    return f"{ident(window.rows_macro)}({int(start)}, {int(stop)})"


def _ordering_sql(spec: TableSpec, ordering: str) -> Sql:
    """``CREATE TABLE`` of ``(position, row_id)`` for the matching rows in display order.

    The ids are sorted in a subquery and numbered by ``row_number() OVER ()``, which DuckDB
    runs as an order-preserving streaming window: on 10M rows this takes 0.9 s where
    ``row_number() OVER (ORDER BY ...)`` takes 1.9 s.
    """
    keys = [f"{ident(name)} {'ASC' if ascending else 'DESC'} NULLS LAST" for name, ascending in spec.sort]
    keys.append(f"{ident(ROW_ID)} ASC")
    where = where_clause(spec.condition)
    text = (
        f"CREATE TABLE {ident(ordering)} AS "
        f"SELECT (row_number() OVER () - 1) AS position, row_id FROM ("
        f"SELECT {ident(ROW_ID)} AS row_id FROM {ident(spec.view)}{where.text} "
        f"ORDER BY {', '.join(keys)})"
    )
    return Sql(text, where.params)


def copy_sorted_rows(
    store: Store,
    window: TableWindow,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> TableWindow:
    """The window with a copy of its shown columns in display order, from which pages are
    read by position (see the module doc); a window without a sort is returned unchanged.

    Runs on a worker thread after :func:`prepare_table`: the window's pages are served from
    its ids meanwhile, in the same order (the copy numbers the rows as the ordering does).
    """
    if not window.spec.sort or window.ordering is None:
        return window
    progress(0.0, "Copying the sorted rows")
    name = _copy_name(window.ordering)
    with store.job_cursor(cancel) as cur:
        _attach_sorted_copies(store, cur)
        cur.execute(_copy_sql(window, _sorted_copy(name)))
    progress(1.0, "")
    return replace(window, sorted_rows=name)


def _copy_sql(window: TableWindow, target: str, rows: int | None = None) -> str:
    """``CREATE TABLE target`` of the window's shown columns with their display position, in
    display order: all its rows, or its first ``rows``."""
    shown = ", ".join(f"v.{ident(c)}" for c in window.spec.columns)
    first = "" if rows is None else f" WHERE o.position < {int(rows)}"
    return (
        f"CREATE TABLE {target} AS SELECT o.position AS {ident(COPY_POSITION)}, v.{ident(ROW_ID)}, {shown} "
        f"FROM {ident(window.ordering)} AS o JOIN {ident(window.spec.view)} AS v "
        f"ON v.{ident(ROW_ID)} = o.row_id{first} ORDER BY o.position"
    )


def page_is_quick(window: TableWindow, start: int, stop: int) -> bool:
    """Whether rows ``start .. stop - 1`` come from a copy or a plain or filtered read (tens of
    milliseconds), not through a sorted window's ids (a pass over every shown column)."""
    return not window.spec.sort or window.sorted_rows is not None or min(stop, window.row_count) <= window.head_count


def _attach_sorted_copies(store: Store, cur: Any) -> None:
    """Attach the scratch database of sorted copies to the store once, in a fresh temp folder
    that is removed when the store is collected (or the process ends)."""
    attached = cur.execute("SELECT 1 FROM duckdb_databases() WHERE database_name = ?", [SORTED_COPIES]).fetchall()
    if attached:
        return
    sweep_stale_sorted_folders()
    folder = tempfile.mkdtemp(prefix=f"{SORTED_FOLDER_PREFIX}{os.getpid()}-")
    cur.execute(f"ATTACH IF NOT EXISTS {literal(os.path.join(folder, 'sorted.duckdb'))} AS {ident(SORTED_COPIES)}")
    weakref.finalize(store, shutil.rmtree, folder, True)


SORTED_FOLDER_PREFIX = "sleuth-sorted-"
"""Temp folders of sorted copies are named ``sleuth-sorted-<pid>-<random>``: the pid says whose."""


def sweep_stale_sorted_folders(temp_dir: str | None = None) -> list[str]:
    """Remove the sorted-copy folders whose process is gone, and return their paths.

    A store removes its folder when collected, but a killed process (a benchmark stopped, a
    crash) leaves it behind, about 130 MB per million rows. A folder is removed only when its
    name carries a pid and no process of that pid exists, so a live Sleuth's copy is never
    touched (a reused pid keeps a stale folder until that process ends: harmless).
    """
    temp_dir = temp_dir or tempfile.gettempdir()
    pattern = re.compile(re.escape(SORTED_FOLDER_PREFIX) + r"(\d+)-")
    removed = []
    for name in os.listdir(temp_dir):
        owner = pattern.match(name)
        if owner and not _process_exists(int(owner.group(1))):
            path = os.path.join(temp_dir, name)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    """Whether a process of ``pid`` exists (signal 0 checks without signalling on POSIX; on
    Windows signal 0 would stop the process, so every folder is kept there)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return True  # unknown on this platform: keep the folder
    return True


def _head_name(ordering: str) -> str:
    return f"{ordering}_head"


def _copy_name(ordering: str) -> str:
    """A window's sorted copy is named after its ordering table, so releasing the window drops
    a copy whose result never reached its owner (superseded just as it finished)."""
    return f"{ordering}_rows"


def _sorted_copy(name: str) -> str:
    return f"{ident(SORTED_COPIES)}.{ident(name)}"


def release_table(store: Store, window: TableWindow) -> None:
    """Drop the window's ordering table and sorted copy (a no-op for a plain window)."""
    if window.ordering is None:
        return
    store.execute(f"DROP TABLE IF EXISTS {ident(window.ordering)}")
    store.execute(f"DROP TABLE IF EXISTS {ident(_head_name(window.ordering))}")
    if window.spec.sort and store.scalar(
        Sql("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", (SORTED_COPIES,))
    ):
        store.execute(f"DROP TABLE IF EXISTS {_sorted_copy(_copy_name(window.ordering))}")


def fetch_window(store: Store, window: TableWindow, start: int, stop: int) -> Page:
    """Rows ``start .. stop - 1`` of the window (clipped to its row count), with their ROW_IDs."""
    start, rows, types = _window_rows(store, window, start, stop)
    return format_page(start, window.spec.columns, rows, types)


def fetch_values(store: Store, window: TableWindow, start: int, stop: int) -> list[tuple]:
    """The shown columns' values of rows ``start .. stop - 1`` of the window, as DuckDB returns
    them: what a copy of the selection reads, without the text a page formats for the screen
    (a third of the time of copying every row)."""
    return [row[1:] for row in _window_rows(store, window, start, stop)[1]]


def _window_rows(store: Store, window: TableWindow, start: int, stop: int) -> tuple[int, list[tuple], list[Any]]:
    """The first position (``start`` clipped), the rows ``(row id, shown columns...)`` and the
    shown columns' DuckDB types of rows ``start .. stop - 1`` of the window."""
    start = max(0, start)
    stop = min(stop, window.row_count)
    spec = window.spec
    if stop <= start:
        return start, [], []
    selected = ", ".join([ident(ROW_ID)] + [ident(c) for c in spec.columns])
    copy = _sorted_copy(window.sorted_rows) if window.sorted_rows is not None else (
        ident(window.head_rows) if window.head_rows is not None and stop <= window.head_count else None)
    with store.job_cursor() as cur:
        if copy is not None:
            cur.execute(
                f"SELECT {selected} FROM {copy} WHERE {ident(COPY_POSITION)} >= ? "
                f"AND {ident(COPY_POSITION)} < ? ORDER BY {ident(COPY_POSITION)}",
                [start, stop],
            )
            rows = cur.fetchall()
        elif window.ordering is None:
            cur.execute(
                f"SELECT {selected} FROM {_ranged(window, start, stop)} "
                f"WHERE {ident(ROW_ID)} >= ? AND {ident(ROW_ID)} < ? ORDER BY {ident(ROW_ID)}",
                [start, stop],
            )
            rows = cur.fetchall()
        else:
            ids = [
                r[0]
                for r in cur.execute(
                    f"SELECT row_id FROM {ident(window.ordering)} "
                    "WHERE position >= ? AND position < ? ORDER BY position",
                    [start, stop],
                ).fetchall()
            ]
            rows = _rows_by_id(cur, selected, _ranged(window, min(ids), max(ids) + 1) if ids else "", ids)
        types = [d[1] for d in cur.description or ()]
    return start, rows, types[1:]


def _rows_by_id(cur: Any, selected: str, source: str, ids: Sequence[int]) -> list[tuple]:
    """The view's rows for ``ids``, in the order of ``ids``.

    The BETWEEN on the ids' span is what lets Parquet skip row groups (the IN list alone is
    turned into a join and reads the whole file); for rows scattered across the file by a
    sort, every row group is read and a page costs about what one column scan costs.
    """
    id_params = ", ".join("?" * len(ids))
    rowid = ident(ROW_ID)
    cur.execute(
        f"SELECT {selected} FROM {source} "
        f"WHERE {rowid} BETWEEN ? AND ? AND {rowid} IN ({id_params})",
        [min(ids), max(ids), *ids],
    )
    by_id = {row[0]: row for row in cur.fetchall()}
    return [by_id[i] for i in ids]


def format_page(start: int, columns: Sequence[str], rows: list[tuple], types: Sequence[Any]) -> Page:
    """Format a page column by column: one formatter per column, applied to all its values.

    ``rows`` are ``(row id, shown columns...)``; ``types`` the shown columns' DuckDB types (also
    what :mod:`analysis.engine.pages` formats a page of a Spark table with)."""
    formatters = [formatter_for(str(t)) for t in types] or [format_value] * len(columns)
    text_columns = [[fmt(row[c + 1]) for row in rows] for c, fmt in enumerate(formatters)]
    return Page(
        start=start,
        row_ids=tuple(int(row[0]) for row in rows),
        columns=tuple(columns),
        text=tuple(zip(*text_columns)) if rows else (),
        raw=tuple(tuple(row[1:]) for row in rows),
        numeric=tuple(Column(name, str(t)).is_numeric for name, t in zip(columns, types))
        or (False,) * len(columns),
    )


def formatter_for(type_name: str) -> Callable[[Any], str]:
    """The display formatter for a DuckDB column type: floats skip the type dispatch."""
    if type_name.upper() in ("DOUBLE", "FLOAT", "REAL"):
        return _float_or_null
    return format_value


def _float_or_null(value: float | None) -> str:
    return NULL_TEXT if value is None else format_float(value)


def format_float(value: float) -> str:
    """Six significant digits; NaN and infinities spelled out; integral values keep ``.0``."""
    if math.isnan(value):
        return NAN_TEXT
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.6g}"
    if value == int(value) and "e" not in text and "." not in text:
        text += ".0"
    return text


def format_value(value: Any) -> str:
    """How a cell shows a value.

    NULL is ``∅`` (NaN is ``NaN``: a value, not a missing one); booleans are ``true``/``false``;
    timestamps and dates are ISO 8601 (``2024-05-01 13:45:00``, with the offset when the
    value has a time zone); floats have six significant digits; integers and decimals are
    shown in full; line breaks become ``⏎`` and text is cut after 200 characters.
    """
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex(" ")
    return _one_line(str(value))


def _one_line(text: str) -> str:
    text = text.replace("\r\n", NEWLINE_MARK).replace("\n", NEWLINE_MARK).replace("\r", NEWLINE_MARK)
    if len(text) > MAX_DISPLAY_CHARS:
        return text[: MAX_DISPLAY_CHARS - 1] + "…"
    return text


def containing(columns: Sequence[str], text: str) -> Sql:
    """The rows whose value in one of ``columns`` contains ``text``, case-insensitively: the
    find bar's match, one text for a DuckDB window and a cluster's keyset pages."""
    match = " OR ".join(f"contains(lower(CAST({ident(c)} AS VARCHAR)), ?)" for c in columns)
    return Sql(f"({match})", (text.lower(),) * len(columns))


def find_row(
    store: Store,
    window: TableWindow,
    text: str,
    column: str | None = None,
    after: int = -1,
    forward: bool = True,
    cancel: CancelToken = NEVER_CANCELLED,
) -> int | None:
    """The window position of the next row, after ``after`` and wrapping around, that contains
    ``text`` (case-insensitively) in ``column`` or in any shown column; None if no row does.

    Searching backward takes the nearest match before ``after``. The search runs in DuckDB
    over the whole window, so it finds rows the table has never loaded.
    """
    columns = (column,) if column else window.spec.columns
    if not text or not columns:
        return None
    match = containing(columns, text)
    view, rowid = ident(window.spec.view), ident(ROW_ID)
    if window.ordering is None:
        source = f"(SELECT {rowid} AS position, * FROM {view})"
    else:
        source = (
            f"(SELECT o.position, v.* FROM {ident(window.ordering)} AS o "
            f"JOIN {view} AS v ON v.{rowid} = o.row_id)"
        )
    order = "(position <= ?), position ASC" if forward else "(position >= ?), position DESC"
    sql = Sql(f"SELECT position FROM {source} WHERE {match.text} ORDER BY {order} LIMIT 1", (*match.params, after))
    found = store.scalar(sql, cancel)
    return None if found is None else int(found)
