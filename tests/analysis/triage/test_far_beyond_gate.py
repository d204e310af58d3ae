"""The far-beyond scan skips its count over the rows where the checks' cells already show that
no value passes a bound: the same symptoms, fewer passes over the log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.scope import Scope
from analysis.triage.cells import all_rows_extremes, count_cells
from analysis.triage.far_beyond import far_beyond_symptoms
from analysis.triage.reference_profile import cell_spec, profile_reference, reference_window
from tests.analysis.triage.test_far_beyond import loaded
from tests.analysis.triage.test_sparse_logs import DOCTOR_FEATURES, doctor_log, scored, unit_change_case
from tests.statements import recorded_statements


def _profiled(store, tmp_path, frame: pd.DataFrame, name: str):
    """The loaded log's scope, its reference profile (the reference window) and the extremes
    of its all-rows cells, as ``run_checks`` counts them."""
    log = loaded(store, tmp_path, frame, name)
    scope = Scope(store, log.dataset, log.roles)
    profile = profile_reference(scope.with_condition(reference_window(scope)))
    numeric = {c.name: c.edges for c in profile.columns if c.kind == "numeric"}
    spec = cell_spec(log.dataset, log.roles, numeric, {c.name: c.kind for c in profile.columns}, ())
    cells = count_cells(store, log.dataset, spec, None, None)
    return scope, profile, all_rows_extremes(cells)


def test_the_extremes_are_each_numeric_columns_min_and_max_over_every_row(store, tmp_path):
    frame = scored(doctor_log(seed=3), DOCTOR_FEATURES)
    frame.loc[frame.index[:5], "linc"] = np.nan
    frame.loc[frame.index[5], "linc"] = np.inf
    _, profile, extremes = _profiled(store, tmp_path, frame, "log")
    numeric = [c.name for c in profile.columns if c.kind == "numeric"]
    assert numeric and set(extremes) == set(numeric)
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        values = values[np.isfinite(values)]
        assert extremes[name] == (values.min(), values.max()), name


def test_the_gate_keeps_the_planted_unit_change(store, tmp_path):
    log, truth = unit_change_case()
    scope, profile, extremes = _profiled(store, tmp_path, log, "planted")
    ungated = far_beyond_symptoms(scope, profile, profile.columns)
    gated = far_beyond_symptoms(scope, profile, profile.columns, extremes=extremes)
    assert [s.columns for s in gated if s.kind == "unit_change"] == [tuple(truth.columns)]
    assert gated == ungated


def test_a_clean_log_is_not_read_for_far_beyond_values(store, tmp_path):
    scope, profile, extremes = _profiled(store, tmp_path, scored(doctor_log(seed=2), DOCTOR_FEATURES), "clean")
    seen = recorded_statements(store)
    ungated = far_beyond_symptoms(scope, profile, profile.columns)
    read_ungated = [s for s in seen if "count_if" in s]
    seen.clear()
    gated = far_beyond_symptoms(scope, profile, profile.columns, extremes=extremes)
    assert read_ungated, "the ungated scan counts far-beyond rows over the log"
    assert not [s for s in seen if "count_if" in s]
    assert gated == ungated == []


def test_the_checks_give_the_same_symptoms_with_the_gate_as_without(store, tmp_path, monkeypatch):
    """``run_checks`` hands the far-beyond scan its cells' extremes; with none handed (every
    column counted over the rows, as before the gate) the symptoms are the same (compared
    without their floats' last digits: DuckDB's parallel sums of doubles vary in them from run
    to run)."""
    from analysis.triage import checks

    log, truth = unit_change_case()
    scope, profile, _ = _profiled(store, tmp_path, log, "planted")
    gated = checks.run_checks(scope, profile)
    monkeypatch.setattr(checks, "all_rows_extremes", lambda cells: {})
    assert _outline(checks.run_checks(scope, profile)) == _outline(gated)
    assert any(s.kind == "unit_change" and s.columns == tuple(truth.columns) and "far_beyond" in s.evidence
               for s in gated)


def _outline(symptoms) -> list[tuple]:
    """Each symptom's kind, columns, rows, window, subgroup and effect to 9 digits."""
    return [(s.kind, s.columns, s.rows, s.start, s.end, s.group, round(float(s.effect), 9)) for s in symptoms]


def test_a_column_passes_the_gate_unless_its_extremes_rule_out_every_far_value():
    """Skipping is exact: a column is skipped only when no value between its extremes can be
    beyond a bound; an unknown column, a NaN extreme or a smallest value of 0 or less pass."""
    from analysis.triage.far_beyond import _may_pass

    bounds = (0.5, 10.0)
    assert not _may_pass((1.0, 5.0), bounds)
    assert not _may_pass((None, None), bounds)  # no value at all
    assert _may_pass((1.0, 11.0), bounds) and _may_pass((0.4, 5.0), bounds)
    assert _may_pass((0.0, 5.0), bounds) and _may_pass((-3.0, 5.0), bounds)  # may hide a small positive value
    assert _may_pass(None, bounds) and _may_pass((1.0, float("nan")), bounds)
    assert not _may_pass((0.0, 5.0), (None, 10.0)) and _may_pass((0.0, 5.0), (None, 4.0))
