"""The golden set: production requests whose correct answer is known, kept to test candidates.

Evaluation is a loop that grows the validation set from production failures. "Add to the
golden set" copies requests out of a log into the workspace: their inputs, the correct label,
and a link to the source prediction (dataset, row id, version) with whether it was right. Each
addition makes a new golden-set version and every version is kept: version N is every request
added by additions 1..N, so a gate run last month can be rerun on the same requests.
Requests are keyed by their id: adding the same request again does not duplicate it.

Requests are grouped (the failure group or filter they came from), and the gate judges a
candidate per group (see :mod:`analysis.golden.gate`).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import InputError, SchemaError
from analysis.metrics.outcomes import class_text, outcomes
from analysis.report.formatting import json_value
from analysis.query import ROW_ID, Sql, ident, where_clause
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.store import Store
from analysis.workspace.workspace_file import Workspace

@dataclass(frozen=True)
class Addition:
    """What one "add to the golden set" did."""

    version: int
    added: int
    duplicates: int
    unlabelled: int


def golden_versions(workspace: Workspace) -> list[dict]:
    """Every golden-set version, oldest first: number, group, source, requests added, when."""
    rows = workspace.fetch(Sql("SELECT golden_version, golden_group, source, added, saved_at "
                               "FROM golden_versions ORDER BY golden_version"))
    return [{"version": v, "group": g, "source": s, "added": a, "saved_at": t.isoformat()} for v, g, s, a, t in rows]


def golden_requests(workspace: Workspace, version: int | None = None) -> pd.DataFrame:
    """The requests of golden-set ``version`` (default the latest), in the order added."""
    columns = ("golden_version", "request_id", "golden_group", "source_dataset", "source_row", "source_version",
               "label", "recorded_prediction", "recorded_score", "recorded_correct", "inputs")
    known = [v["version"] for v in golden_versions(workspace)]
    if version is not None and version not in known:
        raise SchemaError(f"the golden set has versions 1 to {max(known, default=0)}, not {version}",
                          file=str(workspace.path))
    upto = Sql(" WHERE golden_version <= ?", (version,)) if version is not None else Sql("")
    rows = workspace.fetch(Sql(f"SELECT {', '.join(columns)} FROM golden_requests{upto.text} "
                               "ORDER BY golden_version, source_row", upto.params))
    return pd.DataFrame(rows, columns=list(columns))


def add_to_golden(scope: Scope, workspace: Workspace, group: str, source: str) -> Addition:
    """Copy the labelled requests of ``dataset`` in ``condition`` into a new golden-set version."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.id is None:
        raise SchemaError("the golden set keys requests by id, and this log has no id column")
    if roles.label is None or roles.task is TaskType.REGRESSION:
        raise SchemaError("the golden set holds classified requests with their correct label; this log has "
                          + ("no label column" if roles.label is None else "a regression target"))
    out = outcomes(roles, dataset.columns)
    if out.is_correct is None:
        raise SchemaError("this log has no prediction or score, so no source prediction can be linked")
    labelled = _labelled_rows(store, dataset, roles, condition)
    without_label = where_clause(Sql(f"NOT {out.has_label}") & condition)
    unlabelled = int(store.scalar(Sql(f"SELECT COUNT(*) FROM {ident(dataset.view)}{without_label.text}",
                                      without_label.params)))
    existing = {r[0] for r in workspace.fetch(Sql("SELECT request_id FROM golden_requests"))}
    fresh = labelled[~labelled["_id"].isin(existing)].drop_duplicates("_id")
    duplicates = len(labelled) - len(fresh)
    version = max((v["version"] for v in golden_versions(workspace)), default=0) + 1
    if fresh.empty:
        return Addition(version - 1, 0, duplicates, unlabelled)
    features = list(roles.features)
    inputs = fresh[features].to_json(orient="records", lines=True, date_format="iso").splitlines()
    predictions = [json.dumps(json_value(v)) for v in fresh["_prediction"]]
    columns = [
        [version] * len(fresh), fresh["_id"].tolist(), [group] * len(fresh), [dataset.name] * len(fresh),
        fresh["_row"].astype("int64").tolist(), fresh["_version"].tolist(),
        fresh["_label"].tolist(), predictions,
        fresh["_score"].tolist(),
        [bool(c) for c in fresh["_correct"]], inputs,
    ]
    types = ["INTEGER", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE",
             "BOOLEAN", "VARCHAR"]
    unnested = ", ".join(f"UNNEST(?::{t}[])" for t in types)
    workspace.edit([
        Sql(f"INSERT INTO golden_requests SELECT {unnested}", tuple([json_value(v) for v in c] for c in columns)),
        Sql("INSERT INTO golden_versions VALUES (?, ?, ?, ?, ?)",
            (version, group, source, len(fresh), _dt.datetime.now())),
    ])
    return Addition(version, len(fresh), duplicates, unlabelled)


def _labelled_rows(store: Store, dataset: Dataset, roles: RoleMap, condition: Sql | None) -> pd.DataFrame:
    """The labelled rows in ``condition`` (only they can be golden): id, row id, version, label
    text, the source prediction and whether it was right, features."""
    out = outcomes(roles, dataset.columns)
    label = class_text(ident(roles.label), dataset.column(roles.label).dtype)
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)" if roles.model_version else "NULL"
    prediction = ident(roles.prediction) if roles.prediction else "NULL"
    score = ident(roles.scores[0]) if roles.scores and roles.task is TaskType.BINARY else "NULL"
    where = where_clause(Sql(out.has_label) & condition)
    select = (f"SELECT CAST({ident(roles.id)} AS VARCHAR) AS _id, {ident(ROW_ID)} AS _row, {version} AS _version, "
              f"{label} AS _label, {prediction} AS _prediction, "
              f"CAST({score} AS DOUBLE) AS _score, coalesce({out.is_correct}, 0) AS _correct, "
              f"{', '.join(ident(f) for f in roles.features) or 'NULL AS _none'} "
              f"FROM {ident(dataset.view)}{where.text} ORDER BY {ident(ROW_ID)}")
    return store.df(Sql(select, where.params))


def export_golden(workspace: Workspace, out: str | Path, version: int | None = None) -> int:
    """Write golden-set ``version`` (default the latest) as Parquet: the inputs as columns, then
    the golden columns (``golden_*``, ``source_*``, ``label``, ``recorded_*``); returns rows."""
    requests = golden_requests(workspace, version)
    if requests.empty:
        raise InputError("the golden set is empty: add requests with `sleuth golden add` first",
                         file=str(workspace.path))
    inputs = pd.DataFrame([json.loads(text) for text in requests["inputs"]], index=requests.index)
    golden = requests.drop(columns=["inputs"])
    inputs = inputs[[c for c in inputs.columns if c not in golden.columns]]
    pd.concat([inputs, golden], axis=1).to_parquet(out, index=False)
    return len(requests)


def golden_condition(scope: Scope, request_ids: list[str]) -> Sql:
    """Rows of ``dataset`` whose request is in ``request_ids`` (kept in a table of the store,
    which every cursor sees); refused when the log has none of them."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.id is None:
        raise SchemaError("restricting to the golden set matches requests by id, and this log has no id column")
    table = store.new_name("golden_ids")
    store.execute(Sql(f"CREATE TABLE {ident(table)} AS SELECT UNNEST(?::VARCHAR[]) AS id", (request_ids,)))
    condition = Sql(f"CAST({ident(roles.id)} AS VARCHAR) IN (SELECT id FROM {ident(table)})")
    if not store.scalar(Sql(f"SELECT COUNT(*) FROM {ident(dataset.view)} WHERE {condition.text}")):
        raise SchemaError(f"none of the {len(request_ids):,} golden requests is in this log", column=roles.id,
                          file=", ".join(dataset.paths))
    return condition
