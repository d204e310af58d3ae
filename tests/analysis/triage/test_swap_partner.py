"""A unit change is no swap with a column whose values merely sit near the changed column's
reference as often as they always do (issue #13: the Vietnam case's ``educ`` sent in months
was reported as a swap of ``educ`` and ``illdays``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage.far_beyond import far_beyond_symptoms
from analysis.triage.reference_profile import profile_reference, reference_window
from tests.realdata.corpus import read_members

VIETNAM_NUMBERS = ["pharvis", "lnhhexp", "age", "educ", "illness", "injury", "illdays", "actdays"]


def test_years_of_schooling_sent_sent_in_months_are_a_unit_change_not_a_swap_with_days_ill(store, tmp_path):
    """VietNamI's rows, twelve a day: ``educ`` (years, median 3) times twelve for one source
    for three weeks and a half. ``illdays`` (median 0, upper quartile 3.5) sits nearer
    ``educ``'s reference for a quarter of the rows, inside those weeks as outside them: it
    moved nothing, yet the rows where both sit nearer the other's reference cluster there,
    because ``educ``'s do."""
    table = read_members(["Ecdat/VietNamI"])["Ecdat/VietNamI"]
    rng = np.random.default_rng(0)
    log = table.sample(1500, random_state=0).reset_index(drop=True)[VIETNAM_NUMBERS]
    log.insert(0, "request_id", [f"r{i}" for i in range(len(log))])
    seconds = np.sort(rng.uniform(0, 125 * 86400, len(log)))
    log.insert(1, "timestamp", pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"))
    log["source"] = rng.choice(["web", "app", "partner", "branch"], len(log))
    sent_in_months = (log.timestamp >= "2024-04-01") & (log.timestamp < "2024-04-25") & (log.source == "partner")
    log["educ"] = log["educ"].astype(float)
    log.loc[sent_in_months, "educ"] *= 12
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    opened = load_log(store, [str(path)], check=False)
    whole = Scope(store, opened.dataset, opened.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    found = far_beyond_symptoms(whole, profile, profile.columns)
    assert [(s.kind, s.columns) for s in found] == [("unit_change", ("educ",))]
