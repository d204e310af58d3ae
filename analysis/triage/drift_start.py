"""Since when has a column been drifting? The start of a trend, read from the column itself.

The checks report a bucket only when its distribution is far enough from the reference
(:data:`analysis.triage.checks.DISTRIBUTION_MIN_EFFECT`): that bar says whether a drift
matters, not when it began. A slow drift crosses it late (the demo's 1%-a-day drift of
usual spend runs from the log's first day and crossed it on the 17th to the 20th), so a
trend's stretch of fired buckets starts where the drift became large, not where it started.

The start comes from the column's per-bucket mean over the whole log instead, with no bar:
a broken-stick regression, flat up to a kink ``k`` and linear from there, is fitted by
weighted least squares (weights: the rows behind each mean) for every candidate kink. A
kink at the first bucket is the straight line, a trend from the start. The best kink is kept
only when it beats that line by the BIC penalty of one more parameter (``ln n``, the same
kind of penalty :mod:`analysis.triage.changepoint` uses to split a series); otherwise the
drift began with the log.

The same thresholding makes a trend look sudden: the fired buckets jump from "0" (not fired)
to the bar, so a line rising past it reads as a step. Whether a column broke or drifted is
therefore also decided on its mean series: the broken stick against the best single step,
by BIC.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

import numpy as np

from analysis.data.time import BUCKETS, timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.scope import Scope
from analysis.slices import Predicate, to_sql

MIN_BUCKETS = 4
"""A kink needs a flat part and a sloped part of at least two buckets each to be fitted."""


@dataclass(frozen=True)
class Onset:
    """Where a column's mean began to move (``start``, a bucket's start) and whether it moved
    gradually (a broken stick fits better than a step) or at once."""

    start: _dt.datetime
    gradual: bool


def _bic(cost: float, n: int, parameters: int) -> float:
    return n * math.log(max(cost, 1e-300) / n) + parameters * math.log(n)


def kink_index(times: np.ndarray, means: np.ndarray, weights: np.ndarray) -> int:
    """Index of the bucket where a trend in ``means`` (at increasing ``times``) began: 0 unless
    a flat-then-linear fit with its kink later beats a straight line over all buckets by the
    BIC penalty."""
    t, y, w = (np.asarray(a, dtype=np.float64) for a in (times, means, weights))
    n = len(y)
    if n < MIN_BUCKETS:
        return 0
    costs = np.array([_hinge_cost(t, y, w, k) for k in range(n - 2)])
    best = int(np.argmin(costs))
    if best == 0 or costs[0] <= 0:
        return 0
    return best if _bic(costs[best], n, 3) < _bic(costs[0], n, 2) else 0


def is_gradual(times: np.ndarray, means: np.ndarray, weights: np.ndarray) -> bool:
    """True when the broken stick (or the straight line) explains ``means`` better than the
    best single step, by BIC: the line has two parameters, the stick and the step three each
    (two coefficients and where the kink or step sits)."""
    t, y, w = (np.asarray(a, dtype=np.float64) for a in (times, means, weights))
    n = len(y)
    if n < MIN_BUCKETS:
        return False
    kink = kink_index(t, y, w)
    gradual = _bic(_hinge_cost(t, y, w, kink), n, 3 if kink else 2)
    step = min(_bic(_step_cost(y, w, k), n, 3) for k in range(1, n))
    return gradual <= step


def _hinge_cost(t: np.ndarray, y: np.ndarray, w: np.ndarray, kink: int) -> float:
    """Weighted residual sum of squares of ``y = a + b * max(t - t[kink], 0)``."""
    return _fit_cost(np.column_stack([np.ones_like(t), np.maximum(t - t[kink], 0.0)]), y, w)


def _step_cost(y: np.ndarray, w: np.ndarray, split: int) -> float:
    """Weighted residual sum of squares of one mean before ``split`` and another from it."""
    after = (np.arange(len(y)) >= split).astype(np.float64)
    return _fit_cost(np.column_stack([1.0 - after, after]), y, w)


def _fit_cost(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    root = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)
    return float(np.sum(w * (y - design @ coef) ** 2))


def drift_onset(scope: Scope, column: str, group: Predicate, width: _dt.timedelta,
                cancel: CancelToken = NEVER_CANCELLED) -> Onset | None:
    """Where ``column``'s mean began to trend among ``group``'s rows, in buckets of ``width``
    (the checks' buckets), and whether a trend explains it better than a step; None without
    a timestamp, with a width no bucket has, or with too few buckets to tell."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    bucket = next((b for b in BUCKETS if b.seconds == width.total_seconds()), None)
    if roles.timestamp is None or bucket is None:
        return None
    value = f"CAST({ident(column)} AS DOUBLE)"
    where = to_sql(group)
    sql = Sql(
        f"SELECT {bucket.sql(timestamp_expr(dataset, roles))} AS bucket_start, AVG({value}) AS mean, "
        f"COUNT({value}) AS n FROM {ident(dataset.view)} WHERE {where.text} "
        f"GROUP BY bucket_start HAVING COUNT({value}) > 0 ORDER BY bucket_start",
        where.params,
    )
    series = store.df(sql, cancel)
    if len(series) < MIN_BUCKETS:
        return None
    starts = series["bucket_start"]
    times = ((starts - starts.iloc[0]) / width).to_numpy(dtype=np.float64)
    means, weights = series["mean"].to_numpy(), series["n"].to_numpy()
    first = kink_index(times, means, weights)
    return Onset(starts.iloc[first].to_pydatetime(), is_gradual(times, means, weights))
