"""Benchmark: error rate by one binned numeric feature on a 10M-row log (budget < 0.5 s).

Run: ``.venv/bin/python tests/bench/bench_breakdown.py [/tmp/big.parquet] [feature]``.
Prints the best of 5 runs of ``bin_column`` and of ``breakdown`` (with the binning given),
their sum, and the process's peak resident memory.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.slicing.binning import bin_column  # noqa: E402
from analysis.slicing.breakdown import breakdown  # noqa: E402
from analysis.data.loading import open_dataset  # noqa: E402
from analysis.data.roles import detect_roles, profile_columns  # noqa: E402
from analysis.scope import Scope
from analysis.store import Store  # noqa: E402

BUDGET_SECONDS = 0.5
RUNS = 5


def best_of(runs: int, work):
    """The fastest of ``runs`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(path: str = "/tmp/big.parquet", feature: str = "f0") -> None:
    store = Store()
    dataset = open_dataset(store, path)
    roles = detect_roles(profile_columns(store, dataset))
    bin_time, binning = best_of(RUNS, lambda: bin_column(store, dataset, feature))
    breakdown_time, result = best_of(RUNS, lambda: breakdown(Scope(store, dataset, roles), feature, binning=binning))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = bin_time + breakdown_time
    print(f"rows: {dataset.row_count:,}  feature: {feature}  groups: {len(result.frame)}  metric: {result.metric}")
    print(f"{'step':<24}{'best of 5 (s)':>14}")
    print(f"{'bin_column':<24}{bin_time:>14.3f}")
    print(f"{'breakdown':<24}{breakdown_time:>14.3f}")
    print(f"{'total':<24}{total:>14.3f}   budget {BUDGET_SECONDS:.1f} s: {'OK' if total < BUDGET_SECONDS else 'OVER'}")
    print(f"{'peak memory (MB)':<24}{peak_mb:>14.0f}")
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
