"""What sits at the top of a CSV before its header, decided from the first bytes.

DuckDB's sniffer expects the header on the first line. Exported logs often start otherwise:
an Excel ``sep=;`` hint (then often with decimal commas), ``#`` comment lines, or a title line
("Prediction export 2026-10-01") above the header. Read as they are, the title becomes the only
column name and every row is lost. Other "CSV" files are not tables at all: an HTML error page
saved under the log's name, or a header holding a NUL byte. A file glued together from Windows
and Unix parts mixes line endings, which DuckDB's sniffer refuses; it is read leniently. A
footer ("Total,3 rows,") would turn numeric columns into text and count as a row; it is cut off. :func:`csv_layout` reads the top of
the file once and says which lines to skip, with which delimiter and decimal separator, and
what it skipped; it refuses what is no table with a sentence.
"""

from __future__ import annotations

import contextlib
import gzip
from collections import Counter
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from analysis.errors import InputError
from analysis.query import literal

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
FOOTER_EVIDENCE_ROWS = 3
MAX_FOOTER_LINES = 3
MISSING_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "-", "?", "missing"})
_MARKUP = re.compile(rb"^\s*(<!doctype\s+html|<html|<\?xml|<head|<body)", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"(^|;)\s*-?\d+,\d+\s*(;|$)")


@dataclass(frozen=True)
class CsvLayout:
    skip: int = 0
    delimiter: str | None = None
    decimal_comma: bool = False
    mixed_line_endings: bool = False
    body_bytes: int | None = None  # where a footer starts (the rows end there), else None
    notes: tuple[str, ...] = field(default=())
    header: tuple[str, ...] = ()  # the column names as the header line spells them

    def read_csv_options(self) -> str:
        """Extra ``read_csv`` options (empty when DuckDB's sniffer can decide alone)."""
        options = []
        if self.skip:
            options.append(f"skip={self.skip}")
        if self.delimiter:
            options.append(f"delim={literal(self.delimiter)}")
        if self.decimal_comma:
            options.append("decimal_separator=','")
        if self.mixed_line_endings:  # the sniffer gives up on them; the lenient reader does not
            options.append("strict_mode=false")
        return "".join(f", {o}" for o in options)


def decompressed(path: Path) -> Iterator[bytes]:
    """The bytes of a gzip file (every member) as far as they decompress: unlike ``gzip.open``,
    zlib hands out what it decoded before a cut instead of raising and dropping it."""
    with open(path, "rb") as raw:
        stream = zlib.decompressobj(31)
        while chunk := raw.read(1 << 16):
            while chunk:
                yield stream.decompress(chunk)
                chunk = stream.unused_data if stream.eof else b""
                if stream.eof:
                    stream = zlib.decompressobj(31)


def _head(path: Path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of a gzip file (fewer when it is cut before them)."""
    head = b""
    for chunk in decompressed(path):
        head += chunk
        if len(head) >= size:
            break
    return head[:size]


def csv_layout(path: Path) -> CsvLayout:
    """The layout of ``path``'s top lines; raises :class:`InputError` for what is no table.
    A gzipped file is judged by its decompressed top (its footer is not looked for: finding
    the end would mean decompressing it all)."""
    gzipped = path.suffix.lower() == ".gz"
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
        try:
            head = handle.read(SAMPLE_BYTES)
        except EOFError:  # a file cut short has a top like any other: the lines before its cut load
            head = _head(path, SAMPLE_BYTES)
        except (OSError, zlib.error) as exc:
            raise InputError(f"a truncated or corrupt gzip file ({exc})", file=str(path)) from exc
    if _MARKUP.match(head):
        raise InputError("this is an HTML or XML page, not a CSV table (an error page saved as the log?)",
                         file=str(path))
    lines = head.decode("utf-8", errors="replace").splitlines()
    if lines and "\x00" in lines[0]:
        raise InputError("the header holds a NUL byte, so its column names cannot be read", file=str(path), row=1)
    skip, notes, delimiter = _preamble(lines)
    body = lines[skip:]
    if body and "\x00" in body[0]:
        raise InputError("the header holds a NUL byte, so its column names cannot be read", file=str(path),
                         row=skip + 1)
    decimal_comma = delimiter == ";" and any(_DECIMAL_COMMA.search(line) for line in body[1:50])
    if decimal_comma:
        notes.append("numbers use a decimal comma (read as decimals)")
    endings = _line_endings(head)
    if len(endings) > 1:
        notes.append(f"lines end in mixed ways ({', '.join(endings)}); read leniently")
    separator = delimiter or (max(DELIMITERS, key=body[0].count) if body else ",")
    body_bytes = None if gzipped else _footer_start(path, separator, decimal_comma, notes)
    header = tuple(name.strip().strip('"') for name in body[0].split(separator)) if body else ()
    return CsvLayout(skip, delimiter, decimal_comma, len(endings) > 1, body_bytes, tuple(notes), header)


def _footer_start(path: Path, separator: str, decimal_comma: bool, notes: list[str]) -> int | None:
    """The byte offset of a footer ("Total,3 rows,") at the end of the file, if there is one.

    A trailing line is a footer when it has text in a column that holds numbers on every one of
    the (at least FOOTER_EVIDENCE_ROWS) lines above it in the file's tail: a summary, not a row.
    At most MAX_FOOTER_LINES are taken off, each named in the notes.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - SAMPLE_BYTES))
        tail = handle.read()
    offsets, lines = [], []
    start = max(0, size - SAMPLE_BYTES)
    for raw in tail.splitlines(keepends=True):
        if raw.strip():
            offsets.append(start)
            lines.append(raw.decode("utf-8", errors="replace").strip())
        start += len(raw)
    if size > SAMPLE_BYTES:  # the first line of the tail may be cut
        offsets, lines = offsets[1:], lines[1:]
    cut = None
    for _ in range(MAX_FOOTER_LINES):
        if len(lines) < FOOTER_EVIDENCE_ROWS + 1 or not _is_footer(lines, separator, decimal_comma):
            break
        cut = offsets.pop()
        notes.append(f"skipped a footer line at the end: '{lines.pop()[:60]}'")
    return cut


def _is_footer(lines: list[str], separator: str, decimal_comma: bool) -> bool:
    rows = [line.split(separator) for line in lines[-(FOOTER_EVIDENCE_ROWS + 1):]]
    last, above = rows[-1], rows[:-1]
    width = len(above[0])
    if any(len(row) != width for row in above):
        return False
    numeric = [c for c in range(width) if all(_is_number(row[c], decimal_comma) for row in above)]
    return any(c >= len(last) or _is_text(last[c], decimal_comma) for c in numeric)


def _is_text(field: str, decimal_comma: bool) -> bool:
    """Text that is neither a number nor a way of writing "missing" (those are data)."""
    value = field.strip().strip('"')
    return bool(value) and value.lower() not in MISSING_TOKENS and not _is_number(value, decimal_comma)


def _is_number(text: str, decimal_comma: bool) -> bool:
    text = text.strip().strip('"')
    try:
        float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def body_file(path: Path, layout: CsvLayout) -> Iterator[Path]:
    """``path``, or a temporary copy without its footer for DuckDB to read (it cannot stop early)."""
    if layout.body_bytes is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sleuth-csv-") as folder:
        copy = Path(folder) / path.name
        with open(path, "rb") as source, open(copy, "wb") as target:
            remaining = layout.body_bytes
            while remaining > 0:
                chunk = source.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                target.write(chunk)
                remaining -= len(chunk)
        yield copy


def _line_endings(head: bytes) -> list[str]:
    """The kinds of line ending in ``head``: a file glued from Windows and Unix parts has two."""
    crlf = head.count(b"\r\n")
    counts = {"CRLF": crlf, "LF": head.count(b"\n") - crlf, "CR": head.rstrip(b"\r").count(b"\r") - crlf}
    return [name for name, count in counts.items() if count > 0]


def _preamble(lines: list[str]) -> tuple[int, list[str], str | None]:
    """Lines before the header: an Excel ``sep=`` hint, ``#`` comments, one title line."""
    skip, notes, delimiter = 0, [], None
    if lines and re.fullmatch(r"sep=.", lines[0].strip()):
        delimiter = lines[0].strip()[-1]
        skip, notes = 1, [f"line 1 is a spreadsheet hint '{lines[0].strip()}': read with that delimiter"]
    comments = 0
    while skip + comments < len(lines) and lines[skip + comments].lstrip().startswith("#"):
        comments += 1
    if comments:
        notes.append(f"skipped {comments} comment line(s) at the top (lines {skip + 1}-{skip + comments})")
        skip += comments
    if _is_title(lines[skip:], delimiter):
        notes.append(f"skipped a title line above the header (line {skip + 1}: '{lines[skip].strip()[:60]}')")
        skip += 1
    return skip, notes, delimiter


def _is_title(lines: list[str], delimiter: str | None) -> bool:
    """A first line with no delimiter above a header that splits into several fields, as most
    lines under it do (the most common width: a malformed line must not hide the title)."""
    rows = [line for line in lines[:21] if line.strip()]
    if len(rows) < 3:
        return False
    candidates = (delimiter,) if delimiter else DELIMITERS
    for sep in candidates:
        widths = Counter(row.count(sep) for row in rows[1:])
        usual = widths.most_common(1)[0][0]
        if rows[0].count(sep) == 0 and usual >= 1 and rows[1].count(sep) == usual:
            return True
    return False


def unterminated_quotes(path: Path, limit: int = 5) -> list[int]:
    """The (1-based) lines holding an odd number of double quotes: a quote opened and never
    closed. DuckDB's sniffer then reads every quote as an ordinary character, so a value keeps
    its quote marks; the note names these lines so they can be fixed at the source."""
    found = []
    with (gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")) as handle:
        for number, line in enumerate(handle, start=1):
            if line.count(b'"') % 2:
                found.append(number)
                if len(found) == limit:
                    break
    return found
