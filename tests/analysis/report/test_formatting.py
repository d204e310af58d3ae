"""What numbers, intervals, p-values and plain values read as, including the awkward ones."""

import datetime as dt
import decimal
import json
import math
import uuid

import numpy as np
import pandas as pd
import pytest

from analysis.report.formatting import (
    MISSING, count, escape_html, interval, is_missing, json_value, number, p_value, percent, plain_value, signed,
    significant,
)

MISSING_VALUES = [None, float("nan"), np.float32("nan"), np.nan, pd.NA, pd.NaT]


@pytest.mark.parametrize("value", MISSING_VALUES)
def test_every_kind_of_missing_value_reads_the_same(value):
    assert is_missing(value)
    assert number(value) == signed(value) == p_value(value) == percent(value) == count(value) == MISSING
    assert significant(value) == MISSING
    assert interval(value, 1.0) == interval(0.0, value) == MISSING
    assert json_value(value) is None


@pytest.mark.parametrize("value", [0, 0.0, "", "nan", False, dt.date(2024, 1, 1)])
def test_values_that_only_look_empty_are_not_missing(value):
    assert not is_missing(value)


def test_numbers_have_four_decimals_and_differences_a_sign():
    assert number(0.93124) == "0.9312"
    assert number(np.float64(-0.5)) == "-0.5000"
    assert number(3) == "3.0000"
    assert number(decimal.Decimal("0.25")) == "0.2500"
    assert signed(0.0123) == "+0.0123"
    assert signed(-0.004) == "-0.0040"
    assert signed(0.0) == "+0.0000"
    assert number(0.931, decimals=2) == "0.93"


def test_values_of_unknown_magnitude_keep_significant_digits():
    assert significant(0.012345) == "0.0123"
    assert significant(123456.0) == "1.23e+05"
    assert significant(-0.5, 4, with_sign=True) == "-0.5"
    assert significant(0.25, 4, with_sign=True) == "+0.25"


def test_infinite_values_read_as_infinity_not_as_missing():
    assert number(float("inf")) == "∞"
    assert number(-np.inf) == "-∞"
    assert signed(float("-inf")) == "-∞"


def test_intervals_show_both_ends_or_nothing():
    assert interval(0.1, 0.25) == "[0.1000, 0.2500]"
    assert interval(-0.01, 0.03, with_sign=True) == "[-0.0100, +0.0300]"
    assert interval(0.1, 0.2, 2) == "[0.10, 0.20]"


def test_p_values_have_two_significant_digits_and_never_read_zero():
    assert p_value(0.03412) == "0.034"
    assert p_value(1.0) == "1"
    assert p_value(1.234e-5) == "1.2e-05"
    assert p_value(1e-320) == "1e-320"
    assert p_value(0.0) == "< 1e-300"


def test_percentages_and_counts():
    assert percent(0.125) == "12.5%"
    assert percent(1) == "100.0%"
    assert percent(0.5, decimals=0) == "50%"
    assert count(1234567) == "1,234,567"
    assert count(np.int64(12)) == "12"


def test_html_escaping_makes_data_values_inert():
    assert escape_html("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert escape_html("<b>region = 'EU'</b>") == "&lt;b&gt;region = 'EU'&lt;/b&gt;"
    assert escape_html(3) == "3"


def test_plain_values_are_python_scalars_a_slice_can_hold():
    assert type(plain_value(np.int64(3))) is int
    assert type(plain_value(np.float32(0.5))) is float
    assert plain_value(np.bool_(True)) is True
    assert plain_value(decimal.Decimal("1.5")) == 1.5
    key = uuid.UUID(int=1)
    assert plain_value(key) == str(key)
    moment = dt.datetime(2024, 5, 1, 12)
    assert plain_value(moment) is moment
    assert plain_value("EU") == "EU"


def test_json_values_survive_a_strict_json_round_trip():
    values = [np.int64(3), np.float64(0.25), float("inf"), np.nan, pd.Timestamp("2024-05-01 12:00"),
              dt.date(2024, 5, 1), dt.time(8, 30), (1, np.float32("nan")), decimal.Decimal("2.5"), "text", True]
    plain = json_value(values)
    assert plain == [3, 0.25, None, None, "2024-05-01T12:00:00", "2024-05-01", "08:30:00", [1, None], 2.5,
                     "text", True]
    assert json.loads(json.dumps(plain, allow_nan=False)) == plain
    assert json_value({"p": np.nan, "ci": (np.float64(0.1), None)}) == {"p": None, "ci": [0.1, None]}
    assert not any(isinstance(v, float) and math.isnan(v) for v in plain if v is not None)
