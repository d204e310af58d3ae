"""Owns Sleuth's DuckDB connection: configuration, per-job cursors and interrupt.

A DuckDB connection is not thread-safe, so every job (and every thread) works through its
own ``cursor()``. A cursor is registered with the job's :class:`CancelToken` so that cancelling
interrupts a long statement. Extension auto-install is off: opening a file must never make
DuckDB reach the network or load code the user did not ask for.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
from typing import Any, Iterator

import duckdb
import pandas as pd

from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled
from analysis.query import Sql


APP_MEMORY_LIMIT = "1500MB"
"""DuckDB's share of Sleuth's process, in the window and on the command line: the design's 2 GB
budget minus Qt, Python and pandas; larger joins, sorts and aggregations spill to disk instead
of growing the process."""


def default_memory_limit() -> str:
    """Half the machine's memory, at most 8 GB: leaves room for the GUI and pandas results."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    gb = max(1, min(8, int(total / 2**30 / 2)))
    return f"{gb}GB"


class Store:
    """The DuckDB database that holds every registered dataset view of a session."""

    engine = "duckdb"
    """Where the rows are: here, so a pass may bring them to numpy (a SparkStore's are on a cluster)."""

    def __init__(self, memory_limit: str | None = None, threads: int | None = None) -> None:
        config: dict[str, Any] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": memory_limit or default_memory_limit(),
            "temp_directory": os.path.join(tempfile.gettempdir(), "sleuth-duckdb-spill"),
        }
        if threads:
            config["threads"] = threads
        self._con = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._names = itertools.count(1)

    def new_name(self, prefix: str) -> str:
        """A fresh, safe identifier for a view or temp table (never derived from user text)."""
        with self._lock:
            return f"{prefix}_{next(self._names)}"

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared database, for one thread or one job."""
        with self._lock:
            return self._con.cursor()

    @contextlib.contextmanager
    def job_cursor(self, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor whose running statement is interrupted when ``cancel`` fires.

        An interrupted statement raises inside DuckDB; it is re-raised as :class:`Cancelled`
        so callers see one exception for "the user stopped this". A cancel is never lost:

        * before the cursor is armed, or while it is being armed: refused here, after arming,
          before any statement runs (a job cancelled between two statements runs no later one);
        * after arming: DuckDB forgets an interrupt that lands while its cursor runs nothing
          (the statement about to start would then run to its end), so the cancel keeps
          interrupting the cursor until the statement stops and the cursor closes
          (:class:`_Interrupter`).
        """
        cancel.raise_if_cancelled()
        cur = self.cursor()
        interrupter = _Interrupter(cur)
        unregister = cancel.on_cancel(interrupter.start)
        try:
            cancel.raise_if_cancelled()  # cancelled while arming: its interrupt found no statement
            yield cur
        except duckdb.InterruptException as exc:
            raise Cancelled() from exc
        except (duckdb.Error, OSError):  # a streamed Arrow reader reports the interrupt as OSError
            if cancel.cancelled:
                raise Cancelled() from None
            raise
        finally:
            unregister()
            interrupter.close()

    def execute(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> None:
        sql = Sql(sql) if isinstance(sql, str) else sql
        with self.job_cursor(cancel) as cur:
            cur.execute(sql.text, list(sql.params))

    def df(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> pd.DataFrame:
        """Run a query whose result is small and return it as a DataFrame."""
        sql = Sql(sql) if isinstance(sql, str) else sql
        with self.job_cursor(cancel) as cur:
            return cur.execute(sql.text, list(sql.params)).df()

    def numpy(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        """Run a query and return its columns as numpy arrays (for numeric passes over many rows)."""
        sql = Sql(sql) if isinstance(sql, str) else sql
        with self.job_cursor(cancel) as cur:
            return cur.execute(sql.text, list(sql.params)).fetchnumpy()

    def numpy_chunks(self, sql: Sql | str, rows: int, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[dict[str, Any]]:
        """Run a query and yield its columns as numpy arrays ``rows`` rows at a time, so a pass
        over a 100M-row result holds one chunk in memory instead of the whole result."""
        sql = Sql(sql) if isinstance(sql, str) else sql
        with self.job_cursor(cancel) as cur:
            # A relation streams its batches; a DB-API result (execute) would first copy every row.
            for batch in cur.sql(sql.text, params=list(sql.params)).to_arrow_reader(rows):
                yield {name: column.to_numpy(zero_copy_only=False) for name, column in
                       zip(batch.schema.names, batch.columns)}

    def rows(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> list[tuple]:
        sql = Sql(sql) if isinstance(sql, str) else sql
        with self.job_cursor(cancel) as cur:
            return cur.execute(sql.text, list(sql.params)).fetchall()

    def scalar(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> Any:
        result = self.rows(sql, cancel)
        return result[0][0] if result else None

    def close(self) -> None:
        self._con.close()


class _Interrupter:
    """Interrupts one job cursor from the moment its job is cancelled until the cursor closes.

    ``cursor.interrupt()`` stops the statement running on the cursor, but one sent in the
    instant before a statement starts (the job checked its token, then called ``execute``) is
    dropped by DuckDB, and that statement would run to its end. So a cancel starts a daemon
    thread that repeats the interrupt every ``PERIOD_S`` until :meth:`close`: the statement is
    stopped at most one period after it starts, whenever the cancel landed. The lock keeps an
    interrupt off a closed cursor; cancels are rare, so the thread costs nothing in normal runs.
    """

    PERIOD_S = 0.01

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> None:
        """The token's cancel hook: interrupt at once, then keep at it off the caller's thread."""
        if self._interrupt():
            threading.Thread(target=self._repeat, name="sleuth-interrupt", daemon=True).start()

    def _interrupt(self) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._cursor.interrupt()
            return True

    def _repeat(self) -> None:
        while not self._closed.wait(self.PERIOD_S) and self._interrupt():
            pass

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._cursor.close()
