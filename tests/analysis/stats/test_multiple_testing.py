"""FDR adjustment against scipy, with undefined p-values left out."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats.multiple_testing import adjust_p_values


@pytest.mark.parametrize("method", ["bh", "by"])
def test_adjustment_is_scipys(method):
    p = [0.001, 0.02, 0.03, 0.5, 0.04]
    np.testing.assert_allclose(adjust_p_values(p, method), stats.false_discovery_control(p, method=method))


@pytest.mark.parametrize("method", ["bh", "by"])
def test_undefined_p_values_stay_undefined_and_are_not_counted(method):
    adjusted = adjust_p_values([0.01, None, float("nan"), 0.04], method)
    assert math.isnan(adjusted[1]) and math.isnan(adjusted[2])
    expected = stats.false_discovery_control([0.01, 0.04], method=method)
    assert adjusted[[0, 3]] == pytest.approx(expected)


def test_nothing_to_adjust_gives_nothing():
    assert len(adjust_p_values([], "bh")) == 0
    assert math.isnan(adjust_p_values([None], "by")[0])
