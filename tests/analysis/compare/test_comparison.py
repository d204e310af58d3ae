"""Comparing two versions: pairing detection, flips against pandas, the demo's incident (d),
an identical candidate, and the JSON report."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.compare.comparison import CompareSettings, compare_versions, pair_versions
from analysis.compare.regressed_slices import SliceSettings
from analysis.compare.report import ReportSettings, compare_report, is_regression
from analysis.stats.comparison import independent_proportions
from analysis.compare.flips import export_flips, flips
from analysis.data.open_log import load_log
from analysis.query import Sql
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slices import Flip, to_sql
from analysis.slicing.role_leaves import slice_sql
from analysis.store import Store

ROLES = RoleMap(id="id", timestamp="ts", model_version="version", label="label", prediction="pred",
                scores=("score",), features=("segment", "x"), task=TaskType.BINARY, positive_class="1")


def _requests(rng, n):
    return pd.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="min"),
        "segment": rng.choice(["a", "b", "c"], n),
        "x": rng.normal(size=n),
        "label": (rng.random(n) < 0.3).astype(int),
    })


def _scored(requests, version, rng, noise):
    frame = requests.copy()
    frame["version"] = version
    frame["score"] = np.clip(frame["label"] * 0.6 + 0.2 + rng.normal(0, noise, len(frame)), 0, 1)
    frame["pred"] = (frame["score"] >= 0.5).astype(int)
    return frame


def _load(store, tmp_path, frame, name="log.parquet"):
    path = tmp_path / name
    frame.reset_index(drop=True).to_parquet(path)
    return load_log(store, [str(path)], roles=ROLES, check=False)


def test_shadow_traffic_is_paired(store, tmp_path):
    rng = np.random.default_rng(1)
    requests = _requests(rng, 2000)
    frame = pd.concat([_scored(requests, "v1", rng, 0.3), _scored(requests.iloc[:1800], "v2", rng, 0.2)])
    log = _load(store, tmp_path, frame)
    pairing = pair_versions(Scope(store, log.dataset, log.roles), "v1", "v2")
    assert pairing.paired and pairing.pairs == 1800
    assert (pairing.base.rows, pairing.candidate.rows) == (2000, 1800)


@pytest.mark.parametrize("layout", ["ab_split", "replacement"])
def test_versions_that_saw_different_requests_are_unpaired(store, tmp_path, layout):
    rng = np.random.default_rng(2)
    requests = _requests(rng, 2000)
    if layout == "ab_split":
        arm = rng.random(2000) < 0.5
        first, second = requests[arm], requests[~arm]
    else:
        first, second = requests.iloc[:1200], requests.iloc[1200:]
    frame = pd.concat([_scored(first, "v1", rng, 0.3), _scored(second, "v2", rng, 0.2)])
    log = _load(store, tmp_path, frame)
    comparison = compare_versions(Scope(store, log.dataset, log.roles), "v1", "v2", CompareSettings(metrics=["accuracy"]))
    assert not comparison.pairing.paired
    assert "Unpaired" in comparison.pairing.explanation
    labelled = frame.dropna(subset=["label"])
    hits = labelled.assign(ok=labelled["pred"] == labelled["label"]).groupby("version")["ok"].agg(["sum", "count"])
    expected = independent_proportions(int(hits.loc["v1", "sum"]), int(hits.loc["v1", "count"]),
                                       int(hits.loc["v2", "sum"]), int(hits.loc["v2", "count"]))
    got = comparison.get("accuracy")
    assert (got.diff, got.ci_low, got.ci_high, got.p_value) == pytest.approx(
        (expected.diff, expected.ci_low, expected.ci_high, expected.p_value))


def test_two_time_windows_of_one_version_are_unpaired(store, tmp_path):
    rng = np.random.default_rng(3)
    frame = _scored(_requests(rng, 2000), "v1", rng, 0.3)
    log = _load(store, tmp_path, frame)
    cut = frame["ts"].iloc[1000].to_pydatetime()
    before, after = Sql('"ts" < ?', (cut,)), Sql('"ts" >= ?', (cut,))
    comparison = compare_versions(Scope(store, log.dataset, log.roles), "v1", "v1", CompareSettings(
        metrics=["accuracy", "roc_auc"], base_condition=before, candidate_condition=after))
    assert not comparison.pairing.paired
    assert (comparison.pairing.base.rows, comparison.pairing.candidate.rows) == (1000, 1000)
    ok = frame["pred"] == frame["label"]
    assert comparison.get("accuracy").base == pytest.approx(ok.iloc[:1000].mean())
    assert comparison.get("accuracy").candidate == pytest.approx(ok.iloc[1000:].mean())


def test_report_settings_split_at_compares_the_rows_before_and_after_the_moment(store, tmp_path):
    rng = np.random.default_rng(31)
    frame = _scored(_requests(rng, 2000), "v1", rng, 0.3)
    log = _load(store, tmp_path, frame)
    cut = frame["ts"].iloc[700].to_pydatetime()
    settings = ReportSettings(slices=SliceSettings(discover=False), split_at=cut, version_names={"v1": "Ranker"})
    report = compare_report(Scope(store, log.dataset, log.roles), "v1", "v1", settings)
    ok = frame["pred"] == frame["label"]
    accuracy = next(m for m in report["overall"] if m["metric"] == "accuracy")
    assert not report["paired"] and (report["base_rows"], report["candidate_rows"]) == (700, 1300)
    assert (accuracy["base"], accuracy["candidate"]) == pytest.approx((ok.iloc[:700].mean(), ok.iloc[700:].mean()))
    assert report["base_name"].startswith("Ranker") and report["base"].startswith("v1")


def test_late_labels_lower_coverage_and_only_labelled_pairs_count(store, tmp_path):
    rng = np.random.default_rng(4)
    requests = _requests(rng, 1000)
    requests["label"] = requests["label"].astype("Int64")
    requests.loc[800:, "label"] = pd.NA
    frame = pd.concat([_scored(requests.fillna({"label": 0}), "v1", rng, 0.3),
                       _scored(requests.fillna({"label": 0}), "v2", rng, 0.2)])
    frame["label"] = pd.concat([requests["label"], requests["label"]]).to_numpy()
    log = _load(store, tmp_path, frame)
    report = compare_report(Scope(store, log.dataset, log.roles), "v1", "v2", ReportSettings(slices=SliceSettings(max_level=1)))
    assert report["coverage"]["base"] == pytest.approx(0.8)
    f = report["flips"]
    assert f["negative"] + f["positive"] + f["both_right"] + f["both_wrong"] == 800


def test_identical_candidate_reports_no_regression(store, tmp_path):
    rng = np.random.default_rng(5)
    base = _scored(_requests(rng, 3000), "v1", rng, 0.3)
    frame = pd.concat([base, base.assign(version="v2")])
    log = _load(store, tmp_path, frame)
    report = compare_report(Scope(store, log.dataset, log.roles), "v1", "v2", ReportSettings(slices=SliceSettings(max_level=2)))
    assert report["paired"]
    assert report["regressed_slices"] == []
    assert report["flips"]["negative"] == report["flips"]["positive"] == 0
    assert report["overall"][0]["diff"] == 0
    assert not is_regression(report, 0.0)
    json.dumps(report, allow_nan=False)


# --- the demo log -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_files):
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    manifest = json.loads(demo_files.manifest.read_text())
    old, new = (v["version"] for v in manifest["versions"])
    yield store, loaded, manifest, old, new
    store.close()


def _pandas_pairs(demo_files, old, new):
    log = pd.read_parquet(demo_files.log, columns=["request_id", "model_version", "prediction", "is_fraud",
                                                   "device_type"])
    base = log[log.model_version == old]
    cand = log[log.model_version == new]
    pairs = cand.merge(base, on="request_id", suffixes=("_c", "_b"))
    return pairs[pairs.is_fraud_c.notna()]


def test_flip_counts_equal_pandas(demo, demo_files):
    store, loaded, _, old, new = demo
    pairing = pair_versions(Scope(store, loaded.dataset, loaded.roles), old, new)
    table = flips(Scope(store, loaded.dataset, loaded.roles), pairing)
    pairs = _pandas_pairs(demo_files, old, new)
    base_ok = pairs.prediction_b == pairs.is_fraud_c
    cand_ok = pairs.prediction_c == pairs.is_fraud_c
    assert table.negative == int((base_ok & ~cand_ok).sum())
    assert table.positive == int((~base_ok & cand_ok).sum())
    assert table.both_right == int((base_ok & cand_ok).sum())
    assert table.both_wrong == int((~base_ok & ~cand_ok).sum())
    for direction, counted in (("negative", table.negative), ("positive", table.positive)):
        where = slice_sql(Flip(old, new, direction), loaded.dataset, loaded.roles)
        rows = store.scalar(Sql(f'SELECT COUNT(*) FROM "{loaded.dataset.view}" WHERE {where.text}', where.params))
        assert rows == counted  # the slice language's flip leaf selects the rows compare counts


def test_export_writes_the_negative_flips(demo, tmp_path):
    store, loaded, _, old, new = demo
    pairing = pair_versions(Scope(store, loaded.dataset, loaded.roles), old, new)
    table = flips(Scope(store, loaded.dataset, loaded.roles), pairing)
    path = tmp_path / "negative.parquet"
    written = export_flips(Scope(store, loaded.dataset, loaded.roles), pairing, path, format="parquet")
    exported = pd.read_parquet(path)
    assert written == len(exported) == table.negative
    assert (exported.base_prediction == exported.is_fraud).all()
    assert (exported.candidate_prediction != exported.is_fraud).all()


def test_incident_d_is_the_top_regressed_slice_and_the_summary_says_so(demo, demo_files):
    store, loaded, manifest, old, new = demo
    incident = next(i for i in manifest["incidents"] if i["id"] == "d")
    assert incident["versions"] == [new]
    report = compare_report(Scope(store, loaded.dataset, loaded.roles), old, new)
    top = report["regressed_slices"][0]
    column, value = incident["columns"][0], incident["predicate"].split("=")[1].strip().strip("'")
    assert f"{column} = '{value}'" in top["predicate"]
    assert top["p_adjusted"] < 0.05 and top["diff"] < 0
    assert report["overall"][0]["diff"] > 0
    assert "better overall" in report["summary"] and f"{column} = '{value}'" in report["summary"]
    assert is_regression(report, 0.0)
    assert not is_regression(report, 0.5)


# --- slices tested together, discovery on a share of the pairs -----------------------------------


def _segment_regression(rng, n):
    """v2 is better than v1 except on segment 'c', where it is much noisier."""
    requests = _requests(rng, n)
    cand = _scored(requests, "v2", rng, 0.15)
    noisy = _scored(requests, "v2", rng, 0.7)
    in_c = (requests["segment"] == "c").to_numpy()
    cand.loc[in_c, ["score", "pred"]] = noisy.loc[in_c, ["score", "pred"]]
    return pd.concat([_scored(requests, "v1", rng, 0.3), cand])


@pytest.mark.parametrize("layout", ["paired", "unpaired"])
def test_slices_tested_in_one_pass_equal_one_test_per_slice(store, tmp_path, layout):
    from analysis.compare.comparison import accuracy_test, compared_rows, side_rows
    from analysis.compare.regressed_slices import regressed_slices
    from analysis.slices import Compare, Slice

    frame = _segment_regression(np.random.default_rng(8), 2000)
    if layout == "unpaired":
        frame = frame.assign(id=[f"{v}-{i}" for v, i in zip(frame["version"], frame["id"])])
    log = _load(store, tmp_path, frame)
    saved = [Slice(Compare("segment", "=", s)) for s in "abc"] + [Slice(Compare("x", ">", 0.5))]
    found = regressed_slices(Scope(store, log.dataset, log.roles), "v1", "v2",
                             SliceSettings(saved=saved, discover=False))
    pairing = pair_versions(Scope(store, log.dataset, log.roles), "v1", "v2")
    assert pairing.paired == (layout == "paired") and found and found[0].predicate_text == "segment = 'c'"
    for s in found:
        condition = to_sql(s.predicate)
        if pairing.paired:
            b, c = compared_rows(Scope(store, log.dataset, log.roles, condition), pairing, ["segment", "x"])
            alone = accuracy_test(store, True, b, c)
        else:
            alone = accuracy_test(store, False, side_rows(log.dataset, log.roles, pairing.base, "b", condition),
                                  side_rows(log.dataset, log.roles, pairing.candidate, "c", condition))
        assert (s.base, s.candidate, s.diff, s.ci_low, s.ci_high, s.p_value) == pytest.approx(
            (alone.base, alone.candidate, alone.diff, alone.ci_low, alone.ci_high, alone.p_value))
        in_slice = frame[frame.eval(s.predicate_text.replace("'", '"').replace(" = ", " == "))]
        expected_rows = len(in_slice) // 2 if pairing.paired else len(in_slice)
        assert s.rows == expected_rows


def test_discovery_on_a_share_of_the_pairs_still_finds_the_regression_and_tests_all_pairs(
        store, tmp_path, monkeypatch):
    import analysis.compare.regressed_slices as compare_slices

    frame = _segment_regression(np.random.default_rng(9), 4000)
    log = _load(store, tmp_path, frame)
    monkeypatch.setattr(compare_slices, "DISCOVERY_PAIRS", 1500)
    report = compare_report(Scope(store, log.dataset, log.roles), "v1", "v2", ReportSettings(slices=SliceSettings(max_level=2)))
    top = report["regressed_slices"][0]
    assert top["predicate"] == "segment = 'c'" and top["source"] == "discovered"
    assert top["rows"] == int((frame["segment"] == "c").sum()) // 2


def test_cli_compares_one_version_before_and_after_an_incident(demo_files, capsys):
    """The swap incident (b) hurts the logistic version: its accuracy after the swap began is
    lower than before, measured unpaired on the two windows' rows, equal to pandas."""
    from app.cli import main

    manifest = json.loads(demo_files.manifest.read_text())
    swap = next(i for i in manifest["incidents"] if i["id"] == "b")
    old = manifest["versions"][0]["version"]
    start, end = swap["window"]
    assert main(["compare", str(demo_files.log), "--base", old, "--candidate", old, "--base-window",
                 f"2026-10-01..{start}", "--candidate-window", f"{start}..{end}", "--max-level", "1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    log = pd.read_parquet(demo_files.log, columns=["timestamp", "model_version", "prediction", "is_fraud"])
    mine = log[(log.model_version == old) & log.is_fraud.notna()]
    before = mine[(mine.timestamp >= "2026-10-01") & (mine.timestamp < start)]
    after = mine[(mine.timestamp >= start) & (mine.timestamp < end)]
    accuracy = next(m for m in report["overall"] if m["metric"] == "accuracy")
    assert report["paired"] is False and report["flips"] is None
    assert report["base"] == f"{old} (base window)" and report["candidate"] == f"{old} (candidate window)"
    assert accuracy["base"] == pytest.approx((before.prediction == before.is_fraud).mean())
    assert accuracy["candidate"] == pytest.approx((after.prediction == after.is_fraud).mean())
    assert accuracy["diff"] < 0 and accuracy["ci"][1] < 0


def test_cli_window_without_a_time_column_is_a_clear_error(tmp_path, capsys):
    from app.cli import main

    path = tmp_path / "log.parquet"
    pd.DataFrame({"version": ["a", "b"] * 10, "label": [0, 1] * 10, "pred": [0, 1] * 10}).to_parquet(path)
    assert main(["compare", str(path), "--base", "a", "--candidate", "a", "--base-window",
                 "2026-01-01..2026-01-02"]) == 2
    assert "timestamp" in capsys.readouterr().err


def test_a_csv_export_neutralises_formula_cells(store, tmp_path):
    """A log value (or column name) a spreadsheet would run is written with an apostrophe."""
    import csv

    from analysis.data.open_log import load_log
    from analysis.data.roles import RoleMap

    n = 40
    frame = pd.DataFrame({"request_id": [f"r{i % 20}" for i in range(n)],
                          "model_version": ["a"] * 20 + ["b"] * 20,
                          "y": [i % 2 for i in range(20)] * 2,
                          "prediction": [i % 2 for i in range(20)] + [1 - i % 2 for i in range(20)],
                          "=note": ["=cmd|' /C calc'!A0", "@HYPERLINK(\"x\")", "-1.5", "ok"] * 10,
                          "delta": [-1.5] * n})
    log = tmp_path / "log.csv"
    frame.to_csv(log, index=False)
    loaded = load_log(store, [str(log)], roles=RoleMap(id="request_id", model_version="model_version", label="y",
                                                       prediction="prediction"), check=False)
    pairing = pair_versions(Scope(store, loaded.dataset, loaded.roles), "a", "b")
    path = tmp_path / "flips.csv"
    assert export_flips(Scope(store, loaded.dataset, loaded.roles), pairing, path) == 20
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert "'=note" in rows[0]
    assert {r["'=note"] for r in rows} == {"'=cmd|' /C calc'!A0", "'@HYPERLINK(\"x\")", "-1.5", "ok"}
    assert {r["delta"] for r in rows} == {"-1.5"}
def test_verdict_comes_first_and_agrees_with_the_whole_report(store, tmp_path):
    from analysis.compare.report import run_comparison

    frame = _segment_regression(np.random.default_rng(12), 3000)
    log = _load(store, tmp_path, frame)
    verdicts = []
    result = run_comparison(Scope(store, log.dataset, log.roles), "v1", "v2",
                            ReportSettings(slices=SliceSettings(max_level=2)), partial=verdicts.append)
    (verdict,) = verdicts
    first, whole = verdict.report, result.report
    assert not first["complete"] and whole["complete"]
    assert first["regressed_slices"] == [] and whole["regressed_slices"]
    assert first["summary"].endswith("testing the slices…")
    assert [m["metric"] for m in whole["overall"]] == [
        "accuracy", "error_rate", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"]
    assert [m["metric"] for m in first["overall"]] == [m for m in (m["metric"] for m in whole["overall"]) if m != "roc_auc"]
    assert first["overall"] == [m for m in whole["overall"] if m["metric"] != "roc_auc"]
    assert first["flips"] == whole["flips"] and first["pairing"] == whole["pairing"]
    pairs = frame.pivot(index="id", columns="version", values="pred").join(frame.groupby("id")["label"].first())
    wrong = pairs[["v1", "v2"]].ne(pairs["label"], axis=0)
    assert first["flips"]["negative"] == int((~wrong["v1"] & wrong["v2"]).sum())


def test_verdict_keeps_auc_when_auc_is_the_metric_judged(store, tmp_path):
    from analysis.compare.report import run_comparison

    frame = _segment_regression(np.random.default_rng(13), 2000)
    log = _load(store, tmp_path, frame)
    verdicts = []
    run_comparison(Scope(store, log.dataset, log.roles), "v1", "v2",
                   ReportSettings(metric="roc_auc", slices=SliceSettings(max_level=1)), partial=verdicts.append)
    assert verdicts[0].report["overall"][0]["metric"] == "roc_auc"


def test_one_pass_pairing_equals_the_exact_pairing_on_shadow_traffic(store, tmp_path):
    """``pair_and_sum`` reads the pairing and the verdict's sums from one join: the same
    Pairing as ``pair_versions`` and the same sums as the pairs' own aggregate, flips as pandas
    counts them and McNemar's p as scipy's exact binomial test."""
    from scipy.stats import binomtest

    from analysis.compare.comparison import compared_rows, pair_and_sum, paired_sums
    from analysis.compare.flips import flip_kind_sql, flips_of

    rng = np.random.default_rng(21)
    requests = _requests(rng, 3000).astype({"label": float})
    requests.loc[rng.random(3000) < 0.15, "label"] = np.nan
    frame = pd.concat([_scored(requests, "v1", rng, 0.3), _scored(requests, "v2", rng, 0.25)]).sample(
        frac=1.0, random_state=3)
    log = _load(store, tmp_path, frame)
    scope = Scope(store, log.dataset, log.roles)
    kind = flip_kind_sql(log.roles)
    pairing, sums = pair_and_sum(scope, "v1", "v2", kind)
    exact = pair_versions(scope, "v1", "v2")
    assert pairing == exact and pairing.pairs == 3000 and pairing.labelled_pairs == int(requests.label.notna().sum())
    rows, _ = compared_rows(scope, exact)
    two_pass = paired_sums(store, rows, kind)
    assert (sums.correct, sums.classes, sums.calibration, sums.flips) == (
        two_pass.correct, two_pass.classes, two_pass.calibration, two_pass.flips)
    assert sums.losses == pytest.approx(two_pass.losses, rel=1e-9)
    wide = frame.pivot(index="id", columns="version", values="pred").join(requests.set_index("id")["label"]).dropna()
    negative = int(((wide.v1 == wide.label) & (wide.v2 != wide.label)).sum())
    positive = int(((wide.v1 != wide.label) & (wide.v2 == wide.label)).sum())
    table = flips_of(sums)
    assert (table.negative, table.positive) == (negative, positive)
    assert table.mcnemar_p == pytest.approx(binomtest(negative, negative + positive, 0.5).pvalue, rel=1e-9)


@pytest.mark.parametrize("layout", ["canary", "repeated_id", "every_id_twice", "ab_split"])
def test_one_pass_pairing_gives_way_when_rows_do_not_pair_one_to_one(store, tmp_path, layout):
    """Rows without a partner or ids scored twice leave the pairing to ``pair_versions``:
    a join alone cannot tell a repeated id from two requests."""
    from analysis.compare.comparison import pair_and_sum

    rng = np.random.default_rng(22)
    requests = _requests(rng, 1000)
    base, cand = _scored(requests, "v1", rng, 0.3), _scored(requests, "v2", rng, 0.25)
    frames = {
        "canary": [base, cand, _scored(_requests(rng, 1100).iloc[1000:], "v2", rng, 0.25)],
        "repeated_id": [base, cand, cand.iloc[:1]],
        "every_id_twice": [base, cand, base, cand],
        "ab_split": [base.iloc[:500], cand.iloc[500:]],
    }[layout]
    log = _load(store, tmp_path, pd.concat(frames))
    assert pair_and_sum(Scope(store, log.dataset, log.roles), "v1", "v2") is None


@pytest.mark.parametrize("threshold", [None, 0.4])
def test_paired_sums_from_cells_equal_the_sums_over_every_pair(store, tmp_path, threshold):
    """``paired_sums`` of the paired join groups it by the sides' discrete outcomes first and
    computes the pair's keys on those cells: the same cells, flips and sums as keyed on every
    pair, and the log-loss sums and calibration counts as pandas and scikit-learn compute them,
    with missing labels, scores (missing, NaN, above 1) and predictions on either side."""
    from dataclasses import replace

    from sklearn.metrics import log_loss

    from analysis.compare.comparison import at_threshold, compared_rows, paired_sums
    from analysis.compare.flips import flip_kind_sql

    rng = np.random.default_rng(23)
    requests = _requests(rng, 3000).astype({"label": float})
    requests.loc[rng.random(3000) < 0.15, "label"] = np.nan
    sides = [_scored(requests, "v1", rng, 0.3), _scored(requests, "v2", rng, 0.25)]
    for side in sides:
        side["pred"] = side["pred"].astype(float)
        side.loc[rng.random(3000) < 0.05, "score"] = np.nan
        side.loc[rng.random(3000) < 0.02, "score"] = 1.5
        side.loc[rng.random(3000) < 0.05, "pred"] = np.nan
    log = _load(store, tmp_path, pd.concat(sides).sample(frac=1.0, random_state=5))
    roles = at_threshold(log.roles, threshold)
    scope = Scope(store, log.dataset, roles)
    pairing = pair_versions(scope, "v1", "v2")
    rows, _ = compared_rows(scope, pairing)
    assert rows.join is not None
    kind = flip_kind_sql(roles)
    cells, every_pair = paired_sums(store, rows, kind), paired_sums(store, replace(rows, join=None), kind)
    assert (cells.correct, cells.classes, cells.flips) == (every_pair.correct, every_pair.classes, every_pair.flips)
    assert [cell[:5] for cell in cells.calibration] == [cell[:5] for cell in every_pair.calibration]
    assert np.array([cell[5:] for cell in cells.calibration]) == pytest.approx(
        np.array([cell[5:] for cell in every_pair.calibration]), rel=1e-12)
    assert cells.losses == pytest.approx(every_pair.losses, rel=1e-12)
    assert sum(cells.flips.values()) > 2000 and cells.calibration

    b, c = (side.set_index("id") for side in sides)
    valid = b.score.between(0, 1) & c.score.between(0, 1) & requests.set_index("id").label.notna()
    y = requests.set_index("id").label[valid]
    losses = [log_loss(y, p[valid], labels=[0, 1], normalize=False) for p in (b.score, c.score)]
    assert cells.losses["pairs"] == int(valid.sum())
    assert (cells.losses["loss_b"], cells.losses["loss_c"]) == pytest.approx(losses, rel=1e-9)
    both_scored = b.score.between(0, 1) & c.score.between(0, 1) & requests.set_index("id").label.notna()
    assert sum(cell[4] for cell in cells.calibration) == int(both_scored.sum())
    bins = pd.DataFrame({"bb": np.minimum(np.floor(b.score[valid] * 10), 9), "y": y,
                         "cb": np.minimum(np.floor(c.score[valid] * 10), 9)}).astype(int)
    expected = sorted((bb, hit, cb, hit, n) for (bb, hit, cb), n in bins.groupby(["bb", "y", "cb"]).size().items())
    assert [cell[:5] for cell in cells.calibration] == expected


def test_discovery_share_is_drawn_from_evenly_spread_runs_of_candidate_rows(store, tmp_path, monkeypatch):
    """Beyond DISCOVERY_PAIRS, the searched pairs are SAMPLE_RUNS runs of consecutive candidate
    row ids spread from the first candidate row to the last (so the log's reader can skip the
    row groups between them), and the share handed to discovery is the share drawn."""
    import analysis.compare.regressed_slices as compare_slices
    from analysis.compare.comparison import compared_rows, stored_pairs

    frame = _segment_regression(np.random.default_rng(3), 4000)  # v1 rows 0..3999, v2 rows 4000..7999
    log = _load(store, tmp_path, frame)
    scope = Scope(store, log.dataset, log.roles)
    monkeypatch.setattr(compare_slices, "DISCOVERY_PAIRS", 1000)
    pairing = pair_versions(scope, "v1", "v2")
    with stored_pairs(scope, pairing, *compared_rows(scope, pairing)) as (_, (rows, _)):
        with compare_slices._searched_pairs(store, log.dataset, log.roles, pairing, rows,
                                            compare_slices.NEVER_CANCELLED) as (share, searched):
            ids = np.sort(store.numpy(f'SELECT "_sleuth_row" AS r FROM "{searched}"')["r"])
    runs = 1 + int((np.diff(ids) > 1).sum())
    assert runs == compare_slices.SAMPLE_RUNS
    assert ids[0] == 4000 and ids[-1] >= 4000 + 4000 * (compare_slices.SAMPLE_RUNS - 1) // compare_slices.SAMPLE_RUNS
    assert 1000 <= len(ids) <= 1000 + compare_slices.SAMPLE_RUNS
    assert share == len(ids) / pairing.pairs


@pytest.mark.parametrize("swapped, key, tried", [
    (None, "hash({})", ("position",)), (2500, "hash({})", ("position", "hash")), (0, "hash({})", ("hash",)),
    (0, "hash({}) % 7", ("hash", "text"))])
def test_pair_table_of_one_to_one_pairs_holds_exactly_the_pairs(store, tmp_path, monkeypatch, swapped, key, tried):
    """One-to-one pairs are stored by position when both versions' rows come in the same
    request order; two base rows swapped past the first LINED_UP_ROWS (2500) are caught by the
    row count and the pairs joined on a hash of the id instead, two swapped among them (0) skip
    the positional pass; a key shared by several ids (``% 7``: thousands of collisions) is
    caught by the row count too and the pairs joined on the id's text. Whichever join is kept,
    the table holds each request once, with its own rows' predictions, as pandas pairs them."""
    import analysis.compare.comparison as comparison

    frame = _segment_regression(np.random.default_rng(5), 3000)  # v1's rows first, then v2's, same id order
    if swapped is not None:
        order = list(range(len(frame)))
        order[swapped], order[swapped + 1] = swapped + 1, swapped
        frame = frame.iloc[order]
    log = _load(store, tmp_path, frame)
    scope = Scope(store, log.dataset, log.roles)
    pairing = pair_versions(scope, "v1", "v2")
    monkeypatch.setattr(comparison, "HASHED_KEY", key)
    joins, joined = [], comparison._pair_join

    def recorded(*args, by="text", **kwargs):
        joins.append(by)
        return joined(*args, by=by, **kwargs)

    monkeypatch.setattr(comparison, "_pair_join", recorded)
    with comparison.paired_view(scope, pairing) as view:
        stored = store.df(f'SELECT "_sleuth_row" AS r, _sleuth_b_pred AS pb, _sleuth_c_pred AS pc FROM "{view}" ORDER BY r')
    assert tuple(joins) == tried
    frame = frame.reset_index(drop=True)
    expected = frame[frame.version == "v2"].reset_index().merge(frame[frame.version == "v1"], on="id",
                                                               suffixes=("_c", "_b")).sort_values("index")
    assert comparison._one_to_one(pairing)
    assert stored["r"].tolist() == expected["index"].tolist()
    assert stored["pb"].tolist() == expected["pred_b"].tolist() and stored["pc"].tolist() == expected["pred_c"].tolist()


def test_pairs_lined_up_with_the_log_by_position_are_the_row_id_joins_rows(store, tmp_path):
    """Every candidate row paired: the stored pairs in row order read the log's columns by
    position, the same rows as the row-id join; a pair table missing a row is refused (the
    row-id join is kept), never lined up one row off."""
    from analysis.compare.comparison import (
        aligned_rows_with_log, paired_rows_with_log, paired_view,
    )

    frame = _segment_regression(np.random.default_rng(11), 2000)
    log = _load(store, tmp_path, frame)
    scope = Scope(store, log.dataset, log.roles)
    pairing = pair_versions(scope, "v1", "v2")
    candidate = pairing.candidate.condition(log.roles)
    columns = '"_sleuth_row", _sleuth_b_ok, _sleuth_c_ok, "segment", "x", "ts"'
    with paired_view(scope, pairing, ordered=True) as view:
        aligned = aligned_rows_with_log(store, view, log.dataset, candidate)
        joined = paired_rows_with_log(view, log.dataset)
        by_position, by_join = (store.df(Sql(f"SELECT {columns} FROM ({rows.sql.text}) ORDER BY 1", rows.sql.params))
                                for rows in (aligned, joined))
        store.execute(f'DELETE FROM "{view}" WHERE "_sleuth_row" = (SELECT min("_sleuth_row") + 7 FROM "{view}")')
        assert aligned_rows_with_log(store, view, log.dataset, candidate) is None
    pd.testing.assert_frame_equal(by_position, by_join)
    assert len(by_position) == 2000 and by_position["segment"].tolist() == frame["segment"].iloc[2000:].tolist()
