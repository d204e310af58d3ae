"""The reference profile: what every column of a known-good stretch of data looks like.

A reference is a training snapshot or a window of the log (by default its first 20% of
time). :func:`profile_reference` describes each column in three passes over the reference rows
(quantiles, distinct counts and candidates for the most frequent value first, because the
histogram edges come from the quantiles; then the additive counts of :mod:`analysis.triage.cells`
over all rows and per group; then the value counts, which give both the most frequent values
and the value sets) and one over a sample of them (the draws).
:meth:`Profile.to_json` is the expectations file that ``sleuth check --expect FILE`` reads, so
the same checks run in CI or cron without the reference data: plain, versioned JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Sequence

from analysis.triage.cells import Cell, CellSpec, ColumnCounts, count_cells, finite_double
from analysis.dataset import Column, Dataset
from analysis.errors import InputError
from analysis.data.labels import ARRIVED
from analysis.data.time import time_span, timestamp_expr
from analysis.metrics.outcomes import outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, literal, select
from analysis.data.roles import PROFILE_BATCH_COLUMNS, RoleMap, TaskType
from analysis.engine.row_sample import hash_sample
from analysis.scope import Scope
from analysis.slicing.binning import QUANTILE_SAMPLE_ROWS
from analysis.store import Store

SCHEMA_VERSION = 5
"""Version of the expectations file; bumped whenever its layout changes (2: each numeric
column's most frequent value and its share; 3: each numeric column's draws; 4: the value sets
of low-cardinality numeric columns; 5: their singletons per group level)."""

READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4, SCHEMA_VERSION)
"""Versions still read: a version-1 file lacks the most frequent values, a version-2 file the
draws (unknown, so judged as before), a version-3 file the value sets (the check for values
never seen says it was skipped), a version-4 file the singletons per level (each level is then
judged by its column's unseen mass, as before), and all stay valid."""

REFERENCE_SHARE_OF_TIME = 0.2
"""The default reference is the log's first fifth of time: long enough to be typical,
early enough to predate most incidents."""

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""Quantiles reported for each numeric column."""

EDGE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
"""Inner histogram edges. Each edge costs one count per row in the checks, so a few well
placed quantile edges (plus the typical range) buy most of the resolution of twenty bins."""

RANGE_QUANTILES = (0.005, 0.995)
"""The typical range starts from these quantiles, so a handful of outliers cannot stretch it."""

RANGE_WIDENING = 0.1
"""The typical range is widened by this share of its width on each side: a value just past
the reference's extremes is not yet "out of range"."""

RANGE_MIN_DRAWS = 39
"""Draws a reference needs before its extremes bound a new value: among n exchangeable draws,
a new one lands above the largest with probability 1 / (n + 1) (the rank argument behind
conformal prediction), so each side of the range holds at level 0.025 from 39 draws on."""

DRAWS_SAMPLE_ROWS = 20_000
"""Draws are counted on about this many reference rows (every k-th by row number): sorting a
million-row reference by time for them would cost as much as the rest of the profile, and a
sample only lowers the count where values change row by row, far above RANGE_MIN_DRAWS."""

MAX_CATEGORIES = 50
"""A text or boolean column with at most this many distinct values is categorical."""

GROUP_MAX_DISTINCT = 30
"""A categorical column with at most this many values (a region, client, device) splits rows
into groups that are checked one by one."""

MAX_GROUP_COMBINATIONS = 20_000
"""The checks count rows per combination of all group values in each time bucket; group
columns are taken, fewest values first, while their product stays under this bound."""

VALUE_SET_MAX_VALUES = 1000
"""A numeric column's set of reference values is kept when it holds at most this many values
(the expectations file and the checks' SQL list them)..."""

VALUE_SET_MAX_SHARE = 0.5
"""...and at most this share of the reference rows, so each value was seen twice on average:
only then can the Good-Turing estimate of the mass never seen (singletons over rows) be small
and a value no reference row held be news. A column of single values (an amount to the cent)
has an unseen mass near 1, and a set of it would tell nothing."""

UNPIVOTED_MAX_ROWS = 20_000
"""A reference of at most this many rows counts its values unpivoted, a larger one by a grouping
set per column (:func:`_value_counts`): on the bench log's first rows the unpivoted form took
0.16-0.18 CPU-s for 4,000 rows against 0.24, 0.23 for 20,000 against 0.26-0.28, and 0.60-0.66
for 100,000 against 0.39-0.48 (load 16-21, so the crossing is only placed roughly)."""

TOP_CANDIDATES = 25
"""Candidates for a column's most frequent value, each then counted exactly: at 25 the sketch's
candidates held the true most frequent value of 99 near-tied integers over a million rows."""

PREDICTED_POSITIVE = "predicted_positive"
ERROR = "error"


@dataclass(frozen=True)
class ColumnProfile:
    """One reference column: its type and kind, distinct count, quantiles, typical range,
    histogram edges, the all-rows counts (null, zero, mean, std, bins, categories) and, for a
    numeric column, its most frequent value with that value's share of the reference rows:
    what "a value repeated as often as it normally is" means when judging a stuck value.
    ``draws`` counts the reference rows, in time order, whose value differs from the row before:
    a count per month copied into each of the month's predictions is one draw per month, not
    one per prediction, and only draws say how far the column's values can range (counted on a
    sample of the reference, :data:`DRAWS_SAMPLE_ROWS`).
    A version-1 expectations file has no most frequent value, a version-2 file no draws (None)."""

    name: str
    dtype: str
    kind: str  # "numeric", "categorical" or "other" (nulls only: ids, free text, times)
    distinct: int
    counts: ColumnCounts
    quantiles: dict[str, float]
    typical_range: tuple[float, float] | None = None
    edges: tuple[float, ...] = ()
    top_value: float | None = None
    top_share: float | None = None
    draws: int | None = None

    @property
    def enough_draws(self) -> bool:
        """Whether the reference holds enough draws of the column (:data:`RANGE_MIN_DRAWS`) to
        say where a new value may fall: its range and its distribution. A count per month seen
        over three months does not, and a month of new values is then no news. Unknown in an
        older expectations file: assumed so."""
        return self.draws is None or self.draws >= RANGE_MIN_DRAWS

    @property
    def null_rate(self) -> float:
        return self.counts.null_rate

    @property
    def zero_rate(self) -> float:
        return self.counts.zero_rate

    @property
    def category_shares(self) -> dict[str, float]:
        total = sum(self.counts.categories.values())
        return {k: v / total for k, v in self.counts.categories.items()} if total else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "dtype": self.dtype, "kind": self.kind, "distinct": self.distinct,
            "counts": self.counts.to_dict(), "quantiles": dict(self.quantiles),
            "typical_range": list(self.typical_range) if self.typical_range else None,
            "edges": list(self.edges), "top_value": self.top_value, "top_share": self.top_share,
            "draws": self.draws,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ColumnProfile":
        typical = data.get("typical_range")
        return cls(
            name=str(data["name"]), dtype=str(data["dtype"]), kind=str(data["kind"]),
            distinct=int(data["distinct"]), counts=ColumnCounts.from_dict(data["counts"]),
            quantiles={str(k): float(v) for k, v in data.get("quantiles", {}).items()},
            typical_range=(float(typical[0]), float(typical[1])) if typical else None,
            edges=tuple(float(e) for e in data.get("edges", ())),
            top_value=_optional_float(data.get("top_value")), top_share=_optional_float(data.get("top_share")),
            draws=None if data.get("draws") is None else int(data["draws"]),
        )


@dataclass(frozen=True)
class CountedCells:
    """The rows a profile's cells counted (``scope``: a store's view and condition) and what they
    counted per cell (``spec``). A log with no timestamp is checked in one bucket against its
    whole self by default: the checks' cells are then these, not a second count of the same rows
    (:func:`analysis.triage.checks.run_checks`)."""

    scope: Scope
    spec: CellSpec


@dataclass(frozen=True)
class Profile:
    """The reference: its columns, its group columns, and the counts of every reference cell
    (all rows and each group), including the model side (predicted-positive and error rates)."""

    dataset: str
    rows: int
    columns: tuple[ColumnProfile, ...]
    group_columns: tuple[str, ...]
    cells: tuple[Cell, ...]
    roles: RoleMap
    value_sets: dict[str, dict[float, int]] | None = None
    """Per low-cardinality numeric column, every value the reference held and its count (one row
    per request, :func:`_frequent_values_and_sets`); None for an expectations file written before
    they were kept (version 3 or older)."""
    level_singletons: dict[str, dict[tuple[str, str], tuple[int, int]]] | None = None
    """Per column of ``value_sets``, per level ``(group column, value)`` of a group column but the
    model version's: the level's values counted in the value sets, and how many of them are a
    value the reference held once (:func:`_level_singletons`); None for an expectations file of
    version 4 or older."""
    counted: CountedCells | None = field(default=None, compare=False, repr=False)
    """Which rows ``cells`` counted and what, for a check of those very rows to read them
    (:class:`CountedCells`); None for a profile read from an expectations file."""

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    def cell(self, group: tuple[tuple[str, str], ...]) -> Cell | None:
        """The reference counts of all rows (``()``) or of one group."""
        return next((c for c in self.cells if c.group == group), None)

    def label_matched_to(self, roles: RoleMap) -> "Profile":
        """This profile with its label column called what the checked data calls its label.

        A training snapshot names its label after its domain (``churned``) where the log says
        ``label``: the two are one column by role, so they are compared as one, not reported as
        one column missing and another new."""
        ours, theirs = self.roles.label, roles.label
        if ours is None or theirs is None or ours == theirs or self.column(theirs) is not None:
            return self
        return _renamed(self, ours, theirs)

    def to_json(self) -> str:
        return json.dumps({
            "schema_version": SCHEMA_VERSION,
            "dataset": self.dataset,
            "rows": self.rows,
            "roles": self.roles.to_dict(),
            "group_columns": list(self.group_columns),
            "columns": [c.to_dict() for c in self.columns],
            "cells": [_cell_to_dict(c) for c in self.cells],
            "value_sets": _value_sets_to_dict(self.value_sets),
            "level_singletons": _level_singletons_to_dict(self.level_singletons),
        }, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"the expectations file is not JSON: {exc.msg}", row=exc.lineno) from exc
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version not in READABLE_SCHEMA_VERSIONS:
            raise InputError(f"unsupported expectations file version {version!r} (expected {SCHEMA_VERSION})")
        return cls(
            dataset=str(data["dataset"]), rows=int(data["rows"]),
            columns=tuple(ColumnProfile.from_dict(c) for c in data["columns"]),
            group_columns=tuple(data["group_columns"]),
            cells=tuple(_cell_from_dict(c) for c in data["cells"]),
            roles=RoleMap.from_dict(data["roles"]),
            value_sets=_value_sets_from_dict(data.get("value_sets")),
            level_singletons=_level_singletons_from_dict(data.get("level_singletons")),
        )


def reference_window(scope: Scope) -> Sql | None:
    """The log's first 20% of time as a condition (None when there is no timestamp)."""
    dataset, roles = scope.dataset, scope.roles
    span = time_span(scope.with_condition(None)) if roles.timestamp else None
    if span is None:
        return None
    first, last = span
    cutoff = first + (last - first) * REFERENCE_SHARE_OF_TIME
    return Sql(f"{timestamp_expr(dataset, roles)} <= ?", (cutoff,))


def profile_reference(scope: Scope, columns: Sequence[str] | None = None,
                      cancel: CancelToken = NEVER_CANCELLED) -> Profile:
    """Profile the reference rows (``condition``) of ``dataset``, every column but those
    :func:`unchecked_columns` names, unless ``columns`` names them."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    skipped = unchecked_columns(roles)
    chosen = [dataset.column(n) for n in columns] if columns is not None else [
        c for c in dataset.columns if c.name not in skipped
    ]
    sample = _quantile_sample(store, dataset, condition, cancel)
    summary = _in_column_batches(partial(_summaries, sample=sample), store, dataset, chosen, condition, cancel)
    kinds = {c.name: _kind(c, summary[c.name]["distinct"]) for c in chosen}
    numeric_edges = {c.name: _edges(summary[c.name]) for c in chosen if kinds[c.name] == "numeric"}
    groups = choose_group_columns(
        [(c.name, summary[c.name]["distinct"]) for c in chosen if kinds[c.name] == "categorical"], roles
    )
    spec = cell_spec(dataset, roles, numeric_edges, kinds, groups)
    cells = tuple(count_cells(store, dataset, spec, condition, None, cancel))
    overall = next(c for c in cells if c.group == ())
    numeric = [c for c in chosen if kinds[c.name] == "numeric"]
    tops, sets, singletons = _frequent_values_and_sets(scope, numeric, summary, overall, groups, cancel)
    draws = _in_column_batches(partial(_draws, roles=roles, rows=overall.rows), store, dataset, numeric, condition,
                               cancel)
    profiles = tuple(
        ColumnProfile(
            name=c.name, dtype=c.dtype, kind=kinds[c.name], distinct=summary[c.name]["distinct"],
            counts=overall.columns[c.name], quantiles=summary[c.name]["quantiles"],
            typical_range=(numeric_edges[c.name][0], numeric_edges[c.name][-1]) if numeric_edges.get(c.name) else None,
            edges=numeric_edges.get(c.name, ()), top_value=tops.get(c.name, (None, None))[0],
            top_share=tops.get(c.name, (None, None))[1], draws=draws.get(c.name),
        )
        for c in chosen
    )
    return Profile(dataset.name, overall.rows, profiles, groups, cells, roles, value_sets=sets,
                   level_singletons=singletons, counted=CountedCells(scope, spec))


def unchecked_columns(roles: RoleMap) -> set[str]:
    """Columns no input check reads, because they describe the request, not its inputs:
    Sleuth's row number, the id, the time, and the label's arrival time. A label arrives
    after its prediction, so that column is empty for every recent request by nature; its
    lateness is the "labels stopped arriving" finding's (:mod:`analysis.triage.label_arrival`),
    never a null burst, a drift or a schema change."""
    return {ROW_ID, roles.id, roles.timestamp, ARRIVED} - {None}


def cell_spec(
    dataset: Dataset, roles: RoleMap, numeric_edges: dict[str, tuple[float, ...]], kinds: dict[str, str],
    groups: Sequence[str],
) -> CellSpec:
    """What to count per cell, for the reference and for the checks alike."""
    return CellSpec(
        numeric=tuple(numeric_edges.items()),
        categorical=tuple(n for n, k in kinds.items() if k == "categorical"),
        other=tuple(n for n, k in kinds.items() if k == "other"),
        groups=tuple(groups),
        outcomes=model_outcomes(dataset, roles),
    )


def model_outcomes(dataset: Dataset, roles: RoleMap) -> tuple[tuple[str, str], ...]:
    """0/1 SQL per row for the model side: predicted positive (binary) and error (labelled)."""
    if roles.prediction is None and not roles.scores:
        return ()
    out = outcomes(roles, dataset.columns)
    found = []
    if roles.task is TaskType.BINARY and out.y_pred is not None:
        found.append((PREDICTED_POSITIVE, f"CAST(({out.y_pred}) AS DOUBLE)"))
    if out.is_correct is not None and roles.label is not None:
        found.append((ERROR, f"CASE WHEN {out.has_label} THEN 1.0 - ({out.is_correct}) END"))
    return tuple(found)


def choose_group_columns(candidates: Sequence[tuple[str, int]], roles: RoleMap) -> tuple[str, ...]:
    """Low-cardinality columns to check group by group: the model version first, then the
    others by fewest values, while the number of value combinations stays bounded."""
    outcome_columns = {roles.label, roles.prediction, *roles.scores}
    usable = [(n, d) for n, d in candidates if 1 < d <= GROUP_MAX_DISTINCT and n not in outcome_columns]
    usable.sort(key=lambda item: (item[0] != roles.model_version, item[1]))
    chosen: list[str] = []
    combinations = 1
    for name, distinct in usable:
        if combinations * (distinct + 1) <= MAX_GROUP_COMBINATIONS:
            chosen.append(name)
            combinations *= distinct + 1
    return tuple(chosen)


def _in_column_batches(pass_over, store: Store, dataset: Dataset, columns: Sequence[Column],
                       condition: Sql | None, cancel: CancelToken) -> dict[str, Any]:
    """``pass_over(store, dataset, batch, condition, cancel)`` over every batch of
    :data:`PROFILE_BATCH_COLUMNS` columns, its results merged: one aggregate over hundreds of
    columns' sketches runs DuckDB out of memory (250 columns of 400 rows did), a batch does not."""
    merged: dict[str, Any] = {}
    for start in range(0, len(columns), PROFILE_BATCH_COLUMNS):
        merged.update(pass_over(store, dataset, columns[start:start + PROFILE_BATCH_COLUMNS], condition, cancel))
    return merged


def _quantile_sample(store: Store, dataset: Dataset, condition: Sql | None, cancel: CancelToken) -> Sql | None:
    """The reference rows the quantiles are read from: all of them up to the binning's
    ``QUANTILE_SAMPLE_ROWS``, else that many chosen by a hash of the row id. Exact quantiles
    of rows chosen alike give DuckDB's edges on Spark too, where each engine's quantile sketch
    (or sampler) would give its own (:mod:`analysis.engine.row_sample`)."""
    if dataset.row_count <= QUANTILE_SAMPLE_ROWS:
        return None
    rows = store.scalar(select("count(*)", ident(dataset.view), condition), cancel) if condition else dataset.row_count
    return hash_sample(QUANTILE_SAMPLE_ROWS, int(rows))


def _summaries(
    store: Store, dataset: Dataset, columns: Sequence[Column], condition: Sql | None, cancel: CancelToken, *,
    sample: Sql | None = None,
) -> dict[str, dict[str, Any]]:
    """Distinct count of every column, the exact quantiles of numeric ones over the ``sample``
    rows (:func:`_quantile_sample`), and the candidates for their most frequent value
    (:func:`_frequent_values_and_sets`), in one pass: a pass of its own read the reference once more."""
    wanted = sorted(set(QUANTILES) | set(EDGE_QUANTILES) | set(RANGE_QUANTILES))
    sampled = f" FILTER (WHERE {sample.text})" if sample is not None else ""
    parts = []
    for c in columns:
        parts.append(f"approx_count_distinct({ident(c.name)})")
        if c.is_numeric:
            x = finite_double(c.name, c.dtype)
            parts += [f"quantile_cont({x}, {wanted!r}){sampled}", f"approx_top_k({x}, {TOP_CANDIDATES})"]
        else:
            parts += ["NULL", "NULL"]
    values = store.rows(select(parts, ident(dataset.view), condition), cancel)[0] if parts else ()
    summary = {}
    for i, c in enumerate(columns):
        distinct, found, listed = values[3 * i:3 * i + 3]
        quantiles = dict(zip(wanted, [float(q) for q in found])) if found else {}
        summary[c.name] = {"distinct": int(distinct or 0), "quantiles": quantiles,
                           "candidates": [float(v) for v in listed or () if v is not None]}
    for c in columns:
        q = summary[c.name]["quantiles"]
        summary[c.name]["quantiles"] = {f"{k:g}": v for k, v in q.items() if k in QUANTILES}
        summary[c.name]["raw"] = q
    return summary


def _draws(
    store: Store, dataset: Dataset, columns: Sequence[Column], condition: Sql | None, cancel: CancelToken, *,
    roles: RoleMap, rows: int,
) -> dict[str, int]:
    """Each numeric column's draws (see :class:`ColumnProfile`): its values' changes from one
    row to the next, rows in time order (in file order for a reference without time), among
    every k-th of the reference's ``rows`` (:data:`DRAWS_SAMPLE_ROWS`)."""
    if not columns:
        return {}
    order = f"{timestamp_expr(dataset, roles)}, {ident(ROW_ID)}" if roles.timestamp else ident(ROW_ID)
    changed = [f"CAST({ident(c.name)} IS DISTINCT FROM lag({ident(c.name)}) OVER rows_in_time AS INTEGER) "
               f"AS {ident(c.name)}" for c in columns]
    every = Sql(f"{ident(ROW_ID)} % ? = 0", (max(1, rows // DRAWS_SAMPLE_ROWS),))
    inner = select(changed, ident(dataset.view), every & condition)
    totals = store.rows(Sql(
        f"SELECT {', '.join(f'sum({ident(c.name)})' for c in columns)} FROM ({inner.text} "
        f"WINDOW rows_in_time AS (ORDER BY {order}))", inner.params), cancel)[0]
    return {c.name: int(total or 0) for c, total in zip(columns, totals)}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _kind(column: Column, distinct: int) -> str:
    if column.is_numeric:
        return "numeric"
    if column.dtype.upper() in ("VARCHAR", "BOOLEAN") and distinct <= MAX_CATEGORIES:
        return "categorical"
    return "other"


def _edges(summary: dict[str, Any]) -> tuple[float, ...]:
    """Histogram edges: the widened typical range around the inner quantile edges."""
    q = summary["raw"]
    if not q:
        return ()
    low, high = q[RANGE_QUANTILES[0]], q[RANGE_QUANTILES[1]]
    pad = RANGE_WIDENING * (high - low) if high > low else max(abs(low) * RANGE_WIDENING, 1.0)
    low, high = low - pad, high + pad
    inner = sorted({q[p] for p in EDGE_QUANTILES if low < q[p] < high})
    return (low, *inner, high)


def _renamed(profile: Profile, old: str, new: str) -> Profile:
    """``profile`` with column ``old`` called ``new`` everywhere it appears."""
    def name(column: str) -> str:
        return new if column == old else column

    columns = tuple(replace(c, name=new) if c.name == old else c for c in profile.columns)
    cells = tuple(
        replace(c, group=tuple((name(col), value) for col, value in c.group),
                columns={name(col): counts for col, counts in c.columns.items()})
        for c in profile.cells
    )
    roles = profile.roles.to_dict()
    for key in ("id", "timestamp", "model_version", "label", "prediction"):
        roles[key] = name(roles[key]) if roles[key] else roles[key]
    for key in ("scores", "features", "ignored"):
        roles[key] = [name(c) for c in roles[key]]
    sets = None if profile.value_sets is None else {name(c): v for c, v in profile.value_sets.items()}
    singletons = None if profile.level_singletons is None else {
        name(c): {(name(g), v): n for (g, v), n in levels.items()} for c, levels in profile.level_singletons.items()}
    return replace(profile, columns=columns, cells=cells, roles=RoleMap.from_dict(roles),
                   group_columns=tuple(name(g) for g in profile.group_columns), value_sets=sets,
                   level_singletons=singletons)


def _cell_to_dict(cell: Cell) -> dict[str, Any]:
    return {
        "group": [list(pair) for pair in cell.group],
        "rows": cell.rows,
        "columns": {name: counts.to_dict() for name, counts in cell.columns.items()},
        "outcomes": {name: list(pair) for name, pair in cell.outcomes.items()},
    }


def _cell_from_dict(data: dict[str, Any]) -> Cell:
    return Cell(
        bucket=None,
        group=tuple((str(c), str(v)) for c, v in data["group"]),
        rows=int(data["rows"]),
        columns={name: ColumnCounts.from_dict(c) for name, c in data["columns"].items()},
        outcomes={name: (int(n), float(s)) for name, (n, s) in data["outcomes"].items()},
    )


def _frequent_values_and_sets(scope: Scope, numeric: Sequence[Column], summary: dict[str, dict[str, Any]],
                              overall: Cell, groups: Sequence[str], cancel: CancelToken) -> tuple[
        dict[str, tuple[float, float]], dict[str, dict[float, int]], dict[str, dict[tuple[str, str], tuple[int, int]]]]:
    """Each numeric column's most frequent value with its share of the reference rows, the
    value sets of the low-cardinality ones (:func:`value_set_wanted`) and their singletons per
    level of the ``groups`` columns (:func:`_level_singletons`), from one pass of value counts
    (:func:`_value_counts`): a column whose set is wanted is counted value by value (per level
    too), and its most frequent value is read from those counts, exactly; any other column
    counts only the candidates its sketch named in :func:`_summaries` (``candidates``), each exactly.

    DuckDB's bounded-memory top-k sketch often ranks near ties wrongly at k=1, and an exact
    GROUP BY over every value of a continuous column costs seconds per million rows; hence the
    candidates. Counting them as grouping sets of ``CASE WHEN x IN (candidates) THEN x END``
    took 0.7 CPU-s over the 1M-row bench reference, where a ``histogram`` aggregate filtered to
    them took 3.2 (and a second pass read the reference again for the value sets)."""
    rows = max((overall.columns[c.name].rows for c in numeric), default=0)
    listed = {c.name: None if value_set_wanted(summary[c.name]["distinct"], rows) else summary[c.name]["candidates"]
              for c in numeric}
    counted = [c for c in numeric if listed[c.name] is None or listed[c.name]]
    roles = scope.roles
    levels = [g for g in groups if g != roles.model_version]
    inputs = frozenset(c.name for c in numeric) - {roles.label, roles.prediction, *roles.scores}
    found = _in_column_batches(partial(_value_counts, roles=roles, listed=listed, groups=levels, per_level=inputs,
                                       rows=overall.rows),
                               scope.store, scope.dataset, counted, scope.condition, cancel)
    tops, sets, singletons = {}, {}, {}
    for name, (all_rows, one_version, by_level) in found.items():
        if all_rows:
            value, count = min(all_rows.items(), key=lambda item: (-item[1], item[0]))
            tops[name] = (value, count / overall.rows)
        if listed[name] is None and one_version and len(one_version) <= min(
                VALUE_SET_MAX_VALUES, VALUE_SET_MAX_SHARE * sum(one_version.values())):
            sets[name] = one_version
            if name in inputs:
                singletons[name] = _level_singletons(one_version, by_level)
    return tops, sets, singletons


def _level_singletons(values: dict[float, int], by_level: dict[tuple[str, str], dict[float, int]]
                      ) -> dict[tuple[str, str], tuple[int, int]]:
    """Per level, its values counted and how many of them the reference (``values``) held once.

    The Good-Turing estimate of the share of new rows holding a value never seen is the share
    of reference rows whose value no other reference row held (leave one out); the share of a
    level's new rows is the share among the level's reference rows. A level can hold most of a
    column's rare values: in the real-data corpus, every ``fmde`` value DoctorContacts' reference
    held once is held by a row where ``idp`` is False (37 of its 230 rows, against 37 of 302 in
    all), so that level's new rows hold a value never seen 16% of the time, not 13%."""
    once = {value for value, n in values.items() if n == 1}
    return {level: (sum(counted.values()), sum(n for value, n in counted.items() if value in once))
            for level, counted in by_level.items()}


def value_set_wanted(distinct: int, rows: int) -> bool:
    """Whether a numeric column of ``distinct`` values (approximate) over ``rows`` reference
    rows may keep its set of values (:data:`VALUE_SET_MAX_VALUES`, :data:`VALUE_SET_MAX_SHARE`;
    the exact counts decide)."""
    return 0 < distinct <= min(VALUE_SET_MAX_VALUES, VALUE_SET_MAX_SHARE * rows)


def _value_counts(store: Store, dataset: Dataset, columns: Sequence[Column], condition: Sql | None,
                  cancel: CancelToken, *, roles: RoleMap, listed: dict[str, list[float] | None],
                  groups: Sequence[str] = (), per_level: frozenset[str] = frozenset(), rows: int
                  ) -> dict[str, tuple[dict[float, int], dict[float, int], dict]]:
    """Per column, its values' counts over all rows, over the rows of the version holding the
    most rows, and over that version's rows of each level of the ``groups`` columns (one pass
    for a batch of columns, :func:`_in_column_batches`): every value of a column ``listed`` as
    None (and per level, for the ``per_level`` ones: the inputs, whose values the checks judge
    per level), else only the values listed. A GROUP BY, not a histogram aggregate: Spark has
    no value-count aggregate over values not listed (:mod:`analysis.engine.dialect`).

    A reference of at most :data:`UNPIVOTED_MAX_ROWS` rows (``rows``) has its columns unpivoted
    into (column, value) rows, counted by one grouping set for all rows and one per level; a
    larger one is counted by a grouping set per column (and per column and level). Both forms
    answer in the same rows: version, column key, value, levels, their grouping flags, count.

    The one version's counts are the evidence of the Good-Turing estimate of how often a new row
    holds a value never seen (:mod:`analysis.triage.novel_values`), which counts each draw once:
    a shadow log holds each request once per version, and every value seen once would read as
    seen twice (no singletons, nothing unseen). So a log with versions is counted on the rows of
    its most frequent version: one row per request in a shadow log, and in a canary fewer rows,
    which only widens the estimate."""
    version = ident(roles.model_version) if roles.model_version else "NULL"
    keys = [f"k{i}" for i in range(len(columns))]
    values, params = [], []
    for c, k in zip(columns, keys):
        x, wanted = finite_double(c.name, c.dtype), listed[c.name]
        values.append(f"{x} AS {k}" if wanted is None else
                      f"CASE WHEN {x} IN ({', '.join('?' * len(wanted))}) THEN {x} END AS {k}")
        params += wanted or []
    levelled = {k for c, k in zip(columns, keys) if listed[c.name] is None and c.name in per_level}
    if not levelled:
        groups = ()
    levels = [f"l{j}" for j in range(len(groups))]
    inner = select([f"{version} AS sleuth_version", *values,
                    *(f"CAST({ident(g)} AS VARCHAR) AS {g_key}" for g, g_key in zip(groups, levels))],
                   ident(dataset.view), condition)
    counted, source, sets = (_unpivoted_counts(inner, keys, levels) if rows <= UNPIVOTED_MAX_ROWS
                             else _per_column_counts(inner, keys, levels, levelled))
    read = [*counted, *levels, *(f"grouping({g_key})" for g_key in levels), "count(*)"]
    result = store.rows(Sql(f"SELECT {', '.join(read)} FROM {source} GROUP BY GROUPING SETS ({', '.join(sets)})",
                            tuple(params) + inner.params), cancel)
    return _counts_of_all_and_one_version(columns, groups, levelled, result)


def _unpivoted_counts(inner: Sql, keys: Sequence[str], levels: Sequence[str]) -> tuple[list[str], str, list[str]]:
    """:func:`_value_counts`' columns read, source and grouping sets for a small reference: the
    ``keys`` unpivoted into (column key, value) rows, one grouping set for all rows and one per
    level. DuckDB's cost of a grouping set grows with the columns it carries, so a set per column
    is dear on few rows: 64 columns of 400 rows took 0.38 CPU-s that way, 0.04 unpivoted."""
    counted = ["sleuth_version", "sleuth_key", "sleuth_value"]
    source = f"({inner.text}) AS reference UNPIVOT INCLUDE NULLS (sleuth_value FOR sleuth_key IN ({', '.join(keys)}))"
    return counted, source, [f"({', '.join(counted)})"] + [f"({', '.join([*counted, g_key])})" for g_key in levels]


def _per_column_counts(inner: Sql, keys: Sequence[str], levels: Sequence[str], levelled: set[str]
                       ) -> tuple[list[str], str, list[str]]:
    """:func:`_value_counts`' columns read, source and grouping sets for a large reference: a
    grouping set per column key, and per ``levelled`` key and level, the key and value of each
    row named as the unpivoted form names them. Unpivoting multiplies the rows by the columns:
    on the bench log's 1M-row reference it cost 5.3 CPU-s, a set per column 2.2."""
    counted = ["sleuth_version",
               f"CASE {' '.join(f'WHEN grouping({k}) = 0 THEN {literal(k)}' for k in keys)} END AS sleuth_key",
               f"CASE {' '.join(f'WHEN grouping({k}) = 0 THEN {k}' for k in keys)} END AS sleuth_value"]
    sets = [f"(sleuth_version, {k})" for k in keys]
    sets += [f"(sleuth_version, {g_key}, {k})" for k in keys if k in levelled for g_key in levels]
    return counted, f"({inner.text}) AS reference", sets


def _counts_of_all_and_one_version(columns: Sequence[Column], groups: Sequence[str], levelled: set[str],
                                   result: Sequence[tuple]) -> dict[str, tuple[dict[float, int], dict[float, int], dict]]:
    """:func:`_value_counts`' answer from its query's rows (per grouping set: version, column key,
    value, the levels and their grouping flags, the count): per column, the counts over every
    version, those of the version holding the most rows, and those of its rows per level, for
    the ``levelled`` column keys (the level's grouping sets count every column's values)."""
    depth = len(groups)
    index_of = {f"k{i}": i for i in range(len(columns))}
    counts: dict[tuple[Any, int], dict[float, int]] = {}
    per_level: dict[tuple[Any, int, tuple[str, str]], dict[float, int]] = {}
    totals: dict[Any, int] = {}
    for row in result:
        version, key, value, n = row[0], row[1], row[2], int(row[-1])
        index = index_of[key]
        level = next(((groups[j], row[3 + j]) for j in range(depth) if not row[3 + depth + j]), None)
        if level is not None:
            if key in levelled and level[1] is not None and value is not None:
                per_level.setdefault((version, index, level), {})[float(value)] = n
            continue
        found_values = counts.setdefault((version, index), {})
        if value is not None:
            found_values[float(value)] = n
        if index == 0:
            totals[version] = totals.get(version, 0) + n
    if not totals:
        return {}
    version = min(totals, key=lambda v: (-totals[v], str(v)))
    found = {}
    for index, column in enumerate(columns):
        every: dict[float, int] = {}
        for v in totals:
            for value, n in counts.get((v, index), {}).items():
                every[value] = every.get(value, 0) + n
        levels = {level: values for (v, i, level), values in per_level.items() if v == version and i == index}
        found[column.name] = (every, counts.get((version, index), {}), levels)
    return found


def _value_sets_to_dict(sets: dict[str, dict[float, int]] | None) -> dict[str, list] | None:
    if sets is None:
        return None
    return {name: [[value, count] for value, count in sorted(values.items())] for name, values in sets.items()}


def _level_singletons_to_dict(singletons: dict[str, dict[tuple[str, str], tuple[int, int]]] | None
                              ) -> dict[str, list] | None:
    if singletons is None:
        return None
    return {name: [[group, value, n, once] for (group, value), (n, once) in sorted(levels.items())]
            for name, levels in singletons.items()}


def _level_singletons_from_dict(data: dict[str, list] | None
                                ) -> dict[str, dict[tuple[str, str], tuple[int, int]]] | None:
    if data is None:
        return None
    return {str(name): {(str(g), str(v)): (int(n), int(once)) for g, v, n, once in levels}
            for name, levels in data.items()}


def _value_sets_from_dict(data: dict[str, list] | None) -> dict[str, dict[float, int]] | None:
    if data is None:
        return None
    return {str(name): {float(v): int(n) for v, n in pairs} for name, pairs in data.items()}
