"""Trace one prediction back to the training rows that pushed the model to it.

The bridge between the files a user opens (a training snapshot, a prediction log, maybe a
model file) and :mod:`analysis.trace.influence`: read the snapshot's features from DuckDB, find the
log row, match feature columns, pick the influence method for the model (or fit a surrogate),
and report the most harmful and most helpful training rows with their label, source and date.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.trace.influence import InfluencePrep, aggregate_influence, influence_for_row, prepare_influence, strongest
from analysis.data.open_log import NO_OPTIONS, LoadedLog, LogOptions, load_log, with_label_named
from analysis.metrics.per_version import model_versions
from analysis.trace.model_files import LoadedModel, fit_surrogate, load_model, match_features
from analysis.metrics.outcomes import outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.query import ROW_ID, Sql, ident
from analysis.data.roles import Role, RoleMap
from analysis.trace.snapshot_label import label_from_model, label_key
from analysis.slicing.role_leaves import where_sql
from analysis.slices import Compare, Predicate, RowIds
from analysis.store import Store
from analysis.trace.suspects import (
    DEFAULT_SOURCE_COLUMNS, SnapshotColumns, SuspectSettings, find_suspects, influence_by_source, suspects_report,
)
from analysis.report.formatting import count, json_value, number, p_value
from analysis.scope import Scope

FAILURE_CAP = 500
"""At most this many failed predictions are traced together, the worst (highest loss) first:
enough for a corrupted batch to stand out, few enough to take seconds."""


@dataclass(frozen=True)
class TrainingFiles:
    """The training side of a trace: the snapshot a model learned from and, maybe, that model.

    Every trace and the suspect labels read the same four things, from the command line
    (``--train``, ``--model``, ``--trust``, ``--label``) or from a version card and the
    workspace in the window, so they travel as one value.

    Parameters
    ----------
    snapshot_paths : sequence of str
        The training snapshot's files (any format a log opens from).
    model_path : str, Path or None, default=None
        The model file trained on the snapshot. None fits a surrogate on the snapshot, and
        every report says so: influence through a stand-in is weaker evidence.
    trust : bool, default=False
        Whether the person agreed to load ``model_path`` though loading it can run code
        (a pickle, or skops types outside its safe list). Never True unless they were asked.
    roles : mapping of Role to str or None, default=None
        The snapshot's columns a person named for a role (``--label COL``, or the roles saved
        in the workspace); None detects them all from the columns' names and values.
    """

    snapshot_paths: Sequence[str]
    model_path: str | Path | None = None
    trust: bool = False
    roles: Mapping[Role, str] | None = None


@dataclass(frozen=True)
class TraceSettings:
    """Which failures a trace explains, how many training rows it reports, and how it reads a log
    given as files.

    The ``sleuth trace`` options and the window's trace share these knobs; one value passes
    them from the command line or a panel to the tracer.

    Parameters
    ----------
    version : str or None, default=None
        The model version whose prediction (or whose failures in a slice) is traced. None lets
        the command take the version the model file is named after, else (for a slice) the one
        with the most failures; :func:`trace_failures` given None traces every version's.
    k : int, default=20
        How many most harmful and most helpful training rows are reported: enough to see a
        pattern (one source, one date), few enough to read.
    cap : int, default=FAILURE_CAP
        At most this many failed predictions of a slice are traced together, the worst first
        (see :data:`FAILURE_CAP`).
    log_roles : mapping of Role to str or None, default=None
        The log's columns a person named for a role (``--id COL``...), for a log read from
        files; the window's open log already has its roles.
    log_options : LogOptions, default=NO_OPTIONS
        How a log read from files is read beyond its files (a labels file, a table version).
    """

    version: str | None = None
    k: int = 20
    cap: int = FAILURE_CAP
    log_roles: Mapping[Role, str] | None = None
    log_options: LogOptions = NO_OPTIONS


@dataclass(frozen=True)
class TrainingData:
    """A training snapshot in memory (100k x 30 is a few tens of MB) with its roles."""

    snapshot: LoadedLog
    frame: pd.DataFrame
    features: list[str]
    label: str
    id_column: str | None
    context_columns: list[str]  # source / batch / date columns shown next to each row
    label_note: str | None = None  # how the label was found, when the model file decided it


def read_training(store: Store, train_paths: Sequence[str], cancel: CancelToken = NEVER_CANCELLED, *,
                  model: LoadedModel | None = None, fixed: Mapping[Role, str] | None = None) -> TrainingData:
    """Load a training snapshot: its label, features, id and source/date columns.

    The label is the one ``fixed`` names (the user's ``--label``), else the one ``model`` points
    to (:mod:`analysis.trace.snapshot_label`), else the one its name gives away.
    """
    snapshot = load_log(store, train_paths, fixed=fixed, check=False, cancel=cancel)
    note = None
    if model is not None and Role.LABEL not in (fixed or {}):
        choice = label_from_model(Scope(store, snapshot.dataset, snapshot.roles), snapshot.profiles, model)
        if choice is not None:
            note = choice.sentence()
            snapshot = with_label_named(snapshot, choice.column)
    roles = snapshot.roles
    if roles.label is None:
        raise SchemaError("the training snapshot has no column named like a label: name it with --label COL, "
                          "or give the model trained on it (--model) so Sleuth reads the label from it",
                          file=", ".join(snapshot.dataset.paths))
    context = [c for c in snapshot.dataset.column_names if c in DEFAULT_SOURCE_COLUMNS]
    features = [c for c in roles.features if c not in context]
    columns = [c for c in [roles.id, roles.label, *features, *context] if c]
    frame = store.df(Sql(f"SELECT {', '.join(ident(c) for c in dict.fromkeys(columns))} "
                         f"FROM {ident(snapshot.dataset.view)} ORDER BY {ident(ROW_ID)}"), cancel)
    return TrainingData(snapshot, frame, features, roles.label, roles.id, context, note)


def _read_training_files(store: Store, training_files: TrainingFiles,
                         cancel: CancelToken) -> tuple[LoadedModel | None, TrainingData]:
    """The model file safely loaded (None without one) and the snapshot read with its label."""
    path = training_files.model_path
    model = load_model(path, trust=training_files.trust) if path else None
    return model, read_training(store, training_files.snapshot_paths, cancel, model=model, fixed=training_files.roles)


def load_traced_log(store: Store, log_paths: Sequence[str], training: TrainingData,
                    fixed: Mapping[Role, str] | None = None, cancel: CancelToken = NEVER_CANCELLED,
                    options: LogOptions = NO_OPTIONS) -> LoadedLog:
    """The prediction log, its label matched to the snapshot's by name when the log has that
    column (a label named after its domain, ``churned``, is found in both the same way)."""
    log = load_log(store, log_paths, fixed=fixed, check=False, options=options, cancel=cancel)
    return log if Role.LABEL in (fixed or {}) else with_label_named(log, training.label)


def model_for(training: TrainingData, model: LoadedModel | None,
              log: LoadedLog | None = None) -> tuple[LoadedModel, list[str]]:
    """The user's model (already safely loaded) and its feature columns, or a surrogate fitted on
    the snapshot when there is none."""
    if model is None:
        features = [c for c in training.features if log is None or c in log.dataset.column_names]
        if not features:
            raise SchemaError("the training snapshot and the log share no feature column")
        return fit_surrogate(training.frame, features, training.label, training.snapshot.roles.task), features
    log_columns = log.dataset.columns if log is not None else training.snapshot.dataset.columns
    return model, match_features(model, training.snapshot.dataset.columns, log_columns)


def trace_prediction(store: Store, training_files: TrainingFiles, log_paths: Sequence[str], row: str,
                     settings: TraceSettings = TraceSettings(), progress: Progress = no_progress,
                     cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
    """The ``sleuth trace`` report for the log row whose id is ``row`` (one version's row)."""
    progress(0.0, "Reading the training snapshot")
    loaded_model, training = _read_training_files(store, training_files, cancel)
    log = load_traced_log(store, log_paths, training, settings.log_roles, cancel, settings.log_options)
    model, features = model_for(training, loaded_model, log)
    version = settings.version
    if version is None:
        version = version_of_model(model_versions(Scope(store, log.dataset, log.roles), cancel),
                                   training_files.model_path)
    query = _log_row(store, log, row, features, version, cancel)
    label = query[log.roles.label] if log.roles.label else None
    if label is None or pd.isna(label):  # NaN, or pd.NA from a nullable column (a label not joined yet)
        raise SchemaError(f"request '{row}' has no label yet, so there is no failure to trace", column=log.roles.label)
    progress(0.2, "Preparing influence (once per model and snapshot)")
    prep = prepare_influence(model, training.frame[features], training.frame[training.label],
                             progress=scaled(progress, 0.2, 0.9), cancel=cancel)
    result = influence_for_row(prep, query[features].to_frame().T, label, k=settings.k)
    progress(1.0, "Traced")
    prediction = query[log.roles.prediction] if log.roles.prediction else None
    return {
        "method": result.method,
        "surrogate": result.surrogate,
        "label_note": training.label_note,
        "query": {"row_id": row, "label": json_value(label), "prediction": json_value(prediction),
                  "version": json_value(query[log.roles.model_version]) if log.roles.model_version else None},
        "harmful": [_training_row(training, index, score) for index, score in result.harmful],
        "helpful": [_training_row(training, index, score) for index, score in result.helpful],
    }


def suspects_for(store: Store, training_files: TrainingFiles, top: int = 20, progress: Progress = no_progress,
                 cancel: CancelToken = NEVER_CANCELLED, cache: InfluenceCache | None = None,
                 log: LoadedLog | None = None) -> dict[str, Any]:
    """The ``sleuth suspects`` report: training rows whose label is probably wrong, and where
    they come from (source, batch, date).

    A window passes its ``cache`` and the open ``log``: with a model file, the snapshot, the
    model and its influence preparation are then the ones its traces use, prepared once per
    model (a surrogate is not shared: the ranking fits its own on every snapshot feature). A log
    the model's features do not fit is no reason to refuse: the ranking reads the snapshot only."""
    prepared = None
    if cache is not None and log is not None and training_files.model_path:
        with contextlib.suppress(SchemaError):  # the log does not fit the model: the snapshot's own path
            prepared = _prepared(cache, store, training_files, log, scaled(progress, 0.0, 0.2), cancel)
    if prepared is not None:
        model, training = prepared.model, prepared.training
    else:
        model, training = _read_training_files(store, training_files, cancel)
    features = training.features
    if model is not None:
        features = match_features(model, training.snapshot.dataset.columns, training.snapshot.dataset.columns)
    columns = SnapshotColumns(features, training.label, training.id_column,
                              training.context_columns or DEFAULT_SOURCE_COLUMNS)
    influence = prepared.prep if prepared is not None and prepared.features == features else None
    found = find_suspects(training.frame, columns, model, SuspectSettings(k=max(top, 50)),
                          scaled(progress, 0.2, 1.0) if prepared else progress, cancel, influence)
    return {**suspects_report(found, top=top), "id_column": training.id_column, "label_note": training.label_note}


def _log_row(store: Store, log: LoadedLog, row: str, features: list[str], version: str | None,
             cancel: CancelToken) -> pd.Series:
    roles = log.roles
    if roles.id is None:
        raise SchemaError("the log has no id column to find the row by; set the id role")
    missing = [c for c in features if c not in log.dataset.column_names]
    if missing:
        raise SchemaError(f"the log lacks the model's feature column(s) {', '.join(missing)}")
    condition = Sql(f"CAST({ident(roles.id)} AS VARCHAR) = ?", (str(row),))
    if version is not None and roles.model_version:
        condition = condition & Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (version,))
    frame = store.df(Sql(f"SELECT * FROM {ident(log.dataset.view)} WHERE {condition.text} "
                         f"ORDER BY {ident(ROW_ID)} LIMIT 1", condition.params), cancel)
    if frame.empty:
        raise SchemaError(f"no row with {roles.id} = '{row}'" + (f" for version '{version}'" if version else ""),
                          column=roles.id)
    return frame.iloc[0]


def _training_row(training: TrainingData, index: int, score: float) -> dict[str, Any]:
    record = training.frame.iloc[int(index)]
    entry = {"row_id": json_value(record[training.id_column]) if training.id_column else int(index),
             "score": float(score), "label": json_value(record[training.label])}
    for column in training.context_columns:
        entry[column] = json_value(record[column])
    return entry


@dataclass(frozen=True)
class PreparedInfluence:
    """What :class:`InfluenceCache` keeps per model and snapshot: the expensive part of a trace."""

    training: TrainingData
    model: LoadedModel
    features: list[str]
    prep: InfluencePrep
    refits: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)
    """A linear model's parameters refitted without a training batch, by (batch column, value):
    kept with the preparation because an intake's blame and then each group's blame
    (:func:`analysis.queue.blame.attach_blame`) refit the same batches of the same model."""


class InfluenceCache:
    """The one-time influence preparation per snapshot and model file as written (see
    :func:`_cache_key`), kept for the session.

    Preparing (reading the snapshot, loading the model, a Hessian or per-tree pass) takes
    seconds; every later row of the same model is then a fraction of a second. The lock makes
    a second worker wait for a preparation in progress instead of repeating it.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple, PreparedInfluence] = {}
        self._lock = threading.Lock()

    def prepared(self, store: Store, snapshot_paths: Sequence[str], model_path: str | Path | None,
                 trust: bool, log: LoadedLog, progress: Progress = no_progress,
                 cancel: CancelToken = NEVER_CANCELLED,
                 snapshot_roles: Mapping[Role, str] | None = None) -> PreparedInfluence:
        """The cached preparation, or a new one (progress reports only when preparing)."""
        key = _cache_key(snapshot_paths, model_path, snapshot_roles)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = _prepare(store, snapshot_paths, model_path, trust, log, progress, cancel,
                                              snapshot_roles)
            return self._entries[key]

    def __contains__(self, key: tuple) -> bool:
        return key in self._entries

    @staticmethod
    def key(snapshot_paths: Sequence[str], model_path: str | Path | None,
            snapshot_roles: Mapping[Role, str] | None = None) -> tuple:
        return _cache_key(snapshot_paths, model_path, snapshot_roles)


@dataclass(frozen=True)
class TracedTrainingRow:
    """One influential training row: its id, score (positive = harmful), label, source/date,
    features, and the slice that shows it in the snapshot."""

    row_id: Any
    score: float
    label: Any
    context: dict[str, Any]
    values: dict[str, Any]
    predicate: Predicate


@dataclass(frozen=True)
class RowTrace:
    """One log row traced to the training rows that most raised and lowered its loss."""

    row_id: int
    request_id: Any
    version: Any
    label: Any
    prediction: Any
    correct: bool | None
    features: list[str]
    query_values: dict[str, Any]
    method: str
    surrogate: bool
    harmful: list[TracedTrainingRow]
    helpful: list[TracedTrainingRow]


class NoLabelYet(SchemaError):
    """The log row has no ground truth yet: there is no failure to trace."""


def row_version(scope: Scope, row_id: int, cancel: CancelToken = NEVER_CANCELLED) -> str | None:
    """The model version that served log row ``row_id`` (a ROW_ID), or None without that role."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.model_version is None:
        return None
    rows = store.rows(Sql(f"SELECT CAST({ident(roles.model_version)} AS VARCHAR) FROM {ident(dataset.view)} "
                          f"WHERE {ident(ROW_ID)} = ?", (int(row_id),)), cancel)
    return rows[0][0] if rows else None


def trace_log_row(scope: Scope, row_id: int, training_files: TrainingFiles, cache: InfluenceCache, k: int = 20,
                  progress: Progress = no_progress, cancel: CancelToken = NEVER_CANCELLED) -> RowTrace:
    """Trace the log row ``row_id`` (its ROW_ID) of an open dataset, reusing ``cache``'s preparation;
    ``k`` as in :class:`TraceSettings`.

    Raises :class:`NoLabelYet` before any preparation when the row has no label.
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    frame = store.df(Sql(f"SELECT * FROM {ident(dataset.view)} WHERE {ident(ROW_ID)} = ?", (int(row_id),)),
                     cancel)
    if frame.empty:
        raise SchemaError(f"the log has no row {row_id}")
    query = frame.iloc[0]
    label = None if roles.label is None or pd.isna(query[roles.label]) else json_value(query[roles.label])
    if label is None:
        raise NoLabelYet("this row has no label yet, so there is no failure to trace", column=roles.label)
    progress(0.0, "Preparing influence (once per model and snapshot)")
    ready = _prepared(cache, store, training_files, LoadedLog(dataset, roles, ()), scaled(progress, 0.0, 0.9), cancel)
    missing = [c for c in ready.features if c not in frame.columns]
    if missing:
        raise SchemaError(f"the log lacks the model's feature column(s) {', '.join(missing)}")
    result = influence_for_row(ready.prep, frame[ready.features].iloc[[0]], query[roles.label], k=k)
    prediction = json_value(query[roles.prediction]) if roles.prediction else None
    progress(1.0, "Traced")
    return RowTrace(
        row_id=int(row_id),
        request_id=_shown(query[roles.id]) if roles.id else None,
        version=_shown(query[roles.model_version]) if roles.model_version else None,
        label=label,
        prediction=prediction,
        correct=None if prediction is None else _same_label(label, prediction),
        features=list(ready.features),
        query_values={c: _shown(query[c]) for c in ready.features},
        method=result.method,
        surrogate=result.surrogate,
        harmful=[_traced_row(ready, index, score) for index, score in result.harmful],
        helpful=[_traced_row(ready, index, score) for index, score in result.helpful],
    )


@dataclass(frozen=True)
class FailuresTrace:
    """The training rows most harmful (and helpful) summed over a slice's failed predictions.

    ``failures`` is how many failed predictions of ``version`` the slice holds, ``traced`` how
    many were traced (at most ``cap``, the worst first). ``by_source`` is
    :func:`analysis.trace.suspects.influence_by_source` over the summed scores.
    """

    version: Any
    failures: int
    traced: int
    cap: int
    method: str
    surrogate: bool
    harmful: list[TracedTrainingRow]
    helpful: list[TracedTrainingRow]
    by_source: pd.DataFrame
    label_note: str | None = None


def version_of_model(versions: Sequence[str], model_path: str | Path | None) -> str | None:
    """The log version a model file belongs to when its name says so: the longest version
    string in the file's name (``models/fraud-gbm-2026.10.skops`` -> ``fraud-gbm-2026.10``).

    Registries and training jobs name model files after the version they deploy; tracing a
    failure of one version through another version's model would blame the wrong training rows.
    """
    if model_path is None:
        return None
    name = Path(model_path).name
    named = [v for v in versions if v and v in name]
    return max(named, key=len) if named else None


def busiest_failing_version(scope: Scope, cancel: CancelToken = NEVER_CANCELLED) -> str | None:
    """The model version with the most failed predictions in the slice: the one whose model the
    failures are traced through (None without a version role or without failures)."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.model_version is None:
        return None
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    where = _failed(dataset, roles) & condition
    rows = store.rows(Sql(f"SELECT {version}, COUNT(*) AS n FROM {ident(dataset.view)} WHERE {where.text} "
                          f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1", where.params), cancel)
    return rows[0][0] if rows else None


def trace_failures(scope: Scope, training_files: TrainingFiles, cache: InfluenceCache,
                   settings: TraceSettings = TraceSettings(), progress: Progress = no_progress,
                   cancel: CancelToken = NEVER_CANCELLED) -> FailuresTrace:
    """Sum the influence of every training row over the failed predictions of ``settings.version``
    (every version's when None) in the scope's slice, the worst ``settings.cap`` of them, so
    rows and batches harmful to many stand out."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    version, cap = settings.version, settings.cap
    where = _failed(dataset, roles) & condition
    if version is not None and roles.model_version:
        where = where & Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (str(version),))
    failures = store.scalar(Sql(f"SELECT COUNT(*) FROM {ident(dataset.view)} WHERE {where.text}", where.params),
                            cancel)
    if not failures:
        raise SchemaError("the slice has no failed prediction with a label to trace")
    loss = outcomes(roles, dataset.columns).loss
    worst = f"({loss}) DESC NULLS LAST, " if loss else ""
    failed = store.df(Sql(f"SELECT * FROM {ident(dataset.view)} WHERE {where.text} "
                          f"ORDER BY {worst}{ident(ROW_ID)} LIMIT {int(cap)}", where.params), cancel)
    progress(0.0, "Preparing influence (once per model and snapshot)")
    ready = _prepared(cache, store, training_files, LoadedLog(dataset, roles, ()), scaled(progress, 0.0, 0.8), cancel)
    missing = [c for c in ready.features if c not in failed.columns]
    if missing:
        raise SchemaError(f"the log lacks the model's feature column(s) {', '.join(missing)}")
    progress(0.8, f"Summing influence over {len(failed):,} failed predictions")
    scores = aggregate_influence(ready.prep, failed[ready.features], failed[roles.label])
    harmful, helpful = strongest(scores, settings.k)
    sources = ready.training.context_columns or list(DEFAULT_SOURCE_COLUMNS)
    progress(1.0, "Traced")
    return FailuresTrace(
        version=version, failures=int(failures), traced=len(failed), cap=cap,
        method=ready.prep.method, surrogate=ready.prep.model.surrogate,
        harmful=[_traced_row(ready, index, score) for index, score in harmful],
        helpful=[_traced_row(ready, index, score) for index, score in helpful],
        by_source=influence_by_source(ready.training.frame, scores, sources),
        label_note=ready.training.label_note,
    )


def trace_slice(store: Store, training_files: TrainingFiles, log_paths: Sequence[str], slice_text: str,
                settings: TraceSettings = TraceSettings(), progress: Progress = no_progress,
                cancel: CancelToken = NEVER_CANCELLED) -> dict[str, Any]:
    """The ``sleuth trace --slice`` report: :func:`trace_failures` over the log rows matching
    ``slice_text`` (the slice bar's syntax), as a JSON-ready object.

    The snapshot is read first to learn its label, which names the log's label too (see
    :func:`load_traced_log`); the influence preparation reads it again (a cached step in the window).
    """
    _, training = _read_training_files(store, training_files, cancel)
    log = load_traced_log(store, log_paths, training, settings.log_roles, cancel, settings.log_options)
    condition = where_sql(Scope(store, log.dataset, log.roles), slice_text, cancel)
    if settings.version is None:
        version = (version_of_model(model_versions(Scope(store, log.dataset, log.roles), cancel),
                                    training_files.model_path)
                   or busiest_failing_version(Scope(store, log.dataset, log.roles, condition), cancel))
        settings = replace(settings, version=version)
    traced = trace_failures(Scope(store, log.dataset, log.roles, condition), training_files, InfluenceCache(),
                            settings, progress=progress, cancel=cancel)
    return failures_report(traced, slice_text)


def failures_report(traced: FailuresTrace, slice_text: str) -> dict[str, Any]:
    """A :class:`FailuresTrace` as plain JSON: the shape ``sleuth trace --slice --json`` prints."""
    def entry(row: TracedTrainingRow) -> dict[str, Any]:
        return {"row_id": row.row_id, "score": row.score, "label": row.label, **row.context}

    return {
        "method": traced.method,
        "surrogate": traced.surrogate,
        "label_note": traced.label_note,
        "slice": slice_text,
        "version": traced.version,
        "failures": traced.failures,
        "traced": traced.traced,
        "cap": traced.cap,
        "harmful": [entry(r) for r in traced.harmful],
        "helpful": [entry(r) for r in traced.helpful],
        "by_source": [{key: json_value(value) for key, value in record.items()}
                      for record in traced.by_source.to_dict(orient="records")],
    }


def training_row_predicate(id_column: str | None, row_id: Any) -> Predicate:
    """The slice that shows one training row of the snapshot: ``id = row_id`` by its id column,
    else by its position (the snapshot's row number)."""
    if id_column is None:
        return RowIds.of([int(row_id)])
    return Compare(id_column, "=", row_id)


def log_row_predicate(roles: RoleMap, trace: RowTrace) -> Predicate:
    """The slice that shows a traced log row: its request id (and version, when several versions
    scored the same id), else its row number."""
    if roles.id is None or trace.request_id is None:
        return RowIds.of([trace.row_id])
    request = Compare(roles.id, "=", trace.request_id)
    if roles.model_version and trace.version is not None:
        return request & Compare(roles.model_version, "=", trace.version)
    return request


def concentration_sentence(report: dict[str, Any]) -> str:
    """Where a ``suspects_for`` report's wrong labels concentrate, in one sentence (BH-adjusted p < 0.05)."""
    concentrated = [b for b in report["by_source"]
                    if b.get("p_value") is not None and b["p_value"] < 0.05 and (b.get("lift") or 0) > 1]
    if not concentrated:
        return "The disputed labels are spread evenly: no source, batch or date holds more than its share."
    parts = [f"{b['column']} = {b['value']} ({count(b['disputed'])} of {count(b['rows'])} labels disputed, "
             f"{number(b['lift'], 1)}× its share, p {p_value(b['p_value'])})" for b in concentrated]
    return "Labels the model disputes out of fold concentrate in " + "; ".join(parts) + "."


def _failed(dataset: Dataset, roles: RoleMap) -> Sql:
    """Labelled rows whose prediction was wrong (classification); for regression, every labelled
    row with a loss, the worst of which are traced."""
    if roles.label is None:
        raise SchemaError("the log has no label column: no prediction can be called a failure")
    found = outcomes(roles, dataset.columns)
    if found.is_correct is not None:
        return Sql(f"({found.has_label}) AND ({found.is_correct}) = 0")
    if found.loss is not None:
        return Sql(f"({found.has_label}) AND ({found.loss}) IS NOT NULL")
    raise SchemaError("the log has no prediction or score column to tell a failure from a success")


def _cache_key(snapshot_paths: Sequence[str], model_path: str | Path | None,
               snapshot_roles: Mapping[Role, str] | None = None) -> tuple:
    """What a preparation depends on: the snapshot's and the model's files as they are on disk
    now, and the roles named for the snapshot. A version card pointed at other files, a file
    rewritten in place (a retrained model, a re-exported snapshot) or a label named differently
    is a new key, so the cache never serves the preparation of what the files held before."""
    snapshots = tuple(str(p) for p in snapshot_paths)
    model = str(model_path) if model_path else None
    named = tuple(sorted((role.value, column) for role, column in (snapshot_roles or {}).items()))
    return (snapshots, tuple(_written(p) for p in snapshots), model, _written(model) if model else None, named)


def _written(path: str) -> tuple[int, int] | None:
    """When ``path`` was last written and its size; None when it is not on disk (a glob, a URL,
    a moved file, which the preparation then reports)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _prepared(cache: InfluenceCache, store: Store, training_files: TrainingFiles, log: LoadedLog,
              progress: Progress, cancel: CancelToken) -> PreparedInfluence:
    """``cache``'s preparation for these training files (the cache keeps its loose signature,
    which the review queue's blame calls too)."""
    return cache.prepared(store, training_files.snapshot_paths, training_files.model_path, training_files.trust,
                          log, progress, cancel, training_files.roles)


def _prepare(store: Store, snapshot_paths: Sequence[str], model_path: str | Path | None, trust: bool,
             log: LoadedLog, progress: Progress, cancel: CancelToken,
             snapshot_roles: Mapping[Role, str] | None = None) -> PreparedInfluence:
    progress(0.0, "Loading the model" if model_path else "Reading the training snapshot")
    loaded_model, training = _read_training_files(store, TrainingFiles(snapshot_paths, model_path, trust,
                                                                       snapshot_roles), cancel)
    progress(0.1, "Preparing the model" if model_path else "Fitting a surrogate model on the snapshot")
    model, features = model_for(training, loaded_model, log)
    progress(0.2, "Preparing influence (once per model and snapshot)")
    prep = prepare_influence(model, training.frame[features], training.frame[training.label],
                             progress=scaled(progress, 0.2, 1.0), cancel=cancel)
    return PreparedInfluence(training, model, features, prep)


def _traced_row(ready: PreparedInfluence, index: int, score: float) -> TracedTrainingRow:
    entry = _training_row(ready.training, index, score)
    record = ready.training.frame.iloc[int(index)]
    return TracedTrainingRow(
        row_id=entry["row_id"], score=entry["score"], label=entry["label"],
        context={c: entry[c] for c in ready.training.context_columns},
        values={c: _shown(record[c]) for c in ready.features},
        predicate=training_row_predicate(ready.training.id_column, entry["row_id"]),
    )


def _shown(value: Any) -> Any:
    """:func:`~analysis.report.formatting.json_value`, with values JSON does not know (UUIDs) as text."""
    value = json_value(value)
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _same_label(label: Any, prediction: Any) -> bool:
    """Labels compare as text, so 1, 1.0, True and "1" from different columns meet."""
    return label_key(label) == label_key(prediction)
