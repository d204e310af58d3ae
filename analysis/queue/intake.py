"""Putting failures in the queue: from a log (all failures matching a filter, or those since the
last review) or from chosen rows (a table selection, compare's negative flips, a finding's
rows, a traced row).

A failure is a labelled prediction whose class is wrong. Intake groups the failures it reads
(by check finding, blamed training batch and failing slice, :mod:`analysis.queue.grouping`),
keeps at most ``sample`` of each group's new failures as items (a seeded random sample; the
rest are counted in the group's impact), and never queues or counts the same request twice: a
failure's key is the request id (or the dataset and row number when the log has no id) and the
version, and the queue keeps the keys of the failures it counted without queueing them
(:mod:`analysis.queue.failure_queue`). So reading the same rows again (the same log added
twice, with or without ``sample``) changes no count, and a later log adds exactly its new
failures. A failure already counted gets no second chance in a sample; without a sample every
failure read is queued, one counted earlier included (it is not counted again).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.data.roles import TaskType
from analysis.errors import SchemaError
from analysis.metrics.outcomes import outcomes
from analysis.data.time import time_window, timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import ROW_ID, Sql, ident, inline
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.blame import TRACE_AT_MOST
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.grouping import FoundGroup, group_failures
from analysis.scope import Scope
from analysis.slices import RowIds, to_sql
from analysis.trace.tracer import InfluenceCache, TrainingFiles
from analysis.triage.check_report import finding_from_dict
from analysis.triage.ranking import Finding
from analysis.workspace.workspace_file import Workspace

SAMPLE_SEED = 0


@dataclass(frozen=True)
class IntakeResult:
    added: int
    duplicates: int
    """Failures read that an earlier intake had already queued or counted, and not queued now
    (none is counted twice)."""
    counted: int
    """Failures left out of the items by the per-group sample, counted in the groups' impact."""
    groups: tuple[int, ...]
    notes: tuple[str, ...] = ()
    """What the reader must know about the grouping (a version traced in part, or not at all)."""


def intake_log(queue: FailureQueue, scope: Scope, *, since_last_review: bool = False, sample: int | None = None,
               findings: Sequence[Finding] = (), traces: Mapping[str | None, TrainingFiles] | None = None,
               trace_at_most: int = TRACE_AT_MOST, cancel: CancelToken = NEVER_CANCELLED,
               discoveries: DiscoveryCache | None = None, influence: InfluenceCache | None = None) -> IntakeResult:
    """Queue the failures of ``dataset`` matching ``condition`` (and after the last review's data),
    grouped first by the check ``findings`` of the log whose rows they are, then by the training
    batch trace blames (versions in ``traces``, at most ``trace_at_most`` failures each), then by
    failing slice (searches kept in the caller's ``discoveries``, influence preparations in its
    ``influence``: a caller that blames the groups next reuses the model prepared here)."""
    roles, condition = scope.roles, scope.condition
    if since_last_review:
        last = queue.last_period_end()
        if last is not None:
            condition = time_window(roles, last, None) & condition
    found = find_failures(scope.with_condition(condition), findings, cancel, traces, influence,
                          trace_at_most=trace_at_most, discoveries=discoveries)
    return queue_failures(queue, found, sample)


def kept_findings(workspace: Workspace, dataset_name: str) -> tuple[Finding, ...]:
    """The findings of the log's last check kept in the workspace (by the window's findings
    panel or ``queue add --check``), for intake to group by when no check runs now.

    Why intake always consults them: the meeting needs causes, and a check finding is one a
    slice cannot stand in for: a swapped client's failures are two failing slices to discovery
    (far rows with small amounts, and the client's other far rows), and no fold rule between a
    slice and its refinement can merge them without also merging a weak subpopulation into its
    parent (tests/analysis/queue/test_grouping.py, the swap's finding group). When no check is
    kept (:func:`needs_check`), the CLI's ``queue add`` and the window's intake run the checks
    first and keep them. A document this version cannot read is left out: grouping by slice
    still holds its failures."""
    found = []
    for document in workspace.findings(dataset_name)[1]:
        try:
            found.append(finding_from_dict(document))
        except (KeyError, ValueError, TypeError, SchemaError):
            continue
    return tuple(found)


def needs_check(workspace: Workspace, dataset_name: str) -> bool:
    """Whether an intake of this log runs the input checks first: only when the workspace keeps
    no check of it. A check that found nothing is recorded as such (with its reference and
    time, :meth:`~analysis.workspace.workspace_file.Workspace.last_check`), so a clean log is
    not checked again at every intake; ``queue add --check`` or the findings panel re-checks."""
    return workspace.last_check(dataset_name) is None


def intake_rows(queue: FailureQueue, scope: Scope, row_numbers: Iterable[int],
                cancel: CancelToken = NEVER_CANCELLED) -> IntakeResult:
    """Queue the failures among chosen rows (rows that are not failures are left out)."""
    return queue_failures(queue, find_failures(scope.with_condition(to_sql(RowIds.of(row_numbers))), (), cancel))


def failures(scope: Scope) -> pd.DataFrame:
    """The failed predictions matching ``condition``, one row each, as queue item columns."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.task is TaskType.REGRESSION:
        raise SchemaError("the failure queue takes classification logs: a failure is a wrong class")
    out = outcomes(roles, dataset.columns)
    if out.is_correct is None or roles.label is None:
        raise SchemaError("queueing failures needs a label and a prediction or score column; set their roles")
    key = f"CAST({ident(roles.id)} AS VARCHAR)" if roles.id else f"CAST({ident(ROW_ID)} AS VARCHAR)"
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)" if roles.model_version else "NULL"
    observed = timestamp_expr(dataset, roles) if roles.timestamp else "CAST(NULL AS TIMESTAMP)"
    where = Sql(f"{out.has_label} AND NOT coalesce({out.is_correct}, TRUE)") & condition
    return store.df(Sql(
        f"SELECT {key} AS row_key, {ident(ROW_ID)} AS row_number, {version} AS version, "
        f"CAST({out.y_true} AS VARCHAR) AS label, CAST({out.y_pred} AS VARCHAR) AS prediction, "
        f"CAST({out.loss} AS DOUBLE) AS loss, {observed} AS observed_at "
        f"FROM {ident(dataset.view)} WHERE {where.text}", where.params))


@dataclass(frozen=True)
class FoundFailures:
    """Failures read from a log and grouped, not yet in the queue (what a worker hands back)."""

    dataset_name: str
    scope: str
    found: pd.DataFrame
    grouped: tuple[FoundGroup, ...]
    notes: tuple[str, ...] = ()


def find_failures(scope: Scope, findings: Sequence[Finding] = (), cancel: CancelToken = NEVER_CANCELLED,
                  traces: Mapping[str | None, TrainingFiles] | None = None, cache: InfluenceCache | None = None,
                  trace_at_most: int = TRACE_AT_MOST, progress: Progress = no_progress,
                  discoveries: DiscoveryCache | None = None) -> FoundFailures:
    """Read and group the failures matching ``condition``; reads the log only, so a window runs
    it on a worker (with ``progress`` and ``cancel``) and writes the result with
    :func:`queue_failures` on the thread that owns the workspace: a cancelled run leaves the
    queue as it was. The owner of ``cache`` and ``discoveries`` (a Session, a CLI run) keeps
    what a later intake of the same model or rows can reuse."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    found = failures(Scope(store, dataset, roles, condition))
    scope = f"{dataset.name} " + (_scope_text(condition))
    if found.empty:
        return FoundFailures(dataset.name, scope, found, ())
    found["item_key"] = _item_keys(found, dataset.name, has_id=roles.id is not None)
    grouping = group_failures(Scope(store, dataset, roles, condition), found, findings, cancel, traces, cache,
                              trace_at_most, progress, discoveries)
    cancel.raise_if_cancelled()
    return FoundFailures(dataset.name, scope, found, tuple(grouping.groups), tuple(grouping.notes))


def queue_failures(queue: FailureQueue, failed: FoundFailures, sample: int | None = None) -> IntakeResult:
    """Put found failures in the queue, in one transaction; those already queued are counted as duplicates."""
    if failed.found.empty:
        with queue.edit():
            queue.add_intake(failed.dataset_name, failed.scope, 0, 0, None)
        return IntakeResult(0, 0, 0, ())
    found = failed.found
    with queue.edit():
        added, duplicates, counted, group_ids = _store_groups(queue, failed.dataset_name, found, failed.grouped, sample)
        period_end = found["observed_at"].max() if found["observed_at"].notna().any() else None
        queue.add_intake(failed.dataset_name, failed.scope, added, duplicates, _python_time(period_end))
        queue.record("intake", f"queued failures of {failed.dataset_name}", None,
                     {"added": added, "duplicates": duplicates, "counted": counted, "notes": list(failed.notes)})
    return IntakeResult(added, duplicates, counted, tuple(group_ids), failed.notes)


def _store_groups(queue, dataset_name, found, grouped: Sequence[FoundGroup], sample):
    """Queue and count each group's failures; a failure read is added (queued now), counted
    (new, left out by the sample) or a duplicate (queued or counted by an earlier intake)."""
    by_row = found.set_index("row_number")
    keys = by_row["item_key"]
    queued = keys.isin(list(queue.existing_keys(keys)))  # once: per group took seconds
    known = keys.isin(list(queue.counted_keys(keys)))
    rng = np.random.default_rng(SAMPLE_SEED)
    added = duplicates = counted = 0
    group_ids = []
    for group in grouped:
        group_id = _group_id(queue, group, dataset_name)
        group_ids.append(group_id)
        rows = list(group.rows)
        new = ~known.loc[rows].to_numpy()
        queue.add_count(group_id, dataset_name, int(new.sum()))
        # without a sample every failure read is queued, one only counted so far included
        candidates = by_row.loc[rows][new if sample is not None else ~queued.loc[rows].to_numpy()].reset_index()
        left_out = 0
        if sample is not None and len(candidates) > sample:
            kept = np.zeros(len(candidates), dtype=bool)
            kept[rng.choice(len(candidates), size=sample, replace=False)] = True
            queue.insert_counted(candidates["item_key"][~kept], dataset_name, group_id)
            left_out = len(candidates) - sample
            candidates = candidates[kept]
        queue.insert_items(_item_rows(candidates, dataset_name, group_id))
        added += len(candidates)
        counted += left_out
        duplicates += len(rows) - len(candidates) - left_out
    return added, duplicates, counted, group_ids


def _group_id(queue, group: FoundGroup, dataset_name: str) -> int:
    """The queue's group for a found group: the one found earlier for the same reason, or a new one."""
    group_id = queue.group_by_key(group.key)
    if group_id is None:
        group_id = queue.new_group(group.key, group.reason, group.title, dataset_name, group.version,
                                   group.slice, group.evidence)
        queue.record(f"group {group_id}", "found by grouping", None, {"title": group.title})
    return group_id


def _item_rows(frame: pd.DataFrame, dataset_name: str, group_id: int) -> pd.DataFrame:
    rows = frame[["item_key", "row_key", "row_number", "version", "label", "prediction", "loss", "observed_at"]].copy()
    rows.insert(1, "dataset", dataset_name)
    rows["group_id"] = group_id
    rows["pinned"] = False
    rows["status"] = "new"
    rows["added_at"] = _dt.datetime.now()
    return rows


def _item_keys(frame: pd.DataFrame, dataset_name: str, has_id: bool) -> pd.Series:
    base = frame["row_key"] if has_id else dataset_name + "#" + frame["row_key"]
    return base + "@" + frame["version"].fillna("")


def _scope_text(condition: Sql | None) -> str:
    """How the intake's rows were chosen, for the intake log: the condition with its values in place
    (``"device_type" = 'kiosk'``), as a reader would write it."""
    return "all rows" if condition is None else inline(condition)


def _python_time(value) -> _dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
