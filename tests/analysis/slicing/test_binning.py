"""One quantile cut: a breakdown's groups and discovery's bins of the same column over the same
rows have the same edges and put every row in the same bin, and both are pandas' qcut."""

import numpy as np
import pandas as pd
import pytest

from analysis.data.loading import open_dataset
from analysis.query import Sql, ident
from analysis.slicing import binning
from analysis.slicing.binning import RANGE, bin_column, bin_features
from analysis.store import Store

N_BINS = 5
QUANTILE_COLUMNS = ["amount", "count", "mostly_zero", "seen_at"]


def make_rows(n_rows: int, seed: int = 4) -> pd.DataFrame:
    """A skewed float with nulls and infinities, integers, a column of 40% zeros, times."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n_rows)
    amount[rng.random(n_rows) < 0.01] = np.inf
    amount[rng.random(n_rows) < 0.01] = -np.inf
    frame = pd.DataFrame({
        "amount": amount,
        "count": rng.integers(0, 1000, n_rows),
        "mostly_zero": np.where(rng.random(n_rows) < 0.4, 0.0, rng.random(n_rows)),
        "seen_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, n_rows), unit="s"),
        "kind": rng.choice(["a", "b", "c"], n_rows),
    })
    frame["amount"] = frame["amount"].where(rng.random(n_rows) > 0.05)
    return frame


def open_rows(tmp_path, frame: pd.DataFrame):
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path)
    store = Store(memory_limit="1GB", threads=2)
    return store, open_dataset(store, path)


def as_numbers(values: pd.Series) -> pd.Series:
    """Times as seconds since the epoch, so numpy and pandas cut them like numbers."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return (values - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return values.astype(float)


def numeric_edges(edges) -> np.ndarray:
    return as_numbers(pd.Series(list(edges))).to_numpy() if edges else np.array([])


def breakdown_groups(store, dataset, groups) -> np.ndarray:
    """Each row's breakdown group index, in file order."""
    case = groups.case_sql()
    query = Sql(f"SELECT {case.text} FROM {ident(dataset.view)} ORDER BY {ident(dataset.row_id)}", case.params)
    return store.df(query).iloc[:, 0].to_numpy()


@pytest.fixture
def rows(tmp_path):
    frame = make_rows(4000)
    store, dataset = open_rows(tmp_path, frame)
    yield store, dataset, frame
    store.close()


@pytest.mark.parametrize("name", QUANTILE_COLUMNS)
def test_breakdown_and_discovery_cut_a_column_at_the_same_edges_into_the_same_bins(rows, name):
    store, dataset, frame = rows
    column = dataset.column(name)
    groups = bin_column(store, dataset, name, n_bins=N_BINS)
    discovered = bin_features(store, dataset.view, [column], n_bins=N_BINS)
    feature = discovered.features[0]
    ranges = [b for b in feature.bins if b.kind == RANGE]

    assert [b.high for b in ranges[:-1]] == list(groups.edges[1:-1])
    values = as_numbers(frame[name])
    finite = np.isfinite(values.to_numpy(float))
    want = np.unique(np.quantile(values[finite], np.linspace(0, 1, N_BINS + 1)))
    np.testing.assert_allclose(numeric_edges(groups.edges), want, rtol=1e-12)

    qcut = pd.qcut(values[finite], N_BINS, labels=False, duplicates="drop").to_numpy()
    codes = discovered.codes[finite, 0].astype(int)
    group_index = breakdown_groups(store, dataset, groups)[finite]
    np.testing.assert_array_equal(codes, qcut)
    np.testing.assert_array_equal(group_index - 1, qcut)  # group 0 is "< min": empty on finite rows


def test_values_outside_the_finite_range_and_nulls_have_a_bin_in_both(rows):
    store, dataset, frame = rows
    groups = bin_column(store, dataset, "amount", n_bins=N_BINS)
    codes = bin_features(store, dataset.view, [dataset.column("amount")], n_bins=N_BINS).codes[:, 0]
    group_index = breakdown_groups(store, dataset, groups)
    labels = [g.label for g in groups.groups]
    amount = frame["amount"].to_numpy()
    assert set(group_index[amount == -np.inf]) == {0} and labels[0].startswith("<")
    assert set(group_index[amount == np.inf]) == {len(labels) - 2}
    assert set(group_index[frame["amount"].isna().to_numpy()]) == {labels.index("null")}
    assert set(codes[amount == -np.inf]) == {0}
    assert set(codes[amount == np.inf]) == {N_BINS - 1}
    assert len(set(codes[frame["amount"].isna().to_numpy()])) == 1


def test_a_column_of_few_values_is_cut_by_value_in_both(tmp_path):
    frame = make_rows(4000).assign(count=lambda f: f["count"] % 3)
    store, dataset = open_rows(tmp_path, frame)
    try:
        groups = bin_column(store, dataset, "count", n_bins=N_BINS)
        feature = bin_features(store, dataset.view, [dataset.column("count")], n_bins=N_BINS).features[0]
    finally:
        store.close()
    assert groups.edges == ()
    assert sorted(g.label for g in groups.groups) == ["0", "1", "2"]
    assert sorted(b.values[0] for b in feature.bins) == [0, 1, 2]


def test_above_the_sample_size_both_take_the_same_edges_from_one_sample(tmp_path, monkeypatch):
    """Above ``QUANTILE_SAMPLE_ROWS`` rows the inner edges come from a sample: both cuts still
    agree, the outer edges stay the exact minimum and maximum, and each inner edge splits the
    rows within the Dvoretzky-Kiefer-Wolfowitz bound of a sample that size (at 1e-6)."""
    sample_rows = 20_000
    monkeypatch.setattr(binning, "QUANTILE_SAMPLE_ROWS", sample_rows)
    frame = make_rows(100_000, seed=5)
    store, dataset = open_rows(tmp_path, frame)
    try:
        groups = bin_column(store, dataset, "count", n_bins=N_BINS)
        again = bin_column(store, dataset, "count", n_bins=N_BINS)
        feature = bin_features(store, dataset.view, [dataset.column("count")], n_bins=N_BINS).features[0]
    finally:
        store.close()
    assert groups.edges == again.edges
    assert [b.high for b in feature.bins[:-1]] == list(groups.edges[1:-1])
    values = frame["count"].to_numpy()
    assert (groups.edges[0], groups.edges[-1]) == (values.min(), values.max())
    bound = np.sqrt(np.log(2 / 1e-6) / (2 * sample_rows))
    for position, edge in enumerate(groups.edges[1:-1], start=1):
        assert abs((values <= edge).mean() - position / N_BINS) < bound
