"""Pages of plain, filtered and sorted windows equal pandas on the same rows.

The log has 150,000 rows: past one DuckDB row group (122,880 rows) in the table it is copied into,
six Parquet row groups in its one file and uneven files whose row groups do not align with them in
the other. 300,000 rows asserted the same for half again the file's CPU (its sorts grow with the rows)."""

import dataclasses
import os
import datetime as dt
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.data.loading import open_dataset
from analysis.progress import CancelToken, Cancelled
from analysis.query import ROW_ID, Sql, ident, literal
from analysis.window import (
    HEAD_ROWS,
    NULL_TEXT,
    TableSpec,
    copy_sorted_rows,
    fetch_window,
    find_row,
    format_value,
    page_is_quick,
    prepare_table,
    release_table,
)

N_ROWS = 150_000
COLUMNS = ("request_id", "score", "version", "ts", "flag")


@pytest.fixture(scope="module")
def log_frame() -> pd.DataFrame:
    """A prediction log with null scores and versions, many ties, and timestamps."""
    rng = np.random.default_rng(7)
    score = rng.random(N_ROWS).round(3)
    score[rng.random(N_ROWS) < 0.05] = np.nan
    version = rng.choice(np.array(["v1", "v2", "v3"], dtype=object), N_ROWS)
    version[rng.random(N_ROWS) < 0.02] = None
    return pd.DataFrame(
        {
            "request_id": np.arange(N_ROWS, dtype=np.int64) * 10 + 3,
            "score": score,
            "version": version,
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, N_ROWS), unit="s"),
            "flag": rng.random(N_ROWS) < 0.4,
        }
    )


@pytest.fixture(scope="module")
def log_parquet(log_frame, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("window") / "log.parquet"
    table = pa.Table.from_pandas(log_frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=25_000)
    return str(path)


FILE_BOUNDS = (0, 35_000, 75_000, 130_000, N_ROWS)
"""Where the log is cut into Parquet files of uneven sizes (each file's first row)."""


@pytest.fixture(scope="module")
def log_parquet_files(log_frame, tmp_path_factory) -> list[str]:
    """The log in four Parquet files, in order, with row groups that do not align with the files."""
    folder = tmp_path_factory.mktemp("window_files")
    paths = []
    for part, (first, stop) in enumerate(zip(FILE_BOUNDS, FILE_BOUNDS[1:])):
        path = folder / f"part-{part}.parquet"
        table = pa.Table.from_pandas(log_frame.iloc[first:stop], preserve_index=False)
        pq.write_table(table, path, row_group_size=15_000)
        paths.append(str(path))
    return paths


@pytest.fixture(params=["parquet", "parquet_files", "duckdb_table"])
def log_view(request, store, log_frame, log_parquet, log_parquet_files) -> str:
    """The log registered as a dataset view: over a Parquet file, over several Parquet files
    (opened as the app opens them), or over a DuckDB table."""
    if request.param == "parquet_files":
        return open_dataset(store, log_parquet_files).view
    if request.param == "parquet":
        store.execute(
            f"CREATE VIEW log AS SELECT *, file_row_number AS {ident(ROW_ID)} "
            f"FROM read_parquet({literal(log_parquet)}, file_row_number = true)"
        )
    else:
        store.execute(f"CREATE TABLE log_table AS SELECT * FROM read_parquet({literal(log_parquet)})")
        store.execute(f"CREATE VIEW log AS SELECT *, rowid AS {ident(ROW_ID)} FROM log_table")
    return "log"


def raw_column(page, name: str) -> list:
    return [row[page.columns.index(name)] for row in page.raw]


def as_floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_page_equals(page, expected: pd.DataFrame) -> None:
    """Same row ids and the same values, column by column, as the pandas rows."""
    assert list(page.row_ids) == list(expected.index)
    assert raw_column(page, "request_id") == expected["request_id"].tolist()
    np.testing.assert_array_equal(as_floats(raw_column(page, "score")), expected["score"].to_numpy())
    assert raw_column(page, "version") == [None if pd.isna(v) else v for v in expected["version"]]
    assert [pd.Timestamp(t) for t in raw_column(page, "ts")] == list(expected["ts"])
    assert raw_column(page, "flag") == expected["flag"].tolist()


@pytest.mark.parametrize("start", [0, 34_950, 74_900, 129_990, N_ROWS - 150])
def test_plain_pages_equal_iloc(store, log_view, log_frame, start):
    window = prepare_table(store, TableSpec(log_view, COLUMNS))
    assert window.ordering is None and window.row_count == N_ROWS
    page = fetch_window(store, window, start, start + 200)
    expected = log_frame.iloc[start : min(start + 200, N_ROWS)]
    assert page.start == start and len(page) == len(expected)
    assert_page_equals(page, expected)


def test_filtered_sorted_pages_equal_pandas(store, log_view, log_frame):
    spec = TableSpec(
        log_view,
        COLUMNS,
        condition=Sql(f"{ident('score')} > ? AND {ident('flag')}", (0.3,)),
        sort=(("version", True), ("score", False)),
    )
    window = prepare_table(store, spec)
    expected = log_frame.query("score > 0.3 and flag").sort_values(
        ["version", "score"], ascending=[True, False], kind="stable", na_position="last"
    )
    assert window.row_count == len(expected)
    for start in (0, len(expected) // 2, len(expected) - 120):
        page = fetch_window(store, window, start, start + 200)
        assert_page_equals(page, expected.iloc[start : start + 200])
    release_table(store, window)
    assert store.scalar(Sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", (window.ordering,))) == 0


def test_sort_puts_nulls_last_and_breaks_ties_by_row_id(store, log_view, log_frame):
    window = prepare_table(store, TableSpec(log_view, COLUMNS, sort=(("score", False),)))
    expected = log_frame.sort_values("score", ascending=False, kind="stable", na_position="last")
    tail = fetch_window(store, window, N_ROWS - 300, N_ROWS)
    assert all(score is None for score in raw_column(tail, "score")[-100:])
    assert_page_equals(tail, expected.iloc[N_ROWS - 300 :])
    middle = fetch_window(store, window, 50_000, 50_200)
    assert_page_equals(middle, expected.iloc[50_000:50_200])


def test_filter_only_keeps_file_order(store, log_view, log_frame):
    window = prepare_table(store, TableSpec(log_view, COLUMNS, condition=Sql(f"{ident('version')} = ?", ("v2",))))
    expected = log_frame[log_frame["version"] == "v2"]
    page = fetch_window(store, window, 5_000, 5_200)
    assert_page_equals(page, expected.iloc[5_000:5_200])


def test_fetch_is_clipped_to_the_window(store, log_view):
    window = prepare_table(store, TableSpec(log_view, ("score",)))
    assert len(fetch_window(store, window, N_ROWS - 10, N_ROWS + 500)) == 10
    empty = fetch_window(store, window, N_ROWS + 5, N_ROWS + 10)
    assert len(empty) == 0 and empty.text == ()


def test_page_is_formatted_for_display(store):
    store.execute(
        f"""CREATE VIEW odd AS SELECT * FROM (VALUES
            (0, 1.5::DOUBLE, TIMESTAMP '2024-05-01 13:45:00', TRUE, 'a', 12::BIGINT, 2.50::DECIMAL(5,2)),
            (1, 'NaN'::DOUBLE, NULL, FALSE, 'two' || chr(10) || 'lines', NULL, NULL),
            (2, NULL, TIMESTAMP '2024-05-02 00:00:00.25', NULL, NULL, -3, 1.00),
            (3, 0.123456789, TIMESTAMP '2024-05-03 08:00:00', TRUE, repeat('x', 300), 7, 0.5)
        ) AS t({ident(ROW_ID)}, score, ts, ok, note, n, price)"""
    )
    columns = ("score", "ts", "ok", "note", "n", "price")
    window = prepare_table(store, TableSpec("odd", columns))
    page = fetch_window(store, window, 0, 4)
    assert page.text[0] == ("1.5", "2024-05-01 13:45:00", "true", "a", "12", "2.50")
    assert page.text[1] == ("NaN", NULL_TEXT, "false", "two⏎lines", NULL_TEXT, NULL_TEXT)
    assert page.text[2] == (NULL_TEXT, "2024-05-02 00:00:00.250000", NULL_TEXT, NULL_TEXT, "-3", "1.00")
    assert page.text[3][0] == "0.123457" and len(page.text[3][3]) == 200 and page.text[3][3].endswith("…")
    assert page.raw[3][0] == 0.123456789 and page.raw[3][3] == "x" * 300
    assert page.raw[1][1] is None and np.isnan(page.raw[1][0])
    assert page.numeric == (True, False, False, False, True, True)
    assert page.row_ids == (0, 1, 2, 3)


def test_format_value_conventions():
    assert format_value(3.0) == "3.0"
    assert format_value(float("-inf")) == "-inf"
    assert format_value(1234567.0) == "1.23457e+06"
    assert format_value(dt.date(2024, 2, 29)) == "2024-02-29"
    tz = dt.timezone(dt.timedelta(hours=2))
    assert format_value(dt.datetime(2024, 1, 1, 9, 30, tzinfo=tz)) == "2024-01-01 09:30:00+02:00"
    assert format_value(None) == NULL_TEXT


def test_prepare_with_cancelled_token_raises(store, log_view):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        prepare_table(store, TableSpec(log_view, COLUMNS, sort=(("score", True),)), cancel=cancel)


def test_cancel_interrupts_a_running_sort(store):
    """A sort far too long to finish is interrupted once it has started."""
    store.execute(
        f"CREATE VIEW huge AS SELECT range AS {ident(ROW_ID)}, hash(range) % 1000 AS k "
        "FROM range(2000000000)"
    )
    cancel = CancelToken()

    def cancel_once_started(fraction: float, message: str = "") -> None:
        if fraction == 0.0:
            threading.Timer(0.3, cancel.cancel).start()

    spec = TableSpec("huge", ("k",), sort=(("k", True),))
    with pytest.raises(Cancelled):
        prepare_table(store, spec, progress=cancel_once_started, cancel=cancel)


def test_ten_million_row_view_start_middle_end(store):
    store.execute(
        f"CREATE VIEW big AS SELECT range AS {ident(ROW_ID)}, range * 2 AS doubled, "
        "(range % 7)::INTEGER AS bucket, 'r' || range AS name FROM range(10000000)"
    )
    plain = prepare_table(store, TableSpec("big", ("doubled", "bucket", "name")))
    assert plain.row_count == 10_000_000
    for start in (0, 5_000_000, 9_999_800):
        page = fetch_window(store, plain, start, start + 200)
        ids = list(range(start, start + 200))
        assert list(page.row_ids) == ids
        assert [r[0] for r in page.raw] == [2 * i for i in ids]
        assert [r[2] for r in page.raw] == [f"r{i}" for i in ids]

    bucket_three = prepare_table(
        store, TableSpec("big", ("bucket",), condition=Sql(f"{ident('bucket')} = ?", (3,)))
    )
    expected_ids = np.arange(3, 10_000_000, 7)
    assert bucket_three.row_count == len(expected_ids)
    for start in (0, len(expected_ids) // 2, len(expected_ids) - 200):
        page = fetch_window(store, bucket_three, start, start + 200)
        assert list(page.row_ids) == expected_ids[start : start + 200].tolist()
        assert {r[0] for r in page.raw} == {3}


def test_find_row_searches_the_sorted_window_and_wraps(store, log_view, log_frame):
    spec = TableSpec(log_view, COLUMNS, sort=(("score", True),))
    window = prepare_table(store, spec)
    expected = log_frame.sort_values("score", kind="stable", na_position="last").reset_index(drop=True)
    is_v3 = (expected["version"] == "v3").to_numpy()
    v3_positions = np.flatnonzero(is_v3)
    after = int(v3_positions[10])
    assert find_row(store, window, "V3", column="version", after=after) == v3_positions[11]
    assert find_row(store, window, "v3", column="version", after=after, forward=False) == v3_positions[9]
    assert find_row(store, window, "v3", column="version", after=int(v3_positions[-1])) == v3_positions[0]
    target = int(log_frame["request_id"].iloc[123_456])
    position = find_row(store, window, str(target), column="request_id")
    assert expected["request_id"].iloc[position] == target
    assert find_row(store, window, "no such text") is None


@pytest.mark.parametrize(
    "sort",
    [(("score", False),), (("score", True),), (("version", True), ("ts", False)), (("flag", False),),
     (("request_id", False),)],
)
def test_sorted_copy_pages_equal_order_by_limit_offset(store, log_view, sort):
    """Pages read from the sorted copy equal ORDER BY ... LIMIT/OFFSET with nulls last and ties
    by row id, and the pages read through the ids, at the start, middle and end."""
    spec = TableSpec(log_view, COLUMNS, condition=Sql(f"{ident('score')} IS DISTINCT FROM ?", (0.5,)), sort=sort)
    window = prepare_table(store, spec)
    copied = copy_sorted_rows(store, window)
    assert copied.sorted_rows is not None and copied.row_count == window.row_count
    keys = ", ".join(f"{ident(c)} {'ASC' if up else 'DESC'} NULLS LAST" for c, up in sort)
    for start in (0, window.row_count // 2, window.row_count - 150):
        page = fetch_window(store, copied, start, start + 200)
        expected = store.rows(Sql(
            f"SELECT {ident(ROW_ID)}, {', '.join(ident(c) for c in COLUMNS)} FROM {log_view} "
            f"WHERE {ident('score')} IS DISTINCT FROM ? ORDER BY {keys}, {ident(ROW_ID)} LIMIT 200 OFFSET ?",
            (0.5, start)))
        assert list(page.row_ids) == [r[0] for r in expected]
        assert [tuple(r) for r in page.raw] == [tuple(r[1:]) for r in expected]
        assert page == fetch_window(store, window, start, start + 200)
    release_table(store, window)  # the window as prepared, before it learnt of its copy
    assert store.scalar(Sql("SELECT count(*) FROM duckdb_tables() WHERE table_name IN (?, ?)",
                            (copied.ordering, copied.sorted_rows))) == 0


@pytest.mark.parametrize("sort", [(("score", False),), (("version", True), ("ts", False))])
def test_the_first_pages_of_a_sort_come_from_its_head_before_the_copy(store, log_view, sort):
    """Before the background copy, the first HEAD_ROWS rows of a sorted window are already
    copied: their pages equal ORDER BY ... LIMIT/OFFSET (nulls last, ties by row id) and the
    same pages read through the ids; past the head a page is not quick, and comes through
    the ids until the copy exists."""
    spec = TableSpec(log_view, COLUMNS, sort=sort)
    window = prepare_table(store, spec)
    assert window.head_rows is not None and window.head_count == HEAD_ROWS < window.row_count
    through_ids = dataclasses.replace(window, head_rows=None, head_count=0)
    keys = ", ".join(f"{ident(c)} {'ASC' if up else 'DESC'} NULLS LAST" for c, up in sort)
    for start in (0, 4_321, HEAD_ROWS - 200):
        assert page_is_quick(window, start, start + 200) and not page_is_quick(through_ids, start, start + 200)
        page = fetch_window(store, window, start, start + 200)
        expected = store.rows(Sql(
            f"SELECT {ident(ROW_ID)}, {', '.join(ident(c) for c in COLUMNS)} FROM {log_view} "
            f"ORDER BY {keys}, {ident(ROW_ID)} LIMIT 200 OFFSET ?", (start,)))
        assert list(page.row_ids) == [r[0] for r in expected]
        assert [tuple(r) for r in page.raw] == [tuple(r[1:]) for r in expected]
        assert page == fetch_window(store, through_ids, start, start + 200)
    assert not page_is_quick(window, HEAD_ROWS - 100, HEAD_ROWS + 100)
    straddling = fetch_window(store, window, HEAD_ROWS - 100, HEAD_ROWS + 100)
    assert straddling == fetch_window(store, copy_sorted_rows(store, window), HEAD_ROWS - 100, HEAD_ROWS + 100)
    release_table(store, window)
    assert store.scalar(Sql("SELECT count(*) FROM duckdb_tables() WHERE table_name IN (?, ?)",
                            (window.ordering, window.head_rows))) == 0


def test_a_short_sorted_window_is_all_head(store, log_view):
    spec = TableSpec(log_view, COLUMNS, condition=Sql(f"{ident('score')} < ?", (0.01,)), sort=(("score", True),))
    window = prepare_table(store, spec)
    assert window.head_count == window.row_count < HEAD_ROWS
    assert page_is_quick(window, window.row_count - 50, window.row_count + 150)
    last = fetch_window(store, window, window.row_count - 50, window.row_count + 150)
    assert len(last) == 50 and last == fetch_window(store, dataclasses.replace(window, head_rows=None, head_count=0),
                                                    window.row_count - 50, window.row_count + 150)
    release_table(store, window)


def test_only_sorted_windows_are_copied(store, log_view):
    plain = prepare_table(store, TableSpec(log_view, COLUMNS))
    sliced = prepare_table(store, TableSpec(log_view, COLUMNS, condition=Sql(f"{ident('flag')}")))
    assert copy_sorted_rows(store, plain) is plain and copy_sorted_rows(store, sliced) is sliced


def test_stale_sorted_folders_of_dead_processes_are_swept(tmp_path):
    """Only a folder whose pid names no live process goes: this process's and old-style
    folders (no pid in the name) stay."""
    import subprocess
    import sys

    from analysis.window import SORTED_FOLDER_PREFIX, sweep_stale_sorted_folders

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{SORTED_FOLDER_PREFIX}{int(finished.stdout)}-abc"
    alive = tmp_path / f"{SORTED_FOLDER_PREFIX}{os.getpid()}-def"
    old_style = tmp_path / f"{SORTED_FOLDER_PREFIX}xyz123"
    for folder in (dead, alive, old_style):
        folder.mkdir()
        (folder / "sorted.duckdb").write_bytes(b"x")
    assert sweep_stale_sorted_folders(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and alive.exists() and old_style.exists()
