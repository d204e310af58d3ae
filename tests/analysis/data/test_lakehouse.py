"""Delta and Iceberg tables open at their newest version and travel back with --as-of."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

from analysis.data.loading import open_dataset
from analysis.data.open_log import LogOptions, load_log
from analysis.errors import InputError
from analysis.query import ROW_ID


def batch(start: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"request_id": [f"r{i}" for i in range(start, start + rows)],
                         "region": ["EU" if i % 3 else "US" for i in range(start, start + rows)],
                         "score": [(i % 10) / 10 for i in range(start, start + rows)]})


def rows_of(store, dataset) -> pd.DataFrame:
    return store.df(f'SELECT request_id, region, score FROM "{dataset.view}" ORDER BY request_id')


def expected(*frames) -> pd.DataFrame:
    return pd.concat(frames).sort_values("request_id").reset_index(drop=True)


def iceberg_table(tmp_path, rows: pd.DataFrame | pa.Table):
    """An Iceberg table ``ml.predictions`` in a local sql-sqlite catalog, ``rows`` its first append."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("local", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=f"file://{tmp_path}")
    catalog.create_namespace("ml")
    first = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    table = catalog.create_table("ml.predictions", schema=first.schema)
    table.append(first)
    return catalog, table


def test_delta_table_newest_version_and_time_travel(store, tmp_path):
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "predictions"
    write_deltalake(str(path), batch(0, 20), partition_by=["region"])
    write_deltalake(str(path), batch(20, 10), partition_by=["region"], mode="append")
    write_deltalake(str(path), batch(100, 5), partition_by=["region"], mode="overwrite")
    newest = open_dataset(store, [str(path)])
    assert newest.format == "delta" and newest.report.warnings[0].startswith("Delta table version 2")
    pd.testing.assert_frame_equal(rows_of(store, newest), expected(batch(100, 5)), check_dtype=False)
    version_one = open_dataset(store, [str(path)], as_of="1")
    pd.testing.assert_frame_equal(rows_of(store, version_one), expected(batch(0, 20), batch(20, 10)),
                                  check_dtype=False)
    first_commit = DeltaTable(str(path)).history()[-1]["timestamp"]
    at_time = dt.datetime.fromtimestamp(first_commit / 1000, tz=dt.timezone.utc).isoformat()
    pd.testing.assert_frame_equal(rows_of(store, open_dataset(store, [str(path)], as_of=at_time)),
                                  expected(batch(0, 20)), check_dtype=False)


def test_iceberg_table_from_a_local_sql_catalog_with_snapshots(store, tmp_path):
    catalog, table = iceberg_table(tmp_path, batch(0, 12))
    first_snapshot = table.current_snapshot().snapshot_id
    table.append(pa.Table.from_pandas(batch(12, 8), preserve_index=False))
    folder = tmp_path / "ml" / "predictions"
    loaded = load_log(store, [str(folder)], check=False)
    assert loaded.dataset.format == "iceberg" and loaded.roles.id == "request_id"
    pd.testing.assert_frame_equal(rows_of(store, loaded.dataset), expected(batch(0, 12), batch(12, 8)),
                                  check_dtype=False)
    old = load_log(store, [str(folder)], check=False, options=LogOptions(as_of=str(first_snapshot)))
    pd.testing.assert_frame_equal(rows_of(store, old.dataset), expected(batch(0, 12)), check_dtype=False)
    assert store.scalar(f'SELECT max("{ROW_ID}") FROM "{old.dataset.view}"') == 11


def test_as_of_on_a_plain_file_and_a_bad_version_are_one_sentence(store, tmp_path):
    from deltalake import write_deltalake

    batch(0, 3).to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="--as-of reads a version of a Delta or Iceberg table"):
        open_dataset(store, [str(tmp_path / "plain.parquet")], as_of="3")
    write_deltalake(str(tmp_path / "t"), batch(0, 3))
    with pytest.raises(InputError, match="this Delta table has no version 7: its versions run from 0 to 0"):
        open_dataset(store, [str(tmp_path / "t")], as_of="7")
    with pytest.raises(InputError, match="this Delta table did not exist at 2020-01-01T00:00:00"):
        open_dataset(store, [str(tmp_path / "t")], as_of="2020-01-01")
    with pytest.raises(InputError, match="version number or an ISO time"):
        open_dataset(store, [str(tmp_path / "t")], as_of="yesterday")


def dense_row_ids(store, dataset) -> bool:
    """ROW_ID runs 0..n-1 without a gap, as paging by row-id range needs."""
    count, low, high, distinct = store.rows(f'SELECT count(*), min("{ROW_ID}"), max("{ROW_ID}"), '
                                            f'count(DISTINCT "{ROW_ID}") FROM "{dataset.view}"')[0]
    return low == 0 and high == count - 1 and distinct == count


def library_read(reader) -> pd.DataFrame:
    """The table's own library's read of its rows, in the order the tests compare."""
    return (pa.RecordBatchReader.from_stream(reader).read_all().to_pandas()[["request_id", "region", "score"]]
            .sort_values("request_id").reset_index(drop=True))


def test_delta_column_mapping_reads_the_tables_names_and_partition_values(store, tmp_path):
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "mapped"
    write_deltalake(str(path), batch(0, 30), partition_by=["region"],
                    configuration={"delta.columnMapping.mode": "name"})
    write_deltalake(str(path), batch(30, 9), partition_by=["region"], mode="append")
    opened = open_dataset(store, [str(path)])
    assert {c.name for c in opened.columns} == {"request_id", "region", "score"}
    assert "column mapping" in opened.report.warnings[0]
    pd.testing.assert_frame_equal(rows_of(store, opened), library_read(DeltaTable(str(path)).scan()),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(rows_of(store, opened), expected(batch(0, 30), batch(30, 9)), check_dtype=False)
    assert dense_row_ids(store, opened)


def test_delta_deletion_vectors_leave_out_the_deleted_rows_and_keep_row_ids_dense(store, tmp_path):
    from deltalake import DeltaTable, write_deltalake
    from tests.analysis.data.lake_by_hand import delete_with_vector

    path = tmp_path / "deleted"
    write_deltalake(str(path), batch(0, 200), configuration={"delta.enableDeletionVectors": "true"})
    write_deltalake(str(path), batch(200, 150), mode="append")
    by_rows = {a["num_records"]: a["path"] for a in pa.table(DeltaTable(str(path)).get_add_actions()).to_pylist()}
    first, second = by_rows[200], by_rows[150]
    planted = {first: [0, 1, 63, 64, 130, 199], second: [5, 149]}
    delete_with_vector(path, planted)
    opened = open_dataset(store, [str(path)])
    library = library_read(DeltaTable(str(path)).scan())
    assert len(library) == 350 - 8  # delta-rs itself reads the hand-made vectors as deleting 8 rows
    pd.testing.assert_frame_equal(rows_of(store, opened), library, check_dtype=False)
    assert "8 deleted row(s) left out" in opened.report.warnings[0]
    assert dense_row_ids(store, opened)
    page = store.df(f'SELECT request_id FROM "{opened.view}" WHERE "{ROW_ID}" BETWEEN 190 AND 194 '
                    f'ORDER BY "{ROW_ID}"').request_id.tolist()
    kept = {first: [f"r{i}" for i in range(200) if i not in planted[first]],
            second: [f"r{200 + i}" for i in range(150) if i not in planted[second]]}
    in_file_order = [rid for file in opened.paths for rid in kept[first if file.endswith(first) else second]]
    assert page == in_file_order[190:195]  # e.g. r195..r198, r200 when the 200-row file comes first
    before = open_dataset(store, [str(path)], as_of="1")  # the version before the DELETE has every row
    assert before.row_count == 350 and len(before.report.warnings[0].split(";")) == 1
    vectors = next(path.glob("deletion_vector_*.bin"))
    vectors.unlink()  # a deletion vector file gone: one sentence naming it, not delta-rs's DeltaError
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: cannot read this Delta table: .*{vectors.name}$"):
        open_dataset(store, [str(path)])


def test_iceberg_position_deletes_leave_out_the_deleted_rows(store, tmp_path):
    from tests.analysis.data.lake_by_hand import iceberg_position_delete

    catalog, table = iceberg_table(tmp_path, batch(0, 40))
    table.append(pa.Table.from_pandas(batch(40, 25), preserve_index=False))
    files = {task.file.record_count: task.file.file_path for task in table.scan().plan_files()}
    iceberg_position_delete(table, {files[40]: [0, 7, 39], files[25]: [12]}, tmp_path)
    table = catalog.load_table("ml.predictions")
    opened = open_dataset(store, [str(tmp_path / "ml" / "predictions")])
    library = table.scan().to_pandas()[["request_id", "region", "score"]].sort_values("request_id")
    assert len(library) == 65 - 4  # pyiceberg itself applies the hand-made delete file
    pd.testing.assert_frame_equal(rows_of(store, opened), library.reset_index(drop=True), check_dtype=False)
    assert "4 deleted row(s) left out" in opened.report.warnings[0]
    assert dense_row_ids(store, opened)


def test_iceberg_equality_deletes_remove_older_matching_rows_only(store, tmp_path):
    """pyiceberg refuses to read equality deletes, so the truth is the planted one: r1 and r30 are
    deleted from the first append; r1 written again after the delete (a newer sequence number) stays."""
    from tests.analysis.data.lake_by_hand import iceberg_equality_delete

    table = iceberg_table(tmp_path, batch(0, 40))[1]
    iceberg_equality_delete(table, pa.table({"request_id": ["r1", "r30", "r999"]}), tmp_path)
    again = batch(1, 1).assign(score=0.55)
    table.append(pa.Table.from_pandas(again, preserve_index=False))
    opened = open_dataset(store, [str(tmp_path / "ml" / "predictions")])
    kept = batch(0, 40)[lambda f: ~f.request_id.isin(["r1", "r30"])]
    pd.testing.assert_frame_equal(rows_of(store, opened), expected(kept, again), check_dtype=False)
    assert dense_row_ids(store, opened)
    assert "1 equality delete file(s)" in opened.report.warnings[0]


def spoil_row_groups(file: Path, groups: Sequence[int]) -> None:
    """Overwrite the column chunks of row groups ``groups`` with bytes no reader decodes, leaving
    the footer intact: a query that reads those row groups fails, one that skips them does not."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(file).metadata
    with open(file, "r+b") as handle:
        for group in groups:
            for c in range(meta.num_columns):
                chunk = meta.row_group(group).column(c)
                start = chunk.dictionary_page_offset or chunk.data_page_offset
                handle.seek(start)
                handle.write(b"\xff" * chunk.total_compressed_size)


def test_a_page_of_a_table_with_deleted_rows_reads_only_its_own_row_groups(store, tmp_path):
    """Pages of a Delta table with deletion vectors: every page holds the table's rows in file
    order (ROW_ID dense), a plain page and a page of a slice; and a page skips the row groups
    that do not hold it. Those are spoiled after the open: reading one (as a ROW_ID filter over
    the whole view did, a full scan per page) fails the page."""
    from deltalake import DeltaTable, WriterProperties, write_deltalake
    from tests.analysis.data.lake_by_hand import delete_with_vector

    from analysis.query import Sql
    from analysis.window import TableSpec, fetch_window, prepare_table

    path = tmp_path / "paged"
    small_groups = WriterProperties(max_row_group_size=100)
    write_deltalake(str(path), batch(0, 1000), configuration={"delta.enableDeletionVectors": "true"},
                    writer_properties=small_groups)
    write_deltalake(str(path), batch(1000, 500), mode="append", writer_properties=small_groups)
    by_rows = {a["num_records"]: a["path"] for a in pa.table(DeltaTable(str(path)).get_add_actions()).to_pylist()}
    planted = {by_rows[1000]: list(range(0, 1000, 7)), by_rows[500]: [3, 250, 499]}
    delete_with_vector(path, planted)
    opened = open_dataset(store, [str(path)])
    library = library_read(DeltaTable(str(path)).scan())
    kept = {by_rows[1000]: [f"r{i}" for i in range(1000) if i not in planted[by_rows[1000]]],
            by_rows[500]: [f"r{1000 + i}" for i in range(500) if i not in planted[by_rows[500]]]}
    in_file_order = [rid for file in opened.paths for rid in kept[Path(file).name]]
    assert sorted(in_file_order) == sorted(library.request_id) and opened.row_count == len(library)
    columns = ("request_id", "score")
    plain = prepare_table(store, TableSpec(opened.view, columns))
    pages = [fetch_window(store, plain, start, start + 150) for start in range(0, plain.row_count, 150)]
    assert [row[0] for page in pages for row in page.raw] == in_file_order
    us = prepare_table(store, TableSpec(opened.view, columns, Sql("region = ?", ("US",))))
    us_rows = [rid for rid in in_file_order if int(rid[1:]) % 3 == 0]
    assert [row[0] for row in fetch_window(store, us, 0, us.row_count).raw] == us_rows

    first_file = next(Path(file) for file in opened.paths if Path(file).name == by_rows[1000])
    spoil_row_groups(first_file, range(5, 10))  # rows 500-999 of the 1,000-row file
    middle = in_file_order.index("r300") if opened.paths[0].endswith(by_rows[1000]) else len(kept[by_rows[500]]) + 250
    assert [row[0] for row in fetch_window(store, plain, middle, middle + 50).raw] == in_file_order[middle:middle + 50]
    at = us_rows.index("r102")
    assert [row[0] for row in fetch_window(store, us, at, at + 20).raw] == us_rows[at:at + 20]


@pytest.mark.parametrize("mode", ["name", "id"])
def test_delta_column_mapping_renames_nested_struct_fields_as_deltalake_reads_them(store, tmp_path, mode):
    """Under column mapping a struct's fields have physical names of their own, inside lists and
    map values too. The table is written by deltalake itself (it writes both modes' physical
    names and field ids); its own reader (``DeltaTable.scan``) is the truth, null structs included."""
    from deltalake import DeltaTable, write_deltalake

    item = pa.struct([("sku", pa.string()), ("qty", pa.int64())])
    rows = pa.table({
        "request_id": ["a", "b", "c"],
        "features": pa.array([{"age": 1, "geo": {"city": "Lyon", "lat": 45.7}}, None, {"age": 3, "geo": None}]),
        "items": pa.array([[{"sku": "p1", "qty": 2}, {"sku": "p2", "qty": 1}], [], None], pa.list_(item)),
        "by_model": pa.array([[("m1", {"p": 0.5})], None, [("m2", {"p": 0.1})]],
                             pa.map_(pa.string(), pa.struct([("p", pa.float64())]))),
        "score": [0.1, 0.2, 0.3]})
    path = tmp_path / f"nested_{mode}"
    write_deltalake(str(path), rows, configuration={"delta.columnMapping.mode": mode})
    physical = pa.parquet.read_schema(next(path.rglob("*.parquet"))).field(1).type
    assert all(f.name.startswith("col-") for f in physical)  # the files do hold physical nested names
    opened = open_dataset(store, [str(path)])
    names = list(rows.column_names)
    assert [c.name for c in opened.columns] == names
    with store.job_cursor() as cur:
        ours = cur.sql(f'SELECT {", ".join(names)} FROM "{opened.view}" ORDER BY request_id').to_arrow_table()
    theirs = pa.RecordBatchReader.from_stream(DeltaTable(str(path)).scan()).read_all().select(names).to_pylist()
    assert ours.to_pylist() == sorted(theirs, key=lambda row: row["request_id"]) == rows.to_pylist()


def test_a_delta_tables_first_rows_come_from_its_first_file_alone(store, tmp_path):
    """Opening profiles the log's first rows. Over a table of several large files (one scan per
    file) a LIMIT started every file's scan (0.4 s of CPU against 0.05 s for one file at 10M
    rows); the first rows by row id read the first file only. The other files are spoiled after
    the open: profiling the first rows again reads none of them, and gives pandas' figures."""
    from deltalake import WriterProperties, write_deltalake

    from analysis.data.roles import PROFILE_SAMPLE_ROWS, profile_columns

    path = tmp_path / "large_files"
    for start in (0, 60_000, 120_000):
        write_deltalake(str(path), batch(start, 60_000), mode="append",
                        writer_properties=WriterProperties(max_row_group_size=10_000))
    opened = open_dataset(store, [str(path)])
    assert opened.row_count == 180_000
    for later in opened.paths[1:]:
        spoil_row_groups(Path(later), range(6))
    first_file = pd.read_parquet(opened.paths[0]).head(PROFILE_SAMPLE_ROWS)
    score = next(p for p in profile_columns(store, opened) if p.name == "score")
    assert (score.rows, score.minimum, score.maximum) == (len(first_file), first_file.score.min(), first_file.score.max())
    assert score.distinct == first_file.score.nunique()


def test_pages_of_a_column_mapped_table_with_a_column_added_later(store, tmp_path):
    """A page reads each file alone (through the view's rows macro); a column the table gained
    after a file was written is NULL in that file's rows, as deltalake's own read has it. The
    ADD COLUMNS commit is written by hand (lake_by_hand): delta-rs refuses schema evolution
    under column mapping."""
    from deltalake import DeltaTable, write_deltalake
    from tests.analysis.data.lake_by_hand import add_mapped_column

    from analysis.window import TableSpec, fetch_window, prepare_table

    path = tmp_path / "evolved"
    write_deltalake(str(path), batch(0, 5)[["request_id", "score"]], configuration={"delta.columnMapping.mode": "name"})
    add_mapped_column(path, "region", pa.array(["EU", "US", None]))
    opened = open_dataset(store, [str(path)])
    names = ("request_id", "score", "region")
    window = prepare_table(store, TableSpec(opened.view, names))
    ours = sorted(fetch_window(store, window, 0, window.row_count).raw, key=lambda row: row[0])
    theirs = pa.RecordBatchReader.from_stream(DeltaTable(str(path)).scan()).read_all().to_pylist()
    assert ours == sorted((tuple(row[n] for n in names) for row in theirs), key=lambda row: row[0])
    assert len(ours) == 8 and sum(row[2] is not None for row in ours) == 2


def evolved_nested_table(path: Path, mode: str) -> list[list[dict]]:
    """A column-mapped table whose nested fields change after files were written, as Spark
    commits them (lake_by_hand.commit_mapped_schema; delta-rs refuses schema evolution under
    column mapping): version 1 adds ``features.device``, ``features.geo.lat`` and
    ``items[].qty`` with one more file, version 2 renames ``features.age`` to ``age_years``,
    version 3 drops ``features.geo.city`` with one more file. Returns each version's rows as
    the protocol reads them (NULL for a field a file does not hold)."""
    from deltalake import write_deltalake
    from tests.analysis.data.lake_by_hand import commit_mapped_schema, struct_fields

    first = [{"request_id": "a", "features": {"age": 1, "geo": {"city": "Lyon"}}, "items": [{"sku": "p1"}]},
             {"request_id": "b", "features": {"age": 2, "geo": None}, "items": None},
             {"request_id": "c", "features": None, "items": []}]
    write_deltalake(str(path), pa.Table.from_pylist(first), configuration={"delta.columnMapping.mode": mode})

    def add(fields, new_field):
        struct_fields(fields, "features").append(new_field("device", "string"))
        struct_fields(fields, "features", "geo").append(new_field("lat", "double"))
        struct_fields(fields, "items").append(new_field("qty", "long"))
    added = {"request_id": "d", "features": {"age": 4, "geo": {"city": "Oslo", "lat": 59.9}, "device": "ios"},
             "items": [{"sku": "p3", "qty": 2}, {"sku": "p4", "qty": None}]}
    commit_mapped_schema(path, add, [added], "ADD COLUMNS")

    def rename(fields, new_field):
        next(f for f in struct_fields(fields, "features") if f["name"] == "age")["name"] = "age_years"
    commit_mapped_schema(path, rename, (), "RENAME COLUMN")

    def drop(fields, new_field):
        geo = struct_fields(fields, "features", "geo")
        geo.remove(next(f for f in geo if f["name"] == "city"))
    last = {"request_id": "e", "features": {"age_years": 5, "geo": {"lat": 1.5}, "device": "web"}, "items": None}
    commit_mapped_schema(path, drop, [last], "DROP COLUMNS")

    v1 = [{"request_id": "a", "features": {"age": 1, "geo": {"city": "Lyon", "lat": None}, "device": None},
           "items": [{"sku": "p1", "qty": None}]},
          {"request_id": "b", "features": {"age": 2, "geo": None, "device": None}, "items": None},
          {"request_id": "c", "features": None, "items": []}, added]
    v2 = [{**row, "features": row["features"] and {("age_years" if k == "age" else k): v
                                                     for k, v in row["features"].items()}} for row in v1]
    v3 = [{**row, "features": row["features"] and {**row["features"], "geo": row["features"]["geo"] and
                                                   {"lat": row["features"]["geo"]["lat"]}}} for row in v2] + [last]
    return [first, v1, v2, v3]


def view_rows(store, opened, names=("request_id", "features", "items")) -> list[dict]:
    with store.job_cursor() as cur:
        return cur.sql(f'SELECT {", ".join(names)} FROM "{opened.view}" ORDER BY request_id').to_arrow_table().to_pylist()


@pytest.mark.parametrize("mode", ["name", "id"])
def test_delta_nested_fields_added_renamed_and_dropped_under_column_mapping(store, tmp_path, mode):
    """Older files lack a nested field added later: it reads NULL there (Delta protocol, "Reader
    Requirements for Column Mapping": columns not found in a file are null), in lists' structs
    and structs in structs too; a renamed field keeps its physical name and reads by its new
    name; a dropped one is gone. Each version agrees with the planted rows, and with deltalake's
    own read where it can read it (delta-rs 1.6 fails on version 3: an old file's struct whose
    only field was dropped)."""
    from deltalake import DeltaTable

    from analysis.window import TableSpec, fetch_window, prepare_table

    path = tmp_path / f"nested_evolved_{mode}"
    versions = evolved_nested_table(path, mode)
    for version, planted in enumerate(versions):
        opened = open_dataset(store, [str(path)], as_of=str(version))
        assert view_rows(store, opened) == planted, version
        if version < 3:
            theirs = pa.RecordBatchReader.from_stream(DeltaTable(str(path), version=version).scan()).read_all()
            assert sorted(theirs.to_pylist(), key=lambda row: str(row["request_id"])) == planted, version
    newest = open_dataset(store, [str(path)])
    assert view_rows(store, newest) == versions[3]
    names = ("request_id", "features", "items")
    window = prepare_table(store, TableSpec(newest.view, names))  # a page reads each file alone
    paged = sorted(fetch_window(store, window, 0, window.row_count).raw, key=lambda row: row[0])
    assert [dict(zip(names, row)) for row in paged] == versions[3]


def test_a_nested_field_missing_from_one_struct_of_an_old_file_whose_names_repeat(store, tmp_path):
    """A table that turned column mapping on keeps its names as physical names, so one name can
    sit in two structs: the first file holds ``second.y`` but not ``first.y`` (added later, by
    deltalake's schema merge), and ``first.y`` must still read NULL in it, page by page too."""
    from deltalake import write_deltalake
    from tests.analysis.data.lake_by_hand import turn_on_column_mapping

    from analysis.window import TableSpec, fetch_window, prepare_table

    path = tmp_path / "upgraded"
    old = {"request_id": "a", "first": {"x": 1}, "second": {"x": 2, "y": "kept"}}
    new = {"request_id": "b", "first": {"x": 3, "y": "late"}, "second": {"x": 4, "y": "also"}}
    write_deltalake(str(path), pa.Table.from_pylist([old]))
    write_deltalake(str(path), pa.Table.from_pylist([new]), mode="append", schema_mode="merge")
    turn_on_column_mapping(path)
    opened = open_dataset(store, [str(path)])
    assert "column mapping" in opened.report.warnings[0]
    planted = [{**old, "first": {"x": 1, "y": None}}, new]
    assert view_rows(store, opened, ("request_id", "first", "second")) == planted
    names = ("request_id", "first", "second")
    window = prepare_table(store, TableSpec(opened.view, names))
    paged = sorted(fetch_window(store, window, 0, window.row_count).raw, key=lambda row: row[0])
    assert [dict(zip(names, row)) for row in paged] == planted


def test_iceberg_columns_renamed_dropped_added_and_widened_read_by_field_id(store, tmp_path):
    """Iceberg reads a file's columns by field id (table spec, "Column Projection"), so after a
    rename an old file's column reads under its new name, a dropped column is gone, an added one
    is NULL in older files and a widened int reads as long; the schema is changed through
    pyiceberg's own update_schema, and its own scan is the truth. The snapshot before the change
    reads with its own schema; a page reads each file alone, by id too."""
    from pyiceberg.types import LongType, StringType

    from analysis.window import TableSpec, fetch_window, prepare_table

    first = batch(0, 6).assign(hits=pa.array(range(6), pa.int32()).to_pandas())
    catalog, table = iceberg_table(tmp_path, first)
    before = table.current_snapshot().snapshot_id
    with table.update_schema() as update:
        update.rename_column("score", "probability")
        update.delete_column("region")
        update.add_column("device", StringType())
        update.update_column("hits", LongType())
    table = catalog.load_table("ml.predictions")
    later = pa.table({"request_id": ["r6", "r7"], "probability": [0.6, 0.7], "hits": pa.array([6, 7], pa.int64()),
                      "device": ["ios", None]})
    table.append(later.select([f.name for f in table.schema().as_arrow()]))
    folder = tmp_path / "ml" / "predictions"
    opened = open_dataset(store, [str(folder)])
    names = ["request_id", "probability", "hits", "device"]
    assert [c.name for c in opened.columns] == names
    ours = store.df(f'SELECT {", ".join(names)} FROM "{opened.view}" ORDER BY request_id')
    theirs = table.scan().to_pandas()[names].sort_values("request_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    assert list(ours.probability) == [i / 10 for i in range(8)] and ours.device.isna().sum() == 7
    window = prepare_table(store, TableSpec(opened.view, tuple(names)))
    paged = sorted(fetch_window(store, window, 0, window.row_count).raw)
    assert paged == [tuple(row) for row in ours.astype(object).where(ours.notna(), None).itertuples(index=False)]
    old = open_dataset(store, [str(folder)], as_of=str(before))
    assert [c.name for c in old.columns] == ["request_id", "region", "score", "hits"]
    pd.testing.assert_frame_equal(rows_of(store, old), expected(batch(0, 6)), check_dtype=False)


def test_a_version_whose_files_were_vacuumed_is_one_sentence(store, tmp_path):
    """Travelling to a version whose files VACUUM deleted (deltalake's own vacuum, no retention)
    names the table and a missing file; the newest version still opens."""
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "vacuumed"
    write_deltalake(str(path), batch(0, 10))
    write_deltalake(str(path), batch(10, 5), mode="overwrite")
    removed = DeltaTable(str(path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert len(removed) == 1
    with pytest.raises(InputError) as caught:
        open_dataset(store, [str(path)], as_of="0")
    message = str(caught.value)
    assert message.startswith(str(path)) and "1 of the 1 data file(s)" in message
    assert Path(removed[0]).name in message and "\n" not in message
    pd.testing.assert_frame_equal(rows_of(store, open_dataset(store, [str(path)])), expected(batch(10, 5)),
                                  check_dtype=False)


def test_iceberg_files_added_without_field_ids_are_still_read_by_name(store, tmp_path):
    """pyiceberg's add_files registers Parquet files that hold no field ids (the table's name
    mapping resolves them): once the schema changes (a column added), those files are still
    read by name, as pyiceberg's scan reads them, not as all NULL."""
    import pyarrow.parquet as pq
    from pyiceberg.types import StringType

    catalog, table = iceberg_table(tmp_path, batch(0, 4))
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.Table.from_pandas(batch(4, 3), preserve_index=False), plain)
    table.add_files([f"file://{plain}"])
    with table.update_schema() as update:
        update.add_column("device", StringType())
    table = catalog.load_table("ml.predictions")
    opened = open_dataset(store, [str(tmp_path / "ml" / "predictions")])
    pd.testing.assert_frame_equal(rows_of(store, opened), expected(batch(0, 4), batch(4, 3)), check_dtype=False)
    pd.testing.assert_frame_equal(rows_of(store, opened), library_read(table.scan().to_arrow().to_reader()),
                                  check_dtype=False)


def test_a_damaged_iceberg_metadata_file_or_a_missing_manifest_list_is_one_sentence(store, tmp_path):
    """An Iceberg table whose newest metadata file was cut short names that file; one whose
    snapshot's manifest list is gone names the table and the missing file, each in one sentence
    (pyiceberg raises a JSON validation error and a file-not-found error)."""
    table = iceberg_table(tmp_path, batch(0, 3))[1]
    folder = tmp_path / "ml" / "predictions"
    manifest_list = Path(table.current_snapshot().manifest_list.removeprefix("file://"))
    manifest_list.unlink()
    with pytest.raises(InputError) as caught:
        open_dataset(store, [str(folder)])
    message = str(caught.value)
    assert message.startswith(str(folder)) and manifest_list.name in message and "\n" not in message
    newest = max(folder.glob("metadata/*.metadata.json"), key=lambda p: p.stat().st_mtime)
    newest.write_text(newest.read_text()[:40])
    with pytest.raises(InputError) as caught:
        open_dataset(store, [str(folder)])
    message = str(caught.value)
    assert message.startswith(str(newest)) and "cannot be read" in message and "\n" not in message
