"""Benchmark of the failure queue; run on demand: ``python tests/bench/bench_queue.py``.

DESIGN.md's budget for the review meeting: with 100k queued failures in 500 groups, the agenda
(every group with its item and failure counts, by impact) < 1 s; grouping < 10 s.

(a) grouping: intake of a log with ``--failures`` failed predictions (10% of its rows, with
    planted weak segments) into an empty workspace: failures read, slice discovery per
    version, the Fisher-tested choice of groups, assignment and the items written;
(b) agenda: ``FailureQueue.agenda()`` on a workspace holding ``--failures`` items in
    ``--groups`` groups, and meeting mode's screens (``agenda_screens``: the agenda plus each
    group's capped sample of examples), which is what opening meeting mode waits for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from analysis.data.open_log import load_log  # noqa: E402
from analysis.queue.failure_queue import FailureQueue  # noqa: E402
from analysis.queue.intake import intake_log  # noqa: E402
from analysis.queue.meeting import agenda_screens  # noqa: E402
from analysis.scope import Scope
from analysis.store import Store  # noqa: E402
from analysis.workspace.workspace_file import Workspace  # noqa: E402

GROUPING_BUDGET_S = 10.0
AGENDA_BUDGET_S = 1.0


def planted_log(path: Path, failures: int, seed: int = 0) -> Path:
    """A binary log with ``failures`` errors among 10x as many rows; two segments fail 5x more."""
    rows = failures * 10
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "request_id": np.arange(rows).astype(str),
        "timestamp": pd.Timestamp("2026-10-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, rows), unit="s"),
        "model_version": rng.choice(["v1", "v2"], rows),
        "segment": rng.choice([f"s{i}" for i in range(20)], rows),
        "channel": rng.choice(["web", "app", "kiosk", "phone"], rows),
        "amount": rng.gamma(2.0, 50.0, rows).round(2),
        "age_days": rng.integers(0, 2000, rows),
        "label": rng.integers(0, 2, rows),
    })
    weak = (frame["segment"] == "s3") | (frame["channel"] == "kiosk") & (frame["amount"] > 150)
    wrong = rng.random(rows) < np.where(weak, 0.35, 0.07)
    frame["prediction"] = np.where(wrong, 1 - frame["label"], frame["label"])
    frame["score"] = np.where(frame["prediction"] == 1, 0.8, 0.2)
    frame.to_parquet(path)
    return path


def bench_grouping(folder: Path, failures: int) -> float:
    log = planted_log(folder / "log.parquet", failures)
    store = Store()
    loaded = load_log(store, [str(log)], check=False)
    workspace = Workspace.open(folder / "grouping.sleuth")
    queue = FailureQueue(workspace)
    started = time.perf_counter()
    result = intake_log(queue, Scope(store, loaded.dataset, loaded.roles))
    elapsed = time.perf_counter() - started
    print(f"grouping: {result.added:,} failures into {len(set(result.groups))} groups in {elapsed:.2f} s "
          f"(budget {GROUPING_BUDGET_S:.0f} s)")
    workspace.close()
    store.close()
    return elapsed


def bench_agenda(folder: Path, failures: int, groups: int) -> float:
    workspace = Workspace.open(folder / "agenda.sleuth")
    queue = FailureQueue(workspace)
    rng = np.random.default_rng(1)
    with queue.edit():
        ids = [queue.new_group(f"slice:v1:g{i}", "slice", f"group {i}", "log", "v1", None, {}) for i in range(groups)]
        owner = rng.choice(ids, failures)
        queue.insert_items(pd.DataFrame({
            "item_key": [f"{i}@v1" for i in range(failures)], "dataset": "log",
            "row_key": np.arange(failures).astype(str), "row_number": np.arange(failures), "version": "v1",
            "label": "1", "prediction": "0", "loss": rng.random(failures),
            "observed_at": dt.datetime(2026, 10, 1), "group_id": owner, "pinned": False, "status": "new",
            "added_at": dt.datetime(2026, 11, 1)}))
        for group_id, count in zip(*np.unique(owner, return_counts=True)):
            queue.add_count(int(group_id), "log", int(count))
    started = time.perf_counter()
    agenda = queue.agenda()
    elapsed = time.perf_counter() - started
    print(f"agenda: {len(agenda)} groups of {failures:,} items in {elapsed:.3f} s (budget {AGENDA_BUDGET_S:.0f} s)")
    started = time.perf_counter()
    screens = agenda_screens(queue)
    meeting = time.perf_counter() - started
    print(f"meeting agenda: {len(screens):,} screens in {meeting:.3f} s (budget {AGENDA_BUDGET_S:.0f} s)")
    workspace.close()
    return max(elapsed, meeting)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-queue-") as folder:
        grouping = bench_grouping(Path(folder), args.failures)
        agenda = bench_agenda(Path(folder), args.failures, args.groups)
    return 0 if grouping < GROUPING_BUDGET_S and agenda < AGENDA_BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
