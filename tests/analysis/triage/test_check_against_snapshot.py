"""``sleuth check`` against a training snapshot: the log's own columns (id, version, prediction,
score) are not schema changes, the label is matched by role, and real feature changes stay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.roles import Role
from analysis.triage.check_report import CheckSettings, run_check

N = 3000


def features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "client": rng.choice(["a", "b", "c"], n),
        "x": rng.normal(50, 10, n),
        "z": rng.integers(1, 100, n),
    })


def snapshot(seed: int = 0, label: str = "target") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = features(rng, N)
    frame[label] = (frame["x"] + rng.normal(0, 10, N) > 55).astype(int)
    return frame


def prediction_log(seed: int = 1, label: str = "label") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = features(rng, N)
    score = 1 / (1 + np.exp(-(frame["x"] - 55) / 5))
    frame.insert(0, "request_id", [f"q{i}" for i in range(N)])
    frame.insert(1, "ts", pd.Timestamp("2026-03-02") + pd.to_timedelta(np.sort(rng.uniform(0, 8 * 86400, N)), unit="s"))
    frame["model_version"] = rng.choice(["v1", "v2"], N)
    frame["score"] = score
    frame["prediction"] = (score > 0.5).astype(int)
    frame[label] = (frame["x"] + rng.normal(0, 10, N) > 55).astype(int)
    return frame


def schema_findings(store, tmp_path, log: pd.DataFrame, reference: pd.DataFrame, **kwargs) -> set:
    log.to_parquet(tmp_path / "log.parquet")
    reference.to_parquet(tmp_path / "snapshot.parquet")
    run = run_check(store, [str(tmp_path / "log.parquet")],
                    CheckSettings(reference=[str(tmp_path / "snapshot.parquet")], **kwargs))
    return {(s.columns[0], s.evidence["change"]) for f in run.findings for s in f.symptoms if s.kind == "schema"}


def test_log_only_columns_and_a_differently_named_label_are_no_schema_change(store, tmp_path):
    assert schema_findings(store, tmp_path, prediction_log(), snapshot()) == set()


def test_a_label_named_after_its_domain_is_matched_through_the_logs_label(store, tmp_path):
    log, reference = prediction_log(label="readmitted"), snapshot(label="readmitted")
    assert schema_findings(store, tmp_path, log, reference, fixed={Role.LABEL: "readmitted"}) == set()


def test_the_report_says_the_reference_is_a_training_snapshot(store, tmp_path):
    prediction_log().to_parquet(tmp_path / "log.parquet")
    snapshot().to_parquet(tmp_path / "snapshot.parquet")
    prediction_log(seed=2).to_parquet(tmp_path / "other.parquet")
    log = [str(tmp_path / "log.parquet")]
    assert run_check(store, log, CheckSettings(reference=[str(tmp_path / "snapshot.parquet")])).reference == \
        "training snapshot snapshot.parquet"
    assert run_check(store, log, CheckSettings(reference=[str(tmp_path / "other.parquet")])).reference == \
        "log other.parquet"


def test_a_real_feature_change_stays_a_finding(store, tmp_path):
    log = prediction_log().drop(columns=["client"])
    log["z"] = log["z"].astype(str)
    log["w"] = 1.0
    assert schema_findings(store, tmp_path, log, snapshot()) == {("client", "missing"), ("z", "retyped"), ("w", "new")}


def test_a_reference_log_still_compares_its_model_columns(store, tmp_path):
    assert schema_findings(store, tmp_path, prediction_log().drop(columns=["score"]), prediction_log(seed=2)) == {
        ("score", "missing")}
