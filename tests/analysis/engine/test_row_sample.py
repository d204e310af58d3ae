"""The hash sample keeps the rows numpy's same hash keeps, and the profile's edges and
discovery's bin edges are numpy's exact quantiles of those rows (``tests/spark`` checks Spark
keeps the same rows and edges)."""

import numpy as np
import pandas as pd
import pytest

from analysis.data.loading import open_dataset
from analysis.data.roles import RoleMap
from analysis.engine.row_sample import GOLDEN_FACTOR, PRIME, hash_sample
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slicing.binning import QUANTILE_SAMPLE_ROWS, RANGE, plan_bins
from analysis.triage.reference_profile import EDGE_QUANTILES, QUANTILES, RANGE_QUANTILES, profile_reference

ROWS = 260_000


def kept(row_ids: np.ndarray, wanted: int, rows: int) -> np.ndarray:
    """The same hash in numpy (Python ints: no overflow either)."""
    threshold = -(-PRIME * wanted // rows)
    return np.array([(int(i) % PRIME) * GOLDEN_FACTOR % PRIME < threshold for i in row_ids])


@pytest.fixture(scope="module")
def wide_log(tmp_path_factory):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.lognormal(0, 1, ROWS), "k": rng.integers(0, 1000, ROWS).astype(float)})
    frame.loc[rng.random(ROWS) < 0.02, "x"] = np.nan
    path = tmp_path_factory.mktemp("hash") / "log.parquet"
    frame.to_parquet(path, index=False)
    return frame, str(path)


def test_the_hash_sample_keeps_numpys_rows_spread_over_the_file(store, wide_log):
    frame, path = wide_log
    dataset = open_dataset(store, [path])
    condition = hash_sample(QUANTILE_SAMPLE_ROWS, ROWS)
    ids = np.array([r[0] for r in store.rows(Sql(f"SELECT {ident(ROW_ID)} FROM {ident(dataset.view)} "
                                                 f"WHERE {condition.text} ORDER BY 1"))])
    expected = np.flatnonzero(kept(np.arange(ROWS), QUANTILE_SAMPLE_ROWS, ROWS))
    np.testing.assert_array_equal(ids, expected)
    assert abs(len(ids) - QUANTILE_SAMPLE_ROWS) < 50
    tenths = np.bincount(ids * 10 // ROWS, minlength=10)  # even over the file, not in runs
    assert tenths.min() > 0.99 * len(ids) / 10
    assert hash_sample(ROWS, ROWS) is None


def test_profile_edges_are_exact_quantiles_of_the_hash_sample(store, wide_log):
    frame, path = wide_log
    dataset = open_dataset(store, [path])
    profile = profile_reference(Scope(store, dataset, RoleMap()))
    rows = frame[kept(np.arange(ROWS), QUANTILE_SAMPLE_ROWS, ROWS)]
    for name in ("x", "k"):
        values = rows[name].dropna().to_numpy()
        column = profile.column(name)
        quantile = dict(zip(sorted({*QUANTILES, *EDGE_QUANTILES, *RANGE_QUANTILES}),
                            np.quantile(values, sorted({*QUANTILES, *EDGE_QUANTILES, *RANGE_QUANTILES}))))
        assert column.quantiles == pytest.approx({f"{q:g}": quantile[q] for q in QUANTILES}, rel=1e-12)
        low, high = quantile[RANGE_QUANTILES[0]], quantile[RANGE_QUANTILES[1]]
        assert column.edges[0] == pytest.approx(low - 0.1 * (high - low), rel=1e-12)
        inner = sorted({quantile[q] for q in EDGE_QUANTILES})
        assert column.edges[1:-1] == pytest.approx(inner, rel=1e-12)
        assert sum(column.counts.bins) == frame[name].notna().sum()  # the counts read every row


def test_discovery_bins_above_the_sample_size_are_exact_quantiles_of_the_hash_sample(store, wide_log):
    """Above ``QUANTILE_SAMPLE_ROWS`` the inner edges are numpy's quantiles (linear, as
    ``quantile_cont``) of exactly the hashed rows' finite values, not of an engine's sampler."""
    frame, path = wide_log
    dataset = open_dataset(store, [path])
    rows = frame[kept(np.arange(ROWS), QUANTILE_SAMPLE_ROWS, ROWS)]
    for feature in plan_bins(store, dataset.view, [dataset.column("x")], n_bins=5):
        inner = [b.high for b in feature.bins if b.kind == RANGE][:-1]
        values = rows["x"].dropna().to_numpy()
        assert inner == pytest.approx(list(np.quantile(values, [0.2, 0.4, 0.6, 0.8])), rel=1e-12)
        everything = frame["x"].dropna().to_numpy()
        assert inner != pytest.approx(list(np.quantile(everything, [0.2, 0.4, 0.6, 0.8])), rel=1e-9)
