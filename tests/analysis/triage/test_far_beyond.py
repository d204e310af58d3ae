"""Far-beyond values on a shadow log: each request counts once, so a log whose requests were
each scored by two versions gives the symptoms of the same log scored once."""

from __future__ import annotations

import pandas as pd

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage.far_beyond import far_beyond_symptoms
from analysis.triage.reference_profile import profile_reference, reference_window
from tests.analysis.triage.test_sparse_logs import unit_change_case


def shadow_of(log: pd.DataFrame) -> pd.DataFrame:
    """Every request of ``log`` logged by two versions with the same inputs, the copies in
    time order with version ``a`` first (so each id's first row is the ``a`` copy)."""
    copies = pd.concat([log.assign(model_version="a"), log.assign(model_version="b")], ignore_index=True)
    return copies.sort_values("timestamp", kind="stable", ignore_index=True)


def loaded(store, tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return load_log(store, [str(path)], check=False)


def test_a_shadow_log_gives_the_unit_change_of_the_log_scored_once(store, tmp_path):
    log, truth = unit_change_case()
    once = loaded(store, tmp_path, log, "once")
    twice = loaded(store, tmp_path, shadow_of(log), "twice")
    assert twice.roles.model_version == "model_version" and twice.roles.id == "request_id"
    whole = Scope(store, once.dataset, once.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    expected = far_beyond_symptoms(Scope(store, once.dataset, once.roles), profile, profile.columns)
    assert [s.columns for s in expected if s.kind == "unit_change"] == [tuple(truth.columns)]
    got = far_beyond_symptoms(Scope(store, twice.dataset, twice.roles), profile, profile.columns)
    # Counting both copies would double every symptom's rows and sharpen its p-value.
    assert got == expected


def test_a_column_swapped_earlier_keeps_its_later_unit_change(store, tmp_path):
    """A source swaps ``linc`` and ``lfam`` for seven months; later ``lfam`` comes ten times too
    large for one subgroup for a month. The swap explains the column's far values in its own
    window only, so the later unit change is still found, with its window and its subgroup
    (the far-beyond scan once skipped a column a swap held, over the whole log)."""
    from tests.analysis.triage.test_sparse_logs import (DOCTOR_FEATURES, check, doctor_log, in_period, iou,
                                                        planted, scored)

    log = doctor_log(seed=1)
    swapped = in_period(log, 450, 210) & (log.source == "partner")
    log.loc[swapped, ["linc", "lfam"]] = log.loc[swapped, ["lfam", "linc"]].to_numpy()
    scaled = in_period(log, 800, 30) & (log.health == "fair")
    log.loc[scaled, "lfam"] *= 10
    truth = planted(log, scaled, ["lfam"], 800, 30, (("health", "fair"),))
    findings = [f for f in check(store, tmp_path, scored(log, DOCTOR_FEATURES)) if f.severity in ("alert", "warning")]
    assert any(f.kind == "swap" and set(f.columns) == {"linc", "lfam"} for f in findings)
    units = [f for f in findings if f.kind == "unit_change" and f.columns == ("lfam",)]
    assert any(iou(f.window, truth) >= 0.3 and f.group == truth.group for f in units), [
        (f.kind, f.columns, f.window, f.group) for f in findings]
