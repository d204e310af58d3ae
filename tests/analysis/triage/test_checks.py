"""Each check finds exactly what was planted in small hand-made logs, and the demo's incidents."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from analysis.triage.checks import DISTRIBUTION_MIN_EFFECT, _distribution_effects, run_checks
from analysis.data.open_log import load_log
from analysis.data.loading import open_dataset
from analysis.triage.reference_profile import profile_reference
from analysis.data.roles import RoleMap
from analysis.scope import Scope

START = pd.Timestamp("2026-03-02")
DAYS = 8
ROWS_PER_DAY = 3000
INCIDENT_DAY = 5
ROLES = RoleMap(timestamp="ts", features=("client", "x", "y", "z", "cat"))


def clean_frame(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = DAYS * ROWS_PER_DAY
    return pd.DataFrame({
        "ts": START + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, n)), unit="s"),
        "client": rng.choice(["a", "b", "c"], n),
        "x": rng.normal(50, 10, n),
        "y": rng.lognormal(1.5, 0.3, n),
        "z": rng.integers(1, 100, n),
        "cat": rng.choice(["p", "q", "r"], n, p=[0.5, 0.3, 0.2]),
    })


def day_of(frame):
    return ((frame["ts"] - START).dt.total_seconds() // 86400).astype(int)


def first_days_profile(store, folder, frame):
    """The reference profile of ``frame``'s first two days."""
    path = folder / "ref.parquet"
    frame[day_of(frame) < 2].to_parquet(path)
    return profile_reference(Scope(store, open_dataset(store, [path]), ROLES))


@pytest.fixture(scope="module")
def clean_profile(tmp_path_factory):
    """The clean log's first two days profiled once for the module: every hand-made log but
    one is checked against them (a third of a CPU-second each time it was made anew)."""
    from analysis.store import Store

    store = Store(memory_limit="2GB")
    try:
        return first_days_profile(store, tmp_path_factory.mktemp("reference"), clean_frame())
    finally:
        store.close()


def check(store, tmp_path, frame, profile):
    """Check ``frame`` against the reference ``profile``."""
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    return run_checks(Scope(store, open_dataset(store, [path]), ROLES), profile)


def kinds(symptoms):
    return {(s.kind, s.columns, s.group) for s in symptoms}


def incident_rows(frame, day=INCIDENT_DAY):
    return day_of(frame) >= day


def test_clean_log_raises_nothing(store, tmp_path, clean_profile):
    assert check(store, tmp_path, clean_frame(), clean_profile) == []


def test_unit_change_from_a_day_on(store, tmp_path, clean_profile):
    frame = clean_frame()
    frame.loc[incident_rows(frame), "x"] *= 1000
    found = check(store, tmp_path, frame, clean_profile)
    units = [s for s in found if s.kind == "unit_change"]
    assert {(s.columns, s.group) for s in units if s.group == ()} == {(("x",), ())}
    assert {s.start.date() for s in units if s.group == ()} == {
        (START + pd.Timedelta(days=d)).date() for d in range(INCIDENT_DAY, DAYS)}
    assert all(s.evidence["factor"] == 1000 for s in units)
    assert {c for s in found for c in s.columns} == {"x"}


def test_swap_in_one_group(store, tmp_path, clean_profile):
    frame = clean_frame()
    hit = incident_rows(frame) & (frame["client"] == "b")
    frame.loc[hit, ["x", "y"]] = frame.loc[hit, ["y", "x"]].to_numpy()
    found = check(store, tmp_path, frame, clean_profile)
    swaps = [s for s in found if s.kind == "swap"]
    assert {(s.columns, s.group) for s in swaps} == {(("x", "y"), (("client", "b"),))}
    assert min(s.start for s in swaps).date() == (START + pd.Timedelta(days=INCIDENT_DAY)).date()
    assert {c for s in found for c in s.columns} == {"x", "y"}


def test_stuck_value_for_a_day(store, tmp_path, clean_profile):
    frame = clean_frame()
    frame.loc[day_of(frame) == 6, "z"] = 42
    found = check(store, tmp_path, frame, clean_profile)
    stuck = [s for s in found if s.kind == "stuck"]
    assert stuck and {(s.columns, s.start.date()) for s in stuck} == {(("z",), (START + pd.Timedelta(days=6)).date())}
    assert all(s.observed == 42 for s in stuck)
    assert {c for s in found for c in s.columns} == {"z"}


def test_new_category(store, tmp_path, clean_profile):
    frame = clean_frame()
    hit = incident_rows(frame) & (np.arange(len(frame)) % 10 == 0)
    frame.loc[hit, "cat"] = "s"
    found = check(store, tmp_path, frame, clean_profile)
    new = [s for s in found if s.kind == "new_category" and s.group == ()]
    assert {s.start.date() for s in new} == {(START + pd.Timedelta(days=d)).date() for d in range(INCIDENT_DAY, DAYS)}
    assert all(set(s.evidence["values"]) == {"s"} for s in new)
    assert all(s.observed == pytest.approx(0.1, abs=0.02) for s in new)
    assert {c for s in found for c in s.columns} == {"cat"}
    assert {s.kind for s in found} <= {"new_category", "distribution"}


def test_schema_changes(store, tmp_path, clean_profile):
    frame = clean_frame().drop(columns=["y"])
    frame["z"] = frame["z"].astype(str)
    frame["extra"] = 1.0
    found = check(store, tmp_path, frame, clean_profile)
    schema = {(s.columns[0], s.evidence["change"]) for s in found if s.kind == "schema"}
    assert schema == {("y", "missing"), ("z", "retyped"), ("extra", "new")}


def test_null_burst_in_one_group(store, tmp_path, clean_profile):
    frame = clean_frame()
    hit = (day_of(frame) == 6) & (frame["client"] == "a") & (frame["ts"].dt.hour < 12)
    frame.loc[hit, "x"] = np.nan
    found = check(store, tmp_path, frame, clean_profile)
    nulls = [s for s in found if s.kind == "null_rate"]
    group = [s for s in nulls if s.group == (("client", "a"),)]
    assert len(group) == 1 and group[0].start.date() == (START + pd.Timedelta(days=6)).date()
    assert group[0].observed == pytest.approx(hit.sum() / ((day_of(frame) == 6) & (frame["client"] == "a")).sum())
    assert group[0].rows == hit.sum()
    assert max(nulls, key=lambda s: s.effect) is group[0]
    assert {c for s in found for c in s.columns} == {"x"}


def test_zero_fill(store, tmp_path, clean_profile):
    frame = clean_frame()
    hit = incident_rows(frame) & (np.arange(len(frame)) % 3 == 0)
    frame.loc[hit, "y"] = 0.0
    found = check(store, tmp_path, frame, clean_profile)
    zeros = [s for s in found if s.kind == "zero_fill" and s.group == ()]
    assert {s.start.date() for s in zeros} == {(START + pd.Timedelta(days=d)).date() for d in range(INCIDENT_DAY, DAYS)}
    assert all(s.observed == pytest.approx(1 / 3, abs=0.03) for s in zeros)
    assert {c for s in found for c in s.columns} == {"y"}


def test_fewer_nulls_and_zeros_than_the_reference_are_no_fill(store, tmp_path):
    """A feed that got better (its nulls and zeros fell from 40% to none) is no null burst and
    no zero fill; the same shares rising are (test_null_burst_in_one_group, test_zero_fill)."""
    reference = clean_frame(seed=1)
    every_fifth = np.arange(len(reference)) % 5
    reference.loc[every_fifth < 2, "x"] = np.nan
    reference.loc[every_fifth >= 3, "y"] = 0.0
    found = check(store, tmp_path, clean_frame(), first_days_profile(store, tmp_path, reference))
    assert not [s for s in found if s.kind in ("null_rate", "zero_fill", "out_of_range")]


@pytest.fixture(scope="module")
def demo_symptoms(demo_files):
    from analysis.triage.reference_profile import reference_window
    from analysis.store import Store

    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    whole = Scope(store, loaded.dataset, loaded.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    yield run_checks(Scope(store, loaded.dataset, loaded.roles), profile)
    store.close()


def test_demo_null_burst(demo_symptoms):
    found = [s for s in demo_symptoms if s.kind == "null_rate" and s.group == (("region", "EU-West"),)]
    assert [(s.columns, s.start) for s in found] == [(("merchant_risk",), dt.datetime(2026, 10, 12))]
    assert found[0].effect > 0.3


def test_demo_swap(demo_symptoms):
    found = [s for s in demo_symptoms if s.kind == "swap"]
    assert {(s.columns, s.group) for s in found} == {(("amount", "distance_from_home_km"), (("client", "stark-pay"),))}
    assert min(s.start for s in found) == dt.datetime(2026, 10, 18)


def test_demo_drift_is_small_and_late(demo_symptoms):
    found = [s for s in demo_symptoms if s.kind == "distribution" and s.columns == ("avg_amount_30d",) and s.group == ()]
    assert found and min(s.start for s in found) >= dt.datetime(2026, 10, 15)
    assert all(DISTRIBUTION_MIN_EFFECT <= s.effect < 0.3 for s in found)


def test_clean_demo_raises_nothing(store, clean_demo_files):
    from analysis.triage.reference_profile import reference_window

    loaded = load_log(store, [str(clean_demo_files.log)], check=False)
    whole = Scope(store, loaded.dataset, loaded.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    assert run_checks(whole, profile) == []


def test_distribution_effects_in_one_batch_match_each_pair_alone():
    """Histograms of different lengths share one scipy call, padded with empty bins: each pair
    still gets its own bias-corrected distance, and an empty histogram gets none."""
    rng = np.random.default_rng(3)
    pairs = [(rng.integers(0, 50, k), rng.integers(0, 50, k)) for k in (3, 5, 8, 8)] + [([0, 0, 0], [1, 2, 3])]
    n_obs, n_ref = [500, 900, 300, 5000, 100], [800, 800, 800, 800, 800]
    batch = _distribution_effects([o for o, _ in pairs], [r for _, r in pairs], n_obs, n_ref)
    for (observed, reference), n, m, effect in zip(pairs[:-1], n_obs, n_ref, batch):
        bins = np.count_nonzero((np.asarray(observed) > 0) | (np.asarray(reference) > 0))
        bias = (bins - 1) / (8 * np.log(2)) * (1 / n + 1 / m)
        expected = np.sqrt(max(jensenshannon(observed, reference, base=2) ** 2 - bias, 0.0))
        assert effect == pytest.approx(expected, abs=1e-12)
    assert batch[-1] == 0.0
    assert (batch[:-1] > 0).all()


def test_unit_factor_shortcut_agrees_with_trying_every_factor():
    """The shortcut for means that barely moved gives what trying every unit factor gives,
    on ratios spread over 30 decades and packed around the shortcut's edge."""
    from types import SimpleNamespace

    from analysis.triage import checks
    from analysis.triage.far_beyond import nearest_unit_factor

    rng = np.random.default_rng(3)
    edge = np.exp(checks._NO_UNIT_WITHIN)
    means = np.concatenate([np.exp(rng.uniform(-35, 35, 20_000)), edge * rng.uniform(0.98, 1.02, 2_000),
                            1 / edge * rng.uniform(0.98, 1.02, 2_000), [10.0, 0.01, 60.0, 1.0]])
    spreads = means * np.exp(rng.normal(0, 0.2, len(means)))
    reference = SimpleNamespace(mean=1.0, std=1.0)
    got = [checks._unit_factor(SimpleNamespace(mean=m, std=s), reference) for m, s in zip(means, spreads)]
    assert got == [nearest_unit_factor(m, s) for m, s in zip(means, spreads)]
    assert sum(g is not None for g in got) > 100  # factors are found, not only refused


def test_a_log_with_no_timestamp_reads_its_own_profiles_cells(store, tmp_path, monkeypatch):
    """With no timestamp the default reference is the whole log, the rows the checks count in one
    bucket: the checks read the profile's cells instead of counting them again, and compare the
    same counts as counting anew does (the profile read back from its expectations file, which
    keeps no rows to compare, makes them count). Other rows than the profile's are counted."""
    from analysis.query import Sql
    from analysis.triage import checks
    from analysis.triage.reference_profile import Profile

    frame = clean_frame().drop(columns="ts").head(6000)
    rng = np.random.default_rng(5)
    frame["label"], frame["prediction"] = rng.integers(0, 2, len(frame)), rng.integers(0, 2, len(frame))
    frame.loc[::9, "x"] = np.nan
    frame.to_parquet(tmp_path / "log.parquet")
    roles = RoleMap(label="label", prediction="prediction", features=ROLES.features)
    whole = Scope(store, open_dataset(store, [tmp_path / "log.parquet"]), roles)
    profile = profile_reference(whole)
    counting, compared = [], []
    count_cells, cell_symptoms = checks.count_cells, checks._cell_symptoms
    monkeypatch.setattr(checks, "count_cells", lambda *a, **k: counting.append(a[3]) or count_cells(*a, **k))
    monkeypatch.setattr(checks, "_cell_symptoms", lambda cell, *a: compared.append(cell) or cell_symptoms(cell, *a))

    def cells_compared(checked_profile):
        compared.clear()
        run_checks(whole, checked_profile)
        return {cell.group: cell for cell in compared}

    read = cells_compared(profile)
    assert counting == []
    counted = cells_compared(Profile.from_json(profile.to_json()))
    assert counting == [None]
    assert read.keys() == counted.keys() and len(read) > 3 and any(cell.outcomes for cell in read.values())
    for group, cell in read.items():
        assert (cell.rows, cell.outcomes.keys(), cell.columns.keys()) == \
            (counted[group].rows, counted[group].outcomes.keys(), counted[group].columns.keys())
        for name, counts in cell.columns.items():  # parallel sums differ in the last bits, nothing more
            again = counted[group].columns[name]
            assert (counts.non_null, counts.bins, counts.categories) == (again.non_null, again.bins, again.categories)
            assert counts.total == pytest.approx(again.total, rel=1e-12)
    run_checks(whole.with_condition(Sql("z > 50")), profile)
    assert counting == [None, Sql("z > 50")]


def test_a_slice_of_a_log_with_no_timestamp_is_checked_against_its_own_rows(store, tmp_path, monkeypatch):
    """With no timestamp the default reference is the whole log, so a slice's reference is the
    slice's rows (there is no first 20% of time to intersect it with): profiled on exactly those
    rows, and a clean slice checked against itself raises nothing."""
    from analysis.query import Sql
    from analysis.slices import Compare
    from analysis.triage import reference_profile
    from analysis.triage.check_report import check_dataset

    frame = clean_frame().drop(columns="ts").head(6000)
    frame.to_parquet(tmp_path / "log.parquet")
    scope = Scope(store, open_dataset(store, [tmp_path / "log.parquet"]),
                  RoleMap(features=("client", "x", "y", "z", "cat")))
    profiled = []
    profile = reference_profile.profile_reference
    monkeypatch.setattr(reference_profile, "profile_reference",
                        lambda s, *a, **k: profiled.append(s.condition) or profile(s, *a, **k))
    run = check_dataset(scope, where=Compare("client", "=", "a"))
    (condition,) = profiled
    rows = store.scalar(Sql(f'SELECT count(*) FROM "{scope.dataset.view}" WHERE {condition.text}', condition.params))
    assert rows == (frame["client"] == "a").sum()
    assert run.findings == ()
    assert run.reference.endswith("(rows where client = 'a')")
