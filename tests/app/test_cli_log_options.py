"""--labels, --on and --as-of on the commands that read a log."""

import json

import pandas as pd
import pytest

from app.cli import build_parser, main


@pytest.mark.parametrize("command", [
    ["open", "log.csv"], ["info", "log.csv"], ["slices", "log.csv"], ["check", "log.csv"],
    ["compare", "log.csv", "--base", "a", "--candidate", "b"], ["trace", "--train", "t.csv", "--log", "log.csv", "--row", "1"],
])
def test_every_log_reading_command_takes_the_log_options(command):
    args = build_parser().parse_args(command + ["--labels", "truth.csv", "--on", "ticket", "--as-of", "3"])
    assert (args.labels, args.on, args.as_of) == ("truth.csv", "ticket", "3")


def test_info_reports_the_join_and_coverage_by_age(tmp_path, capsys):
    times = pd.date_range("2026-11-01", periods=10, freq="D", tz="UTC")
    pd.DataFrame({"request_id": [f"r{i}" for i in range(10)], "timestamp": times,
                  "score": [i / 10 for i in range(10)]}).to_parquet(tmp_path / "log.parquet")
    pd.DataFrame({"ticket": [f"r{i}" for i in range(6)] + ["r0"], "outcome": [0, 1, 0, 1, 1, 0, 0],
                  "labeled_at": times[:6].tolist() + [times[9]]}).to_csv(tmp_path / "truth.csv", index=False)
    assert main(["info", str(tmp_path / "log.parquet"), "--labels", str(tmp_path / "truth.csv"), "--on", "ticket"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["roles"]["label"] == "outcome"
    assert report["labels_joined"]["repeated_ids"] == 1 and report["labels_joined"]["unknown_ids"] == 0
    older_than_3 = next(a for a in report["label_coverage_by_age"]["by_age"] if a["older_than_days"] == 3)
    assert (older_than_3["predictions"], older_than_3["labelled"]) == (7, 6)


def test_as_of_on_a_plain_file_is_one_line(tmp_path, capsys):
    pd.DataFrame({"request_id": ["a"], "score": [0.5]}).to_parquet(tmp_path / "log.parquet")
    assert main(["info", str(tmp_path / "log.parquet"), "--as-of", "2"]) == 2
    assert "--as-of reads a version of a Delta or Iceberg table" in capsys.readouterr().err


def test_check_and_slices_read_the_joined_labels(store, tmp_path, capsys):
    from analysis.data.open_log import LogOptions
    from analysis.triage.check_report import CheckSettings, run_check

    rows = 400
    times = pd.date_range("2026-11-01", periods=rows, freq="h", tz="UTC")
    region = ["EU" if i % 4 else "US" for i in range(rows)]
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "timestamp": times, "region": region,
                  "score": [0.9 if r == "US" else 0.1 for r in region]}).to_parquet(tmp_path / "log.parquet")
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "outcome": [0] * rows}).to_csv(
        tmp_path / "truth.csv", index=False)
    run = run_check(store, [str(tmp_path / "log.parquet")],
                    CheckSettings(options=LogOptions(labels=(str(tmp_path / "truth.csv"),))))
    assert run.roles.label == "outcome"
    assert main(["slices", str(tmp_path / "log.parquet"), "--labels", str(tmp_path / "truth.csv"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found and "US" in found[0]["predicate"] and found[0]["error"] == 1.0


@pytest.mark.parametrize("command", ["check", "slices"])
def test_a_joined_0_1_label_beside_a_score_is_a_binary_task(tmp_path, capsys, command):
    """The label arrives only with --labels, with its arrival time; detection redone around
    the joined columns without the label fixed had called the log multiclass, and check and
    slices refused the score ("needs the class it scores")."""
    rows = 300
    times = pd.date_range("2026-11-01", periods=rows, freq="h", tz="UTC")
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "timestamp": times,
                  "amount": [float(i % 17) for i in range(rows)],
                  "score": [(i % 10) / 10 for i in range(rows)]}).to_parquet(tmp_path / "log.parquet")
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "is_fraud": [i % 2 for i in range(rows)],
                  "labeled_at": times + pd.Timedelta(hours=30)}).to_csv(tmp_path / "truth.csv", index=False)
    assert main([command, str(tmp_path / "log.parquet"), "--labels", str(tmp_path / "truth.csv")]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    assert main(["info", str(tmp_path / "log.parquet"), "--labels", str(tmp_path / "truth.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["task"], report["roles"]["positive_class"]) == ("binary", "1")


@pytest.fixture(scope="module")
def churn_with_late_labels(tmp_path_factory):
    """A churn log whose labels arrive in their own file (id column ``ticket``, arrival time
    ``labeled_at``), the snapshot the model was trained on and the model. The first failed
    request's label came twice: a wrong one first, the correction two days later; one request
    has no label yet; one label names a request the log never served. Built once for the
    module: its tests only read these files (training a model each time was most of their CPU)."""
    import skops.io

    from tests.analysis.data.test_model_label import churn_log
    from tests.analysis.trace.test_snapshot_label import churn_model, churn_snapshot

    folder = tmp_path_factory.mktemp("churn")
    snapshot = churn_snapshot(0)
    snapshot.to_parquet(folder / "snapshot.parquet")
    skops.io.dump(churn_model(snapshot), folder / "churn.skops")
    log, _ = churn_log()
    failed = log[log["prediction"] != log["churned"]]["request_id"].tolist()
    traced, unlabelled = failed[0], failed[1]
    labels = pd.DataFrame({"ticket": log["request_id"], "churned": log["churned"],
                           "labeled_at": log["ts"] + pd.Timedelta(days=3)})
    first = labels[labels["ticket"] == traced].assign(churned=lambda f: 1 - f["churned"],
                                                      labeled_at=lambda f: f["labeled_at"] - pd.Timedelta(days=2))
    stranger = pd.DataFrame({"ticket": ["r-unknown"], "churned": [1], "labeled_at": [log["ts"].max()]})
    labels = pd.concat([first, labels[labels["ticket"] != unlabelled], stranger], ignore_index=True)
    labels.to_csv(folder / "labels.csv", index=False)
    log.drop(columns=["churned"]).to_parquet(folder / "log.parquet")
    return folder, log.set_index("request_id"), traced, unlabelled


def trace_args(folder, *extra) -> list[str]:
    return ["trace", "--train", str(folder / "snapshot.parquet"), "--log", str(folder / "log.parquet"),
            "--model", str(folder / "churn.skops"), "--labels", str(folder / "labels.csv"), "--top", "5", *extra]


def test_trace_reads_labels_that_arrived_in_their_own_file(churn_with_late_labels, capsys):
    """Issue #18: ``trace --labels PATH [--on COL]``: the traced request's label is the labels
    file's latest arrival for it (the correction, not the first label), found with the labels'
    id column detected or named; the training rows are the same either way."""
    folder, log, traced, _ = churn_with_late_labels
    reports = []
    for on in ([], ["--on", "ticket"]):
        assert main(trace_args(folder, "--row", traced, "--json", *on)) == 0
        reports.append(json.loads(capsys.readouterr().out))
    detected, named = reports
    assert detected["query"]["label"] == log.loc[traced, "churned"] != detected["query"]["prediction"]
    assert detected["query"]["prediction"] == log.loc[traced, "prediction"]
    assert len(detected["harmful"]) == 5 and len(detected["helpful"]) == 5
    assert "'churned'" in detected["label_note"]
    assert detected == named


def test_trace_of_a_request_whose_label_has_not_arrived_is_one_sentence(churn_with_late_labels, capsys):
    folder, _, _, unlabelled = churn_with_late_labels
    assert main(trace_args(folder, "--row", unlabelled)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"request '{unlabelled}' has no label yet" in err


def test_trace_slice_counts_the_failures_the_joined_labels_make(churn_with_late_labels, capsys):
    folder, log, traced, unlabelled = churn_with_late_labels
    assert main(trace_args(folder, "--slice", "plan = 'pro'")) == 0
    pro = log[(log["plan"] == "pro") & (log.index != unlabelled)]
    failed = int((pro["prediction"] != pro["churned"]).sum())
    assert f"{failed} of the {failed} failed predictions" in capsys.readouterr().out


def test_trace_names_a_labels_id_column_that_does_not_exist(churn_with_late_labels, capsys):
    folder, _, traced, _ = churn_with_late_labels
    assert main(trace_args(folder, "--row", traced, "--on", "nope")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labels.csv: has no column 'nope'" in err
