"""Why failures belong together: the failing slice that holds them.

For each model version, slice discovery (:mod:`analysis.discovery`) ranks the slices of the
log where that version's error is significantly above the rest. Discovery lists overlapping
slices (a slice and its refinements), so groups are chosen greedily, most precise first (the
highest lower bound of the error rate): a slice becomes a group only if its failures *not*
already explained by the slices chosen before it still have an error rate above the rest of
the rows, by Fisher's exact test at a Bonferroni-corrected level over the candidates. Each
failure then goes to the first chosen slice that contains it; failures no slice explains form
one "other failures" group per version.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.data.roles import RoleMap
from analysis.discovery.failing_slices import DiscoverySettings, failing_slices, row_error_sql
from analysis.metrics.per_version import timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.slices import And, Everything, Predicate, Slice, all_of, to_sql
from analysis.stats.comparison import wilson
from analysis.store import Store

SIGNIFICANCE = 0.05
CANDIDATES = 10
"""Slices discovery proposes per version; a group needs a failure pattern among the worst ten."""


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


def group_failures(store: Store, dataset: Dataset, roles: RoleMap, condition: Sql | None, failures: pd.DataFrame,
                   cancel: CancelToken = NEVER_CANCELLED) -> list[FoundGroup]:
    """Group ``failures`` (rows of ``dataset`` with ``row_number`` and ``version``) by failing slice."""
    found: list[FoundGroup] = []
    versions = failures["version"].dropna().unique().tolist() if roles.model_version else [None]
    for version in sorted(versions, key=str):
        of_version = failures if version is None else failures[failures["version"] == version]
        scope = version_scope(roles, version) & condition if version is not None else condition
        chosen = _chosen_slices(store, dataset, roles, condition, scope, version, cancel)
        owner = _first_containing(store, dataset, scope, [s.predicate for s in chosen], of_version["row_number"])
        for index, slice_ in enumerate(chosen):
            rows = tuple(int(r) for r in of_version["row_number"][owner == index])
            if rows:
                evidence = slice_evidence(store, dataset, roles, scope, slice_.predicate)
                found.append(FoundGroup(f"slice:{version}:{slice_.name}", "slice", _title(version, slice_.name),
                                        version, slice_, evidence, rows))
        rest = tuple(int(r) for r in of_version["row_number"][owner < 0])
        if rest:
            evidence = slice_evidence(store, dataset, roles, scope, Everything)
            found.append(FoundGroup(f"unexplained:{version}", "unexplained",
                                    _title(version, "failures no failing slice explains"), version, None, evidence,
                                    rest))
    return found


def slice_evidence(store: Store, dataset: Dataset, roles: RoleMap, scope: Sql | None, predicate: Predicate) -> dict:
    """The slice's error rate with its 95% interval, overall and per day: the group's impact."""
    error = row_error_sql(dataset, roles, "misclass")
    where = Sql(f"({error}) IS NOT NULL") & scope & to_sql(predicate)
    rows, errors = store.rows(Sql(f"SELECT count(*), coalesce(sum({error}), 0) FROM {ident(dataset.view)} "
                                  f"WHERE {where.text}", where.params))[0]
    evidence: dict[str, Any] = {"rows": int(rows), "errors": int(errors),
                                "error_rate": errors / rows if rows else None,
                                "ci": list(wilson(int(errors), int(rows))) if rows else None, "series": []}
    if roles.timestamp:
        ts = timestamp_expr(dataset, roles)
        daily = store.rows(Sql(f"SELECT date_trunc('day', {ts}) AS day, count(*), sum({error}), max({ts}) "
                               f"FROM {ident(dataset.view)} WHERE {where.text} GROUP BY 1 ORDER BY 1", where.params))
        evidence["series"] = [{"day": day.isoformat(), "rows": int(n), "errors": int(e),
                               "error_rate": e / n, "ci": list(wilson(int(e), int(n)))} for day, n, e, _ in daily]
        evidence["period_end"] = max((last for *_, last in daily), default=None)
        if isinstance(evidence["period_end"], _dt.datetime):
            evidence["period_end"] = evidence["period_end"].isoformat()
    return evidence


def _chosen_slices(store, dataset, roles, condition, scope, version, cancel) -> list[Slice]:
    settings = DiscoverySettings(version=version, k=CANDIDATES)
    candidates = failing_slices(store, dataset, roles, settings, condition, cancel=cancel)
    candidates = sorted(candidates, key=lambda s: -s.ci_low)
    error = row_error_sql(dataset, roles, "misclass")
    labelled = Sql(f"({error}) IS NOT NULL") & scope
    chosen: list[Slice] = []
    for candidate in candidates:
        slice_ = candidate.to_slice()
        residual = all_of([slice_.predicate] + [~c.predicate for c in chosen])
        inside = to_sql(residual)
        counts = store.rows(Sql(
            f"SELECT count(*) FILTER (WHERE {inside.text}), coalesce(sum({error}) FILTER (WHERE {inside.text}), 0), "
            f"count(*), coalesce(sum({error}), 0) FROM {ident(dataset.view)} WHERE {labelled.text}",
            inside.params + inside.params + labelled.params))[0]
        if _beats_the_rest(*(int(c) for c in counts), level=SIGNIFICANCE / max(1, len(candidates))):
            chosen.append(slice_)
    return _most_general(chosen)


def _most_general(chosen: list[Slice]) -> list[Slice]:
    """Drop chosen slices that refine another chosen one (their failures are the general
    slice's too), and order what remains by precision: the lower bound of its error rate
    was the order of ``chosen``, so a general slice keeps its own place."""
    conditions = [_conditions(s.predicate) for s in chosen]
    return [s for s, own in zip(chosen, conditions) if not any(other < own for other in conditions)]


def _conditions(predicate: Predicate) -> frozenset[Predicate]:
    return frozenset(predicate.parts) if isinstance(predicate, And) else frozenset({predicate})


def _beats_the_rest(rows: int, errors: int, all_rows: int, all_errors: int, level: float) -> bool:
    """Is the error rate of these rows above that of every other row, beyond chance?"""
    other_rows, other_errors = all_rows - rows, all_errors - errors
    if rows == 0 or other_rows == 0:
        return False
    table = [[errors, rows - errors], [other_errors, other_rows - other_errors]]
    return stats.fisher_exact(table, alternative="greater").pvalue < level


def _first_containing(store, dataset, scope, predicates: list[Predicate], row_numbers: pd.Series) -> pd.Series:
    """For each row number, the index of the first predicate it satisfies, or -1."""
    if not predicates or row_numbers.empty:
        return pd.Series(-1, index=row_numbers.index)
    cases = [to_sql(p) for p in predicates]
    case_text = " ".join(f"WHEN {c.text} THEN {i}" for i, c in enumerate(cases))
    params = tuple(p for c in cases for p in c.params)
    frame = pd.DataFrame({"row_number": row_numbers.astype("int64").to_numpy()})
    cur = store.cursor()
    try:
        cur.register("_sleuth_failures", frame)
        owners = cur.execute(
            f"SELECT f.row_number, CASE {case_text} ELSE -1 END FROM _sleuth_failures f "
            f"JOIN {ident(dataset.view)} v ON v.{ident(ROW_ID)} = f.row_number", list(params)).fetchall()
    finally:
        cur.close()
    by_row = dict(owners)
    return row_numbers.map(lambda r: by_row.get(int(r), -1))


def version_scope(roles: RoleMap, version: str) -> Sql:
    """The rows of one model version (compared as text, as the queue stores versions)."""
    if roles.model_version is None:
        raise SchemaError("this log has no model version column, so no version can be chosen")
    return Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (version,))


def _title(version: str | None, what: str) -> str:
    return f"{what} ({version})" if version else what
