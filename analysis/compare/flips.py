"""Flips: requests one version got right and the other wrong, for a paired comparison.

A *negative flip* is a labelled pair the base got right and the candidate got wrong, a
*positive flip* the reverse. For a regression task a negative flip is a pair whose absolute
error grew by more than ``tolerance``, a positive flip one whose error shrank by more than it,
and every other pair counts as ``both_right`` ("unchanged"); ``both_wrong`` is then 0.

A flip is a property of a pair, so as a slice it is the set of the *candidate's* rows of
those pairs: the slice language's ``flip('base' -> 'candidate', negative)`` leaf
(:class:`~analysis.slices.Flip`, resolved in :mod:`analysis.slicing.role_leaves` by the same
pairing), never a list of row ids, which at 3M rows flooded every header and took 45 s to apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.compare.comparison import (
    PAIR_LABEL, Pairing, PairedSums, Rows, at_threshold, paired_rows, paired_sums, paired_view, side_column,
)
from analysis.stats.significance import mcnemar_exact
from analysis.report.cell_text import neutralise, neutralised_sql
from analysis.dataset import Column
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, ident, literal
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slices import FLIP_DIRECTIONS
from analysis.store import Store

EXPORT_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Flips:
    """The 2x2 table of (base right/wrong) x (candidate right/wrong) over labelled pairs.

    ``mcnemar_p`` is the exact McNemar p-value of negative against positive flips.
    """

    both_right: int
    negative: int
    positive: int
    both_wrong: int
    mcnemar_p: float

    @property
    def pairs(self) -> int:
        return self.both_right + self.negative + self.positive + self.both_wrong

    @property
    def negative_rate(self) -> float:
        return self.negative / self.pairs if self.pairs else 0.0

    @property
    def positive_rate(self) -> float:
        return self.positive / self.pairs if self.pairs else 0.0


def flip_sql(roles: RoleMap, kind: str, tolerance: float = 0.0) -> str:
    """Condition over the paired view selecting the labelled pairs of one flip ``kind``."""
    if kind not in FLIP_DIRECTIONS:
        raise ValueError(f"flip kind is one of {', '.join(FLIP_DIRECTIONS)}, not {kind!r}")
    if roles.task is TaskType.REGRESSION:
        grown = f"{side_column('c', 'loss')} - {side_column('b', 'loss')}"
        shrunk = f"{side_column('b', 'loss')} - {side_column('c', 'loss')}"
        return f"({grown if kind == 'negative' else shrunk}) > {literal(float(tolerance))}"
    base, cand = side_column("b", "ok"), side_column("c", "ok")
    return f"{base} = 1 AND {cand} = 0" if kind == "negative" else f"{base} = 0 AND {cand} = 1"


def flip_indicator_sql(roles: RoleMap, tolerance: float = 0.0) -> str:
    """Per pair: 1.0 for a negative flip, 0.0 otherwise, NULL when it cannot be judged
    (no label, or a version without a prediction): the regression signal slices are found by."""
    loss_or_pred = "loss" if roles.task is TaskType.REGRESSION else "pred"
    known = " AND ".join(
        [f"{PAIR_LABEL} IS NOT NULL"]
        + [f"{side_column(s, loss_or_pred)} IS NOT NULL" for s in ("b", "c")]
    )
    return f"CASE WHEN NOT ({known}) THEN NULL WHEN {flip_sql(roles, 'negative', tolerance)} THEN 1.0 ELSE 0.0 END"


def _judged(rows: Rows, roles: RoleMap) -> str:
    what = "loss" if roles.task is TaskType.REGRESSION else "pred"
    return (f"{rows.label} IS NOT NULL AND {side_column('b', what)} IS NOT NULL "
            f"AND {side_column('c', what)} IS NOT NULL")


def flips(scope: Scope, pairing: Pairing, threshold: float | None = None, tolerance: float = 0.0,
          cancel: CancelToken = NEVER_CANCELLED) -> Flips:
    """Count the flips of a paired comparison over pairs in ``condition`` (the current slice)."""
    store, roles = scope.store, scope.roles
    if not pairing.paired:
        raise SchemaError("flips need the same requests scored by both versions (a paired comparison)")
    roles = at_threshold(roles, threshold)
    with paired_view(scope.with_roles(roles), pairing) as view:
        return count_flips(store, roles, paired_rows(view), tolerance, cancel)


def count_flips(store: Store, roles: RoleMap, rows: Rows, tolerance: float = 0.0,
                cancel: CancelToken = NEVER_CANCELLED) -> Flips:
    """:func:`flips` over paired rows already chosen (see :func:`analysis.compare.comparison.compared_rows`)."""
    return flips_of(paired_sums(store, rows, flip_kind_sql(roles, tolerance), cancel))


def flip_kind_sql(roles: RoleMap, tolerance: float = 0.0) -> str:
    """Per labelled pair: ``'negative'``, ``'positive'``, ``'both_wrong'`` or ``'both_right'``
    (for a regression task every pair that is no flip is ``'both_right'``, "unchanged"), NULL
    when a version has no prediction (no loss); the key :func:`paired_sums` counts flips by."""
    what = "loss" if roles.task is TaskType.REGRESSION else "pred"
    judged = f"{side_column('b', what)} IS NOT NULL AND {side_column('c', what)} IS NOT NULL"
    both_wrong = ("FALSE" if roles.task is TaskType.REGRESSION
                  else f"{side_column('b', 'ok')} = 0 AND {side_column('c', 'ok')} = 0")
    return (f"CASE WHEN NOT ({judged}) THEN NULL WHEN {flip_sql(roles, 'negative', tolerance)} THEN 'negative' "
            f"WHEN {flip_sql(roles, 'positive', tolerance)} THEN 'positive' WHEN {both_wrong} THEN 'both_wrong' "
            "ELSE 'both_right' END")


def flips_of(sums: PairedSums) -> Flips:
    """The flip table from the pairs' sums, counted by :func:`flip_kind_sql`."""
    negative, positive = sums.flips.get("negative", 0), sums.flips.get("positive", 0)
    return Flips(sums.flips.get("both_right", 0), negative, positive, sums.flips.get("both_wrong", 0),
                 mcnemar_exact(negative, positive))


def export_flips(scope: Scope, pairing: Pairing, path: str | Path, kind: str = "negative", format: str = "csv",
                 threshold: float | None = None, tolerance: float = 0.0,
                 cancel: CancelToken = NEVER_CANCELLED) -> int:
    """Write the flips of ``kind`` to ``path`` (CSV or Parquet) with DuckDB's ``COPY``; returns
    the number of rows written. Each row is the candidate's row plus both versions'
    predictions and scores (``base_prediction``, ``candidate_prediction``, ...)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if format not in EXPORT_FORMATS:
        raise ValueError(f"export format is one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
    if not pairing.paired:
        raise SchemaError("flips need the same requests scored by both versions (a paired comparison)")
    roles = at_threshold(roles, threshold)
    columns = [_exported(column, format) for column in dataset.columns] + [
        f"{side_column(side, what)} AS {name}_{label}"
        for side, name in (("b", "base"), ("c", "candidate"))
        for what, label in (("pred", "prediction"), ("score", "score"), ("loss", "loss"))
    ]
    options = "FORMAT csv, HEADER" if format == "csv" else "FORMAT parquet"
    with paired_view(scope.with_roles(roles), pairing, dataset.column_names) as view:
        rows = paired_rows(view)
        select = (f"SELECT {', '.join(columns)} FROM ({rows.sql.text}) WHERE {_judged(rows, roles)} "
                  f"AND {flip_sql(roles, kind, tolerance)} ORDER BY {ident(ROW_ID)}")
        with store.job_cursor(cancel) as cur:
            cur.execute(f"COPY ({select}) TO {literal(str(path))} ({options})", list(rows.sql.params))
            written = cur.fetchall()
    return int(written[0][0]) if written and written[0] else 0


def _exported(column: Column, format: str) -> str:
    """A log column as the export writes it: in a CSV, text that a spreadsheet would run as a
    formula is neutralised (cells and the header alike; see :mod:`analysis.report.cell_text`)."""
    if format != "csv":
        return ident(column.name)
    value = ident(column.name)
    if not (column.is_numeric or column.is_temporal):
        value = neutralised_sql(f"CAST({value} AS VARCHAR)")
    return f"{value} AS {ident(neutralise(column.name))}"
