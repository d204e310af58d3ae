"""Which files the user meant, and what format they are in.

The user types files, folders and globs; :func:`resolve_inputs` turns them into a sorted list
of data files and :func:`detect_format` names the one format they share. The format comes from
the file's first bytes when they say it (a ``.csv`` that is really Parquet is read as
Parquet), and from the extension otherwise (text formats carry no magic bytes).
"""

from __future__ import annotations

import glob
import gzip
import re
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Sequence

from analysis.data.csv_dialect import csv_layout, decompressed
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

NOTE_EXTENSIONS = frozenset({".txt", ".log"})
"""Extensions a folder's notes and readmes carry as often as its data."""

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


@dataclass(frozen=True)
class LogFiles:
    """The files that form one log, their one format, and the files a folder or glob also
    held that are not part of it ("path: why"), for the load report. ``searched`` holds the
    files found in a folder or by a glob: only they may still be left out once read."""

    paths: list[Path]
    format: Format
    left_out: tuple[str, ...] = ()
    searched: frozenset[Path] = frozenset()
    cut: tuple["CutGzip", ...] = ()
    """The gzip files cut short, each read from a copy of its complete lines (in ``paths``)."""


@dataclass(frozen=True)
class CutGzip:
    """A gzip file cut short (a copy interrupted, a disk filled): its complete lines were
    copied, uncompressed, to ``copy``, which is read in its place."""

    original: Path
    copy: Path
    lines: int

    @property
    def note(self) -> str:
        return f"{self.original} is cut after line {self.lines:,}: the rest of the file is skipped"


def log_files(specs: Sequence[str]) -> LogFiles:
    """The files ``specs`` name, as one log of one format.

    A file named by the user must be readable and of the log's format, or the open is refused
    in a sentence. A file found in a folder or by a glob is only a candidate: one that is empty,
    of another format than the rest, or a text file whose header shares no column with the
    log's other files (a README.txt) is left out and listed, so one stray file never stops a
    folder from opening nor becomes columns of the log. A truncated gzip part shows only at its
    end, so it is read up to the cut (or left out, when damaged) by :func:`without_broken_gzip` once
    reading the log has failed.
    """
    found = _resolve(specs)
    named = [path for path, searched in found if not searched]
    formats: dict[Path, Format] = {path: sniff_format(path) for path in named}
    left_out: dict[Path, str] = {}
    for path in (p for p, searched in found if searched):
        try:
            formats[path] = sniff_format(path)
        except InputError as exc:
            left_out[path] = exc.message
    kept = [p for p in formats]
    if not kept:
        raise InputError("no readable data file: " + "; ".join(f"{p.name}: {why}" for p, why in left_out.items()))
    log_format = formats[named[0]] if named else _main_format(formats)
    for path in kept:
        if path not in named and formats[path] is not log_format:
            kind = "a text file (notes, not data)" if extension(path) in NOTE_EXTENSIONS else \
                f"a {formats[path].value} file"
            left_out[path] = f"{kind} among {log_format.value} files"
    if log_format is Format.CSV:
        left_out.update(_unrelated_tables([p for p in kept if p not in left_out], set(named)))
    paths = [p for p, _ in found if p in formats and p not in left_out]
    if not paths:
        raise InputError("no readable data file: " + "; ".join(f"{p}: {why}" for p, why in left_out.items()))
    detect_format(paths)
    return LogFiles(paths, log_format, tuple(f"{p}: {left_out[p]}" for p, _ in found if p in left_out),
                    frozenset(p for p, searched in found if searched))


def without_broken_gzip(files: LogFiles, scratch: Path) -> LogFiles:
    """``files`` with each gzip file cut short read from a copy of its complete lines (written
    into ``scratch``), and the gzip parts found by searching that are damaged inside their
    stream left out; a named file damaged so is refused.

    Called only after reading the log failed: a cut or damage is found only at the file's end,
    so checking every part before DuckDB reads it would decompress each file twice. A cut
    file's lines before the cut are as good as any (the bad-input policy loads what it can and
    says where it stopped). Returns ``files`` itself when no part is broken (the failure lies
    elsewhere)."""
    corrupt: dict[Path, str] = {}
    cut: dict[Path, CutGzip] = {}
    for index, path in enumerate(p for p in files.paths if p.suffix.lower() == ".gz"):
        try:
            if _check_gzip(path):
                cut[path] = _complete_lines(path, scratch / str(index))
        except InputError as exc:
            if path not in files.searched:
                raise
            corrupt[path] = exc.message
    if not corrupt and not cut:
        return files
    left_out = files.left_out + tuple(f"{p}: {why}" for p, why in corrupt.items())
    kept = [cut[p].copy if p in cut else p for p in files.paths if p not in corrupt]
    if not kept:
        raise InputError("no readable data file: " + "; ".join(left_out))
    return replace(files, paths=kept, left_out=left_out, cut=files.cut + tuple(cut.values()))


def _main_format(formats: dict[Path, Format]) -> Format:
    """The format most files of a folder share; on a tie, the one fewer files hold under an
    extension used as often for notes as for data (a README.txt beside one Parquet file)."""
    files = Counter(formats.values())
    plain = Counter(f for p, f in formats.items() if extension(p) not in NOTE_EXTENSIONS)
    return max(files, key=lambda f: (files[f], plain[f]))


def _check_gzip(path: Path) -> bool:
    """Read a gzip file through once (a cut or damage is only found at its end): whether it is
    cut short. Raises :class:`InputError` for damage inside the stream."""
    if path.suffix.lower() != ".gz":
        return False
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except EOFError:
        return True
    except (OSError, zlib.error) as exc:
        raise InputError(f"a truncated or corrupt gzip file ({exc})", file=str(path)) from exc
    return False


def _complete_lines(path: Path, folder: Path) -> CutGzip:
    """Copy the lines of the cut gzip ``path`` that end before the cut into ``folder``, under
    its name less ``.gz`` (the format is judged by it); a file cut inside its first line is refused."""
    folder.mkdir(parents=True)
    copy = folder / path.name[: -len(".gz")]
    lines, pending = 0, b""
    with open(copy, "wb") as target:
        for chunk in decompressed(path):
            whole, newline, pending = (pending + chunk).rpartition(b"\n")
            if newline:
                target.write(whole + newline)
                lines += whole.count(b"\n") + 1
    if lines == 0:
        raise InputError("a gzip file cut short inside its first line: nothing of it can be read", file=str(path))
    return CutGzip(path, copy, lines)


def _unrelated_tables(paths: list[Path], named: set[Path]) -> dict[Path, str]:
    """Text files found in a folder whose header shares no column with any other file's, while
    the others do share theirs (or have several columns where it has one): notes, not data.

    Only a first line of names is a header to judge by: a line holding a number is a row of a
    file without header, which is never left out.
    """
    headers: dict[Path, set[str]] = {}
    left_out: dict[Path, str] = {}
    for path in paths:
        try:
            header = csv_layout(path).header
        except InputError as exc:
            if path in named:
                raise
            left_out[path] = exc.message
            continue
        if not any(_is_number(name) for name in header):
            headers[path] = set(header)
    def shares(path: Path) -> bool:
        return any(headers[path] & columns for other, columns in headers.items() if other != path)
    sharing = [p for p in headers if shares(p)]
    widest = max((len(c) for c in headers.values()), default=0)
    for path, columns in headers.items():
        if path in named or shares(path) or len(headers) < 2:
            continue
        if sharing or (len(columns) == 1 and widest > 1):
            left_out[path] = "its first line shares no column with the other files (no table of this log)"
    return left_out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_inputs(specs: Sequence[str]) -> list[Path]:
    """Expand files, folders (recursively) and globs into data files, in a stable order.

    A spec that names nothing raises :class:`InputError` naming it, so a typo in one of
    several globs is not silently ignored. Duplicates are kept once, first position wins.
    """
    return [path for path, _ in _resolve(specs)]


def _resolve(specs: Sequence[str]) -> list[tuple[Path, bool]]:
    """(path, found by searching a folder or glob) for every file ``specs`` name."""
    if isinstance(specs, (str, Path)):
        specs = [str(specs)]
    if not specs:
        raise InputError("no file, folder or glob was given")
    found: dict[Path, bool] = {}
    for spec in specs:
        searched = glob.has_magic(str(spec)) or Path(str(spec)).expanduser().is_dir()
        for path in _expand(str(spec)):
            found.setdefault(path, searched)
    return list(found.items())


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
