"""Grouping by the training batch trace blames, on the demo: the batch whose labels the manifest
says were flipped is rediscovered, and the failures the flips cause (those a model trained on the
labels with the flips undone gets right) land in its group."""

import datetime as dt
import json
import pickle
from dataclasses import replace

import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.data.time import time_window
from analysis.demo.models import _linear_model
from analysis.demo.world import CATEGORICAL_FEATURES, FLAG_FEATURES, NUMERIC_FEATURES
from analysis.queue.blame import traces_from_cards
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.grouping import version_scope
from analysis.queue.edits import MergeGroups, apply
from analysis.queue.intake import FoundFailures, find_failures, queue_failures
from analysis.queue.report import render_markdown, report_document
from analysis.scope import Scope
from analysis.store import Store
from analysis.trace.tracer import InfluenceCache, TrainingFiles
from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import Workspace

LINEAR = "fraud-lr-2026.09"
"""The version whose model loads without trust (a linear pipeline): the one intake traces here."""
EVERY_FAILURE = 100_000
"""A cap above the failures read: the blame itself is measured, not the sample."""
SAMPLED = 1_200
"""A cap below the half month's 2,123 failures."""


@pytest.fixture(scope="module")
def manifest(demo_files):
    return json.loads(demo_files.manifest.read_text())


@pytest.fixture(scope="module")
def loaded_demo(demo_files):
    store = Store(memory_limit="2GB")
    yield store, load_log(store, [str(demo_files.log)], check=False)
    store.close()


@pytest.fixture(scope="module")
def discoveries():
    """The failing slices of the module's intakes, as one session keeps them: the half month is
    grouped twice (every failure traced, then a sample), its rows searched once."""
    return DiscoveryCache()


@pytest.fixture(scope="module")
def influence():
    """The linear model's influence, prepared once for the module's blames (seconds of CPU each)."""
    return InfluenceCache()


@pytest.fixture(scope="module")
def traced_queue(loaded_demo, demo_files, discoveries, influence, tmp_path_factory):
    """The linear version's first half of the month (the flips act all month; half keeps the
    test short) queued with its training snapshot and model."""
    store, loaded = loaded_demo
    workspace = Workspace.open(tmp_path_factory.mktemp("batches") / "review.sleuth")
    queue = FailureQueue(workspace)
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, _first_half(loaded.roles)),
                          traces=_linear_traces(demo_files), cache=influence, trace_at_most=EVERY_FAILURE,
                          discoveries=discoveries)
    queue_failures(queue, found)
    yield queue, found
    workspace.close()


def _first_half(roles):
    """The linear version's predictions before October 16th."""
    return version_scope(roles, LINEAR) & time_window(roles, None, dt.datetime(2026, 10, 16))


def _linear_traces(demo_files) -> dict[str, TrainingFiles]:
    """The linear version traced through the demo's training snapshot and its model."""
    return {LINEAR: TrainingFiles((str(demo_files.training),), str(demo_files.models[LINEAR]))}


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
    """Request ids of the linear version's failures the flipped labels cause: those the same
    model, trained on the snapshot with the flips undone, gets right (the counterfactual)."""
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    training = pd.read_parquet(demo_files.training)
    clean = training["is_fraud"].copy()
    flipped = incident["flipped_row_ids"]
    clean.iloc[flipped] = 1 - clean.iloc[flipped]
    features = list(NUMERIC_FEATURES + CATEGORICAL_FEATURES + FLAG_FEATURES)
    model = _linear_model().fit(training[features], clean)
    log = pd.read_parquet(demo_files.log)
    failed = log[(log["model_version"] == LINEAR) & log["is_fraud"].notna() & (log["is_fraud"] != log["prediction"])]
    right = model.predict(failed[features]) == failed["is_fraud"].to_numpy()
    return set(failed["request_id"].astype(str)[right])


def test_the_flipped_label_batch_is_blamed_for_the_failures_it_causes(queue, demo_files, manifest):
    """The group of the flipped batch holds >= 80% of the failures the flips cause, and >= 90%
    of it are such failures (0.91 and 0.90 measured): removing the batch fixes significantly
    more predictions than it breaks, and fixes these."""
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    caused = _caused_by_the_flips(demo_files, manifest)
    items = queue.items()
    items["caused"] = items["row_key"].isin(caused)
    by_group = items.groupby("group_id")["caused"].agg(["sum", "count"])
    best = queue.group(int(by_group["sum"].idxmax()))
    inside, size = by_group.loc[best.id, "sum"], by_group.loc[best.id, "count"]
    purity, recall = inside / size, inside / items["caused"].sum()
    blamed = best.evidence["blamed_batch"]
    assert best.reason == "batch", best.title
    assert blamed["value"] == incident["source"]
    assert f"blamed training batch source = {incident['source']}" in best.title
    assert blamed["fixes"] > blamed["breaks"] and blamed["p_value"] < 0.05
    assert recall >= 0.8 and purity >= 0.9, (best.title, purity, recall)
    said = f"without it {blamed['fixes']} failures would be right and {blamed['breaks']} correct predictions wrong"
    assert said in render_markdown(report_document(queue))


def test_no_other_batch_holds_a_group(queue, manifest):
    """The three clean batches: removing one breaks more correct predictions than it fixes
    failures, so none is significant and none holds a group."""
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    clean = [g.title for g in queue.groups() if g.reason == "batch"
             and g.evidence["blamed_batch"]["value"] != incident["source"]]
    assert not clean


def test_version_cards_name_what_is_traced():
    cards = {"a": VersionCard("a", training_snapshot="train.parquet", model_file="a.skops"),
             "b": VersionCard("b", training_snapshot="train.parquet"), "c": VersionCard("c", model_file="c.skops")}
    assert traces_from_cards(cards) == {"a": TrainingFiles(("train.parquet",), "a.skops")}
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


def test_blame_traces_a_sample_and_judges_the_rest_by_the_same_test(loaded_demo, demo_files, manifest, discoveries,
                                                                     influence):
    """A cap below the half month's failures: a uniform sample of that many is traced, the
    flipped batch is still the one blamed, and the failures left out of the sample that the
    model without it gets right join its group, so the group's recall of the failures the flips
    cause is that of tracing them all (0.91; 0.55 when the left-out failures went to slices),
    and the group and the intake say how many were traced of how many."""
    store, loaded = loaded_demo
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, _first_half(loaded.roles)),
                          traces=_linear_traces(demo_files), cache=influence, trace_at_most=SAMPLED,
                          discoveries=discoveries)
    failures = len(found.found)
    assert failures > SAMPLED
    batches = [g for g in found.grouped if g.reason == "batch"]
    assert [g.evidence["blamed_batch"]["value"] for g in batches] == [incident["source"]]
    blamed = batches[0].evidence["blamed_batch"]
    assert (blamed["traced_failures"], blamed["version_failures"]) == (SAMPLED, failures)
    assert 0 < blamed["untraced_fixed"] <= failures - SAMPLED
    assert len(batches[0].rows) == blamed["failures"] and len(batches[0].rows) - blamed["untraced_fixed"] <= SAMPLED
    keys = found.found.set_index("row_number")["row_key"]
    caused = set(_caused_by_the_flips(demo_files, manifest)) & set(keys)
    inside = keys.loc[list(batches[0].rows)].isin(caused)
    assert inside.sum() / len(caused) >= 0.8 and inside.mean() >= 0.9, (inside.sum() / len(caused), inside.mean())
    assert any(f"traced {SAMPLED:,} of {failures:,} failures" in note for note in found.notes), found.notes
    grouped = [r for g in found.grouped for r in g.rows]
    assert sorted(grouped) == sorted(found.found["row_number"])  # every failure is in exactly one group


def test_a_model_that_needs_trust_is_skipped_with_a_sentence(loaded_demo, demo_files, tmp_path):
    """A card naming a pickle (never trusted by a card): the version is grouped by slice alone,
    and the intake says why instead of failing."""
    store, loaded = loaded_demo
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"not": "a model"}))
    traces = {LINEAR: TrainingFiles((str(demo_files.training),), str(model))}
    condition = _week(loaded.roles) & time_window(loaded.roles, None, dt.datetime(2026, 10, 6))
    found = find_failures(Scope(store, loaded.dataset, loaded.roles, condition), traces=traces)
    assert len(found.found) and not [g for g in found.grouped if g.reason == "batch"]
    # the week's requests were scored by no other version: the other note says no regression group was formed
    traced = [note for note in found.notes if "regression groups were not formed" not in note]
    assert len(traced) == 1 and LINEAR in traced[0] and "trust" in traced[0], found.notes


def test_the_flipped_categorys_group_blames_the_flipped_batch(loaded_demo, demo_files, manifest, influence,
                                                              tmp_path):
    """A slice group of the linear version's failures in the category whose labels were flipped
    (as a person might form it): its blame, the batch-removal test on that slice over the
    month, names the flipped batch, significantly, and says how many failures it fixes."""
    from analysis.queue.blame import attach_blame, blame_text
    from analysis.slices import InSet, Slice

    store, loaded = loaded_demo
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace)
    with queue.edit():
        group_id = queue.new_group("slice:flipped", "slice", incident["category"], loaded.dataset.name, LINEAR,
                                   Slice(InSet("merchant_category", (incident["category"],))), {})
    (blamed,) = attach_blame(queue, Scope(store, loaded.dataset, loaded.roles), [group_id],
                             _linear_traces(demo_files)[LINEAR], influence)
    assert (blamed["column"], blamed["value"]) == ("source", incident["source"])
    assert blamed["p_value"] < 0.05 and blamed["fixes"] > blamed["breaks"]
    assert blame_text(queue.group(group_id).evidence["blamed_batch"]).startswith(
        f"Blamed training batch: source = {incident['source']}")
    workspace.close()
