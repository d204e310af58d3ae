"""Numbers, intervals, p-values, shares and counts as text, and values made plain for slices
and JSON: one place, so a panel, the CLI and a report show a result the same way.

A missing value (None, NaN, NaT) always reads "—", never "n/a", "nan" or "None". Infinite
values read "∞" and "-∞" (a log loss can be infinite; that is a result, not a gap). Metrics
and differences show four decimals, enough to tell 0.9312 from 0.9316 in a comparison. A
p-value shows two significant digits, and one that underflowed to 0 reads "< 1e-300"
rather than "0", because no test proves an effect with certainty.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import html
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

MISSING = "—"
"""What every missing value reads as."""

DECIMALS = 4
"""Decimals of a metric, a difference or an interval bound."""

SMALLEST_P = "< 1e-300"
"""What a p-value that underflowed to 0 reads as."""


def is_missing(value: Any) -> bool:
    """True for None, NaN (Python, numpy or pandas), NaT and pandas' NA."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(value != value)  # NaN and NaT are the values unequal to themselves
    except (TypeError, ValueError):
        return False


def number(value: Any, decimals: int = DECIMALS) -> str:
    """A metric or other real number, e.g. ``0.9312``."""
    return _real(value, f".{decimals}f")


def signed(value: Any, decimals: int = DECIMALS) -> str:
    """A difference with its sign always shown, e.g. ``+0.0123`` or ``-0.0040``."""
    return _real(value, f"+.{decimals}f")


def significant(value: Any, digits: int = 3, *, with_sign: bool = False) -> str:
    """A value of unknown magnitude (an influence score, a raw feature value) with ``digits``
    significant digits, e.g. ``0.0123`` or ``1.23e+05``."""
    return _real(value, f"{'+' if with_sign else ''}.{digits}g")


def interval(low: Any, high: Any, decimals: int = DECIMALS, *, with_sign: bool = False) -> str:
    """An interval as ``[low, high]``; missing when either end is."""
    if is_missing(low) or is_missing(high):
        return MISSING
    show = signed if with_sign else number
    return f"[{show(low, decimals)}, {show(high, decimals)}]"


def p_value(value: Any) -> str:
    """A p-value with two significant digits, e.g. ``0.034`` or ``1.2e-05``."""
    if is_missing(value):
        return MISSING
    if float(value) <= 0.0:
        return SMALLEST_P
    return f"{float(value):.2g}"


def percent(value: Any, decimals: int = 1) -> str:
    """A share as a percentage, e.g. ``12.5%`` for 0.125."""
    return _real(value, f".{decimals}%")


def count(value: Any) -> str:
    """A count with thousands separators, e.g. ``12,345``."""
    if is_missing(value):
        return MISSING
    return f"{int(value):,}"


def escape_html(text: Any) -> str:
    """Text safe to put inside the elements of rich-text (HTML) labels: data values may hold
    ``<`` or ``&``. Quotes stay as they are, so a slice reads ``region = 'EU'``; this text is
    never put inside an attribute value."""
    return html.escape(str(text), quote=False)


def _real(value: Any, spec: str) -> str:
    if is_missing(value):
        return MISSING
    real = float(value)
    if math.isinf(real):
        return "∞" if real > 0 else "-∞"
    return format(real, spec)


def plain_value(value: Any) -> Any:
    """A value a slice predicate can hold: numpy scalars as Python ones, Decimal as float,
    UUID as text (what DuckDB returns for such columns is not comparable otherwise)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def json_value(value: Any) -> Any:
    """A value ``json.dumps`` writes as valid JSON: missing and infinite numbers as null, times
    and dates as ISO text, lists, tuples and dicts item by item, numpy and Decimal as Python
    numbers."""
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if is_missing(value):
        return None
    value = plain_value(value)
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return value
