"""The regression group kind as the review reads it: ``sleuth queue list`` and meeting mode's
evidence name the version that fails, the one that was right on the same requests, and the
flips that say so (the paired log of tests/analysis/queue/test_regression_groups.py)."""

import json

import pytest

from analysis.queue.failure_queue import FailureQueue
from analysis.workspace.workspace_file import Workspace
from tests.analysis.queue.test_regression_groups import write_paired_log
from tests.app.run_cli import sleuth_in_process


@pytest.fixture(scope="module")
def queued(tmp_path_factory):
    """The paired log queued by ``sleuth queue add`` into a new workspace."""
    folder = tmp_path_factory.mktemp("cli")
    write_paired_log(folder / "log.parquet")
    workspace = folder / "review.sleuth"
    sleuth_in_process("queue", "add", workspace, folder / "log.parquet", "--json", check=True)
    return workspace


def test_queue_list_names_both_versions_of_a_regression(queued):
    listed = sleuth_in_process("queue", "list", queued, check=True).stdout
    title = next(line for line in listed.splitlines() if "fails under v2, right under v1" in line)
    following = listed.splitlines()[listed.splitlines().index(title) + 2]
    assert following.strip().startswith("regression: on the same requests of this slice,")
    assert "fail under v2 that v1 got right" in following
    groups = json.loads(sleuth_in_process("queue", "list", queued, "--json", check=True).stdout)["groups"]
    regression = next(g for g in groups if g["reason"] == "regression")
    assert (regression["regression"]["version"], regression["regression"]["partner"]) == ("v2", "v1")
    assert all(g["regression"] is None for g in groups if g["reason"] != "regression")


def test_meeting_evidence_names_both_versions(queued):
    from views.meeting import evidence_html

    workspace = Workspace.open(queued)
    try:
        queue = FailureQueue(workspace)
        group = next(g for g in queue.groups() if g.reason == "regression")
        found = group.evidence["regression"]
        shown = evidence_html(group, queue.total_failures(), lambda v: f"model {v}")
    finally:
        workspace.close()
    assert (f"<b>Regression</b>: on the same requests of this slice, {found['negative']:,} fail under model v2 "
            f"that model v1 got right") in shown
