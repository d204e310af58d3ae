"""The log's time: its timestamp column as SQL, its span, windows of it, and chart buckets.

``timestamp_expr``, ``time_span`` and ``time_window`` are what every "since", "reference
window", "before/after" and metric-over-time starts from, so they live here, below the
metrics and triage that use them.

Time buckets for "metric over time" are named intervals sized so a span gets a readable chart.

A chart of 20 to 200 points shows a trend without drowning it in noise, whatever the log
covers (an incident of minutes or a year of traffic). Consecutive candidates differ by at
most a factor of 10, so the first one that gives at most 200 buckets gives at least 20
whenever the span is long enough to need more than the smallest interval.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from analysis.data.roles import RoleMap
from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.query import Sql, ident, literal, where_clause
from analysis.scope import Scope
from analysis.slices import Range, to_sql

MAX_BUCKETS = 200


@dataclass(frozen=True)
class Bucket:
    """A bucket width: ``label`` for people, ``interval`` for DuckDB, ``seconds`` to count."""

    label: str
    interval: str
    seconds: float

    def sql(self, timestamp: str) -> str:
        """SQL for the start of the bucket holding ``timestamp`` (an already-built expression).

        Buckets are aligned by DuckDB's ``time_bucket``: days and weeks (starting Monday)
        from 2000-01-03, months on the first of the month.
        """
        return f"time_bucket(CAST({literal(self.interval)} AS INTERVAL), {timestamp})"


_DAY = 86400.0

BUCKETS = (
    Bucket("1 second", "1 second", 1.0),
    Bucket("10 seconds", "10 seconds", 10.0),
    Bucket("1 minute", "1 minute", 60.0),
    Bucket("5 minutes", "5 minutes", 300.0),
    Bucket("15 minutes", "15 minutes", 900.0),
    Bucket("1 hour", "1 hour", 3600.0),
    Bucket("6 hours", "6 hours", 6 * 3600.0),
    Bucket("1 day", "1 day", _DAY),
    Bucket("1 week", "7 days", 7 * _DAY),
    Bucket("1 month", "1 month", 30.436875 * _DAY),
    Bucket("3 months", "3 months", 3 * 30.436875 * _DAY),
    Bucket("1 year", "1 year", 365.2425 * _DAY),
)
"""Candidate widths, smallest first (a month and a year counted at their Gregorian mean)."""


def choose_bucket(start: dt.datetime, end: dt.datetime) -> Bucket:
    """The smallest candidate that splits ``start``..``end`` into at most 200 buckets."""
    span = max((end - start).total_seconds(), 0.0)
    for bucket in BUCKETS:
        if span / bucket.seconds <= MAX_BUCKETS:
            return bucket
    return BUCKETS[-1]


def bucket_named(label: str) -> Bucket:
    """The candidate called ``label`` (as shown to the user)."""
    for bucket in BUCKETS:
        if bucket.label == label:
            return bucket
    raise ValueError(f"unknown time bucket: {label!r}")


def time_span(scope: Scope) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last timestamp (naive UTC) of rows matching ``condition``; None if none."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.timestamp is None:
        return None
    ts = timestamp_expr(dataset, roles)
    where = where_clause(condition)
    first, last = store.rows(Sql(f"SELECT MIN({ts}), MAX({ts}) FROM {ident(dataset.view)}{where.text}", where.params))[0]
    return None if first is None else (first, last)


def time_window(roles: RoleMap, start: dt.datetime | None, end: dt.datetime | None) -> Sql:
    """Rows from ``start`` (included) to ``end`` (excluded) on the log's time column; an open
    end is None. Every "since", "reference window" and "before/after" is one of these."""
    if roles.timestamp is None:
        raise SchemaError("a time window needs a timestamp column in the log; set the time role")
    return to_sql(Range(roles.timestamp, start, end))


def timestamp_expr(dataset: Dataset, roles: RoleMap) -> str:
    """The timestamp column as a naive UTC TIMESTAMP."""
    column = dataset.column(roles.timestamp)
    if not column.is_temporal:
        raise SchemaError("the timestamp column does not hold times", column=column.name)
    dtype = column.dtype.upper()
    if "TIME ZONE" in dtype or dtype.startswith("TIMESTAMPTZ"):
        return f"timezone('UTC', CAST({ident(column.name)} AS TIMESTAMPTZ))"
    return f"CAST({ident(column.name)} AS TIMESTAMP)"
