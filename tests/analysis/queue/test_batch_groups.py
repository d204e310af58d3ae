"""Grouping by the training batch trace blames, on the demo: the batch whose labels the manifest
says were flipped is rediscovered, and the failures the flips cause land in its group."""

import datetime as dt
import json
import pickle
from dataclasses import replace

import duckdb
import pytest
from scipy import stats

from analysis.data.open_log import load_log
from analysis.data.time import time_window
from analysis.queue.blame import TraceSource, traces_from_cards
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.grouping import version_scope
from analysis.queue.edits import MergeGroups, apply
from analysis.queue.intake import FoundFailures, find_failures, queue_failures
from analysis.scope import Scope
from analysis.store import Store
from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import Workspace

LINEAR = "fraud-lr-2026.09"
"""The version whose model loads without trust (a linear pipeline): the one intake traces here."""
EVERY_FAILURE = 100_000
"""A cap above the failures read: the blame itself is measured, not the sample."""


@pytest.fixture(scope="module")
def manifest(demo_files):
    return json.loads(demo_files.manifest.read_text())


@pytest.fixture(scope="module")
def traced_queue(demo_files, manifest, tmp_path_factory):
    """The linear version's first half of the month (the flips act all month; half keeps the
    test short) queued with its training snapshot and model."""
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    workspace = Workspace.open(tmp_path_factory.mktemp("batches") / "review.sleuth")
    queue = FailureQueue(workspace)
    model = demo_files.models[LINEAR]
    traces = {LINEAR: TraceSource((str(demo_files.training),), str(model))}
    first_half = version_scope(loaded.roles, LINEAR) & time_window(loaded.roles, None, dt.datetime(2026, 10, 16))
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, first_half), traces=traces,
                          trace_at_most=EVERY_FAILURE)
    queue_failures(queue, found)
    yield queue, found
    workspace.close()
    store.close()


@pytest.fixture(scope="module")
def loaded_demo(demo_files):
    store = Store(memory_limit="2GB")
    yield store, load_log(store, [str(demo_files.log)], check=False)
    store.close()


def _week(roles):
    """The linear version's first full week of October: enough failures (~1,000) to need a sample."""
    return version_scope(roles, LINEAR) & time_window(roles, dt.datetime(2026, 10, 5), dt.datetime(2026, 10, 12))


@pytest.fixture(scope="module")
def found(traced_queue):
    return traced_queue[1]


@pytest.fixture(scope="module")
def queue(traced_queue):
    return traced_queue[0]


def _caused_by_the_flips(demo_files, manifest) -> set[str]:
    """Request ids of the linear version's failures the flipped labels cause, from the manifest:
    rows of the flipped category predicted as the label the flips wrote, and wrong; rows inside
    another planted log incident count for that one (and against the group's purity, as in
    test_grouping)."""
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    con = duckdb.connect()
    training = con.execute("SELECT is_fraud FROM read_parquet(?)", [str(demo_files.training)]).df()
    written = int(training["is_fraud"].iloc[incident["flipped_row_ids"]].mode()[0])
    others = " OR ".join(f"({i['predicate']})" for i in manifest["incidents"]
                         if i["dataset"] == "log" and i["predicate"] and i["kind"] != "label_delay")
    ids = con.execute(
        "SELECT CAST(request_id AS VARCHAR) FROM read_parquet(?) WHERE model_version = ? "
        "AND merchant_category = ? AND prediction = ? AND is_fraud IS NOT NULL AND is_fraud <> prediction "
        f"AND NOT coalesce({others}, FALSE)", [str(demo_files.log), LINEAR, incident["category"], written]).fetchall()
    con.close()
    return {i[0] for i in ids}


def test_the_flipped_label_batch_is_blamed_for_the_failures_it_causes(queue, demo_files, manifest):
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    caused = _caused_by_the_flips(demo_files, manifest)
    items = queue.items()
    items["caused"] = items["row_key"].isin(caused)
    by_group = items.groupby("group_id")["caused"].agg(["sum", "count"])
    best = queue.group(int(by_group["sum"].idxmax()))
    inside, size = by_group.loc[best.id, "sum"], by_group.loc[best.id, "count"]
    purity, recall = inside / size, inside / items["caused"].sum()
    assert best.reason == "batch", best.title
    assert best.evidence["blamed_batch"]["value"] == incident["source"]
    assert f"blamed training batch source = {incident['source']}" in best.title
    assert best.evidence["blamed_batch"]["harmful_share"] > best.evidence["blamed_batch"]["row_share"]
    assert recall >= 0.8 and purity > 0.5, (best.title, purity, recall)
    rest = items.loc[items["group_id"] != best.id, "caused"]
    enriched = stats.fisher_exact([[inside, size - inside], [rest.sum(), len(rest) - rest.sum()]], alternative="greater")
    assert enriched.pvalue < 0.05


def test_no_other_batch_holds_a_real_group(queue, manifest):
    """The three clean batches: at most a stray failure each (BH keeps false blames rare)."""
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    clean = [g for g in queue.groups() if g.reason == "batch"
             and g.evidence["blamed_batch"]["value"] != incident["source"]]
    assert sum(g.failures for g in clean) <= 0.01 * queue.total_failures(), [g.title for g in clean]


def test_version_cards_name_what_is_traced():
    cards = {"a": VersionCard("a", training_snapshot="train.parquet", model_file="a.skops"),
             "b": VersionCard("b", training_snapshot="train.parquet"), "c": VersionCard("c", model_file="c.skops")}
    assert traces_from_cards(cards) == {"a": TraceSource(("train.parquet",), "a.skops")}
    assert not traces_from_cards(cards)["a"].trust


def test_a_merge_of_the_batch_group_survives_new_failures(found, tmp_path):
    """The month queued in two halves, the batch group merged into another after the first:
    the second half's failures blamed on the batch go to the merge's target."""
    middle = found.found["observed_at"].median()
    early = set(found.found["row_number"][found.found["observed_at"] <= middle])

    def half(first: bool) -> FoundFailures:
        keep = [replace(g, rows=tuple(r for r in g.rows if (r in early) == first)) for g in found.grouped]
        return FoundFailures(found.dataset_name, found.scope, found.found, tuple(g for g in keep if g.rows))

    workspace = Workspace.open(tmp_path / "merged.sleuth")
    queue = FailureQueue(workspace)
    queue_failures(queue, half(True))
    batch = max((g for g in queue.groups() if g.reason == "batch"), key=lambda g: g.failures)
    target = next(g for g in queue.groups() if g.reason != "batch")
    apply(queue, MergeGroups(batch.id, target.id))
    before = len(queue.items(target.id))
    queue_failures(queue, half(False))
    later = next(g for g in found.grouped if g.key == batch.key)
    assert len(queue.items(target.id)) - before >= sum(r not in early for r in later.rows) > 0
    assert len(queue.items(batch.id)) == 0
    workspace.close()


def test_blame_traces_a_sample_of_at_most_n_failures_and_says_so(loaded_demo, demo_files, manifest):
    """A cap below the week's failures: only a uniform sample of that many is blamed (the rest
    go to slice groups), the batch groups say how many were traced of how many, and the intake
    notes it; the flipped batch is still the one blamed most."""
    store, loaded = loaded_demo
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    traces = {LINEAR: TraceSource((str(demo_files.training),), str(demo_files.models[LINEAR]))}
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, _week(loaded.roles)), traces=traces,
                          trace_at_most=300)
    failures = len(found.found)
    assert failures > 300
    batches = [g for g in found.grouped if g.reason == "batch"]
    assert batches and sum(len(g.rows) for g in batches) <= 300
    assert {(g.evidence["blamed_batch"]["traced_failures"], g.evidence["blamed_batch"]["version_failures"])
            for g in batches} == {(300, failures)}
    assert max(batches, key=lambda g: len(g.rows)).evidence["blamed_batch"]["value"] == incident["source"]
    assert any(f"traced 300 of {failures:,} failures" in note for note in found.notes), found.notes
    grouped = [r for g in found.grouped for r in g.rows]
    assert sorted(grouped) == sorted(found.found["row_number"])  # every failure is in exactly one group


def test_a_model_that_needs_trust_is_skipped_with_a_sentence(loaded_demo, demo_files, tmp_path):
    """A card naming a pickle (never trusted by a card): the version is grouped by slice alone,
    and the intake says why instead of failing."""
    store, loaded = loaded_demo
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"not": "a model"}))
    traces = {LINEAR: TraceSource((str(demo_files.training),), str(model))}
    condition = _week(loaded.roles) & time_window(loaded.roles, None, dt.datetime(2026, 10, 6))
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, condition), traces=traces)
    assert len(found.found) and not [g for g in found.grouped if g.reason == "batch"]
    assert len(found.notes) == 1 and LINEAR in found.notes[0] and "trust" in found.notes[0], found.notes
