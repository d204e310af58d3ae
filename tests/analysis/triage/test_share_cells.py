"""Cells whose histograms are counted on a share (a check of a log beyond the share size): a
shaped column's bins equal pandas' histogram of the share's rows in the cell, while its counts
outside the typical range, nulls, zeros, moments and extremes equal pandas' over every row of
the cell; a column without inner edges, and every column of a check without a share, keeps
the histogram of every row."""

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.query import ident
from analysis.scope import Scope
from analysis.triage.cells import CellSpec, count_cells
from analysis.triage.share import request_share

EDGES = (-1.0, 0.0, 0.5, 1.5)
"""Two inner edges: ``x``'s histogram is counted on the share."""

OUTER_ONLY = (-1.0, 1.0)
"""No inner edge: ``y``'s three bins are all counted over every row."""

REQUESTS = 6000


def _frame() -> pd.DataFrame:
    """Four days of requests, each logged by two versions with the same inputs; ``x`` missing
    on a tenth of the requests and shifted on day 2 in region ``s``."""
    rng = np.random.default_rng(23)
    requests = pd.DataFrame({"request_id": [f"r{i:05d}" for i in range(REQUESTS)],
                             "region": rng.choice(["n", "s", "e"], REQUESTS, p=[0.5, 0.3, 0.2]),
                             "day": rng.integers(0, 4, REQUESTS)})
    shifted = (requests["day"] == 2) & (requests["region"] == "s")
    requests["x"] = np.where(rng.random(REQUESTS) < 0.1, np.nan,
                             rng.normal(np.where(shifted, 1.2, 0.0), 1.0).round(2))
    requests["y"] = rng.normal(0.0, 1.0, REQUESTS).round(2)
    requests["at"] = (pd.Timestamp("2026-01-01") + pd.to_timedelta(requests["day"], unit="D")
                      + pd.to_timedelta(rng.integers(0, 86_400, REQUESTS), unit="s"))
    frame = pd.concat([requests.assign(model_version="v1"), requests.assign(model_version="v2")])
    return frame.drop(columns="day").reset_index(drop=True)


def _histogram(values: pd.Series, edges) -> tuple[int, ...]:
    x = values.dropna()
    return tuple(np.diff([0, *[int((x < e).sum()) for e in edges], len(x)]).tolist())


def _cells_by_key(cells) -> dict:
    return {(cell.bucket.day - 1, cell.group): cell for cell in cells}


def _rows_by_key(frame: pd.DataFrame) -> dict:
    day = frame["at"].dt.day - 1
    rows = {(d, ()): part for d, part in frame.groupby(day)}
    rows.update({(d, (("region", level),)): part for (d, level), part in frame.groupby([day, "region"])})
    return rows


@pytest.fixture()
def shared_cells(store, tmp_path):
    """The log's cells counted with their histograms on a share of one request in two, the
    share's rows, and every row."""
    frame = _frame()
    frame.to_parquet(tmp_path / "log.parquet")
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    whole = Scope(store, loaded.dataset, loaded.roles)
    spec = CellSpec(numeric=(("x", EDGES), ("y", OUTER_ONLY)), groups=("region",))
    with request_share(whole, len(frame) // 2) as (shared, share):
        assert share is not None and share.every == 2
        cells = count_cells(store, loaded.dataset, spec, None, "date_trunc('day', \"at\")", shapes=shared)
        rows = store.df(f"SELECT * FROM {ident(shared.dataset.view)}")
    everything = count_cells(store, loaded.dataset, spec, None, "date_trunc('day', \"at\")")
    return cells, everything, rows, frame


def test_a_shaped_columns_bins_are_the_shares_and_its_other_counts_every_rows(shared_cells):
    cells, _, share_rows, frame = shared_cells
    found, whole, shared = _cells_by_key(cells), _rows_by_key(frame), _rows_by_key(share_rows)
    assert set(found) == set(whole)
    for key, rows in whole.items():
        x, counts = rows["x"].dropna(), found[key].columns["x"]
        in_share = shared.get(key, share_rows.iloc[:0])["x"]
        assert counts.bins == _histogram(in_share, EDGES), key
        assert counts.histogram_rows == in_share.notna().sum() < len(x), key
        assert counts.outside == (int((x < EDGES[0]).sum()), int((x >= EDGES[-1]).sum())), key
        assert counts.out_of_range_rate == pytest.approx(((x < EDGES[0]) | (x >= EDGES[-1])).mean()), key
        assert (counts.rows, counts.non_null, counts.zeros) == (len(rows), len(x), int((x == 0).sum())), key
        assert (counts.minimum, counts.maximum) == (x.min(), x.max()), key
        assert (counts.total, counts.total_sq) == (pytest.approx(x.sum()), pytest.approx((x * x).sum())), key
        y = found[key].columns["y"]
        assert (y.bins, y.outside) == (_histogram(rows["y"], OUTER_ONLY), None), key


def test_the_shift_in_the_share_is_the_shift_in_every_row(shared_cells):
    """The share is drawn independently of the values, so the planted shift (day 2, region s)
    moves the share's histogram as it moves every row's: its mass above 0.5 there is far above
    the same region's other days in both."""
    cells, everything, _, _ = shared_cells
    shaped, exact = _cells_by_key(cells), _cells_by_key(everything)

    def above_half(counts) -> float:
        return sum(counts.bins[3:]) / sum(counts.bins)

    for found in (shaped, exact):
        shifted = above_half(found[2, (("region", "s"),)].columns["x"])
        others = [above_half(found[d, (("region", "s"),)].columns["x"]) for d in (0, 1, 3)]
        assert shifted > 0.6 and max(others) < 0.45


def test_without_a_share_the_bins_count_every_row_and_nothing_is_outside(shared_cells):
    _, everything, _, frame = shared_cells
    found = _cells_by_key(everything)
    for key, rows in _rows_by_key(frame).items():
        counts = found[key].columns["x"]
        assert (counts.bins, counts.outside) == (_histogram(rows["x"], EDGES), None), key
        assert counts.histogram_rows == counts.non_null, key
