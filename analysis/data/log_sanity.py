"""Sanity checks on a prediction log, run once its roles are known.

These catch what makes every later number wrong or unavailable: no label or prediction,
scores that are not probabilities, the same request scored twice by one version. Each issue
names its column and gives example rows (ROW_IDs) or ids, so the user can go and look.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import ROW_ID, ident
from analysis.data.roles import Role, RoleMap, TaskType, role_problem
from analysis.store import Store
from analysis.report.formatting import percent
from analysis.scope import Scope

EXAMPLES = 5


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class LogIssue:
    severity: Severity
    message: str
    column: str | None = None
    rows_affected: int = 0
    examples: tuple[str, ...] = ()


def check_log(scope: Scope, progress: Progress = no_progress,
              cancel: CancelToken = NEVER_CANCELLED) -> list[LogIssue]:
    """Every sanity issue of the log under ``roles``, most severe first.

    Each check is a full scan of the log, run on a cursor ``cancel`` interrupts: on a large log
    the user's cancel (or leaving the log) stops the statement running, not only the next one.
    ``progress`` names each scan, so the status bar says what the checks are doing."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    unnamed = _scores_name_no_class(roles)
    said = _said(progress, dataset.name, unnamed + len(roles.scores) + (roles.id is not None) + (roles.label is not None))
    issues = _missing_outcome(roles)
    if unnamed:
        said(f"the classes of '{roles.label}' against the score columns")
        issues += _scores_without_classes(store, dataset, roles, cancel)
    for score in roles.scores:
        said(f"score column '{score}' (NaN, outside [0, 1], missing)")
        issues += _bad_scores(store, dataset, score, cancel)
    if roles.id is not None:
        said(f"ids in '{roles.id}' scored more than once")
        issues += _duplicate_ids(store, dataset, roles, cancel)
    if roles.label is not None:
        said(f"how many rows have a label in '{roles.label}'")
        issues.append(_label_coverage(store, dataset, roles.label, cancel))
    progress(1.0, f"Checked {dataset.name}")
    order = list(Severity)
    return sorted(issues, key=lambda issue: order.index(issue.severity))


def _said(progress: Progress, name: str, steps: int):
    """A callable reporting the next of ``steps`` checks as "Checking <log>: <what>"."""
    done = [0]

    def say(what: str) -> None:
        progress(done[0] / steps, f"Checking {name}: {what}")
        done[0] += 1

    return say


def _missing_outcome(roles: RoleMap) -> list[LogIssue]:
    has_prediction = roles.prediction is not None or bool(roles.scores)
    if roles.label is None and not has_prediction:
        return [LogIssue(
            Severity.ERROR,
            "no label and no prediction or score column was recognised, so metrics are "
            "unavailable; set the roles by hand in the columns panel",
        )]
    if roles.label is None:
        return [LogIssue(
            Severity.WARNING,
            "no label column was recognised: metrics need labels (set the role by hand, "
            "or join late labels by id)",
        )]
    if not has_prediction:
        return [LogIssue(
            Severity.WARNING,
            "no prediction or score column was recognised, so metrics are unavailable; "
            "set the role by hand",
        )]
    return []


def _scores_name_no_class(roles: RoleMap) -> bool:
    """A multiclass label, no prediction column, and score columns not one per named class."""
    if roles.task is not TaskType.MULTICLASS or roles.label is None or roles.prediction is not None:
        return False
    return bool(roles.scores) and len(roles.score_classes) != len(roles.scores)


def _scores_without_classes(store: Store, dataset: Dataset, roles: RoleMap,
                            cancel: CancelToken = NEVER_CANCELLED) -> list[LogIssue]:
    """A multiclass label with score columns that name no class and no prediction column: no
    metric can be computed, and saying it now beats an error from the first metric later.
    Call it only when :func:`_scores_name_no_class`."""
    label = ident(roles.label)
    classes = [str(v) for (v,) in store.rows(f"SELECT DISTINCT CAST({label} AS VARCHAR) FROM {ident(dataset.view)} "
                                              f"WHERE {label} IS NOT NULL ORDER BY 1 LIMIT 11", cancel)]
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    return [LogIssue(
        Severity.ERROR,
        f"label '{roles.label}' has {'more than 10' if len(classes) > 10 else len(classes)} classes ({shown}) "
        f"but the score column(s) {', '.join(repr(s) for s in roles.scores)} name no class and there is no "
        "prediction column, so no metric can be computed: mark a prediction column, one score column per "
        "class, or make the task binary in the column roles",
        column=roles.label,
    )]


def _bad_scores(store: Store, dataset: Dataset, score: str, cancel: CancelToken = NEVER_CANCELLED) -> list[LogIssue]:
    problem = role_problem(dataset.column(score), Role.SCORE)
    if problem:  # a saved or hand-set mapping from another file: said, never a failed query
        return [LogIssue(Severity.ERROR, problem + "; set another score column", score)]
    q = ident(score)
    as_double = f"CAST({q} AS DOUBLE)"
    conditions = (
        f"NOT isfinite({as_double})",
        f"isfinite({as_double}) AND NOT ({as_double} BETWEEN 0 AND 1)",
        f"{q} IS NULL",
    )
    parts = []
    for condition in conditions:
        parts.append(
            f"count(*) FILTER (WHERE {condition}), "
            f"list({ident(ROW_ID)} ORDER BY {ident(ROW_ID)}) FILTER (WHERE {condition})[1:{EXAMPLES}]"
        )
    not_finite, nf_rows, outside, out_rows, missing, missing_rows = store.rows(
        f"SELECT {', '.join(parts)} FROM {ident(dataset.view)}", cancel
    )[0]
    issues = []
    if not_finite:
        issues.append(LogIssue(
            Severity.ERROR,
            f"score column '{score}' has {not_finite:,} NaN or infinite value(s), "
            f"e.g. rows {_join(nf_rows)}",
            score, int(not_finite), tuple(str(r) for r in nf_rows or ()),
        ))
    if outside:
        issues.append(LogIssue(
            Severity.ERROR,
            f"score column '{score}' has {outside:,} value(s) outside [0, 1], "
            f"e.g. rows {_join(out_rows)}: it may hold logits or another column",
            score, int(outside), tuple(str(r) for r in out_rows or ()),
        ))
    if missing:
        issues.append(LogIssue(
            Severity.WARNING,
            f"score column '{score}' is missing on {missing:,} row(s), e.g. rows {_join(missing_rows)}",
            score, int(missing), tuple(str(r) for r in missing_rows or ()),
        ))
    return issues


def _duplicate_ids(store: Store, dataset: Dataset, roles: RoleMap,
                   cancel: CancelToken = NEVER_CANCELLED) -> list[LogIssue]:
    """The same id scored twice by one version (the same id across versions is shadow traffic)."""
    id_col = ident(roles.id)
    keys = [id_col] + ([ident(roles.model_version)] if roles.model_version else [])
    affected, examples = store.rows(
        f"SELECT coalesce(sum(n), 0), list(id ORDER BY id)[1:{EXAMPLES}] FROM ("
        f"SELECT CAST({id_col} AS VARCHAR) AS id, count(*) AS n FROM {ident(dataset.view)} "
        f"WHERE {id_col} IS NOT NULL GROUP BY {', '.join(keys)} HAVING count(*) > 1)", cancel
    )[0]
    if not affected:
        return []
    scope = " by the same model version" if roles.model_version else ""
    return [LogIssue(
        Severity.WARNING,
        f"id column '{roles.id}': {int(affected):,} rows share an id scored more than once"
        f"{scope}, e.g. ids {_join(examples)}",
        roles.id, int(affected), tuple(str(e) for e in examples or ()),
    )]


@dataclass(frozen=True)
class LabelCoverage(LogIssue):
    """The label coverage check's issue with its counts, so that ``info`` reports them from the
    check instead of counting the log again (a statement on the cluster with ``--engine``)."""

    labelled: int = 0
    rows: int = 0


def label_counts(store: Store, dataset: Dataset, label: str,
                 cancel: CancelToken = NEVER_CANCELLED) -> tuple[int, int]:
    """Rows with a label (labels that are null have not arrived yet), and all rows."""
    labelled, total = store.rows(f"SELECT count({ident(label)}), count(*) FROM {ident(dataset.view)}", cancel)[0]
    return int(labelled), int(total)


def _label_coverage(store: Store, dataset: Dataset, label: str, cancel: CancelToken = NEVER_CANCELLED) -> LogIssue:
    labelled, total = label_counts(store, dataset, label, cancel)
    share = labelled / total if total else 0.0
    return LabelCoverage(
        Severity.INFO,
        f"label column '{label}' is present on {percent(share)} of rows ({labelled:,} of {total:,})",
        label, total - labelled, labelled=labelled, rows=total,
    )


def _join(values) -> str:
    return ", ".join(str(v) for v in values or ())
