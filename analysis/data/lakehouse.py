"""Delta Lake and Apache Iceberg tables, read as a view over the Parquet files of one version.

Both formats keep a log of which Parquet files make up each version of the table. The
table's own library (``deltalake`` for Delta, ``pyiceberg`` for Iceberg) reads that log, for
the newest version or the one ``--as-of`` names (a version number / snapshot id, or a time),
and Sleuth registers those files as it registers any Parquet log: a view read on demand,
never a copy, and no DuckDB extension to download. Partition columns come from the files'
``key=value`` folders.

A table that needs more than its files to be read right is still a view over them:

- Delta column mapping (``name`` or ``id`` mode): the files hold physical names (``col-<uuid>``)
  and the log the table's names; the view renames each column and each nested struct field,
  drops columns and fields the table dropped, reads NULL for a column or field a file does not
  hold (added to the table after the file was written), and takes partition values from the log
  (the folders are random prefixes then).
- Delta deletion vectors and Iceberg position delete files: the deleted (file, row) positions
  (delta-rs decodes the vectors; the delete files are small Parquet files of ``file_path, pos``)
  go into a rank table of one row per 64 rows of each file that lost any: a mask of the deleted
  rows and how many were deleted before. The view joins it on ``file_row_number``, leaves out the
  masked rows and subtracts the count, so ``ROW_ID`` stays dense; the data rows are never copied.

- Iceberg schema evolution: Iceberg selects a file's columns by field id, not name, so once
  the table's schema has changed (a column renamed, dropped, added or widened) the scan maps
  field ids to the snapshot's names and types (DuckDB's ``read_parquet(schema=...)``): an old
  file's column reads under its new name, a dropped one is gone, a missing one is NULL.
- Iceberg equality delete files: at open, one semi-join of the data files' equality columns with
  each delete file (over the data files it applies to: an older sequence number, the same
  partition unless the delete is global) finds the positions it deletes, which then go into the
  same rank table. pyiceberg itself refuses such tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field as dataclass_field
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

Held = frozenset[tuple[str, str]]
"""The (owner, name) pairs of a file's columns and nested fields: a top-level column's owner is
``""``, a nested field's the physical name of the column or field holding it (the Parquet
groups that wrap list elements and map entries in between are skipped)."""

ICEBERG_METADATA = re.compile(r"^(?:v)?(\d+)(?:-[0-9a-f-]+)?\.metadata\.json$")


@dataclass(frozen=True)
class LakeColumn:
    """A table column: its name in the files, or (a partition column) its value per file."""

    name: str
    physical: str | None
    dtype: str = "VARCHAR"
    values: tuple[str | None, ...] = ()
    nested: object | None = dataclass_field(default=None, compare=False)
    """Its Delta type when it holds structs (also inside lists and maps), whose fields have
    physical names of their own: read by :func:`_logical`, field by field."""


@dataclass(frozen=True)
class EqualityDelete:
    """An Iceberg equality delete file: rows of ``file_indexes`` whose ``columns`` equal a row of it."""

    file: Path
    columns: tuple[str, ...]
    file_indexes: tuple[int, ...]


@dataclass(frozen=True)
class LakeTable:
    """The Parquet files of one version of a lakehouse table, and a sentence saying which.

    ``columns`` is set when the files' column names are not the table's (column mapping);
    ``deleted`` holds the (``file_index``, ``pos``) rows deletion vectors or delete files remove.
    """

    kind: str
    files: tuple[Path, ...]
    note: str
    columns: tuple[LakeColumn, ...] = ()
    deleted: pa.Table | None = None
    equality: tuple[EqualityDelete, ...] = ()
    folder: Path | None = None
    by_id: pa.Schema | None = dataclass_field(default=None, compare=False)
    """The snapshot's columns with their Parquet field ids, when files are read by id (Iceberg)."""

    @property
    def plain(self) -> bool:
        """Whether reading the files as they are gives the table's rows and names."""
        return (not self.columns and not self.equality and self.by_id is None
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
    except (DeltaError, ValueError, OSError) as exc:
        raise InputError(f"cannot read this Delta table: {str(exc).splitlines()[0]}", file=str(folder)) from exc
    files = tuple(_local(uri) for uri in table.file_uris())
    columns = _mapped_columns(table)
    deleted = (_deletion_vectors(table, files) if "deletionVectors" in (table.protocol().reader_features or ())
               else None)
    gone = 0 if deleted is None else deleted.num_rows
    return LakeTable("delta", files, f"Delta table version {table.version()} (newest {newest}), "
                                     f"{len(files)} Parquet file(s)" + _more_note(columns, gone), columns, deleted,
                     folder=folder)


def _more_note(columns: Sequence[LakeColumn], deleted: int) -> str:
    notes = (["columns renamed from the files' physical names (column mapping)"] if columns else []) + (
        [f"{deleted:,} deleted row(s) left out"] if deleted else [])
    return "; " + ", ".join(notes) if notes else ""


def _mapped_columns(table) -> tuple[LakeColumn, ...]:
    """The table's columns by their physical names, when column mapping is on; else none.

    Partition columns' values come from the log: under column mapping the folders are random
    prefixes, not ``key=value``."""
    if table.metadata().configuration.get("delta.columnMapping.mode", "none") == "none":
        return ()
    partitioned = set(table.metadata().partition_columns)
    actions = pa.table(table.get_add_actions(flatten=True)) if partitioned else None
    columns = []
    for field in table.schema().fields:
        if field.name in partitioned:
            values = tuple(actions.column(f"partition.{field.name}").cast(pa.string()).to_pylist())
            columns.append(LakeColumn(field.name, None, _duck_type(field.type), values))
        else:
            nested = field.type if _has_struct(field.type) else None
            columns.append(LakeColumn(field.name, _physical(field), _duck_type(field.type), nested=nested))
    return tuple(columns)


def _has_struct(dtype) -> bool:
    kind = type(dtype).__name__
    return (kind == "StructType" or (kind == "ArrayType" and _has_struct(dtype.element_type))
            or (kind == "MapType" and (_has_struct(dtype.key_type) or _has_struct(dtype.value_type))))


def _duck_type(dtype) -> str:
    """The DuckDB type of a Delta type, by the table's names: what a column or nested field a
    file does not hold is read as (a typed NULL, so every file's rows have the table's type)."""
    kind = type(dtype).__name__
    if kind == "StructType":
        return "STRUCT(" + ", ".join(f"{ident(f.name)} {_duck_type(f.type)}" for f in dtype.fields) + ")"
    if kind == "ArrayType":
        return f"{_duck_type(dtype.element_type)}[]"
    if kind == "MapType":
        return f"MAP({_duck_type(dtype.key_type)}, {_duck_type(dtype.value_type)})"
    name = getattr(dtype, "type", "string")
    if name.startswith("decimal"):
        return name.upper()
    return "BLOB" if name == "binary" else DELTA_TYPES.get(name, "VARCHAR")


def _physical(field) -> str:
    return field.metadata.get("delta.columnMapping.physicalName", field.name)


def _logical(value: str, dtype, depth: int, owner: str, held: Held) -> str:
    """``value`` (SQL over the files' physical names) with every nested struct field renamed to
    its name in the table: under column mapping a struct's fields, also inside lists and maps,
    have physical names of their own (Delta protocol, "Column Mapping"). DuckDB casts structs
    by name, so each struct is rebuilt field by field (a NULL struct stays NULL). A field the
    scanned files do not hold under ``owner`` (the physical name of the column or field the
    struct sits in; ``held``, see :func:`_held_fields`) was added to the table after they were
    written: the protocol reads NULL for it. A renamed field keeps its physical name, and a
    dropped one is no longer in the schema, so both read right from the table's schema alone."""
    kind, item = type(dtype).__name__, f"_sleuth_e{depth}"
    if kind == "StructType":
        fields = ", ".join(f"{ident(f.name)} := {_field(value, f, depth, owner, held)}" for f in dtype.fields)
        return f"CASE WHEN {value} IS NULL THEN NULL ELSE struct_pack({fields}) END"
    if kind == "ArrayType":
        element = _logical(item, dtype.element_type, depth + 1, owner, held)
        return value if element == item else f"list_transform({value}, lambda {item}: {element})"
    if kind == "MapType":
        key = _logical(f"{item}.key", dtype.key_type, depth + 1, owner, held)
        entry = _logical(f"{item}.value", dtype.value_type, depth + 1, owner, held)
        if key == f"{item}.key" and entry == f"{item}.value":
            return value
        return (f"map_from_entries(list_transform(map_entries({value}), "
                f"lambda {item}: struct_pack(key := {key}, value := {entry})))")
    return value


def _field(struct: str, field, depth: int, owner: str, held: Held) -> str:
    """One field of a struct ``struct`` by its physical name, renamed inside; NULL of its type
    where the files do not hold it."""
    physical = _physical(field)
    if (owner, physical) not in held:
        return f"CAST(NULL AS {_duck_type(field.type)})"
    return _logical(f"struct_extract({struct}, {literal(physical)})", field.type, depth, physical, held)


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
    tasks, sequence, equality = _plan(table, snapshot)
    files = tuple(_local(task.file.file_path) for task in tasks)
    deleted = _position_deletes(tasks)
    gone = 0 if deleted is None else deleted.num_rows
    schema = _snapshot_schema(table, snapshot)
    deletes = tuple(_equality_delete(table, schema, entry, tasks, sequence) for entry in equality)
    note = f"; rows matching {len(deletes)} equality delete file(s) left out" if deletes else ""
    by_id = _by_id(table, schema)
    note += "; columns matched by field id (the table's schema changed)" if by_id is not None else ""
    return LakeTable("iceberg", files, f"Iceberg snapshot {snapshot.snapshot_id}, {len(files)} Parquet file(s)"
                     + _more_note((), gone) + note, deleted=deleted, equality=deletes, folder=folder, by_id=by_id)


def _snapshot_schema(table, snapshot):
    """The schema a snapshot was written with (what time travel reads), else the table's."""
    schema_id = getattr(snapshot, "schema_id", None)
    found = next((s for s in table.metadata.schemas if s.schema_id == schema_id), None)
    return found or table.schema()


def _by_id(table, schema) -> pa.Schema | None:
    """The snapshot's columns as Arrow fields carrying their field ids, once the table has had
    more than one schema (before that, every file's names are the table's)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    if len(table.metadata.schemas) < 2:
        return None
    return schema_to_pyarrow(schema)


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
    by_id = _by_id_option(store, files, lake.by_id, cancel)
    options = by_id or (", union_by_name=true" if len(lake.files) > 1 else "")
    sizes = [int(counts[str(path)]) for path in lake.files]
    gone = [0] * len(sizes)
    deleted = [lake.deleted] if lake.deleted is not None else []
    deleted += [_equality_positions(store, files, delete, by_id or ", union_by_name=true", cancel)
                for delete in lake.equality]
    if any(part.num_rows for part in deleted):
        gone = _make_ranks(store, ranks, pa.concat_tables(deleted), sizes, cancel)
    firsts = [sum(s - g for s, g in zip(sizes[:i], gone[:i])) for i in range(len(sizes))]
    index = "t.file_index::BIGINT"
    number = f"CAST({literal_list(firsts)} AS BIGINT[])[{index} + 1] + t.file_row_number"
    scan = f"read_parquet({files}, file_row_number=true{options})"
    less, joined = _kept(ranks, index, any(gone))
    held = _held_fields(store, files, lake.columns, cancel) if lake.columns else {}
    anywhere = frozenset().union(*held.values())
    rows = f"(SELECT {number}{less} AS {ident(row_id)}, {_columns(lake.columns, index, anywhere)} FROM {scan} t{joined})"
    pages = [_file_page(path, i, first, lost, ranks, row_id, lake.columns, held.get(str(path), frozenset()), by_id)
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


def _held_fields(store: Store, files: str, columns: Sequence[LakeColumn], cancel: CancelToken) -> dict[str, Held]:
    """What each file holds, from its Parquet schema (footer) alone: a column or nested field
    added to the table later is in the newer files only. Pairs rather than names, since a
    table that turned column mapping on keeps its old names as physical names, which may repeat
    in different structs."""
    known = _physical_names(columns)
    held = {}
    for file, names, children in store.rows(
            f"SELECT file_name, list(name ORDER BY column_id), list(coalesce(num_children, 0) ORDER BY column_id) "
            f"FROM parquet_schema({files}) GROUP BY file_name", cancel):
        pairs, open_groups = set(), [["", children[0]]]  # the schema's root, then its columns depth first
        for node, count in zip(names[1:], children[1:]):
            owner = open_groups[-1][0]
            open_groups[-1][1] -= 1
            pairs.add((owner, node))
            if count:
                open_groups.append([node if node in known else owner, count])
            while open_groups and open_groups[-1][1] == 0:
                open_groups.pop()
        held[file] = frozenset(pairs)
    return held


def _physical_names(columns: Sequence[LakeColumn]) -> set[str]:
    """The physical names of the mapped columns and of every struct field inside them."""
    names, types = set(), [c.nested for c in columns if c.nested is not None]
    names.update(c.physical for c in columns if c.physical is not None)
    while types:
        dtype = types.pop()
        kind = type(dtype).__name__
        if kind == "StructType":
            names.update(_physical(f) for f in dtype.fields)
            types.extend(f.type for f in dtype.fields)
        elif kind == "ArrayType":
            types.append(dtype.element_type)
        elif kind == "MapType":
            types.extend((dtype.key_type, dtype.value_type))
    return names


def _file_page(path: Path, index: int, first: int, lost: int, ranks: str, row_id: str,
               columns: Sequence[LakeColumn], held: Held, by_id: str = "") -> str:
    """One file's rows of the ROW_ID range ``[PAGE_FROM, PAGE_TO)``: its row numbers from
    ``PAGE_FROM - first`` to ``PAGE_TO - first + lost`` (a kept row moves up by at most the
    rows the file lost), so the reader skips the row groups and files outside them. A mapped
    column or nested field the file does not hold (``held``) is NULL in it, as in the scan of
    all files."""
    less, joined = _kept(ranks, str(index), lost > 0)
    bound = (f"t.file_row_number >= {PAGE_FROM} - {first} AND t.file_row_number < {PAGE_TO} - {first} + {lost}")
    scan = f"read_parquet({literal_list([str(path)])}, file_row_number=true{by_id})"
    return (f"SELECT {first} + t.file_row_number{less} AS {ident(row_id)}, {_columns(columns, str(index), held)} "
            f"FROM {scan} t{joined} {'AND' if joined else 'WHERE'} {bound}")


def _by_id_option(store: Store, files: str, schema: pa.Schema | None, cancel: CancelToken) -> str:
    """``read_parquet``'s option that reads each file's columns by field id under the snapshot's
    names and types (Iceberg spec, "Column Projection": ids not in a file read NULL); "" without
    ``schema``, or when a file holds no field ids (added by ``add_files`` and resolved through the
    table's name mapping, which this does not read): those are read by name, as before. The
    DuckDB types are those DuckDB gives an empty Arrow table of the schema."""
    if schema is None:
        return ""
    (with_ids, every), = store.rows(f"SELECT count(DISTINCT file_name) FILTER (WHERE field_id IS NOT NULL), "
                                    f"count(DISTINCT file_name) FROM parquet_schema({files})", cancel)
    if with_ids < every:
        return ""
    with store.job_cursor(cancel) as cur:
        cur.register("lake_schema", schema.empty_table())
        types = [row[1] for row in cur.execute("DESCRIBE SELECT * FROM lake_schema").fetchall()]
        cur.unregister("lake_schema")
    entries = ", ".join(f"{int(field.metadata[b'PARQUET:field_id'])}: {{name: {literal(field.name)}, "
                        f"type: {literal(dtype)}, default_value: NULL}}" for field, dtype in zip(schema, types))
    return f", schema=MAP {{{entries}}}"


def _equality_positions(store: Store, files: str, delete: EqualityDelete, options: str,
                        cancel: CancelToken) -> pa.Table:
    """The (``file_index``, ``pos``) rows an equality delete file removes: one semi-join over the
    equality columns of the files it applies to (nulls equal nulls, as the spec says)."""
    if not delete.file_indexes:
        return pa.table({"file_index": pa.array([], pa.int64()), "pos": pa.array([], pa.int64())})
    match = " AND ".join(f"t.{ident(c)} IS NOT DISTINCT FROM d.{ident(c)}" for c in delete.columns)
    with store.job_cursor(cancel) as cur:
        return cur.sql(
            f"SELECT t.file_index::BIGINT AS file_index, t.file_row_number::BIGINT AS pos "
            f"FROM read_parquet({files}, file_row_number=true{options}) t "
            f"SEMI JOIN read_parquet({literal_list([str(delete.file)])}{options}) d ON {match} "
            f"WHERE t.file_index IN ({', '.join(map(str, delete.file_indexes))})").to_arrow_table()


def _columns(columns: Sequence[LakeColumn], index: str, held: Held = frozenset()) -> str:
    """The table's columns from a scan ``t`` of file number ``index`` (an expression): renamed
    from physical names, partition values per file; NULL where the scanned files do not hold a
    column or nested field (``held``: what the one file holds, or any of them for a scan of all)."""
    if not columns:
        return "t.* EXCLUDE (file_row_number)"
    return ", ".join(f"{_column(c, index, held)} AS {ident(c.name)}" for c in columns)


def _column(column: LakeColumn, index: str, held: Held) -> str:
    if column.physical is None:
        return f"CAST(CAST({literal_list(column.values)} AS VARCHAR[])[{index} + 1] AS {column.dtype})"
    if ("", column.physical) not in held:
        return f"CAST(NULL AS {column.dtype})"
    read = f"t.{ident(column.physical)}"
    return read if column.nested is None else _logical(read, column.nested, 0, column.physical, held)


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
