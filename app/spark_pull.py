"""One Spark table pulled to this machine, as a job the window can show and cancel.

The window holds one DuckDB store, so File > Connect to Spark… works on rows pulled into a
local Parquet file (:func:`analysis.engine.sample.pull_rows`: all of them when they fit, else a
uniform sample), which then opens like any file. This is that pull from start to end: connect,
read the table, count, draw and write; cancelling interrupts whatever runs on the cluster.
The session stays open after a pull that succeeds (:class:`PulledSample`'s ``cluster``), so the
window's table can page over the whole table where it lives (:mod:`app.spark_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analysis.data.roles import RoleMap
from analysis.engine.sample import Sample, pull_rows
from analysis.engine.spark_log import open_spark_table
from analysis.engine.spark_store import SparkStore
from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled, Progress, no_progress
from analysis.scope import Scope
from analysis.slicing.role_leaves import where_sql
from app.spark_table import ClusterTable


@dataclass(frozen=True)
class PulledSample(Sample):
    """The pulled sample, and the table it came from with its session still open (whoever
    takes it closes it: :meth:`ClusterTable.close`)."""

    cluster: ClusterTable | None = field(default=None, compare=False, repr=False)


def pull_table(url: str, table: str, folder: str | Path, max_rows: int, where: str | None = None,
               cancel: CancelToken = NEVER_CANCELLED, progress: Progress = no_progress) -> PulledSample:
    """Pull at most ``max_rows`` rows of ``table`` (those matching ``where``, a filter in the
    slice bar's language over its columns) from the Spark Connect server at ``url`` into
    ``folder``. The session stays open for the table's pages when the pull succeeds, and is
    stopped when it fails (the cluster then drops its temporary views)."""
    progress(0.0, "Connecting to Spark")
    store = SparkStore(url)
    # The session is this job's alone: cancelling interrupts every statement it runs, those
    # (reading the schema, counting) that take no cancel token of their own included.
    unregister = cancel.on_cancel(store.session.interruptAll)
    try:
        cancel.raise_if_cancelled()
        progress(0.1, f"Reading {table} on {store.url}")
        dataset = open_spark_table(store, [table])
        condition = where_sql(Scope(store, dataset, RoleMap()), where, cancel) if where else None
        cancel.raise_if_cancelled()
        progress(0.3, f"Pulling at most {max_rows:,} of {dataset.row_count:,} rows from {store.url}")
        sample = pull_rows(store, dataset, folder, max_rows, condition, where, cancel)
        progress(1.0, f"Pulled {sample.rows:,} rows")
        unregister()
        store.fail_fast()  # the table's pages: a server that dies is said in seconds, not minutes
        return PulledSample(sample.path, sample.rows, sample.of_rows, sample.engine, sample.where,
                            sample.row_ids, cluster=ClusterTable(store, dataset, condition, sample))
    except BaseException:
        unregister()
        store.close()
        if cancel.cancelled:
            raise Cancelled() from None
        raise
