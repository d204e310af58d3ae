"""Fixed outputs on multiclass and regression logs: the derived version's metrics equal
scikit-learn's on the rules applied by hand with pandas."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from analysis.data.roles import RoleMap, TaskType
from analysis.errors import SchemaError
from analysis.metrics.per_version import overall_metrics
from analysis.rules.derived import typed_output, with_rule_versions
from analysis.rules.rule_set import FixedOutput, Rule, RuleSet
from analysis.scope import Scope
from analysis.slices import Compare, Slice
from tests.analysis.metrics.test_per_version import register

CLASSES = ("a", "b", "c")


def multiclass_log(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(n).astype(str), "model_version": "v1", "x": rng.uniform(0, 1, n),
                          "label": rng.choice(CLASSES, n)})
    scores = rng.dirichlet([1, 1, 1], n)
    for i, cls in enumerate(CLASSES):
        frame[f"p_{cls}"] = scores[:, i]
    frame["prediction"] = np.array(CLASSES)[scores.argmax(axis=1)]
    return frame


def test_multiclass_fixed_outputs_set_the_class_and_its_probabilities(store):
    frame = multiclass_log()
    dataset = register(store, frame, "multi")
    roles = RoleMap(id="id", model_version="model_version", label="label", prediction="prediction",
                    scores=("p_a", "p_b", "p_c"), score_classes=CLASSES, task=TaskType.MULTICLASS)
    rules = RuleSet("v1", 1, (Rule(Slice(Compare("x", ">", 0.8)), FixedOutput("b")),
                              Rule(Slice(Compare("x", "<", 0.1)), FixedOutput("c", 0.7))))
    dataset = with_rule_versions(Scope(store, dataset, roles), {"v1+rules": rules})

    expected = frame.copy()
    high, low = expected["x"] > 0.8, expected["x"] < 0.1
    expected.loc[high, ["prediction", "p_a", "p_b", "p_c"]] = ["b", 0.0, 1.0, 0.0]
    expected.loc[low, ["prediction", "p_a", "p_b", "p_c"]] = ["c", 0.15, 0.15, 0.7]
    found = {m.version: m for m in overall_metrics(Scope(store, dataset, roles))}["v1+rules"]
    assert found.rows == len(frame)
    assert found.metrics["accuracy"] == pytest.approx(skm.accuracy_score(expected["label"], expected["prediction"]))
    probabilities = expected[["p_a", "p_b", "p_c"]].to_numpy()
    assert found.metrics["log_loss"] == pytest.approx(skm.log_loss(expected["label"], probabilities,
                                                                    labels=list(CLASSES)), abs=1e-9)
    with pytest.raises(SchemaError, match="not one of the scored classes"):
        with_rule_versions(Scope(store, dataset, roles),
                           {"bad": RuleSet("v1", 1, (Rule(Slice(Compare("x", ">", 0.5)), FixedOutput("d")),))})
    assert [m.version for m in overall_metrics(Scope(store, dataset, roles))] == ["v1", "v1+rules"], \
        "a rule set refused leaves the versions as they were"
    again = with_rule_versions(Scope(store, dataset, roles), {"v1+rules@1": RuleSet("v1", 1, rules.rules[:1])})
    assert again.row_count == 2 * len(frame), "applying rules again replaces the derived versions"
    assert [m.version for m in overall_metrics(Scope(store, again, roles))] == ["v1", "v1+rules@1"]


def test_a_regression_rule_fixes_the_predicted_value(store):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"id": np.arange(1500).astype(str), "model_version": "v1", "x": rng.uniform(0, 1, 1500)})
    frame["label"] = 10 * frame["x"] + rng.normal(0, 1, len(frame))
    frame["prediction"] = 10 * frame["x"] + rng.normal(0, 2, len(frame))
    dataset = register(store, frame, "reg")
    roles = RoleMap(id="id", model_version="model_version", label="label", prediction="prediction",
                    task=TaskType.REGRESSION)
    value = typed_output("9.5", dataset, roles)
    assert value == 9.5
    rules = RuleSet("v1", 1, (Rule(Slice(Compare("x", ">=", 0.9)), FixedOutput(value)),))
    dataset = with_rule_versions(Scope(store, dataset, roles), {"capped": rules})
    expected = frame["prediction"].where(frame["x"] < 0.9, 9.5)
    found = {m.version: m for m in overall_metrics(Scope(store, dataset, roles))}["capped"]
    assert found.metrics["mae"] == pytest.approx(skm.mean_absolute_error(frame["label"], expected))
    assert found.metrics["r2"] == pytest.approx(skm.r2_score(frame["label"], expected))
    with pytest.raises(SchemaError, match="no probability score"):
        with_rule_versions(Scope(store, dataset, roles),
                           {"x": RuleSet("v1", 1, (Rule(Slice(Compare("x", ">", 0.5)), FixedOutput(1.0, 0.3)),))})


def test_integer_versions_and_ids_route_and_compare(store):
    """Versions and ids stored as numbers: the version column becomes text beside the derived
    name, ids still pair the versions, and compare reads the derived version."""
    from analysis.compare.report import compare_report
    from analysis.rules.rule_set import Route

    rng = np.random.default_rng(11)
    n = 3000
    label = rng.integers(0, 2, n)
    group = rng.choice(["web", "kiosk"], n, p=[0.8, 0.2])
    right_1 = rng.uniform(size=n) < 0.8
    right_2 = rng.uniform(size=n) < np.where(group == "kiosk", 0.5, 0.9)
    frame = pd.concat([
        pd.DataFrame({"id": np.arange(n), "model_version": version, "group": group, "label": label,
                      "prediction": np.where(right, label, 1 - label)})
        for version, right in ((1, right_1), (2, right_2))
    ], ignore_index=True)
    dataset = register(store, frame, "ints")
    roles = RoleMap(id="id", model_version="model_version", label="label", prediction="prediction",
                    task=TaskType.BINARY)
    rules = RuleSet("2", 1, (Rule(Slice(Compare("group", "=", "kiosk")), Route("1")),))
    dataset = with_rule_versions(Scope(store, dataset, roles), {"2+rules": rules})
    report = compare_report(Scope(store, dataset, roles), "1", "2+rules")
    expected = np.where(group == "kiosk", right_1, right_2).mean()
    accuracy = next(m for m in report["overall"] if m["metric"] == "accuracy")
    assert report["paired_rows"] == n
    assert accuracy["candidate"] == pytest.approx(expected) and accuracy["base"] == pytest.approx(right_1.mean())
