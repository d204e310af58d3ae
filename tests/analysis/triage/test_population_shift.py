"""A feature's distribution that moves abruptly on sound rows: an alarm only when it harms the model.

Two logs share the same shift: from day 30 on, ``basket_share`` (a share in [0, 1], so no value
leaves its range) is drawn from Beta(3, 1) instead of the uniform, and the model's score, a
function of it, rises. In the first, the outcome follows the score (the population changed and
the model tracks it, as Ecdat's Computers' market did); in the second, the outcome stays as it
was (the inputs moved away from what they mean, and the score with them). The first is drift to
know about, the second a warning.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis.triage.check_report import run_check

DAYS, PER_DAY, SHIFT_DAY = 60, 240, 30


def shifted_log(outcome_follows: bool, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    ts = pd.Timestamp("2026-03-02") + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, n)).round(), unit="s")
    after = (ts - ts[0]).days >= SHIFT_DAY
    before_share = rng.uniform(size=n)
    share = np.where(after, rng.beta(3, 1, n), before_share)
    score = 1 / (1 + np.exp(-(6 * share - 3)))
    meant = score if outcome_follows else 1 / (1 + np.exp(-(6 * before_share - 3)))
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "timestamp": ts,
        "basket_share": share, "visits": rng.poisson(4, n), "device": rng.choice(["ios", "android", "web"], n),
        "score": score, "prediction": (score >= 0.5).astype(int),
        "label": (rng.uniform(size=n) < meant).astype(int),
    })


def shift_findings(store, tmp_path, outcome_follows: bool) -> list:
    path = tmp_path / f"log_{outcome_follows}.parquet"
    shifted_log(outcome_follows).to_parquet(path)
    return [f for f in run_check(store, [str(path)]).findings if "basket_share" in f.columns]


def test_a_shift_the_outcome_follows_is_reported_but_no_warning(store, tmp_path):
    found = shift_findings(store, tmp_path, outcome_follows=True)
    assert found and all(f.severity == "info" for f in found), [(f.severity, f.sentence) for f in found]
    shift = found[0]
    assert shift.window[0] >= dt.datetime(2026, 3, 2) + dt.timedelta(days=SHIFT_DAY - 2)
    assert shift.evidence["score_effect"] > 0.2 and shift.evidence["error_inside"] < shift.evidence["error_before"]
    assert shift.sentence.endswith("(the outcome moved with the score, so the model followed the change)")


def test_the_same_shift_with_the_outcome_left_behind_is_a_warning(store, tmp_path):
    found = shift_findings(store, tmp_path, outcome_follows=False)
    assert found and found[0].severity in ("warning", "alert"), [(f.severity, f.sentence) for f in found]
    assert found[0].evidence["miscalibration_effect"] > 0.2
    assert "outcome moved with the score" not in found[0].sentence
