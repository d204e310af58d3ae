"""Bad input gets a clear message naming file, line/row and column, never a traceback."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.errors import InputError
from analysis.data.loading import open_dataset
from analysis.data.log_sanity import Severity, check_log
from analysis.query import ROW_ID
from analysis.data.roles import detect_roles, profile_columns
from analysis.scope import Scope
from tests.data.make_bad_inputs import write_bad_inputs


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return write_bad_inputs(tmp_path_factory.mktemp("bad"))


def open_error(store, spec) -> str:
    with pytest.raises(InputError) as caught:
        open_dataset(store, spec)
    return str(caught.value)


def test_missing_file_is_named(store, tmp_path):
    missing = tmp_path / "nowhere.parquet"
    message = open_error(store, str(missing))
    assert str(missing) in message and "no such file" in message


def test_folder_without_data_is_named(store, bad):
    message = open_error(store, str(bad["no_data"]))
    assert str(bad["no_data"]) in message and "no data file" in message


def test_glob_matching_nothing_is_named(store, tmp_path):
    pattern = str(tmp_path / "2026-*.parquet")
    assert pattern in open_error(store, pattern)


def test_empty_file(store, bad):
    message = open_error(store, str(bad["empty_csv"]))
    assert "empty.csv" in message and "empty (0 bytes)" in message


def test_truncated_parquet(store, bad):
    message = open_error(store, str(bad["truncated_parquet"]))
    assert "truncated.parquet" in message and "truncated" in message.split(":", 1)[1]


def test_sqlite_file_named_duckdb(store, bad):
    message = open_error(store, str(bad["sqlite_duckdb"]))
    assert "sqlite.duckdb" in message and "SQLite" in message and "not a DuckDB" in message


def test_malformed_csv_lines_are_skipped_and_listed(store, bad):
    dataset = open_dataset(store, str(bad["malformed_csv"]))
    skipped = dataset.report.skipped
    assert [s.line for s in skipped] == [3, 5]
    assert all(s.file == str(bad["malformed_csv"]) for s in skipped)
    assert "missing" in skipped[0].reason and "too many" in skipped[1].reason
    rows = store.rows(f'SELECT id, amount, label FROM {dataset.view} ORDER BY "{ROW_ID}"')
    assert rows == [("a1", 10.5, 0), ("a3", 12.5, 1), ("a5", 14.5, 1)]
    assert "2 malformed row(s) skipped" in dataset.report.summary()


def test_malformed_jsonl_lines_are_skipped_and_listed(store, bad):
    dataset = open_dataset(store, str(bad["malformed_jsonl"]))
    assert [s.line for s in dataset.report.skipped] == [2, 4]
    assert "malformed JSON" in dataset.report.skipped[0].reason
    assert "not an object" in dataset.report.skipped[1].reason
    assert store.rows(f"SELECT id, score FROM {dataset.view} ORDER BY id") == [(1, 0.2), (3, 0.9)]


def test_latin1_csv_is_read_with_a_warning(store, bad):
    dataset = open_dataset(store, str(bad["latin1_csv"]))
    cities = [r[0] for r in store.rows(f"SELECT city FROM {dataset.view} ORDER BY id")]
    assert cities == ["Montréal", "São Paulo", "Zürich"]
    assert any("Latin-1" in w and "latin1.csv" in w for w in dataset.report.warnings)
    assert not dataset.report.skipped


def test_mixed_types_warning_names_column_count_and_example_row(store, bad):
    dataset = open_dataset(store, str(bad["mixed_types_csv"]))
    assert dataset.column("amount").dtype == "VARCHAR"
    warning = next(w for w in dataset.report.warnings if "'amount'" in w)
    assert "1 value(s) are not numbers" in warning and "'n/a' at row 37" in warning


def test_log_without_label_or_prediction(store, bad):
    dataset = open_dataset(store, str(bad["no_outcome_parquet"]))
    roles = detect_roles(profile_columns(store, dataset))
    issues = check_log(Scope(store, dataset, roles))
    assert issues[0].severity is Severity.ERROR
    assert "metrics are unavailable" in issues[0].message and "by hand" in issues[0].message


def test_nan_inf_and_out_of_range_scores(store, bad):
    dataset = open_dataset(store, str(bad["bad_scores_parquet"]))
    roles = detect_roles(profile_columns(store, dataset))
    assert roles.scores == ("score",)
    score_issues = [i for i in check_log(Scope(store, dataset, roles)) if i.column == "score"]
    scores = pq.read_table(bad["bad_scores_parquet"]).column("score").to_pylist()
    not_finite = [i for i, s in enumerate(scores) if s is not None and not math.isfinite(s)]
    outside = [i for i, s in enumerate(scores) if s is not None and math.isfinite(s) and not 0 <= s <= 1]
    nan_issue = next(i for i in score_issues if "NaN or infinite" in i.message)
    assert nan_issue.examples == tuple(str(i) for i in not_finite) == ("3", "8")
    assert "'score' has 2 NaN" in nan_issue.message and "rows 3, 8" in nan_issue.message
    range_issue = next(i for i in score_issues if "outside [0, 1]" in i.message)
    assert range_issue.examples == tuple(str(i) for i in outside) == ("11", "12")
    assert range_issue.rows_affected == 2 and "rows 11, 12" in range_issue.message
    missing_issue = next(i for i in score_issues if "missing" in i.message)
    assert missing_issue.examples == ("20",) and missing_issue.severity is Severity.WARNING


def test_duplicate_ids_within_one_version_only(store, bad):
    dataset = open_dataset(store, str(bad["duplicate_ids_parquet"]))
    roles = detect_roles(profile_columns(store, dataset))
    assert (roles.id, roles.model_version) == ("request_id", "model_version")
    duplicates = [i for i in check_log(Scope(store, dataset, roles)) if i.column == "request_id"]
    assert len(duplicates) == 1
    assert duplicates[0].rows_affected == 2 and duplicates[0].examples == ("req-0004",)
    assert "req-0000" not in duplicates[0].message


def test_label_coverage_is_reported_as_a_fact(store, tmp_path):
    frame = pd.DataFrame({"id": range(10), "score": [0.5] * 10, "label": [1, 0, None, None, 1, 0, 1, None, 0, 1]})
    frame.to_parquet(tmp_path / "late_labels.parquet")
    dataset = open_dataset(store, str(tmp_path / "late_labels.parquet"))
    roles = detect_roles(profile_columns(store, dataset))
    coverage = next(i for i in check_log(Scope(store, dataset, roles)) if i.column == "label")
    assert coverage.severity is Severity.INFO and "70.0% of rows (7 of 10)" in coverage.message


def test_several_formats_together_are_refused(store, tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("a\n2\n")
    message = open_error(store, [str(tmp_path / "a.parquet"), str(tmp_path / "b.csv")])
    assert "not all of one format" in message and "a.parquet (parquet)" in message


def test_probe_crash_becomes_input_error(store, tmp_path, monkeypatch):
    """A reader that dies on a signal (as DuckDB can on a malformed file) costs a message
    naming the file, and Sleuth's own connection never reads it."""
    from analysis.data import probe

    target = tmp_path / "ok.csv"
    target.write_text("a\n1\n")
    segfaulting_python = tmp_path / "python"
    segfaulting_python.write_text("#!/bin/sh\ncat > /dev/null\nkill -SEGV $$\n")
    segfaulting_python.chmod(0o755)
    monkeypatch.setattr(probe.sys, "executable", str(segfaulting_python))
    message = open_error(store, str(target))
    assert str(target) in message and "crashed" in message
    assert store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal") == []


def test_probe_timeout_becomes_input_error(tmp_path):
    from analysis.data import probe

    target = tmp_path / "ok.csv"
    target.write_text("a\n1\n")
    with pytest.raises(InputError) as caught:
        probe.probe_files([target], "csv", timeout=0.01)
    assert str(target) in str(caught.value) and "took longer" in str(caught.value)


def loaded_capture(store, path):
    """A capture log opened as the CLI and the window open it, and its rows by ROW_ID."""
    from analysis.data.open_log import load_log

    loaded = load_log(store, [str(path)], check=False)
    return loaded.dataset, store.df(f'SELECT * FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')


def test_broken_sagemaker_capture_lines_are_named_and_the_rest_loads(store, bad):
    dataset, rows = loaded_capture(store, bad["sagemaker_capture_jsonl"])
    skipped = dataset.report.skipped
    assert [(s.file, s.line) for s in skipped] == [(str(bad["sagemaker_capture_jsonl"]), n) for n in (2, 3, 4)]
    assert ["malformed JSON" in skipped[0].reason, "not an object" in skipped[1].reason,
            "base64" in skipped[2].reason] == [True, True, True]
    assert list(rows.request_id) == ["ok-1", "ok-2"] and list(rows.score) == [0.3, 0.6]
    assert "3 malformed row(s) skipped" in dataset.report.summary()


def test_base64_that_does_not_decode_is_named_by_line(store, bad):
    dataset, rows = loaded_capture(store, bad["undecodable_base64_jsonl"])
    assert [(s.line, "not valid base64" in s.reason) for s in dataset.report.skipped] == [(2, True)]
    assert list(rows.request_id) == ["b"] and list(rows.score) == [0.7]


def test_kserve_request_without_its_response_loads_unscored_and_is_named(store, bad):
    dataset, rows = loaded_capture(store, bad["kserve_no_response_jsonl"])
    assert list(rows.request_id) == ["a", "lost"] and rows.score.isna().tolist() == [False, True]
    note = next(w for w in dataset.report.warnings if "no logged response" in w)
    assert note.startswith("1 request(s)") and f"{bad['kserve_no_response_jsonl']} record 3" in note


def test_failed_databricks_request_with_unparsable_body_is_counted_once_as_failed(store, bad):
    dataset, rows = loaded_capture(store, bad["databricks_500_parquet"])
    assert list(rows.request_id) == ["dbx-0", "dbx-2"]
    assert dataset.report.skipped == ()  # not also skipped as malformed: one request, one sentence
    failed = [w for w in dataset.report.warnings if "failed request" in w]
    assert failed == [f"1 failed request(s) (status 500) are not scored, e.g. {bad['databricks_500_parquet']} record 2"]


def test_empty_capture_folder_is_one_sentence_naming_it(store, bad):
    message = open_error(store, str(bad["empty_capture"]))
    assert message.startswith(str(bad["empty_capture"])) and "holds no data file" in message


def lines_before_the_cut(path) -> list[str]:
    """What the gzip program itself decompresses from a cut file (it says "unexpected end of
    file" and stops), up to its last complete line: the oracle of what should load."""
    import subprocess

    done = subprocess.run(["gzip", "-dc"], stdin=open(path, "rb"), capture_output=True)
    assert done.returncode != 0 and b"unexpected end of file" in done.stderr
    return done.stdout.decode().rpartition("\n")[0].split("\n")


def test_cut_off_gzip_in_a_capture_folder_loads_its_lines_before_the_cut_and_says_where(store, bad):
    dataset, rows = loaded_capture(store, bad["cut_capture"])
    cut = next(bad["cut_capture"].rglob("part-2.jsonl.gz"))
    whole_lines = lines_before_the_cut(cut)
    assert list(rows.request_id) == ["ok-1", "ok-2"] + [f"z{i}" for i in range(len(whole_lines))]
    assert 0 < len(whole_lines) < 3000
    assert f"{cut} is cut after line {len(whole_lines):,}: the rest of the file is skipped" in dataset.report.warnings
    assert not [w for w in dataset.report.warnings if w.startswith("left out")] and dataset.report.skipped == ()


def test_a_capture_folder_of_one_cut_gzip_loads_what_it_holds(store, bad):
    dataset, rows = loaded_capture(store, bad["cut_alone"])
    cut = next(bad["cut_alone"].rglob("part-0.jsonl.gz"))
    whole_lines = lines_before_the_cut(cut)
    assert list(rows.request_id) == [f"z{i}" for i in range(len(whole_lines))]
    assert dataset.paths == (str(cut),) and dataset.format == "sagemaker-capture"
    assert dataset.report.warnings[0] == f"{cut} is cut after line {len(whole_lines):,}: the rest of the file is skipped"


@pytest.mark.parametrize("case", ["cut_csv_gz", "cut_jsonl_gz"])
@pytest.mark.parametrize("as_folder", [False, True])
def test_a_cut_gzip_loads_every_line_before_the_cut_and_says_where_it_ends(store, bad, tmp_path, case, as_folder):
    """Named, or the only file of a folder: the complete lines load (DuckDB alone refuses the
    file, "Unexpected end of GZIP stream"), the partial last line does not, and the load report
    names the file and its last line in one sentence."""
    path = bad[case]
    if as_folder:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / path.name
        path.write_bytes(bad[case].read_bytes())
    dataset = open_dataset(store, str(tmp_path / "logs" if as_folder else path))
    whole_lines = lines_before_the_cut(path)
    expected = (pd.read_csv(io.StringIO("\n".join(whole_lines))) if case == "cut_csv_gz"
                else pd.DataFrame([json.loads(line) for line in whole_lines]))
    rows = store.df(f'SELECT id, score, label FROM "{dataset.view}" ORDER BY "{ROW_ID}"')
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)
    assert 100 < len(rows) < 3000
    assert dataset.report.warnings[0] == f"{path} is cut after line {len(whole_lines):,}: the rest of the file is skipped"
    assert dataset.paths == (str(path),) and dataset.report.skipped == ()


def parquet_log(folder, files: int = 3, rows: int = 4_000):
    """A many-file Parquet log, several row groups per file."""
    folder.mkdir()
    for k in range(files):
        frame = pd.DataFrame({"request_id": [f"r{k}-{i}" for i in range(rows)], "score": [i / rows for i in range(rows)]})
        frame.to_parquet(folder / f"part-{k}.parquet", row_group_size=1_000)
    return sorted(folder.glob("*.parquet"))


def test_the_probe_reads_rows_of_a_parquet_logs_first_file_and_footers_of_the_rest(tmp_path):
    """The open reads rows from the first file alone, so the probe decodes its first rows and
    only the footers of the others (each file's first row group cost 0.03 CPU-s at 10M rows):
    the later files' pages are made unreadable and the probe still passes, while the same
    damage in the first file's first row group is refused, naming it."""
    from analysis.data import probe
    from tests.analysis.data.test_lakehouse import spoil_row_groups

    later = parquet_log(tmp_path / "later")
    for path in later[1:]:
        spoil_row_groups(path, range(4))
    probe.probe_files(later, "parquet")
    first = parquet_log(tmp_path / "first")
    spoil_row_groups(first[0], [0])
    with pytest.raises(InputError) as caught:
        probe.probe_files(first, "parquet")
    assert str(caught.value).startswith(str(first[0]))


def test_a_later_parquet_file_whose_footer_is_damaged_is_named(store, tmp_path):
    """Footers are still read in the child: a file past the first whose footer is garbage is
    named in one sentence and Sleuth's own connection never reads it."""
    paths = parquet_log(tmp_path / "log")
    data = paths[2].read_bytes()
    footer = int.from_bytes(data[-8:-4], "little")
    paths[2].write_bytes(data[:-8 - footer] + b"\x19\xff" * (footer // 2) + data[-8 - footer + footer // 2 * 2:])
    message = open_error(store, [str(p) for p in paths])
    assert message.startswith(str(paths[2])) and "\n" not in message
    assert store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal") == []


def test_the_probe_child_runs_this_package_not_one_in_the_working_directory(tmp_path, monkeypatch):
    """``python -m`` puts the working directory first on the path: a folder holding its own
    ``analysis`` package (a common name) ran that package's probe instead of Sleuth's, and a
    benchmark's ``--tree`` measured the checkout it was started in."""
    from analysis.data import probe

    impostor = tmp_path / "work" / "analysis" / "data"
    impostor.mkdir(parents=True)
    for init in (impostor.parent / "__init__.py", impostor / "__init__.py"):
        init.write_text("")
    (impostor / "probe.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    good = parquet_log(tmp_path / "log", files=1, rows=10)
    monkeypatch.chdir(impostor.parent.parent)
    probe.probe_files(good, "parquet")
