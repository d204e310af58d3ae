"""Benchmark of slice discovery; run on demand: ``python tests/bench/bench_discovery.py``.

(a) 20k rows x 10 five-valued features, up to 3 predicates: Sleuth's ``find_slices`` against
    the ``sliceline`` package on the same codes and errors (time, peak memory, overlap of the
    top 10).
(b) Sleuth alone on 1M rows x 20 features at level 3: the numpy search on codes, the same with
    pruning nearly disabled (alpha 0.99, 1,000-row support), and ``searched_slices`` end to end
    from a Parquet log (DuckDB binning of numeric and text columns + search).
(c) ``failing_slices`` on the shared 10M-row benchmark log (``common.ensure_log``), 19 features
    and the version column, level 3: the discovery step of ``workstation_100m.py`` (which searches
    the last tenth of a 100M-row log), with the process's CPU time beside its wall time, since
    the machine is shared.

Every measurement runs in a fresh child process that reports its own wall time and peak
resident memory (``ru_maxrss``, which includes the Python interpreter and the data).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

TIME_BUDGET_S = 10.0
WORKSTATION_BUDGET_S = 15.0
"""Issue #17: discovery over 10M rows x 20 features at level 3."""
MEMORY_BUDGET_MB = 2048.0


def planted_codes(n_rows: int, n_features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five-valued features; 10% errors, 60% in a 2-predicate slice, 85% in a 3-predicate one."""
    rng = np.random.default_rng(seed)
    codes = np.empty((n_rows, n_features), dtype=np.uint8)
    for feature in range(n_features):
        codes[:, feature] = rng.integers(0, 5, n_rows, dtype=np.uint8)
    rate = np.full(n_rows, 0.1)
    rate[(codes[:, 0] == 1) & (codes[:, 1] == 2)] = 0.6
    rate[(codes[:, 2] < 2) & (codes[:, 3] < 2) & (codes[:, 4] == 3)] = 0.85
    return codes, (rng.random(n_rows) < rate).astype(np.float64)


def run_sleuth(
    n_rows: int, n_features: int, alpha: float, min_support: int | None
) -> tuple[float, list]:
    from analysis.discovery.sliceline import find_slices

    codes, errors = planted_codes(n_rows, n_features)
    start = time.perf_counter()
    found = find_slices(codes, errors, k=10, max_level=3, alpha=alpha, min_support=min_support)
    seconds = time.perf_counter() - start
    return seconds, [[list(p) for p in s.predicates] for s in found]


def run_sliceline(
    n_rows: int, n_features: int, alpha: float, min_support: int | None
) -> tuple[float, list]:
    from sliceline.slicefinder import Slicefinder

    codes, errors = planted_codes(n_rows, n_features)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = Slicefinder(alpha=alpha, k=10, max_l=3, min_sup=min_support, verbose=False)
        finder.fit(codes.astype(np.int64), errors)
    seconds = time.perf_counter() - start
    slices = [[[j, int(v)] for j, v in enumerate(row) if v is not None] for row in finder.top_slices_]
    return seconds, slices


def run_end_to_end(path: str) -> tuple[float, list]:
    from analysis.dataset import Column
    from analysis.discovery.sliceline import searched_slices
    from analysis.query import ident, literal
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    store.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet({literal(path)})")
    columns = [Column(n, t) for n, t in store.rows("SELECT column_name, column_type FROM (DESCRIBE log)")]
    features = [c for c in columns if c.name not in ("label", "prediction")]
    error = f"CASE WHEN {ident('label')} = {ident('prediction')} THEN 0 ELSE 1 END"
    start = time.perf_counter()
    found = searched_slices(store, "log", features, error, k=10, max_level=3).slices
    seconds = time.perf_counter() - start
    return seconds, [s.text for s in found]


def run_on_benchmark_log(path: str) -> tuple[float, list]:
    from dataclasses import replace

    from analysis.data.open_log import load_log
    from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
    from analysis.scope import Scope
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, [path], check=False)
    roles = replace(loaded.roles, features=tuple(loaded.roles.features[:19]))  # + the version column
    start = time.perf_counter()
    found = failing_slices(Scope(store, loaded.dataset, roles), DiscoverySettings())
    seconds = time.perf_counter() - start
    return seconds, [s.text for s in found]


def write_log(path: str, n_rows: int) -> None:
    """A 1M-row log: 10 five-valued integer, 5 numeric and 5 text features, label, prediction."""
    import pandas as pd

    codes, errors = planted_codes(n_rows, 20, seed=1)
    rng = np.random.default_rng(2)
    columns = {f"f{j}": codes[:, j].astype(np.int32) for j in range(10)}
    for j in range(10, 15):
        columns[f"x{j}"] = codes[:, j] * 10.0 + rng.random(n_rows) * 10.0  # quantile bins = codes
    for j in range(15, 20):
        columns[f"s{j}"] = np.array(list("abcde"))[codes[:, j]]
    columns["label"] = rng.integers(0, 2, n_rows)
    columns["prediction"] = np.where(errors == 1, 1 - columns["label"], columns["label"])
    pd.DataFrame(columns).to_parquet(path)


def child(args: list[str]) -> None:
    kind = args[0]
    if kind == "sleuth":
        seconds, slices = run_sleuth(int(args[1]), int(args[2]), float(args[3]), _support(args[4]))
    elif kind == "sliceline":
        seconds, slices = run_sliceline(int(args[1]), int(args[2]), float(args[3]), _support(args[4]))
    elif kind == "benchmark_log":
        seconds, slices = run_on_benchmark_log(args[1])
    else:
        seconds, slices = run_end_to_end(args[1])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "slices": slices,
                      "cpu_s": usage.ru_utime + usage.ru_stime, "load": os.getloadavg()[0]}))


def _support(text: str) -> int | None:
    return None if text == "default" else int(text)


def measure(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(name: str, result: dict, note: str = "") -> None:
    if "error" in result:
        print(f"| {name:<46} | {'failed':>9} | {'':>10} | {result['error']} |")
        return
    print(f"| {name:<46} | {result['seconds']:>8.2f}s | {result['peak_mb']:>7.0f} MB | {note} |")


def within_budget(result: dict) -> str:
    if "error" in result:
        return "failed"
    ok = result["seconds"] < TIME_BUDGET_S and result["peak_mb"] < MEMORY_BUDGET_MB
    return "within budget" if ok else "OVER BUDGET"


def main() -> None:
    print("| run | time | peak memory | note |")
    print("|---|---:|---:|---|")
    default_support = str(max(32, 20_000 // 100))
    ours = measure("sleuth", "20000", "10", "0.95", default_support)
    theirs = measure("sliceline", "20000", "10", "0.95", default_support)
    overlap = ""
    if "error" not in ours and "error" not in theirs:
        shared = {json.dumps(s) for s in ours["slices"]} & {json.dumps(s) for s in theirs["slices"]}
        overlap = f"top-10 overlap {len(shared)}/{len(ours['slices'])}"
    row("(a) Sleuth find_slices, 20k x 10, level 3", ours, overlap)
    row("(a) sliceline 0.3.0, 20k x 10, level 3", theirs, "same codes, errors, alpha, min_sup")

    big = measure("sleuth", "1000000", "20", "0.95", "default")
    row("(b) Sleuth find_slices, 1M x 20, level 3", big, within_budget(big))
    worst = measure("sleuth", "1000000", "20", "0.99", "1000")
    row("(b) same, alpha 0.99, min_support 1000", worst, "little pruning; " + within_budget(worst))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "log.parquet")
        write_log(path, 1_000_000)
        end_to_end = measure("end_to_end", path)
    top = " | ".join(end_to_end.get("slices", ["-"])[:2])
    row("(b) searched_slices from Parquet, 1M x 20", end_to_end, f"{within_budget(end_to_end)}; top: {top}")

    from common import ensure_log

    ten_million = measure("benchmark_log", str(ensure_log()))
    note = "" if "error" in ten_million else (
        f"whole process CPU {ten_million['cpu_s']:.1f} s, load {ten_million['load']:.1f}; "
        f"{'within' if ten_million['seconds'] < WORKSTATION_BUDGET_S else 'OVER'} the 15 s budget; "
        f"top: {' | '.join(ten_million['slices'][:2])}")
    row("(c) failing_slices, 10M-row log, 20 columns", ten_million, note)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
