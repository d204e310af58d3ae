"""Bucket choice gives a readable number of points for spans from seconds to decades."""

import datetime as dt

import pytest

from analysis.data.time import BUCKETS, MAX_BUCKETS, bucket_named, choose_bucket

START = dt.datetime(2026, 1, 1)


@pytest.mark.parametrize(
    "span, label",
    [
        (dt.timedelta(minutes=3), "1 second"),
        (dt.timedelta(minutes=30), "10 seconds"),
        (dt.timedelta(hours=2), "1 minute"),
        (dt.timedelta(hours=12), "5 minutes"),
        (dt.timedelta(days=1), "15 minutes"),
        (dt.timedelta(days=7), "1 hour"),
        (dt.timedelta(days=29), "6 hours"),
        (dt.timedelta(days=120), "1 day"),
        (dt.timedelta(days=3 * 365), "1 week"),
        (dt.timedelta(days=10 * 365), "1 month"),
        (dt.timedelta(days=40 * 365), "3 months"),
    ],
)
def test_choose_bucket_for_span(span, label):
    assert choose_bucket(START, START + span).label == label


@pytest.mark.parametrize("minutes", [20, 90, 600, 5000, 40_000, 300_000, 3_000_000, 20_000_000])
def test_spans_get_between_20_and_200_buckets(minutes):
    bucket = choose_bucket(START, START + dt.timedelta(minutes=minutes))
    count = minutes * 60 / bucket.seconds
    assert 20 <= count <= MAX_BUCKETS


def test_empty_span_and_named_lookup():
    assert choose_bucket(START, START) == BUCKETS[0]
    assert bucket_named("1 day").seconds == 86400
    with pytest.raises(ValueError):
        bucket_named("fortnight")


def truncate(store, label: str, timestamp: str) -> dt.datetime:
    return store.scalar("SELECT " + bucket_named(label).sql(f"TIMESTAMP '{timestamp}'"))


def test_bucket_sql_truncates_in_duckdb(store):
    assert truncate(store, "6 hours", "2026-03-04 13:59:00") == dt.datetime(2026, 3, 4, 12, 0)
    week = truncate(store, "1 week", "2026-03-05 10:00:00")
    assert week.weekday() == 0 and week.date() == dt.date(2026, 3, 2)
    assert truncate(store, "1 month", "2026-03-25 10:00:00") == dt.datetime(2026, 3, 1)
