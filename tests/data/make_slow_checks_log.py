"""A log whose log checks take a while: for tests that stop them mid-statement.

Two million rows with string request ids (the duplicate-id scan casts and groups them all) and
scores that are mostly logits (the score scan lists the row ids of two thirds of the rows), so
each scan of :func:`analysis.data.log_sanity.check_log` runs for some tenths of a second on one
DuckDB thread: long enough to cancel while it runs. Generated, never committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS = 2_000_000


def write_slow_checks_log(path: Path, rows: int = ROWS, seed: int = 0) -> Path:
    """Write the log to ``path`` (Parquet) and return it; a second or so of CPU."""
    rng = np.random.default_rng(seed)
    pq.write_table(pa.table({
        "request_id": np.char.add("req-", np.arange(rows).astype(str)),
        "score": rng.normal(0.0, 3.0, rows),
        "label": rng.integers(0, 2, rows),
    }), path)
    return path
