"""Why failures belong together: the check finding whose rows they are, the training batch
trace blames for them, the slice where their version regressed against another version on the
same requests, or the failing slice that holds them.

Candidates come in order: the log's check findings that break rows one by one (alerts and
warnings from :mod:`analysis.triage`, in their rank order), then, for a version whose requests
another version also scored (paired by request id), the slices where it fails and the other
was right significantly more often than the reverse (:mod:`analysis.queue.regressions`:
compare's regressed slices; such a candidate must also have more negative than positive flips
among its rows not explained before it, exact McNemar at the level below), then, per model
version, the slices discovery (:mod:`analysis.discovery`) finds where that version's error is
significantly above the rest, each numeric cut moved from a bin edge of the whole log to where
the version's failures start (:mod:`analysis.discovery.refine`: the best split among fine cuts,
kept only when the slice still fails significantly more than the rest), and each slice with no
numeric predicate also with the threshold of each numeric column that splits its rows best,
when significantly (discovery's bins split a numeric cause: ``industry = 'Manufacturing'``
for its well-schooled workers' failures). Slices come most precise first (the highest lower
bound of the error rate). A candidate becomes a group only if its rows *not* already explained
by the groups chosen before it still fail more than the rest, by Fisher's exact test at a
Bonferroni-corrected level over the candidates; a chosen slice whose failures another chosen
slice explains is then folded into it (:func:`_folded`: a refinement that fails no more than
the rest of its parent, or a correlated slice all of whose failing rows the other holds).
Each failure then goes to the first chosen group that contains it, except that a failure no
finding holds goes to its blamed training batch when its version can be traced and the blame
is significant; failures nothing explains form one group per version.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import SchemaError, SleuthError
from analysis.data.roles import RoleMap
from analysis.discovery.failing_slices import DiscoverySettings, row_error_sql
from analysis.discovery.refine import refine_each, with_thresholds
from analysis.discovery.sliceline import DiscoveredSlice
from analysis.data.time import Bucket, choose_bucket, timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.queue.blame import TRACE_AT_MOST, BatchGroup, batch_groups, traced_text
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.regressions import (
    pair_kinds, partner_of, precise, regressions, same_requests, unpaired_note,
)
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slicing.role_leaves import slice_sql
from analysis.slices import Everything, Predicate, Slice, to_sql, to_text
from analysis.stats.intervals import wilson, wilson_interval
from analysis.stats.significance import mcnemar_exact, rate_above_p
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
    found_as: str | None = None
    """The slice as discovery found it, when its cuts were made precise (:func:`_slice_reasons`)."""
    evidence: Mapping[str, Any] | None = None
    """What the reason adds to its group's evidence (a regression's paired test)."""


@dataclass(frozen=True)
class Grouping:
    """The groups found in a log, and what the reader must know about how (a version whose
    failures were traced only in part, or not at all because its model needs trust)."""

    groups: list[FoundGroup]
    notes: list[str]


def group_failures(scope: Scope, failures: pd.DataFrame, findings: Sequence[Finding] = (),
                   cancel: CancelToken = NEVER_CANCELLED, traces: Mapping[str | None, TrainingFiles] | None = None,
                   cache: InfluenceCache | None = None, trace_at_most: int = TRACE_AT_MOST,
                   progress: Progress = no_progress, discoveries: DiscoveryCache | None = None) -> Grouping:
    """Group ``failures`` (rows of ``dataset`` with ``row_number`` and ``version``): first by the
    check findings whose rows they are (in the findings' rank order), then, for a version with a
    training snapshot and model in ``traces``, by the training batch trace blames for each
    failure (:func:`analysis.queue.blame.batch_groups`, at most ``trace_at_most`` of them), then
    by failing slice. A version blame cannot trace (a model that needs a trust nobody gave, a
    file that moved) is grouped without blame, and a note says why: it does not stop the intake.

    When ``condition`` is one finding's own rows (its "add to queue"), its failures are grouped
    under that finding, whatever its severity: a person queued them because of it. The failing
    slices searched are kept in ``discoveries`` (the caller's, as ``cache`` is; none is kept
    without one) for the next intake of the same rows."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    discoveries = DiscoveryCache() if discoveries is None else discoveries
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
            with contextlib.ExitStack() as scratch:
                regressed, flips, unpaired = _regression_reasons(Scope(store, dataset, roles, condition), version,
                                                                 cancel, scratch)
                notes += [unpaired] if unpaired else []
                candidates = (_finding_reasons(findings, version) + regressed
                              + _slice_reasons(store, dataset, roles, condition, version, cancel, discoveries))
                chosen = _chosen_and_folded(Scope(store, dataset, roles, scope), candidates, flips)
        owner = _first_containing(store, dataset, [to_sql(r.slice.predicate) for r in chosen], of_version["row_number"])
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
        found += _reason_groups(Scope(store, dataset, roles, scope), version, chosen, of_version["row_number"], owner)
    return Grouping(found, notes)


def _reason_groups(scope: Scope, version: str | None, chosen: list[_Reason], row_numbers: pd.Series,
                   owner: pd.Series) -> list[FoundGroup]:
    """The version's groups of the chosen reasons that hold failures, then its unexplained
    failures' group, with the evidence of all of them read together (:func:`groups_evidence`)."""
    held = [(reason, tuple(int(r) for r in row_numbers[owner == index])) for index, reason in enumerate(chosen)]
    held = [(reason, rows) for reason, rows in held if rows]
    rest = tuple(int(r) for r in row_numbers[owner == NOTHING])
    predicates = [reason.slice.predicate for reason, _ in held] + ([Everything] if rest else [])
    evidence = groups_evidence(scope, predicates)
    groups = [FoundGroup(reason.key, reason.kind, reason.title, version, reason.slice,
                         {**one, **_reason_evidence(reason)}, rows) for (reason, rows), one in zip(held, evidence)]
    if rest:
        groups.append(FoundGroup(f"unexplained:{version}", "unexplained",
                                 _title(version, "failures no finding or failing slice explains"), version, None,
                                 evidence[-1], rest))
    return groups


def _reason_evidence(reason: _Reason) -> dict[str, Any]:
    """What a reason adds to its slice's evidence: the slice discovery found, a regression's test."""
    added: dict[str, Any] = {"found_as": reason.found_as} if reason.found_as else {}
    return {**added, "regression": dict(reason.evidence)} if reason.evidence else added


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
    """The slice's error rate with its 95% interval, overall and over time (accuracy per time
    bucket, as the metrics code counts it): the group's impact, and the period its rows cover."""
    return groups_evidence(scope, [predicate])[0]


def groups_evidence(scope: Scope, predicates: Sequence[Predicate]) -> list[dict]:
    """:func:`slice_evidence` of each predicate, in two scans of the log for all of them (their
    counts and time spans, then their counts per time bucket) rather than three per group: the
    groups of an intake share one version's rows, and each scan of a big log is waited for."""
    if not predicates:
        return []
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    error = row_error_sql(dataset, roles, "misclass")
    where = Sql(f"({error}) IS NOT NULL") & scope.condition
    members = [to_sql(p) for p in predicates]
    ts = timestamp_expr(dataset, roles) if roles.timestamp else "CAST(NULL AS TIMESTAMP)"
    spans = ", ".join(f"min(ts) FILTER (WHERE g{i}), max(ts) FILTER (WHERE g{i})" for i in range(len(members)))
    inner = _membership_rows(dataset, members, where, {"e": error, "ts": ts})
    totals = store.rows(Sql(f"SELECT {_group_sums(len(members))}, {spans} FROM ({inner.text})", inner.params))[0]
    evidence, buckets, ends = [], [], []
    for i in range(len(members)):
        rows, errors = int(totals[2 * i]), int(totals[2 * i + 1])
        first, last = totals[2 * len(members) + 2 * i: 2 * len(members) + 2 * i + 2]
        evidence.append({"rows": rows, "errors": errors, "error_rate": errors / rows if rows else None,
                         "ci": list(wilson(errors, rows)) if rows else None, "series": []})
        buckets.append(choose_bucket(first, last) if rows and first is not None else None)
        ends.append(last)
    series = _bucket_series(store, dataset, members, where, {"e": error, "ts": ts}, buckets)
    for one, bucket, points, end in zip(evidence, buckets, series, ends):
        if bucket is not None:
            one.update(bucket=bucket.label, series=points, period_end=end.isoformat())
    return evidence


def _membership_rows(dataset: Dataset, members: Sequence[Sql], where: Sql, columns: Mapping[str, str]) -> Sql:
    """The rows of ``where`` with ``columns`` and whether each is in each member (``g0``,
    ``g1``...): the input of FILTER aggregates that count every group in one scan."""
    named = [f"{expr} AS {name}" for name, expr in columns.items()]
    flags = [f"({m.text}) AS g{i}" for i, m in enumerate(members)]
    return Sql(f"SELECT {', '.join(named + flags)} FROM {ident(dataset.view)} WHERE {where.text}",
               tuple(p for m in members for p in m.params) + where.params)


def _group_sums(count: int) -> str:
    """Rows and summed errors (column ``e``) of each member ``g0``..: two columns per group."""
    return ", ".join(f"count(*) FILTER (WHERE g{i}) AS n{i}, coalesce(sum(e) FILTER (WHERE g{i}), 0) AS e{i}"
                     for i in range(count))


def _bucket_series(store, dataset, members: Sequence[Sql], where: Sql, columns: Mapping[str, str],
                   buckets: Sequence[Bucket | None]) -> list[list[dict[str, Any]]]:
    """Each group's points per time bucket of its own width, in one scan: one grouping set per
    width the groups use; rows without a time are in no bucket, as in the metrics code."""
    widths = list(dict.fromkeys(b for b in buckets if b is not None))
    if not widths:
        return [[] for _ in buckets]
    ts = columns["ts"]
    keyed = {"e": columns["e"], **{f"b{k}": width.sql(ts) for k, width in enumerate(widths)}}
    inner = _membership_rows(dataset, members, where & Sql(f"{ts} IS NOT NULL"), keyed)
    keys = [f"b{k}" for k in range(len(widths))]
    frame = store.df(Sql(f"SELECT {', '.join(keys)}, {_group_sums(len(members))} FROM ({inner.text}) "
                         f"GROUP BY GROUPING SETS ({', '.join(f'({key})' for key in keys)})", inner.params))
    series = []
    for i, bucket in enumerate(buckets):
        if bucket is None:
            series.append([])
            continue
        key = keys[widths.index(bucket)]
        mine = frame[frame[key].notna() & (frame[f"n{i}"] > 0)].sort_values(key)
        series.append(_points(mine[key], mine[f"n{i}"].astype(int).to_numpy(),
                              np.rint(mine[f"e{i}"].astype(float).to_numpy()).astype(int)))
    return series


def _points(starts: pd.Series, rows: np.ndarray, errors: np.ndarray) -> list[dict[str, Any]]:
    """Each time bucket of the slice: its error rate and Wilson interval (all buckets at once)."""
    low, high = wilson_interval(errors, rows)
    return [{"start": pd.Timestamp(start).isoformat(), "rows": int(n), "errors": int(e), "error_rate": float(e / n),
             "ci": [float(lo), float(hi)]}
            for start, n, e, lo, hi in zip(starts, rows, errors, low, high)]


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


def _regression_reasons(scope: Scope, version: str | None, cancel,
                        scratch: contextlib.ExitStack) -> tuple[list[_Reason], tuple[Sql, Sql] | None, str | None]:
    """The slices where the version fails and the version that scored the same requests was
    right (:func:`analysis.queue.regressions.regressions`, their cuts made precise) as candidate
    reasons; with the conditions of the version's negative and positive flips, which
    :func:`_chosen` tests them by (none without a partner), and the note saying why none could
    be formed when the intake's restriction left the partner no request. The partner's rows
    are read on the requests of the scope's rows, whatever restricts them to one version
    (:func:`~analysis.queue.regressions.same_requests`): evidence, never queued. The pairs'
    kinds are joined once (:func:`~analysis.queue.regressions.pair_kinds`), kept in ``scratch``
    until the caller has chosen the groups by the flips."""
    if version is None or not scope.roles.id:
        return [], None, None
    paired = same_requests(scope)
    pairing = partner_of(paired, version, cancel)
    if pairing is None:
        return [], None, unpaired_note(scope, version, cancel)
    found = regressions(paired, version, cancel, pairing=pairing)
    if not found:
        return [], None, None
    kinds = scratch.enter_context(pair_kinds(paired, pairing, cancel))
    found = precise(scope.narrowed(version_scope(scope.roles, version)), found, cancel, kinds)
    reasons = [_Reason(f"regression:{version}:{r.partner}:{r.slice.name}", "regression", r.title, r.slice,
                       r.found_as, evidence=r.evidence()) for r in found]
    flips = (kinds("negative"), kinds("positive"))
    return reasons, flips, None


def _slice_reasons(store, dataset, roles, condition, version, cancel, discoveries: DiscoveryCache) -> list[_Reason]:
    """Discovered failing slices with their numeric cuts made precise on the version's rows
    (:func:`analysis.discovery.refine.refine_cuts`), most precise first."""
    settings = DiscoverySettings(version=version, k=CANDIDATES)
    found = sorted(discoveries.failing_slices(Scope(store, dataset, roles, condition), settings, cancel),
                   key=lambda s: -s.ci_low)
    return _precise(Scope(store, dataset, roles, condition), version, found, cancel)


def _precise(scope: Scope, version: str | None, found: Sequence[DiscoveredSlice], cancel) -> list[_Reason]:
    """The discovered slices as reasons, each with the cuts :func:`refine_each` makes precise on
    the version's rows (a bin edge of the whole log is not where a slice's failures start), and
    a slice with no numeric predicate also with each threshold that sharpens it
    (:func:`analysis.discovery.refine.with_thresholds`: discovery's bins split a numeric cause, so
    ``industry = 'Manufacturing'`` stands for the failures of its well-schooled workers), most
    precise first (the first of any two refined to the same slice); a slice whose cuts moved or
    grew says what discovery found."""
    if version is not None:
        scope = scope.narrowed(version_scope(scope.roles, version))
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    refined = list(zip(refine_each(scope, found, error, SIGNIFICANCE, cancel), found))
    refined = sorted(refined + _thresholded(scope, found, error, cancel), key=lambda pair: -pair[0].ci_low)
    reasons = [_Reason(f"slice:{version}:{s.text}", "slice", _title(version, s.text), s.to_slice(),
                       None if s is origin else origin.text) for s, origin in refined]
    unique: dict[str, _Reason] = {}
    for reason in reasons:
        unique.setdefault(reason.key, reason)
    return list(unique.values())


def _thresholded(scope: Scope, found: Sequence[DiscoveredSlice], error: str,
                 cancel) -> list[tuple[DiscoveredSlice, DiscoveredSlice]]:
    """(the slice and a threshold, the slice) for each found slice with no numeric predicate and
    fewer than discovery's most predicates, and each numeric feature whose threshold sharpens
    it: as compare's regressed slices are offered one (:mod:`analysis.discovery.refine`). The
    threshold is where the slice's own rows split best, so it is not moved again by
    :func:`refine_each`, whose cut keeps every row failing more than the rest of the log: it
    would take back the slice's rows that fail less than its worst part, the split it is for."""
    numeric = [c.name for c in scope.dataset.columns if c.name in scope.roles.features and c.is_numeric]
    bare = [s for s in found if len(s.predicates) < DiscoverySettings.max_level
            and not {p.column for p in s.predicates} & set(numeric)]
    return [(t, s) for s in (bare if numeric else []) for t in with_thresholds(scope, s, numeric, error, SIGNIFICANCE,
                                                                                 cancel)]


def _chosen_and_folded(scope: Scope, candidates: list[_Reason], flips: tuple[Sql, Sql] | None = None) -> list[_Reason]:
    """The candidates that become groups (:func:`_chosen`, then :func:`_folded`), judged on the
    counts of one scan of the version's rows rather than one query per candidate and pair;
    ``flips`` (the version's negative and positive flips) when regressions are among them."""
    if not candidates:
        return []
    counts = _membership_counts(scope, candidates, flips)
    return [_with_flips(counts, i, candidates[i]) for i in _folded(counts, candidates, _chosen(counts, candidates))]


def _with_flips(counts: Mapping[str, np.ndarray], index: int, reason: _Reason) -> _Reason:
    """A chosen regression with its slice's flips in its evidence: requests the version fails
    that its partner got right (``negative``), the reverse (``positive``), and their exact
    McNemar p-value; any other reason as it is."""
    if reason.kind != "regression":
        return reason
    rows = counts[f"g{index}"]
    negative, positive = _counted(counts, rows & counts["neg"])[0], _counted(counts, rows & counts["pos"])[0]
    return replace(reason, evidence={**(reason.evidence or {}), "negative": negative, "positive": positive,
                                     "p_value": mcnemar_exact(negative, positive)})


def _membership_counts(scope: Scope, reasons: Sequence[_Reason],
                       flips: tuple[Sql, Sql] | None = None) -> dict[str, np.ndarray]:
    """The labelled rows of ``scope`` counted (``n``) with their errors (``e``) per pattern of
    membership in the reasons' rows (``g0``, ``g1``... true or not), and with ``flips`` whether
    each is a negative or positive flip (``neg``, ``pos``): one scan from which every count the
    choice and the fold ask for is a sum, whatever was chosen before. A row is in a slice when
    its predicate is true, so "not explained by" is "not true", as ``~`` means. Each column is
    a numpy array: the choice and the fold sum masks of them a few hundred times, and a pandas
    mask and sum cost a hundred times the numpy one."""
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    labelled = Sql(f"({error}) IS NOT NULL") & scope.condition
    members = [to_sql(r.slice.predicate) for r in reasons] + list(flips or ())
    names = [f"g{i}" for i in range(len(reasons))] + (["neg", "pos"] if flips else [])
    flags = [f"coalesce(g{i}, FALSE) AS {name}" for i, name in enumerate(names)]
    inner = _membership_rows(scope.dataset, members, labelled, {"e": error})
    frame = scope.store.df(Sql(f"SELECT {', '.join(flags + ['count(*) AS n', 'coalesce(sum(e), 0) AS e'])} "
                               f"FROM ({inner.text}) GROUP BY ALL", inner.params))
    return {**{name: frame[name].to_numpy(dtype=bool) for name in names},
            "n": frame["n"].to_numpy(dtype=np.int64), "e": frame["e"].to_numpy(dtype=float)}


def _counted(counts: Mapping[str, np.ndarray], mask: np.ndarray) -> tuple[int, int]:
    """Rows and errors of the membership patterns ``mask`` keeps."""
    return int(counts["n"][mask].sum()), int(round(float(counts["e"][mask].sum())))


def _chosen(counts: Mapping[str, np.ndarray], candidates: list[_Reason]) -> list[int]:
    """Candidates (their indices) whose rows not explained by those chosen before still fail
    more than the rest (Fisher's exact test, Bonferroni over the candidates); ``counts`` are
    :func:`_membership_counts` of the candidates."""
    all_rows, all_errors = _counted(counts, np.ones(len(counts["n"]), dtype=bool))
    level = SIGNIFICANCE / max(1, len(candidates))
    chosen: list[int] = []
    for index in range(len(candidates)):
        residual = counts[f"g{index}"]
        for before in chosen:
            residual = residual & ~counts[f"g{before}"]
        rows, errors = _counted(counts, residual)
        if (_beats_the_rest(rows, errors, all_rows, all_errors, level)
                and (candidates[index].kind != "regression" or _regresses(counts, residual, level))):
            chosen.append(index)
    return chosen


def _regresses(counts: Mapping[str, np.ndarray], rows: np.ndarray, level: float) -> bool:
    """Do these rows' requests turn wrong under the version more often than right, against the
    other version's outcome on them, beyond chance (exact McNemar at ``level``)?"""
    negative, positive = _counted(counts, rows & counts["neg"])[0], _counted(counts, rows & counts["pos"])[0]
    return negative > positive and mcnemar_exact(negative, positive) < level


def _folded(counts: Mapping[str, np.ndarray], candidates: list[_Reason], chosen: list[int]) -> list[int]:
    """Chosen slices without those whose failures another chosen slice explains. A slice ``S``
    is folded into a chosen slice ``T`` it overlaps when both hold:

    * its rows outside ``T`` do not fail more than the rows outside both (one-sided Fisher at
      :data:`SIGNIFICANCE` itself: no correction, which would make folding away failures easier);
    * its rows inside ``T`` do not fail significantly more than ``T``'s other rows (Fisher,
      Bonferroni over the candidates' ordered pairs: the slices were ranked by their error
      before any pair was compared, so a split is the best of every pair that could have been).

    A refinement of a broader slice (kiosk payments among risky merchants) so keeps its own
    group when it fails more than the rest of its parent, the rule of compare's regressed
    slices, while a slice that only repeats part of another's failures (a ratio correlated with
    the one that explains them, all its failures inside the other's rows) gives way to the
    slice holding them all. Later-ranked slices are judged first, so of two slices that explain
    each other the first chosen stays."""
    slices = [i for i, c in enumerate(chosen) if candidates[c].kind == "slice"]
    member = [counts[f"g{c}"] for c in chosen]
    level = SIGNIFICANCE / max(1, len(candidates) * (len(candidates) - 1))
    folded: set[int] = set()
    for i in reversed(slices):
        if any(_explained_by(counts, member[i], member[j], level) for j in slices if j != i and j not in folded):
            folded.add(i)
    return [c for i, c in enumerate(chosen) if i not in folded]


def _explained_by(counts: Mapping[str, np.ndarray], own: np.ndarray, other: np.ndarray, level: float) -> bool:
    """Are the failures of the slice ``own`` explained by the overlapping slice ``other`` (:func:`_folded`)?"""
    shared_rows, shared_errors = _counted(counts, own & other)
    if shared_rows == 0:
        return False
    outside_rows, outside_errors = _counted(counts, own & ~other)
    neither_rows, neither_errors = _counted(counts, ~own & ~other)
    if _worse_than(outside_rows, outside_errors, neither_rows, neither_errors, SIGNIFICANCE):
        return False
    other_rows, other_errors = _counted(counts, other & ~own)
    return not _worse_than(shared_rows, shared_errors, other_rows, other_errors, level)


def _beats_the_rest(rows: int, errors: int, all_rows: int, all_errors: int, level: float) -> bool:
    """Is the error rate of these rows above that of every other row, beyond chance?"""
    return _worse_than(rows, errors, all_rows - rows, all_errors - errors, level)


def _worse_than(rows: int, errors: int, other_rows: int, other_errors: int, level: float) -> bool:
    """Is the error rate of these rows above that of the other rows, beyond chance (one-sided
    Fisher's exact test at ``level``)?"""
    return rate_above_p(errors, rows, other_errors, other_rows) < level


def _first_containing(store, dataset, cases: list[Sql], row_numbers: pd.Series) -> pd.Series:
    """For each row number, the index of the first condition it meets, or NOTHING."""
    if not cases or row_numbers.empty:
        return pd.Series(NOTHING, index=row_numbers.index)
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
