"""Triage: symptoms become few localised, grouped, ranked findings; decisions; CBPE.

Hand-made symptom lists run against a small synthetic log whose model really breaks in one
region for six hours (scores fall, errors rise), so the measured effects are real effects.
End-to-end tests on the demo run once the input checks module exists.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis.triage.check_report import CheckRun, check_report, fails, report_text
from analysis.triage.decisions import Decision, apply_decisions, history
from analysis.metrics.estimated_performance import estimated_accuracy
from analysis.data.open_log import load_log
from analysis.query import Sql, ident
from analysis.scope import Scope
from analysis.slices import Range, to_sql
from analysis.store import Store
from analysis.triage.symptoms import Symptom
from analysis.triage.ranking import triage

START = dt.datetime(2026, 10, 1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
BREAK_FIRST, BREAK_HOURS = 100, 6
EU = (("region", "EU"),)


def synthetic_log(path) -> None:
    """Ten days, 200 rows an hour in two regions; EU's scores collapse for six hours."""
    rng = np.random.default_rng(0)
    hours = np.repeat(np.arange(240), 200)
    n = len(hours)
    region = np.where(rng.random(n) < 0.4, "EU", "US")
    label = (rng.random(n) < 0.3).astype(int)
    score = np.clip(np.where(label == 1, 0.8, 0.2) + rng.normal(0, 0.15, n), 0, 1)
    broken = (region == "EU") & (hours >= BREAK_FIRST) & (hours < BREAK_FIRST + BREAK_HOURS)
    score = np.where(broken, rng.uniform(0, 0.1, n), score)
    pd.DataFrame({
        "request_id": np.arange(n).astype(str),
        "timestamp": START + pd.to_timedelta(hours, unit="h") + pd.to_timedelta(rng.integers(0, 3600, n), unit="s"),
        "region": region,
        "merchant_risk": np.where(broken, np.nan, rng.random(n)),
        "avg_amount": rng.random(n),
        "score": score,
        "prediction": (score >= 0.5).astype(int),
        "label": label,
    }).to_parquet(path)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("triage") / "log.parquet"
    synthetic_log(path)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)])
    yield store, loaded.dataset, loaded.roles
    store.close()


def hourly(kind, columns, first, count, effect, rows, group=(), reference=0.0, observed=1.0):
    return [
        Symptom(kind, columns, rows, effect, reference, observed,
                START + (first + i) * HOUR, START + (first + i + 1) * HOUR, group)
        for i in range(count)
    ]


def null_burst_symptoms():
    """What the checks would report for the EU break: nulls (in EU and, diluted, in all rows),
    the score shift and the positive-rate drop in EU."""
    return (
        hourly("null_rate", ("merchant_risk",), BREAK_FIRST, BREAK_HOURS, 0.95, 80, EU, 0.0, 1.0)
        + hourly("null_rate", ("merchant_risk",), BREAK_FIRST, BREAK_HOURS, 0.35, 200, (), 0.0, 0.4)
        + hourly("score_shift", ("score",), BREAK_FIRST, BREAK_HOURS, 0.8, 80, EU, 0.35, 0.05)
        + hourly("positive_rate", ("prediction",), BREAK_FIRST, BREAK_HOURS, 0.6, 80, EU, 0.3, 0.0)
    )


def drift_symptoms():
    """A slow change of everyone's ``avg_amount``: the check fires more each day from day 3."""
    return [
        Symptom("distribution", ("avg_amount",), 4800, 0.03 * d, 0.5, 0.5 + 0.01 * d,
                START + d * DAY, START + (d + 1) * DAY)
        for d in range(3, 10)
    ]


def test_one_root_cause_becomes_one_localised_finding(log):
    store, dataset, roles = log
    findings = triage(Scope(store, dataset, roles), null_burst_symptoms())
    assert len(findings) == 1
    finding = findings[0]
    assert finding.kind == "null_burst" and finding.columns == ("merchant_risk",)
    assert finding.window == (START + BREAK_FIRST * HOUR, START + (BREAK_FIRST + BREAK_HOURS) * HOUR)
    assert finding.slice_text == "region = 'EU'"
    assert {s.kind for s in finding.symptoms} == {"null_rate", "score_shift", "positive_rate"}
    assert len(finding.symptoms) == 4 * BREAK_HOURS
    rows = dataset_rows(store, dataset, finding)
    assert finding.rows == len(rows) and (rows["region"] == "EU").all()
    assert finding.evidence["score_inside"] == pytest.approx(rows["score"].mean())
    assert finding.evidence["error_inside"] == pytest.approx((rows["prediction"] != rows["label"]).mean())
    assert finding.evidence["error_inside"] > finding.evidence["error_before"] + 0.2
    assert finding.severity == "alert"
    assert "region = 'EU'" in finding.sentence and "100%" in finding.sentence


def dataset_rows(store, dataset, finding) -> pd.DataFrame:
    """The log's rows inside the finding's slice, read with pandas from the view."""
    frame = store.df(f"SELECT * FROM {ident(dataset.view)}")
    end = finding.window[1]
    mask = (frame["region"] == "EU") & (frame["timestamp"] >= finding.window[0]) & (frame["timestamp"] < end)
    return frame[mask]


def test_a_sudden_break_in_one_group_outranks_slow_drift_of_everyone(log):
    store, dataset, roles = log
    findings = triage(Scope(store, dataset, roles), drift_symptoms() + null_burst_symptoms())
    assert [f.kind for f in findings] == ["null_burst", "drift"]
    drift = findings[1]
    assert drift.group == () and drift.slice_text is None
    assert drift.evidence["shape"] == "trend"
    assert drift.rows > 10 * findings[0].rows
    assert findings[0].score > drift.score


def test_small_drift_is_never_an_alert(log):
    store, dataset, roles = log
    findings = triage(Scope(store, dataset, roles), drift_symptoms())
    assert len(findings) == 1 and findings[0].severity in ("info", "warning")


def test_the_report_is_json_with_every_documented_field(log):
    store, dataset, roles = log
    findings = triage(Scope(store, dataset, roles), drift_symptoms() + null_burst_symptoms())
    document = json.loads(json.dumps(check_report(Scope(store, dataset, roles), findings, "first day")))
    assert document["reference"] == "first day"
    top = document["findings"][0]
    assert {"kind", "columns", "window", "slice", "rows", "severity", "score", "effect", "evidence"} <= set(top)
    assert top["window"] == ["2026-10-05T04:00:00", "2026-10-05T10:00:00"]
    assert top["slice"] == "region = 'EU'" and top["columns"] == ["merchant_risk"]
    assert fails(findings, "alert") and fails(findings, "warning")
    text = report_text(CheckRun(dataset, roles, "first day", tuple(findings)))
    assert text.index("null_burst") < text.index("drift") and "[ALERT]" in text


def test_a_dismissed_finding_does_not_alert_again(log):
    store, dataset, roles = log
    first = triage(Scope(store, dataset, roles), null_burst_symptoms())[0]
    decided = dt.datetime(2026, 10, 6)
    decisions = [Decision(first.key, "dismissed", "known outage", decided_at=decided)]
    decisions = [Decision.from_dict(json.loads(json.dumps(d.to_dict()))) for d in decisions]
    again = apply_decisions(triage(Scope(store, dataset, roles), null_burst_symptoms()), decisions)
    assert again[0].severity == "info" and again[0].decision == "dismissed"
    assert not fails(again, "warning")
    assert history(decisions, first.key).dismissed == 1


def test_a_snooze_silences_only_until_it_ends(log):
    store, dataset, roles = log
    finding = triage(Scope(store, dataset, roles), null_burst_symptoms())[0]
    snooze = Decision(finding.key, "snoozed", until=dt.datetime(2026, 11, 1), decided_at=dt.datetime(2026, 10, 6))
    assert apply_decisions([finding], [snooze], now=dt.datetime(2026, 10, 20))[0].severity == "info"
    assert apply_decisions([finding], [snooze], now=dt.datetime(2026, 11, 2))[0].severity == "alert"
    confirmed = Decision(finding.key, "confirmed", decided_at=dt.datetime(2026, 10, 7))
    kept = apply_decisions([finding], [snooze, confirmed], now=dt.datetime(2026, 10, 20))[0]
    assert kept.severity == "alert" and kept.decision == "confirmed"
    assert (history([snooze, confirmed], finding.key).snoozed, history([snooze, confirmed], finding.key).confirmed) == (1, 1)


def test_estimated_accuracy_is_the_mean_expected_correctness_of_the_scores(log):
    store, dataset, roles = log
    frame = store.df(f"SELECT score FROM {ident(dataset.view)}")
    expected = np.where(frame["score"] >= 0.5, frame["score"], 1 - frame["score"]).mean()
    estimate = estimated_accuracy(Scope(store, dataset, roles))
    assert estimate["estimated_accuracy"].iloc[0] == pytest.approx(expected)
    assert estimate["rows"].iloc[0] == len(frame)


def test_estimated_accuracy_is_close_to_the_realised_one_on_the_demo(demo_files):
    """Before the injected incidents the demo's models are calibrated, so the estimate from
    scores alone lands within a point of the accuracy the labels give."""
    store = Store(memory_limit="1GB")
    try:
        loaded = load_log(store, [str(demo_files.log)], check=False)
        before_incidents = to_sql(Range("timestamp", None, dt.datetime(2026, 10, 12)))
        estimate = estimated_accuracy(Scope(store, loaded.dataset, loaded.roles, before_incidents))
        realised = store.df(Sql(
            f"SELECT CAST(model_version AS VARCHAR) AS version, AVG((prediction = is_fraud)::DOUBLE) AS accuracy "
            f"FROM {ident(loaded.dataset.view)} WHERE {before_incidents.text} AND is_fraud IS NOT NULL GROUP BY 1",
            before_incidents.params,
        ))
    finally:
        store.close()
    both = estimate.merge(realised, on="version")
    assert len(both) == 2
    assert np.abs(both["estimated_accuracy"] - both["accuracy"]).max() < 0.01


# --- end to end on the demo: the session's check of it (``demo_check``, tests/conftest.py) ---


def _overlaps(window, manifest_window) -> bool:
    start, end = (dt.datetime.fromisoformat(t) for t in manifest_window)
    return window[0] <= end and start < window[1]


def test_the_demo_incidents_are_the_top_findings_and_drift_ranks_below(demo_check, demo_files):
    incidents = {i["id"]: i for i in json.loads(demo_files.manifest.read_text())["incidents"]}
    top = demo_check.findings[:2]
    by_kind = {f.kind: f for f in top}
    assert set(by_kind) == {"null_burst", "swap"}
    assert by_kind["null_burst"].columns == ("merchant_risk",)
    assert by_kind["null_burst"].slice_text == "region = 'EU-West'"
    assert _overlaps(by_kind["null_burst"].window, incidents["a"]["window"])
    start, end = by_kind["null_burst"].window  # narrowed to the hours, not the checks' whole day
    planted = [dt.datetime.fromisoformat(t) for t in incidents["a"]["window"]]
    assert planted[0] - dt.timedelta(hours=1) <= start <= planted[0]
    assert planted[1] <= end <= planted[1] + dt.timedelta(hours=1)
    assert set(by_kind["swap"].columns) == set(incidents["b"]["columns"])
    assert by_kind["swap"].slice_text == "client = 'stark-pay'"
    assert _overlaps(by_kind["swap"].window, incidents["b"]["window"])
    drift = [i for i, f in enumerate(demo_check.findings) if f.kind == "drift" and "avg_amount_30d" in f.columns]
    assert drift and drift[0] >= 2 and demo_check.findings[drift[0]].severity != "alert"


def test_before_after_histograms_match_pandas_on_the_finding_rows(log):
    from dataclasses import replace

    from analysis.triage.before_after import finding_histograms

    store, dataset, roles = log
    finding = triage(Scope(store, dataset, roles), null_burst_symptoms())[0]
    frame = store.df(f"SELECT * FROM {ident(dataset.view)}")
    eu = frame[frame.region == "EU"]
    before, inside = eu[eu.timestamp < finding.window[0]], dataset_rows(store, dataset, finding)
    found = finding_histograms(Scope(store, dataset, roles), finding)
    (risk,) = found.columns
    assert found.baseline == "before" and (risk.baseline_rows, risk.finding_rows) == (len(before), len(inside))
    assert risk.finding_missing == 1.0 and not risk.finding.any()
    counts = np.histogram(np.clip(before.merchant_risk, risk.edges[0], risk.edges[-1]), bins=risk.edges)[0]
    assert np.allclose(risk.baseline, counts / counts.sum())

    everyone = replace(finding, columns=("region",), group=())
    (region,) = finding_histograms(Scope(store, dataset, roles), everyone).columns
    start, end = finding.window
    shares = frame[(frame.timestamp >= start) & (frame.timestamp < end)].region.value_counts(normalize=True)
    assert dict(zip(region.categories, region.finding)) == pytest.approx(shares.to_dict())


def test_localising_on_a_shadow_log_gives_the_window_and_group_of_the_log_scored_once(store, tmp_path, monkeypatch):
    """Each request counts once when a finding is narrowed: the planted zero fill's leads,
    localised on the same log with every request logged by two versions, get the window,
    the group and the numbers they got on the log scored once."""
    from analysis.triage import ranking
    from analysis.triage.check_report import run_check
    from tests.analysis.triage.test_far_beyond import loaded, shadow_of
    from tests.analysis.triage.test_sparse_logs import zero_fill_case

    log, truth = zero_fill_case()
    path = tmp_path / "once.parquet"
    log.to_parquet(path)
    localised = []
    original = ranking.localise

    def recording(scope, lead, profile=None, cancel=None, first_rows=None):
        result = original(scope, lead, profile, first_rows=first_rows)
        localised.append((lead, profile, result))
        return result

    monkeypatch.setattr(ranking, "localise", recording)
    top = run_check(store, [str(path)]).findings[0]
    assert set(top.columns) == truth.columns and top.group == truth.group
    twice = loaded(store, tmp_path, shadow_of(log), "twice")
    assert twice.roles.model_version is not None
    scanned = [(lead, profile, result) for lead, profile, result in localised if result[1]["since_when"] == "scan"]
    assert scanned  # the zero fill's lead was narrowed by the scan, over one row per request
    for lead, profile, result in localised:
        assert original(Scope(store, twice.dataset, twice.roles), lead, profile) == result
