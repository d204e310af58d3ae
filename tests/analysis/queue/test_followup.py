"""Follow-up on a later log: a decided group's slice is measured on the new rows and moves to
verified, regressed or stays awaiting verification, by Fisher's test, with the counts shown."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.data.open_log import load_log
from analysis.queue.edits import apply, decide
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.followup import follow_up
from analysis.queue.intake import intake_log
from analysis.scope import Scope
from analysis.workspace.workspace_file import Workspace

WEAK = "kiosk"


def _log(path, start, weak_error, rows=6000, seed=0):
    """A binary log in which the weak segment's predictions are wrong with ``weak_error``."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["kiosk", "web", "mobile", "branch"], size=rows)
    label = rng.integers(0, 2, size=rows)
    wrong = rng.random(rows) < np.where(segment == WEAK, weak_error, 0.05)
    prediction = np.where(wrong, 1 - label, label)
    frame = pd.DataFrame({
        "request_id": [f"{path.stem}-{i}" for i in range(rows)],
        "timestamp": [start + dt.timedelta(minutes=7 * i) for i in range(rows)],
        "model_version": "v1", "segment": segment, "amount": rng.gamma(2.0, 50.0, size=rows).round(2),
        "label": label, "prediction": prediction, "score": np.where(prediction == 1, 0.8, 0.2),
    })
    frame.to_parquet(path)
    return path, frame


@pytest.fixture
def decided(tmp_path, store):
    path, _ = _log(tmp_path / "october.parquet", dt.datetime(2026, 10, 1), weak_error=0.4)
    loaded = load_log(store, [str(path)], check=False)
    workspace = Workspace.open(tmp_path / "w.sleuth")
    queue = FailureQueue(workspace)
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles))
    weak = [g for g in queue.groups() if g.slice is not None and WEAK in g.slice.name]
    assert len(weak) == 1, [g.title for g in queue.groups()]
    apply(queue, decide(weak[0].id, "collect", owner="ana"))
    yield queue, weak[0]
    workspace.close()


@pytest.mark.parametrize("later_error, status", [(0.05, "verified"), (0.6, "regressed"), (0.4, "awaiting verification")])
def test_decided_group_is_measured_on_the_later_log(decided, store, tmp_path, later_error, status):
    queue, group = decided
    path, frame = _log(tmp_path / "november.parquet", dt.datetime(2026, 11, 1), weak_error=later_error, seed=1)
    loaded = load_log(store, [str(path)], check=False)
    measured = follow_up(queue, Scope(store, loaded.dataset, loaded.roles))
    assert [m["group"] for m in measured] == [group.id]
    result = queue.group(group.id).followup
    assert queue.group(group.id).status == result["status"] == status
    assert group.slice.name == f"segment = '{WEAK}'"
    inside = frame[frame["segment"] == WEAK]
    errors = int((inside["label"] != inside["prediction"]).sum())
    assert (result["after"]["rows"], result["after"]["errors"]) == (len(inside), errors)
    before, after = result["before"], result["after"]
    table = [[after["errors"], after["rows"] - after["errors"]], [before["errors"], before["rows"] - before["errors"]]]
    assert result["p_value"] == pytest.approx(stats.fisher_exact(table).pvalue)


def test_rows_already_measured_are_not_new(decided, store, tmp_path):
    """Opening the same month again measures nothing: its rows are the group's own evidence."""
    queue, group = decided
    loaded = load_log(store, [str(tmp_path / "october.parquet")], check=False)
    assert follow_up(queue, Scope(store, loaded.dataset, loaded.roles)) == []
    assert queue.group(group.id).status == "decided"
