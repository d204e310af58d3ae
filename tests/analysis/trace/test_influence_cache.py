"""The influence cache serves a preparation only for the files it was made from: the same
snapshot and model give the same preparation, and a version card pointed at other files, a
model retrained or a snapshot re-exported at the same path, or another label named for the
snapshot give a new one whose labels and coefficients are the new files' (scikit-learn's)."""

import os

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from analysis.data.open_log import load_log
from analysis.data.roles import Role
from analysis.trace.tracer import InfluenceCache

FEATURES = ["x1", "x2"]


def _rows(seed, n=300):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    frame["label"] = (frame["x1"] + 0.5 * rng.normal(size=n) > 0).astype(int)
    frame["flipped"] = 1 - frame["label"]
    return frame


def _write_model(frame, path):
    skops.io.dump(LogisticRegression().fit(frame[FEATURES], frame["label"]), path)


def _rewritten_later(path):
    """A rewrite's new modification time even where the clock's tick is coarser than a test."""
    stamp = os.stat(path).st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def files(tmp_path, store):
    """A snapshot, a logistic regression fitted on it and a log with the same columns, opened."""
    snapshot, model, log = tmp_path / "train.parquet", tmp_path / "model.skops", tmp_path / "log.parquet"
    _rows(1).to_parquet(snapshot)
    _write_model(_rows(1), model)
    _rows(2).to_parquet(log)
    return snapshot, model, load_log(store, [str(log)], check=False)


def _prepared(cache, store, snapshot, model, log, roles=None):
    return cache.prepared(store, [str(snapshot)], str(model), False, log, snapshot_roles=roles)


def test_the_same_files_are_prepared_once(files, store):
    snapshot, model, log = files
    cache = InfluenceCache()
    first = _prepared(cache, store, snapshot, model, log)
    assert _prepared(cache, store, snapshot, model, log) is first
    assert InfluenceCache.key([str(snapshot)], str(model)) in cache


def test_a_snapshot_rewritten_in_place_is_prepared_again_from_its_new_rows(files, store):
    snapshot, model, log = files
    cache = InfluenceCache()
    before = _prepared(cache, store, snapshot, model, log)
    relabelled = _rows(1).assign(label=lambda f: f["flipped"])
    relabelled.to_parquet(snapshot)
    _rewritten_later(snapshot)
    after = _prepared(cache, store, snapshot, model, log)
    assert after is not before
    assert after.training.frame["label"].tolist() == relabelled["label"].tolist()
    assert before.training.frame["label"].tolist() == _rows(1)["label"].tolist()


def test_a_model_retrained_in_place_is_prepared_again_from_its_new_coefficients(files, store):
    snapshot, model, log = files
    cache = InfluenceCache()
    before = _prepared(cache, store, snapshot, model, log)
    _write_model(_rows(3), model)
    _rewritten_later(model)
    after = _prepared(cache, store, snapshot, model, log)
    retrained = LogisticRegression().fit(_rows(3)[FEATURES], _rows(3)["label"])
    assert after is not before
    np.testing.assert_allclose(after.model.estimator.coef_, retrained.coef_)


def test_other_files_or_another_label_are_other_preparations(files, store, tmp_path):
    snapshot, model, log = files
    cache = InfluenceCache()
    first = _prepared(cache, store, snapshot, model, log)
    copy = tmp_path / "train-copy.parquet"
    copy.write_bytes(snapshot.read_bytes())
    assert _prepared(cache, store, copy, model, log) is not first
    named = _prepared(cache, store, snapshot, model, log, {Role.LABEL: "flipped"})
    assert named is not first and named.training.label == "flipped"
    assert named.training.frame["flipped"].tolist() == _rows(1)["flipped"].tolist()
