"""Which training batch each failed prediction comes from, for many failures in one pass.

:mod:`analysis.trace.tracer` sums influence over a set of failures; the failure queue needs the
opposite: for *each* failure, the batch (source, batch or date of the training snapshot) that
drives it, so failures blamed on the same batch can form one group. The preparation (snapshot,
model, Hessian or tree replay) is shared through :class:`~analysis.trace.tracer.InfluenceCache`;
the failures are scored in chunks: for a linear model one matrix product per chunk (every
failure's exact influence on every training row), for boosted trees one replay of the boosting
for all failures and one sparse product per chunk, for other methods (forests, neighbours)
one query per failure on the prepared state.

**The test.** A failure is blamed on a batch when the batch holds more than its share of the
failure's *most harmful* training rows: of the ``k`` rows trace would show for it (the same
``k`` as the trace panel), a one-sided binomial test of the batch's count against its share of
the snapshot; Benjamini-Hochberg over every failure and batch. Why not the mean-influence test
trace uses for one slice (Welch over all rows): with ~12k rows per batch it is powered to
detect the small, *global* shift a few hundred flipped labels give every coefficient, so on the
demo it blamed the flipped-label batch for most failures of every category (purity 26%, and
16% when the batch with the highest lift was blamed without a test). The rows that drive a
failure are its own: a failure caused by a bad batch has that batch's rows on top.

**What the demo's batch group holds** (linear version, first half of October, 2,123 failures;
measured for issue #16). The group of the flipped batch has 277 failures: 207 are what the
manifest calls caused (the flipped category, predicted as the flips wrote), 9 more are such
rows inside another planted incident, 7 are misses of the flipped category and 54 are failures
of other categories. Those 54 are not chance blames: on average 8.6 of their 20 most harmful
rows are flipped rows, since flips attenuate every coefficient a little (a model refitted on
the clean labels gets 190 failures of other categories right, against 141 of the 247 caused
ones). The 40 caused failures left out hold too few flipped rows among their top 20 for the
test. Alternatives tried on the same influence matrix: the batch among the *helpful* top rows as
the null (recall 1%: the flipped rows, with large gradients, top both ends), the rate at which
the batch tops correct predictions (recall 10%: the flips harm those too), Welch on each
failure's row scores (311 blames on clean batches: rows' scores are not independent). Against
the counterfactual truth (the 331 failures the clean-label model gets right) the group's purity
is 0.49 and recall 0.41; also requiring that removing the batch would flip the prediction
(first order: the batch's summed scores against the failure's margin) gives purity 1.0 but
recall 0.26 there (0.88 / 0.30 against the manifest), so it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
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


@dataclass(frozen=True)
class BatchBlame:
    """Per failure (in the order given): the blamed batch or None, with its numbers.

    ``column`` is the snapshot's batch column, ``batches`` its values and ``row_share`` their
    shares of the snapshot's rows; per failure and batch, ``top_count`` is how many of the
    failure's ``top_rows`` most harmful rows it holds, ``harmful_share`` its part of the
    failure's summed harmful influence, ``p_value`` the BH-adjusted binomial p.
    """

    column: str
    batches: list[Any]
    row_share: np.ndarray
    top_rows: int
    top_count: np.ndarray  # (failures, batches)
    harmful_share: np.ndarray  # (failures, batches)
    p_value: np.ndarray  # (failures, batches)

    def blamed(self) -> np.ndarray:
        """Each failure's blamed batch index (the most significant below the level), or -1."""
        if self.p_value.size == 0:
            return np.zeros(len(self.p_value), dtype=int) - 1
        best = np.argmin(self.p_value, axis=1)
        significant = self.p_value[np.arange(len(best)), best] < SIGNIFICANCE
        return np.where(significant, best, -1)

    def summary(self, failures: np.ndarray, batch: int) -> dict[str, Any]:
        """The blame of a set of failures (positions) on one batch, as the queue keeps it."""
        return {"column": self.column, "value": _plain(self.batches[batch]),
                "harmful_share": float(self.harmful_share[failures, batch].mean()),
                "row_share": float(self.row_share[batch]),
                "top_share": float(self.top_count[failures, batch].mean() / self.top_rows),
                "p_value": float(self.p_value[failures, batch].max()), "failures": int(len(failures))}


def blame_batches(ready: PreparedInfluence, x_failures: pd.DataFrame, labels: Any, top_rows: int = TOP_ROWS,
                  cancel: CancelToken = NEVER_CANCELLED, progress: Progress = no_progress) -> BatchBlame:
    """Blame each failed prediction (``x_failures`` with its true ``labels``) on a training batch;
    ``progress`` hears after each chunk of :data:`CHUNK` failures (the slow part)."""
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
    counts, shares = [], []
    for start, scores in zip(range(0, len(x_failures), CHUNK), _score_chunks(ready, x_failures, targets)):
        cancel.raise_if_cancelled()
        progress(start / len(x_failures), f"Blaming training batches: {start:,} of {len(x_failures):,} failures")
        count, share = _per_batch(scores, codes, len(values), top_rows)
        counts.append(count)
        shares.append(share)
    top_count = np.vstack(counts) if counts else np.zeros((0, len(values)), dtype=int)
    harmful_share = np.vstack(shares) if shares else np.zeros((0, len(values)))
    raw = stats.binom.sf(top_count - 1, top_rows, row_share[None, :])
    p_value = adjust_p_values(raw.ravel(), "bh").reshape(raw.shape) if raw.size else raw
    return BatchBlame(column, [originals[v] for v in values], row_share, top_rows, top_count, harmful_share,
                      p_value)


def _score_chunks(ready: PreparedInfluence, x_query: pd.DataFrame, targets: np.ndarray) -> Iterator[np.ndarray]:
    """Influence of every training row on each query, :data:`CHUNK` queries at a time:
    (queries, training rows) per chunk, positive = harmful.

    A linear model's influence is linear in the query's gradient, so a chunk is one product
    with the prepared inverse Hessian (the same formula as its per-row ``scores``); boosted
    trees find every query's leaves and replay the boosting once for all queries, then each
    chunk is one sparse product with the training rows' leaf coefficients; other methods
    answer one query at a time on their prepared state."""
    state = ready.prep.state
    frame = x_query[ready.features]
    starts = range(0, len(frame), CHUNK)
    if isinstance(state, influence_linear.LinearInfluence):
        for start in starts:
            design = influence_linear._design(state.estimator, frame.iloc[start:start + CHUNK])
            gradients = influence_linear._gradients(state.loss, state.theta, design, targets[start:start + CHUNK])
            yield -((gradients @ state.hessian_inverse) @ state.weighted_gradients.T)
    elif isinstance(state, influence_trees.BoostingInfluence):
        leaf_gradients = state.leaf_gradients(frame, targets)
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


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value
