"""Did the action work? Each decided group's slice measured again on a later log.

The group's evidence holds the slice's error rate over the rows it was found in and when those
rows end; a later log's rows after that moment are the new data. The two error rates are
compared with Fisher's exact test (and Newcombe's interval of the difference), so a group is
*verified* only when its error went down beyond chance, *regressed* when it went up beyond
chance, and otherwise stays *awaiting verification* with the numbers shown.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from analysis.discovery.failing_slices import row_error_sql
from analysis.data.time import timestamp_expr
from analysis.query import Sql, ident
from analysis.queue.edits import SetGroupFields, apply
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.queue.grouping import SIGNIFICANCE
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.stats.comparison import independent_proportions

AWAITING = ("decided", "awaiting verification")


def follow_up(queue: FailureQueue, scope: Scope) -> list[dict[str, Any]]:
    """Measure every decided group with a slice on ``dataset``'s new rows and move its status."""
    measured = []
    for group in queue.groups():
        if group.status not in AWAITING or group.slice is None or not group.evidence.get("rows"):
            continue
        result = measure(scope, group)
        if result is None:
            continue
        apply(queue, followup_edit(group.id, result))
        measured.append({"group": group.id, "title": group.title, **result})
    return measured


def followup_edit(group_id: int, result: dict[str, Any]) -> SetGroupFields:
    """The status change a follow-up measurement makes (verified, regressed, or still awaiting)."""
    return SetGroupFields(group_id, {"status": result["status"], "followup": result},
                          label=f"Follow-up on {result['dataset']}: {result['status']}")


def measure(scope: Scope, group: Group) -> dict[str, Any] | None:
    """The group's slice on the rows of ``dataset`` after its evidence period; None without any."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    error = row_error_sql(dataset, roles, "misclass")
    scope = Sql(f"({error}) IS NOT NULL") & to_sql(group.slice.predicate)
    period_end = group.evidence.get("period_end")
    if period_end and roles.timestamp:
        after = Sql(f"{timestamp_expr(dataset, roles)} > ?", (_dt.datetime.fromisoformat(period_end),))
        scope = scope & after
    same_version = group.version is not None and roles.model_version is not None and store.scalar(Sql(
        f"SELECT count(*) > 0 FROM {ident(dataset.view)} WHERE CAST({ident(roles.model_version)} AS VARCHAR) = ?",
        (group.version,)))
    if same_version:
        scope = scope & Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (group.version,))
    rows, errors = store.rows(Sql(f"SELECT count(*), coalesce(sum({error}), 0) FROM {ident(dataset.view)} "
                                  f"WHERE {scope.text}", scope.params))[0]
    if not rows:
        return None
    before_rows, before_errors = int(group.evidence["rows"]), int(group.evidence["errors"])
    test = independent_proportions(before_errors, before_rows, int(errors), int(rows))
    significant = test.p_value is not None and test.p_value < SIGNIFICANCE
    status = "awaiting verification" if not significant else ("verified" if test.diff < 0 else "regressed")
    return {"status": status, "dataset": dataset.name, "measured_at": _dt.datetime.now().isoformat(),
            "versions": group.version if same_version else "all versions of the new log",
            "before": {"rows": before_rows, "errors": before_errors, "error_rate": test.base},
            "after": {"rows": int(rows), "errors": int(errors), "error_rate": test.candidate},
            "difference": test.diff, "ci": [test.ci_low, test.ci_high], "p_value": test.p_value,
            "method": test.method}
