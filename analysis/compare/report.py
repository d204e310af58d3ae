"""The whole comparison as one JSON-ready report (``sleuth compare --json``), its sentence,
and the gate ``--fail-on-regression`` applies."""

from __future__ import annotations

import datetime as _dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from analysis.compare.comparison import (
    COMPARED, Comparison, Pairing, Side, at_threshold, compare_metrics, compared_rows, default_metric, pair_and_sum,
    pair_versions, paired_sums, stored_outcomes, stored_pairs,
)
from analysis.compare.regressed_slices import (
    ALPHA, SliceDiff, SliceSettings, slice_columns, slice_comparisons, slice_metric,
)
from analysis.compare.flips import Flips, flip_kind_sql, flips_of
from analysis.metrics.per_version import METRICS
from analysis.data.time import time_window
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql
from analysis.data.roles import RoleMap
from analysis.errors import SchemaError
from analysis.report.formatting import count, interval, number, p_value, signed
from analysis.scope import Scope


def compare_report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Everything ``sleuth compare`` prints: overall metrics, flips, regressed slices, summary.

    Takes :func:`run_comparison`'s arguments. ``flips`` is None for an unpaired comparison;
    ``metric`` (default accuracy or MAE) is listed first in ``overall`` and is the one the gate
    and the slices judge.
    """
    return run_comparison(*args, **kwargs).report


def before_and_after(roles: RoleMap, moment: _dt.datetime) -> tuple[Sql, Sql]:
    """The time windows before ``moment`` and from ``moment`` on, over the log's time column."""
    return time_window(roles, None, moment), time_window(roles, moment, None)


@dataclass(frozen=True)
class ComparisonResult:
    """The report plus the values behind it that a window needs: the slices as predicates
    (to open one) and the flips (to open or export the negative ones)."""

    report: dict[str, Any]
    slices: tuple[SliceDiff, ...]
    flips: Flips | None
    pairing: Pairing


@dataclass(frozen=True)
class ReportSettings:
    """What :func:`run_comparison` compares and how: one value in place of eight keyword
    arguments, built once by the CLI or the panel from what the person chose.

    Parameters
    ----------
    metric : str or None, default=None
        The metric listed first, judged by the gate and (unless ``slices.metric`` names
        another) by the slices; None is the task's default (accuracy or MAE).
    slices : SliceSettings, default=SliceSettings()
        Which slices are tested and the tolerance; discovery runs only on a paired comparison.
    threshold : float or None, default=None
        A cut-off on the positive-class score replacing the logged predictions (binary tasks
        with a score); None keeps the logged predictions.
    base_window, candidate_window : Sql or None, default=None
        Restrict each side to a time window, so one version can be compared before and after
        a deploy or an incident (always unpaired).
    split_at : datetime or None, default=None
        The short form of the windows: the base's rows before that moment against the
        candidate's from it on (replaces ``base_window`` and ``candidate_window``).
    version_names : mapping of str to str, default={}
        Raw version string -> version card name, naming the versions in the sentences and in
        ``base_name``/``candidate_name``; ``base``/``candidate`` stay the raw strings.
    """

    metric: str | None = None
    slices: SliceSettings = SliceSettings()
    threshold: float | None = None
    base_window: Sql | None = None
    candidate_window: Sql | None = None
    split_at: _dt.datetime | None = None
    version_names: Mapping[str, str] = field(default_factory=dict)


def run_comparison(scope: Scope, base: str, candidate: str, settings: ReportSettings = ReportSettings(),
                   cancel: CancelToken = NEVER_CANCELLED,
                   partial: Callable[[ComparisonResult], None] | None = None) -> ComparisonResult:
    """Compare ``candidate`` with ``base`` as ``settings`` chooses: see :func:`compare_report`
    for what is measured.

    ``partial`` receives the verdict first: the pairing, every metric but ROC AUC with its
    interval and the flips with McNemar's test, all from one aggregate over the paired join
    (:func:`~analysis.compare.comparison.paired_sums`), nothing stored; when every row of the
    two versions pairs one to one, that same aggregate decides the pairing too
    (:func:`~analysis.compare.comparison.pair_and_sum`), so the verdict is one pass. ROC AUC
    (DeLong) and the per-slice tests with discovery follow, from the pairs' outcomes joined
    once more into a narrow table (:func:`~analysis.compare.comparison.stored_pairs`); the
    result returned has all. On DuckDB, ROC AUC runs on a thread of its own beside the slices
    (see :func:`_beside`)."""
    threshold, base_window, candidate_window = settings.threshold, settings.base_window, settings.candidate_window
    slice_settings = settings.slices
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    saved_slices, column, tolerance = slice_settings.saved, slice_settings.column, slice_settings.tolerance
    if settings.split_at is not None:
        base_window, candidate_window = before_and_after(roles, settings.split_at)
    _require_outcomes(roles, dataset)
    metric = settings.metric or default_metric(roles)
    roles = at_threshold(roles, threshold)
    flip_kind = flip_kind_sql(roles, tolerance)
    paired_at_once = (pair_and_sum(scope.with_roles(roles), base, candidate, flip_kind, cancel)
                      if base_window is None and candidate_window is None else None)
    if paired_at_once is not None:
        pairing, sums = paired_at_once
    else:
        pairing = pair_versions(scope.with_roles(roles), base, candidate, base_condition=base_window,
                                candidate_condition=candidate_window, cancel=cancel)
    columns = slice_columns(dataset, roles, saved_slices, column) if pairing.paired else ()
    order = _metric_order(roles, metric)
    first = [m for m in order if m == metric or m not in LATER_METRICS]
    later = [m for m in order if m not in first]
    names = dict(settings.version_names)
    base_rows, cand_rows = compared_rows(scope.with_roles(roles), pairing, columns)
    if paired_at_once is None:
        sums = paired_sums(store, base_rows, flip_kind, cancel) if pairing.paired else None
    verdict = compare_metrics(scope.with_roles(roles), pairing, base_rows, cand_rows, first, threshold,
                              cancel=cancel, sums=sums)
    flip_table = flips_of(sums) if sums is not None else None
    if partial is not None:
        partial(_result(roles, verdict, (), flip_table, tolerance, names, complete=False))
    tested = replace(slice_settings, discover=slice_settings.discover and pairing.paired,
                     metric=slice_settings.metric or metric)
    kept = stored_outcomes(roles, slice_metric(roles, tested.metric), later)
    with (stored_pairs(scope.with_roles(roles), pairing, base_rows, cand_rows, cancel, kept) as (measured, sliced),
          ThreadPoolExecutor(1, thread_name_prefix="sleuth-compare-later") as thread):
        later_tests = _beside(thread if store.engine == "duckdb" else None, compare_metrics, scope.with_roles(roles),
                              pairing, *measured, later, threshold, cancel=cancel) if later else None
        slices = slice_comparisons(scope.with_roles(roles), pairing, *sliced, tested, cancel)
        rest = later_tests.result().overall if later_tests is not None else []
    by_name = {m.metric: m for m in verdict.overall + rest}
    comparison = replace(verdict, overall=[by_name[m] for m in order])
    return _result(roles, comparison, slices, flip_table, tolerance, names, complete=True)


def _beside(thread: ThreadPoolExecutor | None, work: Callable[..., Comparison], *args: Any, **kwargs: Any) -> Future:
    """``work`` (the later metrics' tests) started on ``thread`` to run beside the slices, or
    done at once without one. Neither reads the other's results, and on DuckDB each chain is
    mostly one core's work: ROC AUC's DeLong is numpy, the search's SliceLine is numpy and the
    slice tests' positional joins run on one DuckDB thread, so side by side they use the core
    the other leaves idle (a Spark cluster's passes have no idle core here to fill)."""
    if thread is not None:
        return thread.submit(work, *args, **kwargs)
    done: Future = Future()
    done.set_result(work(*args, **kwargs))
    return done


LATER_METRICS = frozenset({"roc_auc"})
"""Metrics left out of the verdict that comes first (unless one is the metric judged): ROC
AUC with DeLong's test ranks the scores of every pair, as costly as the other metrics together."""


def _result(roles: RoleMap, comparison: Comparison, slices: Sequence[SliceDiff], flip_table: Flips | None,
            tolerance: float, names: Mapping[str, str], *, complete: bool) -> ComparisonResult:
    """The report of what has been computed; ``complete`` False while the slices and the
    later metrics are still coming (``regressed_slices`` is then empty)."""
    pairing, metric = comparison.pairing, comparison.metric
    report = {
        "base": pairing.base.label,
        "candidate": pairing.candidate.label,
        "base_name": side_name(pairing.base, names),
        "candidate_name": side_name(pairing.candidate, names),
        "metric": metric,
        "slice_metric": slice_metric(roles, metric),
        "paired": pairing.paired,
        "pairing": pairing.explanation,
        "rows": pairing.pairs if pairing.paired else pairing.base.rows + pairing.candidate.rows,
        "paired_rows": pairing.pairs,
        "base_rows": pairing.base.rows,
        "candidate_rows": pairing.candidate.rows,
        "coverage": {"base": pairing.base.coverage, "candidate": pairing.candidate.coverage,
                     "pairs": pairing.labelled_pairs / pairing.pairs if pairing.pairs else None},
        "tolerance": tolerance,
        "overall": [
            {"metric": m.metric, "base": m.base, "candidate": m.candidate, "diff": m.diff,
             "ci": [m.ci_low, m.ci_high], "p_value": m.p_value, "method": m.method,
             "higher_is_better": m.higher_is_better}
            for m in comparison.overall
        ],
        "flips": None if flip_table is None else {
            "negative": flip_table.negative, "positive": flip_table.positive,
            "both_wrong": flip_table.both_wrong, "both_right": flip_table.both_right,
            "mcnemar_p": flip_table.mcnemar_p,
        },
        "regressed_slices": [
            {"predicate": s.predicate_text, "source": s.source, "rows": s.rows, "base": s.base,
             "candidate": s.candidate, "diff": s.diff, "ci": [s.ci_low, s.ci_high], "p_value": s.p_value,
             "p_adjusted": s.p_adjusted, "significant": s.significantly_worse(tolerance)}
            for s in slices
        ],
        "complete": complete,
        "summary": summary_sentence(comparison, slices, tolerance, complete=complete, names=names),
    }
    return ComparisonResult(report, tuple(slices), flip_table, pairing)


def side_name(side: Side, names: Mapping[str, str]) -> str:
    """A side as people call it: its version's card name (raw string without a card), with the
    time window it is restricted to, if any."""
    if side.version is None or not side.label.startswith(side.version):
        return side.label
    return names.get(side.version, side.version) + side.label[len(side.version):]


def _metric_order(roles: RoleMap, metric: str) -> list[str]:
    return [metric] + [m for m in COMPARED[roles.task] if m != metric]


def is_regression(report: dict[str, Any], tolerance: float | None = None) -> bool:
    """True when the candidate is significantly worse than the base by more than ``tolerance``
    on the report's metric overall (p < 0.05) or on any tested slice (adjusted p < 0.05)."""
    tolerance = report.get("tolerance", 0.0) if tolerance is None else tolerance
    overall = next(m for m in report["overall"] if m["metric"] == report["metric"])
    if _worse(overall, overall["p_value"], tolerance):
        return True
    higher = METRICS[report["slice_metric"]].higher_is_better
    return any(_worse({**s, "higher_is_better": higher}, s["p_adjusted"], tolerance) for s in report["regressed_slices"])


def _worse(entry: dict[str, Any], p: float | None, tolerance: float) -> bool:
    if entry["diff"] is None or p is None:
        return False
    worsening = -entry["diff"] if entry["higher_is_better"] else entry["diff"]
    return p < ALPHA and worsening > tolerance


def _require_outcomes(roles: RoleMap, dataset) -> None:
    """Say which role is missing before comparing: without a label, or without a prediction or
    score, every metric of both versions is empty, and a report of dashes ending "no labelled
    rows with predictions on both sides" sent people looking at their rows instead of at the
    roles (a log whose label is named ``defaulted`` is not recognised as having one)."""
    where = ", ".join(dataset.paths) or dataset.name
    if roles.label is None:
        raise SchemaError("comparing versions needs a label column and none was recognised; set the label role "
                          "by hand (--label COLUMN on the command line, Data > Column roles in the window)", file=where)
    if roles.prediction is None and not roles.scores:
        raise SchemaError("comparing versions needs a prediction or score column and none was recognised; set "
                          "its role by hand (--prediction or --score COLUMN on the command line, Data > Column roles in the window)",
                          file=where)


def summary_sentence(comparison: Comparison, regressed: Sequence[SliceDiff], tolerance: float = 0.0,
                     complete: bool = True, names: Mapping[str, str] | None = None) -> str:
    """The comparison in one sentence, leading with "better overall but worse on ..." when so
    (before the slices are tested, ``complete`` False, it says they are still being tested);
    versions are called by ``names`` (their cards' names) where they have one."""
    overall = comparison.get(comparison.metric)
    candidate, base = (side_name(side, names or {}) for side in (comparison.pairing.candidate, comparison.pairing.base))
    if overall.diff is None:
        return f"{comparison.metric} could not be compared: no labelled rows with predictions on both sides."
    name = METRICS[overall.metric].display.lower() if overall.metric != "roc_auc" else "ROC AUC"
    worsening = overall.worsening or 0.0
    significant = overall.p_value is not None and overall.p_value < ALPHA
    verdict = ("better" if worsening < 0 else "worse") if significant else "not significantly different"
    text = (f"{candidate} is {verdict} overall than {base} ({name} {number(overall.candidate)} vs "
            f"{number(overall.base)}, {signed(overall.diff)} {interval(overall.ci_low, overall.ci_high, with_sign=True)})")
    if not complete:
        return text + "; testing the slices…"
    worst = next((s for s in regressed if s.significantly_worse(tolerance)), None)
    if worst is None:
        return text + "; no slice is significantly worse."
    joiner = " but clearly" if verdict != "worse" else " and clearly"
    return (f"{text}{joiner} worse on {worst.predicate_text} ({count(worst.rows)} rows: {number(worst.candidate)} vs "
            f"{number(worst.base)}, {signed(worst.diff)} {interval(worst.ci_low, worst.ci_high, with_sign=True)}, "
            f"p_adj {p_value(worst.p_adjusted)}).")


def report_text(report: dict) -> str:
    """The comparison as a readable report for a terminal or a CI log, versions by their card names."""
    lines = [report.get("summary", ""), "",
             f"{report['candidate_name']} vs {report['base_name']} — {'paired' if report['paired'] else 'unpaired'}, "
             f"{count(report['rows'])} rows", "", f"{'metric':<28}{'base':>10}{'candidate':>11}{'diff':>10}  95% interval"
             f"{'':>12}p"]
    for m in report["overall"]:
        lines.append(f"{m['metric']:<28}{number(m['base']):>10}{number(m['candidate']):>11}{signed(m['diff']):>10}  "
                     f"{interval(*m['ci'], with_sign=True)}  {p_value(m['p_value'])}")
    flips = report.get("flips")
    if flips:
        lines += ["", f"flips: {count(flips['negative'])} negative (base right, candidate wrong), "
                      f"{count(flips['positive'])} positive, {count(flips['both_wrong'])} both wrong; "
                      f"McNemar p {p_value(flips['mcnemar_p'])}"]
    if report["regressed_slices"]:
        lines += ["", "where the candidate is worse (worst first):"]
        for s in report["regressed_slices"]:
            lines.append(f"  {s['predicate']}\n    {count(s['rows'])} rows: {number(s['base'])} -> {number(s['candidate'])} "
                         f"({signed(s['diff'])} {interval(*s['ci'], with_sign=True)}), "
                         f"p_adj {p_value(s['p_adjusted'])}")
    return "\n".join(lines)
