"""Open the same 1M rows as a Parquet file, a Delta table and an Iceberg table; print the times.

A quick check of issue 18's requirement that a lakehouse table opens within 1.5x of the same
rows in Parquet (DESIGN's budgets are measured by the bench_*.py scripts; this one is a plain
script, run by hand): ``.venv/bin/python tests/bench/lakehouse_vs_parquet.py [ROWS]``.
"Open" is what ``sleuth info`` waits for: ``load_log`` (files, probe, view, roles) without checks.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPEATS = 3


def make_rows(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({
        "request_id": [f"r{i}" for i in range(rows)],
        "timestamp": pa.array(np.datetime64("2026-11-01") + rng.integers(0, 30 * 86_400, rows).astype("timedelta64[s]")),
        "model_version": rng.choice(["v1", "v2"], rows),
        "label": rng.integers(0, 2, rows),
        "score": rng.uniform(size=rows),
        **{f"x{k}": rng.normal(size=rows) for k in range(8)},
        "region": rng.choice(["EU", "US", "APAC"], rows),
    })


def open_seconds(spec: str) -> float:
    from analysis.data.open_log import load_log
    from analysis.store import Store

    timings = []
    for _ in range(REPEATS):
        store = Store()
        start = time.perf_counter()
        load_log(store, [spec], check=False)
        timings.append(time.perf_counter() - start)
        store.close()
    return statistics.median(timings)


def main() -> None:
    from deltalake import write_deltalake
    from pyiceberg.catalog.sql import SqlCatalog

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    table = make_rows(rows)
    with tempfile.TemporaryDirectory(prefix="sleuth-lake-") as folder:
        root = Path(folder)
        pq.write_table(table, root / "log.parquet")
        write_deltalake(str(root / "delta"), table)
        catalog = SqlCatalog("bench", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=f"file://{root}")
        catalog.create_namespace("ml")
        catalog.create_table("ml.log", schema=table.schema).append(table)
        parquet = open_seconds(str(root / "log.parquet"))
        for name, spec in (("delta", root / "delta"), ("iceberg", root / "ml" / "log")):
            seconds = open_seconds(str(spec))
            print(f"{rows:,} rows: parquet {parquet:.2f} s, {name} {seconds:.2f} s, ratio {seconds / parquet:.2f}")


if __name__ == "__main__":
    main()
