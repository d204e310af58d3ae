"""The reference profile matches pandas on the same rows, and its expectations file round-trips."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.triage.checks import run_checks
from analysis.errors import InputError
from analysis.data.loading import open_dataset
from analysis.scope import Scope
from analysis.triage.reference_profile import Profile, profile_reference, reference_window
from tests.analysis.triage.test_checks import ROLES, clean_frame, day_of


@pytest.fixture
def reference(store, tmp_path):
    frame = clean_frame()
    frame.loc[::7, "x"] = np.nan
    frame.to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, [tmp_path / "log.parquet"])
    return frame, dataset


def test_profile_matches_pandas(store, reference):
    frame, dataset = reference
    profile = profile_reference(Scope(store, dataset, ROLES))
    x = profile.column("x")
    assert x.null_rate == pytest.approx(frame["x"].isna().mean())
    assert x.counts.mean == pytest.approx(frame["x"].mean())
    assert x.counts.std == pytest.approx(frame["x"].std())
    assert x.quantiles["0.5"] == pytest.approx(frame["x"].median(), abs=0.5)
    assert sum(x.counts.bins) == frame["x"].notna().sum()
    assert profile.column("cat").category_shares == pytest.approx(frame["cat"].value_counts(normalize=True).to_dict())
    assert profile.group_columns == ("client", "cat")
    per_client = profile.cell((("client", "b"),))
    assert per_client.rows == (frame["client"] == "b").sum()
    assert per_client.columns["z"].total == frame.loc[frame["client"] == "b", "z"].sum()


def test_reference_window_is_first_fifth_of_time(store, reference):
    frame, dataset = reference
    window = reference_window(Scope(store, dataset, ROLES))
    cutoff = frame["ts"].min() + (frame["ts"].max() - frame["ts"].min()) * 0.2
    profile = profile_reference(Scope(store, dataset, ROLES, window))
    assert profile.rows == (frame["ts"] <= cutoff).sum()


def test_expectations_round_trip_gives_same_checks(store, reference, tmp_path):
    frame, dataset = reference
    profile = profile_reference(Scope(store, dataset, ROLES, reference_window(Scope(store, dataset, ROLES))))
    again = Profile.from_json(profile.to_json())
    assert again.to_json() == profile.to_json()
    broken = frame.copy()
    broken.loc[day_of(broken) >= 5, "x"] *= 1000
    broken.to_parquet(tmp_path / "broken.parquet")
    log = open_dataset(store, [tmp_path / "broken.parquet"])
    live = run_checks(Scope(store, log, ROLES), profile)
    from_file = run_checks(Scope(store, log, ROLES), again)
    assert live and len(live) == len(from_file)
    for a, b in zip(live, from_file):  # sums in parallel differ in the last bits, nothing more
        assert (a.kind, a.columns, a.group, a.start, a.end, a.rows) == (b.kind, b.columns, b.group, b.start, b.end, b.rows)
        assert a.effect == pytest.approx(b.effect, rel=1e-9, abs=1e-12)


def test_expectations_file_version_is_checked():
    with pytest.raises(InputError):
        Profile.from_json('{"schema_version": 99}')
    with pytest.raises(InputError):
        Profile.from_json("not json")


def test_most_frequent_value_and_its_share_match_pandas(store, reference):
    frame, dataset = reference
    profile = profile_reference(Scope(store, dataset, ROLES))
    for name in ("x", "z"):  # x: every value once, z: 99 integers
        counts = frame[name].value_counts()
        column = profile.column(name)
        assert counts[column.top_value] == counts.max()
        assert column.top_share == pytest.approx(counts.max() / len(frame))


def test_a_version_1_expectations_file_is_still_read(store, reference):
    """Version 1 had no most frequent values: it reads with none, the rest unchanged."""
    frame, dataset = reference
    profile = profile_reference(Scope(store, dataset, ROLES))
    old = json.loads(profile.to_json())
    old["schema_version"] = 1
    for column in old["columns"]:
        del column["top_value"], column["top_share"]
    read = Profile.from_json(json.dumps(old))
    assert read.column("x").top_share is None and read.column("x").counts == profile.column("x").counts


def test_draws_count_the_changes_of_value_in_time_order_as_pandas_does(store, tmp_path):
    """A value copied into every prediction of its day is one draw per day, not one per row."""
    frame = clean_frame()
    frame.loc[::7, "x"] = np.nan
    frame["per_day"] = 100 + 3 * day_of(frame)
    frame.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "shuffled.parquet")  # file order is not time order
    dataset = open_dataset(store, [tmp_path / "shuffled.parquet"])
    profile = profile_reference(Scope(store, dataset, ROLES))
    in_time = frame.sort_values("ts")
    for name in ("x", "z", "per_day"):
        values = in_time[name]
        changes = (values.ne(values.shift()) & ~(values.isna() & values.shift().isna())).sum()
        assert profile.column(name).draws == changes
    assert profile.column("per_day").draws == frame["per_day"].nunique() and not profile.column("per_day").enough_draws
    assert profile.column("x").enough_draws
    assert Profile.from_json(profile.to_json()).column("per_day").draws == profile.column("per_day").draws


def test_draws_counted_on_a_sample_still_tell_a_daily_value_from_a_row_by_row_one(store, tmp_path, monkeypatch):
    from analysis.triage import reference_profile

    frame = clean_frame()
    frame["per_day"] = 100 + 3 * day_of(frame)
    frame.to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, [tmp_path / "log.parquet"])
    monkeypatch.setattr(reference_profile, "DRAWS_SAMPLE_ROWS", 1_000)  # every 24th row
    profile = profile_reference(Scope(store, dataset, ROLES))
    assert profile.column("per_day").draws == frame["per_day"].nunique()
    assert 500 < profile.column("z").draws <= 1_000 and profile.column("z").enough_draws


def test_a_reference_of_250_columns_is_profiled_within_the_apps_memory_and_matches_pandas(tmp_path):
    """Issue #15: one aggregate over 250 columns' sketches ran DuckDB out of its 1.5 GB in
    `check` (400 rows); the profile is made over batches of columns, every column still counted."""
    from analysis.data.roles import RoleMap
    from analysis.store import APP_MEMORY_LIMIT, Store

    rng = np.random.default_rng(250)
    frame = pd.DataFrame(rng.gamma(2.0, 3.0, (400, 250)).round(1), columns=[f"f{i}" for i in range(250)])
    frame.insert(0, "client", rng.choice(["a", "b", "c"], 400))
    frame.to_parquet(tmp_path / "wide.parquet")
    store = Store(memory_limit=APP_MEMORY_LIMIT)
    profile = profile_reference(Scope(store, open_dataset(store, [tmp_path / "wide.parquet"]), RoleMap()))
    for name in ("f0", "f63", "f64", "f249"):
        column = profile.column(name)
        assert column.counts.mean == pytest.approx(frame[name].mean())
        assert profile.cell((("client", "b"),)).columns[name].total == pytest.approx(
            frame.loc[frame["client"] == "b", name].sum())
    assert [c.name for c in profile.columns] == list(frame.columns)
