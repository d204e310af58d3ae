"""The two fraud models of the demo: a simple old version and a stronger new one.

Both take a pandas frame of the raw logged features (numbers, category names, the boolean
flag) and handle missing values themselves, so Sleuth can re-score logged rows as they are.
scikit-learn is imported inside the functions: importing Sleuth must stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.demo.world import CATEGORICAL_FEATURES, FLAG_FEATURES, NUMERIC_FEATURES

OLD_VERSION = "fraud-lr-2026.09"
NEW_VERSION = "fraud-gbm-2026.10"
VERSIONS = (OLD_VERSION, NEW_VERSION)

VERSION_CARDS = {
    OLD_VERSION: {
        "kind": "logistic_regression",
        "description": "The incumbent: logistic regression on scaled numbers (median-imputed) "
        "and one-hot categories; serves all traffic until the canary.",
    },
    NEW_VERSION: {
        "kind": "hist_gradient_boosting",
        "description": "The challenger: gradient-boosted trees with native categorical and "
        "missing-value handling; shadows most traffic from day 8, canary-only traffic from day 22.",
    },
}


def _linear_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         list(NUMERIC_FEATURES)),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         list(CATEGORICAL_FEATURES)),
        ("flags", "passthrough", list(FLAG_FEATURES)),
    ])
    return Pipeline([("features", features), ("classifier", LogisticRegression(max_iter=1000))])


def _boosted_model(seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    # Categories unseen in training become missing, which the trees route like any NaN.
    codes = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    features = ColumnTransformer([
        ("categorical", codes, list(CATEGORICAL_FEATURES)),
        ("rest", "passthrough", list(NUMERIC_FEATURES + FLAG_FEATURES)),
    ])
    is_categorical = [True] * len(CATEGORICAL_FEATURES) + [False] * (
        len(NUMERIC_FEATURES) + len(FLAG_FEATURES)
    )
    trees = HistGradientBoostingClassifier(
        max_iter=100,
        max_leaf_nodes=15,
        learning_rate=0.15,
        early_stopping=False,
        categorical_features=is_categorical,
        random_state=seed,
    )
    return Pipeline([("features", features), ("classifier", trees)])


def train_models(
    features: pd.DataFrame, labels: np.ndarray, new_model_rows: np.ndarray, seed: int
) -> dict[str, Any]:
    """Fit both versions; the new one only on the rows ``new_model_rows`` selects.

    The fits run on one thread: 50k rows gain little from more, and OpenMP's spinning
    worker threads make a fit many times slower when the other cores are busy.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        old = _linear_model().fit(features, labels)
        new = _boosted_model(seed).fit(features[new_model_rows], labels[new_model_rows])
    return {OLD_VERSION: old, NEW_VERSION: new}


def fraud_scores(model: Any, features: pd.DataFrame) -> np.ndarray:
    """P(fraud) for each row (an empty array for an empty frame)."""
    if len(features) == 0:
        return np.empty(0)
    return model.predict_proba(features)[:, 1]


def save_models(models: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write each model as ``<version>.skops``: a format that loads without running code."""
    import skops.io

    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for version, model in models.items():
        path = directory / f"{version}.skops"
        skops.io.dump(model, path)
        paths[version] = path
    return paths
