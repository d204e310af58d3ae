"""Open the same rows as a Parquet file, a Delta table and an Iceberg table; print the times.

Issue 18 asks that a lakehouse table open within 1.5x of the same rows in Parquet. "Open" is what
``sleuth info`` waits for: ``load_log`` (files, probe, view, roles) without checks. Each run opens
the three in turns (Parquet, Delta, Iceberg, then again), each in a fresh store, so that the load
of this shared machine falls on all three alike; the figures are the median and the min-max over
the runs, as wall time and as CPU time (this process and the probe's child process: less moved by
other people's jobs than wall time). A fourth route opens the Delta table's own Parquet files as a
plain folder glob, to tell the cost of the table's log from the cost of its number of files.

``.venv/bin/python tests/bench/lakehouse_vs_parquet.py [--rows N] [--repeats R] [--folder DIR]``
(``--folder`` keeps the written tables there and reuses them on the next run). With
``--deletion-vectors`` (run with ``PYTHONPATH=.``: it writes the vectors with the tests' helper) it instead compares the Delta table with a copy (hard links) whose every
file lost 1% of its rows to deletion vectors: CPU time of the open, of the table's count and of
one page of the table from the middle, where deleted rows cost a join. With ``--evolved`` it
compares the same three for an Iceberg table renamed (a column, a nested struct field) after half
its rows were written, read by field id, with the same rows in one Parquet file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def with_deletion_vectors(delta: Path) -> Path:
    """A hard-linked copy of ``delta`` with 1% of each file's rows deleted by deletion vectors."""
    from tests.analysis.data.lake_by_hand import delete_with_vector

    copy = delta.parent / "delta_dv"
    if copy.exists():
        return copy
    shutil.copytree(delta, copy, copy_function=os.link)
    log = copy / "_delta_log"
    (log / "00000000000000000000.json").unlink()  # a commit file of its own: the copy gets a new protocol
    first = (delta / "_delta_log" / "00000000000000000000.json").read_text().splitlines()
    upgraded = [json.dumps({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                                         "readerFeatures": ["deletionVectors", "timestampNtz"],
                                         "writerFeatures": ["deletionVectors", "timestampNtz"]}})
                if line.startswith('{"protocol"') else line for line in first]
    (log / "00000000000000000000.json").write_text("\n".join(upgraded) + "\n")
    rng = np.random.default_rng(1)
    adds = [json.loads(line)["add"] for line in first if line.startswith('{"add"')]
    delete_with_vector(copy, {add["path"]: sorted(rng.choice(n, n // 100, replace=False).tolist())
                              for add in adds for n in [json.loads(add["stats"])["numRecords"]]})
    return copy


def cpu_seconds() -> float:
    now = os.times()
    return now.user + now.system + now.children_user + now.children_system


def deleted_rows_cost(delta: Path, repeats: int) -> None:
    """Open, count and a page of the Delta table with and without deleted rows (:func:`open_count_page`)."""
    open_count_page({"delta": delta, "delta, 1% deleted by vectors": with_deletion_vectors(delta)}, repeats)


def evolved_iceberg(rows: int, root: Path) -> dict[str, Path]:
    """The rows as an Iceberg table whose first half was written before ``score`` was renamed
    ``probability`` and the struct field ``context.device`` renamed ``platform`` (files read by
    field id at every depth), and the same rows under the new names as one Parquet file."""
    from pyiceberg.catalog.sql import SqlCatalog

    specs = {"parquet": root / "evolved.parquet", "iceberg, renamed after the first half": root / "ml" / "evolved"}
    if (root / "evolved.db").exists():
        return specs
    rng = np.random.default_rng(2)
    context = pc.make_struct(pa.array(rng.choice(["ios", "android", "web"], rows)),
                             pa.array(rng.choice(["a", "b"], rows)), field_names=["device", "app"])
    table = make_rows(rows).append_column("context", context)
    catalog = SqlCatalog("bench", uri=f"sqlite:///{root / 'evolved.db'}", warehouse=f"file://{root}")
    catalog.create_namespace("ml")
    catalog.create_table("ml.evolved", schema=table.schema).append(table.slice(0, rows // 2))
    with catalog.load_table("ml.evolved").update_schema() as update:
        update.rename_column("score", "probability")
        update.rename_column("context.device", "platform")
    evolved = catalog.load_table("ml.evolved")
    renamed = table.rename_columns(["probability" if n == "score" else n for n in table.column_names])
    renamed = renamed.set_column(renamed.schema.get_field_index("context"), "context", pc.make_struct(
        pc.struct_field(context, "device"), pc.struct_field(context, "app"), field_names=["platform", "app"]))
    evolved.append(renamed.slice(rows // 2).cast(evolved.schema().as_arrow()))
    pq.write_table(renamed, specs["parquet"])
    return specs


def open_count_page(specs: dict[str, Path], repeats: int) -> None:
    """Print the CPU time of open, count and a page at the middle (as the table reads it: the
    window of the whole view, rows 200 from the middle) of each of ``specs``, in turns."""
    from analysis.data.open_log import load_log
    from analysis.store import Store
    from analysis.window import TableSpec, fetch_window, prepare_table

    costs: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in specs}
    for _ in range(repeats):
        for kind, spec in specs.items():
            store = Store()
            start = cpu_seconds()
            dataset = load_log(store, [str(spec)], check=False).dataset
            opened = cpu_seconds()
            window = prepare_table(store, TableSpec(dataset.view, tuple(c.name for c in dataset.columns)))
            counted = cpu_seconds()
            middle = window.row_count // 2
            assert len(fetch_window(store, window, middle, middle + 200)) == 200
            costs[kind].append((opened - start, counted - opened, cpu_seconds() - counted))
            store.close()
    for kind, runs in costs.items():
        open_s, count_s, page_s = ([run[k] for run in runs] for k in range(3))
        print(f"{kind}: open {spread(open_s)}, count {spread(count_s)}, page of 200 {spread(page_s)} (CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="write the tables here, or reuse them when already there")
    parser.add_argument("--deletion-vectors", action="store_true", help="measure what deleted rows cost instead")
    parser.add_argument("--evolved", action="store_true",
                        help="measure an Iceberg table renamed (a column, a nested field) after half its rows instead")
    args = parser.parse_args()
    if args.folder:
        args.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sleuth-lake-") as scratch:
        if args.evolved:
            open_count_page(evolved_iceberg(args.rows, args.folder or Path(scratch)), args.repeats)
            return
        specs = write_tables(args.rows, args.folder or Path(scratch))
        if args.deletion_vectors:
            deleted_rows_cost(specs["delta"], args.repeats)
            return
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
