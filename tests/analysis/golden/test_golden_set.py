"""The golden set grows by versions that round-trip through the workspace, and its gate finds
the demo's weak model version on the planted weak subpopulation."""

import json

import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.errors import InputError, SchemaError
from analysis.golden.gate import golden_gate
from analysis.golden.golden_set import add_to_golden, export_golden, golden_requests, golden_versions
from analysis.query import Sql
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.slicing.parser import parse_slice
from analysis.trace.model_files import load_model
from analysis.workspace.workspace_file import Workspace


@pytest.fixture(scope="module")
def demo(demo_files, weak):
    """The demo files, then the weak subpopulation's predicate, weak version and other version."""
    return (demo_files, *weak)


def where(dataset, text):
    return to_sql(parse_slice(text, {c.name: c.dtype for c in dataset.columns}))


def test_golden_versions_round_trip_and_never_duplicate(store, tmp_path, demo):
    files, predicate, weak, other = demo
    loaded = load_log(store, [str(files.log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    path = tmp_path / "golden.sleuth"
    workspace = Workspace.open(path)
    kiosk = where(dataset, f"{predicate} AND model_version = '{other}'")
    first = add_to_golden(Scope(store, dataset, roles, kiosk), workspace, "kiosk", "demo")
    again = add_to_golden(Scope(store, dataset, roles, kiosk), workspace, "kiosk", "demo")
    second = add_to_golden(Scope(store, dataset, roles, where(dataset, "amount > 3000")), workspace, "big", "demo")
    before = (golden_versions(workspace), golden_requests(workspace, 1), golden_requests(workspace))
    workspace.close()

    frame = pd.read_parquet(files.log)
    rows = frame[(frame["device_type"] == "kiosk") & (frame["model_version"] == other)]
    assert first.version == 1 and first.added == rows["is_fraud"].notna().sum()
    assert first.unlabelled == rows["is_fraud"].isna().sum()
    assert again.added == 0 and again.duplicates == first.added and again.version == 1
    kiosk_ids = set(rows.loc[rows["is_fraud"].notna(), "request_id"])
    big_ids = set(frame.loc[(frame["amount"] > 3000) & frame["is_fraud"].notna(), "request_id"])
    assert second.version == 2 and second.added == len(big_ids - kiosk_ids)

    reopened = Workspace.open(path, create=False)
    after = (golden_versions(reopened), golden_requests(reopened, 1), golden_requests(reopened))
    assert after[0] == before[0] and [v["added"] for v in after[0]] == [first.added, second.added]
    pd.testing.assert_frame_equal(after[1], before[1])
    pd.testing.assert_frame_equal(after[2], before[2])
    assert len(after[1]) == first.added and len(after[2]) == first.added + second.added
    one = after[1].iloc[-1]
    source = frame.iloc[int(one["source_row"])]
    assert source["request_id"] == one["request_id"] and one["source_dataset"] == dataset.name
    assert one["label"] == str(int(source["is_fraud"])) and one["source_version"] == source["model_version"]
    assert json.loads(one["inputs"])["amount"] == pytest.approx(source["amount"])

    out = tmp_path / "golden.parquet"
    assert export_golden(reopened, out, 1) == first.added
    exported = pd.read_parquet(out)
    assert sorted(exported["request_id"]) == sorted(rows.loc[rows["is_fraud"].notna(), "request_id"])
    assert set(roles.features) <= set(exported.columns)
    by_id = exported.set_index("request_id")
    expected = rows.set_index("request_id").loc[by_id.index]
    assert (by_id["device_type"] == "kiosk").all()
    assert by_id["amount"].to_numpy() == pytest.approx(expected["amount"].to_numpy())
    with pytest.raises(SchemaError, match="versions 1 to 2, not 5"):
        golden_requests(reopened, 5)
    reopened.close()


def test_the_gate_finds_the_weak_version_on_the_weak_group(store, tmp_path, demo):
    files, predicate, weak, other = demo
    loaded = load_log(store, [str(files.log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    workspace = Workspace.open(tmp_path / "gate.sleuth")
    add_to_golden(Scope(store, dataset, roles, where(dataset, f"{predicate} AND model_version = '{other}'")),
                  workspace, "weak", "demo")
    add_to_golden(Scope(store, dataset, roles, where(dataset, f"hour < 6 AND model_version = '{other}'")), workspace,
                  "night", "demo")
    requests = golden_requests(workspace)
    workspace.close()

    same = golden_gate(requests, load_model(files.models[other]))
    assert not same["regressed"]
    assert all(g["negative_flips"] == g["positive_flips"] == 0 for g in same["groups"]), \
        "the recorded version's own model repeats its recorded predictions"
    worse = golden_gate(requests, load_model(files.models[weak]))
    verdict = {g["group"]: g for g in worse["groups"]}
    assert worse["regressed"] and verdict["weak"]["regressed"] and not verdict["night"]["regressed"]
    assert verdict["weak"]["model_accuracy"] < verdict["weak"]["recorded_accuracy"]


def test_bad_golden_input_is_one_sentence(store, tmp_path, demo):
    files, *_ = demo
    workspace = Workspace.open(tmp_path / "empty.sleuth")
    with pytest.raises(InputError, match="the golden set is empty"):
        export_golden(workspace, tmp_path / "x.parquet")
    with pytest.raises(SchemaError, match="empty"):
        golden_gate(golden_requests(workspace), load_model(files.models[next(iter(files.models))]))
    workspace.close()
    loaded = load_log(store, [str(files.log)], check=False)
    no_label = loaded.roles.__class__.from_dict({**loaded.roles.to_dict(), "label": None})
    with pytest.raises(SchemaError, match="no label column"):
        add_to_golden(Scope(store, loaded.dataset, no_label, Sql("TRUE")), Workspace.open(tmp_path / "w.sleuth"), "g",
                      "s")
