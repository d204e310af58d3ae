"""Change-point localisation: the right stretch of buckets, and a break told from a trend."""

from __future__ import annotations

import numpy as np

from analysis.triage.changepoint import find_stretch, segment


def test_a_burst_of_adjacent_buckets_is_one_stretch_with_its_bounds():
    rng = np.random.default_rng(1)
    values = np.zeros(120)
    values[40:46] = 0.4 + rng.normal(0, 0.03, 6)
    stretch = find_stretch(values)
    assert (stretch.first, stretch.last) == (40, 45)
    assert stretch.shape == "burst" and stretch.sudden
    assert stretch.level_inside == np.mean(values[40:46])


def test_a_step_that_lasts_to_the_end_is_a_step():
    rng = np.random.default_rng(2)
    values = np.zeros(60)
    values[45:] = 0.8 + rng.normal(0, 0.05, 15)
    stretch = find_stretch(values)
    assert (stretch.first, stretch.last, stretch.shape) == (45, 59, "step")


def test_a_gradual_rise_is_a_trend_not_a_break():
    rng = np.random.default_rng(3)
    values = np.clip(np.linspace(-0.2, 1.0, 100) + rng.normal(0, 0.05, 100), 0, None)
    stretch = find_stretch(values)
    assert stretch.shape == "trend" and not stretch.sudden
    assert stretch.sharpness < 0.5
    assert stretch.last == 99


def test_two_bursts_in_one_series_are_segmented_apart():
    values = np.zeros(80)
    values[10:14] = 1.0
    values[50:60] = 0.6
    assert segment(values) == [0, 10, 14, 50, 60]
    assert (find_stretch(values).first, find_stretch(values).last) == (10, 13)


def test_a_flat_noisy_series_has_no_change_point_and_zeros_have_no_stretch():
    rng = np.random.default_rng(4)
    assert segment(rng.normal(1.0, 0.1, 200)) == [0]
    assert find_stretch(np.zeros(30)) is None
