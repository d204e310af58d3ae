"""A log's label read from the model that served it, when no column name says which it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from analysis.data.model_label import AGREEMENT_ALPHA, _kappa_p_value
from analysis.data.open_log import load_log
from analysis.trace.model_files import describe_model
from analysis.trace.snapshot_label import model_columns
from tests.analysis.trace.test_snapshot_label import churn_model, churn_snapshot


def churn_log(seed: int = 1) -> tuple[pd.DataFrame, object]:
    """Requests scored by the churn model, as its service logs them: ``y`` is an input (a screen
    width) that names alone take for the label, ``churned`` the label under its domain name, and
    ``promo_sent`` a 0/1 column the model does not read and that has nothing to do with churn."""
    model = churn_model(churn_snapshot(0))
    frame = churn_snapshot(seed).drop(columns=["source", "signup_ts"])
    rng = np.random.default_rng(seed)
    frame.insert(0, "request_id", [f"r{i}" for i in range(len(frame))])
    frame.insert(1, "ts", pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="h"))
    frame["promo_sent"] = rng.integers(0, 2, len(frame))
    inputs = frame[["plan", "tenure", "y"]]
    frame["score"] = model.predict_proba(inputs)[:, 1]
    frame["prediction"] = model.predict(inputs)
    return frame, model


def loaded_label(store, tmp_path, frame: pd.DataFrame, model) -> tuple[str | None, str | None]:
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    columns = None if model is None else model_columns(describe_model(model))
    loaded = load_log(store, [str(path)], check=False, model=columns)
    return loaded.roles.label, loaded.label_note


def test_the_label_is_the_column_the_model_does_not_read_and_its_score_ranks(store, tmp_path):
    frame, model = churn_log()
    by_name, _ = loaded_label(store, tmp_path, frame, None)
    assert by_name == "y"  # what names alone say, although the model reads y
    label, note = loaded_label(store, tmp_path, frame, model)
    assert label == "churned"
    assert "'churned'" in note and "promo_sent" not in note
    level = AGREEMENT_ALPHA / 2  # two candidates: churned and promo_sent, one version
    ranks = {c: stats.mannwhitneyu(frame["score"][frame[c] == 1], frame["score"][frame[c] == 0],
                                   alternative="greater").pvalue for c in ("churned", "promo_sent")}
    assert ranks["churned"] < level < ranks["promo_sent"], ranks


def test_without_a_score_the_prediction_must_agree_with_it(store, tmp_path):
    frame, model = churn_log(seed=2)
    label, note = loaded_label(store, tmp_path, frame.drop(columns=["score"]), model)
    assert label == "churned" and "promo_sent" not in note
    assert cohen_kappa_score(frame["prediction"], frame["churned"]) > 0.1


def test_two_columns_the_model_agrees_with_are_both_named(store, tmp_path):
    frame, model = churn_log(seed=3)
    frame["churned_after_review"] = frame["churned"]
    label, note = loaded_label(store, tmp_path, frame, model)
    assert label == "churned" and "also possible: churned_after_review" in note


def test_no_column_the_model_agrees_with_leaves_the_label_unknown(store, tmp_path):
    frame, model = churn_log(seed=4)
    label, note = loaded_label(store, tmp_path, frame.drop(columns=["churned"]), model)
    assert label is None and note is None


@pytest.mark.parametrize("agreement", [0.45, 0.5, 0.55, 0.6])
def test_the_kappa_test_matches_a_permutation_test(agreement):
    """The normal approximation of kappa's null distribution against shuffling one column: with
    both columns' margins fixed, kappa grows with the share of rows that agree, so the
    permutation p-value is the share of shuffles agreeing at least as often."""
    rng = np.random.default_rng(7)
    truth = pd.Series(rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2]))
    prediction = truth.where(rng.uniform(size=300) < agreement - 0.4, pd.Series(rng.choice(["a", "b", "c"], 300)))
    observed = (prediction == truth).mean()
    shuffled = np.random.default_rng(0).permuted(np.tile(truth.to_numpy(), (5000, 1)), axis=1)
    permutation = (1 + np.sum((shuffled == prediction.to_numpy()).mean(axis=1) >= observed)) / (1 + len(shuffled))
    assert _kappa_p_value(prediction, truth, None) == pytest.approx(permutation, abs=0.02 + 0.2 * permutation)
