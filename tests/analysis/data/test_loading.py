"""Each format loads the same rows pandas reads, with a dense ROW_ID in file order."""

from __future__ import annotations

import re
import uuid

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from analysis.errors import InputError
from analysis.data.formats import resolve_inputs
from analysis.data.loading import DATE_LIKE_PATTERN, TEXT_TIMESTAMP_FORMATS, close_dataset, open_dataset
from analysis.progress import CancelToken, Cancelled
from analysis.query import ROW_ID
from tests.analysis.data.probe_in_process import probe_in_process  # noqa: F401  (autouse)

ROWS = 50


def make_log(rows: int = ROWS, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame({
        "request_id": [f"r{start + i}" for i in range(rows)],
        "amount": rng.normal(100, 20, rows).round(3),
        "country": rng.choice(["FR", "DE", "US"], rows),
        "score": rng.uniform(size=rows).round(6),
        "label": rng.integers(0, 2, rows),
    })


def loaded(store, dataset, columns) -> pd.DataFrame:
    cols = ", ".join(f'"{c}"' for c in columns)
    return store.df(f'SELECT {cols} FROM {dataset.view} ORDER BY "{ROW_ID}"')


def assert_same_rows(store, dataset, expected: pd.DataFrame) -> None:
    got = loaded(store, dataset, list(expected.columns))
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    row_ids = [r[0] for r in store.rows(f'SELECT "{ROW_ID}" FROM {dataset.view}')]
    assert row_ids == list(range(len(expected))), "ROW_ID is dense, 0-based and in file order"
    assert dataset.row_count == len(expected)
    assert ROW_ID not in dataset.column_names


def test_single_parquet(store, tmp_path):
    frame = make_log()
    frame.to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, str(tmp_path / "log.parquet"))
    assert dataset.format == "parquet" and dataset.report.clean
    assert dataset.column_names == list(frame.columns)
    assert_same_rows(store, dataset, frame)


def test_several_parquet_files_by_list_glob_and_folder(store, tmp_path):
    parts = [make_log(30, 0), make_log(20, 100), make_log(25, 200)]
    folder = tmp_path / "logs"
    (folder / "nested").mkdir(parents=True)
    names = ["2026-01.parquet", "2026-02.parquet", "nested/2026-03.parquet"]
    for part, name in zip(parts, names):
        part.to_parquet(folder / name)
    parts[1]["extra"] = 1.0  # a column only one file has: union by name fills nulls
    parts[1].to_parquet(folder / names[1])
    expected = pd.concat(parts, ignore_index=True)
    for spec in ([str(folder / n) for n in names], str(folder)):
        dataset = open_dataset(store, spec)
        assert_same_rows(store, dataset, expected)
        close_dataset(store, dataset)
    globbed = open_dataset(store, str(folder / "**" / "2026-*.parquet"))
    assert_same_rows(store, globbed, expected)
    assert store.scalar(f'SELECT count(*) FROM {globbed.view} WHERE "{ROW_ID}" BETWEEN 30 AND 49') == 20
    assert store.scalar(f'SELECT min(request_id) FROM {globbed.view} WHERE "{ROW_ID}" = 50') == "r200"


def test_resolve_inputs_orders_folders_and_skips_other_files(tmp_path):
    (tmp_path / "b.csv").write_text("a\n1\n")
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "notes.md").write_text("x")
    assert resolve_inputs([str(tmp_path)]) == [tmp_path / "a.jsonl", tmp_path / "b.csv"]


def test_csv_with_semicolon_and_no_header(store, tmp_path):
    frame = make_log()
    frame.to_csv(tmp_path / "log.csv", sep=";", header=False, index=False)
    dataset = open_dataset(store, str(tmp_path / "log.csv"))
    assert dataset.column_names == ["column0", "column1", "column2", "column3", "column4"]
    expected = pd.read_csv(tmp_path / "log.csv", sep=";", header=None, names=dataset.column_names)
    assert_same_rows(store, dataset, expected)


def test_tsv(store, tmp_path):
    frame = make_log()
    frame.to_csv(tmp_path / "log.tsv", sep="\t", index=False)
    dataset = open_dataset(store, str(tmp_path / "log.tsv"))
    assert_same_rows(store, dataset, pd.read_csv(tmp_path / "log.tsv", sep="\t"))


def test_several_csv_files_keep_file_order(store, tmp_path):
    first, second = make_log(10, 0), make_log(15, 50)
    first.to_csv(tmp_path / "a.csv", index=False)
    second.to_csv(tmp_path / "b.csv", index=False)
    dataset = open_dataset(store, [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert_same_rows(store, dataset, pd.concat([first, second]))


def test_jsonl(store, tmp_path):
    frame = make_log()
    frame.to_json(tmp_path / "log.jsonl", orient="records", lines=True)
    dataset = open_dataset(store, str(tmp_path / "log.jsonl"))
    assert_same_rows(store, dataset, pd.read_json(tmp_path / "log.jsonl", lines=True))


def write_arrow_file(table: pa.Table, path: str) -> None:
    feather.write_feather(table, path)


def write_feather_v1(table: pa.Table, path: str) -> None:
    feather.write_feather(table, path, version=1)


def write_arrow_stream(table: pa.Table, path: str) -> None:
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)


@pytest.mark.filterwarnings("ignore:Feather V1:DeprecationWarning")
@pytest.mark.parametrize("suffix, write", [
    ("arrow", write_arrow_file), ("feather", write_feather_v1), ("ipc", write_arrow_stream),
])
def test_arrow_family(store, tmp_path, suffix, write):
    frame = make_log()
    path = tmp_path / f"log.{suffix}"
    write(pa.Table.from_pandas(frame, preserve_index=False), str(path))
    dataset = open_dataset(store, str(path))
    assert dataset.format == "arrow"
    assert_same_rows(store, dataset, frame)


def test_duckdb_file_one_table_several_tables_and_a_chosen_one(store, tmp_path):
    path = tmp_path / "logs.duckdb"
    big, small = make_log(40), make_log(5, 900)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE predictions AS SELECT * FROM big")
        con.execute("CREATE TABLE labels AS SELECT * FROM small")
        con.execute("DELETE FROM predictions WHERE request_id = 'r3'")
    dataset = open_dataset(store, str(path))
    assert_same_rows(store, dataset, big[big.request_id != "r3"])
    warning = dataset.report.warnings[0]
    assert "2 tables" in warning and "'predictions'" in warning and "labels" in warning
    chosen = open_dataset(store, f"{path}::labels")
    assert_same_rows(store, chosen, small)
    with pytest.raises(InputError, match="no table 'nope'; its tables: labels, predictions"):
        open_dataset(store, f"{path}::nope")
    close_dataset(store, dataset)
    close_dataset(store, chosen)
    assert store.rows("SELECT database_name FROM duckdb_databases() WHERE NOT internal AND database_name LIKE 'ds%'") == []


def test_timestamps_and_uuids_are_retyped(store, tmp_path):
    ids = [str(uuid.UUID(int=i + 1)) for i in range(4)]
    lines = [
        {"id": ids[0], "ts": 1767225600000, "at": "2026-01-01T10:00:00+02:00", "local": "2026-01-01 10:00:00", "eu": "31/01/2026 08:30"},
        {"id": ids[1], "ts": 1767225601000, "at": "2026-01-01T11:00:00Z", "local": "2026-01-01 11:00:00.5", "eu": "01/02/2026 09:00"},
    ]
    pd.DataFrame(lines).to_json(tmp_path / "log.jsonl", orient="records", lines=True)
    dataset = open_dataset(store, str(tmp_path / "log.jsonl"))
    types = {c.name: c.dtype for c in dataset.columns}
    assert types == {"id": "VARCHAR", "ts": "TIMESTAMP", "at": "TIMESTAMP WITH TIME ZONE",
                     "local": "TIMESTAMP", "eu": "TIMESTAMP"}
    rows = store.rows(
        f"""SELECT id, ts, strftime("at" AT TIME ZONE 'UTC', '%H:%M'), eu FROM {dataset.view} ORDER BY id"""
    )
    assert rows[0][0] == ids[0] and rows[0][2] == "08:00" and rows[1][2] == "11:00"
    assert str(rows[0][1]) == "2026-01-01 00:00:00" and str(rows[1][3]) == "2026-02-01 09:00:00"
    assert any("'ts' read as epoch milliseconds" in w for w in dataset.report.warnings)
    assert any("'eu'" in w and "%d/%m/%Y" in w for w in dataset.report.warnings)


@pytest.mark.parametrize("layout", TEXT_TIMESTAMP_FORMATS)
def test_every_text_layout_is_read_beside_text_columns_with_no_dates(store, tmp_path, layout, monkeypatch):
    """Only text columns with a date-like value are probed layout by layout: each layout is
    still found (its values match the pre-filter), and the other text columns stay text, a
    version's or a measure's two numbers and one separator not probed."""
    from analysis.data import loading

    times = pd.to_datetime(["2026-01-31 08:30:00", "2026-02-01 09:05:00", "2026-12-09 23:59:00"])
    frame = pd.DataFrame({"when": times.strftime(layout), "country": ["DE", "FR", "N/A"],
                          "request": ["r-1", "r-2", "r-3"], "note": ["1.5 kg", "a-b", "x/y"],
                          "version": ["fraud-lr-2026.09", "fraud-gbm-2026.10", "v1.2"]})
    assert all(re.search(DATE_LIKE_PATTERN, value) for value in frame["when"])
    frame.to_csv(tmp_path / "log.csv", index=False)
    probed, probe = [], loading._timestamp_probes
    monkeypatch.setattr(loading, "_timestamp_probes", lambda store, sample, texts, cancel: (
        probed.extend(texts), probe(store, sample, texts, cancel))[1])
    dataset = open_dataset(store, str(tmp_path / "log.csv"))
    types = {c.name: c.dtype for c in dataset.columns}
    assert types == {"when": "TIMESTAMP", "country": "VARCHAR", "request": "VARCHAR", "note": "VARCHAR",
                     "version": "VARCHAR"}
    assert set(probed) <= {"when"}  # the layouts DuckDB's CSV reader reads as times come typed
    read = [value for (value,) in store.rows(f"SELECT \"when\" FROM {dataset.view} ORDER BY {ROW_ID}")]
    expected = times if "%S" in layout else times.floor("min")
    assert read == list(expected.to_pydatetime())


def test_a_type_sample_counted_before_is_read_back_and_a_changed_one_is_counted_again(store, tmp_path, monkeypatch):
    """The same values in another file are not counted again and are typed alike; one value
    changed is counted again, and its column typed by what it now holds."""
    from analysis.data import loading
    from analysis.data.kept import KeptResults

    counted, count = [], loading._counted
    monkeypatch.setattr(loading, "_kept_counts", KeptResults(loading.KEPT_TYPE_SAMPLES))
    monkeypatch.setattr(loading, "_counted", lambda *args: counted.append(args) or count(*args))
    frame = pd.DataFrame({"when": ["31/01/2026 08:30", "01/02/2026 09:00"] * 5, "amount": ["1.5", "2"] * 5,
                          "event_time": [1767225600, 1767225660] * 5})
    frame.to_parquet(tmp_path / "a.parquet")
    frame.to_parquet(tmp_path / "b.parquet")
    frame.assign(when=frame["when"].replace("01/02/2026 09:00", "late")).to_parquet(tmp_path / "changed.parquet")

    def typed(name):
        dataset = open_dataset(store, str(tmp_path / name))
        return {c.name: c.dtype for c in dataset.columns}, dataset.report.warnings

    kept, again = typed("a.parquet"), typed("b.parquet")
    assert again == kept and len(counted) == 1
    assert kept[0] == {"when": "TIMESTAMP", "amount": "VARCHAR", "event_time": "TIMESTAMP"}
    assert any("'when'" in w and "%d/%m/%Y %H:%M" in w for w in kept[1])
    changed = typed("changed.parquet")
    assert len(counted) == 2 and changed[0]["when"] == "VARCHAR"


def test_close_drops_view_and_backing_table(store, tmp_path):
    make_log().to_csv(tmp_path / "log.csv", index=False)
    dataset = open_dataset(store, str(tmp_path / "log.csv"))
    close_dataset(store, dataset)
    assert store.rows("SELECT table_name FROM duckdb_tables()") == []
    assert store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal") == []


def test_progress_is_reported_and_cancel_is_honoured(store, tmp_path):
    make_log().to_parquet(tmp_path / "log.parquet")
    seen = []
    first = open_dataset(store, str(tmp_path / "log.parquet"), progress=lambda f, m="": seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 4
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        open_dataset(store, str(tmp_path / "log.parquet"), cancel=token)
    assert store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal") == [(first.view,)]


@pytest.mark.parametrize("unit, scale", [("seconds", 1), ("milliseconds", 1_000), ("microseconds", 1_000_000)])
def test_time_named_integers_are_epochs_from_1970_on(store, tmp_path, unit, scale):
    moments = pd.to_datetime(["1987-03-01 01:00:00", "1987-03-15 12:30:00", "1999-12-31 23:59:59"])
    seconds = (moments - pd.Timestamp("1970-01-01")).total_seconds().astype("int64")
    pd.DataFrame({"event_time": seconds * scale, "amount": seconds * scale,
                  "time": [3, 40, 500]}).to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, str(tmp_path / "log.parquet"))
    types = {c.name: c.dtype for c in dataset.columns}
    assert types == {"event_time": "TIMESTAMP", "amount": "BIGINT", "time": "BIGINT"}
    read = [row[0] for row in store.rows(f"SELECT event_time FROM {dataset.view} ORDER BY {ROW_ID}")]
    assert read == list(moments.to_pydatetime())
    assert any(f"'event_time' read as epoch {unit}" in w for w in dataset.report.warnings)


def test_a_folder_of_1000_tiny_parquet_files_opens_as_one_scan_in_file_order(store, tmp_path):
    """What a serving system writes every minute: 1,000 files of a few rows. The probe read each
    in a connection of its own (45 s, refused at its 20 s limit) and the view planned a branch
    per file; now one child connection probes them and the view is one scan of the list."""
    import pyarrow.parquet as pq

    folder = tmp_path / "minutes"
    folder.mkdir()
    expected = make_log(3 * 1000)  # three rows a minute, cut from one frame (built whole: a tenth of the CPU)
    rows = pa.Table.from_pandas(expected, preserve_index=False)
    # one file with a column more: united by name, null elsewhere
    expected["extra"] = np.where(np.arange(len(expected)) // 3 == 517, 1.5, np.nan)
    for minute in range(1000):
        part = rows.slice(minute * 3, 3)
        if minute == 517:
            part = part.append_column("extra", pa.array([1.5] * 3))
        pq.write_table(part, folder / f"part-{minute:04d}.parquet")
    dataset = open_dataset(store, str(folder))
    assert_same_rows(store, dataset, expected)
    assert store.scalar(f'SELECT count(extra) FROM {dataset.view}') == 3
    assert store.scalar(f'SELECT min(request_id) FROM {dataset.view} WHERE "{ROW_ID}" = {517 * 3}') == f"r{517 * 3}"
    plan = "\n".join(row[-1] for row in store.rows(f"EXPLAIN SELECT avg(score) FROM {dataset.view}"))
    assert plan.count("Function: READ_PARQUET") == 1  # one scan, not a branch per file


def test_large_files_keep_a_scan_per_file_with_the_same_rows(store, tmp_path, monkeypatch):
    """Above the rows a branch costs, each file keeps its own scan (a page then reads one file)."""
    from analysis.data import loading

    parts = [make_log(30, 0), make_log(20, 100)]
    parts[1]["extra"] = 2.0
    for index, part in enumerate(parts):
        part.to_parquet(tmp_path / f"{index}.parquet")
    monkeypatch.setattr(loading, "ROWS_PER_FILE_SCANNED_TOGETHER", 10)
    dataset = open_dataset(store, str(tmp_path))
    assert_same_rows(store, dataset, pd.concat(parts, ignore_index=True))
    assert "UNION" in store.scalar(f"SELECT sql FROM duckdb_views() WHERE view_name = '{dataset.view}'")


@pytest.mark.parametrize("files", [1, 3])
def test_parquet_row_counts_come_from_the_metadata_not_a_scan(store, tmp_path, monkeypatch, files):
    """Opening a 100M-row log counted its view (every row numbered) before the table showed:
    the files' metadata holds the count, and it is the count of the rows the view reads."""
    parts = [make_log(30 + 7 * k, 100 * k) for k in range(files)]
    for k, part in enumerate(parts):
        part.to_parquet(tmp_path / f"{k}.parquet")
    counted: list[str] = []
    scalar = type(store).scalar
    monkeypatch.setattr(type(store), "scalar", lambda self, sql, *a, **k: (
        counted.append(getattr(sql, "text", sql)), scalar(self, sql, *a, **k))[1])
    dataset = open_dataset(store, [str(tmp_path / f"{k}.parquet") for k in range(files)])
    assert not [q for q in counted if "count(*)" in q.lower() and dataset.view in q]
    assert_same_rows(store, dataset, pd.concat(parts, ignore_index=True))
