"""Delta Lake and Apache Iceberg tables, read as a view over the Parquet files of one version.

Both formats keep a log of which Parquet files make up each version of the table. The
table's own library (``deltalake`` for Delta, ``pyiceberg`` for Iceberg) reads that log, for
the newest version or the one ``--as-of`` names (a version number / snapshot id, or a time),
and Sleuth registers those files as it registers any Parquet log: a view read on demand,
never a copy, and no DuckDB extension to download. Partition columns come from the files'
``key=value`` folders. A table that needs more than its files to be read right (Delta
deletion vectors or column mapping, Iceberg delete files) is refused with that reason rather
than shown with rows that were deleted.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlparse

from analysis.errors import InputError

DELTA_FEATURES_NEEDING_MORE = {"deletionVectors", "columnMapping"}
ICEBERG_METADATA = re.compile(r"^(?:v)?(\d+)(?:-[0-9a-f-]+)?\.metadata\.json$")


@dataclass(frozen=True)
class LakeTable:
    """The Parquet files of one version of a lakehouse table, and a sentence saying which."""

    kind: str
    files: tuple[Path, ...]
    note: str


def lake_table(specs: Sequence[str], as_of: str | None) -> LakeTable | None:
    """The files of the Delta or Iceberg table ``specs`` names (one folder), else None."""
    folder = Path(specs[0]).expanduser() if len(specs) == 1 else None
    kind = _kind(folder) if folder is not None else None
    if kind is None:
        if as_of is not None:
            raise InputError("--as-of reads a version of a Delta or Iceberg table, and this is neither",
                             file=", ".join(specs))
        return None
    table = _delta(folder, as_of) if kind == "delta" else _iceberg(folder, as_of)
    if not table.files:
        raise InputError(f"this {kind} table holds no data files at that version", file=str(folder))
    return table


def _kind(folder: Path) -> str | None:
    if (folder / "_delta_log").is_dir():
        return "delta"
    if (folder / "metadata").is_dir() and any(ICEBERG_METADATA.match(p.name) for p in (folder / "metadata").iterdir()):
        return "iceberg"
    return None


def _as_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _version(text: str, folder: Path) -> int | dt.datetime:
    if text.strip().isdigit():
        return int(text)
    moment = _as_time(text.strip())
    if moment is None:
        raise InputError(f"--as-of takes a version number or an ISO time, not {text!r}", file=str(folder))
    return moment


def _delta(folder: Path, as_of: str | None) -> LakeTable:
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    try:
        table = DeltaTable(str(folder))
        newest = table.version()
        wanted = None if as_of is None else _version(as_of, folder)
        if isinstance(wanted, int) and wanted > newest:  # delta-rs says "LogSegment end version ..."
            raise InputError(f"this Delta table has no version {wanted}: its versions run from 0 to {newest}",
                             file=str(folder))
        if isinstance(wanted, dt.datetime):
            _check_existed(table, wanted, folder)
        if wanted is not None:
            table.load_as_version(wanted)
    except (DeltaError, ValueError, OSError) as exc:
        raise InputError(f"cannot read this Delta table: {str(exc).splitlines()[0]}", file=str(folder)) from exc
    needed = DELTA_FEATURES_NEEDING_MORE & set(table.protocol().reader_features or ())
    if needed:
        raise InputError("this Delta table uses " + ", ".join(sorted(needed))
                         + ", which a plain read of its Parquet files would get wrong", file=str(folder))
    files = tuple(_local(uri) for uri in table.file_uris())
    return LakeTable("delta", files, f"Delta table version {table.version()} (newest {newest}), "
                                     f"{len(files)} Parquet file(s)")


def _check_existed(table, moment: dt.datetime, folder: Path) -> None:
    """Refuse a time before the table's first commit: delta-rs reads version 0 for it, a
    table the person asked to see before it held anything."""
    first = min(int(commit["timestamp"]) for commit in table.history() if "timestamp" in commit)
    created = dt.datetime.fromtimestamp(first / 1000, dt.timezone.utc)
    if moment < created:
        raise InputError(f"this Delta table did not exist at {moment.isoformat()}: its first version is from "
                         f"{created.isoformat(timespec='seconds')}", file=str(folder))


def _iceberg(folder: Path, as_of: str | None) -> LakeTable:
    from pyiceberg.table import StaticTable

    metadata = max((p for p in (folder / "metadata").iterdir() if ICEBERG_METADATA.match(p.name)),
                   key=lambda p: int(ICEBERG_METADATA.match(p.name).group(1)))
    table = StaticTable.from_metadata(str(metadata))
    snapshot = table.current_snapshot()
    if as_of is not None:
        wanted = _version(as_of, folder)
        snapshot = (table.snapshot_by_id(wanted) if isinstance(wanted, int)
                    else table.snapshot_as_of_timestamp(int(wanted.timestamp() * 1000)))
        if snapshot is None:
            raise InputError(f"this Iceberg table has no snapshot {as_of!r}", file=str(folder))
    if snapshot is None:
        return LakeTable("iceberg", (), "")
    tasks = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    if any(task.delete_files for task in tasks):
        raise InputError("this Iceberg snapshot has delete files, which a plain read of its Parquet files "
                         "would get wrong", file=str(folder))
    files = tuple(_local(task.file.file_path) for task in tasks)
    return LakeTable("iceberg", files, f"Iceberg snapshot {snapshot.snapshot_id}, {len(files)} Parquet file(s)")


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise InputError(f"only local tables can be read here, not {parsed.scheme}:// storage", file=uri)
