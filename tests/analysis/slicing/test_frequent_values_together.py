"""Several columns' most frequent values from one statement equal each column's own query:
the same values in the same order (ties by value), the same distinct counts, NULLs left out."""

import numpy as np
import pandas as pd

from analysis.query import Sql
from analysis.slicing.binning import _frequent_values, _frequent_values_of
from analysis.store import Store


def test_frequent_values_of_several_columns_equal_each_columns_own():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "region": rng.choice(["EU", "US", "APAC", None], 5_000, p=[0.4, 0.3, 0.2, 0.1]),
        "hour": rng.integers(0, 24, 5_000),
        "flag": rng.choice([True, False], 5_000),
        "tied": np.repeat(["b", "a", "d", "c"], 1_250),  # four values, equally frequent
        "amount": rng.normal(size=5_000),
    })
    store = Store(threads=1)
    try:
        with store.job_cursor() as cur:
            cur.register("frame", frame)
            cur.execute("CREATE TABLE t AS SELECT * FROM frame")
        names, limits = ["region", "hour", "flag", "tied"], [3, 6, 2, 3]
        for condition in (None, Sql("amount > ?", (0.5,))):
            together = _frequent_values_of(store, "t", names, condition, limits)
            alone = [_frequent_values(store, "t", name, condition, limit) for name, limit in zip(names, limits)]
            assert together == alone
        whole = _frequent_values_of(store, "t", names, None, limits)
        assert whole[3] == (["a", "b", "c"], 4)  # ties by value
        assert whole[0][1] == 3 and None not in whole[0][0]
        counts = frame.loc[frame["amount"] > 0.5, "hour"].value_counts()
        assert together[1][1] == counts.size and together[1][0][0] == counts.idxmax()
    finally:
        store.close()


def test_columns_named_like_the_statements_own_names_are_read_as_columns():
    """A log may call its columns g, n, r or d: the statement's own names never shadow them."""
    frame = pd.DataFrame({"g": ["a", "b", "a", "a"], "n": [1, 1, 2, 3], "r": ["x", "x", "y", "y"], "d": [0, 0, 0, 1]})
    store = Store(threads=1)
    try:
        with store.job_cursor() as cur:
            cur.register("frame", frame)
            cur.execute("CREATE TABLE t AS SELECT * FROM frame")
        names = ["g", "n", "r", "d"]
        together = _frequent_values_of(store, "t", names, None, [2, 2, 2, 2])
        assert together == [_frequent_values(store, "t", name, None, 2) for name in names]
        assert together[0] == (["a", "b"], 2)
    finally:
        store.close()
