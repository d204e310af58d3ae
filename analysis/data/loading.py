"""Open prediction logs (Parquet, CSV, JSONL, Arrow, DuckDB) as one DuckDB view.

Every dataset becomes a view named ``ds_<n>`` whose columns are the file's columns plus
``ROW_ID`` (a dense 0-based row number in file order). Parquet is read in place: the view
reads the files on demand, which keeps a 10M-row log open in seconds. Formats without random
access (CSV, JSONL, Arrow) are copied once into a backing table ``ds_<n>_data``, which then
serves as the cache. A DuckDB database is attached read-only as ``ds_<n>_db``.

Before Sleuth's connection reads anything, :mod:`analysis.data.probe` reads every file in a child
process, so a file that crashes or hangs DuckDB costs an error message, not the window.
After registering, column types are tidied: text or epoch-number timestamps become
TIMESTAMP (TIMESTAMP WITH TIME ZONE when the text carries a zone), UUIDs become text, and
text columns that are mostly numbers are reported, since that is usually a data bug.
"""

from __future__ import annotations

import json
import tempfile
from itertools import accumulate
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import pyarrow as pa
import pyarrow.feather as feather

from analysis.data.column_names import looks_like_time
from analysis.dataset import NUMERIC_TYPES, Column, Dataset, LoadReport, SkippedRow
from analysis.errors import InputError
from analysis.data.csv_dialect import CsvLayout, body_file, csv_layout, unterminated_quotes
from analysis.data.kept import KeptResults
from analysis.data.json_fallback import MAX_FALLBACK_BYTES, read_json_records
from analysis.data.formats import CutGzip, Format, LogFiles, log_files, split_table, without_broken_gzip
from analysis.data.lakehouse import LakeTable, lake_source, lake_table
from analysis.data.roles import looks_like_score
from analysis.data.probe import probe_files
from analysis.data.serving.capture import open_capture
from analysis.data.serving.detect import Shape, detect_shape, shape_of_columns
from analysis.data.serving.raw import LakeRows
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.query import PAGE_FROM, PAGE_TO, ROW_ID, Sql, ident, literal, literal_list, rows_macro_name
from analysis.store import Store
from analysis.window import first_rows

TYPE_SAMPLE_ROWS = 10_000
"""Rows read to decide whether a column holds timestamps or is mostly numeric."""

MOSTLY_NUMERIC_SHARE = 0.8
"""A text column whose sampled values are at least this share numbers gets a warning."""

FILE_ROW_ID = "_sleuth_row_id"
"""Helper column of a many-file Parquet log: each file's scan numbers its rows from its offset
(hidden from the view, which shows it as ROW_ID)."""

ROWS_PER_FILE_SCANNED_TOGETHER = 50_000
"""Parquet files this small (on average) are read by one scan of them all, not one scan per
file: planning a per-file branch costs ~0.4 ms, about what scanning 50,000 rows of a few
columns costs on this machine, so below that a page read that skips the other files saves
less than their branches cost every query (1,000 files of 50 rows: 2 s per query as branches,
0.5 s as one scan)."""

TEXT_TIMESTAMP_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y %H:%M:%S",
)
"""Non-ISO layouts tried in order when a text column is not ISO 8601 (day-first before
month-first, as most of the world writes dates)."""

DATE_LIKE_PATTERN = r"\d[-/.]\d+[-/.]\d"
"""What every layout of :data:`TEXT_TIMESTAMP_FORMATS` writes as its date, three numbers with a
separator between each (a digit, a separator, digits, a separator, a digit): a text column with
no such value and no ISO timestamp is not probed layout by layout. Two numbers and one
separator are not enough: version strings (``fraud-lr-2026.09``) and measures (``1.5``) have
them, and probing the demo log's version column with every layout was a quarter of its open."""

ZONE_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|UTC)$"

EPOCH_UNITS = (
    ("seconds", 1e11, 1_000_000),
    ("milliseconds", 1e14, 1_000),
    ("microseconds", 1e17, 1),
)
"""(unit, bound, microseconds per unit): the unit is the first whose bound is above the largest
value. Each bound is year 5138 in its unit and year 1973 in the next finer one, so a log from
any year since 1970 (old data replayed) reads in the unit it was written in."""

EPOCH_SMALLEST_LARGEST = 1e8
"""A time-named integer column whose largest value is below this (March 1973 in seconds) is a
counter or a duration (a ``time`` in days, a ``latency_ms``), not an epoch: it stays a number."""


@dataclass
class Backing:
    """Where a view's rows come from, and how to number them."""

    source: str
    row_id: str
    hidden: tuple[str, ...] = ()
    rows: int | None = None
    """The row count where the files' metadata holds it (Parquet), so that opening a log never
    scans its rows to count them; None where only a count over the rows tells."""
    skipped: list[SkippedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: str | None = None
    """The rows of a ROW_ID range (``PAGE_FROM``, ``PAGE_TO``), where a ROW_ID filter on ``source``
    would read every row (a lakehouse table with deleted rows): becomes the view's rows macro."""


def data_table_name(view: str) -> str:
    """The backing table of a view whose format has no random access."""
    return f"{view}_data"


def attached_name(view: str) -> str:
    """The alias a DuckDB database file is attached under for a view."""
    return f"{view}_db"


def wide_view_name(view: str) -> str:
    """The wide log's own view, under a view that shows it one row per version (analysis.data.wide)."""
    return f"{view}_wide"


def logged_view_name(view: str) -> str:
    """The logged rows' own view, under a view that adds rule sets' versions (analysis.rules.derived)."""
    return f"{view}_logged"


def rules_table_name(view: str) -> str:
    """The rule sets' outputs per base row, joined into the view that adds their versions."""
    return f"{view}_rules"


def open_dataset(
    store: Store,
    specs_or_paths: Sequence[str | Path] | str | Path,
    name: str | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    as_of: str | None = None,
) -> Dataset:
    """Register files, folders or globs as one log and describe what was read.

    A DuckDB database spec may name its table as ``file.duckdb::table``; otherwise the
    largest table is used. A Delta or Iceberg table folder is read at its newest version or at
    ``as_of`` (:mod:`analysis.data.lakehouse`). Raises :class:`InputError` (naming the file) for
    anything that cannot be read, :class:`Cancelled` when ``cancel`` fires.
    """
    specs = [specs_or_paths] if isinstance(specs_or_paths, (str, Path)) else list(specs_or_paths)
    split = [split_table(str(spec)) for spec in specs]
    table = next((t for _, t in split if t), None)
    progress(0.0, "finding files")
    lake = lake_table([p for p, _ in split], as_of)
    files = LogFiles(list(lake.files), Format.PARQUET) if lake else log_files([p for p, _ in split])
    try:
        dataset = _open_files(store, files, table, progress, cancel, lake if lake and not lake.plain else None)
    except InputError:
        with tempfile.TemporaryDirectory(prefix="sleuth-gzip-") as scratch:  # every loader of text copies it
            intact = without_broken_gzip(files, Path(scratch))
            if intact is files:
                raise
            files, dataset = intact, _named_as_originals(_open_files(store, intact, table, progress, cancel),
                                                         intact.cut, table)
    left_out = [cut.note for cut in files.cut] + [f"left out {why}" for why in files.left_out]
    return replace(
        dataset,
        name=name or (Path(specs[0]).name if lake else dataset.name),
        format=lake.kind if lake and dataset.format == files.format.value else dataset.format,  # a capture shape wins
        report=replace(dataset.report, warnings=tuple(([lake.note] if lake else []) + left_out)
                       + dataset.report.warnings),
    )


def _named_as_originals(dataset: Dataset, cut: Sequence[CutGzip], table: str | None) -> Dataset:
    """``dataset`` as read from the copies of cut gzip files, its paths and the file names in
    its report (skipped lines, notes) put back to the files the person opened."""
    swap = {str(part.copy): str(part.original) for part in cut}

    def named(text: str) -> str:
        for copy, original in swap.items():
            text = text.replace(copy, original)
        return text
    paths = tuple(swap.get(p, p) for p in dataset.paths)
    report = replace(dataset.report, skipped=tuple(replace(s, file=swap.get(s.file, s.file)) for s in dataset.report.skipped),
                     warnings=tuple(named(w) for w in dataset.report.warnings))
    return replace(dataset, paths=paths, name=_default_name([Path(p) for p in paths], table), report=report)


def _lake_loader(lake: LakeTable) -> Loader:
    """The loader of a lakehouse table whose files alone would read wrong (renamed columns,
    deleted rows: :func:`analysis.data.lakehouse.lake_source`)."""

    def load(store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress,
             cancel: CancelToken) -> Backing:
        source = lake_source(store, lake, data_table_name(view), FILE_ROW_ID, cancel)
        return Backing(source.rows, ident(FILE_ROW_ID), hidden=(FILE_ROW_ID,), pages=source.pages)
    return load


def _open_files(store: Store, files: LogFiles, table: str | None, progress: Progress,
                cancel: CancelToken, lake: LakeTable | None = None) -> Dataset:
    """Probe ``files`` in a child process, then register them as one view and describe it
    (``lake``: a lakehouse table whose files alone would read wrong)."""
    paths, file_format = files.paths, files.format
    progress(0.05, f"checking {len(paths)} file(s) in a separate process")
    probe_files(paths, file_format.value, cancel=cancel)
    cancel.raise_if_cancelled()
    view = store.new_name("ds")
    shape = detect_shape(paths, file_format is Format.PARQUET) if file_format in CAPTURE_FORMATS else None
    if lake is not None and lake.columns:  # the files hold physical names: recognise the table's
        shape = shape_of_columns([c.name for c in lake.columns])
    loader = (capture_loader(shape, file_format is Format.PARQUET, lake) if shape
              else _lake_loader(lake) if lake is not None else LOADERS[file_format])
    try:
        backing = loader(store, view, paths, table, scaled(progress, 0.1, 0.7), cancel)
        cancel.raise_if_cancelled()
        progress(0.7, "reading column types")
        fixes, notes, numbers = _type_fixes(store, backing, _describe(store, backing), cancel)
        _create_view(store, view, backing, fixes, cancel)
        columns = tuple(c for c in _describe_view(store, view) if c.name != ROW_ID)
        progress(0.85, "checking column contents")
        notes += _mixed_type_warnings(store, view, columns, fixes, numbers if _samples_first_rows(backing) else None,
                                      cancel)
        row_count = backing.rows if backing.rows is not None else int(
            store.scalar(f"SELECT count(*) FROM {ident(view)}", cancel))
    except duckdb.Error as exc:
        close_view(store, view)
        raise InputError(
            f"cannot be read as {file_format.value}: {_first_line(exc)}",
            file=str(paths[0]) if len(paths) == 1 else None,
        ) from exc
    except BaseException:
        close_view(store, view)
        raise
    progress(1.0, f"{row_count:,} rows")
    return Dataset(
        name=_default_name(paths, table),
        view=view,
        paths=tuple(str(p) for p in paths),
        format=shape.name if shape else file_format.value,
        columns=columns,
        row_count=row_count,
        report=LoadReport(tuple(backing.skipped), tuple(backing.warnings + notes)),
    )


def close_dataset(store: Store, dataset: Dataset) -> None:
    """Drop the dataset's view and whatever backs it (copied table, attached database)."""
    close_view(store, dataset.view)


def close_view(store: Store, view: str) -> None:
    store.execute(f"DROP MACRO TABLE IF EXISTS {ident(rows_macro_name(view))}")
    store.execute(f"DROP VIEW IF EXISTS {ident(view)}")
    store.execute(f"DROP VIEW IF EXISTS {ident(logged_view_name(view))}")
    store.execute(f"DROP TABLE IF EXISTS {ident(rules_table_name(view))}")
    store.execute(f"DROP VIEW IF EXISTS {ident(wide_view_name(view))}")
    store.execute(f"DROP TABLE IF EXISTS {ident(data_table_name(view))}")
    store.execute(f"DETACH DATABASE IF EXISTS {ident(attached_name(view))}")


def _default_name(paths: Sequence[Path], table: str | None) -> str:
    base = paths[0].stem if len(paths) == 1 else f"{paths[0].parent.name or paths[0].stem} ({len(paths)} files)"
    return f"{base}::{table}" if table else base


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- one loader per format -------------------------------------------------------------


def _load_parquet(
    store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress, cancel: CancelToken
) -> Backing:
    """A view straight over the files; ROW_ID = row in file + rows of the files before it.

    Several files are one ``UNION ALL BY NAME`` of per-file scans, each adding its constant
    offset (its files' row counts come from the Parquet metadata). A row-id range then reaches
    each file's reader as a ``file_row_number`` range: DuckDB proves the other files empty from
    their row-number statistics and reads one row group of the file that holds the page. One
    scan of all files numbered by ``CASE filename ... END`` read every file for every page
    (10.8 s for the first page of 100M rows in ten files). The row id is each branch's first
    column because a query that needs no column (``count(*)``) still keeps one per branch, the
    first: ``file_row_number`` is generated, not read, where a data column is read in full.
    The row count is the metadata's too: counting the view numbered every row of every file
    (twice per open of a 100M-row log, before the table's first page could show).
    """
    progress(0.0, "reading Parquet metadata")
    files = literal_list([str(p) for p in paths])
    counts = dict(store.rows(f"SELECT file_name, num_rows FROM parquet_file_metadata({files})", cancel))
    rows = sum(int(counts[str(path)]) for path in paths)
    if len(paths) == 1:
        source = f"read_parquet({literal(str(paths[0]))}, file_row_number=true)"
        return Backing(source, "file_row_number", hidden=("file_row_number",), rows=rows)
    offsets = list(accumulate((int(counts[str(path)]) for path in paths[:-1]), initial=0))
    if rows <= ROWS_PER_FILE_SCANNED_TOGETHER * len(paths):
        return replace(_one_parquet_scan(store, files, offsets, cancel), rows=rows)
    scans = [
        f"SELECT file_row_number + {offset} AS {ident(FILE_ROW_ID)}, * EXCLUDE (file_row_number) "
        f"FROM read_parquet({literal(str(path))}, file_row_number=true)"
        for path, offset in zip(paths, offsets)
    ]
    source = f"({' UNION ALL BY NAME '.join(scans)})"  # a rows macro over it: first rows read one file
    return Backing(source, ident(FILE_ROW_ID), hidden=(FILE_ROW_ID,), rows=rows, pages=source)


def _one_parquet_scan(store: Store, files: str, offsets: list[int], cancel: CancelToken) -> Backing:
    """Many small files as one scan, each row numbered by its file's offset (``file_index``
    is the file's place in the list). The schemas are read once, here: only when they differ
    does the scan unite columns by name, which would read every file's schema on every query."""
    schemas = store.scalar(
        f"SELECT count(DISTINCT columns) FROM (SELECT file_name, list((name, duckdb_type, num_children) "
        f"ORDER BY column_id) AS columns FROM parquet_schema({files}) WHERE column_id > 0 GROUP BY file_name)", cancel)
    by_name = "true" if int(schemas) > 1 else "false"
    first_rows = f"CAST({literal_list(offsets)} AS BIGINT[])[file_index::BIGINT + 1]"
    source = (f"(SELECT {first_rows} + file_row_number AS {ident(FILE_ROW_ID)}, * EXCLUDE (file_row_number) "
              f"FROM read_parquet({files}, file_row_number=true, union_by_name={by_name}))")
    return Backing(source, ident(FILE_ROW_ID), hidden=(FILE_ROW_ID,))


def _load_csv(
    store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress, cancel: CancelToken
) -> Backing:
    """Copy into a table, skipping malformed lines and listing them; retry Latin-1 if not UTF-8."""
    data = data_table_name(view)
    progress(0.0, "reading CSV")
    layouts = {path: csv_layout(path) for path in paths}
    with store.job_cursor(cancel) as cur:
        skipped = _read_csv_into(store, cur, data, layouts, encoding=None)
        not_utf8 = sorted({s.file for s in skipped if "ENCODING" in s.reason.upper()})
        warnings = [f"{path}: {note}" for path, layout in layouts.items() for note in layout.notes]
        if not_utf8:
            progress(0.5, "re-reading as Latin-1")
            cur.execute(f"DROP TABLE {ident(data)}")
            skipped = _read_csv_into(store, cur, data, layouts, encoding="latin-1")
            warnings.append(
                "not valid UTF-8, read as Latin-1 (check accented characters): "
                + ", ".join(not_utf8)
            )
        warnings += _quote_notes(cur, data, list(layouts))
    return Backing(ident(data), "rowid", skipped=skipped, warnings=warnings)


def _quote_notes(cur: duckdb.DuckDBPyConnection, data: str, paths: Sequence[Path]) -> list[str]:
    """Name the lines with an unterminated quote, when text values kept a leading quote mark
    (the only sign DuckDB gives; the files are scanned only then)."""
    texts = [name for name, dtype, *_ in cur.execute(f"DESCRIBE {ident(data)}").fetchall() if dtype == "VARCHAR"]
    if not texts:
        return []
    quoted = " OR ".join(f"starts_with({ident(c)}, '\"')" for c in texts)
    if not cur.execute(f"SELECT count(*) FROM {ident(data)} WHERE {quoted}").fetchone()[0]:
        return []
    notes = []
    for path in paths:
        lines = unterminated_quotes(path)
        if lines:
            notes.append(f"{path}: line(s) {', '.join(map(str, lines))} open a quote that is never closed, "
                         f"so quote marks were read as ordinary characters (values keep them)")
    return notes


def _read_csv_into(
    store: Store, cur: duckdb.DuckDBPyConnection, data: str, layouts: dict[Path, CsvLayout], encoding: str | None
) -> list[SkippedRow]:
    """Read each file with reject tracking (DuckDB refuses it together with union_by_name),
    then stack the per-file tables by column name."""
    skipped: list[SkippedRow] = []
    parts = []
    for path, layout in layouts.items():
        part = data if len(layouts) == 1 else store.new_name("csv_part")
        skipped += _read_one_csv(store, cur, part, path, layout, encoding)
        parts.append(part)
    if len(layouts) > 1:
        stacked = " UNION ALL BY NAME ".join(f"SELECT * FROM {ident(p)}" for p in parts)
        cur.execute(f"CREATE TABLE {ident(data)} AS {stacked}")
        for part in parts:
            cur.execute(f"DROP TABLE {ident(part)}")
    return skipped


def _read_one_csv(
    store: Store, cur: duckdb.DuckDBPyConnection, table: str, path: Path, layout: CsvLayout, encoding: str | None
) -> list[SkippedRow]:
    errors, scans = store.new_name("csv_rejects"), store.new_name("csv_scans")
    options = (
        f"ignore_errors=true, store_rejects=true, "
        f"rejects_table={literal(errors)}, rejects_scan={literal(scans)}{layout.read_csv_options()}"
    )
    if encoding:
        options += f", encoding={literal(encoding)}"
    with body_file(path, layout) as body:
        cur.execute(f"CREATE TABLE {ident(table)} AS SELECT * FROM read_csv({literal(str(body))}, {options})")
    rejected = cur.execute(
        f"SELECT line, error_type, error_message FROM {ident(errors)} ORDER BY line, column_idx"
    ).fetchall()
    return _one_per_line(str(path), rejected)


def _one_per_line(path: str, rejected: Sequence[tuple]) -> list[SkippedRow]:
    """One skipped row per line of the file, its reasons joined: DuckDB records one reject per
    error, and a line with two bad fields (or too many and a bad cast) is still one line lost."""
    reasons: dict[int | None, dict[str, str]] = {}
    for line, kind, message in rejected:
        found = reasons.setdefault(int(line) if line is not None else None, {})
        found.setdefault(kind.lower(), f"{kind.lower()}: {_first_line(message)}")
    return [SkippedRow(path, line, "; ".join(found.values())) for line, found in reasons.items()]


def _load_jsonl(
    store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress, cancel: CancelToken
) -> Backing:
    """Copy into a table; if some lines are not JSON objects, skip and list them."""
    data = data_table_name(view)
    layout = "array" if _first_char(paths[0]) == "[" else "newline_delimited"
    progress(0.0, "reading JSON")
    blank = next((p for p in paths if p.stat().st_size <= 2**16 and not p.read_bytes().strip(b" \t\r\n")), None)
    if blank is not None:
        raise InputError("the file is empty or holds only whitespace: no JSON records", file=str(blank))
    with store.job_cursor(cancel) as cur:
        try:
            _read_json_into(cur, data, paths, layout)
            return Backing(ident(data), "rowid")
        except duckdb.InvalidInputException as exc:
            duckdb_message = _first_line(exc)
        if layout == "newline_delimited":
            progress(0.3, "finding malformed JSON lines")
            with tempfile.TemporaryDirectory(prefix="sleuth-jsonl-") as folder:
                skipped, cleaned, kept = _without_malformed_lines(paths, Path(folder), cancel)
                if skipped and not kept:
                    first = skipped[0]
                    raise InputError(
                        f"no line is a JSON object: all {len(skipped):,} non-blank line(s) are malformed "
                        f"(line {first.line}: {first.reason})", file=first.file)
                if skipped:
                    _read_json_into(cur, data, cleaned, layout)
                    return Backing(ident(data), "rowid", skipped=skipped)
        progress(0.5, "reading the JSON with Python")
        return _read_json_with_python(cur, data, paths, duckdb_message)


def _read_json_with_python(cur: duckdb.DuckDBPyConnection, data: str, paths: Sequence[Path],
                           duckdb_message: str) -> Backing:
    """Valid JSON DuckDB refused (see :mod:`analysis.data.json_fallback`), or its message when
    the files are too large to read in Python."""
    too_large = next((p for p in paths if p.stat().st_size > MAX_FALLBACK_BYTES), None)
    if too_large is not None:
        raise InputError(f"not valid JSON: {duckdb_message}", file=str(too_large))
    tables, warnings = [], []
    for path in paths:
        table, notes = read_json_records(path)
        tables.append(table)
        warnings += [f"{path}: {note}" for note in notes]
    combined = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    registered = f"{data}_records"
    cur.register(registered, combined)
    try:
        cur.execute(f"CREATE TABLE {ident(data)} AS SELECT * FROM {ident(registered)}")
    finally:
        cur.unregister(registered)
    return Backing(ident(data), "rowid", warnings=warnings)


def _read_json_into(cur: duckdb.DuckDBPyConnection, data: str, paths: Sequence[Path], layout: str) -> None:
    files = literal_list([str(p) for p in paths])
    cur.execute(
        f"CREATE TABLE {ident(data)} AS SELECT * FROM "
        f"read_json({files}, format={literal(layout)}, union_by_name=true)"
    )


def _first_char(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")[:1].decode("ascii", "replace")


def _without_malformed_lines(
    paths: Sequence[Path], folder: Path, cancel: CancelToken
) -> tuple[list[SkippedRow], list[Path], int]:
    """Copies of ``paths`` holding only their JSON-object lines, the lines left out, and how
    many were kept (none: the file is no JSON log, e.g. random bytes)."""
    skipped: list[SkippedRow] = []
    cleaned: list[Path] = []
    kept = 0
    for index, path in enumerate(paths):
        cancel.raise_if_cancelled()
        target = folder / f"{index}_{path.name}"
        with open(path, encoding="utf-8", errors="replace") as source, open(target, "w", encoding="utf-8") as out:
            for number, line in enumerate(source, start=1):
                if not line.strip():
                    continue
                reason = _json_object_problem(line)
                if reason:
                    skipped.append(SkippedRow(str(path), number, reason))
                else:
                    kept += 1
                    out.write(line if line.endswith("\n") else line + "\n")
        cleaned.append(target)
    return skipped, cleaned, kept


def _json_object_problem(line: str) -> str | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "JSON nested too deeply to read"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    return None


def _load_arrow(
    store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress, cancel: CancelToken
) -> Backing:
    """Read with pyarrow (memory-mapped) and copy into a table."""
    tables = []
    for index, path in enumerate(paths):
        cancel.raise_if_cancelled()
        progress(index / len(paths), f"reading {path.name}")
        tables.append(_read_arrow_file(path))
    combined = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    data = data_table_name(view)
    registered = store.new_name("arrow")
    progress(0.9, "copying into DuckDB")
    with store.job_cursor(cancel) as cur:
        cur.register(registered, combined)
        try:
            cur.execute(f"CREATE TABLE {ident(data)} AS SELECT * FROM {ident(registered)}")
        finally:
            cur.unregister(registered)
    return Backing(ident(data), "rowid")


def _read_arrow_file(path: Path) -> pa.Table:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if magic.startswith(b"FEA1"):
            return feather.read_table(str(path), memory_map=True)
        source = pa.memory_map(str(path))
        if magic == b"ARROW1":
            return pa.ipc.open_file(source).read_all()
        return pa.ipc.open_stream(source).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Arrow/Feather file: {_first_line(exc)}", file=str(path)) from exc


def _load_duckdb(
    store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress, cancel: CancelToken
) -> Backing:
    """Attach read-only and use the named table, the only table, or the largest one."""
    path = str(paths[0])
    alias = attached_name(view)
    store.execute(f"ATTACH {literal(path)} AS {ident(alias)} (READ_ONLY)", cancel)
    found = store.rows(
        Sql("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
            "ORDER BY schema_name, table_name", (alias,)),
        cancel,
    )
    if not found:
        raise InputError("this DuckDB database holds no table", file=path)
    qualified = {f"{schema}.{name}": f"{ident(alias)}.{ident(schema)}.{ident(name)}" for schema, name in found}
    short = {name: key for (schema, name), key in zip(found, qualified)}
    warnings = []
    if table is not None:
        key = table if table in qualified else short.get(table)
        if key is None:
            raise InputError(
                f"has no table '{table}'; its tables: " + ", ".join(short), file=path
            )
    else:
        sizes = {key: int(store.scalar(f"SELECT count(*) FROM {source}", cancel)) for key, source in qualified.items()}
        key = max(sizes, key=lambda k: sizes[k])
        if len(sizes) > 1:
            others = ", ".join(k.split(".", 1)[1] for k in sizes if k != key)
            warnings.append(
                f"{Path(path).name} holds {len(sizes)} tables; showing '{key.split('.', 1)[1]}' "
                f"(the largest, {sizes[key]:,} rows). Others: {others}. "
                f"Open '{Path(path).name}::<table>' to choose one."
            )
    source = qualified[key]
    dense = store.scalar(f"SELECT count(*) = coalesce(max(rowid) + 1, 0) FROM {source}", cancel)
    if not dense:
        progress(0.5, "copying table (its row ids have gaps)")
        data = data_table_name(view)
        store.execute(f"CREATE TABLE {ident(data)} AS SELECT * FROM {source}", cancel)
        source = ident(data)
    return Backing(source, "rowid", warnings=warnings)


Loader = Callable[[Store, str, Sequence[Path], "str | None", Progress, CancelToken], Backing]

CAPTURE_FORMATS = (Format.JSONL, Format.PARQUET)
"""Formats serving systems write their captures in (:mod:`analysis.data.serving`)."""


def capture_loader(shape: Shape, is_parquet: bool, lake: LakeTable | None = None) -> Loader:
    """A loader that unpacks a serving system's capture into one row per prediction; a
    lakehouse ``lake`` (a Databricks inference table with deletion vectors) is read through its
    view's source, so deleted requests stay out."""

    def load(store: Store, view: str, paths: Sequence[Path], table: str | None, progress: Progress,
             cancel: CancelToken) -> Backing:
        data = data_table_name(view)
        ranks = f"{view}_lake_ranks"
        try:
            rows = None if lake is None else lake_source(store, lake, ranks, FILE_ROW_ID, cancel).rows
            found = open_capture(store, data, paths, is_parquet, shape, progress, cancel,
                                 rows and LakeRows(rows, FILE_ROW_ID, str(lake.folder)))
        finally:
            store.execute(f"DROP TABLE IF EXISTS {ident(ranks)}")
        return Backing(ident(data), "rowid", skipped=found.skipped, warnings=found.notes)

    return load


LOADERS: dict[Format, Loader] = {
    Format.PARQUET: _load_parquet,
    Format.CSV: _load_csv,
    Format.JSONL: _load_jsonl,
    Format.ARROW: _load_arrow,
    Format.DUCKDB: _load_duckdb,
}


# --- the view and its column types -----------------------------------------------------


def _star(backing: Backing) -> str:
    return "*" + (f" EXCLUDE ({', '.join(ident(h) for h in backing.hidden)})" if backing.hidden else "")


def _describe(store: Store, backing: Backing) -> list[Column]:
    rows = store.rows(f"DESCRIBE SELECT {_star(backing)} FROM {backing.source}")
    return [Column(name, dtype) for name, dtype, *_ in rows]


def _describe_view(store: Store, view: str) -> list[Column]:
    return [Column(name, dtype) for name, dtype, *_ in store.rows(f"DESCRIBE {ident(view)}")]


def _create_view(store: Store, view: str, backing: Backing, fixes: dict[str, str], cancel: CancelToken) -> None:
    star = _star(backing)
    if fixes:
        star += " REPLACE (" + ", ".join(f"{expr} AS {ident(col)}" for col, expr in fixes.items()) + ")"
    store.execute(
        f"CREATE VIEW {ident(view)} AS SELECT {star}, {backing.row_id} AS {ident(ROW_ID)} "
        f"FROM {backing.source}",
        cancel,
    )
    if backing.pages is not None:
        store.execute(
            f"CREATE MACRO {ident(rows_macro_name(view))}({PAGE_FROM}, {PAGE_TO}) AS TABLE "
            f"SELECT {star}, {backing.row_id} AS {ident(ROW_ID)} FROM {backing.pages} "
            f"WHERE {backing.row_id} >= {PAGE_FROM} AND {backing.row_id} < {PAGE_TO}",
            cancel,
        )


def _is_number_type(dtype: str) -> bool:
    return dtype.upper().split("(")[0] in NUMERIC_TYPES


def _type_fixes(
    store: Store, backing: Backing, columns: list[Column], cancel: CancelToken
) -> tuple[dict[str, str], list[str], dict[str, tuple[int, int]]]:
    """Expressions that re-type columns in the view (by column name), notes that matter, and per
    text column of the sample its (values, values that are numbers), which the mixed-type
    warnings read (:func:`_mixed_type_warnings`) instead of counting them again.

    Queries over the first rows decide (layout by layout only for text columns holding a
    date-like value, see :func:`_timestamp_probes`): a text column whose every value parses as a
    timestamp becomes one; an integer column named like a time whose values are plausible
    epoch seconds/milliseconds/microseconds becomes a TIMESTAMP (UTC); a text column named
    like a score whose values are mostly numbers becomes DOUBLE (:func:`_score_as_numbers`).
    Whether a text column may hold dates is asked of its distinct values (a failed
    ``TRY_CAST`` to TIMESTAMP costs ~0.35 µs, and most text columns repeat a few values).
    """
    fixes = {c.name: f"CAST({ident(c.name)} AS VARCHAR)" for c in columns if c.dtype.upper() == "UUID"}
    texts = [c.name for c in columns if c.dtype.upper() == "VARCHAR"]
    epochs = [c.name for c in columns if _is_number_type(c.dtype) and looks_like_time(c.name)]
    if not texts and not epochs:
        return fixes, [], {}
    first = (f"WHERE {backing.row_id} < {TYPE_SAMPLE_ROWS}" if backing.pages == backing.source  # see first_rows
             else f"LIMIT {TYPE_SAMPLE_ROWS}")
    sample = f"(SELECT {_star(backing)} FROM {backing.source} {first})"
    by_name = {c.name: c for c in columns}
    values, probes = _sample_counts(store, sample, [by_name[col] for col in texts], [by_name[col] for col in epochs],
                                    cancel)
    notes: list[str] = []
    counts = {col: values[3 * i: 3 * i + 3] for i, col in enumerate(texts)}
    del values[: 3 * len(texts)]
    for col in texts:
        present, numeric, _ = counts[col]
        iso, zoned, by_format, any_format = probes.get(col, (0, 0, [0] * len(TEXT_TIMESTAMP_FORMATS), 0))
        fix = (_text_timestamp(col, present, iso, zoned, by_format, notes)
               or _mixed_formats(col, present, any_format, notes)
               or _score_as_numbers(store, backing, col, present, numeric, notes, cancel))
        if fix:
            fixes[col] = fix
    for col in epochs:
        low, high, implausible = values[:3]
        del values[:3]
        fix = _epoch_timestamp(col, low, high, notes) or _mixed_epochs(col, low, high, implausible, notes)
        if fix:
            fixes[col] = fix
    return fixes, notes, {col: (present, numeric) for col, (present, numeric, _) in counts.items()}


KEPT_TYPE_SAMPLES = 64
"""Type samples whose counts a process keeps (:func:`_sample_counts`), the least recently used
dropped first (a few hundred bytes each)."""

_kept_counts = KeptResults(KEPT_TYPE_SAMPLES)


def _sample_counts(store: Store, sample: str, texts: list[Column], epochs: list[Column],
                   cancel: CancelToken) -> tuple[list, dict[str, tuple]]:
    """What :func:`_type_fixes` decides from (:func:`_counted`), kept per process by what it is
    a function of: the columns' names and types and the sample's rows in them (their count and
    the sum of their hashes). The same log is opened again and again (a queue's intake, a
    reference, a window reopened), and hashing the sample costs a third of counting it (8 of
    24 ms for the 200k-row demo's six text columns). A float's sign is not hashed: an
    epoch-named column's counts are compared with bounds, where -0.0 is 0.0."""
    hashed = ", ".join(ident(c.name) for c in [*texts, *epochs])
    rows, content = store.rows(f"SELECT count(*), sum(hash({hashed})) FROM {sample}", cancel)[0]
    key = (tuple((c.name, c.dtype) for c in texts), tuple((c.name, c.dtype) for c in epochs), int(rows),
           int(content or 0))
    kept = _kept_counts.get(key)
    if kept is None:
        kept = _counted(store, sample, [c.name for c in texts], [c.name for c in epochs], cancel)
        _kept_counts.keep(key, kept)
    values, probes = kept
    return list(values), probes


def _counted(store: Store, sample: str, texts: list[str], epochs: list[str],
             cancel: CancelToken) -> tuple[tuple, dict[str, tuple]]:
    """Per text column of ``sample`` its values, numbers and distinct date-like values, then per
    epoch-named column its smallest, largest and implausible values, in one row; and the
    timestamp probes (:func:`_timestamp_probes`) of the text columns with a date-like value."""
    parts: list[str] = []
    params: list[object] = []
    date_like = "lambda v: TRY_CAST(v AS TIMESTAMP) IS NOT NULL OR regexp_matches(v, ?)"
    for col in texts:
        q = ident(col)
        parts += [f"count({q})", f"count(TRY_CAST({q} AS DOUBLE))", f"len(list_filter(list_distinct(list({q})), {date_like}))"]
        params.append(DATE_LIKE_PATTERN)
    for col in epochs:
        plausible = f"{ident(col)} >= 0 AND {ident(col)} < {EPOCH_UNITS[-1][1]}"
        parts += [f"min({ident(col)})", f"max({ident(col)})", f"count(*) FILTER (WHERE NOT ({plausible}))"]
    values = tuple(store.rows(Sql(f"SELECT {', '.join(parts)} FROM {sample}", tuple(params)), cancel)[0])
    date_like_texts = [col for i, col in enumerate(texts) if values[3 * i + 2]]
    return values, _timestamp_probes(store, sample, date_like_texts, cancel)


def _timestamp_probes(store: Store, sample: str, texts: list[str], cancel: CancelToken) -> dict[str, tuple]:
    """Per text column that may hold dates: (ISO timestamps, those with a zone, parses by each
    layout of :data:`TEXT_TIMESTAMP_FORMATS`, parses by any layout), counted over the sample.

    Only columns with a date-like value are probed: a failed ``try_strptime`` costs ~1.6 µs,
    and trying every layout on every text column took ~1.7 s over the 10,000-row sample of a
    log with six text columns (ids, versions, categories), most of a large log's open.
    """
    if not texts:
        return {}
    parts: list[str] = []
    params: list[object] = []
    for col in texts:
        q = ident(col)
        parts += [f"count(TRY_CAST({q} AS TIMESTAMP))", f"count(*) FILTER (WHERE regexp_matches({q}, ?))"]
        params.append(ZONE_PATTERN)
        for fmt in TEXT_TIMESTAMP_FORMATS:
            parts.append(f"count(try_strptime({q}, ?))")
            params.append(fmt)
        parts.append(f"count({_any_timestamp_format(q)})")
    values = list(store.rows(Sql(f"SELECT {', '.join(parts)} FROM {sample}", tuple(params)), cancel)[0])
    width = 3 + len(TEXT_TIMESTAMP_FORMATS)
    probes = {}
    for i, col in enumerate(texts):
        iso, zoned, *by_format, any_format = values[width * i: width * (i + 1)]
        probes[col] = (iso, zoned, by_format, any_format)
    return probes


def _text_timestamp(col: str, present: int, iso: int, zoned: int, by_format: list[int], notes: list[str]) -> str | None:
    if present == 0:
        return None
    q = ident(col)
    if iso == present:
        return f"TRY_CAST({q} AS TIMESTAMPTZ)" if zoned else f"TRY_CAST({q} AS TIMESTAMP)"
    for fmt, parsed in zip(TEXT_TIMESTAMP_FORMATS, by_format):
        if parsed == present:
            notes.append(f"column '{col}' read as timestamps written {fmt}")
            return f"try_strptime({q}, {literal(fmt)})"
    return None


def _epoch_timestamp(col: str, low, high, notes: list[str]) -> str | None:
    """An integer column with a time-like name, read as epoch seconds, milliseconds or
    microseconds from 1970 on (the unit picked by the magnitude of its values)."""
    if low is None or high is None or low < 0 or high < EPOCH_SMALLEST_LARGEST:
        return None
    unit = _epoch_unit(high)
    if unit is None or unit != _epoch_unit(max(low, EPOCH_SMALLEST_LARGEST)):
        return None  # one unit per value (see _mixed_epochs), or no epoch at all
    name, _, micros = EPOCH_UNITS[unit]
    notes.append(f"column '{col}' read as epoch {name} (UTC)")
    return f"make_timestamp(CAST({ident(col)} * {micros} AS BIGINT))"


def _epoch_unit(value) -> int | None:
    """The index in :data:`EPOCH_UNITS` of the unit a value's magnitude says, None past them all."""
    return next((i for i, (_, bound, _) in enumerate(EPOCH_UNITS) if value < bound), None)


def _any_timestamp_format(q: str) -> str:
    formats = literal_list(TEXT_TIMESTAMP_FORMATS)
    return f"coalesce(TRY_CAST({q} AS TIMESTAMP), try_strptime({q}, {formats}))"


def _mixed_formats(col: str, present: int, any_format: int, notes: list[str]) -> str | None:
    """Every value a timestamp, but in more than one format (logs from two services)."""
    if present == 0 or any_format != present:
        return None
    notes.append(f"column '{col}' mixes timestamp formats: each value read with the first format it fits "
                 f"(ISO, then {', '.join(TEXT_TIMESTAMP_FORMATS)})")
    return _any_timestamp_format(ident(col))


def _mixed_epochs(col: str, low, high, implausible: int, notes: list[str]) -> str | None:
    """Epoch seconds mixed with milliseconds (or microseconds): the smallest and largest values
    fall in different units' ranges (:data:`EPOCH_UNITS`), so each value's magnitude says its
    unit. Values below 1973 in seconds are read as seconds (see the bounds' docstring)."""
    if low is None or high is None or implausible or low < 0 or high < EPOCH_SMALLEST_LARGEST:
        return None
    first, last = _epoch_unit(max(low, EPOCH_SMALLEST_LARGEST)), _epoch_unit(high)
    units = [name for name, _, _ in EPOCH_UNITS[first:last + 1]]
    notes.append(f"column '{col}' mixes epoch {' and '.join(units)}: each value read by its magnitude (UTC)")
    q = ident(col)
    cases = " ".join(f"WHEN {q} < {bound} THEN {q} * {micros}" for _, bound, micros in EPOCH_UNITS)
    return f"make_timestamp(CAST(CASE {cases} END AS BIGINT))"


def _score_as_numbers(store: Store, backing: Backing, col: str, present: int, numeric: int,
                      notes: list[str], cancel: CancelToken) -> str | None:
    """A score column (by its name) that is mostly numbers, read as numbers: the few cells that
    are not (``not-a-number``, ``#N/A``) become missing and are counted and named, instead of one
    of them turning the whole column into text and every metric away."""
    if not (present and looks_like_score(col) and numeric / present >= MOSTLY_NUMERIC_SHARE):
        return None
    stray = _stray_text(store, backing.source, backing.row_id, col, cancel)
    if stray:
        count, example, row = stray
        notes.append(f"column '{col}' read as numbers: {count:,} value(s) are not numbers and count as "
                     f"invalid (missing), e.g. {example!r} at row {row}")
    return f"TRY_CAST({ident(col)} AS DOUBLE)"


def _samples_first_rows(backing: Backing) -> bool:
    """Whether the type fixes' sample (:func:`_type_fixes`) holds the view's first rows, the rows
    :func:`analysis.window.first_rows` gives: a ``LIMIT`` of a source read in its order, or the
    ROW_ID range of a many-file Parquet log. Not so for a lakehouse table with deleted rows,
    whose rows come out of a join in no set order."""
    return backing.pages is None or backing.pages == backing.source


def _mixed_type_warnings(
    store: Store, view: str, columns: Sequence[Column], fixes: dict[str, str],
    numbers: dict[str, tuple[int, int]] | None, cancel: CancelToken
) -> list[str]:
    """Warn about text columns that are mostly numbers: a few stray values made them text.
    ``numbers``: each text column's (values, numbers) among the view's first rows, when the type
    fixes counted them there (:func:`_samples_first_rows`); None counts them here."""
    texts = [c.name for c in columns if c.dtype.upper() == "VARCHAR" and c.name not in fixes]
    if not texts:
        return []
    if numbers is None:
        sample = first_rows(store, view, TYPE_SAMPLE_ROWS)
        parts = [f"count({ident(c)}), count(TRY_CAST({ident(c)} AS DOUBLE))" for c in texts]
        counts = store.rows(f"SELECT {', '.join(parts)} FROM {sample}", cancel)[0]
        numbers = {col: (counts[2 * index], counts[2 * index + 1]) for index, col in enumerate(texts)}
    warnings = []
    for col in texts:
        present, numeric = numbers[col]
        if present and numeric / present >= MOSTLY_NUMERIC_SHARE:
            stray = _stray_text(store, ident(view), ident(ROW_ID), col, cancel)
            if stray:
                count, example, row = stray
                warnings.append(f"column '{col}' is mostly numeric but {count:,} value(s) are not numbers "
                                f"(e.g. {example!r} at row {row}), so it was read as text")
    return warnings


def _stray_text(store: Store, source: str, row_id: str, col: str,
                cancel: CancelToken) -> tuple[int, str, int] | None:
    """How many values of a text column are not numbers, with the first one and its row."""
    q = ident(col)
    stray = f"{q} IS NOT NULL AND TRY_CAST({q} AS DOUBLE) IS NULL"
    count, example, example_row = store.rows(
        f"SELECT count(*) FILTER (WHERE {stray}), arg_min({q}, {row_id}) FILTER (WHERE {stray}), "
        f"min({row_id}) FILTER (WHERE {stray}) FROM {source}",
        cancel,
    )[0]
    return (int(count), example, int(example_row)) if count else None
