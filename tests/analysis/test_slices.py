"""Slices as values: building, SQL on a real DuckDB table against pandas, text, JSON."""

from __future__ import annotations

import datetime as dt
import json
import operator
import random
import re

import numpy as np
import pandas as pd
import pytest

from analysis.errors import SchemaError
from analysis.query import ROW_ID, ident, select
from analysis.slices import (
    UPGRADES,
    And,
    Compare,
    EditMode,
    Everything,
    InSet,
    IsNull,
    Not,
    Or,
    Predicate,
    Range,
    RowIds,
    Slice,
    combine,
    predicate_from_dict,
    predicate_to_dict,
    to_sql,
    to_text,
)

# --- a seeded generator of predicates over one schema, shared with the parser tests -------

SCHEMA = {
    "amount": "DOUBLE",
    "count": "BIGINT",
    "region": "VARCHAR",
    "my col": "VARCHAR",
    "rows": "VARCHAR",
    "flag": "BOOLEAN",
    "ts": "TIMESTAMP",
    "day": "DATE",
}

VALUES = {
    "amount": [-5.5, 0.0, 1.25, 10, 20, 100.75, 1e-07, 2.5e10, -3, 55.5],
    "count": [-1, 0, 3, 7, 12, 40],
    "region": ["EU-West", "O'Brien", "us", "", 'a "q"', "ümlaut", "7", "EU"],
    "my col": ["x", "y", "O'Brien", "z z"],
    "rows": ["a", "b", "--", ";"],
    "flag": [True, False],
    "ts": [
        dt.datetime(2026, 10, 14, 2, 0),
        dt.datetime(2026, 10, 14, 12, 30, 15, 250000),
        dt.datetime(2026, 10, 15),
        dt.date(2026, 10, 16),
    ],
    "day": [dt.date(2026, 10, 13), dt.date(2026, 10, 14), dt.date(2026, 10, 16)],
}
ORDERED = ["amount", "count", "region", "my col", "ts", "day"]


def random_leaf(rng: random.Random) -> Predicate:
    column = rng.choice(list(SCHEMA))
    pool = VALUES[column]
    shape = rng.choice(["compare", "compare", "in", "range", "null", "rows"])
    if shape == "compare":
        ops = ["=", "!="] if column in ("flag", "rows") else ["=", "!=", "<", "<=", ">", ">="]
        return Compare(column, rng.choice(ops), rng.choice(pool))
    if shape == "in":
        return InSet(column, tuple(rng.sample(pool, rng.randint(1, min(3, len(pool))))), rng.random() < 0.4)
    if shape == "range" and column in ORDERED:
        low, high = sorted(rng.sample(pool, 2), key=_order_key)
        return Range(column, low, high, rng.random() < 0.7, rng.random() < 0.5)
    if shape == "rows":
        start = rng.randint(0, 250)
        return RowIds(((start, start + rng.randint(1, 30)), (start + 60, start + 80)))
    return IsNull(column, rng.random() < 0.5)


def _order_key(value):
    return pd.Timestamp(value) if isinstance(value, dt.date) else value


def random_predicate(rng: random.Random, depth: int = 3) -> Predicate:
    """A random tree built with &, | and ~ only, so it is in the form the parser returns."""
    if depth == 0 or rng.random() < 0.3:
        return Everything if rng.random() < 0.03 else random_leaf(rng)
    shape = rng.choice(["and", "or", "not"])
    if shape == "not":
        return ~random_predicate(rng, depth - 1)
    left, right = random_predicate(rng, depth - 1), random_predicate(rng, depth - 1)
    return left & right if shape == "and" else left | right


def reads_as_range(pred: Predicate) -> bool:
    """Whether an And holds a lower bound followed by an upper bound on one column.

    That text is how a half-open Range prints, so it reads back as a Range; such trees are
    equivalent to, but not equal to, their round trip.
    """
    if isinstance(pred, And):
        pairs = zip(pred.parts, pred.parts[1:])
        if any(
            isinstance(a, Compare) and isinstance(b, Compare) and a.column == b.column
            and a.op in (">", ">=") and b.op in ("<", "<=")
            for a, b in pairs
        ):
            return True
    if isinstance(pred, (And, Or)):
        return any(reads_as_range(p) for p in pred.parts)
    if isinstance(pred, Not):
        return reads_as_range(pred.part)
    return False


def random_predicates(seed: int, count: int) -> list[Predicate]:
    rng = random.Random(seed)
    preds: list[Predicate] = []
    while len(preds) < count:
        pred = random_predicate(rng)
        if not reads_as_range(pred):
            preds.append(pred)
    return preds


# --- a real table with nulls, quotes, timestamps and booleans, and a pandas reference -----

N_ROWS = 300


def make_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)

    def with_nulls(values, dtype):
        series = pd.Series(values, dtype=dtype)
        series[rng.random(N_ROWS) < 0.15] = None
        return series

    def choice(column):
        pool = [v for v in VALUES[column] if not isinstance(v, dt.date)] or VALUES[column]
        return [pool[i] for i in rng.integers(0, len(pool), N_ROWS)]

    ts = pd.Series(dt.datetime(2026, 10, 13) + pd.to_timedelta(rng.integers(0, 4 * 24 * 60, N_ROWS), unit="min"))
    ts = ts.astype("datetime64[us]")
    ts[rng.random(N_ROWS) < 0.15] = pd.NaT
    frame = pd.DataFrame(
        {
            ROW_ID: np.arange(N_ROWS),
            "amount": with_nulls(choice("amount"), "Float64"),
            "count": with_nulls(choice("count"), "Int64"),
            "region": with_nulls(choice("region"), "string"),
            "my col": with_nulls(choice("my col"), "string"),
            "rows": with_nulls(choice("rows"), "string"),
            "flag": with_nulls(choice("flag"), "boolean"),
            "ts": ts,
        }
    )
    frame["day"] = frame["ts"].dt.normalize()
    return frame


@pytest.fixture
def logs(store):
    frame = make_frame()
    with store.job_cursor() as cur:
        cur.register("frame_source", frame.drop(columns=["day"]))
        cur.execute('CREATE TABLE logs AS SELECT *, CAST(ts AS DATE) AS "day" FROM frame_source')
    return frame


COMPARISONS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def reference(pred: Predicate, frame: pd.DataFrame) -> pd.Series:
    """Rows where ``pred`` is true, by pandas: a leaf never matches a null cell; NOT negates."""
    if pred == Everything:
        return pd.Series(True, index=frame.index)
    if isinstance(pred, (Compare, InSet, Range, IsNull)):
        column = frame[pred.column]
        known = column.notna()
    if isinstance(pred, Compare):
        return known & COMPARISONS[pred.op](column, as_pandas(pred.value)).fillna(False).astype(bool)
    if isinstance(pred, InSet):
        member = column.isin([as_pandas(v) for v in pred.values]).fillna(False).astype(bool)
        return known & (~member if pred.negated else member)
    if isinstance(pred, Range):
        return all_true([reference(bound, frame) for bound in pred.bounds()], frame)
    if isinstance(pred, IsNull):
        return known if pred.negated else ~known
    if isinstance(pred, RowIds):
        ids = frame[ROW_ID]
        return any_true([(ids >= a) & (ids < b) for a, b in pred.ranges], frame)
    if isinstance(pred, And):
        return all_true([reference(p, frame) for p in pred.parts], frame)
    if isinstance(pred, Or):
        return any_true([reference(p, frame) for p in pred.parts], frame)
    assert isinstance(pred, Not)
    return ~reference(pred.part, frame)


def as_pandas(value):
    return pd.Timestamp(value) if isinstance(value, dt.date) else value


def all_true(masks, frame):
    return np.logical_and.reduce([frame[ROW_ID] >= 0, *masks])


def any_true(masks, frame):
    return np.logical_or.reduce([frame[ROW_ID] < 0, *masks])


def matching_rows(store, pred: Predicate) -> list[int]:
    query = select([ident(ROW_ID)], ident("logs"), to_sql(pred), order_by=[ident(ROW_ID)])
    return [row[0] for row in store.rows(query)]


def expected_rows(frame, pred) -> list[int]:
    return frame[ROW_ID][np.asarray(reference(pred, frame), dtype=bool)].tolist()


# --- SQL -----------------------------------------------------------------------------------


def test_sql_of_many_random_slices_matches_pandas(store, logs):
    for pred in random_predicates(seed=11, count=150):
        assert matching_rows(store, pred) == expected_rows(logs, pred), to_text(pred)


def test_nulls_do_not_match_not_equal_nor_not_in(store, logs):
    region_known = logs["region"].notna()
    not_eu = matching_rows(store, Compare("region", "!=", "EU"))
    assert not_eu == logs[ROW_ID][region_known & (logs["region"] != "EU")].tolist()
    not_in = matching_rows(store, InSet("region", ("EU", "us"), negated=True))
    assert not_in == logs[ROW_ID][region_known & ~logs["region"].isin(["EU", "us"])].tolist()
    assert logs["region"].isna().sum() > 0 and not set(not_eu) & set(logs[ROW_ID][~region_known])


@pytest.mark.parametrize(
    "pred",
    [
        Compare("region", "!=", "EU"),
        InSet("amount", (10, 20), negated=True),
        Compare("flag", "=", True),
        Range("ts", dt.datetime(2026, 10, 14), None),
        Compare("amount", ">", 5) | IsNull("region"),
        Compare("count", "<", 7) & Compare("region", "=", "us"),
    ],
)
def test_a_slice_and_its_complement_partition_the_rows(store, logs, pred):
    inside, outside = matching_rows(store, pred), matching_rows(store, ~pred)
    assert not set(inside) & set(outside)
    assert sorted(inside + outside) == list(range(N_ROWS))
    assert 0 < len(inside) < N_ROWS


def test_values_travel_as_parameters_never_as_sql_text():
    hostile = "x'; DROP TABLE logs; --"
    sql = to_sql(Compare("my col", "=", hostile) & InSet("region", ("a", "O'Brien")))
    assert hostile not in sql.text and "O'Brien" not in sql.text
    assert sql.params == (hostile, "a", "O'Brien")
    assert sql.text == '("my col" = ?) AND ("region" IN (?, ?))'


def test_everything_selects_all_rows(store, logs):
    assert matching_rows(store, Everything) == list(range(N_ROWS))
    assert matching_rows(store, ~Everything) == []


def test_row_ids_are_stored_as_merged_ranges(store, logs):
    picked = RowIds.of([5, 6, 7, 8, 20, 21, 9, 100])
    assert picked.ranges == ((5, 10), (20, 22), (100, 101))
    assert matching_rows(store, picked) == [5, 6, 7, 8, 9, 20, 21, 100]
    million = RowIds(((0, 1_000_000),))
    assert len(to_sql(million).params) == 2


# --- building trees -------------------------------------------------------------------------


def test_operators_flatten_and_drop_duplicates():
    a, b, c = Compare("amount", ">", 1), IsNull("region"), InSet("region", ("x",))
    assert (a & b) & c == And((a, b, c)) == a & (b & c)
    assert (a | b) | c == Or((a, b, c))
    assert a & a == a and a | a == a
    assert a & Everything == a and Everything & a == a
    assert a | Everything == Everything
    assert ~~a == a and ~a == Not(a)
    assert (a & b).columns == frozenset({"amount", "region"})
    assert RowIds(((0, 3),)).columns == frozenset({ROW_ID})


def test_trees_are_hashable_values_usable_as_cache_keys():
    first = Compare("region", "=", "EU") & Range("amount", 10, 20)
    second = Compare("region", "=", "EU") & Range("amount", 10, 20)
    cache = {first: 42}
    assert cache[second] == 42
    assert Range("amount", 10, 20) != Range("amount", 10, 20, high_inclusive=True)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Compare("amount", "~", 1),
        lambda: Compare("amount", "=", None),
        lambda: Compare("amount", "=", float("nan")),
        lambda: Compare("", "=", 1),
        lambda: InSet("region", ()),
        lambda: InSet("region", ("a", None)),
        lambda: Range("amount", None, None),
        lambda: RowIds(((5, 5),)),
        lambda: And((Compare("amount", ">", 1),)),
        lambda: Compare("amount", "=", [1, 2]),
    ],
)
def test_malformed_nodes_are_refused(build):
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    "mode, expected",
    [
        (EditMode.REPLACE, lambda cur, new: new),
        (EditMode.AND, lambda cur, new: And((cur, new))),
        (EditMode.OR, lambda cur, new: Or((cur, new))),
        ("and_not", lambda cur, new: And((cur, Not(new)))),
    ],
)
def test_edit_modes(mode, expected):
    current, new = Compare("region", "=", "EU"), Range("amount", 0, 10)
    assert combine(current, new, mode) == expected(current, new)
    assert combine(Everything, new, EditMode.AND) == new


def test_narrowing_replaces_the_condition_on_the_same_column_and_keeps_the_rest():
    region, early, late = Compare("region", "=", "EU"), Range("amount", 0, 10), Range("amount", 50, 60)
    assert combine(region & early, late, EditMode.NARROW) == And((region, late))
    assert combine(region, late, "narrow") == And((region, late))
    assert combine(Everything, late, EditMode.NARROW) == late
    assert combine(early, late, EditMode.NARROW) == late


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred, text",
    [
        (Compare("region", "=", "EU-West") & Compare("amount", ">", 500), "region = 'EU-West' AND amount > 500"),
        (InSet("merchant_category", ("electronics", "travel")), "merchant_category IN ('electronics', 'travel')"),
        (Range("amount", 10, 20, True, True), "amount BETWEEN 10 AND 20"),
        (Range("amount", 10, 20), "amount >= 10 AND amount < 20"),
        (Range("amount", None, 2.5, high_inclusive=True), "amount <= 2.5"),
        (IsNull("merchant_risk"), "merchant_risk IS NULL"),
        (IsNull("merchant_risk", negated=True), "merchant_risk IS NOT NULL"),
        (Compare("timestamp", ">=", dt.datetime(2026, 10, 14, 2)), "timestamp >= '2026-10-14 02:00:00'"),
        (Compare("my col", "=", 1), '"my col" = 1'),
        (Compare('say "hi"', "=", "O'Brien"), "\"say \"\"hi\"\"\" = 'O''Brien'"),
        (Compare("rows", "=", True), '"rows" = TRUE'),
        (Compare("a", "=", 1) & (Compare("b", "=", 2) | Compare("c", "=", 3)), "a = 1 AND (b = 2 OR c = 3)"),
        (Compare("a", "=", 1) & Compare("b", "=", 2) | Compare("c", "=", 3), "a = 1 AND b = 2 OR c = 3"),
        (~(Compare("a", "=", 1) | IsNull("b")), "NOT (a = 1 OR b IS NULL)"),
        (~Compare("a", "=", 1) & ~Range("x", 1, 2), "NOT a = 1 AND NOT (x >= 1 AND x < 2)"),
        (RowIds(((0, 10), (20, 30))), "ROWS 0:10, 20:30"),
        (Everything, "TRUE"),
    ],
)
def test_text(pred, text):
    assert to_text(pred) == text


# --- JSON -----------------------------------------------------------------------------------


def test_json_round_trip_of_random_slices():
    for i, pred in enumerate(random_predicates(seed=5, count=200)):
        saved = Slice(pred, name=f"slice {i}", notes="found on call").to_json()
        assert Slice.from_json(saved) == Slice(pred, name=f"slice {i}")
        assert Slice.from_json(saved).notes == "found on call"


def test_json_document_is_tagged_and_versioned():
    when = dt.datetime(2026, 10, 14, 2, 0, tzinfo=dt.timezone.utc)
    saved = Slice(Compare("ts", ">=", when) & InSet("day", (dt.date(2026, 10, 14),)), "night").to_json()
    document = json.loads(saved)
    assert document["schema_version"] == 1
    assert document["predicate"]["kind"] == "and"
    assert document["predicate"]["parts"][0]["value"] == {"timestamp": "2026-10-14T02:00:00+00:00"}
    assert document["predicate"]["parts"][1]["values"] == [{"date": "2026-10-14"}]
    assert "analysis" not in saved and "Compare" not in saved
    assert Slice.from_json(saved).predicate.parts[0].value == when


def test_slice_equality_ignores_notes_but_not_name():
    pred = Compare("region", "=", "EU")
    assert Slice(pred, "eu", "a") == Slice(pred, "eu", "b")
    assert hash(Slice(pred, "eu", "a")) == hash(Slice(pred, "eu", "b"))
    assert Slice(pred, "eu") != Slice(pred, "europe")


def valid_document():
    return Slice(Compare("region", "=", "EU") | ~IsNull("amount"), "eu").to_dict()


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda d: d["predicate"]["parts"][0].update(kind="python_object"), "unknown slice kind 'python_object'"),
        (lambda d: d["predicate"]["parts"][0].pop("column"), "predicate.parts[0]: a 'compare' node needs 'column'"),
        (lambda d: d["predicate"]["parts"][0].update(op="LIKE"), "unknown comparison"),
        (lambda d: d["predicate"]["parts"][0].update(value={"when": "now"}), "tagged value"),
        (lambda d: d["predicate"]["parts"][1]["part"].update(negated="yes"), "'negated' must be true or false"),
        (lambda d: d["predicate"].update(parts="all"), "'parts' must be a list"),
        (lambda d: d.update(schema_version=99), "newer Sleuth"),
        (lambda d: d.pop("schema_version"), "schema_version"),
        (lambda d: d.pop("predicate"), "no 'predicate'"),
    ],
)
def test_malformed_json_gives_a_schema_error(mangle, message):
    document = valid_document()
    mangle(document)
    with pytest.raises(SchemaError, match=re.escape(message)):
        Slice.from_json(json.dumps(document))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "null", "[" * 100_000 + "]" * 100_000])
def test_text_that_is_not_a_slice_document_gives_a_schema_error(text):
    with pytest.raises(SchemaError):
        Slice.from_json(text)


def test_deeply_nested_json_is_refused():
    node = predicate_to_dict(Compare("a", "=", 1))
    for _ in range(500):
        node = {"kind": "not", "part": node}
    with pytest.raises(SchemaError, match="nested more than"):
        predicate_from_dict(node)


def test_older_documents_are_lifted_through_the_upgrade_chain(monkeypatch):
    import analysis.slices as slices

    def rename_column_key(document):
        document["predicate"]["column"] = document["predicate"].pop("field")
        return document

    monkeypatch.setattr(slices, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(UPGRADES, 1, rename_column_key)
    old = {"schema_version": 1, "name": "eu", "predicate": {"kind": "is_null", "field": "region"}}
    assert Slice.from_dict(old) == Slice(IsNull("region"), "eu")
