"""Why failures belong together: the check finding whose rows they are, the training batch
trace blames for them, or the failing slice that holds them.

Candidates come in order: the log's check findings that break rows one by one (alerts and
warnings from :mod:`analysis.triage`, in their rank order), then, per model version, the
slices discovery (:mod:`analysis.discovery`) finds where that version's error is
significantly above the rest. Discovery lists a slice with its refinements; a refinement is
dropped for the general slice, and slices come most precise first (the highest lower bound of
the error rate). A candidate becomes a group only if its rows *not* already explained by the
groups chosen before it still fail more than the rest, by Fisher's exact test at a
Bonferroni-corrected level over the candidates. Each failure then goes to the first chosen
group that contains it, except that a failure no finding holds goes to its blamed training
batch when its version can be traced and the blame is significant; failures nothing explains
form one group per version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.dataset import Dataset
from analysis.errors import SchemaError, SleuthError
from analysis.data.roles import RoleMap
from analysis.discovery.failing_slices import DiscoverySettings, failing_slices, row_error_sql
from analysis.data.time import choose_bucket, time_span
from analysis.metrics.per_version import metric_over_time
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.queue.blame import TRACE_AT_MOST, BatchGroup, batch_groups, traced_text
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slicing.role_leaves import slice_sql
from analysis.slices import And, Everything, Predicate, Slice, all_of, to_sql, to_text
from analysis.stats.intervals import wilson, wilson_interval
from analysis.trace.tracer import InfluenceCache, TrainingFiles
from analysis.triage.ranking import Finding

SIGNIFICANCE = 0.05
CANDIDATES = 10
"""Slices discovery proposes per version; a group needs a failure pattern among the worst ten."""
BLAME_START = 0.3
"""Part of a traced version's progress given to finding its failing slices; blame takes the rest."""
NOTHING, BLAMED = -1, -2
"""A failure's owner when no reason holds it, and when its blamed training batch does."""


@dataclass(frozen=True)
class FoundGroup:
    """One group found in a log: its stable key, why, and the failures (row numbers) it holds."""

    key: str
    reason: str
    title: str
    version: str | None
    slice: Slice | None
    evidence: dict[str, Any]
    rows: tuple[int, ...]


@dataclass(frozen=True)
class _Reason:
    """A candidate explanation: a check finding's rows or a discovered slice."""

    key: str
    kind: str
    title: str
    slice: Slice


@dataclass(frozen=True)
class Grouping:
    """The groups found in a log, and what the reader must know about how (a version whose
    failures were traced only in part, or not at all because its model needs trust)."""

    groups: list[FoundGroup]
    notes: list[str]


def group_failures(scope: Scope, failures: pd.DataFrame, findings: Sequence[Finding] = (),
                   cancel: CancelToken = NEVER_CANCELLED, traces: Mapping[str | None, TrainingFiles] | None = None,
                   cache: InfluenceCache | None = None, trace_at_most: int = TRACE_AT_MOST,
                   progress: Progress = no_progress) -> Grouping:
    """Group ``failures`` (rows of ``dataset`` with ``row_number`` and ``version``): first by the
    check findings whose rows they are (in the findings' rank order), then, for a version with a
    training snapshot and model in ``traces``, by the training batch trace blames for each
    failure (:func:`analysis.queue.blame.batch_groups`, at most ``trace_at_most`` of them), then
    by failing slice. A version blame cannot trace (a model that needs a trust nobody gave, a
    file that moved) is grouped without blame, and a note says why: it does not stop the intake.

    When ``condition`` is one finding's own rows (its "add to queue"), its failures are grouped
    under that finding, whatever its severity: a person queued them because of it."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    own_rows_of = _intake_finding(dataset, roles, condition, findings)
    found: list[FoundGroup] = []
    notes: list[str] = []
    versions = sorted(failures["version"].dropna().unique().tolist() if roles.model_version else [None], key=str)
    for position, version in enumerate(versions):
        step = scaled(progress, position / len(versions), (position + 1) / len(versions))
        step(0.0, f"Finding failing slices{_title(version, '')}")
        of_version = failures if version is None else failures[failures["version"] == version]
        scope = version_scope(roles, version) & condition if version is not None else condition
        if own_rows_of is not None:
            chosen = [_finding_reason(own_rows_of, version)]
        else:
            candidates = _finding_reasons(findings, version) + _slice_reasons(store, dataset, roles, condition,
                                                                               version, cancel)
            chosen = _folded(store, dataset, roles, scope, _chosen(store, dataset, roles, scope, candidates))
        owner = _first_containing(store, dataset, [r.slice.predicate for r in chosen], of_version["row_number"])
        if traces and version in traces:
            by_finding = owner.map(lambda i: i >= 0 and chosen[i].kind == "finding")
            whole_version = version_scope(roles, version) if version is not None else None
            blamed, note = _blamed(Scope(store, dataset, roles, whole_version), version,
                                   of_version["row_number"][~by_finding], traces[version], cache or InfluenceCache(),
                                   trace_at_most, cancel, scaled(step, BLAME_START, 1.0))
            notes += [note] if note else []
            for batch in blamed:
                found.append(FoundGroup(batch.key, "batch", batch.title, version, None,
                                        {"blamed_batch": batch.blamed}, batch.rows))
                owner[of_version["row_number"].isin(batch.rows)] = BLAMED
        for index, reason in enumerate(chosen):
            rows = tuple(int(r) for r in of_version["row_number"][owner == index])
            if rows:
                evidence = slice_evidence(Scope(store, dataset, roles, scope), reason.slice.predicate)
                found.append(FoundGroup(reason.key, reason.kind, reason.title, version, reason.slice, evidence, rows))
        rest = tuple(int(r) for r in of_version["row_number"][owner == NOTHING])
        if rest:
            evidence = slice_evidence(Scope(store, dataset, roles, scope), Everything)
            found.append(FoundGroup(f"unexplained:{version}", "unexplained",
                                    _title(version, "failures no finding or failing slice explains"), version, None,
                                    evidence, rest))
    return Grouping(found, notes)


def _blamed(scope: Scope, version, row_numbers, source, cache, at_most, cancel,
            progress) -> tuple[list[BatchGroup], str | None]:
    """The version's batch groups and the note the intake gives about them: how many failures
    were traced when not all were, or why none were (a model that needs trust, a card's file that
    moved, a log without the model's features): blame is one reason among others, so a version
    it cannot trace is grouped by slice and the intake goes on."""
    named = f"version {version}" if version is not None else "the log"
    try:
        groups = batch_groups(scope, version, row_numbers, source, cache, at_most, cancel, progress)
    except SleuthError as refused:
        return [], f"{named}: failures not traced to training batches: {refused}"
    if len(row_numbers) <= at_most:
        return groups, None
    return groups, (f"{named}: {traced_text(at_most, len(row_numbers))} to training batches (a uniform sample, "
                    f"at most {at_most:,} per version); the rest join a blamed batch's group when the model without "
                    f"it gets them right, else their slice's")


def slice_evidence(scope: Scope, predicate: Predicate) -> dict:
    """The slice's error rate with its 95% interval, overall and over time (the metrics code's
    accuracy per time bucket): the group's impact, and the period its rows cover."""
    store, dataset, roles, scope = scope.store, scope.dataset, scope.roles, scope.condition
    error = row_error_sql(dataset, roles, "misclass")
    where = Sql(f"({error}) IS NOT NULL") & scope & to_sql(predicate)
    rows, errors = store.rows(Sql(f"SELECT count(*), coalesce(sum({error}), 0) FROM {ident(dataset.view)} "
                                  f"WHERE {where.text}", where.params))[0]
    evidence: dict[str, Any] = {"rows": int(rows), "errors": int(errors),
                                "error_rate": errors / rows if rows else None,
                                "ci": list(wilson(int(errors), int(rows))) if rows else None, "series": []}
    span = time_span(Scope(store, dataset, roles, where)) if roles.timestamp and rows else None
    if span:
        bucket = choose_bucket(*span)
        frame = metric_over_time(Scope(store, dataset, roles, where), "accuracy", bucket).dropna(subset=["value"])
        evidence["bucket"] = bucket.label
        evidence["series"] = _points(frame)
        evidence["period_end"] = span[1].isoformat()
    return evidence


def _points(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each time bucket of the slice: its error rate and Wilson interval (all buckets at once)."""
    labelled = frame["labelled"].astype(int).to_numpy()
    errors = np.rint(labelled * (1.0 - frame["value"].astype(float).to_numpy())).astype(int)
    low, high = wilson_interval(errors, labelled)
    return [{"start": pd.Timestamp(start).isoformat(), "rows": int(n), "errors": int(e), "error_rate": float(e / n),
             "ci": [float(lo), float(hi)]}
            for start, n, e, lo, hi in zip(frame["bucket_start"], labelled, errors, low, high)]


def _finding_reasons(findings: Sequence[Finding], version: str | None) -> list[_Reason]:
    """Findings whose rows are broken one by one (alerts and warnings), as candidate reasons."""
    return [_finding_reason(f, version) for f in findings if f.severity in ("alert", "warning")]


def _finding_reason(finding: Finding, version: str | None) -> _Reason:
    return _Reason(f"finding:{version}:{finding.key}", "finding", _title(version, _finding_title(finding)),
                   Slice(finding.slice, name=to_text(finding.slice)))


def _intake_finding(dataset: Dataset, roles: RoleMap, condition: Sql | None,
                    findings: Sequence[Finding]) -> Finding | None:
    """The finding whose own rows the intake reads (the findings panel's "add to queue"), if any."""
    if condition is None:
        return None
    return next((f for f in findings if slice_sql(f.slice, dataset, roles) == condition), None)


def _finding_title(finding: Finding) -> str:
    where = f" where {finding.slice_text}" if finding.slice_text else ""
    return f"{finding.kind.replace('_', ' ')} of {', '.join(finding.columns)}{where}"


def _slice_reasons(store, dataset, roles, condition, version, cancel) -> list[_Reason]:
    """Discovered failing slices, most precise first."""
    settings = DiscoverySettings(version=version, k=CANDIDATES)
    found = sorted(failing_slices(Scope(store, dataset, roles, condition), settings, cancel=cancel),
                   key=lambda s: -s.ci_low)
    return [_Reason(f"slice:{version}:{s.text}", "slice", _title(version, s.text), s.to_slice()) for s in found]


def _chosen(store, dataset, roles, scope, candidates: list[_Reason]) -> list[_Reason]:
    """Candidates whose rows not explained by those chosen before still fail more than the rest
    (Fisher's exact test, Bonferroni over the candidates)."""
    error = row_error_sql(dataset, roles, "misclass")
    labelled = Sql(f"({error}) IS NOT NULL") & scope
    chosen: list[_Reason] = []
    for candidate in candidates:
        residual = all_of([candidate.slice.predicate] + [~c.slice.predicate for c in chosen])
        inside = to_sql(residual)
        counts = store.rows(Sql(
            f"SELECT count(*) FILTER (WHERE {inside.text}), coalesce(sum({error}) FILTER (WHERE {inside.text}), 0), "
            f"count(*), coalesce(sum({error}), 0) FROM {ident(dataset.view)} WHERE {labelled.text}",
            inside.params + inside.params + labelled.params))[0]
        if _beats_the_rest(*(int(c) for c in counts), level=SIGNIFICANCE / max(1, len(candidates))):
            chosen.append(candidate)
    return chosen


def _folded(store, dataset, roles, scope, chosen: list[_Reason]) -> list[_Reason]:
    """Chosen slices without the refinements that add nothing: a slice refining another chosen
    one is folded into it unless its error rate is significantly above that of the general
    slice's other rows (Fisher's exact test, Bonferroni over the pairs judged): the same rule as
    compare's regressed slices, so a precise cause (kiosk payments among risky merchants) keeps
    its own group while a refinement that is only a piece of a broader problem does not."""
    conditions = [_conditions(r.slice.predicate) if r.kind == "slice" else None for r in chosen]
    pairs = [(i, j) for i, own in enumerate(conditions) for j, other in enumerate(conditions)
             if own is not None and other is not None and other < own]
    if not pairs:
        return chosen
    error = row_error_sql(dataset, roles, "misclass")
    labelled = Sql(f"({error}) IS NOT NULL") & scope
    folded = set()
    for i, j in pairs:
        refined, general = to_sql(chosen[i].slice.predicate), to_sql(chosen[j].slice.predicate)
        rest = general & Sql(f"({refined.text}) IS NOT TRUE", refined.params)
        counts = store.rows(Sql(
            f"SELECT count(*) FILTER (WHERE {refined.text}), coalesce(sum({error}) FILTER (WHERE {refined.text}), 0), "
            f"count(*) FILTER (WHERE {rest.text}), coalesce(sum({error}) FILTER (WHERE {rest.text}), 0) "
            f"FROM {ident(dataset.view)} WHERE {labelled.text}",
            refined.params * 2 + rest.params * 2 + labelled.params))[0]
        rows, errors, other_rows, other_errors = (int(c) for c in counts)
        if not _worse_than(rows, errors, other_rows, other_errors, SIGNIFICANCE / len(pairs)):
            folded.add(i)
    return [r for i, r in enumerate(chosen) if i not in folded]


def _conditions(predicate: Predicate) -> frozenset[Predicate]:
    return frozenset(predicate.parts) if isinstance(predicate, And) else frozenset({predicate})


def _beats_the_rest(rows: int, errors: int, all_rows: int, all_errors: int, level: float) -> bool:
    """Is the error rate of these rows above that of every other row, beyond chance?"""
    return _worse_than(rows, errors, all_rows - rows, all_errors - errors, level)


def _worse_than(rows: int, errors: int, other_rows: int, other_errors: int, level: float) -> bool:
    """Is the error rate of these rows above that of the other rows, beyond chance (one-sided
    Fisher's exact test at ``level``)?"""
    if rows == 0 or other_rows == 0:
        return False
    table = [[errors, rows - errors], [other_errors, other_rows - other_errors]]
    return stats.fisher_exact(table, alternative="greater").pvalue < level


def _first_containing(store, dataset, predicates: list[Predicate], row_numbers: pd.Series) -> pd.Series:
    """For each row number, the index of the first predicate it satisfies, or NOTHING."""
    if not predicates or row_numbers.empty:
        return pd.Series(NOTHING, index=row_numbers.index)
    cases = [to_sql(p) for p in predicates]
    case_text = " ".join(f"WHEN {c.text} THEN {i}" for i, c in enumerate(cases))
    params = tuple(p for c in cases for p in c.params)
    frame = pd.DataFrame({"row_number": row_numbers.astype("int64").to_numpy()})
    cur = store.cursor()
    try:
        cur.register("_sleuth_failures", frame)
        owners = cur.execute(
            f"SELECT f.row_number, CASE {case_text} ELSE {NOTHING} END FROM _sleuth_failures f "
            f"JOIN {ident(dataset.view)} v ON v.{ident(ROW_ID)} = f.row_number", list(params)).fetchall()
    finally:
        cur.close()
    by_row = dict(owners)
    return row_numbers.map(lambda r: by_row.get(int(r), NOTHING))


def version_scope(roles: RoleMap, version: str) -> Sql:
    """The rows of one model version (compared as text, as the queue stores versions)."""
    if roles.model_version is None:
        raise SchemaError("this log has no model version column, so no version can be chosen")
    return Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (version,))


def _title(version: str | None, what: str) -> str:
    return f"{what} ({version})" if version else what
