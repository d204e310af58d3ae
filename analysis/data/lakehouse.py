"""Delta Lake and Apache Iceberg tables, read as a view over the Parquet files of one version.

Both formats keep a log of which Parquet files make up each version of the table. The
table's own library (``deltalake`` for Delta, ``pyiceberg`` for Iceberg) reads that log, for
the newest version or the one ``--as-of`` names (a version number / snapshot id, or a time),
and Sleuth registers those files as it registers any Parquet log: a view read on demand,
never a copy, and no DuckDB extension to download. Partition columns come from the files'
``key=value`` folders.

A table that needs more than its files to be read right is still a view over them:

- Files whose columns the table's names do not find: Delta column mapping (the files hold
  physical names, ``col-<uuid>``, found by name in ``name`` mode and by Parquet field id in
  ``id`` mode) and an Iceberg table whose schema changed (found by field id; a file written
  without ids, imported by ``add_files``, through the table's name mapping). Each file's
  footer says where it holds each column and nested field (:func:`_found`); files that hold
  them alike are read together and the view renames each column and nested struct field
  (in structs, lists and map values), drops what the table dropped, reads NULL for what a file
  does not hold (added after it was written), casts Iceberg's widened types, and takes Delta
  partition values from the log (the folders are random prefixes then).
- Delta deletion vectors and Iceberg position delete files: the deleted (file, row) positions
  (delta-rs decodes the vectors; the delete files are small Parquet files of ``file_path, pos``)
  go into a rank table of one row per 64 rows of each file that lost any: a mask of the deleted
  rows and how many were deleted before. The view joins it on ``file_row_number``, leaves out the
  masked rows and subtracts the count, so ``ROW_ID`` stays dense; the data rows are never copied.
- Iceberg equality delete files: at open, one semi-join of the data files' equality columns with
  each delete file (over the data files it applies to: an older sequence number, the same
  partition unless the delete is global) finds the positions it deletes, which then go into the
  same rank table. pyiceberg itself refuses such tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field as dataclass_field, replace
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc

from analysis.errors import InputError
from analysis.progress import CancelToken
from analysis.query import PAGE_FROM, PAGE_TO, ident, literal, literal_list
from analysis.store import Store

RANK_BUCKET = 64
"""Rows per rank-table row: one UBIGINT mask of deleted rows, ``bit_count`` counts those before."""

DELTA_TYPES = {"string": "VARCHAR", "long": "BIGINT", "integer": "INTEGER", "short": "SMALLINT",
               "byte": "TINYINT", "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN",
               "date": "DATE", "timestamp": "TIMESTAMPTZ", "timestamp_ntz": "TIMESTAMP"}
"""DuckDB types of Delta's primitive types (partition values, which the log keeps as text, and
the typed NULL of a column a file does not hold)."""

ICEBERG_METADATA = re.compile(r"^(?:v)?(\d+)(?:-[0-9a-f-]+)?\.metadata\.json$")


@dataclass(frozen=True)
class TableField:
    """A column or nested field of the table, and what finds it among a file's fields.

    Lakehouse formats find a file's columns by what does not change when a column is renamed:
    a field id (Iceberg; Delta column mapping in ``id`` mode) or a physical name (Delta
    ``name`` mode), at every depth. A list's element and a map's key and value have no
    ``key``: they are found by their place in the list or map."""

    name: str
    key: int | str | None
    dtype: str
    """Its DuckDB type by the table's names: what a file that does not hold it reads (a typed NULL)."""
    kind: str = ""
    """``struct``, ``list``, ``map``, or "" for a primitive."""
    inner: tuple[TableField, ...] = ()
    """A struct's fields, a list's element, a map's key and value."""
    default: str = "NULL"
    """What a file that does not hold it reads, as SQL: Iceberg's ``initial-default`` of a field
    added with a default (its value in the rows written before), else NULL."""


def _table_field(name: str, key: int | str | None, kind: str = "", inner: Sequence[TableField] = (),
                 leaf: str = "VARCHAR", default: str = "NULL") -> TableField:
    """A field with its DuckDB type spelled from its inner fields' (``leaf`` for a primitive)."""
    dtype = {"struct": lambda: "STRUCT(" + ", ".join(f"{ident(f.name)} {f.dtype}" for f in inner) + ")",
             "list": lambda: f"{inner[0].dtype}[]",
             "map": lambda: f"MAP({inner[0].dtype}, {inner[1].dtype})"}.get(kind, lambda: leaf)()
    return TableField(name, key, dtype, kind, tuple(inner), default)


@dataclass(frozen=True)
class FileNode:
    """A node of a Parquet file's schema (its footer): a column, nested field or wrapping group."""

    name: str
    field_id: int | None
    repeated: bool = False
    """The group a list's elements or a map's entries repeat in (it has no table field of its own)."""
    children: tuple[FileNode, ...] = ()


Found = tuple
"""Where a file holds a table field: ``(name in the file, exact, inner)``, ``inner`` the
:data:`Found` (or None: not held) of each of the field's :attr:`TableField.inner`; ``exact``
when the file's value reads as the table's as it is (the same names in the same order, no
field the table dropped), so it needs no rebuilding."""


@dataclass(frozen=True)
class LakeColumn:
    """A table column: where the files hold it (``field``), or (a partition column) its value per file."""

    name: str
    field: TableField | None
    dtype: str = "VARCHAR"
    values: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class EqualityDelete:
    """An Iceberg equality delete file: rows of ``file_indexes`` whose ``columns`` equal a row of it."""

    file: Path
    columns: tuple[str, ...]
    file_indexes: tuple[int, ...]


@dataclass(frozen=True)
class LakeTable:
    """The Parquet files of one version of a lakehouse table, and a sentence saying which.

    ``columns`` is set when the files' columns are not found by the table's names (Delta column
    mapping, an Iceberg table whose schema changed): each file's are then found by their
    :attr:`TableField.key`; ``deleted`` holds the (``file_index``, ``pos``) rows deletion vectors or delete files remove.
    """

    kind: str
    files: tuple[Path, ...]
    note: str
    columns: tuple[LakeColumn, ...] = ()
    deleted: pa.Table | None = None
    equality: tuple[EqualityDelete, ...] = ()
    folder: Path | None = None
    name_mapping: tuple = dataclass_field(default=(), compare=False)
    """Iceberg's name mapping (pyiceberg ``MappedField``s): the field ids of the columns of files
    written without them (imported by ``add_files``), by the names they were written under."""

    @property
    def plain(self) -> bool:
        """Whether reading the files as they are gives the table's rows and names."""
        return (not self.columns and not self.equality
                and (self.deleted is None or self.deleted.num_rows == 0))


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
    _check_files_exist(table, kind, folder)
    return table


def _check_files_exist(table: LakeTable, kind: str, folder: Path) -> None:
    """Refuse, in one sentence, a version whose files were deleted since: an older version after
    Delta's VACUUM or Iceberg's snapshot expiry lists files that are gone, which DuckDB would
    report as a glob pattern matching nothing."""
    missing = [path for path in table.files if not path.exists()]
    if missing:
        raise InputError(f"{len(missing)} of the {len(table.files)} data file(s) this {kind} table's version "
                         f"lists no longer exist (deleted by VACUUM or snapshot expiry?), e.g. {missing[0].name}; "
                         f"a newer version (--as-of) may still be whole", file=str(folder))


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
        files = tuple(_local(uri) for uri in table.file_uris())
        columns = _mapped_columns(table)
        deleted = (_deletion_vectors(table, files) if "deletionVectors" in (table.protocol().reader_features or ())
                   else None)  # a vector's file deleted or damaged is a DeltaError here
    except (DeltaError, ValueError, OSError) as exc:
        raise InputError(f"cannot read this Delta table: {str(exc).splitlines()[0]}", file=str(folder)) from exc
    gone = 0 if deleted is None else deleted.num_rows
    return LakeTable("delta", files, f"Delta table version {table.version()} (newest {newest}), "
                                     f"{len(files)} Parquet file(s)" + _more_note(columns, gone), columns, deleted,
                     folder=folder)


def _more_note(columns: Sequence[LakeColumn], deleted: int) -> str:
    notes = (["columns renamed from the files' physical names (column mapping)"] if columns else []) + (
        [f"{deleted:,} deleted row(s) left out"] if deleted else [])
    return "; " + ", ".join(notes) if notes else ""


def _mapped_columns(table) -> tuple[LakeColumn, ...]:
    """The table's columns with what finds them in its files, when column mapping is on; else none.

    The protocol ("Reader Requirements for Column Mapping") finds them by Parquet field id in
    ``id`` mode (``delta.columnMapping.id``) and by physical name in ``name`` mode, nested fields
    too. Partition columns' values come from the log: under column mapping the folders are random
    prefixes, not ``key=value``."""
    mode = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if mode == "none":
        return ()
    partitioned = set(table.metadata().partition_columns)
    actions = pa.table(table.get_add_actions(flatten=True)) if partitioned else None
    columns = []
    for field in table.schema().fields:
        if field.name in partitioned:
            values = tuple(actions.column(f"partition.{field.name}").cast(pa.string()).to_pylist())
            columns.append(LakeColumn(field.name, None, _delta_leaf(field.type), values))
        else:
            read = _delta_field(field.name, field.type, _delta_key(field, mode), mode)
            columns.append(LakeColumn(field.name, read, read.dtype))
    return tuple(columns)


def _delta_key(field, mode: str) -> int | str:
    if mode == "id":
        return int(field.metadata["delta.columnMapping.id"])
    return field.metadata.get("delta.columnMapping.physicalName", field.name)


def _delta_field(name: str, dtype, key: int | str | None, mode: str) -> TableField:
    """A Delta column or nested field (its struct fields found by their own keys)."""
    kind = type(dtype).__name__
    if kind == "StructType":
        return _table_field(name, key, "struct", [_delta_field(f.name, f.type, _delta_key(f, mode), mode)
                                                  for f in dtype.fields])
    if kind == "ArrayType":
        return _table_field(name, key, "list", [_delta_field("element", dtype.element_type, None, mode)])
    if kind == "MapType":
        return _table_field(name, key, "map", [_delta_field("key", dtype.key_type, None, mode),
                                               _delta_field("value", dtype.value_type, None, mode)])
    return _table_field(name, key, leaf=_delta_leaf(dtype))


def _delta_leaf(dtype) -> str:
    """The DuckDB type of a Delta primitive type (partition values, which the log keeps as text,
    and the typed NULL of a field a file does not hold)."""
    name = getattr(dtype, "type", "string")
    if name.startswith("decimal"):
        return name.upper()
    return "BLOB" if name == "binary" else DELTA_TYPES.get(name, "VARCHAR")


def _deletion_vectors(table, files: Sequence[Path]) -> pa.Table | None:
    """The rows the table's deletion vectors remove, as (``file_index``, ``pos``): delta-rs
    decodes the vectors into keep masks, one per file that has one."""
    index = {path: i for i, path in enumerate(files)}
    parts = []
    for batch in pa.RecordBatchReader.from_stream(table.deletion_vectors()):
        for uri, keep in zip(batch.column("filepath").to_pylist(), batch.column("selection_vector")):
            positions = pc.indices_nonzero(pc.invert(keep.values)).cast(pa.int64())
            parts.append(pa.table({"file_index": pa.repeat(index[_local(uri)], len(positions)).cast(pa.int64()),
                                   "pos": positions}))
    return pa.concat_tables(parts) if parts else None


def _check_existed(table, moment: dt.datetime, folder: Path) -> None:
    """Refuse a time before the table's first commit: delta-rs reads version 0 for it, a
    table the person asked to see before it held anything."""
    first = min(int(commit["timestamp"]) for commit in table.history() if "timestamp" in commit)
    created = dt.datetime.fromtimestamp(first / 1000, dt.timezone.utc)
    if moment < created:
        raise InputError(f"this Delta table did not exist at {moment.isoformat()}: its first version is from "
                         f"{created.isoformat(timespec='seconds')}", file=str(folder))


def _iceberg(folder: Path, as_of: str | None) -> LakeTable:
    from pyiceberg.exceptions import ValidationError
    from pyiceberg.table import StaticTable

    metadata = max((p for p in (folder / "metadata").iterdir() if ICEBERG_METADATA.match(p.name)),
                   key=lambda p: int(ICEBERG_METADATA.match(p.name).group(1)))
    try:
        table = StaticTable.from_metadata(str(metadata))
    except (ValidationError, ValueError, OSError) as exc:
        raise InputError(f"this Iceberg table's newest metadata file cannot be read (damaged or cut short?): "
                         f"{_reason(exc)}", file=str(metadata)) from exc
    snapshot = table.current_snapshot()
    if as_of is not None:
        wanted = _version(as_of, folder)
        snapshot = (table.snapshot_by_id(wanted) if isinstance(wanted, int)
                    else table.snapshot_as_of_timestamp(int(wanted.timestamp() * 1000)))
        if snapshot is None:
            raise InputError(f"this Iceberg table has no snapshot {as_of!r}", file=str(folder))
    if snapshot is None:
        return LakeTable("iceberg", (), "")
    try:
        tasks, sequence, equality = _plan(table, snapshot)
    except (ValueError, OSError) as exc:  # a manifest list or manifest deleted or damaged
        raise InputError(f"cannot read the manifests of this Iceberg table's snapshot {snapshot.snapshot_id}: "
                         f"{_reason(exc)}", file=str(folder)) from exc
    files = tuple(_local(task.file.file_path) for task in tasks)
    deleted = _position_deletes(tasks)
    gone = 0 if deleted is None else deleted.num_rows
    schema = table.schema() if as_of is None else _snapshot_schema(table, snapshot)
    deletes = tuple(_equality_delete(table, schema, entry, tasks, sequence) for entry in equality)
    note = f"; rows matching {len(deletes)} equality delete file(s) left out" if deletes else ""
    columns, mapping = _iceberg_columns(table, schema)
    note += "; columns matched by field id (the table's schema changed)" if columns else ""
    return LakeTable("iceberg", files, f"Iceberg snapshot {snapshot.snapshot_id}, {len(files)} Parquet file(s)"
                     + _more_note((), gone) + note, columns, deleted, deletes, folder, mapping)


def _reason(exc: Exception) -> str:
    """One line of what went wrong: a JSON validation error's first message (pyiceberg wraps
    pydantic's), else the error's first line."""
    errors = getattr(exc.__cause__, "errors", None) or getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0].get("msg", exc))
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _snapshot_schema(table, snapshot):
    """The schema a snapshot was written with (what time travel reads), else the table's. The
    newest rows read with the table's schema, which a change after the last write (a rename)
    has moved past the snapshot's, as pyiceberg's scan and Spark read them."""
    schema_id = getattr(snapshot, "schema_id", None)
    found = next((s for s in table.metadata.schemas if s.schema_id == schema_id), None)
    return found or table.schema()


def _iceberg_columns(table, schema) -> tuple[tuple[LakeColumn, ...], tuple]:
    """The snapshot's columns, found in each file by field id at every depth (Iceberg spec,
    "Column Projection"), and the name mapping that gives field ids to files written without
    them ("Column Projection": the table's ``schema.name-mapping.default``; without one, the
    snapshot's own names). Neither while every file's names are the table's: one schema, and no
    name mapping with a second name for a field."""
    from pyiceberg.table.name_mapping import create_mapping_from_schema

    mapping = table.metadata.name_mapping()
    if len(table.metadata.schemas) < 2 and not _has_aliases(mapping or ()):
        return (), ()
    columns = tuple(_iceberg_field(f.name, f.field_type, f.field_id, f.initial_default) for f in schema.fields)
    return (tuple(LakeColumn(c.name, c, c.dtype) for c in columns),
            tuple(mapping or create_mapping_from_schema(schema)))


def _has_aliases(mapped) -> bool:
    return any(len(m.names) > 1 or _has_aliases(m.fields) for m in mapped)


ICEBERG_TYPES = {"boolean": "BOOLEAN", "int": "INTEGER", "long": "BIGINT", "float": "FLOAT", "double": "DOUBLE",
                 "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ",
                 "timestamp_ns": "TIMESTAMP_NS", "timestamptz_ns": "TIMESTAMPTZ", "string": "VARCHAR",
                 "uuid": "UUID", "binary": "BLOB"}
"""DuckDB types of Iceberg's primitive types, as DuckDB reads their Parquet form (``fixed[n]`` as BLOB)."""


def _iceberg_field(name: str, dtype, key: int | None, default=None) -> TableField:
    """An Iceberg column or nested field, found by field id (a list's element and a map's key and
    value by their place); ``default``: its ``initial-default`` (a primitive's)."""
    kind = type(dtype).__name__
    if kind == "StructType":
        return _table_field(name, key, "struct", [_iceberg_field(f.name, f.field_type, f.field_id, f.initial_default)
                                                  for f in dtype.fields])
    if kind == "ListType":
        return _table_field(name, key, "list", [_iceberg_field("element", dtype.element_type, None)])
    if kind == "MapType":
        return _table_field(name, key, "map", [_iceberg_field("key", dtype.key_type, None),
                                               _iceberg_field("value", dtype.value_type, None)])
    text = str(dtype)
    leaf = text.upper() if text.startswith("decimal") else ICEBERG_TYPES.get(text, "BLOB")
    return _table_field(name, key, leaf=leaf, default=literal(default))


def _plan(table, snapshot):
    """pyiceberg's plan of the snapshot's data files (with their position deletes), and the
    data files' sequence numbers and the equality delete entries its planning refuses."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.manifest import DataFileContent
    from pyiceberg.table import ManifestGroupPlanner

    sequence: dict[str, int] = {}
    equality = []

    def sort_out(entry) -> bool:
        if entry.data_file.content == DataFileContent.EQUALITY_DELETES:
            equality.append(entry)
            return False
        if entry.data_file.content == DataFileContent.DATA:
            sequence[entry.data_file.file_path] = entry.sequence_number or 0
        return True

    planner = ManifestGroupPlanner(table_metadata=table.metadata, io=table.io, row_filter=AlwaysTrue(),
                                   case_sensitive=True, options={})
    tasks = list(planner.plan_files(snapshot.manifests(table.io), manifest_entry_filter=sort_out))
    return tasks, sequence, equality


def _equality_delete(table, schema, entry, tasks, sequence: dict[str, int]) -> EqualityDelete:
    """Which data files an equality delete file applies to (Iceberg spec, "Scan Planning"): those
    with a data sequence number below the delete's, in its partition unless its spec is unpartitioned."""
    delete = entry.data_file
    columns = tuple(schema.find_column_name(field_id) for field_id in delete.equality_ids)
    is_global = table.metadata.specs()[delete.spec_id].is_unpartitioned()
    indexes = tuple(i for i, task in enumerate(tasks)
                    if sequence[task.file.file_path] < (entry.sequence_number or 0)
                    and (is_global or (task.file.spec_id == delete.spec_id and task.file.partition == delete.partition)))
    return EqualityDelete(_local(delete.file_path), columns, indexes)


def _position_deletes(tasks) -> pa.Table | None:
    """The rows the snapshot's position delete files remove from each planned data file, as
    (``file_index``, ``pos``). pyiceberg's planning already paired each data file with the delete
    files whose sequence number covers it; each delete file is read once (``file_path``, ``pos``)."""
    import pyarrow.parquet as pq

    read: dict[str, pa.Table] = {}
    parts = []
    for index, task in enumerate(tasks):
        for delete in task.delete_files:
            if delete.file_path not in read:
                read[delete.file_path] = pq.read_table(_local(delete.file_path), columns=["file_path", "pos"])
            rows = read[delete.file_path]
            pos = rows.filter(pc.equal(rows.column("file_path"), task.file.file_path)).column("pos")
            parts.append(pa.table({"file_index": pa.repeat(index, len(pos)).cast(pa.int64()),
                                   "pos": pos.cast(pa.int64())}))
    return pa.concat_tables(parts) if parts else None


@dataclass(frozen=True)
class LakeSource:
    """Subqueries over a lakehouse table's files: all its rows, and the rows of a ROW_ID range.

    ``rows`` numbers the rows by one scan of every file (what a count or an aggregate reads).
    ``pages`` gives only the rows whose ROW_ID lies in ``[PAGE_FROM, PAGE_TO)`` (table macro
    parameters, :func:`analysis.query.rows_macro_name`): where rows were deleted, a ROW_ID is a
    file row number less a count from the rank table, which DuckDB cannot turn back into a file
    row range, so a ROW_ID filter on ``rows`` read every row of every file (1.6 s of CPU per
    page at 10M rows). Each file's row numbers of a ROW_ID range are bounded by constants (the
    kept rows before the file, and how many it lost), so ``pages`` is one scan per file with
    that bound, which the Parquet reader meets by skipping the other row groups and files."""

    rows: str
    pages: str


def lake_source(store: Store, lake: LakeTable, ranks: str, row_id: str, cancel: CancelToken) -> LakeSource:
    """The table's rows, by its names, with a dense ``row_id`` column, over its files.

    ``ranks`` names the rank table made here when rows were deleted (dropped with the view)."""
    files = literal_list([str(p) for p in lake.files])
    counts = dict(store.rows(f"SELECT file_name, num_rows FROM parquet_file_metadata({files})", cancel))
    found = _found(store, lake, cancel)
    sizes = [int(counts[str(path)]) for path in lake.files]
    gone = [0] * len(sizes)
    deleted = [lake.deleted] if lake.deleted is not None else []
    deleted += [_equality_positions(store, lake, delete, found, cancel) for delete in lake.equality]
    if any(part.num_rows for part in deleted):
        gone = _make_ranks(store, ranks, pa.concat_tables(deleted), sizes, cancel)
    firsts = [sum(s - g for s, g in zip(sizes[:i], gone[:i])) for i in range(len(sizes))]
    index = "t.file_index::BIGINT"
    number = f"CAST({literal_list(firsts)} AS BIGINT[])[{index} + 1] + t.file_row_number"
    less, joined = _kept(ranks, index, any(gone))
    scan = _scan(lake, lake.files, range(len(lake.files)), found)
    rows = f"(SELECT {number}{less} AS {ident(row_id)}, {_selected(lake)} FROM {scan} t{joined})"
    pages = [_file_page(lake, path, i, first, lost, ranks, row_id, found)
             for i, (path, first, lost) in enumerate(zip(lake.files, firsts, gone))]
    return LakeSource(rows, f"({' UNION ALL BY NAME '.join(pages)})")


def _kept(ranks: str, index: str, any_gone: bool) -> tuple[str, str]:
    """What a row number loses to the deleted rows before it, and the join and filter that
    leave the deleted rows out (nothing when no row was deleted)."""
    if not any_gone:
        return "", ""
    inside = f"(t.file_row_number % {RANK_BUCKET})::INTEGER"
    less = f" - coalesce(r.before + bit_count(r.mask & ((1::UBIGINT << {inside}) - 1::UBIGINT)), 0)"
    joined = (f" LEFT JOIN {ident(ranks)} r ON r.file_index = {index} "
              f"AND r.bucket = t.file_row_number // {RANK_BUCKET} "
              f"WHERE (r.mask IS NULL OR (r.mask >> {inside}) & 1::UBIGINT = 0)")
    return less, joined


def _file_page(lake: LakeTable, path: Path, index: int, first: int, lost: int, ranks: str, row_id: str,
               found: dict[str, tuple]) -> str:
    """One file's rows of the ROW_ID range ``[PAGE_FROM, PAGE_TO)``: its row numbers from
    ``PAGE_FROM - first`` to ``PAGE_TO - first + lost`` (a kept row moves up by at most the
    rows the file lost), so the reader skips the row groups and files outside them. The file's
    columns are found as in the scan of all files (``found``)."""
    less, joined = _kept(ranks, str(index), lost > 0)
    bound = (f"t.file_row_number >= {PAGE_FROM} - {first} AND t.file_row_number < {PAGE_TO} - {first} + {lost}")
    return (f"SELECT {first} + t.file_row_number{less} AS {ident(row_id)}, {_selected(lake)} "
            f"FROM {_scan(lake, [path], [index], found)} t{joined} {'AND' if joined else 'WHERE'} {bound}")


def _selected(lake: LakeTable) -> str:
    """The table's columns from a scan ``t`` (:func:`_scan`)."""
    return "t.* EXCLUDE (file_index, file_row_number)" if lake.columns else "t.* EXCLUDE (file_row_number)"


def _scan(lake: LakeTable, paths: Sequence[Path], indexes: Sequence[int], found: dict[str, tuple]) -> str:
    """A scan of ``paths`` (the table's files ``indexes``, or a delete file) with ``file_index``,
    ``file_row_number`` and the table's columns by its names. Where the files' columns are found
    by key (``lake.columns``), files that hold the table's fields alike are read together, one
    ``read_parquet`` each: a field renamed since a file was written has another name in it, and
    DuckDB, which matches nested fields by name, would read NULL for it."""
    if not lake.columns:
        union = ", union_by_name=true" if len(paths) > 1 else ""
        return f"read_parquet({literal_list([str(p) for p in paths])}, file_row_number=true{union})"
    alike: dict[tuple, list[tuple[Path, int]]] = {}
    for path, index in zip(paths, indexes):
        alike.setdefault(found[str(path)], []).append((path, index))
    return "(" + " UNION ALL BY NAME ".join(_read_alike(lake, group, layout) for layout, group in alike.items()) + ")"


def _read_alike(lake: LakeTable, files: Sequence[tuple[Path, int]], layout: tuple) -> str:
    """The table's columns from ``files`` (path, index among the table's files), which hold them
    as ``layout`` says; an Iceberg column is cast to the snapshot's type (an int widened to long)."""
    at = f"CAST({literal_list([i for _, i in files])} AS BIGINT[])[t.file_index::BIGINT + 1]"
    union = ", union_by_name=true" if len(files) > 1 else ""
    columns = ", ".join(f"{_column(c, at, held, lake.kind == 'iceberg')} AS {ident(c.name)}"
                        for c, held in zip(lake.columns, layout))
    return (f"SELECT {at} AS file_index, t.file_row_number, {columns} "
            f"FROM read_parquet({literal_list([str(p) for p, _ in files])}, file_row_number=true{union}) t")


def _column(column: LakeColumn, index: str, found: Found | None, cast: bool) -> str:
    """A column from a scan ``t`` of a file holding it as ``found`` (``index``: the file's
    index among the table's, which picks a partition column's value)."""
    if column.field is None:
        return f"CAST(CAST({literal_list(column.values)} AS VARCHAR[])[{index} + 1] AS {column.dtype})"
    value = _read(f"t.{ident(found[0])}" if found else "", column.field, found, 0)
    return f"CAST({value} AS {column.dtype})" if cast and found else value


def _read(value: str, field: TableField, found: Found | None, depth: int) -> str:
    """``value`` (SQL over a file's names) by the table's names: a struct the file holds under
    other names (Delta's physical names, an Iceberg field renamed since), or with fields the
    table dropped, is rebuilt field by field, also inside lists and maps (DuckDB casts structs
    by name, so a cast would read NULL); a NULL struct stays NULL; a field the file does not
    hold (added after it was written) is NULL of its type, as both formats' specs read it (or
    Iceberg's ``initial-default``, when it was added with one)."""
    if found is None:
        return f"CAST({field.default} AS {field.dtype})"
    _, exact, inner = found
    if exact:
        return value
    item = f"_sleuth_e{depth}"
    if field.kind == "struct":
        fields = ", ".join(f"{ident(f.name)} := "
                           f"{_read(f'struct_extract({value}, {literal(sub[0])})' if sub else '', f, sub, depth)}"
                           for f, sub in zip(field.inner, inner))
        return f"CASE WHEN {value} IS NULL THEN NULL ELSE struct_pack({fields}) END"
    if field.kind == "list":
        return f"list_transform({value}, lambda {item}: {_read(item, field.inner[0], inner[0], depth + 1)})"
    key, entry = (_read(f"{item}.{part}", f, sub, depth + 1) for part, f, sub in zip(("key", "value"), field.inner, inner))
    return (f"map_from_entries(list_transform(map_entries({value}), "
            f"lambda {item}: struct_pack(key := {key}, value := {entry})))")


def _found(store: Store, lake: LakeTable, cancel: CancelToken) -> dict[str, tuple]:
    """Where each file (data files, equality delete files) holds each of ``lake.columns`` (a
    :data:`Found`, None where it does not), from the files' Parquet schemas (footers) alone."""
    if not lake.columns:
        return {}
    paths = [*lake.files, *(delete.file for delete in lake.equality)]
    trees = _file_trees(store, paths, cancel)
    return {str(path): _layout(lake, path, trees[str(path)]) for path in paths}


def _layout(lake: LakeTable, path: Path, root: FileNode) -> tuple:
    """Where the file ``root`` holds each column. A file without field ids is read by name:
    an Iceberg file through the table's name mapping; a Delta file under ``id`` mapping is
    refused, as the protocol allows (it would read NULL in every column)."""
    if not any(node.field_id is not None for node in root.children):
        if lake.kind == "delta" and any(isinstance(c.field.key, int) for c in lake.columns if c.field):
            raise InputError("this Delta table finds its columns by Parquet field id (column mapping id mode), "
                             f"and its file {path.name} holds none", file=str(lake.folder))
        if lake.name_mapping:
            root = _named(root, lake.name_mapping)
    return tuple(_find(c.field, _child(root, c.field.key)) if c.field else None for c in lake.columns)


def _file_trees(store: Store, paths: Sequence[Path], cancel: CancelToken) -> dict[str, FileNode]:
    """Each file's Parquet schema as a tree, from one query over the footers."""
    trees = {}
    for file, *nodes in store.rows(
            f"SELECT file_name, list(name ORDER BY column_id), list(field_id ORDER BY column_id), "
            f"list(coalesce(repetition_type = 'REPEATED', false) ORDER BY column_id), "
            f"list(coalesce(num_children, 0) ORDER BY column_id) "
            f"FROM parquet_schema({literal_list([str(p) for p in paths])}) GROUP BY file_name", cancel):
        trees[file] = _node(iter(zip(*nodes)))
    return trees


def _node(nodes) -> FileNode:
    """The next node of a depth-first schema listing, with its children."""
    name, field_id, repeated, count = next(nodes)
    return FileNode(name, field_id, repeated, tuple(_node(nodes) for _ in range(count)))


def _named(node: FileNode, mapped: Sequence) -> FileNode:
    """``node`` with the field ids the name mapping ``mapped`` gives its children's names (Iceberg
    spec, "Column Projection": a name the mapping lacks has no id, so is not read); the groups a
    list's elements and a map's entries repeat in take their children's names from the same level."""
    children = []
    for child in node.children:
        entry = next((m for m in mapped if child.name in m.names), None)
        if entry is not None:
            children.append(replace(_named(child, entry.fields), field_id=entry.field_id))
        elif child.repeated:
            children.append(_named(child, mapped))
        else:
            children.append(replace(child, field_id=None, children=()))
    return replace(node, children=tuple(children))


def _child(node: FileNode, key: int | str | None) -> FileNode | None:
    """The child of ``node`` found by ``key``: a field id, or a name."""
    return next((c for c in node.children if (c.field_id if isinstance(key, int) else c.name) == key), None)


def _find(field: TableField, node: FileNode | None) -> Found | None:
    """Where the file's ``node`` holds ``field`` and each field inside it (see :data:`Found`)."""
    if node is None:
        return None
    if field.kind == "struct":
        inner = tuple(_find(f, _child(node, f.key)) for f in field.inner)
        exact = len(node.children) == len(inner) and all(
            sub is not None and sub[0] == f.name and sub[1] for f, sub in zip(field.inner, inner))
        return node.name, exact, inner
    if field.kind in ("list", "map"):
        inner = tuple(_find(f, part) for f, part in zip(field.inner, _parts(field, node)))
        return node.name, all(sub is not None and sub[1] for sub in inner), inner
    return node.name, True, ()


def _parts(field: TableField, node: FileNode) -> tuple[FileNode, ...]:
    """A list's element or a map's key and value under ``node``: inside the group they repeat
    in (Parquet's LIST and MAP layouts), except where that group is the element itself (an
    older two-level list, by the format's backward-compatibility rules)."""
    if not node.children:
        return ()
    repeated = node.children[0]
    if field.kind == "map":
        return repeated.children
    three_levels = len(repeated.children) == 1 and repeated.name not in ("array", f"{node.name}_tuple")
    return (repeated.children[0] if three_levels else repeated,)


def _equality_positions(store: Store, lake: LakeTable, delete: EqualityDelete, found: dict[str, tuple],
                        cancel: CancelToken) -> pa.Table:
    """The (``file_index``, ``pos``) rows an equality delete file removes: one semi-join over the
    equality columns of the files it applies to (nulls equal nulls, as the spec says)."""
    if not delete.file_indexes:
        return pa.table({"file_index": pa.array([], pa.int64()), "pos": pa.array([], pa.int64())})
    match = " AND ".join(f"t.{ident(c)} IS NOT DISTINCT FROM d.{ident(c)}" for c in delete.columns)
    with store.job_cursor(cancel) as cur:
        return cur.sql(
            f"SELECT t.file_index::BIGINT AS file_index, t.file_row_number::BIGINT AS pos "
            f"FROM {_scan(lake, lake.files, range(len(lake.files)), found)} t "
            f"SEMI JOIN {_scan(lake, [delete.file], [0], found)} d ON {match} "
            f"WHERE t.file_index IN ({', '.join(map(str, delete.file_indexes))})").to_arrow_table()


def _make_ranks(store: Store, ranks: str, deleted: pa.Table, sizes: Sequence[int], cancel: CancelToken) -> list[int]:
    """Create the rank table; return how many rows each file lost."""
    per_file = pa.table({"file_index": pa.array(range(len(sizes)), pa.int64()), "rows": pa.array(sizes, pa.int64())})
    with store.job_cursor(cancel) as cur:
        cur.register("lake_deleted", deleted)
        cur.register("lake_sizes", per_file)
        cur.execute(f"""
            CREATE TABLE {ident(ranks)} AS
            WITH d AS (SELECT DISTINCT file_index, pos FROM lake_deleted),
            masks AS (SELECT file_index, pos // {RANK_BUCKET} AS bucket, count(*) AS n,
                             bit_or(1::UBIGINT << (pos % {RANK_BUCKET})::INTEGER) AS mask FROM d GROUP BY ALL),
            buckets AS (SELECT file_index, unnest(range(0, (rows + {RANK_BUCKET - 1}) // {RANK_BUCKET})) AS bucket
                        FROM lake_sizes WHERE file_index IN (SELECT file_index FROM d))
            SELECT file_index, bucket, coalesce(mask, 0::UBIGINT) AS mask,
                   coalesce(sum(n) OVER (PARTITION BY file_index ORDER BY bucket
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::BIGINT AS before
            FROM buckets LEFT JOIN masks USING (file_index, bucket)""")
        lost = dict(cur.execute("SELECT file_index, count(DISTINCT pos) FROM lake_deleted GROUP BY ALL").fetchall())
        cur.unregister("lake_deleted")
        cur.unregister("lake_sizes")
    return [int(lost.get(i, 0)) for i in range(len(sizes))]


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise InputError(f"only local tables can be read here, not {parsed.scheme}:// storage", file=uri)
