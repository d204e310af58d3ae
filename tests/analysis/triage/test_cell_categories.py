"""The cells' category counts (one GROUPING SETS statement per kind) equal pandas' value counts
on the same rows: per bucket, over all rows and within each level of every other group column,
missing values in a group or counted column left out."""

import numpy as np
import pandas as pd

from analysis.data.loading import open_dataset
from analysis.triage.cells import CellSpec, count_cells


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(17)
    n = 3000
    frame = pd.DataFrame({
        "day": rng.integers(0, 3, n),
        "region": rng.choice(["n", "s", "e", None], n, p=[0.4, 0.3, 0.2, 0.1]),
        "device": rng.choice(["ios", "web", None], n, p=[0.5, 0.4, 0.1]),
        "tier": rng.choice(["a", "b", "c"], n),
        "reason": rng.choice(["x", "y", "z", None], n, p=[0.5, 0.2, 0.2, 0.1]),
    })
    frame["at"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(frame["day"], unit="D")
    return frame


def _expected(frame: pd.DataFrame, column: str, within: str | None) -> dict[tuple, dict[str, int]]:
    keys = ["day"] + ([within] if within else [])
    rows = frame.dropna(subset=[column, *([within] if within else [])])
    counted: dict[tuple, dict[str, int]] = {}
    for key, n in rows.groupby([*keys, column]).size().items():
        counted.setdefault(key[:-1], {})[key[-1]] = int(n)
    return counted


def test_category_counts_match_pandas(store, tmp_path):
    frame = _frame()
    frame.drop(columns="day").to_parquet(tmp_path / "log.parquet")
    dataset = open_dataset(store, [tmp_path / "log.parquet"])
    groups = ("region", "device", "tier")
    spec = CellSpec(categorical=("region", "device", "reason"), groups=groups)
    cells = count_cells(store, dataset, spec, None, 'date_trunc(\'day\', "at")')
    frame["day"] = frame["at"].dt.day - 1
    found = {(cell.bucket.day - 1, cell.group): cell for cell in cells}
    checked = 0
    for column in spec.categorical:
        for (day,), values in _expected(frame, column, None).items():
            assert found[day, ()].columns[column].categories == values
            checked += 1
        if column not in groups:
            assert all(found[key].columns[column].categories == {} for key in found if key[1])
            continue
        for within in groups:
            if within == column:
                continue
            for (day, level), values in _expected(frame, column, within).items():
                assert found[day, ((within, level),)].columns[column].categories == values
                checked += 1
    assert checked > 40
