"""What the review shows as a group's cause, beyond its slice: is the slice a regression of its
version, and which check finding's sentence and cells explain it.

**Regressed slice.** Its version against the version served before it, on the slice.

The review asks of a failing slice whether the newer model broke it or it was always weak. The
group's version is compared with its predecessor in the log (the other version whose first
request came last before the group version's first request). The first version of a shadow
deployment has none; it is compared with the version served alongside it, the one that scored
most of the same requests (paired by request id), and the evidence says which comparison was
used (``relation``: ``before`` or ``alongside``). The test is compare's own on the slice's rows (McNemar when the versions scored the same requests, Fisher otherwise; see
:func:`analysis.compare.comparison.compare_versions`), with each version's error rate and Wilson
interval beside it. "Regressed" is compare's "significantly worse" (p < :data:`ALPHA`). The
slice was found on the group version's failures, so its p-value is that of a slice chosen by
the data; the room reads it with the two intervals, not alone.

:func:`version_evidence` reads the log only (a window runs it on a worker);
:func:`attach_version_evidence` keeps the result in the group's evidence, where the meeting
and the report read it.

**Finding.** A group found by a check finding carries that finding's key in its own key; the
finding's sentence and numbers are those the last check run in the window kept in the
workspace (:func:`group_finding`).
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any, Iterable, Sequence

from analysis.compare.comparison import (
    COMPARED, Rows, accuracy_tests, compared_rows, complement, grouped_by_slice, pair_versions,
)
from analysis.compare.regressed_slices import ALPHA
from analysis.data.time import timestamp_expr
from analysis.discovery.failing_slices import row_error_sql
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.report.formatting import MISSING, number
from analysis.scope import Scope
from analysis.slices import Predicate, to_sql
from analysis.stats.comparison import DiffTest
from analysis.stats.intervals import wilson


BEFORE, ALONGSIDE = "before", "alongside"
"""How a group's version relates to the one it is compared with (the evidence's ``relation``)."""


def comparison_base(scope: Scope, version: str) -> tuple[str, str]:
    """The version to compare ``version`` with, and how they relate: the version served before
    it; for the log's first version, the one served alongside it (shadow traffic)."""
    try:
        return previous_version(scope, version), BEFORE
    except SchemaError as first:
        alongside = shadow_version(scope, version)
        if alongside is None:
            raise SchemaError(f"{first}, and no other version scored the same requests") from None
        return alongside, ALONGSIDE


def previous_version(scope: Scope, version: str) -> str:
    """The version served before ``version``: the latest first request among those before its own."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.model_version is None:
        raise SchemaError("the log has no model version column, so there is no earlier version to compare with")
    if roles.timestamp is None:
        raise SchemaError("the log has no timestamp, so which version came first is unknown; "
                          "compare two versions by name with sleuth compare")
    version_text = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    firsts = dict(store.rows(Sql(f"SELECT {version_text}, min({timestamp_expr(dataset, roles)}) FROM "
                                 f"{ident(dataset.view)} WHERE {version_text} IS NOT NULL GROUP BY 1")))
    if version not in firsts:
        raise SchemaError(f"version {version} has no rows in the log {dataset.name}")
    earlier = [(first, name) for name, first in firsts.items()
               if name != version and first is not None and first < firsts[version]]
    if not earlier:
        raise SchemaError(f"version {version} is the first version in the log, so this slice has no earlier "
                          "version to be compared with")
    return max(earlier)[1]


def shadow_version(scope: Scope, version: str) -> str | None:
    """The other version that scored most of ``version``'s requests (the same request ids), or
    None when the log has no request ids or no other version scored any of them."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.id is None or roles.model_version is None:
        return None
    version_text, key = (f"CAST({ident(column)} AS VARCHAR)" for column in (roles.model_version, roles.id))
    shared = store.rows(Sql(
        f"WITH mine AS (SELECT DISTINCT {key} AS request FROM {ident(dataset.view)} WHERE {version_text} = ?) "
        f"SELECT {version_text}, count(DISTINCT {key}) AS requests FROM {ident(dataset.view)} "
        f"WHERE {key} IN (SELECT request FROM mine) AND {version_text} <> ? "
        f"GROUP BY 1 ORDER BY requests DESC, 1 LIMIT 1", (version, version)))
    return shared[0][0] if shared else None


def version_evidence(scope: Scope, predicate: Predicate, version: str, cancel: CancelToken = NEVER_CANCELLED,
                     compared_with: tuple[str, str] | None = None) -> dict[str, Any]:
    """The slice's error rate in ``version`` and in the version it is compared with (see
    :func:`comparison_base`; ``compared_with`` when the caller already has it), each with its
    95% Wilson interval over its labelled rows, and compare's test of the difference."""
    return versions_evidence(scope, [predicate], version, cancel, compared_with)[0]


def versions_evidence(scope: Scope, predicates: Sequence[Predicate], version: str,
                      cancel: CancelToken = NEVER_CANCELLED,
                      compared_with: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """:func:`version_evidence` of each of a version's slices, their counts read in one pass
    over the two versions' rows and their tests in one pass per kind of pairing (see
    :func:`_error_rate_tests`): an intake's groups share a version, and three statements per
    group were most of ``queue add``'s comparison of them."""
    base, relation = compared_with or comparison_base(scope, version)
    counted = _versions_counts(scope, predicates, base, version, cancel)
    tests = _error_rate_tests(scope, predicates, base, version, cancel)
    return [{
        "base": base, "candidate": version, "relation": relation, "metric": "error_rate",
        "versions": [_version_counts(name, *counts.get(name, (0, 0))) for name in (base, version)],
        "diff": test.diff, "ci": [test.ci_low, test.ci_high], "p_value": test.p_value, "method": test.method,
        "regressed": test.p_value is not None and test.p_value < ALPHA and (test.diff or 0.0) > 0.0,
    } for counts, test in zip(counted, tests)]


def _versions_counts(scope: Scope, predicates: Sequence[Predicate], base: str, version: str,
                     cancel: CancelToken) -> list[dict[str, tuple[int, int]]]:
    """Per slice, each of the two versions' labelled rows and errors in it, from one pass
    (compare's :func:`~analysis.compare.comparison.grouped_by_slice`, its "labelled" column the
    row's error, which is NULL where the row has no label or no prediction)."""
    dataset, roles = scope.dataset, scope.roles
    version_text = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    rows = Rows(Sql(f"SELECT {version_text} AS _sleuth_version, ({row_error_sql(dataset, roles, 'misclass')}) "
                    f"AS _sleuth_error, * FROM {ident(dataset.view)} WHERE {version_text} IN (?, ?)",
                    (base, version)), "_sleuth_error")
    found = grouped_by_slice(scope.store, rows, ["_sleuth_version"], ["COUNT(*)", "sum(_sleuth_error)"],
                             [to_sql(p) for p in predicates], cancel)
    return [{name: (int(n), int(errors or 0)) for (name,), (n, errors) in groups.items()} for groups in found]


def _error_rate_tests(scope: Scope, predicates: Sequence[Predicate], base: str, version: str,
                      cancel: CancelToken) -> list[DiffTest]:
    """Compare's test of the error rate on each slice (:func:`~analysis.compare.comparison.compare_versions`
    with ``metrics=["error_rate"]``: McNemar on the pairs, Fisher unpaired), from the right and
    wrong counts alone: compare's paired verdict also sums every other metric's cells (losses,
    classes, calibration bins) in its pass over the pairs, which the queue never reads: a
    quarter of each group's comparison on the demo. Each slice is paired or not as compare
    pairs it (on its own rows); the slices paired alike are counted in one pass over the
    versions' rows, each slice a filter (:func:`~analysis.compare.comparison.accuracy_tests`),
    as compare's test of a slice counts the rows its condition keeps."""
    if "error_rate" not in COMPARED[scope.roles.task]:
        raise SchemaError(f"cannot compare error_rate for a {scope.roles.task.value} task; "
                          f"choose from {', '.join(COMPARED[scope.roles.task])}")
    whole = scope.with_condition(None)
    pairings = [pair_versions(whole.with_condition(to_sql(p)), base, version, cancel=cancel) for p in predicates]
    alike: dict[tuple[bool, bool], list[int]] = {}
    for index, pairing in enumerate(pairings):
        alike.setdefault((pairing.paired, pairing.deduplicate), []).append(index)
    tests: list[DiffTest | None] = [None] * len(predicates)
    for members in alike.values():
        read = sorted({column for i in members for column in predicates[i].columns})
        base_rows, cand_rows = compared_rows(whole, pairings[members[0]], read)
        found = accuracy_tests(scope.store, pairings[members[0]].paired, base_rows, cand_rows,
                               [to_sql(predicates[i]) for i in members], cancel)
        for i, (test, _) in zip(members, found):
            tests[i] = complement(test)
    return tests


def attach_version_evidence(queue: FailureQueue, scope: Scope, group_ids: Iterable[int]) -> list[int]:
    """Measure each group (with a slice and a version, of this dataset) against the version
    before its own, or served alongside it, and keep it in the group's evidence; groups with
    neither are left as they are. Returns the groups measured.

    Each version's comparison base is found once, and its groups are measured together
    (:func:`versions_evidence`): an intake's groups share a version or two, and finding the
    base scans the log (each version's first request, then the requests it shares)."""
    dataset = scope.dataset
    base_of = cache(partial(_comparison_base_or_none, scope))
    groups = [g for g in map(queue.group, dict.fromkeys(group_ids))
              if comparable(g, dataset.name) and base_of(g.version) is not None]
    found: dict[int, dict[str, Any]] = {}
    for version in dict.fromkeys(g.version for g in groups):
        of_version = [g for g in groups if g.version == version]
        try:
            measured = versions_evidence(scope, [g.slice.predicate for g in of_version], version,
                                         compared_with=base_of(version))
        except SchemaError:
            continue
        found.update((g.id, one) for g, one in zip(of_version, measured))
    for group in groups:
        if group.id in found:
            keep_version_evidence(queue, group, found[group.id])
    return [g.id for g in groups if g.id in found]


def _comparison_base_or_none(scope: Scope, version: str) -> tuple[str, str] | None:
    """:func:`comparison_base`, or None when the version has nothing to be compared with."""
    try:
        return comparison_base(scope, version)
    except SchemaError:
        return None


def keep_version_evidence(queue: FailureQueue, group: Group, found: dict[str, Any]) -> None:
    """Write one measurement into the group's evidence (a measurement, not an edit to undo)."""
    with queue.edit():
        queue.set_evidence(group.id, {**group.evidence, "versions": found})
        queue.record(f"group {group.id}", f"compared with {comparison_name(found)}", None,
                     {"base": found["base"], "p_value": found["p_value"], "regressed": found["regressed"]})


def comparison_verdict(found: dict[str, Any]) -> str:
    """What the comparison says of the slice: against the version before, a significantly worse
    slice *regressed*; against a version served alongside, it is only worse there."""
    if not found["regressed"]:
        return "is not significantly worse"
    return "is significantly worse" if found.get("relation") == ALONGSIDE else "regressed"


def comparison_name(found: dict[str, Any]) -> str:
    """Which comparison a version evidence holds, in words (evidence kept before ``relation``
    existed was always against the version before)."""
    if found.get("relation") == ALONGSIDE:
        return "the version served alongside it (the same requests)"
    return "the version before"


def comparable(group: Group, dataset_name: str | None = None) -> bool:
    """Whether the group names a slice and a version (of ``dataset_name`` when given) to compare."""
    return (group.slice is not None and group.version is not None
            and (dataset_name is None or group.dataset == dataset_name))


def _version_counts(version: str, rows: int, errors: int) -> dict[str, Any]:
    return {"version": version, "rows": rows, "errors": errors, "error_rate": errors / rows if rows else None,
            "ci": list(wilson(errors, rows)) if rows else None}


def group_finding(queue: FailureQueue, group: Group) -> dict[str, Any] | None:
    """The kept check finding a finding group was formed from (its JSON document), or None when
    the group is not a finding's or no check of its log was kept in the workspace."""
    if group.reason != "finding" or group.dataset is None:
        return None
    _, documents = queue.workspace.findings(group.dataset)
    return next((d for d in documents if group.key.endswith(":" + d["key"])), None)


def finding_cells(document: dict[str, Any]) -> list[tuple[str, str]]:
    """A finding as (what, value) cells: what broke, where and when, how many rows, how bad,
    then every number of its evidence."""
    start, end = document.get("window") or (None, None)
    cells = [("kind", str(document["kind"]).replace("_", " ")), ("columns", ", ".join(document.get("columns", []))),
             ("where", document.get("slice") or "all rows"),
             ("from", _moment(start)), ("until", _moment(end)),
             ("rows", f"{int(document.get('rows') or 0):,}"), ("severity", str(document.get("severity")))]
    return cells + [(str(name).replace("_", " "), _cell(value)) for name, value in (document.get("evidence") or {}).items()]


def _moment(iso: str | None) -> str:
    return MISSING if not iso else iso[:16].replace("T", " ")


def _cell(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING if value is None else str(value)
    return number(value)
