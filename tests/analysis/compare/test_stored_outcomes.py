"""The pair table a comparison stores after its verdict keeps only the outcomes read later,
and the slices it reports are those of the full table."""

from dataclasses import replace

import numpy as np
import pytest

from analysis.compare.comparison import PAIR_LABEL, STORED_OUTCOMES, side_column, stored_outcomes
from analysis.compare.regressed_slices import SliceSettings, regressed_slices
from analysis.compare.report import ReportSettings, run_comparison
from analysis.data.roles import TaskType
from analysis.scope import Scope
from tests.analysis.compare.test_comparison import ROLES, _load, _segment_regression


def _kinds(kept):
    return {c.rsplit("_", 1)[1] for c in kept if c != PAIR_LABEL}


def test_a_classifier_judged_by_accuracy_stores_no_loss():
    assert _kinds(stored_outcomes(ROLES, "accuracy", ["roc_auc"])) == {"pred", "ok", "score"}
    assert _kinds(stored_outcomes(ROLES, "accuracy", [])) == {"pred", "ok"}  # AUC judged in the verdict
    assert _kinds(stored_outcomes(ROLES, "log_loss", ["roc_auc"])) == {"pred", "ok", "score", "loss"}
    regression = replace(ROLES, task=TaskType.REGRESSION)
    assert _kinds(stored_outcomes(regression, "mae", [])) == {"pred", "ok", "loss"}
    assert PAIR_LABEL in stored_outcomes(ROLES, "accuracy", [])
    assert set(stored_outcomes(ROLES, "log_loss", ["roc_auc"])) == set(STORED_OUTCOMES)
    assert side_column("b", "loss") not in stored_outcomes(ROLES, "error_rate", ["roc_auc"])


@pytest.mark.parametrize("metric", ["accuracy", "log_loss"])
def test_the_reports_slices_are_those_of_the_full_pair_table(store, tmp_path, metric):
    """``regressed_slices`` stores every outcome; the report stores what its metric needs:
    the same slices with the same numbers, by accuracy (no loss stored) and by log loss."""
    log = _load(store, tmp_path, _segment_regression(np.random.default_rng(21), 3000))
    scope = Scope(store, log.dataset, log.roles)
    settings = SliceSettings(max_level=2, metric=metric)
    report = run_comparison(scope, "v1", "v2", ReportSettings(metric=metric, slices=settings)).report
    full = regressed_slices(scope, "v1", "v2", settings)
    assert report["regressed_slices"], "the planted segment regresses"
    assert [(s["predicate"], s["rows"], s["diff"], s["p_value"]) for s in report["regressed_slices"]] == [
        (s.predicate_text, s.rows, pytest.approx(s.diff, rel=1e-12), pytest.approx(s.p_value, rel=1e-9)) for s in full]
