"""The truth every capture test writes in a vendor's shape and expects back, row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.query import ROW_ID

FEATURES = ["age", "income", "city"]


@pytest.fixture
def truth() -> pd.DataFrame:
    """Twelve predictions: an id, a time, two numeric and one text feature, a probability."""
    rng = np.random.default_rng(18)
    rows = 12
    return pd.DataFrame({
        "request_id": [f"req-{i:03d}" for i in range(rows)],
        "timestamp": pd.date_range("2026-11-22 08:00", periods=rows, freq="7min", tz="UTC"),
        "age": rng.integers(18, 80, rows),
        "income": rng.normal(50_000, 9_000, rows).round(2),
        "city": rng.choice(["Oslo", "Lima", "Pune"], rows),
        "score": rng.uniform(0.01, 0.99, rows).round(4),
    })


def load(store, paths):
    """Load ``paths`` as the window and the CLI do; return (loaded log, its rows as a frame)."""
    loaded = load_log(store, [str(p) for p in paths] if isinstance(paths, list) else [str(paths)], check=False)
    frame = store.df(f'SELECT * EXCLUDE ("{ROW_ID}") FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    return loaded, frame


def skipped_lines(loaded) -> list[int]:
    return [s.line for s in loaded.dataset.report.skipped]
