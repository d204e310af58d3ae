"""Turn feature columns into small integer codes, one per bin, for slice discovery.

Slice discovery searches conjunctions of ``feature = bin`` predicates, so every feature is first
cut into a handful of bins, in DuckDB, over the rows being analysed:

* numeric and temporal columns with more than ``n_bins`` distinct values: quantile bins, like
  ``pandas.qcut(x, n_bins, duplicates="drop")``: the edges are the exact quantiles
  (``quantile_cont``, linear interpolation as numpy does) of the finite values, together with
  the minimum and maximum, deduplicated; bins are right-closed and the outer ones open-ended,
  so every value, also infinite or NaN (which DuckDB orders above all numbers), has a bin;
* columns with at most ``n_bins`` distinct values (flags, small counts) and every other column
  (text, booleans): one bin per value for the ``max_categories`` most frequent values, plus one
  "other" bin for the rest;
* missing values (NULL) always get a bin of their own, because a column that suddenly goes
  missing for some rows is one of the commonest production bugs.

Each bin is kept as data (:class:`BinPredicate`), so a discovered slice can be shown as text,
turned back into SQL, or into a saved slice.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.dataset import Column
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, literal_list, select
from analysis.slices import InSet, IsNull, Predicate, Range
from analysis.store import Store
from analysis.report.formatting import plain_value

RANGE = "range"
IN = "in"
IS_NULL = "is_null"
OTHER = "other"

MAX_BINS = 50
"""Bins per feature (plus "other" and NULL): discovery counts every cell of up to three
features at once, so 52 codes make at most 140,608 cells; codes fit a UTINYINT."""

_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")
_NESTED_MARKERS = ("[", "STRUCT", "MAP", "UNION")
_SHOWN_VALUES = 5


@dataclass(frozen=True)
class BinPredicate:
    """What one bin of one column means.

    ``kind`` is ``"range"`` (``low``/``high``, either None for open-ended, with inclusivity
    flags), ``"in"`` (``values``), ``"is_null"``, or ``"other"`` (not NULL and none of
    ``values``).
    """

    column: str
    kind: str
    low: Any = None
    high: Any = None
    low_inclusive: bool = False
    high_inclusive: bool = True
    values: tuple[Any, ...] = ()

    def sql(self) -> Sql:
        """The predicate as a SQL condition over the dataset's view."""
        column = ident(self.column)
        if self.kind == IS_NULL:
            return Sql(f"{column} IS NULL")
        if self.kind == IN:
            marks = ", ".join("?" for _ in self.values)
            return Sql(f"{column} IN ({marks})", tuple(self.values))
        if self.kind == OTHER:
            marks = ", ".join("?" for _ in self.values)
            return Sql(f"{column} IS NOT NULL AND {column} NOT IN ({marks})", tuple(self.values))
        parts, params = [f"{column} IS NOT NULL"], []
        if self.low is not None:
            parts.append(f"{column} {'>=' if self.low_inclusive else '>'} ?")
            params.append(self.low)
        if self.high is not None:
            parts.append(f"{column} {'<=' if self.high_inclusive else '<'} ?")
            params.append(self.high)
        return Sql(" AND ".join(parts), tuple(params))

    def to_predicate(self) -> Predicate:
        """The bin as a slice predicate of :mod:`analysis.slices` (same rows as :meth:`sql`).

        Decimal edges become floats; a NaN value (a float column with few distinct values)
        cannot be a slice value and raises ValueError.
        """
        if self.kind == IS_NULL:
            return IsNull(self.column)
        if self.kind in (IN, OTHER):
            return InSet(self.column, tuple(plain_value(v) for v in self.values), negated=self.kind == OTHER)
        if self.low is None and self.high is None:
            return IsNull(self.column, negated=True)
        return Range(
            self.column, plain_value(self.low), plain_value(self.high), self.low_inclusive, self.high_inclusive
        )

    @property
    def text(self) -> str:
        """Readable form, e.g. ``region = 'EU-West'`` or ``12.5 < amount <= 30``."""
        name = self.column
        if self.kind == IS_NULL:
            return f"{name} IS NULL"
        if self.kind == IN:
            if len(self.values) == 1:
                return f"{name} = {show_value(self.values[0])}"
            return f"{name} IN ({', '.join(show_value(v) for v in self.values)})"
        if self.kind == OTHER:
            shown = [show_value(v) for v in self.values[:_SHOWN_VALUES]]
            if len(self.values) > _SHOWN_VALUES:
                shown.append(f"+{len(self.values) - _SHOWN_VALUES} more")
            return f"{name} NOT IN ({', '.join(shown)})"
        low_op = "<=" if self.low_inclusive else "<"
        high_op = "<=" if self.high_inclusive else "<"
        if self.low is None and self.high is None:
            return f"{name} IS NOT NULL"
        if self.low is None:
            return f"{name} {high_op} {show_value(self.high)}"
        if self.high is None:
            return f"{name} {'>=' if self.low_inclusive else '>'} {show_value(self.low)}"
        return f"{show_value(self.low)} {low_op} {name} {high_op} {show_value(self.high)}"


def show_value(value: Any) -> str:
    """A value as a person reads it in a predicate: quoted text, short numbers, ISO dates."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class BinnedFeature:
    """One binned column: code ``i`` of its rows means ``bins[i]``."""

    column: Column
    bins: tuple[BinPredicate, ...]


@dataclass(frozen=True)
class BinnedFrame:
    """Codes of the rows (``n x m`` uint8, column j per ``features[j]``), plus the extra
    expressions fetched in the same query, so they line up row by row."""

    features: tuple[BinnedFeature, ...]
    codes: np.ndarray
    extra: tuple[np.ndarray, ...] = ()


def plan_bins(
    store: Store,
    view: str,
    columns: Sequence[Column],
    condition: Sql | None = None,
    *,
    n_bins: int = 5,
    max_categories: int = 10,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[BinnedFeature]:
    """Decide the bins of each column from the rows matching ``condition``.

    Nested columns (lists, structs, maps) cannot be compared with a value and are left out.
    When a skewed numeric column's quantiles collapse to a single bin (say 95% zeros), its most
    frequent values and "other" are used instead.
    One aggregate query reads the quantiles and null counts of all columns; small grouped
    queries read the values of the categorical and low-cardinality ones.
    """
    if not 2 <= n_bins <= MAX_BINS or not 1 <= max_categories <= MAX_BINS:
        raise ValueError(f"n_bins must be in [2, {MAX_BINS}] and max_categories in [1, {MAX_BINS}]")
    usable = [c for c in columns if not any(m in c.dtype.upper() for m in _NESTED_MARKERS)]
    if not usable:
        return []
    summary = _summaries(store, view, usable, condition, n_bins, cancel)
    features = []
    for column, (quantiles, distinct, has_null) in zip(usable, summary):
        bins: list[BinPredicate] = []
        if quantiles is not None and distinct > n_bins:
            bins = _range_bins(column.name, quantiles)
        if not bins:
            limit = n_bins if quantiles is not None else max_categories
            values = _top_values(store, view, column.name, condition, limit + 1, cancel)
            if quantiles is not None and len(values) > n_bins:
                bins = _range_bins(column.name, quantiles)
            if not bins:
                bins = _value_bins(column.name, values, limit)
        if has_null:
            bins.append(BinPredicate(column.name, IS_NULL))
        features.append(BinnedFeature(column, tuple(bins)))
    return features


def bin_features(
    store: Store,
    view: str,
    columns: Sequence[Column],
    condition: Sql | None = None,
    *,
    n_bins: int = 5,
    max_categories: int = 10,
    extra: Sequence[str] = (),
    cancel: CancelToken = NEVER_CANCELLED,
) -> BinnedFrame:
    """Bin ``columns`` over the rows matching ``condition`` and fetch every row's codes.

    ``extra`` are SQL expressions (built by Sleuth, e.g. a row's error) fetched as DOUBLE in
    the same query, so they line up with the codes row by row.
    """
    features = plan_bins(
        store, view, columns, condition, n_bins=n_bins, max_categories=max_categories, cancel=cancel
    )
    return fetch_codes(store, view, features, condition, extra=extra, cancel=cancel)


def fetch_codes(
    store: Store,
    view: str,
    features: Sequence[BinnedFeature],
    condition: Sql | None = None,
    *,
    extra: Sequence[str] = (),
    cancel: CancelToken = NEVER_CANCELLED,
) -> BinnedFrame:
    """One query: each feature's code as UTINYINT, plus ``extra`` expressions as DOUBLE."""
    expressions, params = [], []
    for position, feature in enumerate(features):
        case = _code_case(feature)
        expressions.append(f"CAST({case.text} AS UTINYINT) AS {ident(f'c{position}')}")
        params.extend(case.params)
    expressions += [f"CAST(({sql}) AS DOUBLE) AS {ident(f'x{i}')}" for i, sql in enumerate(extra)]
    if not expressions:
        expressions = ["1 AS one"]
    query = select(expressions, ident(view), condition)
    with store.job_cursor(cancel) as cur:
        result = cur.execute(query.text, params + list(query.params)).fetchnumpy()
    n_rows = len(next(iter(result.values())))
    codes = np.empty((len(features), n_rows), dtype=np.uint8)
    for position in range(len(features)):
        codes[position] = result.pop(f"c{position}")
    extra_values = tuple(np.asarray(result.pop(f"x{i}"), dtype=np.float64) for i in range(len(extra)))
    return BinnedFrame(tuple(features), codes.T, extra_values)


def _summaries(
    store: Store, view: str, columns: Sequence[Column], condition: Sql | None, n_bins: int,
    cancel: CancelToken,
) -> list[tuple[list[Any] | None, int, bool]]:
    """Per column: quantiles at 0, 1/n_bins, ..., 1 (None unless numeric or temporal), an
    approximate distinct count, and whether it has NULLs, in a single scan."""
    fractions = literal_list([i / n_bins for i in range(n_bins + 1)])
    expressions = []
    for column in columns:
        name = ident(column.name)
        expressions.append(f"count(*) FILTER (WHERE {name} IS NULL) > 0")
        if _is_ordered(column):
            finite = f" FILTER (WHERE isfinite({name}))" if _is_float(column) else ""
            expressions.append(f"quantile_cont({name}, {fractions}){finite}")
            expressions.append(f"approx_count_distinct({name})")
    row = store.rows(select(expressions, ident(view), condition), cancel)[0]
    summaries, position = [], 0
    for column in columns:
        has_null = bool(row[position])
        position += 1
        quantiles, distinct = None, 0
        if _is_ordered(column):
            quantiles, distinct = row[position] or [], int(row[position + 1] or 0)
            position += 2
        summaries.append((quantiles, distinct, has_null))
    return summaries


def _is_ordered(column: Column) -> bool:
    return column.is_numeric or column.is_temporal


def _is_float(column: Column) -> bool:
    return column.dtype.upper().split("(")[0] in _FLOAT_TYPES


def _range_bins(name: str, quantiles: list[Any]) -> list[BinPredicate]:
    """Right-closed bins between the deduplicated quantiles, the outer two open-ended."""
    edges = sorted(set(q for q in quantiles if q is not None))
    inner = edges[1:-1]
    if not inner:
        return []
    bins = [BinPredicate(name, RANGE, high=inner[0])]
    bins += [BinPredicate(name, RANGE, low=lo, high=hi) for lo, hi in zip(inner[:-1], inner[1:])]
    bins.append(BinPredicate(name, RANGE, low=inner[-1], high_inclusive=False))
    return bins


def _top_values(
    store: Store, view: str, name: str, condition: Sql | None, limit: int, cancel: CancelToken
) -> list[Any]:
    """The most frequent non-NULL values, most frequent first (ties by value)."""
    column = ident(name)
    query = select(
        [column], ident(view), Sql(f"{column} IS NOT NULL") & condition,
        group_by=[column], order_by=["count(*) DESC", column], limit=limit,
    )
    return [value for (value,) in store.rows(query, cancel)]


def _value_bins(name: str, values: list[Any], limit: int) -> list[BinPredicate]:
    kept = values[:limit]
    bins = [BinPredicate(name, IN, values=(value,)) for value in kept]
    if len(values) > limit:
        bins.append(BinPredicate(name, OTHER, values=tuple(kept)))
    return bins


def _code_case(feature: BinnedFeature) -> Sql:
    """``CASE`` giving each row the code of its bin: NULL first, then values or upper edges in
    order; the open-ended top bin or the "other" bin takes the rest."""
    column = ident(feature.column.name)
    whens, params = [], []
    fallback = 0
    for code, bin_ in enumerate(feature.bins):
        if bin_.kind == IS_NULL:
            whens.insert(0, f"WHEN {column} IS NULL THEN {code}")
        elif bin_.kind == IN:
            whens.append(f"WHEN {column} = ? THEN {code}")
            params.append(bin_.values[0])
        elif bin_.kind == RANGE and bin_.high is not None:
            whens.append(f"WHEN {column} <= ? THEN {code}")
            params.append(bin_.high)
        else:
            fallback = code
    if not whens:
        return Sql(str(fallback))
    return Sql(f"CASE {' '.join(whens)} ELSE {fallback} END", tuple(params))
