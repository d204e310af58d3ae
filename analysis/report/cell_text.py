"""Cells as text for other programs: the clipboard (tab-separated) and CSV exports.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or
carriage return, what follows) as a formula: a log value ``=cmd|' /C calc'!A0`` or
``@HYPERLINK(...)`` pasted or opened in Excel would run. Following the OWASP CSV-injection
guidance, such a cell is written with a leading apostrophe, which spreadsheets show as text.
A cell that is a plain number (``-1.5``, ``+3e2``) is no formula and stays as it is. The rule
is one pattern, rendered for Python (the clipboard) and for DuckDB (``COPY`` exports).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Callable, Sequence

from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled, Progress, no_progress
from analysis.store import Store
from analysis.window import TableWindow, fetch_values

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_FORMULA_START = re.compile(FORMULA_START)
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)
_FORMULA_CHARACTERS = frozenset("=+-@\t\r")
"""The first characters :data:`FORMULA_START` matches: a cell starting otherwise skips the patterns."""
COPY_CHUNK_ROWS = 2000


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet will show it, never run it (apostrophe before a formula)."""
    if _FORMULA_START.match(text) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def neutralised_sql(expression: str) -> str:
    """The SQL form of :func:`neutralise` for a VARCHAR ``expression`` (a quoted column)."""
    return (f"CASE WHEN regexp_matches({expression}, '{FORMULA_START}') "
            f"AND NOT regexp_full_match({expression}, '{PLAIN_NUMBER}') THEN '''' || {expression} "
            f"ELSE {expression} END")


def exact_text(value: Any) -> str:
    """A value as exact text (full precision, ISO times); NULL is the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def clipboard_field(value: Any) -> str:
    """One tab-separated field: exact, neutralised, with tabs and line breaks made spaces.

    A copy of every row calls it for each cell: the patterns and replacements run only on a
    cell that can need them (half the time of a select-all copy went to them)."""
    text = value if type(value) is str else exact_text(value)
    if text[:1] in _FORMULA_CHARACTERS:
        text = neutralise(text)
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text


def selection_text(
    store: Store,
    window: TableWindow,
    ranges: Sequence[tuple[int, int, int, int]],
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> str:
    """The cells of ``ranges`` (top, bottom, left, right; inclusive positions) as TSV with a header.

    The selection's rows and columns form one grid; grid cells outside every range stay empty.
    Rows are read from DuckDB in chunks, so a selection of every row copies every row (not
    only the pages the table happened to have loaded) and can be cancelled.
    """
    return pages_text(lambda start, stop: fetch_values(store, window, start, stop), window.spec.columns, ranges,
                      progress, cancel)


def pages_text(
    fetch: Callable[[int, int], Sequence[Sequence[Any]]],
    names: Sequence[str],
    ranges: Sequence[tuple[int, int, int, int]],
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> str:
    """:func:`selection_text` of any table read a page at a time by ``fetch(start, stop)``, which
    returns the rows' values (a DuckDB window's, or a cluster's keyset pages), its columns named
    ``names``."""
    if not ranges:
        return ""
    columns = sorted({c for _, _, left, right in ranges for c in range(left, right + 1)})
    lines = ["\t".join(clipboard_field(names[c]) for c in columns)]
    spans = _merged([(top, bottom + 1) for top, bottom, _, _ in ranges])
    shown_by_ranges: dict[tuple, list[tuple[int, bool]]] = {}
    total, done = sum(stop - start for start, stop in spans), 0
    for start, stop in spans:
        for chunk in range(start, stop, COPY_CHUNK_ROWS):
            if cancel.cancelled:
                raise Cancelled()
            rows = fetch(chunk, min(chunk + COPY_CHUNK_ROWS, stop))
            for offset, values in enumerate(rows):
                shown = _shown_columns(ranges, chunk + offset, columns, shown_by_ranges)
                lines.append("\t".join([clipboard_field(values[c]) if selected else "" for c, selected in shown]))
            done += len(rows)
            progress(done / total, f"Copying {done:,} of {total:,} rows")
    return "\n".join(lines) + "\n"


def _shown_columns(ranges: Sequence[tuple[int, int, int, int]], row: int, columns: Sequence[int],
                   known: dict[tuple, list[tuple[int, bool]]]) -> list[tuple[int, bool]]:
    """Each of the grid's ``columns`` with whether the cell of ``row`` in it is selected, worked
    out once per set of ranges covering a row (``known``): not once per cell."""
    covering = tuple(r for r in ranges if r[0] <= row <= r[1])
    shown = known.get(covering)
    if shown is None:
        shown = known[covering] = [(c, any(left <= c <= right for _, _, left, right in covering)) for c in columns]
    return shown


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
