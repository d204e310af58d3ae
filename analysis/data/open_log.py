"""What happens when a log is opened: load it, propose its roles, check it.

One function the window's worker, the CLI and tests all call, so a log opened anywhere is
read, understood and checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from analysis.dataset import Dataset
from analysis.data.labels import LabelJoin, join_labels, labelled_roles
from analysis.data.loading import open_dataset
from analysis.data.model_label import ModelColumns, label_from_model
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.data.roles import (
    ColumnProfile, Role, RoleMap, check_fixed_roles, detect_roles, label_from_forecast, profile_columns,
    with_fixed_role,
)
from analysis.store import Store
from analysis.data.log_sanity import LogIssue, check_log
from analysis.data.serving import bentoml
from analysis.data.wide import detect_wide, long_view, with_wide_roles
from analysis.scope import Scope


@dataclass(frozen=True)
class LogOptions:
    """How to read a log beyond its files: a labels file joined by id (``on`` names the labels'
    id column, detected when absent) and, for a Delta or Iceberg table, the version or time."""

    labels: tuple[str, ...] = ()
    on: str | None = None
    as_of: str | None = None


NO_OPTIONS = LogOptions()


@dataclass(frozen=True)
class LoadedLog:
    """A log (or snapshot) as opened: the dataset, its roles, the log checks' issues, and the
    column profiles the roles were detected from (empty when the roles were given), and how
    the label was found when a model file decided it."""

    dataset: Dataset
    roles: RoleMap
    issues: tuple[LogIssue, ...]
    profiles: tuple[ColumnProfile, ...] = ()
    labels: LabelJoin | None = None
    label_note: str | None = None


def load_log(
    store: Store,
    specs: Sequence[str],
    *,
    name: str | None = None,
    roles: RoleMap | None = None,
    fixed: Mapping[Role, str] | None = None,
    check: bool = True,
    options: LogOptions = NO_OPTIONS,
    model: ModelColumns | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> LoadedLog:
    """Open ``specs`` as one dataset; use ``roles`` when given (a saved mapping), else detect them.

    A wide log (one score or prediction column per version) is shown one row per version
    (see :mod:`analysis.data.wide`), and its load report says so.

    ``fixed`` names columns whose role the user chose (``--label COL``...); detection fills the
    other roles around them. A named column the files lack is refused in one sentence.

    ``check=False`` skips the log checks (a full scan of a large log), so the window can show
    the table first and run the checks as a job of their own. ``options`` join labels that
    arrived later (:mod:`analysis.data.labels`) and pick a lakehouse table's version.
    ``model`` is what the model file that served the log says about its columns: when no name
    tells the label, or the named one is a column the model reads, the label is the column
    the model points to (:mod:`analysis.data.model_label`), and ``label_note`` says so.
    """
    dataset = open_dataset(store, specs, name=name, as_of=options.as_of, progress=scaled(progress, 0.0, 0.7),
                           cancel=cancel)
    cancel.raise_if_cancelled()
    layout = detect_wide(dataset.columns)
    if layout is not None:
        dataset = long_view(store, dataset, layout)
    profiles: tuple[ColumnProfile, ...] = ()
    note = None
    if fixed:
        check_fixed_roles(fixed, dataset.columns, ", ".join(dataset.paths))
    detected = roles is None
    if roles is None:
        progress(0.75, "Detecting column roles")
        profiles, roles, note = _detected_roles(store, dataset, layout, fixed, model, progress, cancel)
    else:
        roles = keep_known_columns(roles, dataset)
        for role, column in (fixed or {}).items():
            roles = with_fixed_role(roles, role, column)
    joined = None
    if options.labels:
        progress(0.8, "Joining labels")
        dataset, roles, joined = join_labels(store, dataset, roles, options.labels, options.on, cancel)
        if detected:  # the joined label sets the task (binary, its positive class): detect around it
            around = {**(fixed or {}), Role.LABEL: roles.label}
            profiles, redetected, note = _detected_roles(store, dataset, layout, around, model, cancel=cancel)
            roles = labelled_roles(redetected, roles.label, dataset)
    issues: tuple[LogIssue, ...] = ()
    if check:
        cancel.raise_if_cancelled()
        progress(0.85, "Checking the log")
        issues = tuple(check_log(Scope(store, dataset, roles), scaled(progress, 0.85, 1.0), cancel))
    progress(1.0, "Loaded")
    return LoadedLog(dataset, roles, issues, profiles, joined, note)


def _detected_roles(store: Store, dataset: Dataset, layout, fixed: Mapping[Role, str] | None,
                    model: ModelColumns | None = None, progress: Progress = no_progress,
                    cancel: CancelToken = NEVER_CANCELLED) -> tuple[tuple[ColumnProfile, ...], RoleMap, str | None]:
    """Roles from the columns' profiles, around the roles the user named (``fixed``) and, below
    those, the roles the serving system's own schema declares; then the label from ``model``
    (see :func:`load_log`), else from what the model's score forecasts. Also says how a model
    file decided the label."""
    profiles = tuple(profile_columns(store, dataset, progress=scaled(progress, 0.75, 0.85), cancel=cancel))
    chosen = dict(fixed or {})
    declared = {role: column for role, column in _declared_roles(dataset, profiles).items()
                if role not in chosen and column not in chosen.values()}
    roles = detect_roles(profiles, {**declared, **chosen})
    note, label = None, None
    if model is not None and Role.LABEL not in chosen and (roles.label is None or roles.label in model.inputs):
        if roles.label is not None:  # a column the model reads is never its label
            roles = roles.with_role(roles.label, Role.FEATURE)
        choice = label_from_model(Scope(store, dataset, roles), profiles, model, cancel)
        if choice is not None:
            note, label = choice.sentence(), choice.column
    elif model is None and roles.label is None:
        label = label_from_forecast(Scope(store, dataset, roles), profiles, cancel)
    if label is not None:
        roles = detect_roles(profiles, {**declared, **chosen, Role.LABEL: label})
    return profiles, (with_wide_roles(roles, layout) if layout is not None else roles), note


def _declared_roles(dataset: Dataset, profiles: Sequence[ColumnProfile]) -> dict[Role, str]:
    """The label and prediction a BentoML monitor's schema file names (its ``target`` and
    ``prediction`` columns); a declared prediction holding fractions in [0, 1] is a probability,
    so it is the score, as detection itself reads such a column."""
    if dataset.format != bentoml.NAME:
        return {}
    by_name = {p.name: p for p in profiles}
    found: dict[Role, str] = {}
    for column, declared in bentoml.declared_roles(dataset.paths).items():
        profile = by_name.get(column)
        if profile is None:
            continue
        if declared == "target":
            found[Role.LABEL] = column
        elif declared == "prediction":
            probability = profile.is_numeric and profile.in_unit_interval and not profile.integral
            found[Role.SCORE if probability else Role.PREDICTION] = column
    return found


def with_label_named(loaded: LoadedLog, column: str | None) -> LoadedLog:
    """``loaded`` with ``column`` as its label when it has that column and detection chose
    another (or none): how a log's label is matched to a snapshot's, and a reference's to a
    checked log's, when one side names it after its domain (``churned``). The other roles are
    detected again around it, so the task follows the label."""
    if column is None or loaded.roles.label == column or column not in loaded.dataset.column_names:
        return loaded
    if not loaded.profiles:
        return replace(loaded, roles=loaded.roles.with_role(column, Role.LABEL))
    kept = {role: getattr(loaded.roles, role.value) for role in (Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION)
            if getattr(loaded.roles, role.value) not in (None, column)}
    return replace(loaded, roles=detect_roles(loaded.profiles, {**kept, Role.LABEL: column}))


def with_model_label(scope: Scope, model: ModelColumns,
                     cancel: CancelToken = NEVER_CANCELLED) -> tuple[RoleMap, str] | None:
    """The roles of an open log with the label ``model`` points to (:mod:`.model_label`), and
    the sentence saying so: for a log already open when a model file becomes known (a version
    card's), as :func:`load_log` reads it: when the log has no label, or its label is a column
    the model reads (so not its label). The id, time and version stay; the rest is detected
    around the label, so the task follows it. None when the label stands or no column fits."""
    roles = scope.roles
    if roles.label is not None:
        if roles.label not in model.inputs:
            return None
        roles = roles.with_role(roles.label, Role.FEATURE)
    profiles = tuple(profile_columns(scope.store, scope.dataset, cancel=cancel))
    choice = label_from_model(scope.with_roles(roles), profiles, model, cancel)
    if choice is None:
        return None
    loaded = LoadedLog(scope.dataset, roles, (), profiles)
    return with_label_named(loaded, choice.column).roles, choice.sentence()


def recheck(scope: Scope, progress: Progress = no_progress,
            cancel: CancelToken = NEVER_CANCELLED) -> tuple[LogIssue, ...]:
    """Run the log checks again after the user changed the roles (or once the log is open):
    a job of the heavy lane, so ``cancel`` interrupts the scan running, and ``progress`` says
    which check runs."""
    cancel.raise_if_cancelled()
    return tuple(check_log(scope, progress, cancel))


def keep_known_columns(roles: RoleMap, dataset: Dataset) -> RoleMap:
    """Drop roles that name columns the files no longer have (a saved mapping, files changed)."""
    present = set(dataset.column_names)
    for column in _named_columns(roles):
        if column not in present:
            roles = RoleMap.from_dict(_without(roles, column))
    return roles


def _named_columns(roles: RoleMap) -> list[str]:
    single = [roles.id, roles.timestamp, roles.model_version, roles.label, roles.prediction]
    return [c for c in single if c] + list(roles.scores) + list(roles.features) + list(roles.ignored)


def _without(roles: RoleMap, column: str) -> dict:
    data = roles.to_dict()
    for key in ("id", "timestamp", "model_version", "label", "prediction"):
        if data[key] == column:
            data[key] = None
    for key in ("features", "ignored"):
        data[key] = [c for c in data[key] if c != column]
    if column in data["scores"]:
        idx = data["scores"].index(column)
        data["scores"].pop(idx)
        if idx < len(data["score_classes"]):
            data["score_classes"].pop(idx)
    return data
