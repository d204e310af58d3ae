"""The novel-values screen (:func:`analysis.triage.novel_values.novel_values_held`): the log's
novel values per column equal pandas' on the same rows, the short list flags exactly the rows
the reference's list flags, a column with more novel values than reference values keeps the
reference's list, and only columns holding a novel value get per-row flags (a clean log gets
none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.query import Sql, ident
from analysis.triage.checks import run_checks
from analysis.triage.novel_values import FLAG, _novel_condition, novel_values_held
from analysis.triage.violating_rows import novel_value_condition
from tests.analysis.triage.test_novel_values import checked, overlapping_log
from tests.statements import recorded_statements

COLUMNS = ("age", "schooling", "visits")


def pandas_novel(frame: pd.DataFrame, profile, column: str) -> pd.Series:
    """Rows holding a value the reference never held, within its range and not 0 (the
    definition of :func:`analysis.triage.violating_rows.novel_value_condition`)."""
    held, values = set(profile.value_sets[column]), frame[column].astype(float)
    return values.between(min(held), max(held)) & (values != 0) & ~values.isin(held)


def flagged(whole, condition: str) -> int:
    return whole.store.rows(Sql(f"SELECT count_if({condition}) FROM {ident(whole.dataset.view)}"))[0][0]


def test_the_screen_lists_the_novel_values_pandas_finds_and_flags_the_same_rows(store, tmp_path):
    frame = overlapping_log(swapped=True)
    whole, profile = checked(store, tmp_path, frame, "swapped")
    tried = [profile.column(name) for name in COLUMNS]
    held = novel_values_held(whole, profile, tried, Sql("TRUE"))
    novel = {name: sorted(set(frame.loc[pandas_novel(frame, profile, name), name].astype(float)))
             for name in COLUMNS}
    # schooling (13 whole years) receives some 50 log ages: more than its reference held, so
    # the reference's list stays the test; age receives whole years, a shorter list than its own
    assert len(novel["schooling"]) > len(profile.value_sets["schooling"])
    assert 0 < len(novel["age"]) <= len(profile.value_sets["age"])
    assert held == {**novel, "schooling": None}
    for column in tried:
        rows = int(pandas_novel(frame, profile, column.name).sum())
        assert flagged(whole, _novel_condition(profile, whole.dataset, column, held[column.name])) == rows
        assert flagged(whole, novel_value_condition(profile, whole.dataset, column.name)) == rows


def test_more_novel_values_than_reference_values_keep_the_reference_list(store, tmp_path):
    """``visits`` (a handful of counts) is sent as fractions for a stretch: more novel values
    than the reference held, so listing them would be the longer test."""
    frame = overlapping_log(swapped=False)
    late = frame.timestamp > frame.timestamp.min() + pd.Timedelta(days=90)
    fractions = np.random.default_rng(5).uniform(0.01, 2.99, late.sum()).round(3)
    frame["visits"] = frame["visits"].astype(float)
    frame.loc[late, "visits"] = fractions
    whole, profile = checked(store, tmp_path, frame, "fractions")
    visits = profile.column("visits")
    assert len(profile.value_sets["visits"]) < len(set(fractions))
    held = novel_values_held(whole, profile, [visits], Sql("TRUE"))
    assert held == {"visits": None}
    condition = _novel_condition(profile, whole.dataset, visits, None)
    assert flagged(whole, condition) == int(pandas_novel(frame, profile, "visits").sum()) > 0


def cyclic_log() -> pd.DataFrame:
    """The overlapping log with every column cycling through its values row by row: the
    reference (its first fifth of time) holds each value, so no later row holds a novel one."""
    frame = overlapping_log(swapped=False)
    order = np.arange(len(frame)) // 2  # the two versions of a request hold the same values
    frame["age"] = np.round(np.log(18 + order % 52), 6)
    frame["schooling"] = (order % 13).astype(float)
    frame["visits"] = order % 5
    return frame


@pytest.fixture
def statements(store, monkeypatch):
    return recorded_statements(store, monkeypatch, methods=("rows",))


def flag_statements(seen: list[str]) -> list[str]:
    return [text for text in seen if f"{FLAG}n0" in text]


def test_a_log_without_novel_values_builds_no_per_row_flags(store, tmp_path, statements):
    frame = cyclic_log()
    whole, profile = checked(store, tmp_path, frame, "cyclic")
    assert all(not pandas_novel(frame, profile, name).any() for name in COLUMNS)
    statements.clear()
    symptoms = run_checks(whole, profile)
    assert not [s for s in symptoms if s.kind == "novel_values"]
    assert any("GROUPING SETS" in text and FLAG in text for text in statements)  # the screen ran
    assert flag_statements(statements) == []


def test_only_a_column_holding_novel_values_gets_per_row_flags(store, tmp_path, statements):
    frame = cyclic_log()
    frame.loc[frame.index[-40:], "schooling"] = 6.5  # a fraction no reference row held
    whole, profile = checked(store, tmp_path, frame, "one_novel")
    statements.clear()
    run_checks(whole, profile)
    [flags] = flag_statements(statements)
    assert f"{FLAG}n1" not in flags and "6.5" in flags
    assert ident("age") not in flags and ident("visits") not in flags
