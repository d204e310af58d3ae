"""Since when? The anomalous stretch of a per-bucket series, and whether it broke or drifted.

Input checks look at one time bucket at a time; triage needs the stretch of buckets where a
problem lasted and its shape, because a sudden break (a pipeline failure, a client's release)
is a bug to fix now while a slow trend is the population changing. Both come from one
piecewise-constant fit of the series:

* **Segmentation** is binary segmentation with a mean-shift cost (the sum of squared
  deviations from each segment's mean): split where the cost drops most, recurse, and stop
  when the best split saves less than a BIC-style penalty ``2 * noise² * ln(n)``, with the
  noise estimated from bucket-to-bucket differences (median absolute deviation), so a flat
  noisy series stays one segment.
* **The stretch** is the run of consecutive segments whose mean is at least
  :data:`ANOMALOUS_SHARE` of the highest segment mean (buckets where no check fired count
  as 0, "like the reference"); a staircase fitted to a trend is therefore one stretch.
* **The shape** compares how much the series moves *inside* the stretch (a least-squares line
  over it) with the jump from outside to inside:
  ``sharpness = 1 - |slope × length| / (2 × |mean inside - mean outside|)``, clipped to
  [0, 1]. A flat plateau that appears at once has sharpness 1; a line rising from the
  baseline has sharpness 0. Below :data:`SUDDEN_SHARPNESS` the stretch is a ``trend``;
  otherwise a ``burst`` when it ends before the series does, a ``step`` when it lasts to the
  end. A stretch that spans the whole series has no change point in it: its shape is
  ``level`` (the series differs from the reference from the first bucket on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANOMALOUS_SHARE = 0.25
"""A segment belongs to the stretch when its mean reaches this share of the peak segment mean."""

SUDDEN_SHARPNESS = 0.5
"""Stretches at least this sharp are sudden (a burst or a step); below it they are a trend."""

MIN_NOISE = 1e-9
"""Floor of the noise estimate, so a noise-free series still has a finite penalty."""

SUDDEN_SHAPES = ("burst", "step")


@dataclass(frozen=True)
class Stretch:
    """Buckets ``first``..``last`` (inclusive indices) of a series where it departed.

    ``level_inside``/``level_outside`` are the mean values in and out of the stretch (outside
    is 0 when the stretch covers the whole series); ``shape`` is ``burst``, ``step``,
    ``trend`` or ``level``; ``sharpness`` in [0, 1] says how abruptly it started (see the module text).
    """

    first: int
    last: int
    level_inside: float
    level_outside: float
    shape: str
    sharpness: float

    @property
    def sudden(self) -> bool:
        return self.shape in SUDDEN_SHAPES

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def segment(values: np.ndarray) -> list[int]:
    """Start indices of the constant-mean segments of ``values`` (always begins with 0)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return []
    penalty = 2.0 * noise_level(values) ** 2 * math.log(max(n, 2))
    starts = {0}
    pending = [(0, n)]
    while pending:
        lo, hi = pending.pop()
        split, saving = best_split(values[lo:hi])
        if split is not None and saving > penalty:
            starts.add(lo + split)
            pending += [(lo, lo + split), (lo + split, hi)]
    return sorted(starts)


def noise_level(values: np.ndarray) -> float:
    """Standard deviation of the noise, from the median absolute bucket-to-bucket change.

    Differences cancel the level, so a few jumps do not inflate the estimate as the plain
    standard deviation would; ``1.4826 / sqrt(2)`` turns the MAD of differences into sigma.
    """
    if len(values) < 3:
        return MIN_NOISE
    diffs = np.diff(values)
    mad = np.median(np.abs(diffs - np.median(diffs)))
    return max(float(mad) * 1.4826 / math.sqrt(2.0), MIN_NOISE)


def best_split(values: np.ndarray) -> tuple[int | None, float]:
    """The index splitting ``values`` into two constant-mean parts with the lowest cost,
    and how much cost it saves over one mean; ``(None, 0)`` when it cannot be split."""
    n = len(values)
    if n < 2:
        return None, 0.0
    sums = np.cumsum(values)
    total = sums[-1]
    left = np.arange(1, n)
    right = n - left
    left_mean = sums[:-1] / left
    right_mean = (total - sums[:-1]) / right
    savings = left * right / n * (left_mean - right_mean) ** 2
    best = int(np.argmax(savings))
    return best + 1, float(savings[best])


def find_stretch(values: np.ndarray) -> Stretch | None:
    """The anomalous stretch of ``values`` (None when nothing departs from 0)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or not np.any(values > 0):
        return None
    starts = segment(values)
    bounds = list(zip(starts, starts[1:] + [len(values)]))
    means = np.array([values[a:b].mean() for a, b in bounds])
    peak = int(np.argmax(means))
    anomalous = means >= ANOMALOUS_SHARE * means[peak]
    first_seg, last_seg = peak, peak
    while first_seg > 0 and anomalous[first_seg - 1]:
        first_seg -= 1
    while last_seg < len(bounds) - 1 and anomalous[last_seg + 1]:
        last_seg += 1
    first, last = bounds[first_seg][0], bounds[last_seg][1] - 1
    return _shaped(values, first, last)


def _shaped(values: np.ndarray, first: int, last: int) -> Stretch:
    inside = values[first : last + 1]
    outside = np.concatenate([values[:first], values[last + 1 :]])
    level_inside = float(inside.mean())
    level_outside = float(outside.mean()) if len(outside) else 0.0
    sharpness = _sharpness(inside, level_inside - level_outside)
    if sharpness < SUDDEN_SHARPNESS:
        shape = "trend"
    elif first == 0 and last == len(values) - 1:
        shape = "level"
    else:
        shape = "step" if last == len(values) - 1 else "burst"
    return Stretch(first, last, level_inside, level_outside, shape, sharpness)


def _sharpness(inside: np.ndarray, jump: float) -> float:
    """1 for a flat plateau, 0 for a line that climbs the whole jump inside the stretch."""
    if len(inside) < 3 or jump == 0:
        return 1.0 if jump != 0 else 0.0
    slope = np.polyfit(np.arange(len(inside), dtype=np.float64), inside, 1)[0]
    climb = abs(slope) * len(inside)
    return float(np.clip(1.0 - climb / (2.0 * abs(jump)), 0.0, 1.0))
