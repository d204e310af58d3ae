"""``sleuth queue add`` restricted to one version still forms regression groups (issue 16): the
partner version's outcomes on the same requests are read as evidence, never queued. On the
paired log of tests/analysis/queue/test_regression_groups.py (v2 wrong where v1 was right on
kiosk requests over 200). When the restriction leaves the partner no request (v1 retired
before the intake's window), the output says in one sentence that no regression group was
formed and why."""

import json
from functools import partial

import pandas as pd
import pytest

from analysis.queue.failure_queue import FailureQueue
from analysis.workspace.workspace_file import Workspace
from tests.analysis.queue.test_regression_groups import write_paired_log
from tests.app.run_cli import sleuth_in_process

_sleuth = partial(sleuth_in_process, check=True)
NOT_FORMED = "regression groups were not formed"
RETIRED = pd.Timestamp("2026-10-15")
"""v1 scores no request from this time on in the retired log."""


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    folder = tmp_path_factory.mktemp("versions")
    return folder / "log.parquet", write_paired_log(folder / "log.parquet")


def _v2_failures(log: pd.DataFrame) -> pd.DataFrame:
    v2 = log[log["model_version"] == "v2"]
    return v2[v2["label"] != v2["prediction"]]


def _queued(workspace) -> pd.DataFrame:
    opened = Workspace.open(workspace)
    try:
        return FailureQueue(opened, user="tester").items()
    finally:
        opened.close()


@pytest.mark.parametrize("restriction", [["--version", "v2"], ["--where", "model_version = 'v2'"]],
                         ids=["version", "where"])
def test_an_intake_of_one_version_forms_its_regression_group(paired, tmp_path, restriction):
    """Only v2's failures are queued (every one, counted with pandas), and the planted
    regression is a group of its own, named against v1: v1's rows were read, not queued."""
    path, log = paired
    workspace = tmp_path / "review.sleuth"
    added = json.loads(_sleuth("queue", "add", workspace, path, *restriction, "--json").stdout)
    failed = _v2_failures(log)
    items = _queued(workspace)
    assert added["added"] == len(failed) and set(items["version"]) == {"v2"}
    assert set(items["row_key"]) == set(failed["request_id"])
    regression = [g for g in added["groups"] if g["reason"] == "regression"]
    assert regression and all(g["title"].endswith(": fails under v2, right under v1") for g in regression)
    planted = failed.set_index("request_id")
    planted = (planted["segment"] == "kiosk") & (planted["amount"] > 200)
    in_group = items[items["group_id"] == regression[0]["id"]].set_index("row_key").index
    recall = planted.loc[in_group].sum() / planted.sum()
    purity = planted.loc[in_group].mean()
    assert recall >= 0.8 and purity >= 0.9, (regression[0]["title"], recall, purity)
    assert not any(NOT_FORMED in note for note in added["notes"])


@pytest.fixture(scope="module")
def retired(paired, tmp_path_factory):
    """The paired log without v1's rows from :data:`RETIRED` on: v1 still pairs with v2 on the
    whole log, and on none of the requests after it."""
    _, log = paired
    kept = log[~((log["model_version"] == "v1") & (log["timestamp"] >= RETIRED))]
    path = tmp_path_factory.mktemp("retired") / "log.parquet"
    kept.to_parquet(path)
    return path, kept


def test_a_restriction_that_leaves_no_partner_says_no_regression_group_was_formed(retired, tmp_path):
    path, log = retired
    after = f"timestamp >= '{RETIRED}'"
    added = json.loads(_sleuth("queue", "add", tmp_path / "late.sleuth", path, "--version", "v2", "--where", after,
                               "--json").stdout)
    said = [note for note in added["notes"] if NOT_FORMED in note]
    assert len(said) == 1 and "v1" in said[0] and "v2" in said[0], added["notes"]
    assert not [g for g in added["groups"] if g["reason"] == "regression"]
    late = _v2_failures(log)
    assert added["added"] == int((late["timestamp"] >= RETIRED).sum())
    text = _sleuth("queue", "add", tmp_path / "text.sleuth", path, "--version", "v2", "--where", after).stdout
    assert f"note: {said[0]}" in text


def test_no_sentence_when_the_restriction_leaves_the_partner_its_requests(retired, tmp_path):
    """The sentence is about the restriction: on the whole retired log (v1 pairs with v2 on its
    first two weeks) the intake forms regression groups and says nothing of the kind."""
    path, _ = retired
    added = json.loads(_sleuth("queue", "add", tmp_path / "all.sleuth", path, "--version", "v2", "--json").stdout)
    assert not any(NOT_FORMED in note for note in added["notes"])
    assert [g for g in added["groups"] if g["reason"] == "regression"]


def test_the_help_says_the_partner_is_read():
    help_text = sleuth_in_process("queue", "add", "--help").stdout
    assert "partner" in help_text and "regression" in help_text
