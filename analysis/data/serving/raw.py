"""Raw records of a capture log: one row per JSON line or Parquet row, with file and record number.

JSON lines are streamed by Python (plain or gzip, in bounded batches) into a DuckDB table as
text, so that every malformed line can be named by its file and line number; all parsing then
happens in DuckDB. Parquet rows become JSON objects in SQL, so one vendor query serves both.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

import duckdb
import pyarrow as pa

from analysis.dataset import SkippedRow
from analysis.errors import InputError
from analysis.progress import CancelToken
from analysis.query import ident, literal, literal_list

BATCH_LINES = 50_000
"""Lines handed to DuckDB at once: bounds the Python side's memory whatever the file size."""

PARQUET_FILE = "_sleuth_file"

RAW_SCHEMA = pa.schema([("file", pa.string()), ("record", pa.int64()), ("doc", pa.string())])


@dataclass(frozen=True)
class LakeRows:
    """A lakehouse table's rows as a subquery (deleted rows left out, columns by the table's
    names), its dense row-number column, and the name records are reported under (the table)."""

    source: str
    row_id: str
    name: str


def open_text(path: Path) -> IO[str]:
    """A text handle on a capture file, decompressing gzip (detected by its magic bytes)."""
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def load_raw(
    cur: duckdb.DuckDBPyConnection, table: str, paths: Sequence[Path], is_parquet: bool, cancel: CancelToken,
    lake: LakeRows | None = None,
) -> list[SkippedRow]:
    """Create ``table(file, record, doc JSON)``; return the lines that are not JSON objects."""
    if lake is not None:
        cur.execute(
            f"CREATE TABLE {ident(table)} AS SELECT {literal(lake.name)} AS file, {ident(lake.row_id)} + 1 AS record, "
            f"to_json(t) AS doc FROM {lake.source} AS t ORDER BY record"
        )
        return []
    if is_parquet:
        files = literal_list([str(p) for p in paths])
        cur.execute(
            f"CREATE TABLE {ident(table)} AS SELECT t.{ident(PARQUET_FILE)} AS file, t.file_row_number + 1 AS record, "
            f"to_json(t) AS doc FROM read_parquet({files}, union_by_name=true, "
            f"filename={literal(PARQUET_FILE)}, file_row_number=true) AS t ORDER BY file, record"
        )
        return []
    lines = f"{table}_lines"
    cur.execute(f"CREATE TABLE {ident(lines)} (file VARCHAR, record BIGINT, doc VARCHAR)")
    for batch in _line_batches(paths, cancel):
        cur.register("_sleuth_raw_batch", batch)
        try:
            cur.execute(f"INSERT INTO {ident(lines)} SELECT * FROM _sleuth_raw_batch")
        finally:
            cur.unregister("_sleuth_raw_batch")
    cur.execute(
        f"CREATE TABLE {ident(table)} AS SELECT file, record, CAST(doc AS JSON) AS doc FROM {ident(lines)} "
        f"WHERE json_valid(doc) AND json_type(doc) = 'OBJECT' ORDER BY file, record"
    )
    bad = cur.execute(
        f"SELECT file, record, CASE WHEN json_valid(doc) THEN 'a JSON ' || lower(json_type(doc)) || ', not an object' "
        f"ELSE 'malformed JSON' END FROM {ident(lines)} "
        f"WHERE NOT json_valid(doc) OR json_type(doc) <> 'OBJECT' ORDER BY file, record"
    ).fetchall()
    cur.execute(f"DROP TABLE {ident(lines)}")
    return [SkippedRow(file, int(record), reason) for file, record, reason in bad]


def _line_batches(paths: Sequence[Path], cancel: CancelToken) -> Iterator[pa.Table]:
    files: list[str] = []
    records: list[int] = []
    docs: list[str] = []
    for path in paths:
        number = 0
        try:
            with open_text(path) as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    files.append(str(path))
                    records.append(number)
                    docs.append(line)
                    if len(docs) >= BATCH_LINES:
                        cancel.raise_if_cancelled()
                        yield pa.table([files, records, docs], schema=RAW_SCHEMA)
                        files, records, docs = [], [], []
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot be read after line {number}: {exc}", file=str(path)) from exc
    if docs:
        yield pa.table([files, records, docs], schema=RAW_SCHEMA)


def first_records(path: Path, limit: int = 20) -> Iterator[str]:
    """The first non-blank lines of a JSON-lines capture file (for recognising its shape)."""
    with open_text(path) as handle:
        seen = 0
        for line in handle:
            if line.strip():
                yield line
                seen += 1
                if seen >= limit:
                    return

