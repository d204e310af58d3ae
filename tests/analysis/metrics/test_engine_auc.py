"""ROC AUC from a histogram the engine counts: DuckDB's AUC, and only the histogram comes back.

The engine variant runs on any store; here on DuckDB, against the client-side pass and
scikit-learn (``tests/spark`` runs it on Spark against DuckDB)."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from analysis.data.time import bucket_named
from analysis.metrics import per_version
from analysis.metrics.per_version import AUC_ERROR_BOUND, metric_over_time, overall_metrics
from analysis.scope import Scope
from analysis.metrics.engine_auc import auc_by_group_on_engine
from tests.analysis.metrics.test_per_version import (BINARY_ROLES, MULTI_ROLES, binary_frame, multiclass_frame,
                                                     register)


class CountingStore:
    """A store that counts the rows its statements bring back, as the client receives them."""

    engine = "counting"

    def __init__(self, store) -> None:
        self._store = store
        self.rows_back = 0

    def numpy(self, sql, cancel=None):
        result = self._store.numpy(sql)
        self.rows_back += len(next(iter(result.values())))
        return result

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_on_engine_gives_the_client_pass_auc_binary_and_multiclass(store):
    frame = binary_frame(n=6000, seed=3)
    frame["score"] = np.clip(frame["score"] + np.random.default_rng(3).normal(0, 1e-3, len(frame)), 0, 1)
    counting = CountingStore(store)
    for data, roles in ((frame, BINARY_ROLES), (multiclass_frame(), MULTI_ROLES)):
        ds = register(store, data, name=f"t{len(data)}")
        local = overall_metrics(Scope(store, ds, roles))
        on_engine = overall_metrics(Scope(counting, ds, roles))
        assert [m.metrics["roc_auc"] for m in on_engine] == [m.metrics["roc_auc"] for m in local]
    for m in overall_metrics(Scope(counting, register(store, frame, "b"), BINARY_ROLES)):
        part = frame[frame["model_version"] == m.version]
        assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(part["label"], part["score"]), abs=AUC_ERROR_BOUND)


def test_ranks_the_bins_its_bound_needs_over_time(store):
    """Scores 1e-9 apart share one bin: the engine reads back only that bin's rows to rank."""
    frame = binary_frame(seed=22)
    rng = np.random.default_rng(22)
    frame["score"] = 0.5 + 1e-9 * np.round(rng.normal(frame["label"], 1.0) * 50)
    ds = register(store, frame)
    got = metric_over_time(Scope(CountingStore(store), ds, BINARY_ROLES), "roc_auc", bucket=bucket_named("1 day"))
    frame["bucket_start"] = frame["ts"].dt.floor("D")
    for (version, day), part in frame.groupby(["model_version", "bucket_start"]):
        value = got[(got["version"] == version) & (got["bucket_start"] == day)]["value"].iloc[0]
        assert value == pytest.approx(skm.roc_auc_score(part["label"], part["score"]), abs=AUC_ERROR_BOUND)


def test_rows_back_do_not_grow_with_the_table(store, monkeypatch):
    """Eight copies of a log have eight times its labelled rows and the same histogram: the
    client pass would stream 8x the rows, the engine's sends the same cells (and the same AUC)."""
    frame = binary_frame(n=4000, seed=5)
    seen = {}
    for copies in (1, 8):
        counting = CountingStore(store)
        ds = register(store, pd.concat([frame] * copies, ignore_index=True), name=f"x{copies}")
        spy = {}

        def engine_pass(*args, _spy=spy):
            _spy["before"] = counting.rows_back
            result = auc_by_group_on_engine(*args)
            _spy["after"] = counting.rows_back
            return result

        monkeypatch.setattr(per_version, "_auc_pass", lambda _store: engine_pass)
        metrics = overall_metrics(Scope(counting, ds, BINARY_ROLES))
        seen[copies] = (spy["after"] - spy["before"], [m.metrics["roc_auc"] for m in metrics])
    cells = frame.assign(cell=np.floor(frame["score"] * per_version.AUC_BINS)).groupby(["model_version", "cell"]).ngroups
    assert seen[1][0] == seen[8][0] == cells < len(frame)
    assert seen[8][1] == pytest.approx(seen[1][1], abs=1e-12)
