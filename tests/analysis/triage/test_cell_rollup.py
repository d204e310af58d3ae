"""The cells rolled up from the per-cell table (one GROUPING SETS statement) equal pandas'
per-day and per-(day, level) aggregates of the same rows: row and null counts, zeros, sums,
squares, extremes, histogram bins and outcome sums; a row whose group value is missing counts
in its day's all-rows cell and in no level's."""

import numpy as np
import pandas as pd
import pytest

from analysis.data.loading import open_dataset
from analysis.triage.cells import CellSpec, count_cells

EDGES = (-1.0, 0.0, 1.5)


LEVELS = {"region": (["n", "s", "e", None], [0.4, 0.3, 0.2, 0.1]), "tier": (["a", "b", None], [0.6, 0.3, 0.1])}


def _frame() -> pd.DataFrame:
    """Four days of rows, each group column missing on a tenth of them, x missing on 15%."""
    rng = np.random.default_rng(19)
    n = 4000
    frame = pd.DataFrame({name: rng.choice(values, n, p=shares) for name, (values, shares) in LEVELS.items()})
    frame["day"] = rng.integers(0, 4, n)
    frame["x"] = np.where(rng.random(n) < 0.15, np.nan, rng.normal(0.0, 1.5, n).round(1))
    frame["err"] = rng.integers(0, 2, n).astype(float)
    frame["at"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(frame["day"], unit="D")
    return frame


def _expected(rows: pd.DataFrame) -> dict:
    x = rows["x"].dropna()
    below = [int((x < e).sum()) for e in EDGES]
    return {
        "rows": len(rows), "non_null": len(x), "zeros": int((x == 0).sum()),
        "minimum": x.min() if len(x) else None, "maximum": x.max() if len(x) else None,
        "total": x.sum(), "total_sq": (x * x).sum(),
        "bins": tuple(np.diff([0, *below, len(x)]).tolist()), "err": rows["err"].sum(),
    }


def _found(cell) -> dict:
    counts = cell.columns["x"]
    return {
        "rows": cell.rows, "non_null": counts.non_null, "zeros": counts.zeros, "minimum": counts.minimum,
        "maximum": counts.maximum, "total": counts.total, "total_sq": counts.total_sq, "bins": counts.bins,
        "err": cell.outcomes["error"][1],
    }


def test_rolled_up_cells_match_pandas(store, tmp_path):
    frame = _frame()
    frame.drop(columns="day").to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, [tmp_path / "log.parquet"])
    spec = CellSpec(numeric=(("x", EDGES),), categorical=("region", "tier"), groups=("region", "tier"),
                    outcomes=(("error", '"err"'),))
    cells = count_cells(store, dataset, spec, None, 'date_trunc(\'day\', "at")')
    found = {(cell.bucket.day - 1, cell.group): cell for cell in cells}
    expected = {(day, ()): _expected(rows) for day, rows in frame.groupby("day")}
    for column in spec.groups:
        for (day, level), rows in frame.dropna(subset=[column]).groupby(["day", column]):
            expected[day, ((column, level),)] = _expected(rows)
    assert set(found) == set(expected)
    for key, wanted in expected.items():
        got = _found(found[key])
        for name, value in wanted.items():
            assert got[name] == pytest.approx(value), (key, name)
