"""Intake of the demo month's failures groups each planted problem into one group, measured
against the manifest's ground truth; intake is idempotent, samples, and keeps people's moves."""

import datetime as dt
import json
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.data.time import time_window
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.edits import MergeGroups, MoveItems, apply, revert
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import failures, find_failures, intake_log, intake_rows, kept_findings, queue_failures
from analysis.scope import Scope
from analysis.slicing.role_leaves import slice_sql
from analysis.store import Store
from analysis.triage.check_report import finding_to_dict
from analysis.workspace.workspace_file import Workspace


@pytest.fixture(scope="module")
def demo_log(demo_files):
    store = Store(memory_limit="2GB")
    yield store, load_log(store, [str(demo_files.log)], check=False)
    store.close()


@pytest.fixture(scope="module")
def window_log(window_demo_files):
    """The 20k demo, for tests of the queue's mechanics (moves and merges across intakes, a
    later week's intake) that need groups and failures, not the 200k rows that the planted
    incidents' purity and recall need: each of their intakes searches its rows' failing slices."""
    store = Store(memory_limit="2GB")
    yield store, load_log(store, [str(window_demo_files.log)], check=False)
    store.close()


@pytest.fixture(scope="module")
def discoveries():
    """The module's searches of the month's failing slices, as one session keeps them: the month
    is grouped with and without the check's findings, the same rows searched each time."""
    return DiscoveryCache()


@pytest.fixture(scope="module")
def found(demo_log, discoveries):
    """The demo month's failures, read and grouped once: queued into each test's own workspace."""
    store, loaded = demo_log
    return find_failures(Scope(store, loaded.dataset, loaded.roles), discoveries=discoveries)


@pytest.fixture(scope="module")
def demo_queue(demo_log, found, demo_files, tmp_path_factory):
    store, loaded = demo_log
    workspace = Workspace.open(tmp_path_factory.mktemp("queue") / "review.sleuth")
    queue = FailureQueue(workspace, user="tester")
    result = queue_failures(queue, found)
    manifest = json.loads(demo_files.manifest.read_text())
    yield queue, store, loaded, result, {i["id"]: i for i in manifest["incidents"]}
    workspace.close()


@pytest.fixture(scope="module")
def findings(demo_check):
    """The demo month's check findings: the session's one check of the log (tests/conftest.py)."""
    return demo_check.findings


@pytest.fixture(scope="module")
def checked_queue(demo_queue, findings, discoveries, tmp_path_factory):
    """The same month queued with the log's check findings as the first candidate reasons: the
    findings its last check kept in the workspace (beside another log's), as the default intake
    reads them (no check now). The check's own findings, handed to intake as ``queue add
    --check`` and the window's first intake hand them, are grouped in tests/app/test_cli_queue.py
    and tests/views/test_queue_intake.py."""
    _, store, loaded, _, incidents = demo_queue
    workspace = Workspace.open(tmp_path_factory.mktemp("checked") / "review.sleuth")
    workspace.save_findings(loaded.dataset.name, "first 20% of time", [finding_to_dict(f) for f in findings])
    workspace.save_findings("another log", "first 20% of time", [{"key": "broken", "kind": "unreadable"}])
    queue = FailureQueue(workspace)
    kept = kept_findings(workspace, loaded.dataset.name)
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles), findings=kept, discoveries=discoveries)
    yield queue, incidents
    workspace.close()


def _incident_rows(demo_files, predicate: str) -> set[tuple[str, str]]:
    """(request id, version) of every row inside an incident's manifest predicate."""
    con = duckdb.connect()
    rows = con.execute(f"SELECT CAST(request_id AS VARCHAR), model_version FROM read_parquet(?) WHERE {predicate}",
                       [str(demo_files.log)]).fetchall()
    con.close()
    return set(rows)


def _purity_and_recall(queue, demo_files, incidents, incident, version):
    """Of the group holding most of the incident's failures of ``version``: the share of its
    items inside the incident (purity) and the share of the incident's failures it holds
    (recall; failures inside another planted incident count for that one)."""
    inside = _incident_rows(demo_files, incidents[incident]["predicate"])
    others = set().union(*(_incident_rows(demo_files, i["predicate"]) for key, i in incidents.items()
                           if key != incident and i["dataset"] == "log" and i["predicate"] and key in "abd"))
    items = queue.items()
    pairs = list(zip(items["row_key"], items["version"]))
    items["inside"] = [p in inside for p in pairs]
    items["elsewhere"] = [p in others for p in pairs]
    of_version = items[items["version"] == version]
    by_group = of_version.groupby("group_id")["inside"].agg(["sum", "count"])
    best = int(by_group["sum"].idxmax())
    purity = by_group.loc[best, "sum"] / by_group.loc[best, "count"]
    only_this = of_version["inside"] & ~of_version["elsewhere"]
    recall = (only_this & (of_version["group_id"] == best)).sum() / only_this.sum()
    return queue.group(best), purity, recall


def test_the_unseen_subpopulation_lands_in_one_pure_regression_group(demo_queue, demo_files):
    """The subpopulation the new version never saw (d), without a check: the version it hurts
    has one group holding most of its failures, and nearly nothing else, named a regression
    against the old version that scored the same requests (shadow traffic) and got them right."""
    queue, *_, incidents = demo_queue
    group, purity, recall = _purity_and_recall(queue, demo_files, incidents, "d", "fraud-gbm-2026.10")
    assert purity >= 0.9 and recall >= 0.8, (group.title, purity, recall)
    assert group.reason == "regression"
    assert group.title.endswith("fails under fraud-gbm-2026.10, right under fraud-lr-2026.09")


@pytest.mark.parametrize("incident, worst_version, reason", [
    ("b", "fraud-lr-2026.09", "finding"), ("d", "fraud-gbm-2026.10", "regression")])
def test_with_check_findings_the_swap_is_grouped_by_its_finding(checked_queue, demo_files, incident,
                                                                 worst_version, reason):
    """The swapped-column client (b) is one pure group only through its check finding, which
    grouping consults before failing slices: by slice alone its failures are two failure
    patterns (stark-pay rows far from home with amount <= 23.29, error 19%, and the client's
    other far rows, 9%; Fisher p 4e-23 between them), which no fold rule may merge without also
    merging the weak subpopulation (kiosk 26% vs risky merchants 9%) into its parent; only their
    cause unites them. So the user's paths never group by slice alone: intake consults the log's
    kept check, and when none is kept ``queue add`` and the window run the checks first
    (tests/app/test_cli_queue.py, tests/views/test_queue_intake.py)."""
    queue, incidents = checked_queue
    group, purity, recall = _purity_and_recall(queue, demo_files, incidents, incident, worst_version)
    assert purity >= 0.9 and recall >= 0.8, (group.title, purity, recall)
    assert group.reason == reason


def test_the_logs_kept_findings_are_its_checks_and_no_other_logs(checked_queue, demo_queue, findings):
    """The default intake (no check now) consults the findings the log's last check kept in the
    workspace (``checked_queue`` is queued with them, and its swap is grouped by its finding
    above): they are the check's, and another log's kept findings are not this log's."""
    queue, _ = checked_queue
    _, _, loaded, _, _ = demo_queue
    kept = kept_findings(queue.workspace, loaded.dataset.name)
    assert [f.key for f in kept] == [f.key for f in findings] and not kept_findings(queue.workspace, "another log")


def test_every_failure_is_queued_once_with_its_link(demo_queue):
    queue, store, loaded, result, _ = demo_queue
    assert result.added == queue.item_count() == len(failures(Scope(store, loaded.dataset, loaded.roles)))
    items = queue.items()
    assert items["item_key"].is_unique
    assert (items["label"] != items["prediction"]).all()
    assert queue.total_failures() == result.added


def test_adding_the_same_log_again_duplicates_nothing(demo_queue, found):
    queue, store, loaded, result, _ = demo_queue
    before = {g.id: (g.items, g.failures) for g in queue.groups()}
    again = queue_failures(queue, found)
    assert (again.added, again.duplicates) == (0, result.added)
    assert {g.id: (g.items, g.failures) for g in queue.groups()} == before


def test_chosen_rows_queue_only_their_failures(demo_queue, tmp_path):
    _, store, loaded, _, _ = demo_queue
    fails = failures(Scope(store, loaded.dataset, loaded.roles))
    chosen = list(fails["row_number"][:5]) + [int(r) for r in _correct_rows(store, loaded, 3)]
    workspace = Workspace.open(tmp_path / "rows.sleuth")
    queue = FailureQueue(workspace)
    result = intake_rows(queue, Scope(store, loaded.dataset, loaded.roles), chosen)
    assert result.added == 5
    assert set(queue.items()["row_number"]) == set(int(r) for r in fails["row_number"][:5])
    workspace.close()


def _correct_rows(store, loaded, n):
    return [r[0] for r in store.rows(f'SELECT _sleuth_row FROM "{loaded.dataset.view}" '
                                     f"WHERE is_fraud = prediction LIMIT {n}")]


def test_sample_caps_items_per_group_and_counts_the_rest(demo_queue, found, tmp_path):
    _, store, loaded, result, _ = demo_queue
    workspace = Workspace.open(tmp_path / "sampled.sleuth")
    queue = FailureQueue(workspace)
    sampled = queue_failures(queue, found, sample=20)
    groups = queue.groups()
    assert all(g.items <= 20 for g in groups)
    assert sampled.added + sampled.counted == result.added
    assert queue.total_failures() == result.added
    workspace.close()


def _found_before(found, until):
    """The month's found failures cut to the predictions before ``until``: the same groups,
    holding only their earlier rows (a log of the first weeks, grouped as the month was)."""
    early = found.found[found.found["observed_at"] < until]
    keep = set(early["row_number"])
    groups = tuple(replace(g, rows=tuple(r for r in g.rows if r in keep)) for g in found.grouped)
    return replace(found, found=early.copy(), grouped=tuple(g for g in groups if g.rows))


def _pandas_failures(demo_files, since=None, until=None) -> int:
    """Failed predictions (labelled, wrong class) of the demo log in [since, until), by pandas."""
    log = pd.read_parquet(demo_files.log, columns=["timestamp", "is_fraud", "prediction"])
    inside = pd.Series(True, index=log.index)
    if since is not None:
        inside &= log["timestamp"] >= since
    if until is not None:
        inside &= log["timestamp"] < until
    return int((inside & log["is_fraud"].notna() & (log["is_fraud"] != log["prediction"])).sum())


def test_a_sampled_log_read_again_counts_nothing_twice_and_new_rows_add_their_failures(found, demo_files, tmp_path):
    """Issue 16: the failures a sample left out are counted once, however often their rows are read."""
    workspace = Workspace.open(tmp_path / "resampled.sleuth")
    queue = FailureQueue(workspace)
    first_weeks = _found_before(found, dt.datetime(2026, 10, 15))
    first = queue_failures(queue, first_weeks, sample=20)
    before = {g.id: (g.failures, g.items) for g in queue.groups()}
    assert first.counted > 0 and sum(f for f, _ in before.values()) == _pandas_failures(
        demo_files, until=dt.datetime(2026, 10, 15))
    again = queue_failures(queue, first_weeks, sample=20)
    assert (again.added, again.counted, again.duplicates) == (0, 0, first.added + first.counted)
    assert {g.id: (g.failures, g.items) for g in queue.groups()} == before
    later = queue_failures(queue, found, sample=20)
    new = _pandas_failures(demo_files, since=dt.datetime(2026, 10, 15))
    assert later.added + later.counted == new and later.duplicates == first.added + first.counted
    assert queue.total_failures() == _pandas_failures(demo_files)
    grown = {g.id: g.failures for g in queue.groups()}
    month = {g.key: len(g.rows) for g in found.grouped}
    assert {g.id: month[g.key] for g in queue.groups()} == grown, "each group counts each of its failures once"
    workspace.close()


def test_a_failure_only_counted_is_queued_when_added_without_a_sample(found, tmp_path):
    """Chosen again without a sample, a sampled-out failure becomes an item, still counted once."""
    workspace = Workspace.open(tmp_path / "promoted.sleuth")
    queue = FailureQueue(workspace)
    sampled = queue_failures(queue, found, sample=20)
    total = queue.total_failures()
    everything = queue_failures(queue, found)
    assert (everything.added, everything.counted) == (sampled.counted, 0)
    assert queue.item_count() == total == queue.total_failures()
    workspace.close()


def test_moves_and_merges_survive_new_failures(window_log, tmp_path):
    store, loaded = window_log
    workspace = Workspace.open(tmp_path / "edited.sleuth")
    queue = FailureQueue(workspace)
    middle = dt.datetime(2026, 10, 16)
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles, time_window(loaded.roles, None, middle)))
    big, small, third = queue.groups()[:3]
    moved = list(queue.items(third.id)["item_key"][:3])
    apply(queue, MoveItems(moved, big.id))
    merge = apply(queue, MergeGroups(small.id, big.id))
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles, time_window(loaded.roles, middle, None)))
    items = queue.items().set_index("item_key")
    assert (items.loc[moved, "group_id"] == big.id).all()
    assert not (items["group_id"] == small.id).any(), "new failures of a merged group go to its target"
    assert queue.group(small.id).status == "duplicate"
    revert(queue, merge)
    assert queue.group(small.id).status == "new" and queue.group(small.id).items > 0
    workspace.close()


def test_since_last_review_takes_only_later_predictions(window_log, tmp_path):
    store, loaded = window_log
    workspace = Workspace.open(tmp_path / "weekly.sleuth")
    queue = FailureQueue(workspace)
    first_week = time_window(loaded.roles, None, dt.datetime(2026, 10, 8))
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles, first_week))
    reviewed_until = queue.last_period_end()
    later = intake_log(queue, Scope(store, loaded.dataset, loaded.roles), since_last_review=True)
    after = failures(Scope(store, loaded.dataset, loaded.roles, time_window(loaded.roles, reviewed_until, None)))
    assert later.added + later.duplicates == len(after)
    assert later.duplicates == (after["observed_at"] == reviewed_until).sum()
    assert queue.item_count() == len(failures(Scope(store, loaded.dataset, loaded.roles)))
    workspace.close()


@pytest.mark.parametrize("kind", ["null_burst", "drift"])
def test_a_findings_rows_queued_from_it_are_grouped_under_it(demo_log, findings, kind, tmp_path):
    """The findings panel's "add to queue" (the finding's own rows, with the finding): every
    failure lands in that finding's group of its version, an alert's as an info's (drift of the
    whole month, which the check path never makes a group)."""
    store, loaded = demo_log
    finding = next(f for f in findings if f.kind == kind)
    own_rows = slice_sql(finding.slice, loaded.dataset, loaded.roles)
    workspace = Workspace.open(tmp_path / "finding.sleuth")
    queue = FailureQueue(workspace)
    result = intake_log(queue, Scope(store, loaded.dataset, loaded.roles, own_rows), findings=(finding,))
    failed = failures(Scope(store, loaded.dataset, loaded.roles, own_rows))
    groups = queue.groups()
    assert result.added == len(failed) > 0
    assert all(g.reason == "finding" and kind.replace("_", " ") in g.title for g in groups), [g.title for g in groups]
    assert sorted(g.version for g in groups) == sorted(failed["version"].unique())
    workspace.close()


def test_without_checks_the_swap_is_one_pure_regression_group_of_the_old_version(demo_queue, demo_files):
    """Without the checks, the stark-pay swap (b) is found by the version shadowing the old one:
    the new version gets most of these requests right, so compare's regressed slice of the old
    version (``distance_from_home_km > 25.2 AND client = 'stark-pay'``) holds most of the swap's
    failures and nearly nothing else. (By the old version's failures alone it was a failing slice
    at bin edges of the whole log, ``amount <= 23.29 AND distance_from_home_km > 23.5``, recall
    0.71, made precise on the version's rows.)"""
    queue, *_, incidents = demo_queue
    group, purity, recall = _purity_and_recall(queue, demo_files, incidents, "b", "fraud-lr-2026.09")
    assert purity >= 0.9 and recall >= 0.8, (group.title, purity, recall)
    assert group.reason == "regression" and group.evidence["regression"]["partner"] == "fraud-gbm-2026.10"


def _planted_log(path, inner_error: float, seed: int = 3, rows: int = 4000):
    """A log whose failures are planted in ``x > 0.6 AND g = 'a'`` (error 0.6, else 0.05); in it,
    rows with ``h = 'k'`` fail with ``inner_error`` (0.6: no second cause). ``y`` follows ``x``
    closely, so a slice on ``y`` is a correlated copy of part of the planted one."""
    rng = np.random.default_rng(seed)
    x = rng.random(rows)
    g = rng.choice(["a", "b"], size=rows)
    h = rng.choice(["k", "m", "n"], size=rows)
    planted = (x > 0.6) & (g == "a")
    error = np.where(planted, np.where(h == "k", inner_error, 0.6), 0.05)
    label = rng.integers(0, 2, size=rows)
    prediction = np.where(rng.random(rows) < error, 1 - label, label)
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "model_version": "v1", "x": x,
                  "y": x + rng.normal(0, 0.02, rows), "g": g, "h": h, "label": label, "prediction": prediction,
                  "score": np.where(prediction == 1, 0.8, 0.2)}).to_parquet(path)
    return path


def _chosen_titles(store, path, slices):
    from analysis.queue.grouping import _chosen_and_folded, _Reason
    from analysis.slices import Slice, to_text

    loaded = load_log(store, [str(path)], check=False)
    reasons = [_Reason(f"slice:{to_text(s)}", "slice", to_text(s), Slice(s, name=to_text(s))) for s in slices]
    return [r.title for r in _chosen_and_folded(Scope(store, loaded.dataset, loaded.roles), reasons)]


def test_a_correlated_slice_inside_the_planted_one_gives_way_to_it(store, tmp_path):
    """A slice on a column correlated with the planted one's (``y > 0.8``), ranked first, holds
    only part of the planted failures and fails no more than the rest of the planted rows: it
    is folded into the slice that explains them all, so the planted problem is one group."""
    from analysis.slices import Compare

    planted = Compare("x", ">", 0.6) & Compare("g", "=", "a")
    correlated = Compare("y", ">", 0.8) & Compare("g", "=", "a")
    path = _planted_log(tmp_path / "log.parquet", inner_error=0.6)
    assert _chosen_titles(store, path, [correlated, planted]) == ["x > 0.6 AND g = 'a'"]


def test_a_sharper_cause_inside_a_failing_slice_keeps_its_group(store, tmp_path):
    """Inside the planted slice, ``h = 'k'`` fails far more (0.95 against 0.6): a precise cause
    of its own, found with a moved cut (not a syntactic refinement), keeps its group first."""
    from analysis.slices import Compare

    planted = Compare("x", ">", 0.6) & Compare("g", "=", "a")
    sharper = Compare("x", ">", 0.61) & Compare("g", "=", "a") & Compare("h", "=", "k")
    path = _planted_log(tmp_path / "log.parquet", inner_error=0.95)
    assert _chosen_titles(store, path, [sharper, planted]) == ["x > 0.61 AND g = 'a' AND h = 'k'",
                                                               "x > 0.6 AND g = 'a'"]


def test_a_failing_slice_found_at_bin_edges_is_cut_where_it_fails(store, tmp_path):
    """One version, so no regression to find: discovery bins ``x`` over the whole log and finds
    a range ending at a bin edge (``0.605 < x <= 0.800``); made precise on the version's rows,
    the group's slice is ``x > ~0.6 AND g = 'a'`` (the planted one) and its evidence says which
    slice discovery found."""
    path = _planted_log(tmp_path / "log.parquet", inner_error=0.6)
    loaded = load_log(store, [str(path)], check=False)
    grouped = find_failures(Scope(store, loaded.dataset, loaded.roles)).grouped
    group = next(g for g in grouped if g.reason == "slice")
    assert group.slice.predicate.columns == {"x", "g"} and group.evidence["found_as"] != group.slice.name
    assert group.slice.name.startswith("x > 0.6") and " <= " not in group.slice.name, group.slice.name
