"""A two-version log with one planted regression: v1 served October, v2 November; v2 fails
kiosk requests 45% of the time where v1 failed them 10%; web requests fail 10% under both."""

import datetime as dt

import numpy as np
import pandas as pd

ROWS_PER_VERSION = 1500
REGRESSED_SEGMENT = "kiosk"


def write_regressed_log(path) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frames = []
    for version, start, kiosk_error in (("v1", dt.datetime(2026, 10, 1), 0.10), ("v2", dt.datetime(2026, 11, 1), 0.45)):
        segment = rng.choice(["kiosk", "web"], size=ROWS_PER_VERSION)
        label = rng.integers(0, 2, size=ROWS_PER_VERSION)
        wrong = rng.random(ROWS_PER_VERSION) < np.where(segment == REGRESSED_SEGMENT, kiosk_error, 0.10)
        frames.append(pd.DataFrame({
            "request_id": [f"{version}-{i}" for i in range(ROWS_PER_VERSION)],
            "timestamp": [start + dt.timedelta(minutes=20 * i) for i in range(ROWS_PER_VERSION)],
            "model_version": version, "segment": segment,
            "amount": rng.gamma(2.0, 50.0, size=ROWS_PER_VERSION).round(2),
            "label": label, "prediction": np.where(wrong, 1 - label, label)}))
    log = pd.concat(frames, ignore_index=True)
    log.to_parquet(path)
    return log
