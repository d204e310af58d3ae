"""``sleuth rule``, ``sleuth golden`` and compare's ``--rules``/``--golden`` as a script runs them."""

import json

import pandas as pd
import pytest

from analysis.rules.rule_set import RuleSet
from app.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rule_add_then_compare_the_derived_version(window_demo_files, small_weak, tmp_path, capsys):
    predicate, weak_version, other = small_weak
    workspace = tmp_path / "team.sleuth"
    code, out, err = run(capsys, "rule", "add", workspace, "--base", weak_version, "--where", predicate,
                         "--route", other, "--name", "kiosk to the old model", "--log", window_demo_files.log)
    assert code == 0, err
    assert f"{weak_version}+rules@1" in out and workspace.exists()

    code, out, err = run(capsys, "compare", window_demo_files.log, "--slices", workspace, "--base", other,
                         "--candidate", f"{weak_version}+rules", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["candidate"] == f"{weak_version}+rules" and report["paired"]
    assert not [s for s in report["regressed_slices"] if s["significant"] and predicate in s["predicate"]]

    failing = {}
    for version in (weak_version, f"{weak_version}+rules"):
        code, out, err = run(capsys, "slices", window_demo_files.log, "--version", version, "--rules", workspace,
                             "--top", 3, "--json")
        assert code == 0, err
        failing[version] = [s["predicate"] for s in json.loads(out)]
    assert predicate in failing[weak_version][0], "the weak subpopulation is the top failing slice without the rule"
    assert failing[f"{weak_version}+rules"] and not any(predicate in p for p in failing[f"{weak_version}+rules"])

    code, out, err = run(capsys, "rule", "add", workspace, "--base", weak_version, "--where", "amount > 2000",
                         "--predict", "1", "--score", "0.9", "--log", window_demo_files.log, "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == f"{weak_version}+rules@2"
    code, out, _ = run(capsys, "rule", "list", workspace, "--json")
    listed = json.loads(out)
    assert [r["name"] for r in listed] == [f"{weak_version}+rules@1", f"{weak_version}+rules@2"]
    assert listed[1]["rules"][1]["action"] == {"kind": "fixed", "prediction": 1, "score": 0.9}

    exported = tmp_path / "rules.json"
    assert run(capsys, "rule", "export", workspace, "--out", exported, "--version", f"{weak_version}+rules@1")[0] == 0
    document = json.loads(exported.read_text())
    assert [RuleSet.from_dict(r).name for r in document["rule_sets"]] == [f"{weak_version}+rules@1"]
    assert RuleSet.from_dict(document["rule_sets"][0]).rules[0].name == "kiosk to the old model"


@pytest.mark.parametrize("args, words", [
    (["--route", "v0"], "routes to 'v0', which is not in the log"),
    (["--predict", "0.5"], "is not a value of this column"),
    (["--predict", "yes"], "is not a value of this column"),
    (["--route", "x+rules"], "not a '+rules' one"),
])
def test_rules_that_cannot_work_exit_2_in_one_line(window_demo_files, small_weak, tmp_path, capsys, args, words):
    predicate, weak_version, _ = small_weak
    code, out, err = run(capsys, "rule", "add", tmp_path / "w.sleuth", "--base", weak_version, "--where", predicate,
                         "--log", window_demo_files.log, *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


# On the 200k demo: on 20k rows the weak version's kiosk failures are too few for the golden
# gate to fail it beyond chance.
def test_golden_set_gates_a_model_and_restricts_compare(demo_files, weak, tmp_path, capsys):
    predicate, weak_version, other = weak
    workspace = tmp_path / "golden.sleuth"
    code, out, err = run(capsys, "golden", "add", workspace, demo_files.log, "--where", predicate,
                         "--version", other, "--group", "kiosk", "--json")
    assert code == 0, err
    added = json.loads(out)
    frame = pd.read_parquet(demo_files.log, columns=["request_id", "device_type", "model_version", "is_fraud"])
    golden = frame[(frame["device_type"] == "kiosk") & (frame["model_version"] == other) & frame["is_fraud"].notna()]
    assert added == {"version": 1, "added": len(golden), "duplicates": 0,
                     "unlabelled": int(((frame["device_type"] == "kiosk") & (frame["model_version"] == other)
                                        & frame["is_fraud"].isna()).sum())}

    code, out, err = run(capsys, "golden", "test", workspace, "--model", demo_files.models[weak_version], "--json")
    assert code == 1, err
    assert json.loads(out)["groups"][0]["group"] == "kiosk"
    code, out, err = run(capsys, "golden", "test", workspace, "--model", demo_files.models[other])
    assert code == 0, err
    assert "passed" in out
    assert run(capsys, "golden", "test", tmp_path / "none.sleuth", "--model", demo_files.models[other])[0] == 2
    assert run(capsys, "golden", "test", workspace, "--model", tmp_path / "none.skops")[0] == 2

    parquet = tmp_path / "golden.parquet"
    assert run(capsys, "golden", "export", workspace, "--out", parquet)[0] == 0
    assert sorted(pd.read_parquet(parquet)["request_id"]) == sorted(golden["request_id"])

    code, out, err = run(capsys, "compare", demo_files.log, "--golden", workspace, "--base", other,
                         "--candidate", weak_version, "--json")
    assert code == 0, err
    both = set(frame.loc[frame["model_version"] == other, "request_id"]) & set(
        frame.loc[frame["model_version"] == weak_version, "request_id"])
    assert json.loads(out)["paired_rows"] == len(both & set(golden["request_id"]))

    elsewhere = tmp_path / "elsewhere.csv"
    pd.DataFrame({"request_id": ["x1", "x2", "x1", "x2"], "model_version": ["a", "a", "b", "b"],
                  "label": [0, 1, 0, 1], "prediction": [0, 1, 1, 1]}).to_csv(elsewhere, index=False)
    code, out, err = run(capsys, "compare", elsewhere, "--golden", workspace, "--base", "a", "--candidate", "b")
    assert code == 2 and f"none of the {len(golden):,} golden requests is in this log" in err


def test_where_takes_the_slice_languages_leaves(window_demo_files, tmp_path, capsys):
    """``--where`` reads flips and outcomes: the golden set gets exactly the candidate's rows of
    the negative flips pandas finds, and a leaf a command cannot use is one line, exit 2."""
    manifest = json.loads(window_demo_files.manifest.read_text())
    old, new = (v["version"] for v in manifest["versions"])
    code, out, err = run(capsys, "golden", "add", tmp_path / "g.sleuth", window_demo_files.log, "--where",
                         f"flip('{old}' -> '{new}', negative)", "--json")
    assert code == 0, err
    log = pd.read_parquet(window_demo_files.log, columns=["request_id", "model_version", "prediction", "is_fraud"])
    pairs = log[log.model_version == new].merge(log[log.model_version == old], on="request_id", suffixes=("_c", "_b"))
    label = pairs.is_fraud_c.fillna(pairs.is_fraud_b)
    negative = (label.notna() & (pairs.prediction_b == label) & (pairs.prediction_c != label)).sum()
    added = json.loads(out)
    assert added["added"] + added["unlabelled"] == negative > 0 and added["duplicates"] == 0

    code, out, err = run(capsys, "slices", window_demo_files.log, "--where", f"flip('{old}' -> 'v9')")
    assert code == 2 and "no model version 'v9'" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "rule", "add", tmp_path / "r.sleuth", "--base", old, "--where", "wrong",
                         "--predict", "1", "--log", window_demo_files.log)
    assert code == 2 and "cannot use 'wrong'" in err and "Traceback" not in err
