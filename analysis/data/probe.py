"""Read each file once in a throw-away child process before Sleuth's own connection does.

Some malformed files make DuckDB segfault, hang, or invalidate the connection that read them,
and a few-KB Parquet file can decompress to gigabytes. Opening a file the user picked must
never take the window (or the workspace) down, so a child process with a time limit and an
address-space limit reads every file's schema, and the first rows of the first, first. One child, and in it one
DuckDB connection, serves all the files of one open call, because starting Python and opening a
connection cost more than the reads: a connection per file took 45 s for a folder of 1,000 small
Parquet files. A file that fails gets a fresh connection for the next (the failure may have
invalidated the old one).

The child prints one JSON line per file it finished; when it dies, the first file without a
line is the one that killed it. The time limit is per file: it runs from the child's start or
its last finished file, so a folder of many good files is never refused for its size.

Of a Parquet log's later files the child reads the footer (schema and row groups) and no rows:
the open reads rows from the first file alone (its profile, types and first page go by row id),
and the first rows of every file cost a row group's decoding each (0.3 CPU-s for a 10M-row log
of nine files). A later file whose footer crashes or exhausts the reader is still caught and
named; one whose pages alone are damaged is met by Sleuth's own reader when a query reaches
them, as an error for that query, like a damaged page past a file's first rows always was.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from analysis.errors import InputError
from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled
from analysis.query import literal

if TYPE_CHECKING:
    import subprocess

PROBE_TIMEOUT_SECONDS = 20.0
PROBE_ADDRESS_SPACE_BYTES = 3 * 2**30
PROBE_DUCKDB_MEMORY = "512MB"
PROBE_ROWS = 5
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ProbedFile:
    path: str
    ok: bool
    error: str = ""


def probe_files(
    paths: Sequence[Path],
    file_format: str,
    *,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    cancel: CancelToken = NEVER_CANCELLED,
) -> None:
    """Raise :class:`InputError` naming the first file that a fresh DuckDB cannot read safely."""
    request = json.dumps({"format": file_format, "paths": [str(p) for p in paths]})
    results = _run_child(request, paths, timeout, cancel)
    for result in results:
        if not result.ok:
            raise InputError(f"cannot be read as {file_format}: {result.error}", file=result.path)


def _run_child(
    request: str, paths: Sequence[Path], timeout: float, cancel: CancelToken
) -> list[ProbedFile]:
    """The child's verdicts on ``paths``. The modules only this side uses are imported here (and
    the CSV reader's in :func:`_csv_options`, for CSV files only): the child runs this module,
    and importing them cost it 0.009 CPU-s of its 0.1 per open (0.055 to 0.046 for the import)."""
    import subprocess

    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding the analysis package
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with subprocess.Popen(
        # -P: the child imports this analysis package (PYTHONPATH), not one in the working directory
        [sys.executable, "-P", "-m", "analysis.data.probe", str(PROBE_ADDRESS_SPACE_BYTES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=0,  # unbuffered: nothing is left to flush into a pipe whose reader died
        env=env,
    ) as child:  # leaving closes the pipes and waits for the child
        try:
            child.stdin.write(request.encode())
            child.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once: its missing lines name the culprit below
        stdout = _read_lines(child, paths, timeout, cancel)
    results = _parse(stdout)
    if child.returncode != 0 and len(results) < len(paths):
        culprit = _first_unfinished(stdout, paths)
        raise InputError(
            "reading this file crashed the reader (or exceeded its memory limit); "
            "it is probably malformed",
            file=culprit,
        )
    return results


def _read_lines(child: subprocess.Popen, paths: Sequence[Path], timeout: float,
                cancel: CancelToken) -> str:
    """The child's output until it ends; kill it when a file takes longer than ``timeout``
    (counted from the last line it printed) or when ``cancel`` fires."""
    import selectors
    import time

    output = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while True:
            if selector.select(min(_POLL_SECONDS, timeout)):
                chunk = os.read(child.stdout.fileno(), 1 << 16)
                if not chunk:
                    return output.decode(errors="replace")
                if b"\n" in chunk:
                    deadline = time.monotonic() + timeout
                output += chunk
            elif cancel.cancelled or time.monotonic() > deadline:
                child.kill()
                child.wait()
                if cancel.cancelled:
                    raise Cancelled() from None
                raise InputError(
                    f"reading this file took longer than {timeout:.0f} s; it may be malformed",
                    file=_first_unfinished(output.decode(errors="replace"), paths),
                ) from None


def _parse(stdout: str) -> list[ProbedFile]:
    results = []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "path" in data:
            results.append(ProbedFile(data["path"], bool(data.get("ok")), data.get("error", "")))
    return results


def _first_unfinished(stdout: str, paths: Sequence[Path]) -> str:
    done = {r.path for r in _parse(stdout)}
    return next((str(p) for p in paths if str(p) not in done), str(paths[-1]))


def _probe_sql(file_format: str, path: str) -> str:
    """The statement the child runs for one file: read its schema and first rows."""
    source = {
        "parquet": f"read_parquet({literal(path)})",
        "csv": f"read_csv({literal(path)}, ignore_errors=true{_csv_options(path)})",
        "jsonl": f"read_json({literal(path)}, format='newline_delimited', ignore_errors=true)",
    }[file_format]
    return f"SELECT * FROM {source} LIMIT {PROBE_ROWS}"


def _csv_options(path: str) -> str:
    """The loader's options for this CSV (lines to skip, mixed line endings), so both read alike."""
    from analysis.data.csv_dialect import csv_layout

    try:
        return csv_layout(Path(path)).read_csv_options()
    except InputError:
        return ""  # no table at all: the loader refuses it with its sentence


def _connect():
    """The child's connection. It comes from DuckDB's engine module ``_duckdb``, which the ``duckdb``
    package re-exports (so in every version Sleuth takes, from 1.4), not from the package: the
    package's own Python layer (relations, expressions, its version lookup), which nothing here
    uses, was half the child's CPU (0.09 of 0.18 CPU-s per open)."""
    import _duckdb

    return _duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": PROBE_DUCKDB_MEMORY,
            "threads": 2,
        },
    )


def _probe_one(con, file_format: str, path: str, first: bool = True) -> None:
    """Read ``path`` as the loader will; of a Parquet file after the first, its footer only."""
    if file_format == "arrow":
        _probe_arrow(path)
    elif file_format == "duckdb":
        alias = "probed"
        con.execute(f"ATTACH {literal(path)} AS {alias} (READ_ONLY)")
        try:
            tables = con.execute(
                f"SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = '{alias}'"
            ).fetchall()
            for schema, table in tables:
                quoted = '"' + schema.replace('"', '""') + '"."' + table.replace('"', '""') + '"'
                con.execute(f"SELECT * FROM {alias}.{quoted} LIMIT {PROBE_ROWS}").fetchall()
        finally:
            con.execute(f"DETACH {alias}")
    elif file_format == "parquet" and not first:
        _check_list_levels(con, path, _read_footer(con, path))
    else:
        con.execute(_probe_sql(file_format, path)).fetchall()
        if file_format == "parquet":
            _check_list_levels(con, path, _parquet_columns(con, path))


def _parquet_columns(con, path: str) -> list[tuple[str, str]]:
    """A Parquet file's columns and their types, as the loader's scan binds them."""
    return [(name, dtype) for name, dtype, *_ in
            con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(path)})").fetchall()]


def _read_footer(con, path: str) -> list[tuple[str, str]]:
    """Parse a Parquet file's footer as the loader's scan binds it: its schema (the columns and
    their types, which the view's union reads, returned for :func:`_check_list_levels`, which
    described the file a second time before) and its row groups' metadata (which the row
    counts and the page bounds read), without decoding a page."""
    columns = _parquet_columns(con, path)
    con.execute(f"SELECT count(*), sum(num_values) FROM parquet_metadata({literal(path)})").fetchall()
    return columns


def _check_list_levels(con, path: str, columns: list[tuple[str, str]]) -> None:
    """Decode every list column and compare with what the writer recorded in the footer.

    A list's rows are cut from its values by repetition levels (and nulls marked by definition
    levels). Corrupt levels still decode, into other lists, so DuckDB reads garbage as data.
    The footer, written apart from the pages, counts each column's level entries
    (``num_values``: one per value, and one per empty or null list) and its nulls; decoded
    lists that disagree with those counts are corrupt. Only lists of plain values are checked
    (deeper nesting has no such simple count), and only files that have lists pay for the read.
    ``columns``: the file's columns and their types (:func:`_parquet_columns`).
    """
    source = f"read_parquet({literal(path)})"
    lists = [name for name, dtype in columns
             if dtype.endswith("[]") and dtype.count("[") == 1 and not dtype.startswith(("STRUCT", "MAP", "UNION"))]
    if not lists:
        return
    recorded = {
        column: (int(levels), None if nulls is None else int(levels) - int(nulls))
        for column, leaves, levels, nulls in con.execute(
            "SELECT path_in_schema[1] AS top, count(DISTINCT path_in_schema), sum(num_values), sum(stats_null_count) "
            f"FROM (SELECT string_split(path_in_schema, ', ') AS path_in_schema, num_values, stats_null_count "
            f"FROM parquet_metadata({literal(path)})) GROUP BY top"
        ).fetchall()
        if leaves == 1
    }
    for column in (c for c in lists if c in recorded):
        q = '"' + column.replace('"', '""') + '"'
        decoded = con.execute(
            f"SELECT sum(greatest(coalesce(len({q}), 0), 1)), "
            f"sum(len(list_filter({q}, lambda v: v IS NOT NULL))) FROM {source}"
        ).fetchone()
        levels, values = recorded[column]
        if int(decoded[0] or 0) != levels or (values is not None and int(decoded[1] or 0) != values):
            raise ValueError(
                f"list column '{column}' is corrupt: its pages decode to {int(decoded[0] or 0)} entries and "
                f"{int(decoded[1] or 0)} values where the file's footer records {levels} and "
                f"{values if values is not None else 'an unknown number'} (damaged repetition or definition levels)"
            )


def _probe_arrow(path: str) -> None:
    """Read the schema and first batch without memory-mapping (a mapping counts as memory)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"FEA1"):
        feather.read_table(path, memory_map=False)
        return
    with pa.OSFile(path) as source:
        if magic == b"ARROW1":
            reader = pa.ipc.open_file(source)
            if reader.num_record_batches:
                reader.get_batch(0)
        else:
            next(iter(pa.ipc.open_stream(source)), None)


def probe_each(file_format: str, paths: Sequence[str]) -> Iterator[ProbedFile]:
    """Read each file as the loader will, in this process, and say how each went, in turn.

    What the child runs (:func:`_child_main`); in-process it has none of the child's guards
    (the memory limit, the time limit, a crash kept out of Sleuth's process), so Sleuth itself
    never calls it: tests of files that are read, not of a reader crashing, do (one Python
    start and DuckDB import less per open). A failure gets a fresh connection for the next file.
    """
    con = _connect()
    try:
        for index, path in enumerate(paths):
            try:
                _probe_one(con, file_format, path, first=index == 0)
                result = ProbedFile(path, True)
            except MemoryError:
                result = ProbedFile(path, False, "reading it needs too much memory")
            except Exception as exc:
                result = ProbedFile(path, False, str(exc).strip().splitlines()[0])
            if not result.ok:
                con.close()
                con = _connect()
            yield result
    finally:
        con.close()


def _child_main(address_space_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))
    request = json.loads(sys.stdin.read())
    for result in probe_each(request["format"], request["paths"]):
        line = {"path": result.path, "ok": True} if result.ok else \
            {"path": result.path, "ok": False, "error": result.error}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
