"""A two-version log with one planted regression: v1 served October, v2 November; v2 fails
kiosk requests 45% of the time where v1 failed them 10%; web requests fail 10% under both."""

import datetime as dt

import numpy as np
import pandas as pd

from analysis.scope import Scope

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


def reviewed_queue(folder, store):
    """The log's failures queued (grouping finds the kiosk slice of v2), each group compared
    with the version before; the kiosk group decided, another decided then undone. Returns
    the log, the queue (its workspace left open for the caller to close) and the kiosk group."""
    from analysis.data.open_log import load_log
    from analysis.queue.edits import apply, decide, revert
    from analysis.queue.failure_queue import FailureQueue
    from analysis.queue.group_evidence import attach_version_evidence
    from analysis.queue.intake import intake_log
    from analysis.workspace.workspace_file import Workspace

    log = write_regressed_log(folder / "log.parquet")
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    queue = FailureQueue(Workspace.open(folder / "w.sleuth"), user="ana")
    result = intake_log(queue, Scope(store, loaded.dataset, loaded.roles))
    attach_version_evidence(queue, Scope(store, loaded.dataset, loaded.roles), result.groups)
    kiosk = next(g for g in queue.groups() if g.reason == "slice" and g.version == "v2")
    other = next(g for g in queue.groups() if g.id != kiosk.id)
    apply(queue, decide(kiosk.id, "rule", owner="ana"))
    revert(queue, apply(queue, decide(other.id, "collect")))
    return log, queue, kiosk
