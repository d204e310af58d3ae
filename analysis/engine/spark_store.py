"""A Spark Connect session behind the :class:`analysis.store.Store` interface.

Analyses take a store and call ``df``, ``rows``, ``numpy``, ``scalar``, ``execute``,
``new_name`` and ``job_cursor``; :class:`SparkStore` answers the same calls on a Spark
cluster, so every aggregating pass runs there unchanged, from its one DuckDB text, through
:func:`analysis.engine.dialect.to_spark`. Only results cross to the client, and never more
than ``max_result_rows`` of them: a pass that would pull a table's rows is refused in one
sentence instead of filling the client's memory.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.engine.dialect import to_spark
from analysis.errors import InputError, SleuthError
from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled
from analysis.query import Sql, inline

MAX_RESULT_ROWS = 5_000_000
"""The most rows one statement may bring back: about 120 MB for the widest pass that reads
rows (ROC AUC's group, label and score per labelled row), inside the client's 1 GB."""

DEFAULT_PORT = 15002
"""Spark Connect's port when the URL names none."""

REACH_TIMEOUT_S = 10
"""How long to wait for the server's port to answer: Spark's client retries a refused connection
for about ten minutes, so a server that is down is found out first, in one sentence."""

INTERACTIVE_RETRIES = 4
"""Retries of a statement in the window (Spark's back-off: 0.05, 0.2, 0.8 and 3.2 s) before a
server that stopped answering is reported; Spark's default, 15, waits ten minutes."""

DUCKDB_TYPE_OF_SPARK = {
    "boolean": "BOOLEAN", "byte": "TINYINT", "short": "SMALLINT", "integer": "INTEGER", "long": "BIGINT",
    "float": "FLOAT", "double": "DOUBLE", "string": "VARCHAR", "binary": "BLOB", "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP", "void": "VARCHAR",
}
"""Spark's TIMESTAMP is an instant (DuckDB's TIMESTAMPTZ); TIMESTAMP_NTZ is wall time."""

DESCRIBED = re.compile(r'^\s*DESCRIBE\s+("(?:[^"]|"")+"|\w+)\s*$', re.IGNORECASE)
"""``DESCRIBE view``, which analyses run to learn a view's columns and DuckDB's types."""

VIEW_COUNTED = re.compile(r"^\s*SELECT COUNT\(\*\) FROM duckdb_views\(\) WHERE view_name = '((?:[^']|'')+)'\s*$",
                          re.IGNORECASE)
"""Whether a view exists, as DuckDB's catalog answers it (a log's rules ask whether its logged
rows' view was made): Spark's catalog answers it instead."""

VIEW_RENAMED = re.compile(r'^\s*ALTER VIEW\s+("(?:[^"]|"")+"|\w+)\s+RENAME TO\s+("(?:[^"]|"")+"|\w+)\s*$',
                          re.IGNORECASE)
"""A view renamed (a log's rules keep its logged rows under another name). Spark renames a
temporary view, but a view defined over the renamed one then fails to find it (Spark 4.0)."""

QUERY = re.compile(r"^\s*(\(|SELECT\b|WITH\b|VALUES\b|FROM\b|TABLE\b)", re.IGNORECASE)
"""A Spark statement that reads rows; the others (CREATE, CACHE, DROP...) are commands, which Spark
runs as soon as it receives them."""

URL_PATTERN = re.compile(r"^sc://(?P<host>[^/:;]+)(:(?P<port>\d{1,5}))?(/(;[^;=]+=[^;]*)*)?$")

SESSION_SETTINGS = {
    # Sleuth's SQL treats times as UTC instants (analysis.data.time.timestamp_expr).
    "spark.sql.session.timeZone": "UTC",
    # DuckDB's arithmetic gives NULL where ANSI Spark raises (e.g. log of a bad score): the
    # same statement must give the same numbers on both engines.
    "spark.sql.ansi.enabled": "false",
}


def public_url(url: str) -> str:
    """The URL without its parameters, so a token never reaches a message or a file."""
    return url.split("/;", 1)[0]


def check_url(url: str) -> str:
    """``url`` when it is a Spark Connect URL, else one sentence saying what is expected."""
    if not URL_PATTERN.match(url):
        raise InputError(f"--engine takes a Spark Connect URL such as sc://HOST:15002 or "
                         f"sc://HOST:443/;token=..., not {public_url(url)!r}")
    return url


class SparkStore:
    """Sleuth's connection to one Spark Connect server (one Spark session)."""

    engine = "spark"

    def __init__(self, url: str, max_result_rows: int = MAX_RESULT_ROWS) -> None:
        from pyspark.sql import SparkSession

        # Spark's client also logs each refused query with its JVM stack; Sleuth reports it
        # once, in one sentence (job_cursor)
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        self.url = public_url(check_url(url))
        self.max_result_rows = max_result_rows
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        _check_reachable(url, self.url)
        try:
            self.session = SparkSession.builder.remote(url).create()
            for key, value in SESSION_SETTINGS.items():
                self.session.conf.set(key, value)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the server is one sentence
            raise InputError(f"cannot reach the Spark Connect server at {self.url}: {_first_line(exc)}") from None

    def new_name(self, prefix: str) -> str:
        """A fresh, safe identifier for a view or scratch table (never derived from user text)."""
        with self._lock:
            return f"{prefix}_{next(self._names)}"

    @contextlib.contextmanager
    def job_cursor(self, cancel: CancelToken = NEVER_CANCELLED) -> Iterator["SparkCursor"]:
        """A cursor whose running statement is interrupted on the cluster when ``cancel`` fires."""
        tag = self.new_name("sleuth_job")
        self.session.addTag(tag)
        unregister = cancel.on_cancel(lambda: self.session.interruptTag(tag))
        try:
            yield SparkCursor(self)
        except SleuthError:
            raise
        except Exception as exc:  # noqa: BLE001 - Spark's errors become Sleuth's one sentence
            if cancel.cancelled:
                raise Cancelled() from None
            raise SleuthError(f"Spark ({self.url}) refused a query: {_first_line(exc)}") from exc
        finally:
            unregister()
            self.session.removeTag(tag)

    def execute(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> None:
        with self.job_cursor(cancel) as cur:
            result = cur.execute(_text(sql), _params(sql))
            if not result.ran:
                result.arrow()

    def df(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> pd.DataFrame:
        with self.job_cursor(cancel) as cur:
            return cur.execute(_text(sql), _params(sql)).df()

    def numpy(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
        with self.job_cursor(cancel) as cur:
            return cur.execute(_text(sql), _params(sql)).fetchnumpy()

    def numpy_chunks(self, sql: Sql | str, rows: int, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[dict[str, Any]]:
        """:meth:`analysis.store.Store.numpy_chunks` for a Spark result: it arrives whole (at most
        ``max_result_rows``, else refused in one sentence) and is handed on ``rows`` at a time."""
        columns = self.numpy(sql, cancel)
        total = len(next(iter(columns.values()), ()))
        for start in range(0, total, rows):
            cancel.raise_if_cancelled()
            yield {name: values[start:start + rows] for name, values in columns.items()}

    def rows(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> list[tuple]:
        with self.job_cursor(cancel) as cur:
            return cur.execute(_text(sql), _params(sql)).fetchall()

    def scalar(self, sql: Sql | str, cancel: CancelToken = NEVER_CANCELLED) -> Any:
        result = self.rows(sql, cancel)
        return result[0][0] if result else None

    def result(self, sql: Sql | str) -> "SparkResult":
        """One DuckDB statement's result, each in one round trip at most: a query's rows are
        fetched when read; a command has run (Spark runs it on receipt); DuckDB's catalog
        questions (a view's columns, whether it exists, a rename) are answered from what Spark's
        catalog returns, without a DataFrame fetched back."""
        described = DESCRIBED.match(_text(sql))
        if described:
            return SparkResult.answered(self._described(described[1]))
        renamed = VIEW_RENAMED.match(_text(sql))
        if renamed:
            return SparkResult.answered(self._renamed(*(name.strip('"').replace('""', '"') for name in renamed.groups())))
        counted = VIEW_COUNTED.match(inline(sql) if isinstance(sql, Sql) else sql)
        if counted:
            exists = self.session.catalog.tableExists(counted[1].replace("''", "'"))
            return SparkResult.answered(pa.table({"n": pa.array([int(exists)], pa.int64())}))
        spark_sql = to_spark(sql, scalars=self._scalar_values)
        if QUERY.match(spark_sql):
            return SparkResult(self._query(spark_sql), self.max_result_rows)
        return SparkResult(self.session.sql(spark_sql), self.max_result_rows, ran=True)

    def frame(self, sql: Sql | str):
        """Spark's lazy DataFrame of one DuckDB query: nothing runs until it is fetched."""
        return self._query(to_spark(sql, scalars=self._scalar_values))

    def _query(self, spark_sql: str):
        """A lazy DataFrame of a Spark query. ``session.sql`` would first send the text for the
        server to parse and analyse, a round trip whose only answer is the same text back; the
        fetch sends it again. Built here as ``session.sql`` builds its own, sent once, when
        fetched."""
        from pyspark.sql.connect.dataframe import DataFrame
        from pyspark.sql.connect.plan import SQL

        return DataFrame(SQL(spark_sql), self.session)

    def _scalar_values(self, queries: list[str]) -> list:
        """The one value of each query, fetched together in one statement."""
        columns = ", ".join(f"({query}) AS v{i}" for i, query in enumerate(queries))
        row = SparkResult(self._query(f"SELECT {columns}"), self.max_result_rows).fetchall()[0]
        return list(row)

    def _renamed(self, view: str, name: str) -> pa.Table:
        """``ALTER VIEW view RENAME TO name`` done as Spark keeps it usable: ``name`` made from
        ``view``'s plan, then ``view`` dropped. Returns an empty result, as the statement has."""
        self.session.table(view).createOrReplaceTempView(name)
        self.session.catalog.dropTempView(view)
        return pa.table({"renamed": pa.array([], pa.bool_())})

    def _described(self, view: str) -> pa.Table:
        """DuckDB's ``DESCRIBE`` answer for a view (name, DuckDB type, nullable): Spark's own
        names its types differently, and roles, binning and the joins decide by DuckDB's names."""
        fields = self.frame(f"SELECT * FROM {view}").schema.fields
        return pa.table({"column_name": pa.array([field.name for field in fields], pa.string()),
                         "column_type": pa.array([duckdb_type(field.dataType) for field in fields], pa.string()),
                         "null": pa.array(["YES"] * len(fields), pa.string())})

    def fail_fast(self, retries: int = INTERACTIVE_RETRIES) -> None:
        """Give up on an unreachable server after ``retries`` quick retries (about 4 s)
        instead of Spark's ten minutes: for a session a person waits on (the window's table),
        a server that died is said at once; a command's passes keep Spark's patience."""
        from pyspark.sql.connect.client.retries import DefaultPolicy

        self.session.client.set_retry_policies([DefaultPolicy(max_retries=retries)])

    def close(self) -> None:
        self.session.stop()


def _check_reachable(url: str, shown: str) -> None:
    """One sentence when nothing listens at the URL's host and port."""
    match = URL_PATTERN.match(url)
    try:
        socket.create_connection((match["host"], int(match["port"] or DEFAULT_PORT)), REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Spark Connect server at {shown}: {exc.strerror or exc}") from None


class SparkCursor:
    """What an analysis that holds a DuckDB cursor uses of it, on Spark."""

    def __init__(self, store: SparkStore) -> None:
        self._store = store

    def execute(self, text: str, params: list | tuple = ()) -> "SparkResult":
        return self._store.result(Sql(text, tuple(params)))


@dataclass
class SparkResult:
    """A statement's result, fetched at most once and only up to the row limit. ``ran``: the
    statement has run already (a command), so what it returns need not be fetched to run it."""

    frame: Any
    max_rows: int
    ran: bool = False
    _table: pa.Table | None = None

    @classmethod
    def answered(cls, table: pa.Table) -> "SparkResult":
        """A result computed on the client, nothing to fetch."""
        return cls(None, len(table), ran=True, _table=table)

    def arrow(self) -> pa.Table:
        if self._table is None:
            table = fetched_arrow(self.frame.limit(self.max_rows + 1))
            if table.num_rows > self.max_rows:
                raise SleuthError(f"this pass would bring more than {self.max_rows:,} rows from Spark to the "
                                  f"client; narrow it with a slice or a sample")
            self._table = _duckdb_like(table)
        return self._table

    def df(self) -> pd.DataFrame:
        return self.arrow().to_pandas()

    def fetchall(self) -> list[tuple]:
        columns = [_python_values(column) for column in self.arrow().columns]
        return list(zip(*columns)) if columns else []

    def fetchnumpy(self) -> dict[str, np.ndarray]:
        frame = self.df()
        return {name: frame[name].to_numpy() for name in frame.columns}


def fetched_arrow(frame) -> pa.Table:
    """``frame.toArrow()`` in one round trip: ``toArrow`` first asks the server for the schema
    (a round trip analysing the plan once more) to cast the rows to, while the execution's own
    answer carries that schema; so the rows are cast to it, as pyspark's ``collect`` does (and,
    from a server that sends none, to ``toArrow``'s)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    table, schema = frame._to_table()
    schema = schema or frame.schema
    return table.cast(to_arrow_schema(schema, error_on_duplicated_field_names_in_struct=True, timezone="UTC"))


def _duckdb_like(table: pa.Table) -> pa.Table:
    """Spark's TIMESTAMP is an instant shown in the session's zone (UTC); Sleuth's DuckDB
    queries hand back naive UTC times, so the zone is dropped (the instant is kept)."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            field = field.with_type(pa.timestamp(field.type.unit))
        fields.append(field)
    return table.cast(pa.schema(fields))


def _python_values(column: pa.ChunkedArray) -> list:
    """A column's values as DuckDB's ``fetchall`` gives them: a map as a dict (Arrow's is a
    list of pairs)."""
    values = column.to_pylist()
    if pa.types.is_map(column.type):
        return [None if value is None else dict(value) for value in values]
    return values


def _text(sql: Sql | str) -> str:
    return sql.text if isinstance(sql, Sql) else sql


def _params(sql: Sql | str) -> tuple:
    return sql.params if isinstance(sql, Sql) else ()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def duckdb_type(data_type) -> str:
    """The DuckDB name of a Spark column type."""
    name = data_type.typeName()
    if name == "decimal":
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    return DUCKDB_TYPE_OF_SPARK.get(name, name.upper())
