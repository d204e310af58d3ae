""":func:`analysis.triage.localisation.surrounding_share` against pandas on planted truths.

Twenty days, a request every ten minutes from three sources; ``x`` is missing at a base rate
everywhere, and a planted finding's rows (``x`` missing) either sit in one source inside a
window or spread over every source. The share around the window (the window's length on each
side, the window itself left out) is what the window's rows would show were they healthy:
the test counts it with pandas on the same rows, over every row and over one source's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.query import Sql
from analysis.scope import Scope
from analysis.triage.localisation import surrounding_share
from analysis.triage.violating_rows import Violation

START = dt.datetime(2026, 3, 1)
WINDOW = (START + dt.timedelta(days=8), START + dt.timedelta(days=11))
MISSING = Violation("CASE WHEN x IS NULL THEN 1.0 ELSE 0.0 END", 1, 0.0, True)


def planted(path, confined: bool) -> pd.DataFrame:
    """The log, ``x`` missing for 5% of rows everywhere and, inside :data:`WINDOW`, for every
    row of source ``b`` (``confined``) or for 60% of the rows of every source."""
    rng = np.random.default_rng(11)
    n = 20 * 24 * 6
    moment = pd.Timestamp(START) + pd.to_timedelta(np.arange(n) * 600 + rng.integers(0, 600, n), unit="s")
    frame = pd.DataFrame({"request_id": np.arange(n).astype(str), "timestamp": moment,
                          "source": rng.choice(["a", "b", "c"], n), "x": rng.normal(10, 2, n),
                          "score": rng.random(n)})
    frame["prediction"] = (frame.score >= 0.5).astype(int)
    missing = rng.uniform(size=n) < 0.05
    inside = frame.timestamp.between(*WINDOW, inclusive="left").to_numpy()
    missing |= inside & ((frame.source == "b").to_numpy() if confined else rng.uniform(size=n) < 0.6)
    frame.loc[missing, "x"] = np.nan
    frame.to_parquet(path)
    return frame


def pandas_share(frame: pd.DataFrame, start, end, rows: pd.Series | None = None) -> float:
    """The share of ``rows`` (all by default) with ``x`` missing in ``[start - L, end + L)``
    outside ``[start, end)``, ``L = end - start``."""
    length = end - start
    around = frame.timestamp.between(start - length, end + length, inclusive="left") & ~frame.timestamp.between(
        start, end, inclusive="left")
    if rows is not None:
        around &= rows
    return float(frame.loc[around, "x"].isna().mean())


@pytest.mark.parametrize("confined", [True, False], ids=["in one source", "spread over all"])
def test_the_share_around_a_window_is_pandas_count_of_the_rows_around_it(store, tmp_path, confined):
    path = tmp_path / "log.parquet"
    frame = planted(path, confined)
    log = load_log(store, [str(path)], check=False)
    scope = Scope(store, log.dataset, log.roles)
    got = surrounding_share(scope, MISSING, Sql("TRUE"), *WINDOW)
    assert got == pytest.approx(pandas_share(frame, *WINDOW))
    assert got < 0.1  # the rows around are healthy: only the base rate, whatever the window holds
    of_b = surrounding_share(scope, MISSING, Sql("source = ?", ("b",)), *WINDOW)
    assert of_b == pytest.approx(pandas_share(frame, *WINDOW, frame.source == "b"))
    inside = frame.timestamp.between(*WINDOW, inclusive="left")
    shares = frame[inside].groupby("source").x.apply(lambda x: x.isna().mean())
    if confined:  # the finding's rows are source b's: all of its rows inside, few of the others'
        assert shares["b"] == 1.0 and shares.drop("b").max() < 0.2
    else:
        assert shares.min() > 0.4


def test_a_window_at_the_start_of_the_log_is_judged_by_the_rows_after_it(store, tmp_path):
    path = tmp_path / "log.parquet"
    frame = planted(path, confined=True)
    log = load_log(store, [str(path)], check=False)
    scope = Scope(store, log.dataset, log.roles)
    start, end = START - dt.timedelta(days=2), START + dt.timedelta(days=2)
    got = surrounding_share(scope, MISSING, Sql("TRUE"), start, end)
    after = frame.timestamp.between(end, end + (end - start), inclusive="left")
    assert got == pytest.approx(float(frame.loc[after, "x"].isna().mean()))
    assert surrounding_share(scope, MISSING, Sql("source = ?", ("nobody",)), *WINDOW) is None
