"""A check run stopped by its job's token mid-run: it raises Cancelled at the next statement,
runs no later step, and leaves none of its working tables behind."""

from __future__ import annotations

import pytest

from analysis.data.open_log import load_log
from analysis.progress import CancelToken, Cancelled
from analysis.scope import Scope
from analysis.triage import checks, row_scan
from analysis.triage.check_report import check_dataset


def tables(store) -> set[str]:
    return {name for (name,) in store.rows("SELECT table_name FROM duckdb_tables()")}


@pytest.mark.parametrize("step", ["_subgroup_counts", "_unit_counts"])
def test_a_check_cancelled_in_the_row_scan_stops_there_and_drops_its_tables(window_demo_files, monkeypatch, step):
    """On the 20k demo: its two versions score the same requests, so when stopped the row scan
    holds the working tables it held on the 200k demo (the repeated ids and their copies),
    which only took longer to reach them."""
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    try:
        log = load_log(store, [str(window_demo_files.log)], name="predictions", check=False)
        before = tables(store)
        token, reached, held, later = CancelToken(), [], [], []
        real = getattr(row_scan, step)

        def cancelled_here(*args, **kwargs):
            reached.append(step)
            held.append(tables(store) - before)
            token.cancel()  # the user stops the job while this step runs
            return real(*args, **kwargs)

        monkeypatch.setattr(row_scan, step, cancelled_here)
        monkeypatch.setattr(checks, "far_beyond_symptoms", lambda *a, **k: later.append(True) or [])
        with pytest.raises(Cancelled):
            check_dataset(Scope(store, log.dataset, log.roles), cancel=token)
        assert reached == [step] and later == []
        assert held[0], "no working table to drop when stopped"
        assert tables(store) == before  # the repeated ids' and the cells' tables dropped
    finally:
        store.close()
