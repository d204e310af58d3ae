"""``sleuth info``: what Sleuth understood of a log, as plain data for JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from analysis.data.labels import coverage_by_age
from analysis.data.log_sanity import LabelCoverage, label_counts
from analysis.data.open_log import LoadedLog
from analysis.data.roles import Role
from analysis.scope import Scope
from analysis.store import Store


def label_coverage(store: Store, loaded: LoadedLog) -> dict[str, Any] | None:
    """Rows with a label out of all rows (labels that are null have not arrived yet): the log
    checks' counts when they ran (:class:`LabelCoverage`), else counted here."""
    label = loaded.roles.label
    if label is None:
        return None
    checked = next((issue for issue in loaded.issues if isinstance(issue, LabelCoverage)), None)
    labelled, rows = ((checked.labelled, checked.rows) if checked is not None
                      else label_counts(store, loaded.dataset, label))
    return {"labelled": labelled, "rows": rows, "share": labelled / rows if rows else 0.0}


def describe_log(store: Store, loaded: LoadedLog) -> dict[str, Any]:
    dataset, roles = loaded.dataset, loaded.roles
    return {
        "name": dataset.name,
        "paths": list(dataset.paths),
        "format": dataset.format,
        "rows": dataset.row_count,
        "task": roles.task.value,
        "columns": [
            {"name": c.name, "type": c.dtype, "role": roles.role_of(c.name).value}
            for c in dataset.columns
        ],
        "roles": {role.value: getattr(roles, role.value) for role in (Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION,
                                                                       Role.LABEL, Role.PREDICTION)}
        | {"scores": list(roles.scores), "score_classes": list(roles.score_classes),
           "positive_class": roles.positive_class, "features": list(roles.features)},
        "label_coverage": label_coverage(store, loaded),
        "label_coverage_by_age": coverage_by_age(Scope(store, dataset, roles)),
        "labels_joined": asdict(loaded.labels) if loaded.labels else None,
        "skipped": [asdict(s) for s in dataset.report.skipped],
        "warnings": list(dataset.report.warnings),
        "issues": [_issue(i) for i in loaded.issues],
    }


def _issue(issue: Any) -> dict[str, Any]:
    return {key: getattr(issue, key) for key in ("severity", "message", "column", "rows_affected") if hasattr(issue, key)}
