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
