"""How a column is cut into groups: one module, two cuts for two uses.

**Groups for a breakdown** (:func:`bin_column`): each group is kept as a slice predicate, so
its rows are exactly the predicate's rows and a double-click in the GUI can AND it with the
current slice:

* numeric and temporal columns: quantile edges (exact, or over a sample of about
  ``QUANTILE_SAMPLE_ROWS`` rows on large logs; the outer edges are always the exact minimum
  and maximum), deduplicated, or the user's edges; bins ``[a, b)`` with the last one closed,
  plus ``< first edge`` and ``> last edge`` groups that catch what lies outside (infinities,
  NaN, values outside user edges) so the groups always cover every row;
* booleans, low-cardinality numbers and every other column: one group per value for the
  ``top_k`` most frequent values, the rest as one "other" group;
* null is always a group of its own when the column has nulls.

**Codes for slice discovery** (:func:`plan_bins`, :func:`bin_features`): discovery searches
conjunctions of ``feature = bin`` predicates, so every feature is first cut into a handful of
bins, in DuckDB, over the rows being analysed, and every row gets a small integer code per
feature. The bins of all columns are planned from one scan, which is why they are exact
quantiles rather than a sample's:

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

Both cuts share the column checks, the query for a column's most frequent values, and the
rule that NULL is a group of its own; they differ where their users differ (a breakdown's
groups are read by people and cover values outside user edges; discovery's bins match
``pandas.qcut`` so a slice's rows are a quantile's).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.dataset import Column, Dataset
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, literal_list, select
from analysis.slices import Compare, InSet, IsNull, Predicate, Range, all_of, to_sql, to_text
from analysis.store import Store
from analysis.report.formatting import plain_value

RANGE = "range"
IN = "in"
IS_NULL = "is_null"
OTHER = "other"

MAX_BINS = 50
"""Bins per feature (plus "other" and NULL): discovery counts every cell of up to three
features at once, so 52 codes make at most 140,608 cells; codes fit a UTINYINT."""

QUANTILE_SAMPLE_ROWS = 200_000
"""Above this many rows in the dataset, a breakdown's inner quantile edges come from a sample
of about this size: edges only need to split the rows roughly evenly, and exact quantiles of
10M rows cost a second."""

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
            values, _ = _frequent_values(store, view, column.name, condition, limit + 1, cancel)
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


def _frequent_values(
    store: Store, view: str, name: str, condition: Sql | None, limit: int, cancel: CancelToken
) -> tuple[list[Any], int]:
    """Up to ``limit`` of the most frequent non-NULL values, most frequent first (ties by
    value), and how many distinct non-NULL values there are in all."""
    column = ident(name)
    query = select(
        [column, "count(*) OVER ()"], ident(view), Sql(f"{column} IS NOT NULL") & condition,
        group_by=[column], order_by=["count(*) DESC", column], limit=limit,
    )
    ranked = store.rows(query, cancel)
    return [value for value, _ in ranked], int(ranked[0][1]) if ranked else 0


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


# --- groups of one column, for breakdowns -------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One group of a column: ``key`` is stable for the same binning (the predicate's slice
    text), ``label`` is what a person reads, ``predicate`` selects exactly its rows."""

    key: str
    label: str
    predicate: Predicate


@dataclass(frozen=True)
class Binning:
    """How a column is grouped. ``edges`` are the numeric (or time) edges, empty when the
    groups are values, so the GUI can show and edit them."""

    column: str
    groups: tuple[Group, ...]
    edges: tuple[Any, ...] = ()

    def group(self, key: str) -> Group:
        for group in self.groups:
            if group.key == key:
                return group
        raise KeyError(key)

    def case_sql(self) -> Sql:
        """A ``CASE`` giving each row the index of its group (NULL for a row in none)."""
        if not self.groups:
            return Sql("CAST(NULL AS INTEGER)")
        whens = [to_sql(g.predicate) for g in self.groups]
        text = " ".join(f"WHEN ({w.text}) THEN {i}" for i, w in enumerate(whens))
        return Sql(f"CASE {text} END", tuple(p for w in whens for p in w.params))


def bin_column(
    store: Store,
    dataset: Dataset,
    column: str,
    condition: Sql | None = None,
    n_bins: int = 5,
    edges: Sequence[float] | None = None,
    top_k: int = 10,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Binning:
    """Decide the groups of ``column`` over the rows matching ``condition`` (see module doc)."""
    col = _column(dataset, column)
    if not 2 <= n_bins <= 100 or not 1 <= top_k <= 1000:
        raise ValueError("n_bins must be in [2, 100] and top_k in [1, 1000]")
    if edges is not None:
        if not _is_ordered(col):
            raise SchemaError("bin edges need a numeric or time column", column=column)
        clean = sorted({plain_value(e) for e in edges})
        if any(isinstance(e, float) and not math.isfinite(e) for e in clean):
            raise SchemaError("bin edges must be finite numbers (not inf or nan)", column=column)
        if not clean:
            raise ValueError("give at least one bin edge")
        return _range_binning(column, clean, _has_nulls(store, dataset, column, condition, cancel))
    if _is_ordered(col):
        summary = _ordered_summary(store, dataset, col, condition, n_bins, cancel)
        if summary is not None:
            found_edges, sample_distinct, has_null = summary
            if len(found_edges) >= 2 and sample_distinct > n_bins:
                return _range_binning(column, found_edges, has_null)
    return _value_binning(store, dataset, col, condition, top_k, cancel)


def _column(dataset: Dataset, name: str) -> Column:
    try:
        column = dataset.column(name)
    except KeyError:
        raise SchemaError("no such column in the data", column=name) from None
    if any(marker in column.dtype.upper() for marker in _NESTED_MARKERS):
        raise SchemaError("cannot group by a list, struct or map column", column=name)
    return column


def _has_nulls(store: Store, dataset: Dataset, column: str, condition: Sql | None, cancel: CancelToken) -> bool:
    query = select(["count(*)"], ident(dataset.view), Sql(f"{ident(column)} IS NULL") & condition, limit=1)
    return bool(store.scalar(query, cancel))


def _ordered_summary(
    store: Store, dataset: Dataset, column: Column, condition: Sql | None, n_bins: int, cancel: CancelToken
) -> tuple[list[Any], int, bool] | None:
    """Deduplicated edges (exact min, inner quantiles, exact max), the number of distinct
    values in the quantile sample, and whether there are nulls; None when no value is finite.

    Two scans: the cheap exact min, max and null count over every row, and the quantiles over
    a sample when the log is large.
    """
    name = ident(column.name)
    finite = f" FILTER (WHERE isfinite({name}))" if _is_float(column) else ""
    bounds = select(
        [f"min({name}){finite}", f"max({name}){finite}", f"count(*) FILTER (WHERE {name} IS NULL)"],
        ident(dataset.view), condition,
    )
    low, high, nulls = store.rows(bounds, cancel)[0]
    if low is None:
        return None
    quantile = "quantile_cont" if _is_float(column) else "quantile_disc"
    fractions = literal_list([i / n_bins for i in range(1, n_bins)])
    values = select([f"{name} AS x"], ident(dataset.view), Sql(f"{name} IS NOT NULL") & condition)
    sample = ""
    if dataset.row_count > QUANTILE_SAMPLE_ROWS:
        percent = 100.0 * QUANTILE_SAMPLE_ROWS / dataset.row_count
        sample = f" USING SAMPLE {percent:.6f}% (system, 7)"
    inner, distinct = store.rows(
        Sql(f"SELECT {quantile}(x, {fractions}){_finite_filter(column)}, count(DISTINCT x) "
            f"FROM ({values.text}){sample}", values.params),
        cancel,
    )[0]
    found = sorted({plain_value(v) for v in [low, *(inner or []), high] if v is not None})
    return found, int(distinct or 0), bool(nulls)


def _finite_filter(column: Column) -> str:
    return " FILTER (WHERE isfinite(x))" if _is_float(column) else ""


def _range_binning(column: str, edges: list[Any], has_null: bool) -> Binning:
    """``< e0``, ``[e_i, e_i+1)`` ..., the last inner bin closed, ``> e_last``, then null.

    With a single edge the inner bins are one closed point ``[e, e]``.
    """
    groups = [_group(Range(column, None, edges[0]), f"< {_show(edges[0])}")]
    pairs = list(zip(edges[:-1], edges[1:])) or [(edges[0], edges[0])]
    for position, (low, high) in enumerate(pairs):
        last = position == len(pairs) - 1
        closing = "]" if last else ")"
        groups.append(
            _group(Range(column, low, high, True, last), f"[{_show(low)}, {_show(high)}{closing}")
        )
    groups.append(_group(Range(column, edges[-1], None, low_inclusive=False), f"> {_show(edges[-1])}"))
    if has_null:
        groups.append(_group(IsNull(column), "null"))
    return Binning(column, tuple(groups), tuple(edges))


def _value_binning(
    store: Store, dataset: Dataset, column: Column, condition: Sql | None, top_k: int, cancel: CancelToken
) -> Binning:
    """One group per frequent value (most frequent first, ties by value), "other", null.

    NaN cannot be a slice value, so a NaN "value" joins the "other" group.
    """
    ranked, distinct = _frequent_values(store, dataset.view, column.name, condition, top_k + 1, cancel)
    has_null = _has_nulls(store, dataset, column.name, condition, cancel)
    present = [plain_value(value) for value in ranked]
    kept = [v for v in present if not (isinstance(v, float) and math.isnan(v))][:top_k]
    try:
        groups = [_group(Compare(column.name, "=", value), _show_value(value)) for value in kept]
    except ValueError as exc:
        raise SchemaError(f"cannot group by this column: {exc}", column=column.name) from None
    rest = distinct - len(kept)
    if rest > 0:
        other_values = f"{rest} value{'s' if rest != 1 else ''}"
        not_null = IsNull(column.name, negated=True)
        other = all_of([not_null, InSet(column.name, tuple(kept), negated=True)]) if kept else not_null
        groups.append(_group(other, f"other ({other_values})"))
    if has_null:
        groups.append(_group(IsNull(column.name), "null"))
    return Binning(column.name, tuple(groups))


def _group(predicate: Predicate, label: str) -> Group:
    return Group(to_text(predicate), label, predicate)


def _show(value: Any) -> str:
    """An edge as a person reads it: short numbers, ISO times without empty parts."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _show(value)
