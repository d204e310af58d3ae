"""A rule set over the demo log is a version like any other: its metrics equal a pandas hand
computation of the rules on the same rows, and routing the planted weak subpopulation to the
other version removes that regression from compare."""


import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from analysis.compare.report import compare_report
from analysis.data.open_log import load_log
from analysis.errors import SchemaError
from analysis.metrics.per_version import AUC_ERROR_BOUND, overall_metrics
from analysis.rules.derived import with_rule_versions
from analysis.rules.rule_set import FixedOutput, Route, Rule, RuleSet
from analysis.scope import Scope
from analysis.slices import Slice
from analysis.slicing.parser import parse_slice

TOL = 1e-9


@pytest.fixture(scope="module")
def log_frame(demo_files):
    return pd.read_parquet(demo_files.log)


def rule(dataset, text, action, name=""):
    return Rule(Slice(parse_slice(text, {c.name: c.dtype for c in dataset.columns}), name or text), action)


def derived_frame(log_frame, base, rules):
    """The base version's rows with the rules applied by hand: first matching rule wins; a
    route takes the other version's first row for the request when it has one."""
    rows = log_frame[log_frame["model_version"] == base].copy()
    decided = np.zeros(len(rows), dtype=bool)
    for matches, action in rules:
        hit = matches(rows).to_numpy() & ~decided
        decided |= hit
        if isinstance(action, Route):
            other = log_frame[log_frame["model_version"] == action.version].drop_duplicates("request_id")
            routed = rows[["request_id"]].merge(other[["request_id", "prediction", "score"]], on="request_id",
                                                how="left", validate="many_to_one")
            present = hit & routed["prediction"].notna().to_numpy()
            rows.loc[present, "prediction"] = routed.loc[present, "prediction"].to_numpy()
            rows.loc[present, "score"] = routed.loc[present, "score"].to_numpy()
        else:
            rows.loc[hit, "prediction"] = action.prediction
            rows.loc[hit, "score"] = action.score if action.score is not None else float(action.prediction == 1)
    return rows


def assert_metrics_match(store, dataset, roles, name, expected):
    labelled = expected[expected["is_fraud"].notna()]
    y, pred, score = labelled["is_fraud"].astype(int), labelled["prediction"].astype(int), labelled["score"]
    found = {m.version: m for m in overall_metrics(Scope(store, dataset, roles))}[name]
    assert found.rows == len(expected) and found.labelled == len(labelled)
    assert found.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert found.metrics["recall"] == pytest.approx(skm.recall_score(y, pred), abs=TOL)
    assert found.metrics["log_loss"] == pytest.approx(skm.log_loss(y, score, labels=[0, 1]), abs=1e-9)
    assert found.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=AUC_ERROR_BOUND)


def kiosk_slices(report, predicate):
    return [s for s in report["regressed_slices"] if s["significant"] and predicate in s["predicate"]]


def test_routing_the_weak_subpopulation_removes_its_regression(store, demo_files, weak, log_frame):
    predicate, weak_version, other = weak
    loaded = load_log(store, [str(demo_files.log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    before = compare_report(Scope(store, dataset, roles), other, weak_version)
    assert kiosk_slices(before, predicate), "the planted regression must show before the rule"

    name = weak_version + "+rules"
    rules = RuleSet(weak_version, 1, (rule(dataset, predicate, Route(other)),))
    dataset = with_rule_versions(Scope(store, dataset, roles), {name: rules})
    after = compare_report(Scope(store, dataset, roles), other, name)
    assert after["candidate"] == name and after["paired"]
    assert not kiosk_slices(after, predicate)
    assert not any(s["significant"] for s in after["regressed_slices"])

    kiosk = parse_slice(predicate, {c.name: c.dtype for c in dataset.columns})
    assert kiosk.column == "device_type"
    expected = derived_frame(log_frame, weak_version, [(lambda r: r["device_type"] == kiosk.value, Route(other))])
    assert_metrics_match(store, dataset, roles, name, expected)


def test_fixed_outputs_and_first_match_wins(store, demo_files, weak, log_frame):
    predicate, weak_version, other = weak
    loaded = load_log(store, [str(demo_files.log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    flag, clear = FixedOutput(1), FixedOutput(0, 0.02)
    rules = RuleSet(weak_version, 2, (
        rule(dataset, "amount > 2000", flag),
        rule(dataset, "merchant_risk < 0.05 OR amount > 2000", clear),
    ))
    dataset = with_rule_versions(Scope(store, dataset, roles), {"fixed": rules})
    expected = derived_frame(log_frame, weak_version, [
        (lambda r: r["amount"] > 2000, flag),
        (lambda r: (r["merchant_risk"] < 0.05) | (r["amount"] > 2000), clear),
    ])
    assert (expected["amount"] > 2000).sum() > 50 and (expected["merchant_risk"] < 0.05).sum() > 50
    assert_metrics_match(store, dataset, roles, "fixed", expected)
    ids = store.df(f'SELECT _sleuth_row FROM "{dataset.view}" ORDER BY 1')["_sleuth_row"].to_numpy()
    assert np.array_equal(ids, np.arange(dataset.row_count)), "row ids stay dense"


def test_rules_that_cannot_run_on_the_log_say_why(store, demo_files, weak):
    predicate, weak_version, other = weak
    loaded = load_log(store, [str(demo_files.log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    cases = {
        "base version 'v9' is not in the log": RuleSet("v9", 1, (rule(dataset, predicate, Route(other)),)),
        "routes to 'v0', which is not in the log": RuleSet(weak_version, 1, (rule(dataset, predicate, Route("v0")),)),
    }
    for message, rule_set in cases.items():
        with pytest.raises(SchemaError, match=message):
            with_rule_versions(Scope(store, dataset, roles), {"x+rules": rule_set})
    with pytest.raises(SchemaError, match="already has a version called"):
        with_rule_versions(Scope(store, dataset, roles), {other: RuleSet(weak_version, 1, ())})


def test_opening_a_log_adds_the_latest_rule_set_of_its_versions_and_names_what_it_leaves_out(store, demo_files,
                                                                                                weak):
    from analysis.rules.derived import load_log_with_rules
    from analysis.slices import Compare

    predicate, weak_version, other = weak
    loaded = load_log(store, [str(demo_files.log)], check=False)
    dataset = loaded.dataset
    saved = [
        RuleSet(weak_version, 1, (rule(dataset, "amount > 2000", FixedOutput(1)),)),
        RuleSet(weak_version, 2, (rule(dataset, predicate, Route(other)),)),
        RuleSet(other, 1, (Rule(Slice(Compare("no_such_column", "=", 1)), FixedOutput(0)),)),
        RuleSet("a version of another log", 1, ()),
    ]
    opened = load_log_with_rules(store, [str(demo_files.log)], saved, check=False)
    counts = dict(store.rows(f'SELECT model_version, COUNT(*) FROM "{opened.dataset.view}" GROUP BY 1'))
    assert set(counts) == {weak_version, other, f"{weak_version}+rules"}
    assert counts[f"{weak_version}+rules"] == counts[weak_version]
    assert opened.dataset.row_count == sum(counts.values())
    unflagged = store.scalar(f'''SELECT COUNT(*) FROM "{opened.dataset.view}" WHERE model_version = '{weak_version}+rules'
                             AND amount > 2000 AND NOT ({predicate}) AND prediction = 0''')
    assert unflagged > 0, "the latest rule set (2) is the one opened, not rule set 1"
    assert any(f"{other}+rules@1 left out" in w and "no_such_column" in w for w in opened.dataset.report.warnings)

    from analysis.data.loading import close_dataset

    close_dataset(store, opened.dataset)
    left = store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal UNION ALL "
                      "SELECT table_name FROM duckdb_tables()")
    assert not [name for (name,) in left if name.startswith(opened.dataset.view)], "closing leaves nothing behind"
