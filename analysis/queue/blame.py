"""Which training batch failures come from, when a training snapshot and model are at hand.

One method, :mod:`analysis.trace.batch_blame`: a batch is blamed when the model without it
fixes significantly more failures than it breaks correct predictions (McNemar's exact test,
Benjamini-Hochberg over the batches tried). Per failure (:func:`batch_groups`, used by
grouping): the failures of a version that the model without such a batch gets right form that
batch's group. Per existing group (:func:`blamed_batch`, :func:`attach_blame`): the test is run
on the group's slice (its failures against its correct predictions), and when no batch passes
it the evidence says that no training batch is blamed, never the batch with the largest share
of the influence, which some batch always has. :func:`blame_text` says either the same way in
the group's evidence, meeting mode and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import InputError, SchemaError
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.metrics.outcomes import outcomes
from analysis.query import ROW_ID, Sql, ident
from analysis.report.formatting import count, p_value, percent
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.store import Store
from analysis.trace.batch_blame import BatchBlame, blame_batches, tested_at_most
from analysis.trace.tracer import InfluenceCache, LoadedLog, PreparedInfluence, TrainingFiles
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


def traces_from_cards(cards: Mapping[str, VersionCard]) -> dict[str, TrainingFiles]:
    """The versions whose card names both a training snapshot and a model file. A card never
    grants trust: a model that needs it (a pickle) is refused with its sentence when traced."""
    return {version: TrainingFiles((card.training_snapshot,), card.model_file)
            for version, card in cards.items() if card.training_snapshot and card.model_file}


@dataclass(frozen=True)
class BatchGroup:
    """Failures (row numbers) whose blame names the same training batch, and that blame."""

    key: str
    title: str
    blamed: dict[str, Any]
    rows: tuple[int, ...]


def batch_groups(scope: Scope, version: str | None, row_numbers: pd.Series, source: TrainingFiles,
                 cache: InfluenceCache, at_most: int = TRACE_AT_MOST, cancel: CancelToken = NEVER_CANCELLED,
                 progress: Progress = no_progress) -> list[BatchGroup]:
    """Blame each failure (row numbers of ``version``) on a training batch and group the
    failures blamed on the same batch, largest first.

    The influence of every training row on each failure is computed for a uniform sample of
    ``at_most`` of them (see :data:`TRACE_AT_MOST`), all in one pass over the prepared influence;
    the failures left out are then judged by the same test without it: the test of each batch
    is the model's, so a failure outside the sample joins a blamed batch's group when the model
    without that batch gets it right (cheap per row; its influence is computed only to choose
    between two blamed batches that both fix it). So a cap never leaves a blamed batch's
    failures to slice groups.

    ``scope`` holds the version's rows a batch's removal is tested on (the failures it fixes
    against the correct predictions it breaks; all labelled rows or a sample, see
    :func:`~analysis.trace.batch_blame.tested_at_most`): the version's whole log, not only the
    rows of this intake, because whether a batch harms the model is a question about the model,
    and a week's rows leave the test without power (on the demo, the flipped batch's second
    October week alone: 118 fixes against 94 breaks, p 0.23; the month: p 1e-5)."""
    if row_numbers.empty:
        return []
    label = scope.roles.label
    traced = traced_sample(row_numbers, at_most)
    ready = _ready(scope, source, cache, scaled(progress, 0.0, PREPARATION_SHARE), cancel)
    rows = _failure_rows(scope, ready, traced)
    blame = _blame(scope, ready, rows, cancel, scaled(progress, PREPARATION_SHARE, 1.0))
    blamed = blame.blamed()
    untraced = _failure_rows(scope, ready, row_numbers[~row_numbers.isin(traced)])
    cancel.raise_if_cancelled()
    beyond = blame.blamed_beyond(untraced, untraced[label]) if len(untraced) else np.zeros(0, dtype=int)
    groups = []
    for batch in np.unique(np.concatenate([blamed[blamed >= 0], beyond[beyond >= 0]])):
        members, more = np.flatnonzero(blamed == batch), np.flatnonzero(beyond == batch)
        summary = {**blame.summary(members, int(batch)), "failures": int(len(members) + len(more)),
                   "traced_failures": len(traced), "version_failures": len(row_numbers),
                   "untraced_fixed": int(len(more))}
        what = f"blamed training batch {summary['column']} = {summary['value']}"
        ids = np.concatenate([rows[ROW_ID].to_numpy()[members], untraced[ROW_ID].to_numpy()[more]])
        groups.append(BatchGroup(f"batch:{version}:{summary['column']}={summary['value']}",
                                 f"{what} ({version})" if version else what, summary,
                                 tuple(sorted(int(r) for r in ids))))
    return sorted(groups, key=lambda g: -len(g.rows))


def _ready(scope: Scope, source: TrainingFiles, cache: InfluenceCache, progress: Progress,
           cancel: CancelToken) -> PreparedInfluence:
    """The influence prepared for ``source`` (once per model and snapshot, through ``cache``)."""
    return cache.prepared(scope.store, list(source.snapshot_paths), source.model_path, source.trust,
                          LoadedLog(scope.dataset, scope.roles, ()), progress, cancel, source.roles)


def _failure_rows(scope: Scope, ready: PreparedInfluence, row_numbers: pd.Series) -> pd.DataFrame:
    """The failures' log rows, whole, refused with a sentence when they lack a model feature."""
    rows = _log_rows(scope.store, scope.dataset, row_numbers)
    missing = [c for c in ready.features if c not in rows.columns]
    if missing:
        raise SchemaError(f"the log lacks the model's feature column(s) {', '.join(missing)}")
    return rows


def _blame(scope: Scope, ready: PreparedInfluence, failed: pd.DataFrame, cancel: CancelToken = NEVER_CANCELLED,
           progress: Progress = no_progress) -> BatchBlame:
    """Blame ``failed`` (log rows) on the training batches, each batch's removal tested on the
    scope's labelled predictions."""
    label = scope.roles.label
    tested = _tested_rows(scope, tested_at_most(ready))
    return blame_batches(ready, failed, failed[label], tested, tested[label], tested[_RIGHT].to_numpy(),
                         cancel=cancel, progress=progress)


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


def blamed_batch(scope: Scope, group: Group, source: TrainingFiles, cache: InfluenceCache | None = None,
                 at_most: int = TRACE_AT_MOST) -> dict[str, Any]:
    """The training batch blamed for a group's failures, by the test :func:`batch_groups` uses:
    the batch whose removal fixes significantly more of the group's failures than it breaks of
    the group's correct predictions (the rows of its slice and version in ``scope``; McNemar's
    exact test, Benjamini-Hochberg over the batches tried); of several, the most significant.
    When none is, the blame names no batch (``value`` None) and keeps the best one's numbers,
    so the review reads "no training batch is blamed" rather than the batch holding the most
    influence: some batch always holds the most. The influence shares are those of a uniform
    sample of ``at_most`` of the failures, as at intake."""
    if group.slice is None:
        raise InputError(f"group {group.id} has no slice whose failures could be traced to training rows")
    from analysis.queue.grouping import version_scope  # grouping builds on this module

    region = to_sql(group.slice.predicate)
    if group.version is not None and scope.roles.model_version:
        region = version_scope(scope.roles, group.version) & region
    slice_scope = scope.with_condition(scope.condition & region if scope.condition else region)
    ready = _ready(slice_scope, source, cache or InfluenceCache(), no_progress, NEVER_CANCELLED)
    tested = _tested_rows(slice_scope, tested_at_most(ready))
    failed = tested[~tested[_RIGHT].astype(bool)]
    if failed.empty:
        raise InputError(f"group {group.id}'s slice has no failed prediction with a label to trace")
    traced = failed.iloc[np.sort(np.random.default_rng(TRACE_SAMPLE_SEED).choice(
        len(failed), size=min(at_most, len(failed)), replace=False))]
    label = scope.roles.label
    blame = blame_batches(ready, traced, traced[label], tested, tested[label], tested[_RIGHT].to_numpy())
    best = int(np.lexsort((-blame.fixes, blame.p_value))[0])
    summary = {**blame.summary(np.arange(len(traced)), best), "failures": int(len(failed)),
               "traced_failures": int(len(traced)), "slice_failures": int(len(failed)),
               "batches": len(blame.batches)}
    if not blame.significant()[best]:
        summary = {**summary, "value": None, "best_value": summary["value"]}
    return summary


def attach_blame(queue: FailureQueue, scope: Scope, group_ids: Iterable[int], source: TrainingFiles,
                 cache: InfluenceCache | None = None) -> list[dict]:
    """Test each group (with a slice, of this dataset) for a blamed batch and keep the result in
    its evidence, a batch or "none", with the numbers of the test."""
    dataset, cache = scope.dataset, cache or InfluenceCache()
    blamed_groups = []
    for group_id in dict.fromkeys(group_ids):
        group = queue.group(group_id)
        if group.slice is None or group.dataset != dataset.name:
            continue
        blamed = blamed_batch(scope, group, source, cache)
        with queue.edit():
            queue.set_evidence(group.id, {**group.evidence, "blamed_batch": blamed})
            queue.record(f"group {group.id}", "blamed training batch", None, blamed)
        blamed_groups.append({"group": group.id, "title": group.title, **blamed})
    return blamed_groups


def blame_text(blamed: Mapping[str, Any]) -> str:
    """The blame of a group as one sentence, the same in its evidence, meeting mode and the
    report: the blamed batch with its influence and its test, or that no batch is blamed and
    why (evidence kept before the removal test says its concentration p-value)."""
    column = blamed.get("column")
    tested = ""
    if "fixes" in blamed:
        tested = (f"; without it {count(blamed['fixes'])} failures would be right and {count(blamed['breaks'])} "
                  f"correct predictions wrong, p {p_value(blamed['p_value'])}")
    elif "p_value" in blamed:
        tested = f", concentration p {p_value(blamed['p_value'])}"
    if blamed.get("value") is None:
        best = f"; the closest, {column} = {blamed['best_value']}{tested}" if "best_value" in blamed else ""
        tried = f"of the {blamed['batches']} {column} values " if "batches" in blamed else ""
        return (f"No training batch is blamed: removing none {tried}fixes significantly more of these failures "
                f"than it breaks correct predictions{best}{_traced(blamed)}.")
    return (f"Blamed training batch: {column} = {blamed['value']} ({percent(blamed.get('harmful_share'), 0)} of the "
            f"harmful influence from {percent(blamed.get('row_share'), 0)} of the training rows{tested}"
            f"{_traced(blamed)}).")


def _traced(blamed: Mapping[str, Any]) -> str:
    """How many failures were traced ("traced 500 of 1,448 failures"), and how many left out of
    the sample the model without the batch gets right; nothing for evidence that does not say."""
    of = blamed.get("version_failures", blamed.get("slice_failures"))
    if "traced_failures" not in blamed or of is None:
        return ""
    more = blamed.get("untraced_fixed")
    return f"; {traced_text(blamed['traced_failures'], of)}" + (
        f", and {count(more)} more the model without it gets right" if more else "")
