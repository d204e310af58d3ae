"""``sleuth check``: profile a reference, run the input checks, triage, and report.

:func:`run_check` is the one function the CLI calls; :func:`check_report` gives its JSON
document (``{reference, findings: [...]}``, best first) and :func:`report_text` the readable
ranked report. The reference is, in order of precedence, a saved expectation file
(``--expect``), another log (``--reference``), a time window of the checked log
(``--reference-window``), or the default reference window the profile module picks.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from analysis.dataset import Dataset
from analysis.data.open_log import NO_OPTIONS, LogOptions, load_log
from analysis.metrics.per_version import time_window
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.data.roles import RoleMap
from analysis.store import Store
from analysis.triage.symptoms import Symptom
from analysis.triage.ranking import SEVERITIES, Finding, triage


@dataclass(frozen=True)
class CheckRun:
    """What one ``sleuth check`` found, and against which reference."""

    dataset: Dataset
    roles: RoleMap
    reference: str
    findings: tuple[Finding, ...]
    profile_json: str | None = None  # the reference profile, for the workspace to keep


def run_check(
    store: Store,
    paths: Sequence[str],
    *,
    reference: Sequence[str] | None = None,
    reference_window: tuple[_dt.datetime, _dt.datetime] | None = None,
    expect: str | Path | None = None,
    since: _dt.datetime | None = None,
    roles: RoleMap | None = None,
    write_expect: str | Path | None = None,
    options: LogOptions = NO_OPTIONS,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> CheckRun:
    """Load ``paths``, compare them with the reference, and return the ranked findings.

    ``write_expect`` also saves the reference profile as an expectations file, so the same
    checks can run later (in CI or cron) with ``expect`` and without the reference data.
    """
    from analysis.triage.reference_profile import Profile, profile_reference, reference_window as default_window

    loaded = load_log(store, paths, roles=roles, check=False, options=options, progress=scaled(progress, 0.0, 0.2),
                      cancel=cancel)
    dataset, roles = loaded.dataset, loaded.roles
    progress(0.2, "Profiling the reference")
    if expect is not None:
        profile = Profile.from_json(Path(expect).read_text(encoding="utf-8"))
        described = f"expectations in {Path(expect).name}"
    elif reference:
        other = load_log(store, reference, check=False, cancel=cancel)
        profile = profile_reference(store, other.dataset, other.roles)
        described = f"log {', '.join(Path(p).name for p in reference)}"
    elif reference_window is not None:
        profile = profile_reference(store, dataset, roles, condition=time_window(roles, *reference_window))
        described = f"window {reference_window[0].isoformat()}..{reference_window[1].isoformat()}"
    else:
        profile = profile_reference(store, dataset, roles, condition=default_window(store, dataset, roles))
        described = "default reference window of the log"
    if write_expect is not None:
        Path(write_expect).write_text(profile.to_json(), encoding="utf-8")
    findings = check_against(store, dataset, roles, profile, since=since, progress=scaled(progress, 0.5, 1.0),
                             cancel=cancel)
    return CheckRun(dataset, roles, described, tuple(findings))


def check_dataset(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    saved_profile: str | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> CheckRun:
    """Check an open log against its reference: the profile the workspace kept from an earlier
    check (``saved_profile``, JSON), else its first 20% of time, profiled now. The window's
    on-call panel calls this; the run carries the profile so the workspace can keep it."""
    from analysis.triage.reference_profile import Profile, profile_reference, reference_window as default_window

    if saved_profile is not None:
        profile, described = Profile.from_json(saved_profile), "the reference profile saved in the workspace"
    else:
        progress(0.0, "Profiling the reference")
        profile = profile_reference(store, dataset, roles, condition=default_window(store, dataset, roles))
        described = "the log's first 20% of time"
    findings = check_against(store, dataset, roles, profile, progress=scaled(progress, 0.3, 1.0), cancel=cancel)
    return CheckRun(dataset, roles, described, tuple(findings), profile.to_json())


def check_against(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    profile,
    since: _dt.datetime | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[Finding]:
    """Run every check of ``dataset`` against ``profile`` and rank what they saw."""
    from analysis.triage.checks import run_checks

    cancel.raise_if_cancelled()
    progress(0.0, "Running the input checks")
    condition = time_window(roles, since, None) if since is not None else None
    symptoms = run_checks(store, dataset, roles, profile, condition=condition)
    progress(0.6, "Ranking findings")
    findings = triage(store, dataset, roles, symptoms, profile=profile, cancel=cancel)
    progress(1.0, "Checked")
    return findings


def worst_severity(findings: Sequence[Finding]) -> str | None:
    """The highest severity among ``findings`` (None when there are none), for ``--fail-on``."""
    present = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[min(present)] if present else None


def fails(findings: Sequence[Finding], fail_on: str) -> bool:
    """True when a finding at or above ``fail_on`` exists (exit code 1 of ``sleuth check``)."""
    if fail_on not in SEVERITIES:
        raise ValueError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
    return any(SEVERITIES.index(f.severity) <= SEVERITIES.index(fail_on) for f in findings)


def check_report(
    store: Store, dataset: Dataset, roles: RoleMap, findings: Sequence[Finding], reference_description: str
) -> dict[str, Any]:
    """The JSON document of ``sleuth check --json``, findings best first."""
    return {
        "dataset": dataset.name,
        "rows": dataset.row_count,
        "reference": reference_description,
        "findings": [finding_to_dict(f) for f in findings],
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "key": finding.key,
        "kind": finding.kind,
        "columns": list(finding.columns),
        "window": [_iso(finding.window[0]), _iso(finding.window[1])],
        "slice": finding.slice_text,
        "rows": finding.rows,
        "severity": finding.severity,
        "score": _json_number(finding.score),
        "effect": _json_number(finding.effect),
        "evidence": {k: _json_value(v) for k, v in finding.evidence.items()},
        "sentence": finding.sentence,
        "decision": finding.decision,
        "symptoms": [symptom_to_dict(s) for s in finding.symptoms],
    }


def symptom_to_dict(symptom: Symptom) -> dict[str, Any]:
    return {
        "kind": symptom.kind,
        "columns": list(symptom.columns),
        "rows": symptom.rows,
        "effect": _json_number(symptom.effect),
        "reference": _json_number(symptom.reference),
        "observed": _json_number(symptom.observed),
        "start": _iso(symptom.start),
        "end": _iso(symptom.end),
        "group": {column: _json_value(value) for column, value in symptom.group},
    }


def report_text(run: CheckRun) -> str:
    """The readable ranked report ``sleuth check`` prints."""
    counts = {s: sum(f.severity == s for f in run.findings) for s in SEVERITIES}
    lines = [
        f"Sleuth check of {run.dataset.name} ({run.dataset.row_count:,} rows) against {run.reference}",
        f"{len(run.findings)} finding(s): {counts['alert']} alert, {counts['warning']} warning, {counts['info']} info",
    ]
    for number, finding in enumerate(run.findings, 1):
        decided = f" ({finding.decision})" if finding.decision else ""
        lines += [
            "",
            f"{number}. [{finding.severity.upper()}]{decided} {finding.kind}: {', '.join(finding.columns)}"
            f"  (score {finding.score:.2f}, {finding.rows:,} rows)",
            f"   {finding.sentence}",
        ]
        if finding.slice_text:
            lines.append(f"   slice: {finding.slice_text}")
    return "\n".join(lines) + "\n"


def _iso(moment: _dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value
