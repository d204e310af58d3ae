"""What happens when a log is opened: load it, propose its roles, check it.

One function the window's worker, the CLI and tests all call, so a log opened anywhere is
read, understood and checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from analysis.dataset import Dataset
from analysis.data.loading import open_dataset
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.data.roles import RoleMap, detect_roles, profile_columns
from analysis.store import Store
from analysis.data.log_sanity import LogIssue, check_log
from analysis.data.wide import detect_wide, long_view, with_wide_roles


@dataclass(frozen=True)
class LoadedLog:
    dataset: Dataset
    roles: RoleMap
    issues: tuple[LogIssue, ...]


def load_log(
    store: Store,
    specs: Sequence[str],
    *,
    name: str | None = None,
    roles: RoleMap | None = None,
    check: bool = True,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> LoadedLog:
    """Open ``specs`` as one dataset; use ``roles`` when given (a saved mapping), else detect them.

    A wide log (one score or prediction column per version) is shown one row per version
    (see :mod:`analysis.data.wide`), and its load report says so.

    ``check=False`` skips the log checks (a full scan of a large log), so the window can show
    the table first and run the checks as a job of their own.
    """
    dataset = open_dataset(store, specs, name=name, progress=scaled(progress, 0.0, 0.7), cancel=cancel)
    cancel.raise_if_cancelled()
    layout = detect_wide(dataset.columns)
    if layout is not None:
        dataset = long_view(store, dataset, layout)
    if roles is None:
        progress(0.75, "Detecting column roles")
        roles = detect_roles(profile_columns(store, dataset, progress=scaled(progress, 0.75, 0.85), cancel=cancel))
        roles = with_wide_roles(roles, layout) if layout is not None else roles
    else:
        roles = keep_known_columns(roles, dataset)
    issues: tuple[LogIssue, ...] = ()
    if check:
        cancel.raise_if_cancelled()
        progress(0.85, "Checking the log")
        issues = tuple(check_log(store, dataset, roles))
    progress(1.0, "Loaded")
    return LoadedLog(dataset, roles, issues)


def recheck(store: Store, dataset: Dataset, roles: RoleMap, cancel: CancelToken = NEVER_CANCELLED) -> tuple[LogIssue, ...]:
    """Run the log checks again after the user changed the roles."""
    cancel.raise_if_cancelled()
    return tuple(check_log(store, dataset, roles))


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
