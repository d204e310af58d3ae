"""Values no reference row held (:mod:`analysis.triage.novel_values`): the profile's value sets
against pandas, the Good-Turing unseen mass, a planted overlapping swap rediscovered with its
window and source, a clean twin whose new values come to every source at once left alone, and
an older expectations file read with the check skipped."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage.checks import run_checks
from analysis.triage.novel_values import skipped_checks, unseen_mass
from analysis.triage.reference_profile import Profile, profile_reference, reference_window

START = dt.datetime(2024, 1, 1)
DAYS = 120
PER_DAY = 12
SWAP = (70, 88)
"""Days of the log during which source ``branch`` sends ``age`` and ``schooling`` swapped."""


def overlapping_log(swapped: bool, seed: int = 3) -> pd.DataFrame:
    """A sparse shadow log (two versions score each request) whose ``age`` (a log age, 0 to
    4.5) and ``schooling`` (whole years, 0 to 12) overlap in range; with ``swapped``, source
    ``branch`` sends them swapped from day 70 to day 88. New whole ages (of a new cohort) reach
    every source at once from day 60: the population's new values, not a source's."""
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    ts = pd.Timestamp(START) + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, n)).round(), unit="s")
    day = (ts - pd.Timestamp(START)).days.to_numpy()
    years = rng.integers(18, 70, n)
    years = np.where((day >= 60) & (rng.uniform(size=n) < 0.3), rng.integers(70, 80, n), years)
    log = pd.DataFrame({
        "request_id": [f"r{i:05d}" for i in range(n)], "timestamp": ts,
        "age": np.round(np.log(years), 6), "schooling": rng.integers(0, 13, n).astype(float),
        "visits": rng.poisson(1.0, n), "source": rng.choice(["web", "app", "partner", "branch"], n),
    })
    if swapped:
        hit = (day >= SWAP[0]) & (day < SWAP[1]) & (log.source == "branch").to_numpy()
        log.loc[hit, ["age", "schooling"]] = log.loc[hit, ["schooling", "age"]].to_numpy()
    log["label"] = (rng.uniform(size=n) < 0.3).astype(int)
    log["score"] = rng.uniform(size=n)
    return scored_twice(log)


def scored_twice(log: pd.DataFrame) -> pd.DataFrame:
    """``log`` as a shadow log: each request once per version (``a`` and ``b``), in time order."""
    copies = pd.concat([log.assign(model_version="a"), log.assign(model_version="b")], ignore_index=True)
    return copies.sort_values("timestamp", kind="stable", ignore_index=True)


def checked(store, tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    return whole, profile


def test_the_value_sets_are_the_reference_values_of_one_row_per_request(store, tmp_path):
    frame = overlapping_log(swapped=False)
    whole, profile = checked(store, tmp_path, frame, "clean")
    cutoff = frame.timestamp.min() + (frame.timestamp.max() - frame.timestamp.min()) * 0.2
    reference = frame[(frame.timestamp <= cutoff) & (frame.model_version == "a")]
    for column in ("age", "schooling", "visits"):
        expected = reference[column].astype(float).value_counts().to_dict()
        assert profile.value_sets[column] == expected
    assert "score" not in profile.value_sets  # one value per row: a set would tell nothing
    assert Profile.from_json(profile.to_json()).value_sets == profile.value_sets


def test_the_unseen_mass_is_the_share_of_singletons_plus_one():
    counts = pd.Series([1, 1, 1, 2, 2, 3, 5, 5, 5, 5, 7]).value_counts().tolist()
    singletons = sum(1 for c in counts if c == 1)
    assert unseen_mass(counts) == (singletons + 1) / (sum(counts) + 1)
    assert unseen_mass([]) == 1.0


def test_an_overlapping_swap_by_one_source_is_found_with_its_window_and_source(store, tmp_path):
    whole, profile = checked(store, tmp_path, overlapping_log(swapped=True), "swapped")
    swaps = [s for s in run_checks(whole, profile) if s.kind == "swap" and s.evidence.get("told_by")]
    assert swaps, "the swap was not told by the values"
    swap = swaps[0]
    assert set(swap.columns) == {"age", "schooling"} and swap.group == (("source", "branch"),)
    truth = (START + dt.timedelta(days=SWAP[0]), START + dt.timedelta(days=SWAP[1]))
    overlap = (min(swap.end, truth[1]) - max(swap.start, truth[0])).total_seconds()
    union = (max(swap.end, truth[1]) - min(swap.start, truth[0])).total_seconds()
    assert overlap / union >= 0.5, (swap.start, swap.end)


def test_new_values_every_source_shows_at_once_are_no_finding(store, tmp_path):
    whole, profile = checked(store, tmp_path, overlapping_log(swapped=False), "clean")
    frame = overlapping_log(swapped=False)
    later = frame[frame.timestamp > frame.timestamp.min() + pd.Timedelta(days=60)]
    assert not set(later.age.astype(float)) <= set(profile.value_sets["age"])  # the cohort's ages are new
    found = [s for s in run_checks(whole, profile) if s.kind == "novel_values" or s.evidence.get("told_by")]
    assert found == [], [(s.kind, s.columns, s.group) for s in found]


def test_an_expectations_file_saved_before_value_sets_is_read_and_the_check_says_it_was_skipped(store, tmp_path):
    whole, profile = checked(store, tmp_path, overlapping_log(swapped=True), "swapped")
    older = json.loads(profile.to_json())
    older["schema_version"] = 3
    del older["value_sets"]
    read = Profile.from_json(json.dumps(older))
    assert read.value_sets is None and skipped_checks(profile) == []
    assert "not checked" in skipped_checks(read)[0]
    assert not [s for s in run_checks(whole, read) if s.kind == "novel_values" or s.evidence.get("told_by")]


def test_a_check_against_an_older_expectations_file_reports_the_skipped_check(store, tmp_path):
    from analysis.triage.check_report import CheckSettings, report_text, run_check
    from analysis.triage.ranking import window_text

    frame = overlapping_log(swapped=True)
    whole, profile = checked(store, tmp_path, frame, "swapped")
    older = json.loads(profile.to_json())
    older["schema_version"] = 3
    del older["value_sets"]
    expect = tmp_path / "older.json"
    expect.write_text(json.dumps(older), encoding="utf-8")
    run = run_check(store, [str(tmp_path / "swapped.parquet")], CheckSettings(expect=expect))
    assert run.skipped and "skipped: values never seen in the reference: not checked" in report_text(run)
    fresh = run_check(store, [str(tmp_path / "swapped.parquet")])
    swaps = [f for f in fresh.findings if f.kind == "swap" and set(f.columns) == {"age", "schooling"}]
    assert fresh.skipped == () and swaps
    # One sentence names the columns, the source, the window and values no reference row held.
    sentence = swaps[0].sentence
    assert "where source = 'branch'" in sentence and "holds values no reference row held, such as" in sentence
    assert window_text(*swaps[0].window) in sentence, sentence


def test_each_levels_rows_and_novel_rows_per_unit_add_up_to_pandas_counts(store, tmp_path):
    """The counts the scans read (:func:`analysis.triage.novel_values._level_series`): over all
    units, a level's rows and novel rows, and its peers', equal pandas on the same rows, for two
    group columns (one with missing values) and a column whose scope ends early."""
    from analysis.query import Sql
    from analysis.triage.novel_values import NEVER_CANCELLED, _level_series, _levels
    from analysis.triage.violating_rows import novel_value_condition

    frame = overlapping_log(swapped=True)
    frame["region"] = np.random.default_rng(1).choice(["n", "s", "e"], len(frame)).astype(object)
    frame.loc[frame.index % 7 == 0, "region"] = None
    whole, profile = checked(store, tmp_path, frame, "regions")
    tried = [c for c in profile.columns if c.name in ("age", "schooling")]
    cut = dt.datetime(2024, 3, 20)
    scoped = {"age": Sql("timestamp < ?", (cut,)), "schooling": Sql("TRUE")}
    conditions = {c.name: novel_value_condition(profile, whole.dataset, c.name) for c in tried}
    levels = _levels(profile, ["source", "region"], whole.roles)
    series = _level_series(whole, tried, levels, conditions, scoped, Sql("TRUE"), NEVER_CANCELLED)

    def novel(column: str) -> pd.Series:
        held, values = set(profile.value_sets[column]), frame[column].astype(float)
        return values.between(min(held), max(held)) & (values != 0) & ~values.isin(held)

    in_scope = {"age": frame.timestamp < pd.Timestamp(cut), "schooling": pd.Series(True, index=frame.index)}
    expected = {}
    for column in ("age", "schooling"):
        for group, value in levels:
            level = (frame[group] == value) & in_scope[column]
            peers = (frame[group] != value) & in_scope[column]  # rows of another level or none
            cases = novel(column) & level
            if cases.any():
                expected[column, (group, value)] = (level.sum(), cases.sum(), peers.sum(),
                                                    (novel(column) & peers).sum())
    assert expected and len({group for _, (group, _) in expected}) == 2
    got = {key: tuple(int(array.sum()) for array in arrays) for key, arrays in series.items()}
    assert got == expected
