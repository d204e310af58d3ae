"""A rule set evaluated over a log: the derived version's rows, next to the logged ones.

:func:`with_rule_versions` replaces a dataset's view by ``UNION ALL`` of the logged rows and,
per derived version, the base version's rows rewritten by the rules: the first rule whose
slice holds for a row gives its output (a fixed prediction/score, or the routed version's
output for the same request id); other rows keep the base's output. The version column holds
the derived name, so metrics, breakdowns, the time plot and compare read a derived version
exactly as a logged one, paired with the other versions by request id.

A routed request that the other version did not score keeps the base's output: there is
nothing else to answer with, and a comparison paired by id only reads requests both scored.
The logged view stays, renamed to :func:`analysis.data.loading.logged_view_name`, as the
source; the rules' outputs are kept in :func:`analysis.data.loading.rules_table_name`. Row ids
stay dense: derived rows are numbered after the logged ones, in the base rows' order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

import duckdb

from analysis.dataset import Column, Dataset, LoadReport
from analysis.data.loading import logged_view_name, rules_table_name
from analysis.data.open_log import LoadedLog, load_log
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken, Cancelled
from analysis.metrics.outcomes import normalise_class, outcomes
from analysis.query import ROW_ID, Sql, ident, inline, literal
from analysis.data.roles import RoleMap, TaskType
from analysis.rules.rule_set import FixedOutput, Output, Route, RuleSet, latest_name
from analysis.scope import Scope
from analysis.slicing.parser import type_family
from analysis.slices import to_sql
from analysis.store import Store

RULE_COLUMN = "_sleuth_rule"
SOURCE, DESTINATION, VERSION = "_sleuth_source_row", "_sleuth_row", "_sleuth_version"
"""Columns of the outputs table: the base row, the derived row's id, the derived version."""


def with_rule_versions(scope: Scope, derived: Mapping[str, RuleSet],
                       cancel: CancelToken = NEVER_CANCELLED) -> Dataset:
    """``dataset`` with a version per entry of ``derived`` (derived name -> rule set).

    The rules' outputs are computed once into a narrow table (row ids and outcome columns),
    which the view joins to the logged rows: a page of the table or an aggregate then costs
    a join on the row id, not the rule evaluation, the routing join and a window every time.
    Called again on the same dataset, it replaces the derived versions it added before (the
    logged rows are always the source). Everything is checked before anything changes, and
    what DuckDB refuses leaves the dataset as it was.
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    logged = logged_view_name(dataset.view)
    if not derived and not has_view(store, logged):
        return dataset
    if roles.model_version is None:
        raise SchemaError("rules are put in front of a version, and this log has no model version column")
    versions = logged_versions(scope)
    outputs, first_row = [], sum(versions.values())
    for name, rule_set in derived.items():
        check_rule_set(dataset, roles, rule_set, versions)
        if name in versions:
            raise SchemaError(f"the log already has a version called '{name}', the name of a rule set's version",
                              column=roles.model_version)
        outputs.append(_derived_outputs(store, dataset, roles, logged, name, rule_set, first_row))
        first_row += versions[rule_set.base]
    renamed = not has_view(store, logged)
    if renamed:
        store.execute(f"ALTER VIEW {ident(dataset.view)} RENAME TO {ident(logged)}")
    try:
        _create_derived_view(store, dataset, roles, outputs, cancel)
    except (duckdb.Error, Cancelled) as exc:
        if renamed:
            store.execute(f"DROP VIEW IF EXISTS {ident(dataset.view)}")
            store.execute(f"ALTER VIEW {ident(logged)} RENAME TO {ident(dataset.view)}")
        if isinstance(exc, Cancelled):
            raise
        raise SchemaError(f"the rules cannot be evaluated on this log ({str(exc).splitlines()[0]})") from exc
    described = store.rows(f"DESCRIBE {ident(dataset.view)}")
    columns = tuple(Column(n, dtype) for n, dtype, *_ in described if n != ROW_ID)
    return replace(dataset, columns=columns, row_count=first_row)


def _create_derived_view(store: Store, dataset: Dataset, roles: RoleMap, outputs: list[str],
                         cancel: CancelToken) -> None:
    """The outputs table (when there are derived versions) and the view over logged + derived rows."""
    logged, table = ident(logged_view_name(dataset.view)), ident(rules_table_name(dataset.view))
    version = ident(roles.model_version)
    parts = [f"SELECT {_replacing(store, logged, '', {roles.model_version: f'CAST({version} AS VARCHAR)'})} "
             f"FROM {logged}"]
    if outputs:
        store.execute(f"CREATE OR REPLACE TABLE {table} AS {' UNION ALL '.join(outputs)} ORDER BY {DESTINATION}",
                      cancel)
        replaced = {roles.model_version: f"t.{ident(VERSION)}", ROW_ID: f"t.{ident(DESTINATION)}",
                    **{c: f"t.{ident(c)}" for c in outcome_columns(roles)}}
        parts.append(f"SELECT {_replacing(store, logged, 'b.', replaced)} FROM {logged} AS b JOIN {table} AS t "
                     f"ON b.{ident(ROW_ID)} = t.{ident(SOURCE)}")
    store.execute(f"CREATE OR REPLACE VIEW {ident(dataset.view)} AS {' UNION ALL '.join(parts)}")
    if not outputs:
        store.execute(f"DROP TABLE IF EXISTS {table}")


def _replacing(store: Store, view: str, prefix: str, replaced: Mapping[str, str]) -> str:
    """``{prefix}* REPLACE (...)`` written out column by column, in the view's order: DuckDB's
    ``REPLACE`` has no Spark form, and the list is the same SQL on both engines."""
    names = [name for name, *_ in store.rows(f"DESCRIBE {view}")]
    return ", ".join(f"{replaced[name]} AS {ident(name)}" if name in replaced else f"{prefix}{ident(name)}"
                     for name in names)


def has_view(store: Store, name: str) -> bool:
    """Whether ``name`` is a view of the store (the logged rows' view exists once rules were added)."""
    return bool(store.scalar(Sql("SELECT COUNT(*) FROM duckdb_views() WHERE view_name = ?", (name,))))


def load_log_with_rules(store: Store, specs: Sequence[str], saved: Sequence[RuleSet], *,
                        cancel: CancelToken = NEVER_CANCELLED, **options) -> LoadedLog:
    """:func:`analysis.data.open_log.load_log` (same ``options``), then :func:`with_latest_rules`."""
    return with_latest_rules(store, load_log(store, specs, cancel=cancel, **options), saved, cancel)


def with_latest_rules(store: Store, loaded: LoadedLog, saved: Sequence[RuleSet],
                      cancel: CancelToken = NEVER_CANCELLED) -> LoadedLog:
    """``loaded`` with ``BASE+rules`` added for the latest saved rule set of each of its versions.

    What the window opens: a workspace may hold several logs, so rule sets on versions this log
    does not have are left out, and a rule set that cannot run on it (a column it lacks) is
    named in the load report instead of keeping the log from opening.
    """
    dataset, roles = loaded.dataset, loaded.roles
    if roles.model_version is None or not saved:
        return loaded
    versions = logged_versions(Scope(store, dataset, roles))
    latest = {r.base: r for r in saved if r.base in versions}
    usable, skipped = {}, []
    for base, rule_set in latest.items():
        try:
            check_rule_set(dataset, roles, rule_set, versions)
            usable[latest_name(base)] = rule_set
        except SchemaError as exc:
            skipped.append(f"rule set {rule_set.name} left out: {exc}")
    dataset = with_rule_versions(Scope(store, dataset, roles), usable, cancel)
    report = LoadReport(dataset.report.skipped, dataset.report.warnings + tuple(skipped))
    return replace(loaded, dataset=replace(dataset, report=report))


def logged_versions(scope: Scope) -> dict[str, int]:
    """Rows per version in the log, derived versions left out."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    logged = logged_view_name(dataset.view)
    source = logged if has_view(store, logged) else dataset.view
    rows = store.rows(f"SELECT {version}, COUNT(*) FROM {ident(source)} GROUP BY 1")
    return {v: int(n) for v, n in rows if v is not None}


def check_rule_set(dataset: Dataset, roles: RoleMap, rule_set: RuleSet, versions: Mapping[str, int]) -> None:
    """Refuse, in one sentence, a rule set that cannot be evaluated on this log."""
    known = ", ".join(sorted(versions))
    if rule_set.base not in versions:
        raise SchemaError(f"the rules' base version '{rule_set.base}' is not in the log (versions: {known})",
                          file=", ".join(dataset.paths))
    for position, rule in enumerate(rule_set.rules, 1):
        missing = sorted(rule.where.columns - set(dataset.column_names) - {ROW_ID})
        if missing:
            raise SchemaError(f"rule {position} of '{rule_set.name}' reads a column the log does not have",
                              column=missing[0])
        if isinstance(rule.action, Route):
            if roles.id is None:
                raise SchemaError("routing to another version joins its rows by request id, and this log has "
                                  "no id column")
            if rule.action.version not in versions:
                raise SchemaError(f"rule {position} of '{rule_set.name}' routes to '{rule.action.version}', "
                                  f"which is not in the log (versions: {known})")


def outcome_columns(roles: RoleMap) -> list[str]:
    """The columns a rule rewrites: the prediction and every score column."""
    return list(dict.fromkeys(c for c in (roles.prediction, *roles.scores) if c is not None))


def _derived_outputs(store: Store, dataset: Dataset, roles: RoleMap, logged: str, name: str, rule_set: RuleSet,
                     first_row: int) -> str:
    """The outputs of version ``name`` per base row: its row id, new id and outcome columns."""
    version, source = ident(roles.model_version), ident(logged)
    columns = outcome_columns(roles)
    routes = list(dict.fromkeys(r.action.version for r in rule_set.rules if isinstance(r.action, Route)))
    joins = []
    for i, target in enumerate(routes):
        key = f"CAST({ident(roles.id)} AS VARCHAR)"
        picked = ", ".join(f"{ident(c)} AS {_route_column(i, j)}" for j, c in enumerate(columns))
        joins.append(
            f" LEFT JOIN (SELECT {key} AS {_route_key(i)}, {picked} FROM {source} "
            f"WHERE CAST({version} AS VARCHAR) = {literal(target)} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ident(ROW_ID)}) = 1) AS r{i} "
            f"ON CAST(b.{ident(roles.id)} AS VARCHAR) = r{i}.{_route_key(i)}"
        )
    whens = " ".join(f"WHEN coalesce(({inline(to_sql(rule.where.predicate))}), FALSE) THEN {k}"
                     for k, rule in enumerate(rule_set.rules, 1))
    matched = f"CASE {whens} END" if whens else "CAST(NULL AS INTEGER)"
    marked = (f"SELECT b.*, {matched} AS {ident(RULE_COLUMN)}"
              + "".join(f", r{i}.*" for i in range(len(routes)))
              + f" FROM {source} AS b{''.join(joins)} WHERE CAST(b.{version} AS VARCHAR) = {literal(rule_set.base)}")
    fixed = {k: fixed_values(Scope(store, dataset, roles), rule.action)
             for k, rule in enumerate(rule_set.rules, 1) if isinstance(rule.action, FixedOutput)}
    rewritten = []
    for j, column in enumerate(columns):
        cases = []
        for k, rule in enumerate(rule_set.rules, 1):
            if isinstance(rule.action, Route):
                i = routes.index(rule.action.version)
                cases.append(f"WHEN {k} THEN CASE WHEN {_route_key(i)} IS NULL THEN {ident(column)} "
                             f"ELSE {_route_column(i, j)} END")
            elif column in fixed[k]:
                cases.append(f"WHEN {k} THEN {fixed[k][column]}")
        rewritten.append(f"CASE {ident(RULE_COLUMN)} {' '.join(cases)} ELSE {ident(column)} END AS {ident(column)}"
                         if cases else f"{ident(column)} AS {ident(column)}")
    numbered = [f"{ident(ROW_ID)} AS {ident(SOURCE)}",
                f"{first_row - 1} + row_number() OVER (ORDER BY {ident(ROW_ID)}) AS {ident(DESTINATION)}",
                f"{literal(name)} AS {ident(VERSION)}"]
    return f"SELECT {', '.join(numbered + rewritten)} FROM ({marked})"


def _route_key(i: int) -> str:
    return ident(f"_sleuth_route{i}_key")


def _route_column(i: int, j: int) -> str:
    return ident(f"_sleuth_route{i}_{j}")


# --- fixed outputs -----------------------------------------------------------------------


def typed_output(text: str, dataset: Dataset, roles: RoleMap) -> Output:
    """A prediction typed on the command line, as a value of the log's prediction column."""
    column = predicted_column(roles)
    if column is None:
        return text
    family = type_family(dataset.column(column).dtype)
    try:
        if family == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "1")
        if family == "number":
            number = float(text)
            integral = dataset.column(column).dtype.upper().split("(")[0] not in ("FLOAT", "DOUBLE", "REAL", "DECIMAL")
            if integral and not number.is_integer():
                raise ValueError(text)
            return int(number) if integral else number
    except ValueError:
        raise SchemaError(f"the prediction {text!r} is not a value of this column "
                          f"({dataset.column(column).dtype})", column=column) from None
    return text


def predicted_column(roles: RoleMap) -> str | None:
    """The column holding the predicted value: the prediction, or a regression's score."""
    if roles.prediction is not None:
        return roles.prediction
    return roles.scores[0] if roles.task is TaskType.REGRESSION and roles.scores else None


def fixed_values(scope: Scope, action: FixedOutput) -> dict[str, str]:
    """SQL literal per outcome column for a fixed output.

    Without an explicit score, a classifier's scores follow the prediction: probability 1 for
    the predicted class and 0 for the others, which is what a deterministic rule claims.
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    values: dict[str, str] = {}
    column = predicted_column(roles)
    if column is not None:
        values[column] = literal(action.prediction)
    if roles.task is TaskType.REGRESSION or not roles.scores:
        if action.score is not None:
            raise SchemaError("this log has no probability score for a rule's --score to replace")
        return values
    if roles.task is TaskType.BINARY:
        values[roles.scores[0]] = literal(float(action.score if action.score is not None
                                                else _predicts_positive(store, dataset, roles, action.prediction)))
        return values
    label_dtype = dataset.column(roles.label).dtype if roles.label else "VARCHAR"
    predicted = normalise_class(str(action.prediction).lower() if isinstance(action.prediction, bool)
                                else str(action.prediction), label_dtype)
    classes = [normalise_class(c, label_dtype) for c in roles.score_classes]
    if predicted not in classes:
        raise SchemaError(f"the prediction {action.prediction!r} is not one of the scored classes "
                          f"({', '.join(classes)})")
    top = 1.0 if action.score is None else action.score
    rest = (1.0 - top) / (len(classes) - 1) if len(classes) > 1 else 0.0
    for score_column, cls in zip(roles.scores, classes):
        values[score_column] = literal(top if cls == predicted else rest)
    return values


def _predicts_positive(store: Store, dataset: Dataset, roles: RoleMap, prediction: Output) -> int:
    """1 when ``prediction`` in the prediction column means the positive class, else 0, read
    through the same expression the metrics use."""
    if roles.prediction is None:
        raise SchemaError("this log has only a score, so a fixed prediction needs its score: add --score P")
    y_pred = outcomes(roles, dataset.columns).y_pred
    one_row = Sql(f"SELECT {y_pred} FROM (SELECT {literal(prediction)} AS {ident(roles.prediction)})")
    return int(store.scalar(one_row) or 0)

