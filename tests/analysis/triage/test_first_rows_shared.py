"""One check run finds a shadow log's first row per request once, for every step that reads it
(the row scan, the far-beyond scan and each finding's localisation), with the same findings as
steps that each find it themselves, and leaves no table behind."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage import row_scan
from analysis.triage.check_report import check_against, finding_to_dict
from analysis.triage.checks import run_checks
from analysis.triage.ranking import triage
from analysis.triage.reference_profile import profile_reference, reference_window
from tests.analysis.triage.test_row_scan import START, sparse_log


def shadow_log_with_incidents(store, tmp_path):
    """A sparse log logged by two versions, with a month of one source's missing ages and a
    fortnight of incomes in cents: two findings that localisation narrows row by row."""
    frame = sparse_log(seed=6)
    month = (frame.timestamp >= START + dt.timedelta(days=90)) & (frame.timestamp < START + dt.timedelta(days=120))
    frame.loc[month & (frame.source == "partner"), "age"] = np.nan
    cents = (frame.timestamp >= START + dt.timedelta(days=60)) & (frame.timestamp < START + dt.timedelta(days=75))
    frame.loc[cents, "income"] *= 100.0
    shadow = pd.concat([frame.assign(model_version="a"), frame.assign(model_version="b")], ignore_index=True)
    path = tmp_path / "shadow.parquet"
    shadow.sort_values("timestamp", kind="stable", ignore_index=True).to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles)
    return whole, profile_reference(whole.with_condition(reference_window(whole)))


def counted(monkeypatch) -> list[int]:
    """How often the repeated ids are looked for (one entry per look)."""
    looks: list[int] = []
    original = row_scan.first_rows_of_requests

    def counting(scope, cancel=row_scan.NEVER_CANCELLED):
        looks.append(1)
        return original(scope, cancel)

    monkeypatch.setattr(row_scan, "first_rows_of_requests", counting)
    return looks


def tables(store) -> set[str]:
    return {r[0] for r in store.rows("SELECT table_name FROM duckdb_tables()")}


def test_a_check_run_finds_the_first_rows_once_and_the_same_findings(store, tmp_path, monkeypatch):
    whole, profile = shadow_log_with_incidents(store, tmp_path)
    before = tables(store)
    looks = counted(monkeypatch)
    alone = triage(whole, run_checks(whole, profile), profile=profile)  # each call finds them itself
    assert len(looks) == 2  # once by the checks' two scans, once by triage for both findings' localisation
    assert {(f.kind, f.columns) for f in alone} == {("null_burst", ("age",)), ("unit_change", ("income",))}
    looks.clear()
    shared = check_against(whole, profile).findings
    assert len(looks) == 1
    assert [finding_to_dict(f) for f in shared] == [finding_to_dict(f) for f in alone]
    assert tables(store) == before
