"""The reference profile's one pass of value counts
(:func:`analysis.triage.reference_profile._frequent_values_and_sets`): most frequent values,
value sets and their singletons per level equal pandas on the same rows of a shadow log; no
histogram aggregate and one grouping-sets statement; and the unseen mass judged per level
(:func:`analysis.triage.novel_values.level_unseen_mass`), so a level holding most of a column's
rare values is not "beyond expected" all the time, while a burst of new values in it still is."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage.novel_values import beyond_unseen_mass, level_unseen_mass, unseen_mass
from analysis.triage.reference_profile import Profile, profile_reference
from tests.analysis.triage.test_novel_values import checked, scored_twice
from tests.statements import recorded_statements

START = dt.datetime(2024, 1, 1)
DAYS, PER_DAY = 100, 24


def skewed_log(seed: int = 11) -> pd.DataFrame:
    """A shadow log (versions ``a`` and ``b`` score each request) whose ``amount`` takes one of
    120 values where ``tier`` is ``free`` (many seen once in the reference) and one of 5 where
    it is ``paid``; ``rate`` is continuous, with 0.5 repeated on a fifth of the rows."""
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    ts = pd.Timestamp(START) + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, n)).round(), unit="s")
    tier = rng.choice(["free", "paid"], n, p=[0.4, 0.6])
    amount = np.where(tier == "free", rng.integers(1, 121, n), rng.choice([10, 20, 30, 40, 50], n)).astype(float)
    rate = np.where(rng.uniform(size=n) < 0.2, 0.5, rng.uniform(0, 1, n).round(6))
    log = pd.DataFrame({"request_id": [f"r{i:05d}" for i in range(n)], "timestamp": ts, "tier": tier,
                        "amount": amount, "rate": rate, "label": (rng.uniform(size=n) < 0.3).astype(int),
                        "score": rng.uniform(size=n)})
    return scored_twice(log)


def reference_rows(frame: pd.DataFrame) -> pd.DataFrame:
    cutoff = frame.timestamp.min() + (frame.timestamp.max() - frame.timestamp.min()) * 0.2
    return frame[frame.timestamp <= cutoff]


def test_frequent_values_value_sets_and_level_singletons_equal_pandas(store, tmp_path):
    frame = skewed_log()
    whole, profile = checked(store, tmp_path, frame, "skewed")
    reference = reference_rows(frame)
    for name in ("amount", "rate"):  # every value counted, and the sketch's candidates
        counts = reference[name].value_counts()
        column = profile.column(name)
        assert counts[column.top_value] == counts.max()
        assert column.top_share == pytest.approx(counts.max() / len(reference))
    one = reference[reference.model_version == "a"]
    assert profile.value_sets["amount"] == one.amount.value_counts().to_dict()
    assert "rate" not in profile.value_sets
    counts = one.amount.value_counts()
    once = set(counts[counts == 1].index)
    expected = {("tier", tier): (len(rows), int(rows.amount.isin(once).sum())) for tier, rows in one.groupby("tier")}
    assert profile.level_singletons["amount"] == expected
    assert expected["tier", "paid"][1] == 0 and expected["tier", "free"][1] > 0
    again = Profile.from_json(profile.to_json())
    assert again.level_singletons == profile.level_singletons and again.to_json() == profile.to_json()


def test_the_value_counts_are_one_grouping_sets_statement_and_no_histogram(store, tmp_path, monkeypatch):
    frame = skewed_log()
    path = tmp_path / "skewed.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    seen = recorded_statements(store, monkeypatch, methods=("rows",))
    profile_reference(Scope(store, log.dataset, log.roles))
    assert not [text for text in seen if "histogram(" in text]
    assert len([text for text in seen if "sleuth_version" in text and "GROUPING SETS" in text]) == 1


def test_a_small_and_a_large_references_forms_of_the_value_counts_agree(store, tmp_path, monkeypatch):
    """A reference of few rows counts its values unpivoted, a larger one by a grouping set per
    column (``UNPIVOTED_MAX_ROWS``): on the same rows both give the same most frequent values,
    value sets and singletons per level (the pandas test above checks the small form's)."""
    from analysis.triage import reference_profile

    frame = skewed_log()
    path = tmp_path / "skewed.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    seen = recorded_statements(store, monkeypatch, methods=("rows",))
    small = profile_reference(Scope(store, log.dataset, log.roles))
    monkeypatch.setattr(reference_profile, "UNPIVOTED_MAX_ROWS", 0)
    large = profile_reference(Scope(store, log.dataset, log.roles))
    counts = [text for text in seen if "sleuth_version" in text and "GROUPING SETS" in text]
    assert ["UNPIVOT" in text for text in counts] == [True, False]
    assert small.value_sets["amount"] and small.level_singletons["amount"]
    assert large.value_sets == small.value_sets and large.level_singletons == small.level_singletons
    assert [(c.top_value, c.top_share) for c in large.columns] == [(c.top_value, c.top_share) for c in small.columns]


def test_a_version_4_expectations_file_reads_and_judges_each_level_by_its_column(store, tmp_path):
    whole, profile = checked(store, tmp_path, skewed_log(), "skewed")
    older = json.loads(profile.to_json())
    older["schema_version"] = 4
    del older["level_singletons"]
    read = Profile.from_json(json.dumps(older))
    assert read.level_singletons is None and read.value_sets == profile.value_sets
    column_mass = unseen_mass(list(profile.value_sets["amount"].values()))
    assert level_unseen_mass(read, "amount", ("tier", "free")) == column_mass
    rows, once = profile.level_singletons["amount"]["tier", "free"]
    assert level_unseen_mass(profile, "amount", ("tier", "free")) == (once + 1) / (rows + 1) > 1.5 * column_mass
    assert level_unseen_mass(profile, "amount", ("tier", "paid")) < column_mass


def test_a_level_holding_the_rare_values_is_beyond_its_columns_mass_but_not_its_own(store, tmp_path):
    """The level's new rows hold values never seen at its own rate, steadily: judged by the
    column's rate (the rows of the other level never hold one) that is "beyond expected" in
    every stretch of time; judged by its own, it is what the reference foretold."""
    frame = skewed_log()
    whole, profile = checked(store, tmp_path, frame, "skewed")
    held = set(profile.value_sets["amount"])
    later = frame[(frame.timestamp > reference_rows(frame).timestamp.max()) & (frame.model_version == "a")
                  & (frame.tier == "free")]
    day = (later.timestamp - pd.Timestamp(START)).dt.days
    novel = ~later.amount.isin(held)
    rows = later.groupby(day).size().to_numpy()
    cases = novel.groupby(day).sum().to_numpy()
    column_mass = unseen_mass(list(profile.value_sets["amount"].values()))
    own = level_unseen_mass(profile, "amount", ("tier", "free"))
    assert beyond_unseen_mass(rows, cases, column_mass) < 0.05
    assert beyond_unseen_mass(rows, cases, own) >= 0.05


def novel_findings(whole, profile):
    from analysis.triage.checks import run_checks

    return [s for s in run_checks(whole, profile) if s.kind == "novel_values"]


def test_the_clean_log_gives_no_novel_values_and_a_burst_in_the_level_is_found(store, tmp_path):
    frame = skewed_log()
    whole, profile = checked(store, tmp_path, frame, "clean")
    assert novel_findings(whole, profile) == []
    burst = frame.copy()
    day = (burst.timestamp - pd.Timestamp(START)).dt.days
    hit = (day >= 60) & (day < 70) & (burst.tier == "free")
    burst.loc[hit, "amount"] = np.random.default_rng(2).integers(1, 120, hit.sum()) + 0.5  # halves: never seen
    whole, profile = checked(store, tmp_path, burst, "burst")
    found = novel_findings(whole, profile)
    assert [(s.columns, s.group) for s in found] == [(("amount",), (("tier", "free"),))]
    start, end = START + dt.timedelta(days=60), START + dt.timedelta(days=70)
    overlap = (min(found[0].end, end) - max(found[0].start, start)).total_seconds()
    assert overlap / (max(found[0].end, end) - min(found[0].start, start)).total_seconds() >= 0.5
