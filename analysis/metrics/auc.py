"""ROC AUC from a fine histogram of the scores, shared by the two passes that count it: on
DuckDB the scores stream into this process and numpy counts them
(:func:`analysis.metrics.per_version._auc_by_group`), on a cluster the engine counts the
cells (:func:`analysis.metrics.engine_auc.auc_by_group_on_engine`). Both number the AUC
groups the same way (:func:`numbered_groups`, :func:`group_numbers`), read the same labelled
scores (:func:`auc_source`) and turn the histogram into AUC within ``AUC_ERROR_BOUND`` by
:func:`histogram_auc`, ranking the few bins that need it with :func:`mann_whitney_auc`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from analysis.metrics.outcomes import Outcomes
from analysis.query import Sql, ident, literal


def auc_source(keys: list[str], out: Outcomes) -> str:
    """SELECT of (keys, class index k, y, s) for labelled rows with a valid score: one class
    for binary, one-vs-rest per class for multiclass."""
    group = ", ".join(keys)
    if out.positive_score is not None:
        return f"SELECT {group}, 0 AS k, y_true AS y, s0 AS s FROM scored_rows WHERE has_label AND s0 IS NOT NULL"
    return " UNION ALL ".join(
        f"SELECT {group}, {i} AS k, CAST(y_true = {literal(cls)} AS INTEGER) AS y, s{i} AS s "
        f"FROM scored_rows WHERE has_label AND s{i} IS NOT NULL"
        for i, cls in enumerate(out.classes)
    )


AUC_BINS = 1 << 20
"""Equal-width bins of the scores in [0, 1] that ROC AUC counts positives and negatives in.
With scores spread over [0, 1] the within-bin pairs bound the error near 1 / (2 * AUC_BINS),
under ``AUC_ERROR_BOUND``, so no bin needs ranking."""

AUC_ERROR_BOUND = 5e-7
"""The largest difference Sleuth allows between its ROC AUC and the exact one (ties counting
one half, as scikit-learn's ``roc_auc_score``)."""


def numbered_groups(scored: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """Each key of ``scored`` once per class index ``k``, numbered ``g`` from 0 in that order."""
    classes = pd.DataFrame({"k": np.arange(n_classes)})
    groups = scored.reset_index(drop=True).merge(classes, how="cross")
    groups["g"] = np.arange(len(groups))
    return groups


CASE_GROUPS = 8
"""Up to this many AUC groups (versions x classes), a labelled row's group number is a CASE
over them; more (a metric per time bucket) are joined in as a table. A CASE tests its branches
in turn, so its cost grows with the groups, while a hash join's does not; for the few versions
of an overall metric the CASE took a quarter less of DuckDB's CPU than the join (0.47 s against
0.62 s over 9M labelled rows)."""


def group_numbers(groups: pd.DataFrame, keys: list[str]) -> Sql:
    """SELECT of ``labelled``'s rows as (g, y, s): ``g`` the number of the row's group in
    ``groups`` (NULL for none)."""
    columns = keys + ["k"]
    if len(groups) > CASE_GROUPS:
        table = _constant_table(groups, "known")
        joined = " AND ".join(f"l.{ident(c)} IS NOT DISTINCT FROM n.{ident(c)}" for c in columns)
        return Sql(f"SELECT n.g, CAST(l.y AS UTINYINT) AS y, l.s FROM labelled l JOIN ({table.text}) n ON {joined}",
                   table.params)
    whens, params = [], []
    for record in groups[keys + ["k", "g"]].itertuples(index=False):
        *values, k, g = record
        tests = [f"l.{ident(c)} IS NOT DISTINCT FROM ?" for c in keys] + [f"l.k = {int(k)}"]
        whens.append(f"WHEN {' AND '.join(tests)} THEN {int(g)}")
        params += [_parameter(v) for v in values]
    return Sql(f"SELECT CASE {' '.join(whens)} END AS g, CAST(l.y AS UTINYINT) AS y, l.s FROM labelled l", tuple(params))


def _constant_table(frame: pd.DataFrame, name: str) -> Sql:
    """SELECT of ``frame``'s rows as parameters, typed as the AUC keys are (version text,
    bucket start timestamp, integers), for joining a few known groups into a pass."""
    types = {"version": "VARCHAR", "bucket_start": "TIMESTAMP", "k": "INTEGER", "g": "BIGINT"}
    columns = list(frame.columns)
    row = "(" + ", ".join("?" for _ in columns) + ")"
    values = ", ".join(row for _ in range(len(frame)))
    params = tuple(_parameter(v) for record in frame.itertuples(index=False) for v in record)
    typed = ", ".join(f"CAST({ident(c)} AS {types[c]}) AS {ident(c)}" for c in columns)
    return Sql(f"SELECT {typed} FROM (VALUES {values}) AS {ident(name)}({', '.join(ident(c) for c in columns)})", params)


def _parameter(value: object) -> object:
    """A pandas cell as a plain Python parameter (None for a missing one)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def histogram_auc(
    group: np.ndarray,
    bin_: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    mixed: np.ndarray,
    n_groups: int,
    exact_within: Callable[[int, np.ndarray], np.ndarray],
    tolerance: float = AUC_ERROR_BOUND,
) -> np.ndarray:
    """AUC of each group from its score histogram (rows sorted by group, then bin).

    ``mixed`` marks bins holding more than one distinct score: only there can a pair within
    the bin be ordered, so only there does counting it one half err. Where a group's bound
    (half its mixed pairs over all its pairs) exceeds ``tolerance``, ``exact_within(g, bins)``
    gives the exact AUC inside each of the fewest bins (most mixed pairs first) that bring the
    bound within ``tolerance``. NaN where a group lacks a class.
    """
    auc = np.full(n_groups, np.nan)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else np.array([], dtype=np.int64)
    ends = np.r_[starts[1:], len(group)]
    below = np.cumsum(negatives) - negatives
    wins = positives * (below - np.repeat(below[starts], ends - starts) + 0.5 * negatives)
    pairs_within = np.where(mixed, positives * negatives, 0.0)
    for start, end in zip(starts, ends):
        total = positives[start:end].sum() * negatives[start:end].sum()
        if total == 0:
            continue
        within = pairs_within[start:end]
        chosen = _bins_to_resolve(within, 2.0 * tolerance * total)
        correction = 0.0
        if len(chosen):
            exact = exact_within(int(group[start]), bin_[start:end][chosen])
            correction = float(((exact - 0.5) * within[chosen]).sum())
        auc[group[start]] = (wins[start:end].sum() + correction) / total
    return auc


def _bins_to_resolve(pairs_within: np.ndarray, allowed: float) -> np.ndarray:
    """Positions (ascending) of the fewest bins whose pairs, once ranked exactly, leave at
    most ``allowed`` pairs counted one half."""
    excess = pairs_within.sum() - allowed
    if excess <= 0:
        return np.array([], dtype=np.int64)
    order = np.argsort(-pairs_within, kind="stable")
    needed = int(np.searchsorted(np.cumsum(pairs_within[order]), excess, side="left")) + 1
    return np.sort(order[:needed])


def mann_whitney_auc(group: np.ndarray, y: np.ndarray, score: np.ndarray, n_groups: int) -> np.ndarray:
    """AUC of each group from rows sorted by (group, score); NaN where a group lacks a class."""
    auc = np.full(n_groups, np.nan)
    n = len(score)
    if n == 0:
        return auc
    group = np.asarray(group, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = group[1:] != group[:-1]
    new_run = new_group.copy()
    new_run[1:] |= score[1:] != score[:-1]
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], n)
    group_start = np.flatnonzero(new_group)
    owner = np.searchsorted(group_start, run_start, side="right") - 1
    average_rank = run_start - group_start[owner] + (run_end - run_start + 1) / 2.0
    positives_in_run = np.add.reduceat(y, run_start)
    rank_sum = np.bincount(owner, weights=average_rank * positives_in_run, minlength=len(group_start))
    positives = np.bincount(owner, weights=positives_in_run, minlength=len(group_start))
    sizes = np.diff(np.append(group_start, n)).astype(np.float64)
    negatives = sizes - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    value[(positives == 0) | (negatives == 0)] = np.nan
    auc[group[group_start]] = value
    return auc
