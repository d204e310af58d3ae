"""Which training batch a group's failures come from, when a training snapshot is at hand.

Trace (:mod:`analysis.trace`) sums every training row's influence over a group's failed
predictions; :func:`blamed_batch` names the source value (batch, source, date) that holds more
of the harmful influence than its size predicts, and :func:`attach_blame` keeps it in each
group's evidence, so the review sees "these failures come from batch X" next to the slice.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from analysis.data.roles import RoleMap
from analysis.dataset import Dataset
from analysis.errors import InputError, SchemaError
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.slices import to_sql
from analysis.store import Store
from analysis.trace.tracer import InfluenceCache, trace_failures


def blamed_batch(store: Store, dataset: Dataset, roles: RoleMap, group: Group, train_paths: Sequence[str],
                 model_path: str | None = None, trust: bool = False) -> tuple[dict[str, Any], int]:
    """The training batch trace blames for a group's failures, and how many failures were traced.

    Trace sums every training row's influence over the group's failed predictions; the blamed
    batch is the source value whose share of the harmful influence most exceeds its share of
    the training rows (a large batch holds much influence by size alone). Its ``p_value`` is
    trace's concentration test (Welch, Benjamini-Hochberg over every source value), so the
    review can tell a blame that beats chance from one that does not."""
    if group.slice is None:
        raise InputError(f"group {group.id} has no slice whose failures could be traced to training rows")
    traced = trace_failures(store, dataset, roles, to_sql(group.slice.predicate), group.version, train_paths,
                            model_path, trust, InfluenceCache())
    table = traced.by_source
    if table.empty:
        raise SchemaError("the training snapshot has no source, batch or date column to blame",
                          file=", ".join(train_paths))
    row_share = table["rows"] / table.groupby("column")["rows"].transform("sum")
    lift = table["harmful_share"] / row_share
    blamed = table.assign(lift=lift).sort_values("lift", ascending=False, kind="stable").iloc[0]
    return {"column": blamed["column"], "value": _plain(blamed["value"]),
            "harmful_share": float(blamed["harmful_share"]), "row_share": float(row_share[blamed.name]),
            "lift": float(blamed["lift"]), "p_value": float(blamed["p_value"])}, traced.traced


def attach_blame(queue: FailureQueue, store: Store, dataset: Dataset, roles: RoleMap, group_ids: Iterable[int],
                 train_paths: Sequence[str], model_path: str | None = None, trust: bool = False) -> list[dict]:
    """Trace each group (with a slice, of this dataset) and keep its blamed batch in its evidence."""
    blamed_groups = []
    for group_id in dict.fromkeys(group_ids):
        group = queue.group(group_id)
        if group.slice is None or group.dataset != dataset.name:
            continue
        blamed, traced = blamed_batch(store, dataset, roles, group, train_paths, model_path, trust)
        with queue.edit():
            queue.set_evidence(group.id, {**group.evidence, "blamed_batch": {**blamed, "traced_failures": traced}})
            queue.record(f"group {group.id}", "blamed training batch", None, blamed)
        blamed_groups.append({"group": group.id, "title": group.title, **blamed})
    return blamed_groups


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
