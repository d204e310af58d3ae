"""Table pages on a cluster: keyset pagination on the sort key, never OFFSET.

On DuckDB a sliced or sorted table is numbered once (:func:`analysis.window.prepare_table`
writes an ordering table) and a page is a range of positions. On a table of billions of rows
on Spark that numbering is a full sort written out, and ``OFFSET`` is worse: every page
sorts again and skips. So a page is found by where the previous one ended:

    WHERE (key, id) > (last_key, last_id) ORDER BY key, id LIMIT n

which Spark runs as a top-n per partition (one scan, no shuffle of the table). The row id
breaks ties, so the order is total and no row is shown twice or skipped. The next page starts
after the last row the client holds, the previous one before the first (read in reverse).

Jumping to a position has no bookmark to start from, so the row at that position is found by
selection (Floyd and Rivest's, with exact counts): a small random sample of the rows between
two bookmarks gives two pivots that bracket the position with high probability, one counting
pass gives their exact positions, and the bracket narrows by a factor of at least
``sqrt(PIVOT_SAMPLE_ROWS) / 3`` (33) per round until at most ``READ_AHEAD_ROWS`` rows separate its
lower end from the position; those are read forward and skipped. Every statement is written
once in DuckDB's SQL, so the same functions page a DuckDB view (which is how they are tested
against :func:`analysis.window.fetch_window`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, where_clause
from analysis.window import Page, TableSpec, format_page

READ_AHEAD_ROWS = 2_000
"""At most this many rows are read and skipped to reach a jumped-to position."""

PIVOT_SAMPLE_ROWS = 10_000
"""Rows (their sort keys only, about 1 MB) sampled per narrowing round of a jump."""

BRACKET_SDS = 3
"""The pivots sit this many binomial standard deviations either side of the position's
expected place in the sample, so both bracket it in all but a few rounds in a thousand (a
round that misses still narrows the bracket from one side)."""


@dataclass(frozen=True)
class Bookmark:
    """One row's place in the order: its sort keys' values and its row id (the tie-break)."""

    keys: tuple[Any, ...]
    row_id: int


@dataclass(frozen=True)
class KeysetTable:
    """What the table shows (:class:`TableSpec`), the shown columns' types and the row count."""

    spec: TableSpec
    types: tuple[str, ...]
    row_count: int


@dataclass(frozen=True)
class KeysetPage:
    """A page and the bookmarks of its first and last rows, where the pages around it start."""

    page: Page
    first: Bookmark | None
    last: Bookmark | None


def open_keyset_table(store, dataset: Dataset, spec: TableSpec, cancel: CancelToken = NEVER_CANCELLED) -> KeysetTable:
    """Count the rows ``spec`` shows (one aggregate); nothing is sorted or written."""
    types = {column.name: column.dtype for column in dataset.columns}
    where = where_clause(spec.condition)
    count = store.scalar(Sql(f"SELECT count(*) FROM {ident(spec.view)}{where.text}", where.params), cancel)
    return KeysetTable(spec, tuple(types[name] for name in spec.columns), int(count))


def page_after(store, table: KeysetTable, after: Bookmark | None, start: int, size: int,
               cancel: CancelToken = NEVER_CANCELLED) -> KeysetPage:
    """The ``size`` rows that follow ``after`` (from the first row when None); ``start`` is the
    position of the first of them, which the caller knows from the page it came from."""
    rows = _rows(store, table, _beyond(table.spec, after, forward=True) if after else None, size, True, cancel)
    return _keyset_page(table, start, rows)


def page_before(store, table: KeysetTable, before: Bookmark, stop: int, size: int,
                cancel: CancelToken = NEVER_CANCELLED) -> KeysetPage:
    """The ``size`` rows (fewer at the top) that precede ``before``, which is at position ``stop``."""
    rows = _rows(store, table, _beyond(table.spec, before, forward=False), min(size, stop), False, cancel)
    return _keyset_page(table, stop - len(rows), rows[::-1])


def page_at(store, table: KeysetTable, position: int, size: int, cancel: CancelToken = NEVER_CANCELLED) -> KeysetPage:
    """The ``size`` rows from ``position`` on (a jump): the row before it is found by selection,
    then at most ``READ_AHEAD_ROWS`` rows are read past and skipped."""
    position = max(0, min(position, table.row_count))
    lower, lower_position = _bracket_below(store, table, position, cancel)
    skipped = position - lower_position - 1
    condition = _beyond(table.spec, lower, forward=True) if lower else None
    rows = _rows(store, table, condition, skipped + size, True, cancel)
    return _keyset_page(table, position, rows[skipped:])


def find_beyond(store, table: KeysetTable, match: Sql, after: Bookmark | None, forward: bool = True,
                cancel: CancelToken = NEVER_CANCELLED) -> int | None:
    """The position of the first shown row matching ``match`` past ``after`` in the display
    order (before it when not ``forward``), wrapping around the table's end as the find bar
    does; None when no shown row matches. A top-1 query (a second when it wraps) and one
    count give it: nothing is numbered, as a jump numbers nothing."""
    rows = _rows(store, table, match & _beyond(table.spec, after, forward) if after else match, 1, forward, cancel)
    if not rows and after is not None:
        rows = _rows(store, table, match, 1, forward, cancel)
    if not rows:
        return None
    return _positions(store, table, [_keyset_page(table, 0, rows).first], cancel)[0]


def bookmark_of(table: KeysetTable, row_id: int, values: Sequence[Any]) -> Bookmark:
    """The bookmark of a shown row from its id and its shown ``values`` (those of
    ``table.spec.columns``), which hold its sort keys."""
    columns = table.spec.columns
    return Bookmark(tuple(values[columns.index(name)] for name, _ in table.spec.sort), int(row_id))


def _bracket_below(store, table: KeysetTable, position: int, cancel: CancelToken) -> tuple[Bookmark | None, int]:
    """A row before ``position`` no more than ``READ_AHEAD_ROWS`` rows back, and its position
    (None and -1: the start of the table)."""
    lower, lower_position = None, -1
    upper, upper_position = None, table.row_count
    while position - lower_position - 1 > READ_AHEAD_ROWS:
        cancel.raise_if_cancelled()
        between = upper_position - lower_position - 1
        sample = _sorted_sample(store, table, lower, upper, PIVOT_SAMPLE_ROWS / between, cancel)
        pivots = _pivots(sample, (position - lower_position - 1) / between)
        for pivot, pivot_position in zip(pivots, _positions(store, table, pivots, cancel)):
            if pivot_position < position and pivot_position > lower_position:
                lower, lower_position = pivot, pivot_position
            elif pivot_position >= position and pivot_position < upper_position:
                upper, upper_position = pivot, pivot_position
    return lower, lower_position


def _pivots(sample: list[Bookmark], share: float) -> list[Bookmark]:
    """The sample's rows ``BRACKET_SDS`` binomial standard deviations below and above where a
    row ``share`` of the way through the bracket is expected to fall in it."""
    if not sample:
        return []
    expected = share * len(sample)
    spread = BRACKET_SDS * math.sqrt(max(expected * (1 - share), 1.0))
    below, above = math.floor(expected - spread), math.ceil(expected + spread)
    return [sample[index] for index in (below, above) if 0 <= index < len(sample)]


def _sorted_sample(store, table: KeysetTable, lower: Bookmark | None, upper: Bookmark | None, fraction: float,
                   cancel: CancelToken) -> list[Bookmark]:
    """A Bernoulli sample of the rows strictly between the two bookmarks, in display order."""
    spec = table.spec
    inside = Sql(f"random() < {min(fraction, 1.0)!r}")
    for bound, forward in ((lower, True), (upper, False)):
        if bound is not None:
            inside = inside & _beyond(spec, bound, forward)
    selected = [ident(ROW_ID)] + [ident(name) for name, _ in spec.sort]
    where = where_clause(inside & spec.condition)
    rows = store.rows(Sql(f"SELECT {', '.join(selected)} FROM {ident(spec.view)}{where.text} "
                          f"ORDER BY {_order(spec, True)}", where.params), cancel)
    return [Bookmark(tuple(row[1:]), int(row[0])) for row in rows]


def _positions(store, table: KeysetTable, bookmarks: Sequence[Bookmark], cancel: CancelToken) -> list[int]:
    """Each bookmark's position: how many shown rows come before it, all counted in one pass."""
    if not bookmarks:
        return []
    counts = [_beyond(table.spec, bookmark, forward=False) for bookmark in bookmarks]
    where = where_clause(table.spec.condition)
    text = ", ".join(f"sum(CASE WHEN {count.text} THEN 1 ELSE 0 END)" for count in counts)
    params = tuple(param for count in counts for param in count.params) + where.params
    row = store.rows(Sql(f"SELECT {text} FROM {ident(table.spec.view)}{where.text}", params), cancel)[0]
    return [int(value or 0) for value in row]


def _rows(store, table: KeysetTable, beyond: Sql | None, limit: int, forward: bool, cancel: CancelToken) -> list[tuple]:
    """``(row id, shown columns..., sort keys...)`` of the first ``limit`` rows past ``beyond``."""
    if limit <= 0:
        return []
    spec = table.spec
    selected = ([ident(ROW_ID)] + [ident(name) for name in spec.columns]
                + [f"{ident(name)} AS {ident(f'_sleuth_key{i}')}" for i, (name, _) in enumerate(spec.sort)])
    where = where_clause((beyond or Sql("TRUE")) & spec.condition)
    return store.rows(Sql(f"SELECT {', '.join(selected)} FROM {ident(spec.view)}{where.text} "
                          f"ORDER BY {_order(spec, forward)} LIMIT {int(limit)}", where.params), cancel)


def _keyset_page(table: KeysetTable, start: int, rows: list[tuple]) -> KeysetPage:
    shown = 1 + len(table.spec.columns)
    page = format_page(start, table.spec.columns, [row[:shown] for row in rows], table.types)
    bookmarks = [Bookmark(tuple(row[shown:]), int(row[0])) for row in (rows[0], rows[-1])] if rows else [None, None]
    return KeysetPage(page, bookmarks[0], bookmarks[-1])


def _order(spec: TableSpec, forward: bool) -> str:
    """The display order (nulls last, ties by row id), or its exact reverse."""
    keys = []
    for name, ascending in spec.sort:
        direction = "ASC" if ascending == forward else "DESC"
        keys.append(f"{ident(name)} {direction} NULLS {'LAST' if forward else 'FIRST'}")
    keys.append(f"{ident(ROW_ID)} {'ASC' if forward else 'DESC'}")
    return ", ".join(keys)


def _beyond(spec: TableSpec, bookmark: Bookmark, forward: bool) -> Sql:
    """The rows after (``forward``) or before the bookmark in the display order, as the
    expanded row comparison ``k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...))``, nulls last."""
    terms: list[Sql] = []
    same: Sql = Sql("TRUE")
    for (name, ascending), value in zip(spec.sort, bookmark.keys):
        step = _key_beyond(ident(name), ascending, value, forward)
        if step is not None:
            terms.append(same & step)
        same = same & (Sql(f"{ident(name)} IS NULL") if value is None else Sql(f"{ident(name)} = ?", (value,)))
    terms.append(same & Sql(f"{ident(ROW_ID)} {'>' if forward else '<'} ?", (bookmark.row_id,)))
    return Sql(" OR ".join(f"({term.text})" for term in terms), tuple(p for term in terms for p in term.params))


def _key_beyond(column: str, ascending: bool, value: Any, forward: bool) -> Sql | None:
    """Rows strictly past ``value`` in one key, nulls last (None: no row is)."""
    if value is None:
        return None if forward else Sql(f"{column} IS NOT NULL")
    later = ">" if ascending else "<"
    earlier = "<" if ascending else ">"
    if forward:
        return Sql(f"{column} {later} ? OR {column} IS NULL", (value,))
    return Sql(f"{column} {earlier} ?", (value,))
