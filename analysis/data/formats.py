"""Which files the user meant, and what format they are in.

The user types files, folders and globs; :func:`resolve_inputs` turns them into a sorted list
of data files and :func:`detect_format` names the one format they share. The format comes from
the file's first bytes when they say it (a ``.csv`` that is really Parquet is read as
Parquet), and from the extension otherwise (text formats carry no magic bytes).
"""

from __future__ import annotations

import glob
import re
from enum import Enum
from pathlib import Path
from typing import Sequence

from analysis.errors import InputError


class Format(str, Enum):
    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"
    ARROW = "arrow"
    DUCKDB = "duckdb"


EXTENSIONS = {
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".csv": Format.CSV,
    ".tsv": Format.CSV,
    ".txt": Format.CSV,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSONL,
    ".arrow": Format.ARROW,
    ".arrows": Format.ARROW,  # the Arrow IPC stream format
    ".feather": Format.ARROW,
    ".ipc": Format.ARROW,
    ".duckdb": Format.DUCKDB,
    ".db": Format.DUCKDB,
    ".log": Format.JSONL,
}

ROTATED = re.compile(r"^\.\d{4}-\d{2}-\d{2}(_\d{2}(-\d{2})*)?$")
"""The suffix Python's TimedRotatingFileHandler gives a rotated log file."""

TABLE_SEPARATOR = "::"
"""``logs.duckdb::predictions`` opens table ``predictions`` of a DuckDB database file."""

SQLITE_HEADER = b"SQLite format 3\x00"


def split_table(spec: str) -> tuple[str, str | None]:
    """``path::table`` -> (path, table); any other spec -> (spec, None)."""
    path, sep, table = str(spec).rpartition(TABLE_SEPARATOR)
    if sep and table and Path(path).suffix.lower() in (".duckdb", ".db"):
        return path, table
    return str(spec), None


def is_supported(path: Path) -> bool:
    return extension(path) in EXTENSIONS


def extension(path: Path) -> str:
    """The format's extension, looking through a ``.gz`` (capture logs are often gzipped) and a
    log rotation's date (``data.0.log.2026-11-21``, as BentoML's monitor writes)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) > 1 and (suffixes[-1] == ".gz" or ROTATED.match(suffixes[-1])):
        return suffixes[-2]
    return path.suffix.lower()


def resolve_inputs(specs: Sequence[str]) -> list[Path]:
    """Expand files, folders (recursively) and globs into data files, in a stable order.

    A spec that names nothing raises :class:`InputError` naming it, so a typo in one of
    several globs is not silently ignored. Duplicates are kept once, first position wins.
    """
    if isinstance(specs, (str, Path)):
        specs = [str(specs)]
    if not specs:
        raise InputError("no file, folder or glob was given")
    found: list[Path] = []
    for spec in specs:
        found.extend(_expand(str(spec)))
    return list(dict.fromkeys(found))


def _expand(spec: str) -> list[Path]:
    if glob.has_magic(spec):
        matches = sorted(Path(p) for p in glob.glob(spec, recursive=True))
        files = [p for p in matches if p.is_file() and is_supported(p)]
        for folder in (p for p in matches if p.is_dir()):
            files.extend(_folder_files(folder))
        if not files:
            raise InputError("no supported data file matches this pattern", file=spec)
        return files
    path = Path(spec).expanduser()
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise InputError(
                "this folder holds no data file (" + ", ".join(sorted(EXTENSIONS)) + ")",
                file=spec,
            )
        return files
    if not path.exists():
        raise InputError("no such file or folder", file=spec)
    return [path]


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_supported(p))


def sniff_format(path: Path) -> Format:
    """The format of one file: magic bytes first, then the extension."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 4))
            tail = handle.read(4)
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}", file=str(path)) from exc
    if size == 0:
        raise InputError("the file is empty (0 bytes)", file=str(path))
    by_extension = EXTENSIONS.get(extension(path))
    if head.startswith(SQLITE_HEADER):
        raise InputError(
            "this is a SQLite database, not a DuckDB one; export its table to CSV or Parquet "
            "(e.g. with the sqlite3 tool) and open that",
            file=str(path),
        )
    if head.startswith(b"PAR1"):
        if tail != b"PAR1":
            raise InputError(
                "truncated Parquet file (the PAR1 marker at its end is missing)", file=str(path)
            )
        return Format.PARQUET
    if head.startswith((b"ARROW1", b"FEA1")):
        return Format.ARROW
    if head[8:12] == b"DUCK":
        return Format.DUCKDB
    if by_extension is Format.PARQUET:
        raise InputError("not a Parquet file (no PAR1 marker at its start)", file=str(path))
    if by_extension is Format.DUCKDB:
        raise InputError("not a DuckDB database (no DUCK header)", file=str(path))
    if by_extension is None:
        raise InputError(
            "unsupported file type; Sleuth reads " + ", ".join(sorted(EXTENSIONS)),
            file=str(path),
        )
    return by_extension


def detect_format(paths: Sequence[Path]) -> Format:
    """The one format all ``paths`` share; files of several formats form no single log."""
    formats = {path: sniff_format(path) for path in paths}
    distinct = sorted(set(formats.values()), key=lambda f: f.value)
    if len(distinct) > 1:
        examples = ", ".join(
            f"{next(p.name for p, f in formats.items() if f is fmt)} ({fmt.value})" for fmt in distinct
        )
        raise InputError(
            "these files are not all of one format and cannot be read as one log: " + examples
        )
    if distinct[0] is Format.DUCKDB and len(paths) > 1:
        raise InputError("open one DuckDB database at a time", file=str(paths[0]))
    return distinct[0]
