"""A label named after its domain is the column the model forecasts, never a look-alike feature."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.open_log import load_log


def shadow_log(label: bool, dominant: bool = False) -> pd.DataFrame:
    """Two versions score the same 3,000 requests. ``churned`` follows the score (a calibrated
    model); ``premium`` is a yes/no feature sharing the prediction's values, which the score
    leans on a little, or (``dominant``) nearly decides."""
    rng = np.random.default_rng(0)
    n = 3000
    premium = rng.random(n) < 0.5
    lean = 0.3 if dominant else 0.05
    score = np.clip(0.4 + np.where(premium, lean, 0.0) + rng.normal(0, 0.15, n), 0.01, 0.99)
    frame = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "premium": np.where(premium, "yes", "no"),
        "tenure": rng.integers(1, 60, n),
        "score": score,
        "prediction": np.where(score >= 0.5, "yes", "no"),
    })
    if label:
        frame["churned"] = np.where(rng.random(n) < score, "yes", "no")
    return pd.concat([frame.assign(model_version="a"), frame.assign(model_version="b")], ignore_index=True)


def roles_of(store, tmp_path, frame: pd.DataFrame):
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    return load_log(store, [str(path)], check=False).roles


def test_the_column_the_score_forecasts_is_the_label(store, tmp_path):
    roles = roles_of(store, tmp_path, shadow_log(label=True))
    assert roles.label == "churned" and "premium" in roles.features


def test_a_feature_sharing_the_predictions_values_is_not_taken_for_a_missing_label(store, tmp_path):
    roles = roles_of(store, tmp_path, shadow_log(label=False))
    assert roles.label is None and "premium" in roles.features


def test_two_forecast_columns_leave_the_choice_to_the_user(store, tmp_path):
    roles = roles_of(store, tmp_path, shadow_log(label=True, dominant=True))
    assert roles.label is None and {"premium", "churned"} <= set(roles.features)
