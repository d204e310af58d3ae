"""Spark's exact quantiles by rank selection give DuckDB's ``quantile_cont`` to the last bit.

The selection's SQL is the Spark form's (a sketch's bracket ends, then exact counts and the
values inside), run here on DuckDB behind a store that says it is Spark: DuckDB's own
``approx_quantile`` (a t-digest, with no bound on its rank error) brackets differently from
Spark's ``percentile_approx`` (whose error is at most ``n / accuracy`` ranks), so here the
brackets are widened until DuckDB's sketch holds the ranks too: that moves the brackets, never
the answer. tests/spark checks the same on a real Spark server."""

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

import analysis.engine.exact_quantiles as exact
from analysis.engine.exact_quantiles import Bracket, exact_quantiles, select_quantile
from analysis.query import Sql
from analysis.store import Store

FRACTIONS = [0.0, 0.01, 0.1, 1 / 3, 0.5, 2 / 3, 0.9, 0.99, 1.0]
FINITE = "CASE WHEN isfinite(x) THEN x END"


class SparkLike:
    """A DuckDB store that takes the Spark path of :func:`exact_quantiles`, counting statements."""

    engine = "spark"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.statements: list[str] = []

    def rows(self, sql, cancel=None):
        self.statements.append(sql.text if isinstance(sql, Sql) else sql)
        return self.store.rows(sql)


@pytest.fixture(autouse=True)
def wide_brackets(monkeypatch):
    """Brackets DuckDB's t-digest holds the ranks in (its rank error exceeds Spark's bound)."""
    monkeypatch.setattr(exact, "BRACKET_SHARE", 0.02)


@pytest.fixture
def store():
    store = Store(memory_limit="1GB")
    yield store
    store.close()


def load(store: Store, frame: pd.DataFrame) -> None:
    """The frame as DuckDB table ``t``."""
    cursor = store.cursor()
    cursor.register("frame", frame)
    cursor.execute("CREATE TABLE t AS SELECT * FROM frame")
    cursor.close()


def duckdb_quantiles(store: Store, view: str, value: str, condition: str = "TRUE") -> list | None:
    return store.rows(f"SELECT quantile_cont({value}, {FRACTIONS!r}) FROM {view} WHERE {condition}")[0][0]


def frames() -> dict[str, pd.DataFrame]:
    """Columns with ties, NULLs, NaN and infinities, integers, a constant, one value, none."""
    rng = np.random.default_rng(11)
    rows = 30_000
    skewed = rng.lognormal(0, 2, rows)
    skewed[rng.random(rows) < 0.05] = np.nan
    skewed[rng.random(rows) < 0.01] = np.inf
    skewed[rng.random(rows) < 0.01] = -np.inf
    tied = rng.choice([0.0, 1.0, 2.5, 7.0], rows, p=[0.7, 0.1, 0.1, 0.1])
    return {
        "skewed": pd.DataFrame({"x": skewed, "g": rng.integers(0, 3, rows)}),
        "tied": pd.DataFrame({"x": tied, "g": rng.integers(0, 3, rows)}),
        "integers": pd.DataFrame({"x": pd.array(rng.integers(-50, 50, rows), dtype="Int64"), "g": 0}),
        "constant": pd.DataFrame({"x": np.full(500, 4.25), "g": 0}),
        "one": pd.DataFrame({"x": [np.nan, 3.5, None], "g": 0}),
        "none": pd.DataFrame({"x": [np.nan, np.inf, None], "g": 0}),
        "empty": pd.DataFrame({"x": pd.Series([], dtype=float), "g": pd.Series([], dtype=int)}),
    }


@pytest.mark.parametrize("name", list(frames()))
def test_selection_equals_duckdb_to_the_last_bit(store, name):
    load(store, frames()[name])
    value = FINITE if name not in ("integers",) else "x"
    spark = SparkLike(store)
    for condition in (None, Sql("g = 1")):
        found = exact_quantiles(spark, "t", [value, value], FRACTIONS, condition)
        expected = duckdb_quantiles(store, "t", value, condition.text if condition else "TRUE")
        assert found == [expected, expected]
        assert all(q is None or isinstance(q, float) for q in found[0] or [])
    assert not any("quantile_cont" in text for text in spark.statements)  # selected, no fallback


def test_selection_reads_the_bracket_not_the_exact_form(store):
    """Two statements, neither with ``quantile_cont``: the exact form is only the fallback."""
    load(store, frames()["skewed"])
    spark = SparkLike(store)
    exact_quantiles(spark, "t", [FINITE], FRACTIONS, None)
    assert len(spark.statements) == 2
    assert not any("quantile_cont" in text for text in spark.statements)


def test_a_bracket_too_full_falls_back_to_the_exact_form(store, monkeypatch):
    """A middle of more values than the cap sends the column to the exact form: same answer."""
    monkeypatch.setattr(exact, "MAX_BRACKET_VALUES", 3)
    load(store, frames()["skewed"])
    spark = SparkLike(store)
    found = exact_quantiles(spark, "t", [FINITE], FRACTIONS, None)
    assert found == [duckdb_quantiles(store, "t", FINITE)]
    assert "quantile_cont" in spark.statements[-1]


def test_a_missed_bracket_falls_back_to_the_exact_form(store, monkeypatch):
    """Brackets read at the wanted fraction itself (no margin) miss some ranks: same answer."""
    monkeypatch.setattr(exact, "BRACKET_SHARE", 0.0)  # after wide_brackets
    load(store, pd.DataFrame({"x": np.random.default_rng(2).normal(size=20_001)}))
    spark = SparkLike(store)
    found = exact_quantiles(spark, "t", ["x"], FRACTIONS, None)
    assert found == [duckdb_quantiles(store, "t", "x")]
    assert "quantile_cont" in spark.statements[-1]


@pytest.mark.parametrize("seed", range(40))
def test_select_quantile_is_duckdbs_on_any_bracket_holding_the_ranks(seed):
    """The pure selection: from any bracket around the ranks (ties at its ends included), the
    value DuckDB gives for the whole column; None where a rank lies outside the bracket."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = sorted(rng.choice(rng.lognormal(0, 3, 8), n).tolist() if seed % 2 else rng.lognormal(0, 3, n).tolist())
    expected = duckdb.connect().execute(f"SELECT quantile_cont(x, {FRACTIONS!r}) FROM "
                          f"(SELECT unnest({values!r}::DOUBLE[]) AS x)").fetchone()[0]
    for fraction, wanted in zip(FRACTIONS, expected):
        low_rank, high_rank = math.floor((n - 1) * fraction), math.ceil((n - 1) * fraction)
        start, stop = int(rng.integers(0, low_rank + 1)), int(rng.integers(high_rank, n))
        low, high = values[start], values[stop]
        below = sum(v < low for v in values)
        bracket = Bracket(below, low, sum(v == low for v in values), tuple(v for v in values if low < v < high),
                          high, sum(v == high for v in values) if high > low else 0)
        assert select_quantile(n, fraction, bracket) == (True, wanted)
        if high_rank + 1 < n and seed % 2 == 0:  # distinct values: a bracket just above the ranks misses
            low = values[high_rank + 1]
            above = Bracket(high_rank + 1, low, 1, tuple(v for v in values if v > low), values[-1], 0)
            assert select_quantile(n, fraction, above) == (False, None)
