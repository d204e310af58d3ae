"""Lakehouse table features the installed writers cannot produce, written from the specs.

delta-rs 1.6 reads deletion vectors but its DELETE rewrites files instead of writing them, and
pyiceberg 0.12 falls back to copy-on-write for merge-on-read deletes. These helpers write what
Spark / Trino would: a deletion vector file and a DELETE commit (Delta protocol, "Deletion
Vectors": file format, descriptor with storage type ``u`` and a Z85-encoded UUID, RoaringBitmapArray
in its portable form), and an Iceberg position delete file in a manifest whose content is deletes
(Iceberg table spec v2, "Position Delete Files"), committed through pyiceberg's own snapshot producer.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
DV_MAGIC = 1681511377
ROARING_NO_RUNS = 12346


def z85(data: bytes) -> str:
    """ZeroMQ's Base85, which the Delta protocol uses for the UUID of a deletion vector file."""
    return "".join("".join(Z85[word // 85 ** k % 85] for k in range(4, -1, -1))
                   for (word,) in struct.iter_unpack(">I", data))


def roaring32(values: Sequence[int]) -> bytes:
    """A 32-bit RoaringBitmap in the portable format, array containers only (< 4096 per key)."""
    keys = sorted({v >> 16 for v in values})
    groups = {k: sorted(v & 0xFFFF for v in values if v >> 16 == k) for k in keys}
    header = struct.pack("<II", ROARING_NO_RUNS, len(keys))
    header += b"".join(struct.pack("<HH", k, len(groups[k]) - 1) for k in keys)
    bodies = [struct.pack(f"<{len(groups[k])}H", *groups[k]) for k in keys]
    start = len(header) + 4 * len(keys)
    offsets = [start + sum(map(len, bodies[:i])) for i in range(len(keys))]
    return header + b"".join(struct.pack("<I", o) for o in offsets) + b"".join(bodies)


def delete_with_vector(table: Path, positions: dict[str, Sequence[int]]) -> None:
    """Commit a DELETE of ``positions`` (row numbers per data file path, as in the log) as
    deletion vectors, in one ``deletion_vector_<uuid>.bin`` holding one vector per file."""
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    adds = {}
    for commit in sorted(log.glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                adds[action["add"]["path"]] = {k: v for k, v in action["add"].items() if v is not None}
    ident = uuid.uuid4()
    blob, now, actions = bytearray(b"\x01"), int(time.time() * 1000), []
    for path, rows in positions.items():
        data = struct.pack("<Iq", DV_MAGIC, 1) + struct.pack("<I", 0) + roaring32(rows)
        descriptor = {"storageType": "u", "pathOrInlineDv": z85(ident.bytes), "offset": len(blob),
                      "sizeInBytes": len(data), "cardinality": len(rows)}
        blob += struct.pack(">I", len(data)) + data + struct.pack(">I", zlib.crc32(data))
        add = adds[path]
        actions += [{"remove": {"path": path, "deletionTimestamp": now, "dataChange": True,
                                "partitionValues": add["partitionValues"], "size": add["size"]}},
                    {"add": {**add, "deletionVector": descriptor, "modificationTime": now}}]
    (table / f"deletion_vector_{ident}.bin").write_bytes(bytes(blob))
    actions.append({"commitInfo": {"timestamp": now, "operation": "DELETE"}})
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def iceberg_position_delete(table, deletes: dict[str, Sequence[int]], where: Path) -> None:
    """Commit one position delete file removing ``deletes`` (row numbers per data file path)."""
    from pyiceberg.manifest import DataFileContent

    rows = sorted((path, pos) for path, positions in deletes.items() for pos in positions)
    rows = pa.table({"file_path": [r[0] for r in rows], "pos": pa.array([r[1] for r in rows], pa.int64())})
    commit_delete_file(table, rows, DataFileContent.POSITION_DELETES, where)


def iceberg_equality_delete(table, rows: pa.Table, where: Path) -> None:
    """Commit one equality delete file: every older row whose columns equal one of ``rows`` is deleted."""
    from pyiceberg.manifest import DataFileContent

    ids = [table.schema().find_field(name).field_id for name in rows.column_names]
    commit_delete_file(table, rows, DataFileContent.EQUALITY_DELETES, where, ids)


def commit_delete_file(table, rows: pa.Table, content, where: Path, equality_ids=None) -> None:
    """Write ``rows`` as a delete file and commit it in a delete manifest through pyiceberg's own
    snapshot producer (its writer, told that the manifest's content is deletes)."""
    from pyiceberg.manifest import DataFile, FileFormat, ManifestContent, ManifestWriterV2
    from pyiceberg.typedef import Record

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    file = where / f"delete-{uuid.uuid4()}.parquet"
    pq.write_table(rows, file)
    delete_file = DataFile.from_args(content=content, file_path=f"file://{file}", file_format=FileFormat.PARQUET,
                                     partition=Record(), record_count=rows.num_rows,
                                     file_size_in_bytes=file.stat().st_size, equality_ids=equality_ids)
    delete_file.spec_id = table.metadata.default_spec_id
    with table.transaction() as tx:
        with tx.update_snapshot().fast_append() as append:
            producer_writer = append.new_manifest_writer

            def delete_writer(spec):
                plain = producer_writer(spec)
                return DeleteManifestWriter(spec, plain._schema, plain._output_file, plain._snapshot_id,
                                            plain._compression)
            append.new_manifest_writer = delete_writer
            append.append_data_file(delete_file)


PHYSICAL, FIELD_ID = "delta.columnMapping.physicalName", "delta.columnMapping.id"
ARROW_TYPES = {"string": pa.string(), "long": pa.int64(), "integer": pa.int32(), "double": pa.float64(),
               "boolean": pa.bool_()}


def commit_mapped_schema(table: Path, edit, rows: Sequence[dict] = (), operation: str = "CHANGE COLUMN") -> None:
    """Commit a schema change on a column-mapped Delta table as Spark writes ``ALTER TABLE ...
    ADD / RENAME / DROP COLUMN`` (delta-rs refuses schema evolution under column mapping):
    a metaData action with the edited schema (Delta protocol, "Column Mapping": every column,
    nested or not, has an id and a physical name; a new one gets the next id, ``maxColumnId``
    rises with it, and a new ``col-<uuid>`` name; a renamed one keeps its physical name; a
    dropped one leaves the schema). ``edit(fields, new_field)`` changes the schema's top-level
    field list in place, ``new_field(name, type)`` makes a field. ``rows``, by the table's
    names, go into one more data file under the physical names, with the ids as Parquet field ids."""
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    metadata = latest_metadata(table)
    schema = json.loads(metadata["schemaString"])
    last_id = [int(metadata["configuration"]["delta.columnMapping.maxColumnId"])]

    def new_field(name: str, dtype) -> dict:
        last_id[0] += 1
        return {"name": name, "type": dtype, "nullable": True,
                "metadata": {FIELD_ID: last_id[0], PHYSICAL: f"col-{uuid.uuid4()}"}}

    edit(schema["fields"], new_field)
    metadata = {**metadata, "schemaString": json.dumps(schema),
                "configuration": {**metadata["configuration"], "delta.columnMapping.maxColumnId": str(last_id[0])}}
    now = int(time.time() * 1000)
    actions = [{"metaData": metadata}]
    if rows:
        file = f"part-{uuid.uuid4()}.parquet"
        arrow = pa.schema([_arrow_field(f) for f in schema["fields"]])
        pq.write_table(pa.Table.from_pylist([_physical_row(row, schema) for row in rows], schema=arrow), table / file)
        actions.append({"add": {"path": file, "partitionValues": {}, "size": (table / file).stat().st_size,
                                "modificationTime": now, "dataChange": True}})
    actions.append({"commitInfo": {"timestamp": now, "operation": operation}})
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def latest_metadata(table: Path) -> dict:
    """The table's metaData action: the last one in the log wins (Delta protocol, "Action Reconciliation")."""
    return [json.loads(line)["metaData"] for commit in sorted((table / "_delta_log").glob("*.json"))
            for line in commit.read_text().splitlines() if line.startswith('{"metaData"')][-1]


def struct_fields(fields: list, *names: str) -> list:
    """The field list of the struct at ``names`` (through list elements and map values)."""
    for name in names:
        dtype = next(f for f in fields if f["name"] == name)["type"]
        while dtype["type"] in ("array", "map"):
            dtype = dtype["elementType"] if dtype["type"] == "array" else dtype["valueType"]
        fields = dtype["fields"]
    return fields


def physical(field: dict) -> str:
    return field["metadata"][PHYSICAL]


def _arrow_type(dtype, name_of=physical, ids: bool = True) -> pa.DataType:
    if isinstance(dtype, str):
        return ARROW_TYPES[dtype]
    if dtype["type"] == "struct":
        return pa.struct([_arrow_field(f, name_of, ids) for f in dtype["fields"]])
    if dtype["type"] == "array":
        return pa.list_(_arrow_type(dtype["elementType"], name_of, ids))
    return pa.map_(_arrow_type(dtype["keyType"], name_of, ids), _arrow_type(dtype["valueType"], name_of, ids))


def _arrow_field(field: dict, name_of=physical, ids: bool = True) -> pa.Field:
    """The Parquet field of a Delta schema field: named ``name_of(field)``, its id as field id."""
    return pa.field(name_of(field), _arrow_type(field["type"], name_of, ids),
                    metadata={"PARQUET:field_id": str(field["metadata"][FIELD_ID])} if ids else None)


def _physical_row(value, dtype, name_of=physical):
    """``value`` (by the table's names) with every struct's keys turned into ``name_of`` (physical names)."""
    if value is None or isinstance(dtype, str):
        return value
    if dtype["type"] == "struct":
        return {name_of(f): _physical_row(value.get(f["name"]), f["type"], name_of) for f in dtype["fields"]}
    if dtype["type"] == "array":
        return [_physical_row(v, dtype["elementType"], name_of) for v in value]
    pairs = value.items() if isinstance(value, dict) else value  # a map as a dict or as Arrow's pairs
    return [(k, _physical_row(v, dtype["valueType"], name_of)) for k, v in pairs]


def append_file(table: Path, rows: Sequence[dict], name_of=physical, field_ids: bool = True) -> str:
    """Commit one more data file holding ``rows`` (by the table's names) under the names
    ``name_of(field)`` gives each column and nested field (the physical names by default), with
    the log's ``delta.columnMapping.id`` as Parquet field ids (none when not ``field_ids``).
    Returns the file's name."""
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    schema = json.loads(latest_metadata(table)["schemaString"])
    arrow = pa.schema([_arrow_field(f, name_of, field_ids) for f in schema["fields"]])
    file, now = f"part-{uuid.uuid4()}.parquet", int(time.time() * 1000)
    pq.write_table(pa.Table.from_pylist([_physical_row(row, schema, name_of) for row in rows], schema=arrow), table / file)
    actions = [{"add": {"path": file, "partitionValues": {}, "size": (table / file).stat().st_size,
                        "modificationTime": now, "dataChange": True}},
               {"commitInfo": {"timestamp": now, "operation": "WRITE"}}]
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    return file


def add_mapped_column(table: Path, name: str, values: pa.Array) -> None:
    """Commit ``ALTER TABLE ADD COLUMN name`` (a string) on a column-mapped Delta table and append
    one file holding it (:func:`commit_mapped_schema`), the older string columns filled as ``late<i>``."""
    def edit(fields, new_field):
        fields.append(new_field(name, "string"))
    older = json.loads(latest_metadata(table)["schemaString"])["fields"]
    rows = [{**{f["name"]: f"late{i}" if f["type"] == "string" else None for f in older}, name: value}
            for i, value in enumerate(values.to_pylist())]
    commit_mapped_schema(table, edit, rows, "ADD COLUMNS")


def turn_on_column_mapping(table: Path) -> None:
    """Commit ``ALTER TABLE SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')`` on a table
    that had none, as Delta Spark does: every existing column and nested field keeps its display
    name as its physical name (the files are not rewritten) and gets an id."""
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    metadata = latest_metadata(table)
    schema, last_id = json.loads(metadata["schemaString"]), [0]

    def assign(dtype) -> None:
        if isinstance(dtype, str):
            return
        for field in dtype.get("fields", ()):
            last_id[0] += 1
            field["metadata"] = {**field.get("metadata", {}), FIELD_ID: last_id[0], PHYSICAL: field["name"]}
            assign(field["type"])
        for inner in ("elementType", "keyType", "valueType"):
            if inner in dtype:
                assign(dtype[inner])
    assign(schema)
    metadata = {**metadata, "schemaString": json.dumps(schema),
                "configuration": {**metadata["configuration"], "delta.columnMapping.mode": "name",
                                  "delta.columnMapping.maxColumnId": str(last_id[0])}}
    now = int(time.time() * 1000)
    actions = [{"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}}, {"metaData": metadata},
               {"commitInfo": {"timestamp": now, "operation": "SET TBLPROPERTIES"}}]
    (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
