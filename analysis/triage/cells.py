"""Additive counts per (time bucket, group) cell: what both the reference profile and the
checks compare.

Every number kept here merges by sum, min or max (row and null counts, zeros, sums of
values and squares, counts below each histogram edge, category counts), so the rows are
read once, grouped by the finest cell (time bucket x every group column), into a small
table (dropped after); the per-group and all-rows cells are then rolled up from that table, not
from the rows. GROUPING SETS over the rows would re-aggregate every row once per group
column, several times the cost on a 10M-row log.

A check of a log larger than its share (:mod:`analysis.triage.share`) may count the
histograms' inner bins on the share instead (``shapes``): only the distribution tests read
them, and they are about a third of the cells' one pass over every row (103 of its 289
aggregates on the benchmark log; performance log, h17c, h15checks). The nulls, zeros, moments, extremes and the
counts outside the typical range (the outer bins) still count every row.
"""

from __future__ import annotations

import datetime as dt
import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from analysis.data.roles import PROFILE_BATCH_COLUMNS
from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, select, where_clause
from analysis.scope import Scope
from analysis.store import Store

FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


@dataclass(frozen=True)
class ColumnCounts:
    """One column's additive counts in one cell.

    ``bins`` counts non-null values between consecutive histogram edges, with one bin
    below the first edge and one at or above the last (the edges start and end at the
    reference's typical range, so the outer bins are the out-of-range values).
    ``categories`` maps a value (as text) to its count, for categorical columns.
    ``outside`` is set when ``bins`` were counted on a share of the cell's rows: the counts
    below the first edge and at or above the last over every row the cell counts (None:
    ``bins``' own outer counts are those).
    """

    rows: int
    non_null: int
    zeros: int = 0
    minimum: float | None = None
    maximum: float | None = None
    total: float = 0.0
    total_sq: float = 0.0
    bins: tuple[int, ...] = ()
    categories: dict[str, int] = field(default_factory=dict)
    outside: tuple[int, int] | None = None

    @property
    def null_rate(self) -> float:
        return 1.0 - self.non_null / self.rows if self.rows else 0.0

    @property
    def zero_rate(self) -> float:
        return self.zeros / self.non_null if self.non_null else 0.0

    @property
    def mean(self) -> float:
        return self.total / self.non_null if self.non_null else math.nan

    @property
    def std(self) -> float:
        if self.non_null < 2:
            return math.nan
        variance = (self.total_sq - self.total * self.total / self.non_null) / (self.non_null - 1)
        return math.sqrt(max(variance, 0.0))

    @property
    def bin_shares(self) -> np.ndarray:
        counts = np.asarray(self.bins, dtype=float)
        return counts / counts.sum() if counts.sum() else counts

    @property
    def histogram_rows(self) -> int:
        """The values ``bins`` counts: ``non_null``, or the share's when counted on one."""
        return sum(self.bins)

    @property
    def out_of_range(self) -> int:
        """Values outside the typical range, over every row the cell counts."""
        if self.outside is not None:
            return sum(self.outside)
        return self.bins[0] + self.bins[-1] if self.bins else 0

    @property
    def out_of_range_rate(self) -> float:
        if not self.bins or not self.non_null:
            return 0.0
        return self.out_of_range / self.non_null

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "non_null": self.non_null, "zeros": self.zeros,
            "minimum": self.minimum, "maximum": self.maximum, "total": self.total,
            "total_sq": self.total_sq, "bins": list(self.bins), "categories": dict(self.categories),
            **({"outside": list(self.outside)} if self.outside is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ColumnCounts":
        return cls(
            rows=int(data["rows"]), non_null=int(data["non_null"]), zeros=int(data.get("zeros", 0)),
            minimum=data.get("minimum"), maximum=data.get("maximum"),
            total=float(data.get("total", 0.0)), total_sq=float(data.get("total_sq", 0.0)),
            bins=tuple(int(b) for b in data.get("bins", ())),
            categories={str(k): int(v) for k, v in (data.get("categories") or {}).items()},
            outside=tuple(int(n) for n in data["outside"]) if data.get("outside") is not None else None,
        )


@dataclass(frozen=True)
class CellSpec:
    """What to count: numeric columns with their histogram edges, categorical columns (value
    counts), other columns (nulls only), the group columns, and 0/1 outcome expressions
    (predicted positive, error) whose rate the model-side checks follow."""

    numeric: tuple[tuple[str, tuple[float, ...]], ...] = ()
    categorical: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    outcomes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Cell:
    """The counts of one (bucket, group): ``group`` is ``()`` for all rows, else
    ``((column, value),)``; ``outcomes`` maps an outcome name to (rows with it, their sum)."""

    bucket: dt.datetime | None
    group: tuple[tuple[str, str], ...]
    rows: int
    columns: dict[str, ColumnCounts]
    outcomes: dict[str, tuple[int, float]]


def count_cells(
    store: Store,
    dataset: Dataset,
    spec: CellSpec,
    condition: Sql | None,
    bucket_sql: str | None,
    cancel: CancelToken = NEVER_CANCELLED,
    shapes: Scope | None = None,
) -> list[Cell]:
    """The all-rows and per-group cells of every bucket (one bucket, None, without ``bucket_sql``),
    counted over batches of columns: one pass over thousands of columns' measures (tens of
    thousands of aggregates) takes DuckDB minutes to plan, batches of them seconds.

    ``shapes`` (a share of the same rows, on the same store) is where the histograms of the
    numeric columns with inner edges are counted, their counts outside the typical range
    still over every row (:attr:`ColumnCounts.outside`)."""
    cells: dict[tuple, Cell] = {}
    for batch in _column_batches(spec):
        for cell in _count_batch(store, dataset, batch, condition, bucket_sql, cancel, shapes):
            key = (cell.bucket, cell.group)
            cells[key] = replace(cells[key], columns={**cells[key].columns, **cell.columns}) if key in cells else cell
    return list(cells.values())


def all_rows_extremes(cells: Sequence[Cell]) -> dict[str, tuple[float | None, float | None]]:
    """Each numeric column's smallest and largest value over every row counted (the all-rows
    cells of every bucket; None for a column with no value): what a later pass over the same
    rows can know without reading them, e.g. that no value lies beyond a bound."""
    extremes: dict[str, tuple[float | None, float | None]] = {}
    for cell in cells:
        if cell.group:
            continue
        for name, counts in cell.columns.items():
            if counts.bins:  # a numeric column's (its histogram has at least one bin)
                low, high = extremes.get(name, (None, None))
                extremes[name] = (_extreme(min, low, counts.minimum), _extreme(max, high, counts.maximum))
    return extremes


def _extreme(pick, known: float | None, value: float | None) -> float | None:
    """``pick`` of two extremes, either of which may be None (no value)."""
    return value if known is None else known if value is None else pick(known, value)


def _column_batches(spec: CellSpec) -> list[CellSpec]:
    """``spec`` cut into specs of at most :data:`PROFILE_BATCH_COLUMNS` columns each, the
    groups in every one (the cells' keys) and the outcomes in the first only."""
    columns = ([("numeric", c) for c in spec.numeric] + [("categorical", c) for c in spec.categorical]
               + [("other", c) for c in spec.other])
    batches = []
    for start in range(0, max(1, len(columns)), PROFILE_BATCH_COLUMNS):
        batch = columns[start:start + PROFILE_BATCH_COLUMNS]
        batches.append(CellSpec(
            numeric=tuple(c for kind, c in batch if kind == "numeric"),
            categorical=tuple(c for kind, c in batch if kind == "categorical"),
            other=tuple(c for kind, c in batch if kind == "other"),
            groups=spec.groups, outcomes=spec.outcomes if start == 0 else (),
        ))
    return batches


CELL_KEYS = ["bucket", "group_index", "group_value"]
"""The columns that name a rolled-up cell (:func:`_rollup_sql`)."""


def _count_batch(
    store: Store, dataset: Dataset, spec: CellSpec, condition: Sql | None, bucket_sql: str | None,
    cancel: CancelToken, shapes: Scope | None = None,
) -> list[Cell]:
    """:func:`count_cells` for one batch of columns."""
    shaped = _shaped(spec) if shapes is not None else frozenset()
    measures = _fine_measures(spec, dataset, shaped)
    bucket = bucket_sql or "CAST(NULL AS TIMESTAMP)"
    with _fine_table(store, dataset, spec, measures, condition, bucket, cancel) as fine:
        frame = store.df(_rollup_sql(fine, _fine_keys(spec), measures, len(spec.groups)), cancel)
        categories = _category_counts(store, dataset, spec, fine, condition, bucket, cancel)
    if shaped:
        frame = frame.merge(_share_histograms(shapes, spec, shaped, bucket, cancel), how="left", on=CELL_KEYS)
    return _cells(frame, spec, categories, shaped)


def _shaped(spec: CellSpec) -> frozenset[int]:
    """The numeric columns (by index) whose histograms a share can count: those with inner
    edges (with two edges or fewer every bin is an outer one, counted over every row anyway)."""
    return frozenset(i for i, (_, edges) in enumerate(spec.numeric) if len(edges) > 2)


def _fine_keys(spec: CellSpec) -> list[str]:
    return ["bucket"] + [f"g{j}" for j in range(len(spec.groups))]


@contextmanager
def _fine_table(store: Store, dataset: Dataset, spec: CellSpec, measures: list[tuple[str, str, str]],
                condition: Sql | None, bucket: str, cancel: CancelToken) -> Iterator[str]:
    """A table of ``measures`` per finest cell (bucket x every group column) of the rows in
    ``condition``, dropped on leaving the block."""
    fine = store.new_name("check_cells")
    key_exprs = [f"{bucket} AS bucket"] + [
        f"CAST({ident(g)} AS VARCHAR) AS g{j}" for j, g in enumerate(spec.groups)
    ]
    where = where_clause(condition)
    create = Sql(
        f"CREATE TABLE {ident(fine)} AS SELECT {', '.join(key_exprs)}, "
        f"{', '.join(f'{expr} AS {name}' for name, expr, _ in measures)} "
        f"FROM {ident(dataset.view)}{where.text} GROUP BY ALL",
        where.params,
    )
    try:
        store.execute(create, cancel)
        yield fine
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(fine)}")


def _share_histograms(shapes: Scope, spec: CellSpec, shaped: frozenset[int], bucket: str,
                      cancel: CancelToken) -> pd.DataFrame:
    """The ``shaped`` columns' values and counts below each edge in every cell of the share,
    rolled up as the cells are (``c{i}_hnn``, ``c{i}_h{k}``)."""
    measures = []
    for i in sorted(shaped):
        column, edges = spec.numeric[i]
        x = finite_double(column, shapes.dataset.column(column).dtype)
        measures += [(f"c{i}_hnn", f"count({x})", "sum")]
        measures += [(f"c{i}_h{k}", f"count_if({x} < {float(e)!r})", "sum") for k, e in enumerate(edges)]
    with _fine_table(shapes.store, shapes.dataset, spec, measures, shapes.condition, bucket, cancel) as fine:
        return shapes.store.df(_rollup_sql(fine, _fine_keys(spec), measures, len(spec.groups)), cancel)


def _fine_measures(spec: CellSpec, dataset: Dataset, shaped: frozenset[int] = frozenset()) -> list[tuple[str, str, str]]:
    """(name, aggregate over rows, how it rolls up) for every measure of the fine table; a
    ``shaped`` column's histogram is counted on a share, so here only its first and last edges."""
    measures = [("n", "count(*)", "sum")]
    for i, (column, edges) in enumerate(spec.numeric):
        x = finite_double(column, dataset.column(column).dtype)
        measures += [
            (f"c{i}_nn", f"count({x})", "sum"),
            (f"c{i}_z", f"count_if({x} = 0)", "sum"),
            (f"c{i}_min", f"min({x})", "min"),
            (f"c{i}_max", f"max({x})", "max"),
            (f"c{i}_s", f"sum({x})", "sum"),
            (f"c{i}_ss", f"sum({x} * {x})", "sum"),
        ]
        counted = (0, len(edges) - 1) if i in shaped else range(len(edges))
        measures += [(f"c{i}_e{k}", f"count_if({x} < {float(edges[k])!r})", "sum") for k in counted]
    for i, column in enumerate(spec.categorical + spec.other):
        measures.append((f"t{i}_nn", f"count({ident(column)})", "sum"))
    for i, (_, expr) in enumerate(spec.outcomes):
        measures += [(f"o{i}_n", f"count({expr})", "sum"), (f"o{i}_s", f"sum({expr})", "sum")]
    return measures


def finite_double(column: str, dtype: str) -> str:
    """The column as DOUBLE with NaN and infinities read as missing (a float column's NaN
    is how many pipelines write "no value")."""
    x = f"CAST({ident(column)} AS DOUBLE)"
    if dtype.upper().split("(")[0] in FLOAT_TYPES:
        return f"CASE WHEN isfinite({x}) THEN {x} END"
    return x


def _rollup_sql(fine: str, keys: list[str], measures: list[tuple[str, str, str]], groups: int) -> str:
    """The all-rows and per-group cells of each bucket from the fine table, in one GROUP BY
    GROUPING SETS: one plan over one scan, where a UNION ALL of one GROUP BY per group column
    was a plan (and on Spark a shuffle) per part, each of hundreds of aggregates. A grouping
    set's rows whose group value is null are left out, as no cell of that group holds them."""
    rolled = ", ".join(f"{how}({name}) AS {name}" for name, _, how in measures)
    grouped = [f"WHEN grouping(g{j}) = 0 THEN {j}" for j in range(groups)]
    index = f"CASE {' '.join(grouped)} ELSE -1 END" if groups else "-1"
    value = f"CASE {' '.join(f'WHEN grouping(g{j}) = 0 THEN g{j}' for j in range(groups))} END" if groups else "NULL"
    sets = ", ".join(["(bucket)"] + [f"(bucket, g{j})" for j in range(groups)])
    rollup = (f"SELECT bucket, {index} AS group_index, {value} AS group_value, {rolled} "
              f"FROM {ident(fine)} GROUP BY GROUPING SETS ({sets})")
    return f"SELECT * FROM ({rollup}) AS rolled WHERE group_index < 0 OR group_value IS NOT NULL"


def _category_counts(
    store: Store, dataset: Dataset, spec: CellSpec, fine: str, condition: Sql | None, bucket: str,
    cancel: CancelToken,
) -> dict[tuple, dict[str, int]]:
    """Value counts keyed by (bucket, group_index, group_value, column): a categorical column
    that is also a group column is counted per group from the fine table; any other only
    over all rows, from the rows. One statement each (GROUPING SETS): a UNION ALL part per pair
    of group columns or per column was one more scan each, the most costly statement of the
    checks on Spark."""
    counts: dict[tuple, dict[str, int]] = {}
    _count_group_categories(store, spec, fine, cancel, counts)
    _count_other_categories(store, dataset, spec, condition, bucket, cancel, counts)
    return counts


def _count_group_categories(store: Store, spec: CellSpec, fine: str, cancel: CancelToken,
                            counts: dict[tuple, dict[str, int]]) -> None:
    """The values of each categorical group column over all rows and in each other group's
    levels, into ``counts``: one grouping set per such column and per pair of group columns
    holding one (a pair's rows count either column's values in the other's levels)."""
    columns = [spec.groups.index(c) for c in spec.categorical if c in spec.groups]
    if not columns:
        return
    sets = sorted({tuple(sorted({c, j})) for c in columns for j in range(len(spec.groups))})
    keys = [f"g{j}" for j in range(len(spec.groups))]
    grouping_sets = ", ".join(f"(bucket, {', '.join(f'g{j}' for j in s)})" for s in sets)
    query = (f"SELECT bucket, {', '.join(keys)}, {', '.join(f'grouping({k})' for k in keys)}, sum(n) "
             f"FROM {ident(fine)} GROUP BY GROUPING SETS ({grouping_sets})")
    width = len(keys)
    for row in store.rows(query, cancel):
        b, values, flags, n = _bucket(row[0]), row[1:1 + width], row[1 + width:1 + 2 * width], int(row[-1])
        grouped = [j for j in range(width) if flags[j] == 0]
        for c in grouped:
            others = [j for j in grouped if j != c]
            if c not in columns or values[c] is None or any(values[j] is None for j in others):
                continue
            key = (b, others[0], values[others[0]]) if others else (b, -1, None)
            counts.setdefault((*key, spec.groups[c]), {})[values[c]] = n


def _count_other_categories(store: Store, dataset: Dataset, spec: CellSpec, condition: Sql | None, bucket: str,
                            cancel: CancelToken, counts: dict[tuple, dict[str, int]]) -> None:
    """The values of every categorical column that is no group column, over all rows of each
    bucket, into ``counts``: one pass over the rows, a grouping set per column."""
    others = [c for c in spec.categorical if c not in spec.groups]
    if not others:
        return
    keys = [f"k{i}" for i in range(len(others))]
    inner = select([f"{bucket} AS bucket", *(f"CAST({ident(c)} AS VARCHAR) AS {k}" for c, k in zip(others, keys))],
                   ident(dataset.view), condition)
    query = Sql(
        f"SELECT bucket, {', '.join(keys)}, {', '.join(f'grouping({k})' for k in keys)}, count(*) "
        f"FROM ({inner.text}) AS counted GROUP BY GROUPING SETS ({', '.join(f'(bucket, {k})' for k in keys)})",
        inner.params,
    )
    width = len(keys)
    for row in store.rows(query, cancel):
        i = list(row[1 + width:1 + 2 * width]).index(0)
        if row[1 + i] is not None:
            counts.setdefault((_bucket(row[0]), -1, None, others[i]), {})[row[1 + i]] = int(row[-1])


def _cells(frame: pd.DataFrame, spec: CellSpec, categories: dict[tuple, dict[str, int]],
           shaped: frozenset[int] = frozenset()) -> list[Cell]:
    """The rolled-up rows as cells, read column by column (one numpy array per measure):
    a 10M-row log gives hundreds of cells of dozens of columns, too many for row-wise pandas.
    A ``shaped`` column's bins are the share's (``c{i}_h*``, none in a cell the share has no
    rows of), its counts outside the typical range every row's."""
    buckets = [_bucket(b) for b in frame["bucket"]]
    indexes = frame["group_index"].astype(int).tolist()
    values = [None if i < 0 else str(v) for i, v in zip(indexes, frame["group_value"])]
    rows = _ints(frame["n"])
    columns: list[dict[str, ColumnCounts]] = [{} for _ in buckets]
    for i, (column, edges) in enumerate(spec.numeric):
        non_null = _ints(frame[f"c{i}_nn"])
        if i in shaped:
            bins = _bins(frame, f"c{i}_h", len(edges), _ints(frame[f"c{i}_hnn"]))
            below, not_above = _ints(frame[f"c{i}_e0"]), _ints(frame[f"c{i}_e{len(edges) - 1}"])
            outside = [(low, n - high) for low, high, n in zip(below, not_above, non_null)]
        else:
            bins, outside = _bins(frame, f"c{i}_e", len(edges), non_null), [None] * len(frame)
        zeros, minimum, maximum = _ints(frame[f"c{i}_z"]), _floats(frame[f"c{i}_min"]), _floats(frame[f"c{i}_max"])
        total, total_sq = _floats(frame[f"c{i}_s"]), _floats(frame[f"c{i}_ss"])
        for r, cell_columns in enumerate(columns):
            cell_columns[column] = ColumnCounts(
                rows=rows[r], non_null=non_null[r], zeros=zeros[r], minimum=minimum[r], maximum=maximum[r],
                total=total[r] or 0.0, total_sq=total_sq[r] or 0.0, bins=tuple(bins[r]), outside=outside[r],
            )
    for i, column in enumerate(spec.categorical + spec.other):
        non_null = _ints(frame[f"t{i}_nn"])
        for r, cell_columns in enumerate(columns):
            cell_columns[column] = ColumnCounts(
                rows=rows[r], non_null=non_null[r],
                categories=categories.get((buckets[r], indexes[r], values[r], column), {}),
            )
    outcomes = [
        (name, _ints(frame[f"o{i}_n"]), _floats(frame[f"o{i}_s"])) for i, (name, _) in enumerate(spec.outcomes)
    ]
    return [
        Cell(
            bucket=buckets[r],
            group=() if indexes[r] < 0 else ((spec.groups[indexes[r]], values[r]),),
            rows=rows[r],
            columns=columns[r],
            outcomes={name: (counts[r], sums[r] or 0.0) for name, counts, sums in outcomes},
        )
        for r in range(len(buckets))
    ]


def _bins(frame: pd.DataFrame, prefix: str, edges: int, values: list[int]) -> list[list[int]]:
    """Each row's histogram from its counts below each edge (``{prefix}{k}``) and its ``values``."""
    below = [np.nan_to_num(frame[f"{prefix}{k}"].to_numpy(dtype=float)) for k in range(edges)]
    cumulative = np.column_stack([np.zeros(len(frame)), *below, values]).astype(np.int64)
    return np.diff(cumulative, axis=1).tolist()


def _bucket(value: Any) -> dt.datetime | None:
    """A bucket start as a Python datetime, None for "no bucket" (NULL from DuckDB, NaT from pandas)."""
    if value is None or pd.isna(value):
        return None
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def _ints(series: pd.Series) -> list[int]:
    """Counts as Python ints (a sum over no rows is NULL: 0)."""
    return np.nan_to_num(series.to_numpy(dtype=float)).astype(np.int64).tolist()


def _floats(series: pd.Series) -> list[float | None]:
    """Values as Python floats, None where DuckDB gave NULL."""
    return [None if math.isnan(v) else v for v in series.to_numpy(dtype=float).tolist()]
