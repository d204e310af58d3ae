"""The intake's batched reads give what the per-group reads gave: each group's evidence (two
scans for all groups) against the metrics code's route and pandas on the same rows, the
candidates' residual counts (one scan) against pandas, and discovery searched once for the
same rows of one owner's cache but again when the rows change."""

import contextlib

import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.data.time import choose_bucket, time_span
from analysis.discovery.failing_slices import DiscoverySettings, row_error_sql
from analysis.metrics.per_version import metric_over_time
from analysis.queue import discoveries, grouping
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.grouping import _Reason, _membership_counts, groups_evidence, version_scope
from analysis.query import Sql
from analysis.scope import Scope
from analysis.slices import Compare, Everything, InSet, Slice, all_of, to_sql
from analysis.store import Store

SLICES = [Compare("device_type", "=", "kiosk"),
          all_of([Compare("device_type", "=", "kiosk"), Compare("amount", ">", 200.0)]),
          InSet("region", ("EU-West", "US-East")), Compare("client", "=", "stark-pay"), Everything]


@pytest.fixture(scope="module")
def small_log(window_demo_files):
    store = Store(memory_limit="1GB")
    yield store, load_log(store, [str(window_demo_files.log)], check=False), pd.read_parquet(window_demo_files.log)
    store.close()


def _version_scope(loaded, frame) -> tuple[str, Sql]:
    version = sorted(frame["model_version"].unique())[-1]
    return version, version_scope(loaded.roles, version)


def _per_group_evidence(scope: Scope, predicate) -> dict:
    """The evidence as it was read group by group: a count, the time span, then the metrics
    code's accuracy per bucket (three queries per group)."""
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    where = Sql(f"({error}) IS NOT NULL") & scope.condition & to_sql(predicate)
    rows, errors = scope.store.rows(Sql(f"SELECT count(*), sum({error}) FROM {scope.dataset.view} WHERE {where.text}",
                                        where.params))[0]
    span = time_span(Scope(scope.store, scope.dataset, scope.roles, where))
    bucket = choose_bucket(*span)
    frame = metric_over_time(Scope(scope.store, scope.dataset, scope.roles, where), "accuracy", bucket)
    frame = frame.dropna(subset=["value"])
    points = [(pd.Timestamp(s).isoformat(), int(n), int(round(n * (1 - v))))
              for s, n, v in zip(frame["bucket_start"], frame["labelled"], frame["value"])]
    return {"rows": int(rows), "errors": int(errors), "bucket": bucket.label, "period_end": span[1].isoformat(),
            "points": points}


def _pandas_rows(frame: pd.DataFrame, version: str) -> pd.DataFrame:
    mine = frame[(frame["model_version"] == version) & frame["is_fraud"].notna() & frame["prediction"].notna()]
    return mine.assign(error=(mine["prediction"] != mine["is_fraud"]).astype(int))


def _pandas_mask(rows: pd.DataFrame, predicate) -> pd.Series:
    """The demo slices above, read by pandas."""
    if predicate is Everything:
        return pd.Series(True, index=rows.index)
    return rows.eval({"kiosk": "device_type == 'kiosk'", "big kiosk": "device_type == 'kiosk' and amount > 200",
                      "two regions": "region in ['EU-West', 'US-East']", "stark": "client == 'stark-pay'"}[
        _name(predicate)])


def _name(predicate) -> str:
    return {0: "kiosk", 1: "big kiosk", 2: "two regions", 3: "stark"}[SLICES.index(predicate)]


def test_every_groups_evidence_is_the_per_group_reads_and_pandas(small_log):
    store, loaded, frame = small_log
    version, condition = _version_scope(loaded, frame)
    scope = Scope(store, loaded.dataset, loaded.roles, condition)
    rows = _pandas_rows(frame, version)
    for predicate, evidence in zip(SLICES, groups_evidence(scope, SLICES)):
        expected = _per_group_evidence(scope, predicate)
        points = [(p["start"], p["rows"], p["errors"]) for p in evidence["series"]]
        assert (evidence["rows"], evidence["errors"], evidence["bucket"], evidence["period_end"], points) == (
            expected["rows"], expected["errors"], expected["bucket"], expected["period_end"], expected["points"])
        mine = rows[_pandas_mask(rows, predicate)]
        assert (evidence["rows"], evidence["errors"]) == (len(mine), int(mine["error"].sum()))
        assert evidence["error_rate"] == pytest.approx(mine["error"].mean())
        assert evidence["period_end"] == mine["timestamp"].max().isoformat()
        width = pd.Timedelta(seconds=choose_bucket(mine["timestamp"].min(), mine["timestamp"].max()).seconds)
        by_bucket = mine.groupby(mine["timestamp"].dt.floor(width))["error"].agg(["size", "sum"])
        assert points == [(start.isoformat(), int(n), int(e)) for start, (n, e) in by_bucket.iterrows()]
        rates = (by_bucket["sum"] / by_bucket["size"]).tolist()
        assert [p["error_rate"] for p in evidence["series"]] == pytest.approx(rates)


def test_the_membership_counts_give_every_residual_pandas_counts(small_log):
    store, loaded, frame = small_log
    version, condition = _version_scope(loaded, frame)
    reasons = [_Reason(str(i), "slice", str(i), Slice(p)) for i, p in enumerate(SLICES[:4])]
    counts = _membership_counts(Scope(store, loaded.dataset, loaded.roles, condition), reasons)
    rows = _pandas_rows(frame, version)
    masks = [_pandas_mask(rows, p) for p in SLICES[:4]]
    assert (int(counts["n"].sum()), int(counts["e"].sum())) == (len(rows), int(rows["error"].sum()))
    for first in range(4):
        for second in range(4):
            residual = counts[f"g{first}"] & ~counts[f"g{second}"]
            expected = rows[masks[first] & ~masks[second]]
            assert grouping._counted(counts, residual) == (len(expected), int(expected["error"].sum()))


def test_discovery_runs_once_for_the_same_rows_of_one_cache_and_again_for_changed_labels(
        window_demo_files, tmp_path, monkeypatch):
    """The owner's cache (a Session's, a CLI run's) searches the same rows once, even opened
    again; changed labels search again; a grouping given no cache, or another owner's cache,
    shares nothing (no process-wide state). On a sample of the 20k demo: what is counted is
    the searches, and each of its six groupings searches every version's failures again."""
    searched = []
    search = discoveries.failing_slices
    monkeypatch.setattr(discoveries, "failing_slices", lambda *a, **k: searched.append(a[1]) or search(*a, **k))
    cache = DiscoveryCache()
    frame = pd.read_parquet(window_demo_files.log).sample(CACHED_ROWS, random_state=1).sort_index()
    frame = frame.reset_index(drop=True)  # row numbers are the file's positions
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    versions = frame["model_version"].nunique()
    with _opened(path) as (store, loaded):
        scope = Scope(store, loaded.dataset, loaded.roles)
        first = grouping.group_failures(scope, _failures(frame), discoveries=cache)
        again = grouping.group_failures(scope, _failures(frame), discoveries=cache)
        assert len(searched) == versions == 2 and any(g.reason == "slice" for g in first.groups)
        assert [(g.key, g.rows, g.evidence) for g in again.groups] == [(g.key, g.rows, g.evidence) for g in first.groups]
        grouping.group_failures(scope, _failures(frame))
        grouping.group_failures(scope, _failures(frame), discoveries=DiscoveryCache())
        assert len(searched) == 3 * versions
    with _opened(path) as (store, loaded):  # the same file opened again: the same rows
        grouping.group_failures(Scope(store, loaded.dataset, loaded.roles), _failures(frame), discoveries=cache)
    assert len(searched) == 3 * versions
    flipped = frame.assign(is_fraud=frame["is_fraud"].where(frame["device_type"] != "mobile", 1.0 - frame["is_fraud"]))
    flipped.to_parquet(path)
    with _opened(path) as (store, loaded):
        grouping.group_failures(Scope(store, loaded.dataset, loaded.roles), _failures(flipped), discoveries=cache)
    assert len(searched) == 4 * versions


def test_the_discovery_cache_keeps_its_most_recently_used_searches(small_log, monkeypatch):
    """A cache is bounded: past ``kept`` searches the least recently used goes, and a search
    read again counts as used."""
    store, loaded, frame = small_log
    searched = []
    monkeypatch.setattr(discoveries, "failing_slices", lambda scope, settings, **k: searched.append(settings) or [])
    cache = DiscoveryCache(kept=2)
    scope = Scope(store, loaded.dataset, loaded.roles)
    one, two, three = (DiscoverySettings(k=k) for k in (1, 2, 3))
    for settings in (one, two, one, three, one, two):
        cache.failing_slices(scope, settings)
    assert searched == [one, two, three, two]  # "two" went when "three" came; "one" stayed in use


CACHED_ROWS = 6000
"""Rows of the cache test's log: both versions' failures, and failing slices among them."""


@contextlib.contextmanager
def _opened(path):
    store = Store(memory_limit="1GB")
    try:
        yield store, load_log(store, [str(path)], check=False)
    finally:
        store.close()


def _failures(frame: pd.DataFrame) -> pd.DataFrame:
    wrong = frame["is_fraud"].notna() & (frame["prediction"] != frame["is_fraud"])
    return pd.DataFrame({"row_number": frame.index[wrong], "version": frame["model_version"][wrong].to_numpy()})
