"""``sleuth check``: profile a reference, run the input checks, triage, and report.

:func:`run_check` is the one function the CLI calls; :func:`check_report` gives its JSON
document (``{reference, findings: [...]}``, best first) and :func:`report_text` the readable
ranked report. The reference is, in order of precedence, a saved expectation file
(``--expect``), another log (``--reference``), a time window of the checked log
(``--reference-window``), or the default reference window the profile module picks.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from analysis.dataset import Dataset
from analysis.data.model_label import ModelColumns
from analysis.data.open_log import NO_OPTIONS, LogOptions, load_log, with_label_named
from analysis.data.time import time_window
from analysis.errors import InputError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.data.roles import Role, RoleMap
from analysis.query import Sql, ident, inline
from analysis.slices import (
    Everything, Predicate, Range, all_of, predicate_from_dict, predicate_to_dict, to_sql, to_text,
)
from analysis.store import Store
from analysis.triage.symptoms import Symptom
from analysis.triage.label_arrival import labels_stopped_finding
from analysis.triage.novel_values import skipped_checks
from analysis.triage.ranking import SEVERITIES, Finding, ranked, triage
from analysis.triage.row_scan import FirstRows
from analysis.triage import CHECK_SHARE_ROWS
from analysis.triage.share import Share, request_share, share_line
from analysis.report.formatting import count, json_value, number
from analysis.scope import Scope


@dataclass(frozen=True)
class CheckRun:
    """What one ``sleuth check`` found, and against which reference."""

    dataset: Dataset
    roles: RoleMap
    reference: str
    findings: tuple[Finding, ...]
    profile_json: str | None = None  # the reference profile, for the workspace to keep
    choice: dict[str, Any] | None = None  # the reference and since chosen in the window, for the workspace
    label_note: str | None = None  # how the checked log's label was found, when a model file decided it
    skipped: tuple[str, ...] = ()  # checks the reference cannot feed, one sentence each (an older profile)
    share: Share | None = None  # the share of a large log the row-level parts read (None: every row)


@dataclass(frozen=True)
class Checked:
    """What :func:`check_against` found, and the share of the log its row-level parts read."""

    findings: list[Finding]
    share: Share | None = None


@dataclass(frozen=True)
class CheckSettings:
    """What ``sleuth check`` compares a log with, from when, and how it reads the log.

    The command's options (``--reference``, ``--reference-window``, ``--expect``, ``--since``,
    ``--write-expect``, ``--label COL``..., ``--labels``) as one value, so they pass from the
    command line to :func:`run_check` as one argument.

    Parameters
    ----------
    reference : sequence of str or None, default=None
        Another log or a training snapshot to compare with (its files). Its label is matched
        to the checked log's by role, or by the log's label name when detection found none.
    reference_window : (datetime, datetime) or None, default=None
        A time window of the checked log itself as the reference, used when ``reference`` is
        not given.
    expect : str, Path or None, default=None
        A saved expectations file (a reference profile): takes precedence over both, so the
        same checks run in CI or cron without the reference data. With none of the three,
        the profile module's default window of the log is the reference.
    since : datetime or None, default=None
        Only the log's rows from this moment on are checked; None checks every row.
    write_expect : str, Path or None, default=None
        Where to also save the reference profile as an expectations file for later runs.
    fixed : mapping of Role to str or None, default=None
        The checked log's columns a person named for a role (``--label COL``...); None detects
        them from the columns' names and values.
    options : LogOptions, default=NO_OPTIONS
        How the checked log is read beyond its files (a labels file, a table version).
    share_rows : int, default=CHECK_SHARE_ROWS
        A log of more rows has its row-level parts read on a share of about this many rows
        (:mod:`analysis.triage.share`), said in every output; ``--sample-rows``.
    """

    reference: Sequence[str] | None = None
    reference_window: tuple[_dt.datetime, _dt.datetime] | None = None
    expect: str | Path | None = None
    since: _dt.datetime | None = None
    write_expect: str | Path | None = None
    fixed: Mapping[Role, str] | None = None
    options: LogOptions = NO_OPTIONS
    counted_on: "CountedOn | None" = None
    share_rows: int = CHECK_SHARE_ROWS


@dataclass(frozen=True)
class CountedOn:
    """Where the aggregates of a check on pulled rows run: the whole ``log`` table (and
    ``reference``, when given) on ``store``, a cluster's. The reference profile and the
    checks' per-column and per-time cells are counted there; the row-level parts (stuck and
    far-beyond scans, localisation, examples) read the pulled rows. ``share``: the pulled rows
    are the table's share (:func:`analysis.triage.share.share_condition`, the requests a local
    check of the table reads), so the distribution tests' histograms are counted on them too,
    as a local check counts them on its share."""

    store: Any
    log: Dataset
    reference: Dataset | None = None
    share: Share | None = None


def run_check(store: Store, paths: Sequence[str], settings: CheckSettings = CheckSettings(), *,
              model: ModelColumns | None = None, progress: Progress = no_progress,
              cancel: CancelToken = NEVER_CANCELLED) -> CheckRun:
    """Load ``paths``, compare them with the reference ``settings`` choose, and return the ranked findings.

    ``model`` (what the model file that served the log says about its columns) finds the label
    of the log and of the reference when no name says it (:func:`analysis.data.open_log.load_log`).
    """
    from analysis.triage.reference_profile import Profile, profile_reference, reference_window as default_window

    reference, reference_window, expect = settings.reference, settings.reference_window, settings.expect
    on = settings.counted_on
    loaded = load_log(store, paths, fixed=settings.fixed, check=False, options=settings.options, model=model,
                      progress=scaled(progress, 0.0, 0.2), cancel=cancel)
    dataset, roles = loaded.dataset, loaded.roles
    counted = Scope(on.store, on.log, roles) if on else Scope(store, dataset, roles)
    progress(0.2, "Profiling the reference")
    if expect is not None:
        profile = Profile.from_json(Path(expect).read_text(encoding="utf-8"))
        described = f"expectations in {Path(expect).name}"
    elif reference:
        other = load_log(store, reference, check=False, model=model, cancel=cancel)
        if other.roles.label is None:
            other = with_label_named(other, roles.label)
        profiled = Scope(on.store, on.reference, other.roles) if on else Scope(store, other.dataset, other.roles)
        profile = profile_reference(profiled)
        kind = "log" if other.roles.has_outcome or other.roles.model_version else "training snapshot"
        described = f"{kind} {', '.join(Path(p).name for p in reference)}"
    elif reference_window is not None:
        profile = profile_reference(counted.with_condition(time_window(roles, *reference_window)))
        described = f"window {reference_window[0].isoformat()}..{reference_window[1].isoformat()}"
    else:
        profile = profile_reference(counted.with_condition(default_window(counted)))
        described = "default reference window of the log"
    if settings.write_expect is not None:
        Path(settings.write_expect).write_text(profile.to_json(), encoding="utf-8")
    checked = check_against(Scope(store, dataset, roles), profile, since=settings.since,
                            progress=scaled(progress, 0.5, 1.0), cancel=cancel, counted=counted if on else None,
                            share_rows=settings.share_rows, pulled_share=on.share if on else None)
    return CheckRun(dataset, roles, described, tuple(checked.findings), label_note=loaded.label_note,
                    skipped=tuple(skipped_checks(profile)), share=checked.share)


@dataclass(frozen=True)
class Reference:
    """What the window's checks compare a log with, as the user chose it: the log's first 20%
    of time (``start``), the log before a moment (``before``), or an open training snapshot
    (``snapshot``, by its dataset name). It is kept per log in the workspace, so the reference
    in use never changes silently between runs."""

    kind: str = "start"
    before: _dt.datetime | None = None
    snapshot: str | None = None

    def describe(self) -> str:
        if self.kind == "before" and self.before is not None:
            return f"the log before {self.before:%Y-%m-%d %H:%M}"
        if self.kind == "snapshot" and self.snapshot:
            return f"the training snapshot {self.snapshot}"
        return "the log's first 20% of time"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "before": self.before.isoformat() if self.before else None,
                "snapshot": self.snapshot}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "Reference":
        """The reference a workspace kept; an unknown kind is the default one."""
        kind = document.get("kind") if document.get("kind") in ("start", "before", "snapshot") else "start"
        before = document.get("before")
        return cls(kind, _dt.datetime.fromisoformat(before) if before else None, document.get("snapshot"))


DEFAULT_REFERENCE = Reference()


def check_dataset(scope: Scope, saved_profile: str | None = None, reference: Reference = DEFAULT_REFERENCE,
                  snapshot: tuple[Dataset, RoleMap] | None = None, since: _dt.datetime | None = None,
                  where: Predicate = Everything, progress: Progress = no_progress,
                  cancel: CancelToken = NEVER_CANCELLED, share_rows: int = CHECK_SHARE_ROWS) -> CheckRun:
    """Check an open log's rows in ``where`` (the current slice) from ``since`` on against
    ``reference``: the profile the workspace kept from an earlier check with the same
    reference and slice (``saved_profile``, JSON), else the reference's rows of the same
    slice, profiled now (a snapshot lacking a column of the slice is profiled whole). The
    window's on-call panel calls this; the run carries the profile so the workspace can keep it.
    Beyond ``share_rows`` rows the row-level parts read a share (:mod:`analysis.triage.share`)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    from analysis.triage.reference_profile import Profile

    described = reference.describe()
    if saved_profile is not None:
        profile, described = Profile.from_json(saved_profile), f"{described} (profile saved in the workspace)"
    else:
        progress(0.0, "Profiling the reference")
        profile = _reference_profile(store, dataset, roles, reference, snapshot, where, cancel)
    checked = check_against(scope.with_condition(None if where is Everything else to_sql(where)), profile,
                            since=since, progress=scaled(progress, 0.3, 1.0), cancel=cancel, share_rows=share_rows)
    findings = checked.findings
    if where is not Everything:
        described += f" (rows where {to_text(where)})"
        findings = [replace(f, slice=all_of([where, f.slice])) for f in findings]  # opening one keeps the slice
    kept = profile.to_json() if where is Everything else None  # the log's profile, not a slice's
    choice = {**reference.to_dict(), "since": since.isoformat() if since else None}
    return CheckRun(dataset, roles, described, tuple(findings), kept, choice, skipped=tuple(skipped_checks(profile)),
                    share=checked.share)


def _reference_profile(store: Store, dataset: Dataset, roles: RoleMap, reference: Reference,
                       snapshot: tuple[Dataset, RoleMap] | None, where: Predicate,
                       cancel: CancelToken = NEVER_CANCELLED):
    """The profile of ``reference``'s rows in the slice ``where`` (stops when ``cancel`` fires:
    a user's job preempts the checks on open, this step included)."""
    from analysis.triage.reference_profile import profile_reference, reference_window as default_window

    if reference.kind == "snapshot" and snapshot is not None:
        other, other_roles = snapshot
        applies = where.columns <= {c.name for c in other.columns} if where is not Everything else False
        return profile_reference(Scope(store, other, other_roles, to_sql(where) if applies else None), cancel=cancel)
    if reference.kind == "before" and reference.before is not None:
        window: Predicate = Range(roles.timestamp, None, reference.before)
        rows = to_sql(all_of([where, window]))
    else:
        start = default_window(Scope(store, dataset, roles))  # None: no timestamp, the whole log
        if where is Everything or start is None:
            rows = start if where is Everything else to_sql(where)
        else:
            rows = Sql(f"({start.text}) AND ({to_sql(where).text})", start.params + to_sql(where).params)
    return profile_reference(Scope(store, dataset, roles, rows), cancel=cancel)


def check_against(scope: Scope, profile, since: _dt.datetime | None = None, progress: Progress = no_progress,
                  cancel: CancelToken = NEVER_CANCELLED, counted: Scope | None = None,
                  share_rows: int = CHECK_SHARE_ROWS, pulled_share: Share | None = None) -> Checked:
    """Run every check of ``dataset``'s rows in ``condition`` (a slice) from ``since`` on
    against ``profile`` and rank what they saw.

    The slice is checked as a view of its rows, so every step (the checks' cells, the scan
    that locates a window, the rows and model effect a finding counts, a trend's start) reads
    only them. ``since`` limits what the checks read, not where triage looks: a problem seen
    after ``since`` is located over the whole span, so it starts when it really began, and
    the scan keeps the rows before it as its outside (it cannot call a window holding most of
    the rows it reads anomalous). ``counted`` (the whole table on a cluster, ``scope`` holding
    rows pulled from it) is where the cells are counted (:func:`analysis.triage.checks.run_checks`);
    ``pulled_share`` says those rows are its share, read as a local share is. Without it, a log (or slice) of more than ``share_rows`` rows has its row-level parts read
    on a share of its requests (:func:`analysis.triage.share.request_share`), its cells counted
    over every row, as the cluster's are."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    cancel.raise_if_cancelled()
    progress(0.0, "Running the input checks")
    checked = time_window(roles, since, None) if since is not None else None
    if condition is None:
        return _checked(store, dataset, roles, profile, checked, progress, cancel, counted, share_rows, pulled_share)
    if counted is not None:
        raise InputError("a slice is not checked on a cluster's table yet; check the whole table")
    view = store.new_name("checked")
    store.execute(f"CREATE VIEW {ident(view)} AS SELECT * FROM {ident(dataset.view)} WHERE {inline(condition)}")
    try:
        rows = store.scalar(Sql(f"SELECT COUNT(*) FROM {ident(view)}"))
        return _checked(store, replace(dataset, view=view, row_count=rows), roles, profile, checked, progress, cancel,
                        share_rows=share_rows)
    finally:
        store.execute(f"DROP VIEW IF EXISTS {ident(view)}")


def _checked(store: Store, dataset: Dataset, roles: RoleMap, profile, since: Sql | None, progress: Progress,
             cancel: CancelToken, counted: Scope | None = None, share_rows: int = CHECK_SHARE_ROWS,
             pulled_share: Share | None = None) -> Checked:
    """Checks of the rows in ``since``, triage over ``dataset``, and the labels' arrival; the
    one row per request that the checks' scans and triage's localisation read is found once
    for both (:class:`FirstRows`). Rows pulled from a cluster (``counted``) are a sample or its
    share (``pulled_share``) already; a local log beyond ``share_rows`` rows is read on a share
    for the row-level parts."""
    from analysis.triage.checks import run_checks

    whole = Scope(store, dataset, roles)
    with request_share(whole, None if counted else share_rows, cancel) as (rows, share):
        share = share or pulled_share
        counted = counted or (whole if share else None)
        with FirstRows(rows) as first_rows:
            symptoms = run_checks(rows.with_condition(since), profile, cancel=cancel, first_rows=first_rows,
                                  counted=counted.with_condition(since) if counted else None,
                                  shapes_on_share=share is not None)
            progress(0.6, "Ranking findings")
            findings = triage(rows, symptoms, profile=profile, cancel=cancel, first_rows=first_rows)
        progress(0.9, "Looking at how labels arrive")
        stopped = labels_stopped_finding(rows.with_condition(since), cancel)
    progress(1.0, "Checked")
    return Checked(ranked([*findings, stopped]) if stopped is not None else findings, share)


def worst_severity(findings: Sequence[Finding]) -> str | None:
    """The highest severity among ``findings`` (None when there are none), for ``--fail-on``."""
    present = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[min(present)] if present else None


def fails(findings: Sequence[Finding], fail_on: str) -> bool:
    """True when a finding at or above ``fail_on`` exists (exit code 1 of ``sleuth check``)."""
    if fail_on not in SEVERITIES:
        raise ValueError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
    return any(SEVERITIES.index(f.severity) <= SEVERITIES.index(fail_on) for f in findings)


def check_report(scope: Scope, findings: Sequence[Finding], reference_description: str,
                 skipped: Sequence[str] = (), share: Share | None = None) -> dict[str, Any]:
    """The JSON document of ``sleuth check --json``, findings best first, with the checks the
    reference could not feed (``skipped``) and, when the row-level parts read a ``share`` of the
    log, that share (``{rows, of_rows, key, every}``; the findings' ``rows`` are counted in it)."""
    dataset = scope.dataset
    shared = {} if share is None else {"share": {**share.to_json(), "sentence": share_line(share)}}
    return {
        "dataset": dataset.name,
        "rows": dataset.row_count,
        **shared,
        "reference": reference_description,
        "findings": [finding_to_dict(f) for f in findings],
        "skipped": list(skipped),
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "key": finding.key,
        "kind": finding.kind,
        "columns": list(finding.columns),
        "window": [json_value(finding.window[0]), json_value(finding.window[1])],
        "slice": finding.slice_text,
        "group": [[column, json_value(value)] for column, value in finding.group],
        "predicate": predicate_to_dict(finding.slice),
        "rows": finding.rows,
        "severity": finding.severity,
        "score": json_value(finding.score),
        "effect": json_value(finding.effect),
        "evidence": {k: json_value(v) for k, v in finding.evidence.items()},
        "sentence": finding.sentence,
        "decision": finding.decision,
        "symptoms": [symptom_to_dict(s) for s in finding.symptoms],
    }


def finding_from_dict(document: Mapping[str, Any]) -> Finding:
    """A finding kept in a workspace (:func:`finding_to_dict`), to show again before a new run
    ends; its symptoms are not kept (the sentence and evidence say what they showed). Raises
    KeyError, ValueError, TypeError or SchemaError on a document this version cannot read."""
    window = tuple(_dt.datetime.fromisoformat(t) if t else None for t in document["window"])
    return Finding(
        kind=str(document["kind"]), columns=tuple(document["columns"]), window=window,
        group=tuple((str(column), value) for column, value in document.get("group", [])),
        slice=predicate_from_dict(document["predicate"]),
        rows=int(document["rows"]), severity=str(document["severity"]), score=float(document["score"] or 0.0),
        effect=float(document["effect"] or 0.0), evidence=dict(document.get("evidence", {})), symptoms=(),
        sentence=str(document.get("sentence", "")),
    )


def symptom_to_dict(symptom: Symptom) -> dict[str, Any]:
    return {
        "kind": symptom.kind,
        "columns": list(symptom.columns),
        "rows": symptom.rows,
        "effect": json_value(symptom.effect),
        "reference": json_value(symptom.reference),
        "observed": json_value(symptom.observed),
        "start": json_value(symptom.start),
        "end": json_value(symptom.end),
        "group": {column: json_value(value) for column, value in symptom.group},
    }


def report_text(run: CheckRun) -> str:
    """The readable ranked report ``sleuth check`` prints."""
    counts = {s: sum(f.severity == s for f in run.findings) for s in SEVERITIES}
    counted_in = " in the share" if run.share else ""
    lines = [
        *([share_line(run.share)] if run.share else []),
        f"Sleuth check of {run.dataset.name} ({count(run.dataset.row_count)} rows) against {run.reference}",
        f"{len(run.findings)} finding(s): {counts['alert']} alert, {counts['warning']} warning, {counts['info']} info",
        *(f"skipped: {note}" for note in run.skipped),
    ]
    for rank, finding in enumerate(run.findings, 1):
        decided = f" ({finding.decision})" if finding.decision else ""
        lines += [
            "",
            f"{rank}. [{finding.severity.upper()}]{decided} {finding.kind}: {', '.join(finding.columns)}"
            f"  (score {number(finding.score, 2)}, {count(finding.rows)} rows{counted_in})",
            f"   {finding.sentence}",
        ]
        if finding.slice_text:
            lines.append(f"   slice: {finding.slice_text}")
    return "\n".join(lines) + "\n"
