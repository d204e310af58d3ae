"""Since when to the hour, for whom as a slice: the real checks on a hand-made log, then triage.

Ten days, 60 requests an hour; the checks bucket by day. Two planted problems whose hours and
rows are known exactly: client ``stark`` sends ``a`` and ``b`` swapped from day 6 09:00 on, and
``c`` arrives a thousand times too large for ``region = 'EU' AND device = 'ios'`` on day 4 from
10:00 to 16:00, a conjunction no single group column describes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis.triage.checks import run_checks
from analysis.data.open_log import load_log
from analysis.triage.localisation import scanned_window
from analysis.triage.reference_profile import profile_reference
from analysis.query import Sql
from analysis.scope import Scope
from analysis.slices import Range, to_sql
from analysis.store import Store
from analysis.triage.symptoms import Symptom
from analysis.triage.ranking import triage
from analysis.triage.violating_rows import violation_of

START = dt.datetime(2026, 10, 1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SWAP_FROM = START + 6 * DAY + 9 * HOUR
SCALED = (START + 4 * DAY + 10 * HOUR, START + 4 * DAY + 16 * HOUR)


def planted_log(path) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    hours = np.repeat(np.arange(240), 60)
    n = len(hours)
    moment = START + pd.to_timedelta(hours, unit="h") + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    frame = pd.DataFrame({
        "request_id": np.arange(n).astype(str),
        "timestamp": moment,
        "region": np.array(["EU", "US", "APAC"])[np.arange(n) % 3],  # ten EU iPhones every hour
        "device": np.array(["ios", "android"])[np.arange(n) // 3 % 2],
        "client": rng.choice(["acme", "stark", "wayne"], n),
        "a": rng.normal(100, 10, n),
        "b": rng.normal(5, 1, n),
        "c": rng.normal(50, 5, n),
        "score": rng.random(n),
    })
    swapped = (frame.client == "stark") & (frame.timestamp >= SWAP_FROM)
    frame.loc[swapped, ["a", "b"]] = frame.loc[swapped, ["b", "a"]].to_numpy()
    scaled = (frame.region == "EU") & (frame.device == "ios") & frame.timestamp.between(*SCALED, inclusive="left")
    frame.loc[scaled, "c"] *= 1000
    frame["prediction"] = (frame.score >= 0.5).astype(int)
    frame.to_parquet(path)
    return frame


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    path = tmp_path_factory.mktemp("localise") / "log.parquet"
    frame = planted_log(path)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    profile = profile_reference(Scope(store, dataset, roles, to_sql(Range("timestamp", None, START + 2 * DAY))))
    symptoms = run_checks(Scope(store, dataset, roles), profile)
    findings = triage(Scope(store, dataset, roles), symptoms, profile=profile)
    yield store, dataset, roles, profile, frame, findings
    store.close()


def test_a_swap_starts_at_its_hour_and_is_confined_to_its_client(checked):
    *_, frame, findings = checked
    swap = next(f for f in findings if f.kind == "swap")
    assert set(swap.columns) == {"a", "b"}
    assert swap.window[0] == SWAP_FROM  # the checks' bucket began at midnight
    assert swap.window[1] == START + 10 * DAY
    assert swap.slice_text == "client = 'stark'"
    assert swap.evidence["since_when"] == "scan" and swap.evidence["for_whom"] == "slice discovery"
    inside = frame[(frame.timestamp >= swap.window[0]) & (frame.timestamp < swap.window[1])]
    assert swap.rows == (inside.client == "stark").sum()


def test_a_problem_in_a_conjunction_is_found_as_that_slice_and_those_hours(checked):
    _, _, _, profile, frame, findings = checked
    scaled = next(f for f in findings if "c" in f.columns)
    assert scaled.window == SCALED
    assert dict(scaled.group) == {"region": "EU", "device": "ios"}
    planted = (frame.region == "EU") & (frame.device == "ios") & frame.timestamp.between(*SCALED, inclusive="left")
    assert scaled.rows == planted.sum()
    assert scaled.kind == "unit_change"  # x1000: far beyond anything in the reference
    in_window = frame[frame.timestamp.between(*SCALED, inclusive="left")]
    far_beyond = in_window.c > profile.column("c").counts.maximum * np.sqrt(10)
    assert far_beyond.sum() == planted.sum()
    assert scaled.evidence["slice_share"] == 1.0
    assert scaled.evidence["slice_coverage"] == 1.0


def test_the_scanned_window_of_an_out_of_range_column_against_pandas(checked):
    store, dataset, roles, profile, frame, _ = checked
    low, high = profile.column("c").typical_range
    day = START + 4 * DAY
    symptom = Symptom("out_of_range", ("c",), 60, 0.1, 0.0, 0.1, day, day + DAY, (("region", "EU"),),
                      evidence={"typical_range": [low, high]})
    violation = violation_of(symptom, dataset, roles, profile)
    window = scanned_window(Scope(store, dataset, roles), violation, Sql("region = 'EU'"))
    assert (window.start, window.end) == SCALED
    eu = frame[frame.region == "EU"]
    inside = eu[eu.timestamp.between(*SCALED, inclusive="left")]
    outside = eu[~eu.timestamp.between(*SCALED, inclusive="left")]
    assert window.rows == len(inside)
    assert window.inside_share == pytest.approx(((inside.c < low) | (inside.c >= high)).mean())
    assert window.baseline == pytest.approx(((outside.c < low) | (outside.c >= high)).mean())
    assert window.p_value < 1e-6


def test_every_row_level_kind_has_an_expression_and_schema_has_none(checked):
    store, dataset, roles, profile, frame, _ = checked
    def share(kind, columns=("c",), **evidence):
        symptom = Symptom(kind, columns, 1, 1.0, 50.0, 1.0, evidence=evidence)
        found = violation_of(symptom, dataset, roles, profile)
        return None if found is None else store.rows(f"SELECT avg({found.expression}) FROM {dataset.view}")[0][0]

    assert share("schema") is None
    assert share("stuck", value=float(frame.c.iloc[0])) == pytest.approx(1 / len(frame))
    assert share("new_category", ("region",), values={"EU": 5}) == pytest.approx((frame.region == "EU").mean())
    assert share("unit_change", factor=1000.0) == pytest.approx((frame.c > 50 * np.sqrt(1000)).mean())
    swapped = (frame.client == "stark") & (frame.timestamp >= SWAP_FROM)
    assert share("swap", ("a", "b")) == pytest.approx(swapped.mean(), abs=0.01)


def few_rows_log(path, planted_channel: str | None) -> pd.DataFrame:
    """A window of 120 requests from four channels: 26 of them (fewer than slice discovery's
    32-row minimum support) have ``x`` a thousand times too large, all from ``planted_channel``
    (or spread over every channel when None), plus two natural outliers elsewhere."""
    rng = np.random.default_rng(7)
    n = 120
    frame = pd.DataFrame({
        "request_id": np.arange(n).astype(str),
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, 40 * 86400, n)), unit="s"),
        "channel": np.array(["web", "app", "partner", "branch"])[np.arange(n) % 4],
        "segment": rng.choice(["a", "b", "c"], n),
        "x": rng.normal(10, 1, n),
        "score": rng.random(n),
    })
    hit = frame.index[frame.channel == planted_channel][:26] if planted_channel else rng.choice(n, 26, replace=False)
    frame.loc[hit, "x"] *= 1000
    frame.loc[frame.index[frame.channel != (planted_channel or "")][:2], "x"] = 500.0
    frame["prediction"] = (frame.score >= 0.5).astype(int)
    frame.to_parquet(path)
    return frame


@pytest.mark.parametrize("planted_channel", ["web", None])
def test_a_problem_on_too_few_rows_for_slice_discovery_is_named_by_its_level(store, tmp_path, planted_channel):
    """26 problem rows in one channel are below slice discovery's minimum support; the
    per-level test names the channel when (and only when) the rows are there: the oracle is
    scipy's one-sided Fisher test per level and the Benjamini-Hochberg procedure over them."""
    from scipy import stats

    from analysis.triage.localisation import slice_columns, violating_slice
    from analysis.triage.violating_rows import Violation

    frame = few_rows_log(tmp_path / "log.parquet", planted_channel)
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    violation = Violation('CASE WHEN "x" > 100 THEN 1.0 ELSE 0.0 END', 1, 0.0, True)
    columns = slice_columns(loaded.dataset, loaded.roles, ["x"])
    found = violating_slice(Scope(store, loaded.dataset, loaded.roles), violation, Sql("TRUE"), columns, 0.0)
    bad = frame.x > 100
    p_values = {(column, level): stats.fisher_exact(
        [[bad[frame[column] == level].sum(), (~bad[frame[column] == level]).sum()],
         [bad[frame[column] != level].sum(), (~bad[frame[column] != level]).sum()]], alternative="greater").pvalue
        for column in ("channel", "segment") for level in frame[column].unique()}
    q_values = dict(zip(p_values, stats.false_discovery_control(list(p_values.values()))))
    covering = [key for key, q in q_values.items() if q < 0.05 and bad[frame[key[0]] == key[1]].sum() >= 0.8 * bad.sum()]
    expected = (min(covering, key=p_values.get),) if covering else ()
    assert found.group == expected
    assert found.group == ((("channel", planted_channel),) if planted_channel else ())
    if planted_channel:
        assert found.slice_rows == (frame.channel == planted_channel).sum()
        assert found.slice_rate == pytest.approx(bad[frame.channel == planted_channel].mean())
