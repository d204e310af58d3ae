"""Open the same rows as a Parquet file, a Delta table and an Iceberg table; print the times.

Issue 18 asks that a lakehouse table open within 1.5x of the same rows in Parquet. "Open" is what
``sleuth info`` waits for: ``load_log`` (files, probe, view, roles) without checks. Each run opens
the three in turns (Parquet, Delta, Iceberg, then again), each in a fresh store, so that the load
of this shared machine falls on all three alike; the figures are the median and the min-max over
the runs, as wall time and as CPU time (this process and the probe's child process: less moved by
other people's jobs than wall time). A fourth route opens the Delta table's own Parquet files as a
plain folder glob, to tell the cost of the table's log from the cost of its number of files.

``.venv/bin/python tests/bench/lakehouse_vs_parquet.py [--rows N] [--repeats R] [--folder DIR]``
(``--folder`` keeps the written tables there and reuses them on the next run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def make_rows(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({
        "request_id": pc.binary_join_element_wise("r", pa.array(np.arange(rows)).cast(pa.string()), ""),
        "timestamp": pa.array(np.datetime64("2026-11-01") + rng.integers(0, 30 * 86_400, rows).astype("timedelta64[s]")),
        "model_version": rng.choice(["v1", "v2"], rows),
        "label": rng.integers(0, 2, rows),
        "score": rng.uniform(size=rows),
        **{f"x{k}": rng.normal(size=rows) for k in range(8)},
        "region": rng.choice(["EU", "US", "APAC"], rows),
    })


def open_once(spec: str) -> tuple[float, float]:
    """Wall and CPU seconds (own and waited-for children's) of one ``load_log`` in a fresh store."""
    from analysis.data.open_log import load_log
    from analysis.store import Store

    store = Store()
    before, start = os.times(), time.perf_counter()
    load_log(store, [spec], check=False)
    wall, after = time.perf_counter() - start, os.times()
    store.close()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return wall, cpu


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f} s)"


def write_tables(rows: int, root: Path) -> dict[str, Path]:
    from deltalake import write_deltalake
    from pyiceberg.catalog.sql import SqlCatalog

    specs = {"parquet": root / "log.parquet", "delta": root / "delta", "iceberg": root / "ml" / "log",
             "delta's files as Parquet": root / "delta" / "*.parquet"}
    if (root / "catalog.db").exists():
        return specs
    table = make_rows(rows)
    pq.write_table(table, root / "log.parquet")
    write_deltalake(str(root / "delta"), table)
    catalog = SqlCatalog("bench", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=f"file://{root}")
    catalog.create_namespace("ml")
    catalog.create_table("ml.log", schema=table.schema).append(table)
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="write the tables here, or reuse them when already there")
    args = parser.parse_args()
    if args.folder:
        args.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sleuth-lake-") as scratch:
        specs = write_tables(args.rows, args.folder or Path(scratch))
        walls: dict[str, list[float]] = {kind: [] for kind in specs}
        cpus: dict[str, list[float]] = {kind: [] for kind in specs}
        for run in range(args.repeats):
            for kind, spec in specs.items():
                wall, cpu = open_once(str(spec))
                walls[kind].append(wall)
                cpus[kind].append(cpu)
                print(f"run {run + 1} {kind}: {wall:.2f} s wall, {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f})",
                      flush=True)
        base = statistics.median(walls["parquet"])
        for kind in specs:
            ratio = statistics.median(walls[kind]) / base
            print(f"{args.rows:,} rows, {kind}: {spread(walls[kind])} wall, {spread(cpus[kind])} CPU, "
                  f"{ratio:.2f}x Parquet's wall")


if __name__ == "__main__":
    main()
