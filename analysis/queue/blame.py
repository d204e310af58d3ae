"""Which training batch failures come from, when a training snapshot and model are at hand.

Two questions. Per failure (:func:`batch_groups`, used by grouping): which batch drives *this*
failure (:mod:`analysis.trace.batch_blame`), so failures blamed on the same batch form one
group. Per existing group (:func:`blamed_batch`, :func:`attach_blame`): trace sums every
training row's influence over the group's failed predictions and names the source value
(batch, source, date) that holds more of the harmful influence than its size predicts, kept
in the group's evidence so the review sees "these failures come from batch X" next to the slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import InputError, SchemaError
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.metrics.outcomes import outcomes
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.store import Store
from analysis.trace.batch_blame import blame_batches, tested_at_most
from analysis.trace.tracer import InfluenceCache, LoadedLog, TraceSettings, TrainingFiles, trace_failures
from analysis.workspace.version_cards import VersionCard


TRACE_AT_MOST = 500
"""Failures per version that intake traces to a training batch; above it, a seeded uniform
sample of this many is traced and the group's evidence says "traced 500 of 1,448 failures".
Blame costs about 0.02 s per failure for boosted trees on a loaded 2-core machine (1,448 took
30 s with BoostIn as a dense-plus-sparse product; 134 s before), so 500 keeps an intake's blame
near 10 s, while a batch behind even 5% of the failures is still expected in ~25 of the traced
ones. ``sleuth queue add --trace-at-most N``
changes it."""
TRACE_SAMPLE_SEED = 0
_RIGHT = "_sleuth_right"
PREPARATION_SHARE = 0.2
"""Part of a version's blame progress given to preparing the influence (once per model)."""


@dataclass(frozen=True)
class TraceSource:
    """What one version's failures are traced through: the training snapshot and model file a
    version card (or the workspace) names; ``trust`` only after the person agreed to it."""

    snapshot_paths: tuple[str, ...]
    model_path: str | None
    trust: bool = False


def traces_from_cards(cards: Mapping[str, VersionCard]) -> dict[str, TraceSource]:
    """The versions whose card names both a training snapshot and a model file. A card never
    grants trust: a model that needs it (a pickle) is refused with its sentence when traced."""
    return {version: TraceSource((card.training_snapshot,), card.model_file)
            for version, card in cards.items() if card.training_snapshot and card.model_file}


@dataclass(frozen=True)
class BatchGroup:
    """Failures (row numbers) whose blame names the same training batch, and that blame."""

    key: str
    title: str
    blamed: dict[str, Any]
    rows: tuple[int, ...]


def batch_groups(scope: Scope, version: str | None, row_numbers: pd.Series, source: TraceSource,
                 cache: InfluenceCache, at_most: int = TRACE_AT_MOST, cancel: CancelToken = NEVER_CANCELLED,
                 progress: Progress = no_progress) -> list[BatchGroup]:
    """Blame each failure (row numbers of ``version``; a uniform sample of ``at_most`` when
    there are more, see :data:`TRACE_AT_MOST`) on a training batch, all in one pass over the
    prepared influence, and group the failures blamed on the same batch, largest first.

    ``scope`` holds the version's rows a batch's removal is tested on (the failures it fixes
    against the correct predictions it breaks; all labelled rows or a sample, see
    :func:`~analysis.trace.batch_blame.tested_at_most`): the version's whole log, not only the
    rows of this intake, because whether a batch harms the model is a question about the model,
    and a week's rows leave the test without power (on the demo, the flipped batch's second
    October week alone: 118 fixes against 94 breaks, p 0.23; the month: p 1e-5). The failures
    left out of the sample are not blamed: grouping gives them to their slice."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if row_numbers.empty:
        return []
    traced = traced_sample(row_numbers, at_most)
    ready = cache.prepared(store, list(source.snapshot_paths), source.model_path, source.trust,
                           LoadedLog(dataset, roles, ()), progress=scaled(progress, 0.0, PREPARATION_SHARE),
                           cancel=cancel)
    rows = _log_rows(store, dataset, traced)
    missing = [c for c in ready.features if c not in rows.columns]
    if missing:
        raise SchemaError(f"the log lacks the model's feature column(s) {', '.join(missing)}")
    tested = _tested_rows(scope, tested_at_most(ready))
    blame = blame_batches(ready, rows, rows[roles.label], tested, tested[roles.label], tested[_RIGHT].to_numpy(),
                          cancel=cancel, progress=scaled(progress, PREPARATION_SHARE, 1.0))
    blamed = blame.blamed()
    groups = []
    for batch in np.unique(blamed[blamed >= 0]):
        members = np.flatnonzero(blamed == batch)
        summary = {**blame.summary(members, int(batch)), "traced_failures": len(traced),
                   "version_failures": len(row_numbers)}
        what = f"blamed training batch {summary['column']} = {summary['value']}"
        groups.append(BatchGroup(f"batch:{version}:{summary['column']}={summary['value']}",
                                 f"{what} ({version})" if version else what, summary,
                                 tuple(int(r) for r in rows[ROW_ID].to_numpy()[members])))
    return sorted(groups, key=lambda g: -len(g.rows))


def _tested_rows(scope: Scope, at_most: int) -> pd.DataFrame:
    """The scope's labelled predictions, whole, with whether each is right (column
    :data:`_RIGHT`): all of them, or ``at_most`` chosen by a hash of the row number (the same
    log gives the same rows)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    out = outcomes(roles, dataset.columns)
    where = Sql(f"{out.has_label} AND ({out.is_correct}) IS NOT NULL") & scope.condition
    return store.df(Sql(f"SELECT *, ({out.is_correct}) = 1 AS {ident(_RIGHT)} FROM {ident(dataset.view)} "
                        f"WHERE {where.text} ORDER BY hash({ident(ROW_ID)} + {TRACE_SAMPLE_SEED}) "
                        f"LIMIT {int(at_most)}", where.params))


def traced_sample(row_numbers: pd.Series, at_most: int) -> pd.Series:
    """The failures a version's blame traces: all of them, or a seeded uniform sample of
    ``at_most`` (so the same log gives the same groups every time)."""
    if len(row_numbers) <= at_most:
        return row_numbers
    rng = np.random.default_rng(TRACE_SAMPLE_SEED)
    return row_numbers.iloc[np.sort(rng.choice(len(row_numbers), size=at_most, replace=False))]


def traced_text(traced: int, failures: int) -> str:
    """How many of a version's failures blame traced, as the group's evidence and the intake say it."""
    return f"traced all {failures:,} failures" if traced >= failures else f"traced {traced:,} of {failures:,} failures"


def _log_rows(store: Store, dataset: Dataset, row_numbers: pd.Series) -> pd.DataFrame:
    """The log rows with these row numbers, whole (features and label), in row-number order."""
    cur = store.cursor()
    try:
        cur.register("_sleuth_blamed", pd.DataFrame({"row_number": row_numbers.astype("int64").to_numpy()}))
        return cur.execute(f"SELECT v.* FROM {ident(dataset.view)} v JOIN _sleuth_blamed f "
                           f"ON v.{ident(ROW_ID)} = f.row_number ORDER BY v.{ident(ROW_ID)}").df()
    finally:
        cur.close()


def blamed_batch(scope: Scope, group: Group, train_paths: Sequence[str], model_path: str | None = None,
                 trust: bool = False) -> tuple[dict[str, Any], int]:
    """The training batch trace blames for a group's failures, and how many failures were traced.

    Trace sums every training row's influence over the group's failed predictions; the blamed
    batch is the source value whose share of the harmful influence most exceeds its share of
    the training rows (a large batch holds much influence by size alone). Its ``p_value`` is
    trace's concentration test (Welch, Benjamini-Hochberg over every source value), so the
    review can tell a blame that beats chance from one that does not."""
    if group.slice is None:
        raise InputError(f"group {group.id} has no slice whose failures could be traced to training rows")
    traced = trace_failures(scope.with_condition(to_sql(group.slice.predicate)),
                            TrainingFiles(train_paths, model_path, trust), InfluenceCache(),
                            TraceSettings(version=group.version))
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


def attach_blame(queue: FailureQueue, scope: Scope, group_ids: Iterable[int], train_paths: Sequence[str],
                 model_path: str | None = None, trust: bool = False) -> list[dict]:
    """Trace each group (with a slice, of this dataset) and keep its blamed batch in its evidence."""
    dataset = scope.dataset
    blamed_groups = []
    for group_id in dict.fromkeys(group_ids):
        group = queue.group(group_id)
        if group.slice is None or group.dataset != dataset.name:
            continue
        blamed, traced = blamed_batch(scope, group, train_paths, model_path, trust)
        with queue.edit():
            queue.set_evidence(group.id, {**group.evidence, "blamed_batch": {**blamed, "traced_failures": traced}})
            queue.record(f"group {group.id}", "blamed training batch", None, blamed)
        blamed_groups.append({"group": group.id, "title": group.title, **blamed})
    return blamed_groups


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
