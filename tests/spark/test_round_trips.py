"""Each statement Sleuth sends to Spark is one Spark Connect request, and a cancelled one stops.

A statement's fixed cost on the server (parsing, analysis, the request itself) was paid three
times: ``session.sql`` sent the text to be analysed, ``toArrow`` asked for the schema, then ran
it; a command was fetched back after it had run, and the answers to DuckDB's catalog questions
were built as DataFrames and fetched. The requests are counted at the client's gRPC stub (not
its asynchronous releases of a streamed answer, which pyspark sends per response).
"""

from __future__ import annotations

import collections
import threading
import time

import pytest

from analysis.errors import SleuthError
from analysis.progress import CancelToken, Cancelled
from analysis.query import ident

pytestmark = pytest.mark.slow

COUNTED = ("ExecutePlan", "AnalyzePlan", "Config")


@pytest.fixture
def requests(spark_store, monkeypatch) -> collections.Counter:
    """The requests ``spark_store``'s session sends from now on, by kind; after one statement,
    as pyspark asks for the server's plan-compression settings with the session's first plan."""
    spark_store.scalar("SELECT 1")
    counted: collections.Counter = collections.Counter()
    stub = spark_store.session.client._stub
    for kind in COUNTED:
        def counting(request, *args, _send=getattr(stub, kind), _kind=kind, **kwargs):
            counted[_kind] += 1
            return _send(request, *args, **kwargs)

        monkeypatch.setattr(stub, kind, counting)
    return counted


def test_each_statement_is_one_request_and_catalog_answers_fetch_nothing(spark_store, requests):
    view = spark_store.new_name("trips")

    spark_store.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'")
    assert requests == {"ExecutePlan": 1}
    requests.clear()
    assert spark_store.rows(f"SELECT a, b FROM {ident(view)} ORDER BY a") == [(1, "x"), (2, "y")]
    assert requests == {"ExecutePlan": 1}
    requests.clear()
    assert spark_store.rows(f"DESCRIBE {ident(view)}") == [("a", "INTEGER", "YES"), ("b", "VARCHAR", "YES")]
    assert requests == {"AnalyzePlan": 1}
    requests.clear()
    assert spark_store.scalar(f"SELECT COUNT(*) FROM duckdb_views() WHERE view_name = '{view}'") == 1
    assert requests == {"ExecutePlan": 1}


def test_an_aggregates_subqueries_cost_one_statement_together(spark_store, requests):
    """Two copies of one subquery and another, inside aggregates: their values come in one
    statement before the statement that reads them, and each copy gets its own value."""
    view = spark_store.new_name("trips")
    spark_store.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT 1 AS a UNION ALL SELECT 2 UNION ALL SELECT 5")
    requests.clear()
    newest, oldest = f"(SELECT max(a) FROM {ident(view)})", f"(SELECT min(a) FROM {ident(view)})"
    counts = spark_store.rows(f"SELECT count(*) FILTER (WHERE a >= {newest}), count(*) FILTER (WHERE a > {newest} - 4), "
                              f"count(*) FILTER (WHERE a = {oldest}) FROM {ident(view)}")
    assert counts == [(1, 2, 1)]
    assert requests == {"ExecutePlan": 2}


def test_a_cancelled_statement_is_interrupted_on_the_server(spark_store, monkeypatch):
    """The statement now runs when its rows are read, still under the cursor's tag, so the
    cancel token's interrupt reaches it: a count of 10^12 pairs stops within seconds."""
    rows = spark_store.new_name("million")
    spark_store.session.range(1_000_000).createOrReplaceTempView(rows)
    stub = spark_store.session.client._stub
    sent = threading.Event()

    def sending(request, *args, _send=stub.ExecutePlan, **kwargs):
        sent.set()
        return _send(request, *args, **kwargs)

    monkeypatch.setattr(stub, "ExecutePlan", sending)
    cancel = CancelToken()
    raised: list[BaseException] = []

    def count_pairs():
        try:
            spark_store.scalar(f"SELECT count(*) FROM {ident(rows)} AS a CROSS JOIN {ident(rows)} AS b", cancel)
        except (Cancelled, SleuthError) as exc:
            raised.append(exc)

    worker = threading.Thread(target=count_pairs)
    worker.start()
    assert sent.wait(timeout=60)
    time.sleep(1)  # the server registers the operation under its tag on receipt
    cancel.cancel()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert [type(exc) for exc in raised] == [Cancelled]
