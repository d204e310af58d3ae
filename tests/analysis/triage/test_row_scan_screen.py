"""The subgroup stuck scan reads only the columns some unit repeats a value of (issue #17: at 10M
rows, 13 of 19 columns were measurements to the last decimal, each a pass over the log for
candidates that no row repeats), and still finds a value stuck for one source in such a column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis.triage import row_scan
from tests.analysis.triage.test_row_scan import START, grouped_log, sparse_log, with_benefit


def checked(store, tmp_path, frame: pd.DataFrame, monkeypatch) -> tuple[list, list[str]]:
    """The row scan's symptoms over the reference's group columns, as the checks run it, and the
    columns whose rows holding a candidate the subgroup scan counted."""
    whole, profile = grouped_log(store, tmp_path, frame)
    counted: list[str] = []
    real_counts = row_scan._counts_by_unit

    def spied(*args, **kwargs):
        holding = args[6] if len(args) > 6 else kwargs.get("holding")
        counted.extend([holding[0]] if holding else [name for name, _ in kwargs.get("summed", ())])
        return real_counts(*args, **kwargs)

    monkeypatch.setattr(row_scan, "_counts_by_unit", spied)
    found = row_scan.row_level_symptoms(whole, profile.columns, profile=profile, groups=profile.group_columns)
    return found, counted


def stuck_for_app(frame: pd.DataFrame, column: str, days: tuple[int, int]) -> tuple[pd.DataFrame, float]:
    """``frame`` with ``column`` at its median for the source ``app`` over ``days``; the median."""
    start, end = (START + dt.timedelta(days=d) for d in days)
    median = float(frame[column].median())
    frame = frame.copy()
    frame.loc[(frame.timestamp >= start) & (frame.timestamp < end) & (frame.source == "app"), column] = median
    return frame, median


def test_a_column_no_unit_repeats_a_value_of_is_not_counted_per_level(store, tmp_path, monkeypatch):
    """``income`` (lognormal, to the last decimal) never repeats a value, so no level can hold
    one stuck: its per-level counts are not read, while ``benefit`` (60 amounts) is counted."""
    frame = with_benefit(sparse_log(seed=3), seed=4)
    frame["income"] = np.random.default_rng(5).lognormal(10, 0.5, len(frame))
    found, counted = checked(store, tmp_path, frame, monkeypatch)
    assert "benefit" in counted
    assert "income" not in counted
    assert not [s for s in found if s.kind == "stuck"]


def test_a_value_stuck_for_one_source_of_a_column_that_never_repeats_is_still_found(store, tmp_path, monkeypatch):
    """The stuck value itself repeats within the units it is stuck in, so the screen keeps the
    column, and the source and the value are found."""
    frame = with_benefit(sparse_log(seed=8), seed=9)
    frame["income"] = np.random.default_rng(10).lognormal(10, 0.5, len(frame))
    frame, median = stuck_for_app(frame, "income", (95, 125))
    found, counted = checked(store, tmp_path, frame, monkeypatch)
    assert "income" in counted
    stuck = [(s.columns, s.group, s.observed) for s in found if s.kind == "stuck" and s.group]
    assert stuck == [(("income",), (("source", "app"),), median)]
