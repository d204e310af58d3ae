"""JSON that DuckDB's reader refuses but that holds records all the same, read with Python.

DuckDB's ``read_json`` refuses valid inputs that serving systems do write: JSON lines separated
by carriage returns, Latin-1 bytes, an object with a duplicate key, a field whose type changes
after the rows it sampled, or a file of two top-level arrays (two exports appended). This reads
every top-level JSON value in the file in turn, whatever whitespace separates them, and keeps
the objects (and the objects of arrays), saying what it had to decide: the encoding, the keys
seen twice (the last value kept, as JSON parsers do), the columns read as text because their
type changes. A file that is not JSON at all is refused naming the line and column.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa

from analysis.errors import InputError

MAX_FALLBACK_BYTES = 256 * 2**20
"""Larger files are not read into Python: DuckDB's own message is given instead."""
_WHITESPACE = " \t\r\n\ufeff"


def read_json_records(path: Path) -> tuple[pa.Table, list[str]]:
    """Every record of ``path`` as an Arrow table, and notes on what was decided."""
    data = path.read_bytes()
    notes: list[str] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        notes.append("not valid UTF-8, read as Latin-1 (check accented characters)")
    if not text.strip(_WHITESPACE):
        raise InputError("the file is empty or holds only whitespace: no JSON records", file=str(path))
    duplicates: Counter[str] = Counter()
    records = _records(text, duplicates, path)
    if not records:
        raise InputError("the file holds JSON but no objects (records)", file=str(path))
    if duplicates:
        notes.append("keys repeated inside one object, the last value kept: "
                     + ", ".join(f"'{k}' ({n}x)" for k, n in duplicates.most_common(5)))
    return _table(records, notes), notes


def _records(text: str, duplicates: Counter, path: Path) -> list[dict]:
    def keep_last(pairs: list[tuple[str, object]]) -> dict:
        seen = Counter(key for key, _ in pairs)
        duplicates.update({key: count - 1 for key, count in seen.items() if count > 1})
        return dict(pairs)

    decoder = json.JSONDecoder(object_pairs_hook=keep_last)
    records: list[dict] = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position >= len(text):
            return records
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                             file=str(path)) from exc
        except RecursionError:
            line = text.count("\n", 0, position) + 1
            raise InputError(f"the JSON value starting at line {line} is nested too deeply to read",
                             file=str(path)) from None
        values = value if isinstance(value, list) else [value]
        records += [v for v in values if isinstance(v, dict)]


def _table(records: list[dict], notes: list[str]) -> pa.Table:
    """Columns by name in first-seen order; a column whose values change type is read as text."""
    names = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        kinds = {type(v).__name__ for v in values if v is not None}
        if kinds <= {"int", "float"} or len(kinds) <= 1:
            try:
                columns[name] = pa.array(values)
                continue
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
        notes.append(f"column '{name}' changes type ({', '.join(sorted(kinds))}): read as text")
        columns[name] = pa.array([None if v is None else _text(v) for v in values], type=pa.string())
    return pa.table(columns)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
