"""Where does the model fail? SliceLine discovery over a log, with the error chosen by name.

:mod:`analysis.discovery.sliceline` searches any per-row error; this module turns a log's roles into
that error (misclassification, log loss, absolute error, or disagreement between two
versions of the same requests) and picks the columns to slice by. A slice is reported only
if each of its predicates sharpens it (:func:`sharp_slices`), so a predicate true for most
rows never rides along with the one that names the cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.dataset import Column, Dataset
from analysis.discovery.sliceline import DiscoveredSlice, searched_slices
from analysis.errors import SchemaError
from analysis.metrics.outcomes import outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import Sql, ident, literal
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slicing.binning import BinnedFrame
from analysis.store import Store

ERROR_KINDS = {
    "misclass": "misclassification (0/1)",
    "logloss": "log loss",
    "abs": "absolute error (regression)",
    "disagree": "prediction differs between two versions",
}
DISAGREE = "_sleuth_disagree"


@dataclass(frozen=True)
class DiscoverySettings:
    """What to search for; the defaults are SliceLine's, with Sleuth's minimum support."""

    error: str = "misclass"
    version: str | None = None
    other_version: str | None = None
    k: int = 10
    max_level: int = 3
    min_support: int | None = None
    alpha: float = 0.95
    n_bins: int = 5
    significant_only: bool = True
    significance: float = 0.05


OVERSAMPLE = 4
"""Search this many times ``k`` slices so that ``k`` remain after dropping chance findings."""


def failing_slices(scope: Scope, settings: DiscoverySettings = DiscoverySettings(), progress: Progress = no_progress,
                   cancel: CancelToken = NEVER_CANCELLED) -> list[DiscoveredSlice]:
    """The top slices of ``dataset`` (rows in ``condition``) where ``settings.error`` is worst."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if settings.error not in ERROR_KINDS:
        raise SchemaError(f"unknown error '{settings.error}'; choose one of {', '.join(ERROR_KINDS)}")
    columns = _slicing_columns(dataset, roles, settings)
    if not columns:
        raise SchemaError("no feature columns to slice by; set feature roles first")
    if settings.error == "disagree":
        found = _disagreement_slices(store, dataset, roles, settings, columns, condition, progress, cancel)
    else:
        condition = _for_version(roles, settings.version) & condition if settings.version else condition
        error = row_error_sql(dataset, roles, settings.error)
        search = searched_slices(store, dataset.view, columns, error, condition, **_search_options(settings),
                                 zero_one_error=settings.error == "misclass", progress=progress, cancel=cancel)
        found = sharp_slices(store, dataset.view, error, condition, search.slices, settings.significance, cancel,
                             rows=search.rows)
    return _keep(found, settings)


ERROR_COLUMN = "_sleuth_error"
"""The per-row error's column in :func:`sharp_slices`' subquery (no log column starts with ``_sleuth``)."""


def sharp_slices(store: Store, view: str, error_sql: str, condition: Sql | None, found: list[DiscoveredSlice],
                 alpha: float, cancel: CancelToken = NEVER_CANCELLED,
                 rows: BinnedFrame | None = None) -> list[DiscoveredSlice]:
    """The slices whose every predicate sharpens them: without predicate ``p``, the rows it
    would let in (the other predicates, and not ``p``) must have a lower mean error than the
    slice, beyond chance (one-sided Welch z test, Bonferroni over the predicates judged).
    A slice pairing the real cause with a predicate true for most rows is dropped; SliceLine
    finds the shorter slice too, so the cause is still reported. ``rows``: the search's binned
    rows of the same view, error and condition (:class:`~analysis.discovery.sliceline.Search`),
    counted on the client instead of in a scan of hundreds of filters (most of a cold intake's
    discovery CPU on the demo: the same counts, from the codes that found the slices)."""
    judged = [(s, i) for s in found if len(s.predicates) > 1 for i in range(len(s.predicates))]
    if not judged:
        return found
    if rows is not None:
        stats_of = [_code_moments(rows, s, None) for s in found] + [_code_moments(rows, s, i) for s, i in judged]
        return _sharp(found, judged, stats_of, alpha)
    error = f"CAST(({error_sql}) AS DOUBLE)"
    known = Sql(f"isfinite({error})") & condition
    filters = [s.sql() for s in found] + [_outside(s, i) for s, i in judged]
    # the error is computed once per row and each filter once, in a subquery: written out in each
    # of the hundreds of moments, the statement grew to hundreds of KB (Spark took tens of seconds
    # to plan it) and DuckDB took 15-25 s on the demo's 200k rows instead of ~1.5 s
    e = ident(ERROR_COLUMN)
    flags = ", ".join(f"({f.text}) AS _sleuth_in_{j}" for j, f in enumerate(filters))
    moments = ", ".join(f"count(CASE WHEN _sleuth_in_{j} THEN {e} END), sum(CASE WHEN _sleuth_in_{j} THEN {e} END), "
                        f"sum(CASE WHEN _sleuth_in_{j} THEN {e} * {e} END)" for j in range(len(filters)))
    params = tuple(p for f in filters for p in f.params) + known.params
    row = store.rows(Sql(f"SELECT {moments} FROM (SELECT {error} AS {e}, {flags} FROM {ident(view)} "
                         f"WHERE {known.text}) AS row_errors", params), cancel)[0]
    stats_of = [tuple(float(v or 0.0) for v in row[3 * j: 3 * j + 3]) for j in range(len(filters))]
    return _sharp(found, judged, stats_of, alpha)


def _sharp(found: list[DiscoveredSlice], judged: list[tuple[DiscoveredSlice, int]],
           stats_of: list[tuple[float, float, float]], alpha: float) -> list[DiscoveredSlice]:
    """:func:`sharp_slices`' choice, given the count, error sum and sum of squares of each
    slice's rows and then of each judged predicate's :func:`_outside` rows."""
    own = {id(s): stats_of[j] for j, s in enumerate(found)}
    blunt = {id(s) for (s, _), outside in zip(judged, stats_of[len(found):])
             if _lower_mean_p(outside, own[id(s)]) >= alpha / len(judged)}
    return [s for s in found if id(s) not in blunt]


def _code_moments(rows: BinnedFrame, found: DiscoveredSlice, outside: int | None) -> tuple[float, float, float]:
    """Count, error sum and sum of squares of the searched rows in the slice (``outside``
    None) or in its :func:`_outside` rows for predicate ``outside``, from their codes: a row
    is in a bin exactly when it has the bin's code, and the rows :func:`_outside` lets in
    (the predicate not true, NULL included) are those with any other code."""
    position = {feature.column.name: f for f, feature in enumerate(rows.features)}
    member = np.ones(rows.codes.shape[0], dtype=bool)
    for index, predicate in enumerate(found.predicates):
        f = position[predicate.column]
        has = rows.codes[:, f] == rows.features[f].bins.index(predicate)
        member &= ~has if index == outside else has
    error = rows.extra[0][member]
    return float(member.sum()), float(error.sum()), float((error * error).sum())


def _outside(found: DiscoveredSlice, index: int) -> Sql:
    """Rows of the slice's other predicates where predicate ``index`` is not true (NULL counts)."""
    others = [p.sql() for j, p in enumerate(found.predicates) if j != index]
    condition = others[0]
    for other in others[1:]:
        condition = condition & other
    excluded = found.predicates[index].sql()
    return condition & Sql(f"({excluded.text}) IS NOT TRUE", excluded.params)


def _lower_mean_p(outside: tuple[float, float, float], inside: tuple[float, float, float]) -> float:
    """One-sided p that rows ``outside`` have a lower mean error than ``inside`` (each given as
    count, sum, sum of squares); 1 when either side has fewer than two rows."""
    (n0, s0, q0), (n1, s1, q1) = outside, inside
    if n0 < 2 or n1 < 2:
        return 1.0
    mean0, mean1 = s0 / n0, s1 / n1
    var0, var1 = max(q0 / n0 - mean0 ** 2, 0.0) * n0 / (n0 - 1), max(q1 / n1 - mean1 ** 2, 0.0) * n1 / (n1 - 1)
    spread = math.sqrt(var0 / n0 + var1 / n1)
    if spread == 0:
        return 0.0 if mean1 > mean0 else 1.0
    return float(stats.norm.sf((mean1 - mean0) / spread))


def _search_options(settings: DiscoverySettings) -> dict:
    k = settings.k * OVERSAMPLE if settings.significant_only else settings.k
    return dict(k=k, max_level=settings.max_level, alpha=settings.alpha, min_support=settings.min_support,
                n_bins=settings.n_bins)


def _keep(found: list[DiscoveredSlice], settings: DiscoverySettings) -> list[DiscoveredSlice]:
    """The best ``k``; by default only slices whose error beats the rest beyond chance.

    SliceLine's score ranks high-error subsets of a real problem next to it; on their own,
    small subsets are often not significant after the multiple-comparison adjustment, and
    an on-call engineer should not be sent after them.
    """
    if settings.significant_only:
        found = [s for s in found if s.p_adjusted < settings.significance]
    return found[: settings.k]


def row_error_sql(dataset: Dataset, roles: RoleMap, error: str) -> str:
    """Each row's error as SQL, NULL where it is unknown (no label yet, no valid score)."""
    out = outcomes(roles, dataset.columns)
    if error == "misclass":
        if out.is_correct is None or roles.task is TaskType.REGRESSION:
            raise SchemaError("misclassification needs a classification log with a label and a prediction or score")
        return f"1.0 - CAST(({out.is_correct}) AS DOUBLE)"
    if error == "logloss":
        if out.log_loss is None:
            raise SchemaError("log loss needs a label and probability scores")
        return out.log_loss
    if error == "abs":
        if roles.task is not TaskType.REGRESSION or out.loss is None:
            raise SchemaError("absolute error needs a regression log with a label and a prediction")
        return out.loss
    raise SchemaError(f"'{error}' is not a per-row error of one version")


def _slicing_columns(dataset: Dataset, roles: RoleMap, settings: DiscoverySettings) -> list[Column]:
    names = list(roles.features)
    if roles.model_version and settings.version is None and settings.error != "disagree":
        names.append(roles.model_version)
    return [dataset.column(name) for name in names if name in dataset.column_names]


def _for_version(roles: RoleMap, version: str) -> Sql:
    if roles.model_version is None:
        raise SchemaError("this log has no model version column, so no version can be chosen")
    return Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (version,))


def _disagreement_slices(store, dataset, roles, settings, columns, condition, progress, cancel):
    """Rows of ``version`` whose prediction ``other_version`` gave differently, for the same id."""
    if roles.id is None or roles.model_version is None:
        raise SchemaError("comparing two versions' predictions needs an id and a model version column")
    if not (settings.version and settings.other_version):
        raise SchemaError("choose the two versions whose predictions to compare")
    predicted = outcomes(roles, dataset.columns).y_pred
    if predicted is None:
        raise SchemaError("comparing predictions needs a prediction or score column")
    view = store.new_name("disagree")
    version, key = ident(roles.model_version), ident(roles.id)
    store.execute(
        f"CREATE VIEW {ident(view)} AS "
        f"WITH a AS (SELECT *, ({predicted}) AS _sleuth_a FROM {ident(dataset.view)} "
        f"WHERE CAST({version} AS VARCHAR) = {literal(settings.version)}), "
        f"b AS (SELECT CAST({key} AS VARCHAR) AS _sleuth_key, ({predicted}) AS _sleuth_b FROM {ident(dataset.view)} "
        f"WHERE CAST({version} AS VARCHAR) = {literal(settings.other_version)}) "
        f"SELECT a.*, CASE WHEN a._sleuth_a IS NOT DISTINCT FROM b._sleuth_b THEN 0.0 ELSE 1.0 END AS {DISAGREE} "
        f"FROM a JOIN b ON CAST(a.{key} AS VARCHAR) = b._sleuth_key"
    )
    try:
        search = searched_slices(store, view, columns, ident(DISAGREE), condition, **_search_options(settings),
                                 zero_one_error=True, progress=progress, cancel=cancel)
        return sharp_slices(store, view, ident(DISAGREE), condition, search.slices, settings.significance, cancel,
                            rows=search.rows)
    finally:
        store.execute(f"DROP VIEW IF EXISTS {ident(view)}")
