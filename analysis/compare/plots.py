"""What the compare panel draws: reliability of both versions, their confusion matrices, and the
density of candidate score against base score for paired requests. Small arrays, from SQL."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.compare.comparison import Pairing, paired_view, side_column, side_rows
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, where_clause
from analysis.scope import Scope
from analysis.slices import RowIds

DENSITY_BINS = 60
SIDES = (("base", "b"), ("candidate", "c"))


@dataclass(frozen=True)
class ComparePlots:
    """``reliability``: side, bin, confidence (mean score), observed (share correct or positive),
    rows. ``confusion``: side, actual, predicted, rows. ``density``: counts of (base score bin,
    candidate score bin) over paired rows, None when unpaired or without scores."""

    reliability: pd.DataFrame
    confusion: pd.DataFrame
    density: np.ndarray | None


def compare_plots(scope: Scope, pairing: Pairing, cancel: CancelToken = NEVER_CANCELLED) -> ComparePlots:
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    reliability, confusion = [], []
    for name, code in SIDES:
        side = pairing.base if name == "base" else pairing.candidate
        rows = side_rows(dataset, roles, side, code, condition)
        conf, hit, bin_, label, pred = (side_column(code, w) for w in ("conf", "hit", "bin", "label", "pred"))
        frame = store.df(Sql(
            f"SELECT {bin_} AS bin, avg({conf}) AS confidence, avg(CAST({hit} AS DOUBLE)) AS observed, "
            f"count(*) AS rows FROM ({rows.sql.text}) WHERE {bin_} IS NOT NULL AND {hit} IS NOT NULL "
            f"GROUP BY 1 ORDER BY 1", rows.sql.params), cancel)
        reliability.append(frame.assign(side=name))
        frame = store.df(Sql(
            f"SELECT CAST({label} AS VARCHAR) AS actual, CAST({pred} AS VARCHAR) AS predicted, count(*) AS rows "
            f"FROM ({rows.sql.text}) WHERE {label} IS NOT NULL AND {pred} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            rows.sql.params), cancel)
        confusion.append(frame.assign(side=name))
    density = _density(store, dataset, roles, pairing, condition, cancel) if pairing.paired else None
    return ComparePlots(pd.concat(reliability, ignore_index=True), pd.concat(confusion, ignore_index=True), density)


def _density(store, dataset, roles, pairing, condition, cancel) -> np.ndarray | None:
    base, candidate = side_column("b", "score"), side_column("c", "score")
    cell = "LEAST(CAST(FLOOR({} * {}) AS INTEGER), {})"
    with paired_view(Scope(store, dataset, roles, condition), pairing) as view:
        where = where_clause(Sql(f"{base} IS NOT NULL AND {candidate} IS NOT NULL"))
        counts = store.rows(Sql(
            f"SELECT {cell.format(base, DENSITY_BINS, DENSITY_BINS - 1)}, "
            f"{cell.format(candidate, DENSITY_BINS, DENSITY_BINS - 1)}, count(*) "
            f"FROM {ident(view)}{where.text} GROUP BY 1, 2", where.params), cancel)
    if not counts:
        return None
    grid = np.zeros((DENSITY_BINS, DENSITY_BINS))
    for i, j, n in counts:
        grid[i, j] = n
    return grid


MAX_REGION_ROWS = 50_000
"""A region of the score plot becomes a slice of row ids; beyond this many rows, narrow it."""


def score_region_rows(scope: Scope, pairing: Pairing, base_range: tuple[float, float],
                      candidate_range: tuple[float, float], cancel: CancelToken = NEVER_CANCELLED) -> RowIds:
    """The candidate's rows of the pairs whose scores fall in a rectangle of the score plot.

    A pair's two scores live on two rows, so the selection cannot be a predicate on one row's
    columns; it is the candidate rows' ids, as the negative flips are.
    """
    store = scope.store
    base, candidate = side_column("b", "score"), side_column("c", "score")
    inside = Sql(f"{base} BETWEEN ? AND ? AND {candidate} BETWEEN ? AND ?",
                 (*sorted(base_range), *sorted(candidate_range)))
    with paired_view(scope, pairing) as view:
        where = where_clause(inside)
        ids = store.numpy(Sql(f"SELECT {ident(ROW_ID)} AS id FROM {ident(view)}{where.text} ORDER BY 1 "
                              f"LIMIT {MAX_REGION_ROWS + 1}", where.params), cancel)["id"]
    if len(ids) > MAX_REGION_ROWS:
        raise SchemaError(f"the region holds more than {MAX_REGION_ROWS:,} pairs; select a smaller one")
    return RowIds.of(int(i) for i in ids)
