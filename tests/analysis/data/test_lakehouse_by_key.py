"""Lakehouse files whose columns the table's names do not find: nested fields renamed since a
file was written (Iceberg), files written without field ids (Iceberg's name mapping), and
Delta's column mapping in ``id`` mode (files found by field id whatever their names)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.data.loading import open_dataset
from analysis.errors import InputError
from analysis.window import TableSpec, fetch_window, prepare_table
from tests.analysis.data.test_lakehouse import iceberg_table

ITEM = pa.struct([("sku", pa.string()), ("qty", pa.int64())])
NESTED = pa.schema([("request_id", pa.string()),
                    ("features", pa.struct([("age", pa.int64()), ("geo", pa.struct([("city", pa.string())]))])),
                    ("items", pa.list_(ITEM)),
                    ("by_model", pa.map_(pa.string(), pa.struct([("p", pa.float64())])))])
FIRST = [{"request_id": "a", "features": {"age": 1, "geo": {"city": "Lyon"}}, "items": [{"sku": "p1", "qty": 2}],
          "by_model": [("m1", {"p": 0.5})]},
         {"request_id": "b", "features": None, "items": [], "by_model": []},
         {"request_id": "c", "features": {"age": 3, "geo": None}, "items": [{"sku": "p2", "qty": None}],
          "by_model": [("m2", {"p": None})]}]


def view_rows(store, opened, names) -> list[dict]:
    with store.job_cursor() as cur:
        return cur.sql(f'SELECT {", ".join(names)} FROM "{opened.view}" ORDER BY request_id').to_arrow_table().to_pylist()


def paged_rows(store, opened, names) -> list[dict]:
    """The rows as the table shows them: page by page, each file read alone (the view's rows macro)."""
    window = prepare_table(store, TableSpec(opened.view, tuple(names)))
    rows = sorted(fetch_window(store, window, 0, window.row_count).raw, key=lambda row: row[0])
    return [dict(zip(names, row)) for row in rows]


def as_dicts(rows: list[dict]) -> list[dict]:
    """Maps as DuckDB's rows give them (dicts), from Arrow's lists of pairs."""
    return [{k: dict(v) if k == "by_model" and v is not None else v for k, v in row.items()} for row in rows]


def test_iceberg_nested_fields_renamed_added_and_dropped_read_by_field_id(store, tmp_path):
    """Iceberg finds nested fields by field id too (spec, "Column Projection"): after pyiceberg's
    own update_schema renames a struct's field (in a struct, in a list's structs, in a map's
    values), adds one and drops one, and a later change reuses the old name for a new field and
    adds fields with a default (``initial-default``), the older file's values read under the new
    names, the reused name reads NULL there, the defaults their value, the dropped field is gone. pyiceberg's own scan is the truth; a page reads each file alone. The
    first snapshot, by id or by time, reads with its own schema."""
    from pyiceberg.types import DoubleType, LongType, StringType

    catalog, table = iceberg_table(tmp_path, pa.Table.from_pylist(FIRST, NESTED))
    before = table.current_snapshot()
    with table.update_schema() as update:
        update.rename_column("features.age", "age_years")
        update.rename_column("items.sku", "product")
        update.rename_column("by_model.p", "prob")
        update.add_column(("features", "geo", "lat"), DoubleType())
        update.delete_column("features.geo.city")
    with catalog.load_table("ml.predictions").update_schema() as update:
        update.add_column(("features", "age"), StringType())  # the old name, a new field
        update.add_column(("features", "tier"), LongType(), default_value=7)  # older rows read 7
        update.add_column("channel", StringType(), default_value="web")
    table = catalog.load_table("ml.predictions")
    later = [{"request_id": "d", "features": {"age_years": 4, "geo": {"lat": 59.9}, "age": "forty", "tier": 1},
              "items": [{"product": "p3", "qty": 1}], "by_model": [("m1", {"prob": 0.9})], "channel": None}]
    table.append(pa.Table.from_pylist(later, table.schema().as_arrow()))
    opened = open_dataset(store, [str(tmp_path / "ml" / "predictions")])
    names = ["request_id", "features", "items", "by_model", "channel"]
    theirs = sorted(table.scan().to_arrow().to_pylist(), key=lambda row: row["request_id"])
    ours = view_rows(store, opened, names)
    assert ours == theirs
    assert ours[0]["features"] == {"age_years": 1, "geo": {"lat": None}, "age": None, "tier": 7}
    assert [row["channel"] for row in ours] == ["web", "web", "web", None]
    assert ours[0]["items"] == [{"product": "p1", "qty": 2}] and ours[0]["by_model"] == [("m1", {"prob": 0.5})]
    assert paged_rows(store, opened, names) == as_dicts(ours)
    folder = str(tmp_path / "ml" / "predictions")
    first_names = names[:-1]
    assert view_rows(store, open_dataset(store, [folder], as_of=str(before.snapshot_id)), first_names) == FIRST
    at_time = dt.datetime.fromtimestamp(before.timestamp_ms / 1000, dt.timezone.utc).isoformat()
    assert view_rows(store, open_dataset(store, [folder], as_of=at_time), first_names) == FIRST  # its own schema


def test_iceberg_files_without_field_ids_are_read_through_the_name_mapping(store, tmp_path):
    """A Parquet file imported by pyiceberg's add_files holds no field ids; the table's name
    mapping (``schema.name-mapping.default``, which pyiceberg's renames extend with the new
    names) gives them by the names it was written under. After a column and a nested field are
    renamed, the imported rows read under the new names, as pyiceberg's own scan reads them."""
    catalog, table = iceberg_table(tmp_path, pa.Table.from_pylist(FIRST[:1], NESTED))
    imported = tmp_path / "imported.parquet"
    pq.write_table(pa.Table.from_pylist(FIRST[1:], NESTED), imported)
    table.add_files([f"file://{imported}"])
    with catalog.load_table("ml.predictions").update_schema() as update:
        update.rename_column("features.age", "age_years")
        update.rename_column("items", "basket")
    table = catalog.load_table("ml.predictions")
    assert "schema.name-mapping.default" in table.metadata.properties
    opened = open_dataset(store, [str(tmp_path / "ml" / "predictions")])
    names = ["request_id", "features", "basket", "by_model"]
    ours = view_rows(store, opened, names)
    assert ours == sorted(table.scan().to_arrow().to_pylist(), key=lambda row: row["request_id"])
    assert ours[2]["features"] == {"age_years": 3, "geo": None} and ours[2]["basket"] == [{"sku": "p2", "qty": None}]
    assert paged_rows(store, opened, names) == as_dicts(ours)


def id_mapped_delta(path, rows: list[dict]) -> None:
    """A Delta table in column mapping ``id`` mode, written by deltalake (physical names and
    field ids at every depth)."""
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.Table.from_pylist(rows, NESTED), configuration={"delta.columnMapping.mode": "id"})


def test_delta_id_mode_finds_columns_by_field_id_whatever_the_files_names(store, tmp_path):
    """In column mapping ``id`` mode the protocol ("Reader Requirements for Column Mapping")
    resolves a file's columns by Parquet field id, not by physical name: a file whose columns
    and nested fields carry the log's ids under other names (written by hand, as a converted
    table's files are) reads like the others, its rows as planted."""
    from tests.analysis.data.lake_by_hand import FIELD_ID, append_file

    path = tmp_path / "by_id"
    id_mapped_delta(path, FIRST[:2])
    append_file(path, FIRST[2:], name_of=lambda field: f"written_as_{field['metadata'][FIELD_ID]}")
    opened = open_dataset(store, [str(path)])
    names = [f.name for f in NESTED]
    assert view_rows(store, opened, names) == FIRST
    assert paged_rows(store, opened, names) == as_dicts(FIRST)


def test_delta_id_mode_refuses_a_file_without_field_ids_in_one_sentence(store, tmp_path):
    """The protocol lets a reader refuse a file without field ids in ``id`` mode (or read it as
    all NULL): it is refused, naming the table and the file."""
    from tests.analysis.data.lake_by_hand import append_file

    path = tmp_path / "no_ids"
    id_mapped_delta(path, FIRST[:2])
    file = append_file(path, FIRST[2:], field_ids=False)
    with pytest.raises(InputError) as caught:
        open_dataset(store, [str(path)])
    message = str(caught.value)
    assert "field id" in message and file in message and message.startswith(str(path)) and "\n" not in message
