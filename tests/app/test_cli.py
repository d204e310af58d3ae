"""The command line as a user (or a cron job) runs it: JSON out, one-line errors, exit codes.

Commands run in the test's process (``sleuth_in_process``); the window's screenshot runs in a
fresh process without a screen, as a user or CI runs it, once; the screenshots of every panel
run in the test's process, each panel brought forward without its result started: the walk
that starts and checks every panel's result is tests/views/test_window_tour.py's. The commands
read the 20k demo (the same generator, seed, training snapshot and models as the 200k one)
where the number of rows is not what a test is about."""

import json
import signal

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from tests.app.run_cli import sleuth, sleuth_in_process


def test_info_prints_schema_roles_and_counts(window_demo_files):
    result = sleuth_in_process("info", str(window_demo_files.log))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    frame = pd.read_parquet(window_demo_files.log)
    assert info["rows"] == len(frame)
    assert info["roles"]["label"] == "is_fraud"
    assert info["roles"]["model_version"] == "model_version"
    assert info["roles"]["scores"] == ["score"]
    assert info["label_coverage"]["labelled"] == frame["is_fraud"].notna().sum()
    roles = {c["name"]: c["role"] for c in info["columns"]}
    assert roles["request_id"] == "id" and roles["timestamp"] == "timestamp"


def test_info_on_a_glob_of_csv_files(tmp_path):
    for day in (1, 2):
        pd.DataFrame({"id": [f"{day}-{i}" for i in range(5)], "y_true": [0, 1, 0, 1, 1],
                      "y_pred": [0, 1, 1, 1, 0]}).to_csv(tmp_path / f"log-2026-10-0{day}.csv", index=False)
    result = sleuth_in_process("info", str(tmp_path / "log-2026-*.csv"))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["rows"] == 10 and info["format"] == "csv"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """``sleuth demo --rows 2000 --no-window`` once: the demo command's own test reads its
    result, and the screenshot tests open its log. A window's panels and the command's files
    need no more rows, and a window on 2,000 rows (its checks, its first charts) is about half
    the CPU of one on the 20k demo."""
    folder = tmp_path_factory.mktemp("cli") / "demo"
    return sleuth_in_process("demo", "--rows", "2000", "--out", folder, "--no-window"), folder


@pytest.mark.parametrize("args, words", [
    (["info", "/nonexistent/log.parquet"], "log.parquet"),
    (["bogus"], "invalid choice"),
    (["demo", "--rows", "-5"], "--rows"),
    (["open"], "required"),
])
def test_bad_arguments_get_one_line_and_exit_2(args, words, capsys):
    with pytest.raises(SystemExit) as raised:
        code = main(args)
        raise SystemExit(code)
    assert raised.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


@pytest.mark.parametrize("command", [[], ["open"], ["demo"], ["info"], ["slices"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*command, "--help"])
    assert raised.value.code == 0
    assert "usage: sleuth" in capsys.readouterr().out


def test_open_with_screenshot_renders_the_loaded_window(small_demo, tmp_path):
    from PySide6.QtGui import QImage

    png = tmp_path / "window.png"
    result = sleuth("open", small_demo[1] / "predictions.parquet", "--screenshot", png, "--size", "1200x800",
                    home=tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1200, 800)
    lightness = np.array([[image.pixelColor(x, y).lightness() for x in range(0, 1200, 9)]
                          for y in range(0, 800, 9)])
    assert lightness.std() > 10 and len(np.unique(lightness)) > 20


def bring_forward(window, stop, settle):
    """The tour's stop in front, its result not started (``visit`` also clicks what starts it):
    what ``--screenshots`` writes and prints is the same without the results' jobs."""
    if stop.dock is not None:
        stop.dock.show()
        stop.dock.raise_()
    settle()


def test_open_with_screenshots_renders_every_panel_in_turn(qapp, small_demo, tmp_path, monkeypatch):
    """In this process, on the test session's Qt application (``run_window`` takes the one that
    exists): a fresh interpreter's imports are what the test above pays for once. Each panel is
    brought forward only (:func:`bring_forward`): tests/views/test_window_tour.py walks the same
    stops with ``visit`` and checks each result drawn."""
    from PySide6.QtGui import QImage

    monkeypatch.setattr("app.window_tour.visit", bring_forward)
    folder = tmp_path / "shots"
    names = qapp.organizationName(), qapp.applicationName()
    style, interrupt = qapp.style().name(), signal.getsignal(signal.SIGINT)
    result = sleuth_in_process("open", small_demo[1] / "predictions.parquet", "--screenshots", folder,
                               "--size", "1280x720")
    # run_window sets these for its process; the worker's next tests keep theirs (a default
    # QSettings() must not become the user's own Sleuth preferences)
    qapp.setOrganizationName(names[0])
    qapp.setApplicationName(names[1])
    qapp.setStyle(style)
    signal.signal(signal.SIGINT, interrupt)
    assert result.returncode == 0, result.stderr
    expected = {"table", "data", "metrics", "metric-over-time", "breakdown", "failing-slices", "compare-versions",
                "trace", "findings", "failure-queue"}
    assert {p.stem for p in folder.glob("*.png")} == expected
    assert sorted(result.stdout.split()) == sorted(str(folder / f"{name}.png") for name in expected)
    images = {name: QImage(str(folder / f"{name}.png")) for name in expected}
    assert {(image.width(), image.height()) for image in images.values()} == {(1280, 720)}
    assert images["compare-versions"] != images["findings"]  # each shows its own panel in front


def test_demo_generates_files_and_a_workspace_without_a_window(small_demo):
    result, folder = small_demo
    assert result.returncode == 0, result.stderr
    workspace = folder / "demo.sleuth"
    assert result.stdout.strip() == str(workspace)
    from analysis.workspace.workspace_file import Workspace

    entries = {e.name: e for e in Workspace.open(workspace).datasets()}
    assert entries["predictions"].roles.label == "is_fraud"
    assert entries["training"].kind == "training"


def test_trace_json_lists_harmful_and_helpful_training_rows(window_demo_files):
    log = pd.read_parquet(window_demo_files.log)
    manifest = json.loads(window_demo_files.manifest.read_text())
    stronger = manifest["versions"][1]
    failed = log[(log.model_version == stronger["version"]) & log.is_fraud.notna() & (log.prediction != log.is_fraud)]
    row = failed.iloc[0]
    result = sleuth_in_process("trace", "--train", window_demo_files.training, "--log", window_demo_files.log,
                               "--model", window_demo_files.models[stronger["version"]], "--row", row.request_id,
                               "--version", stronger["version"], "--top", "5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "BoostIn" in report["method"] and report["surrogate"] is False
    assert report["query"]["row_id"] == row.request_id and report["query"]["label"] == row.is_fraud
    assert len(report["harmful"]) == 5 and len(report["helpful"]) == 5
    assert all(h["score"] > 0 for h in report["harmful"]) and all(h["score"] < 0 for h in report["helpful"])
    assert {"row_id", "score", "label", "source", "snapshot_date"} <= set(report["harmful"][0])


def test_trace_slice_sums_the_failures_and_names_the_bad_batch(window_demo_files):
    manifest = json.loads(window_demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["id"] == "c")
    stronger = manifest["versions"][1]["version"]
    training = pd.read_parquet(window_demo_files.training, columns=["row_id", "is_fraud"])
    wrong_label = int(training.loc[training.row_id.isin(incident["flipped_row_ids"]), "is_fraud"].mode()[0])
    predicate = f"merchant_category = '{incident['category']}' AND prediction = {wrong_label}"
    result = sleuth_in_process("trace", "--train", window_demo_files.training, "--log", window_demo_files.log,
                               "--model", window_demo_files.models[stronger], "--slice", predicate,
                               "--version", stronger, "--top", "3")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "failed predictions of version" in text and predicate in text
    by_source = text.split("harmful influence by source")[1].splitlines()[1:]
    first_source = next(line for line in by_source if line.strip().startswith("source = "))
    assert incident["source"] in first_source


def test_trace_needs_a_row_or_a_slice(window_demo_files):
    result = sleuth_in_process("trace", "--train", window_demo_files.training, "--log", window_demo_files.log)
    assert result.returncode == 2 and "--row" in result.stderr and "--slice" in result.stderr


def test_a_pickled_model_needs_trust(window_demo_files, tmp_path):
    import pickle

    from sklearn.linear_model import LogisticRegression

    training = pd.read_parquet(window_demo_files.training)
    model = LogisticRegression(max_iter=200).fit(training[["amount", "merchant_risk"]].fillna(0), training.is_fraud)
    model.feature_names_in_ = __import__("numpy").array(["amount", "merchant_risk"], dtype=object)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    result = sleuth_in_process("suspects", "--train", window_demo_files.training, "--model", path, "--top", "3")
    assert result.returncode == 2
    assert "runs code" in result.stderr and "trust" in result.stderr


def test_role_flags_name_columns_and_a_missing_one_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    pd.DataFrame({"ref": [f"r{i}" for i in range(60)], "y": rng.normal(60, 5, 60),
                  "readmitted": rng.integers(0, 2, 60), "guess": rng.integers(0, 2, 60)}).to_csv(
        tmp_path / "log.csv", index=False)
    assert main(["info", str(tmp_path / "log.csv"), "--label", "readmitted", "--id", "ref",
                 "--prediction", "guess"]) == 0
    roles = json.loads(capsys.readouterr().out)["roles"]
    assert (roles["label"], roles["id"], roles["prediction"], roles["features"]) == ("readmitted", "ref", "guess", ["y"])
    for command in (["info"], ["slices"], ["check"], ["compare", "--base", "a", "--candidate", "b"]):
        assert main([*command, str(tmp_path / "log.csv"), "--label", "outcome"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "'outcome'" in lines[0] and "log.csv" in lines[0], lines
    assert main(["info", str(tmp_path / "log.csv"), "--score", "ref"]) == 2  # text as a score
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "'ref'" in lines[0] and "a score must be numbers" in lines[0], lines


def test_suspects_takes_the_label_it_is_told(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    readmitted = (x + rng.normal(0, 0.5, 300) > 0).astype(int)
    pd.DataFrame({"x": x, "y": rng.normal(60, 5, 300), "readmitted": readmitted}).to_parquet(tmp_path / "s.parquet")
    result = sleuth_in_process("suspects", "--train", str(tmp_path / "s.parquet"), "--label", "readmitted", "--json")
    assert result.returncode == 0, result.stderr
    assert {s["label"] for s in json.loads(result.stdout)["suspects"]} <= {0, 1}
    result = sleuth_in_process("suspects", "--train", str(tmp_path / "s.parquet"), "--label", "readmit")
    assert result.returncode == 2 and "'readmit'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# On the 200k demo: on 20k rows no slice of the top five names a model version.
def test_slices_text_names_versions_by_their_cards_and_json_keeps_the_raw_string(demo_files, tmp_path, capsys,
                                                                                monkeypatch):
    """The JSON and the text are of one search (``main``'s ``discoveries``, as a caller running
    both in one process may keep it): what differs between them is only how they are printed."""
    import analysis.queue.discoveries as discoveries_module
    from analysis.workspace.version_cards import VersionCard
    from analysis.workspace.workspace_file import Workspace

    raw = sorted(pd.read_parquet(demo_files.log, columns=["model_version"]).model_version.unique())[-1]
    workspace = Workspace.new(tmp_path / "cards.sleuth")
    workspace.save_version_card(VersionCard(raw, name="incumbent"))
    workspace.close()
    args = ["slices", str(demo_files.log), "--cards", str(tmp_path / "cards.sleuth"), "--top", "5", "--max-level", "2"]
    searches, search = [], discoveries_module.failing_slices
    monkeypatch.setattr(discoveries_module, "failing_slices", lambda *a, **k: searches.append(1) or search(*a, **k))
    discoveries = discoveries_module.DiscoveryCache()
    assert main(args + ["--json"], discoveries) == 0
    found = json.loads(capsys.readouterr().out)
    with_version = [s["predicate"] for s in found if raw in s["predicate"]]
    assert with_version, found  # the case is real: a slice names the version
    assert main(args, discoveries) == 0
    assert searches == [1]
    text = capsys.readouterr().out
    assert raw not in text
    assert text.count("'incumbent'") == len(with_version)
    assert main(["slices", str(demo_files.log), "--version", raw, "--cards", str(tmp_path / "cards.sleuth"),
                 "--top", "1", "--max-level", "1"]) == 0
    assert "version incumbent" in capsys.readouterr().out.splitlines()[0]


def test_where_reads_a_version_by_its_card_name_and_refuses_an_unknown_one(window_demo_files, tmp_path, capsys):
    """The text ``slices --cards`` prints can be given back as ``--where``: the card's name
    selects the same rows as the raw version; a name no version has is one sentence."""
    from analysis.workspace.version_cards import VersionCard
    from analysis.workspace.workspace_file import Workspace

    raw = sorted(pd.read_parquet(window_demo_files.log, columns=["model_version"]).model_version.unique())[-1]
    workspace = Workspace.new(tmp_path / "cards.sleuth")
    workspace.save_version_card(VersionCard(raw, name="incumbent (logistic)"))
    workspace.close()
    common = ["slices", str(window_demo_files.log), "--cards", str(tmp_path / "cards.sleuth"), "--top", "3",
              "--max-level", "1", "--json", "--where"]
    assert main(common + [f"model_version = '{raw}'"]) == 0
    by_raw = json.loads(capsys.readouterr().out)
    assert main(common + ["model_version IN ('incumbent (logistic)')"]) == 0
    assert json.loads(capsys.readouterr().out) == by_raw and by_raw
    assert main(common + ["model_version = 'incumbent'"]) == 2
    error = capsys.readouterr().err
    assert "no model version 'incumbent'" in error and f"'{raw}' (card: 'incumbent (logistic)')" in error
    assert len(error.strip().splitlines()) == 1


def test_compare_text_names_versions_by_their_cards_and_json_adds_the_name(window_demo_files, small_weak, tmp_path,
                                                                          capsys):
    from analysis.workspace.version_cards import VersionCard
    from analysis.workspace.workspace_file import Workspace

    _, base, candidate = small_weak
    workspace = Workspace.new(tmp_path / "cards.sleuth")
    workspace.save_version_card(VersionCard(base, name="incumbent"))
    workspace.save_version_card(VersionCard(candidate, name="challenger"))
    workspace.close()
    args = ["compare", str(window_demo_files.log), "--base", base, "--candidate", candidate, "--max-level", "1",
            "--cards", str(tmp_path / "cards.sleuth")]
    assert main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["base"], report["candidate"]) == (base, candidate)
    assert (report["base_name"], report["candidate_name"]) == ("incumbent", "challenger")
    assert main(args) == 0
    text = capsys.readouterr().out
    assert base not in text and candidate not in text
    assert "challenger vs incumbent" in text
    assert text.splitlines()[0].startswith("challenger is ") and "than incumbent" in text.splitlines()[0]
