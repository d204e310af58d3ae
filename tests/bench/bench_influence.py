"""Influence on 100k training rows x 30 features: one-time preparation and per-query time.

Budget (DESIGN.md): the top-20 influential training rows of one prediction in < 1 s, after a
one-time preparation of < 10 s. The alternative a user has without Sleuth is brute-force
leave-one-out: retrain once per training row; its cost is estimated as one timed retrain x n.

Each method runs in a fresh child process (``--child METHOD``), so peak memory (``ru_maxrss``,
model fit included) is its own. Run: ``.venv/bin/python tests/bench/bench_influence.py``, or name
the methods to run only those (``... bench_influence.py xgboost``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROWS, FEATURES, QUERIES = 100_000, 30, 20
METHODS = ("linear", "boosting", "forest", "lightgbm", "xgboost", "neighbours")
ROOT = Path(__file__).resolve().parents[2]


def _data():
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(ROWS + QUERIES, FEATURES, n_informative=12, flip_y=0.05, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(FEATURES)])
    return X.iloc[:ROWS], y[:ROWS], X.iloc[ROWS:], y[ROWS:], np


def _estimator(method: str):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if method == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    if method == "boosting":
        return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
    if method == "forest":
        return RandomForestClassifier(n_estimators=50, min_samples_leaf=5, n_jobs=2, random_state=0)
    if method == "lightgbm":
        import lightgbm

        return lightgbm.LGBMClassifier(n_estimators=100, verbose=-1, random_state=0)
    if method == "xgboost":
        import xgboost

        return xgboost.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=2, random_state=0)
    return KNeighborsClassifier()


def child(method: str) -> dict:
    from analysis.trace.influence import influence_for_row, prepare_influence
    from analysis.trace.model_files import describe_model

    X, y, X_query, y_query, np = _data()
    start = time.perf_counter()
    model = describe_model(_estimator(method).fit(X, y))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    prep = prepare_influence(model, X, y)
    prepare_s = time.perf_counter() - start
    times = []
    for i in range(QUERIES):
        start = time.perf_counter()
        influence_for_row(prep, X_query.iloc[[i]], y_query[i], k=20)
        times.append(time.perf_counter() - start)
    return {
        "method": prep.method,
        "prepare_s": prepare_s,
        "query_median_s": float(np.median(times)),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "one_retrain_s": fit_s,
        "loo_estimate_h": fit_s * ROWS / 3600,
    }


def main(methods: tuple[str, ...] = METHODS) -> None:
    rows = []
    for method in methods:
        done = subprocess.run([sys.executable, __file__, "--child", method], cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{method}: failed\n{done.stderr[-2000:]}")
            continue
        rows.append({"model": method, **json.loads(done.stdout.strip().splitlines()[-1])})
    print(f"{ROWS:,} training rows x {FEATURES} features, median of {QUERIES} queries (top-20)\n")
    print("| model | method | preparation s | per query s | peak MB | one retrain s | brute-force LOO (h) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['method']} | {r['prepare_s']:.2f} | {r['query_median_s']:.3f} | {r['peak_mb']:.0f} "
              f"| {r['one_retrain_s']:.2f} | {r['loo_estimate_h']:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(sys.argv[2])))
    else:
        main(tuple(sys.argv[1:]) or METHODS)
