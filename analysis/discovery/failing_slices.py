"""Where does the model fail? SliceLine discovery over a log, with the error chosen by name.

:mod:`analysis.discovery.sliceline` searches any per-row error; this module turns a log's roles into
that error (misclassification, log loss, absolute error, or disagreement between two
versions of the same requests) and picks the columns to slice by.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.dataset import Column, Dataset
from analysis.discovery.sliceline import DiscoveredSlice, discover_slices
from analysis.errors import SchemaError
from analysis.metrics.outcomes import outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import Sql, ident, literal
from analysis.data.roles import RoleMap, TaskType
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


def failing_slices(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    settings: DiscoverySettings = DiscoverySettings(),
    condition: Sql | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[DiscoveredSlice]:
    """The top slices of ``dataset`` (rows in ``condition``) where ``settings.error`` is worst."""
    if settings.error not in ERROR_KINDS:
        raise SchemaError(f"unknown error '{settings.error}'; choose one of {', '.join(ERROR_KINDS)}")
    columns = _slicing_columns(dataset, roles, settings)
    if not columns:
        raise SchemaError("no feature columns to slice by; set feature roles first")
    if settings.error == "disagree":
        found = _disagreement_slices(store, dataset, roles, settings, columns, condition, progress, cancel)
    else:
        condition = _for_version(roles, settings.version) & condition if settings.version else condition
        found = discover_slices(
            store, dataset.view, columns, row_error_sql(dataset, roles, settings.error), condition,
            **_search_options(settings), progress=progress, cancel=cancel,
        )
    return _keep(found, settings)


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
        return discover_slices(store, view, columns, ident(DISAGREE), condition, **_search_options(settings),
                               progress=progress, cancel=cancel)
    finally:
        store.execute(f"DROP VIEW IF EXISTS {ident(view)}")
