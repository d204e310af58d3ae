"""Which training batch each failed prediction comes from, for many failures in one pass.

:mod:`analysis.trace.tracer` sums influence over a set of failures; the failure queue needs the
opposite: for *each* failure, the batch (source, batch or date of the training snapshot) that
drives it, so failures blamed on the same batch can form one group. The preparation (snapshot,
model, Hessian or tree replay) is shared through :class:`~analysis.trace.tracer.InfluenceCache`;
for trace's view of each failure, the failures are scored in chunks: for a linear model one
matrix product per chunk (every failure's exact influence on every training row), for boosted
trees one replay of the boosting for all failures and one sparse product per chunk, for other
methods (forests, neighbours) one query per failure on the prepared state.

**The test: significant and counterfactual.** A failure is blamed on a batch when the model
without the batch predicts it right, and the batch is one whose removal fixes significantly more
of the scope's predictions than it breaks: McNemar's exact test (the model with and without the
batch as two versions scored on the same rows: failures it fixes against correct predictions it
breaks), Benjamini-Hochberg over the batches. A clean batch's removal only moves predictions
near the boundary, both ways (on the linear version's first half of October each of the three
fixes 62-68 failures and breaks 114-133 correct predictions); the flipped batch fixes 333 and
breaks 226 (p 1e-5). The model
without a batch is refitted (a linear model) or estimated to first order (others), see
:func:`_right_without`. Against the counterfactual truth (the 331 failures of the linear
version's first half of October that the model trained on unflipped labels gets right), the
group of 333 has purity 0.90 and recall 0.91; sklearn's own refit without the batch gives the
same 333.

Why not a test per failure: borderline failures are fixed by any small move of the model, so no
per-failure statistic tells a failure the flips cause from one a random quarter of the rows would
also fix. Measured on the demo against the same truth: the batch over-represented among the
failure's 20 most harmful rows (binomial against its row share, BH over failures x batches) holds
277 failures, purity 0.49, recall 0.41; the batch's summed influence against that of a random
subset of its size (z-test, BH) AND the refit's fix, purity 0.91, recall 0.68. The per-failure
counts and shares are kept as trace's view of each failure (``top_count``, ``harmful_share``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.report.formatting import json_value
from analysis.stats.multiple_testing import adjust_p_values
from analysis.trace import influence_linear, influence_trees
from analysis.trace.influence import _encode_targets
from analysis.trace.tracer import PreparedInfluence

TOP_ROWS = 20
"""The most harmful training rows per failure whose batches are counted: what trace shows."""
SIGNIFICANCE = 0.05
CHUNK = 128
"""Failures scored together: a chunk's influence matrix is 128 x rows floats (50 MB at 50k
rows; ranking and clipping copy it a few times, so a few hundred MB at 100k rows at most)."""
TESTED_AT_MOST = 20_000
"""Labelled predictions on which each batch's removal is tested, a uniform sample when there are
more: for a booster each costs a replay of the boosting (20,000 took 8 s on the demo's booster
on a loaded 2-core machine, next to 10 s for tracing 500 failures). A linear model's refits
score 200,000 in about a second, and the test's power
grows with the rows: on the demo's first half of October, 20,000 of the 73,541 predictions
gave the flipped batch p 0.04, all of them p 1e-5."""
TESTED_AT_MOST_LINEAR = 200_000
REFIT = "the model refitted without the batch (Newton's method from the fitted parameters)"
FIRST_ORDER = "the batch's summed influence on each prediction's loss (first order)"
Replay = tuple[sparse.csr_matrix, np.ndarray]
"""A boosted model's replay of some queries: their leaf gradients and final raw scores."""


@dataclass(frozen=True)
class BatchBlame:
    """Per failure (in the order given): the blamed batch or None, with its numbers.

    ``column`` is the snapshot's batch column, ``batches`` its values and ``row_share`` their
    shares of the snapshot's rows; per failure and batch, ``top_count`` is how many of the
    failure's ``top_rows`` most harmful rows it holds, ``harmful_share`` its part of the
    failure's summed harmful influence (trace's view of the failure), ``fixed`` whether the
    model without the batch predicts the failure right. Per batch, over the ``tested``
    predictions: ``fixes`` (failures the model without it gets right), ``breaks`` (correct
    predictions it gets wrong) and ``p_value``, the BH-adjusted McNemar test of the two;
    ``estimate`` says how the model without a batch was estimated.
    """

    column: str
    batches: list[Any]
    row_share: np.ndarray
    top_rows: int
    top_count: np.ndarray  # (failures, batches)
    harmful_share: np.ndarray  # (failures, batches)
    fixed: np.ndarray  # (failures, batches) bool
    fixes: np.ndarray  # (batches,)
    breaks: np.ndarray  # (batches,)
    tested: int
    p_value: np.ndarray  # (batches,)
    estimate: str
    judge: Callable[[pd.DataFrame, Any], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False, compare=False)
    """For failures not scored here: whether the model without each batch gets each right, and
    each batch's share of its harmful influence (see :meth:`blamed_beyond`)."""

    def blamed(self) -> np.ndarray:
        """Each failure's blamed batch index, or -1: a batch whose removal fixes significantly
        more predictions than it breaks, and fixes this one (of several, the one holding most
        of its harmful influence)."""
        return _blamed_among(self.fixed & self.significant()[None, :], self.harmful_share)

    def significant(self) -> np.ndarray:
        """Per batch: does its removal fix significantly more predictions than it breaks?"""
        return self.p_value < SIGNIFICANCE

    def blamed_beyond(self, x_failures: pd.DataFrame, labels: Any) -> np.ndarray:
        """:meth:`blamed` for failures this blame did not score (those left out of a traced
        sample). The test of each batch is the model's and is done; per failure it only takes
        whether the model without a significant batch gets it right (a refit's prediction or
        one replay of the boosting, cheap per row), and, only for a failure that more than one
        such batch fixes, its influence, to choose the batch holding most of it."""
        significant = self.significant()
        if not len(x_failures) or not significant.any() or self.judge is None:
            return np.full(len(x_failures), -1)
        fixed, shares = self.judge(x_failures, labels)
        return _blamed_among(fixed & significant[None, :], shares)

    def summary(self, failures: np.ndarray, batch: int) -> dict[str, Any]:
        """The blame of a set of failures (positions) on one batch, as the queue keeps it."""
        scored = len(failures) > 0
        return {"column": self.column, "value": json_value(self.batches[batch]),
                "harmful_share": float(self.harmful_share[failures, batch].mean()) if scored else None,
                "row_share": float(self.row_share[batch]),
                "top_share": float(self.top_count[failures, batch].mean() / self.top_rows) if scored else None,
                "fixes": int(self.fixes[batch]), "breaks": int(self.breaks[batch]), "tested": self.tested,
                "p_value": float(self.p_value[batch]), "estimate": self.estimate, "failures": int(len(failures))}


def blame_batches(ready: PreparedInfluence, x_failures: pd.DataFrame, labels: Any, x_tested: pd.DataFrame,
                  tested_labels: Any, tested_right: np.ndarray, top_rows: int = TOP_ROWS,
                  cancel: CancelToken = NEVER_CANCELLED, progress: Progress = no_progress) -> BatchBlame:
    """Blame each failed prediction (``x_failures`` with its true ``labels``) on a training batch.
    Each batch's removal is tested on the predictions ``x_tested`` (the scope's labelled rows or
    a uniform sample of them, with ``tested_labels`` and whether the model got each right,
    ``tested_right``); ``progress`` hears after each chunk of :data:`CHUNK` failures."""
    training = ready.training
    if not training.context_columns:
        raise SchemaError("the training snapshot has no source, batch or date column to blame",
                          file=", ".join(training.snapshot.dataset.paths))
    column = training.context_columns[0]
    values, codes = np.unique(training.frame[column].astype(str).to_numpy(), return_inverse=True)
    originals = training.frame[column].groupby(training.frame[column].astype(str)).first()
    row_share = np.bincount(codes, minlength=len(values)) / len(codes)
    top_rows = min(top_rows, len(codes))
    targets = _encode_targets(ready.model, labels)
    replay = _replay(ready, x_failures, targets)
    counts, shares = [], []
    for start, scores in zip(range(0, len(x_failures), CHUNK), _score_chunks(ready, x_failures, targets, replay)):
        cancel.raise_if_cancelled()
        progress(start / len(x_failures), f"Blaming training batches: {start:,} of {len(x_failures):,} failures")
        count, share = _per_batch(scores, codes, len(values), top_rows)
        counts.append(count)
        shares.append(share)
    top_count = np.vstack(counts) if counts else np.zeros((0, len(values)), dtype=int)
    harmful_share = np.vstack(shares) if shares else np.zeros((0, len(values)))
    estimate, right_without = _right_without(ready, column, values, codes)
    tested = right_without(x_tested, _encode_targets(ready.model, tested_labels))
    tested_right = np.asarray(tested_right, dtype=bool)
    fixes, breaks = (tested & ~tested_right[:, None]).sum(axis=0), (~tested & tested_right[:, None]).sum(axis=0)
    p = adjust_p_values(stats.binom.sf(fixes - 1, fixes + breaks, 0.5), "bh")  # McNemar's exact test, one-sided

    def judge(x_more: pd.DataFrame, more_labels: Any) -> tuple[np.ndarray, np.ndarray]:
        more_targets = _encode_targets(ready.model, more_labels)
        more_replay = _replay(ready, x_more, more_targets)
        fixed = right_without(x_more, more_targets, more_replay)
        shares = np.zeros(fixed.shape)
        several = np.flatnonzero((fixed & (p < SIGNIFICANCE)).sum(axis=1) > 1)  # only these need their influence
        for start, scores in zip(range(0, len(several), CHUNK),
                                 _score_chunks(ready, x_more.iloc[several], more_targets[several],
                                               _replay_rows(more_replay, several))):
            shares[several[start:start + CHUNK]] = _per_batch(scores, codes, len(values), top_rows)[1]
        return fixed, shares
    return BatchBlame(column, [originals[v] for v in values], row_share, top_rows, top_count, harmful_share,
                      right_without(x_failures, targets, replay), fixes, breaks, int(len(x_tested)),
                      p, estimate, judge)


def tested_at_most(ready: PreparedInfluence) -> int:
    """How many labelled predictions the test of each batch's removal reads for this model."""
    return TESTED_AT_MOST_LINEAR if isinstance(ready.prep.state, influence_linear.LinearInfluence) else TESTED_AT_MOST


def _replay(ready: PreparedInfluence, x_query: pd.DataFrame, targets: np.ndarray) -> Replay | None:
    """A boosted model's replay of the boosting over the queries (their leaf gradients and final
    raw scores), done once for its two readers: each query's influence (:func:`_score_chunks`)
    and whether the model without each batch gets it right (:func:`_right_without`). A replay
    walks every tree for every query, and each reader replayed the same failures before. None
    for other models, or no query."""
    state = ready.prep.state
    if not isinstance(state, influence_trees.BoostingInfluence) or not len(x_query):
        return None
    return state.replayed(x_query[ready.features], targets)


def _replay_rows(replay: Replay | None, rows: np.ndarray) -> Replay | None:
    """The replay of some of its queries (positions ``rows``): a replay is row by row."""
    return None if replay is None else (replay[0][rows], replay[1][rows])


def _right_without(ready: PreparedInfluence, column: str, values: np.ndarray,
                   codes: np.ndarray) -> tuple[str, Callable[..., np.ndarray]]:
    """How the model without each batch (``values`` of ``column``, the rows' positions in it
    ``codes``) is estimated, and a function telling, for rows and their true classes (and a
    boosted model's :func:`_replay` of them, when the caller has it), whether that model
    predicts each row right, (rows, batches).

    Why a refit for a linear model: its objective is convex and small (one parameter per
    preprocessed feature), so Newton's method converges to the refit in a few steps over the
    remaining rows, well under a second per batch; the influence estimate (one step with the
    full Hessian) predicted 184 of the 333 failures a real refit fixes on the demo. Why first
    order for other models: a booster refitted without a batch grows other trees, which no
    estimate short of the refit knows, and the refit costs the training (minutes); BoostIn
    holds the trees' structure and moves their leaf values, which is what removing the batch
    does first. Its summed scores over the batch are the fall of the prediction's loss
    ``-log p(true class)``, so the prediction becomes right when ``p * exp(sum)`` passes 1/2."""
    state, batches = ready.prep.state, len(values)
    if isinstance(state, influence_linear.LinearInfluence):
        refits = [_refit_without(ready, column, value, codes == b) for b, value in enumerate(values)]

        def refitted(frame: pd.DataFrame, targets: np.ndarray, _replay: Replay | None = None) -> np.ndarray:
            rows = frame[ready.features]
            return state.predicted(refits, rows) == targets[:, None] if len(rows) \
                else np.zeros((0, batches), dtype=bool)
        return REFIT, refitted
    members = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), batches))

    def first_order(frame: pd.DataFrame, targets: np.ndarray, replay: Replay | None = None) -> np.ndarray:
        if not len(frame):
            return np.zeros((0, batches), dtype=bool)
        rows = frame[ready.features]
        if isinstance(state, influence_trees.BoostingInfluence):
            gradients, raw = replay if replay is not None else state.replayed(rows, targets)
            summed = state.summed_scores(gradients, members)
            probability = state.true_class_probability(raw, targets)
        else:
            summed = np.vstack([chunk @ members for chunk in _score_chunks(ready, rows, targets)])
            probability = ready.model.estimator.predict_proba(rows)[np.arange(len(rows)), targets]
        return probability[:, None] * np.exp(np.minimum(summed, 50.0)) > 0.5
    return FIRST_ORDER, first_order


def _refit_without(ready: PreparedInfluence, column: str, value: str, removed: np.ndarray) -> np.ndarray:
    """A linear model's parameters refitted without the batch ``column`` = ``value`` (its rows
    ``removed``), computed once per preparation: an intake's blame and each group's blame refit
    the same batches of the same model, several Newton steps over the snapshot each."""
    key = (column, value)
    if key not in ready.refits:
        ready.refits[key] = ready.prep.state.refit_without(removed)
    return ready.refits[key]


def _score_chunks(ready: PreparedInfluence, x_query: pd.DataFrame, targets: np.ndarray,
                  replay: Replay | None = None) -> Iterator[np.ndarray]:
    """Influence of every training row on each query, :data:`CHUNK` queries at a time:
    (queries, training rows) per chunk, positive = harmful (a boosted model's queries from
    their :func:`_replay` when the caller has it).

    A linear model's influence is linear in the query's gradient, so a chunk is one product
    with the prepared inverse Hessian (the same formula as its per-row ``scores``); boosted
    trees find every query's leaves and replay the boosting once for all queries, then each
    chunk is one sparse product with the training rows' leaf coefficients; other methods
    answer one query at a time on their prepared state."""
    state = ready.prep.state
    frame = x_query[ready.features]
    if not len(frame):
        return
    starts = range(0, len(frame), CHUNK)
    if isinstance(state, influence_linear.LinearInfluence):
        design = influence_linear._design(state.estimator, frame)  # one pass of the pipeline, not one per chunk
        for start in starts:
            gradients = influence_linear._gradients(state.loss, state.theta, design[start:start + CHUNK],
                                                    targets[start:start + CHUNK])
            yield -((gradients @ state.hessian_inverse) @ state.weighted_gradients.T)
    elif isinstance(state, influence_trees.BoostingInfluence):
        leaf_gradients = replay[0] if replay is not None else state.leaf_gradients(frame, targets)
        for start in starts:
            yield state.query_scores(leaf_gradients[start:start + CHUNK])
    else:
        for start in starts:
            yield np.vstack([state.scores(frame.iloc[[i]], targets[i:i + 1])
                             for i in range(start, min(start + CHUNK, len(frame)))])


def _per_batch(scores: np.ndarray, codes: np.ndarray, batches: int, top_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query (a row of ``scores``) and batch: how many of its ``top_rows`` most harmful
    training rows the batch holds (rows with a positive score only), and its share of the
    query's harmful influence."""
    top = np.argpartition(-scores, top_rows - 1, axis=1)[:, :top_rows]
    harmful_top = np.take_along_axis(scores, top, axis=1) > 0
    count = np.stack([((codes[top] == b) & harmful_top).sum(axis=1) for b in range(batches)], axis=1)
    indicator = np.zeros((len(codes), batches))
    indicator[np.arange(len(codes)), codes] = 1.0
    per_batch = np.clip(scores, 0.0, None) @ indicator
    total = per_batch.sum(axis=1, keepdims=True)
    share = np.divide(per_batch, total, out=np.zeros_like(per_batch), where=total > 0)
    return count, share


def _blamed_among(candidates: np.ndarray, harmful_share: np.ndarray) -> np.ndarray:
    """Per failure, of the batches that are candidates for it, the one holding most of its
    harmful influence; -1 for a failure with none."""
    if not candidates.size:
        return np.full(len(candidates), -1)
    best = np.argmax(np.where(candidates, harmful_share, -1.0), axis=1)
    return np.where(candidates.any(axis=1), best, -1)
