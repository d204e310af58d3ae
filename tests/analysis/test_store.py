"""The store's cancellation: whatever form DuckDB's interrupt takes, a cancelled job sees
:class:`Cancelled` (the task runner drops it quietly; anything else is printed as a crash)."""

import pytest

from analysis.progress import CancelToken, Cancelled
from analysis.query import Sql
from analysis.store import Store


def test_a_cancel_while_chunks_stream_is_cancelled_not_an_arrow_error():
    """A streamed Arrow reader reports DuckDB's interrupt as pyarrow's OSError."""
    store = Store()
    token = CancelToken()
    chunks = store.numpy_chunks(Sql("SELECT i, i * 2 AS j FROM range(30000000) t(i) WHERE i % 7 <> 3"), 100_000,
                                token)
    first = next(chunks)
    assert len(first["i"]) > 0
    token.cancel()
    with pytest.raises(Cancelled):
        for _ in chunks:
            pass
    assert store.scalar("SELECT 42") == 42  # the store stays usable
    store.close()


class _CancelledWhileArming(CancelToken):
    """A token cancelled by another thread in the instant ``job_cursor`` arms its interrupt:
    after the store's first check, before the cursor is registered."""

    def on_cancel(self, hook):
        self.cancel()
        return super().on_cancel(hook)


LONG_QUERY = "SELECT count(*) FROM range(20000000000) t(i) WHERE i % 7 = 3"
"""Minutes of work: a statement that is not interrupted holds the test that long (and fails it)."""


def test_a_cancel_while_the_cursor_is_armed_refuses_the_statement():
    store = Store()
    ran = []
    with pytest.raises(Cancelled):
        with store.job_cursor(_CancelledWhileArming()) as cur:
            ran.append(cur.execute("SELECT 1").fetchall())
    assert ran == []  # refused before any statement ran
    assert store.scalar("SELECT 42") == 42
    store.close()


def test_a_cancel_between_arming_and_the_statement_start_stops_that_statement():
    """The job checked its token and is about to execute: DuckDB drops an interrupt sent to a
    cursor that runs nothing, so without the store repeating it this statement runs to its end."""
    store = Store()
    token = CancelToken()
    with pytest.raises(Cancelled):
        with store.job_cursor(token) as cur:
            token.cancel()  # lands after arming, before the statement starts
            cur.execute(LONG_QUERY).fetchall()
    assert store.scalar("SELECT 42") == 42
    store.close()


def test_a_cancelled_token_interrupts_nothing_after_its_cursor_closed():
    """The repeated interrupt ends with the cursor: the next job's statements on the store run."""
    store = Store()
    token = CancelToken()
    with pytest.raises(Cancelled):
        with store.job_cursor(token) as cur:
            token.cancel()
            cur.execute(LONG_QUERY).fetchall()
    assert store.scalar(Sql("SELECT count(*) FROM range(3000000) t(i) WHERE i % 7 = 3")) == 428571
    store.close()
