"""ROC AUC on a cluster: the score histogram is counted where the rows are.

On DuckDB the labelled scores stream to the client unsorted and numpy counts them into
``AUC_BINS`` fine bins per group (:func:`analysis.metrics.per_version._auc_by_group`): cheap
there, because DuckDB lives in the client's process. On Spark the same stream is one
(group, label, score) triple per labelled row crossing the network into the client's memory,
which grows with the table. So here the engine groups the rows by the same histogram cell and
sends back one row per occupied cell (rows, positives, whether its scores differ): at most
``AUC_BINS`` rows per group whatever the table's size. The AUC is then the same
:func:`~analysis.metrics.auc.histogram_auc`, with the same ``AUC_ERROR_BOUND``: the few
bins whose within-bin pairs would exceed it are read back and ranked exactly, as on DuckDB.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.outcomes import Outcomes
from analysis.metrics.auc import AUC_BINS, auc_source, group_numbers, histogram_auc, mann_whitney_auc, numbered_groups
from analysis.progress import CancelToken
from analysis.query import Sql


def auc_by_group_on_engine(store, rows: Sql, scored: pd.DataFrame, out: Outcomes,
                           cancel: CancelToken, labelled: int | None = None) -> pd.DataFrame:
    """ROC AUC per (keys, class) as ``_auc_by_group`` gives it, the histogram counted by the engine.

    ``labelled`` (the rows the metrics counted) is taken for the same call as DuckDB's pass, which
    sizes its client-side histogram by it; here the cells are counted on the engine, so it is unused."""
    keys = list(scored.columns)
    if scored.empty:
        return pd.DataFrame(columns=keys + ["k", "g", "roc_auc"])
    groups = numbered_groups(scored, len(out.classes) if out.positive_score is None else 1)
    binned = _binned_rows(rows, keys, out, groups)
    cells = store.numpy(Sql(f"{binned.text}SELECT cell, count(*) AS n, sum(y) AS positives, "
                            f"min(s) < max(s) AS mixed FROM binned GROUP BY cell ORDER BY cell", binned.params), cancel)
    cell = np.asarray(cells["cell"], dtype=np.int64)
    count = np.asarray(cells["n"], dtype=np.float64)
    positives = np.asarray(cells["positives"], dtype=np.float64)

    def exact_within(g: int, bins: np.ndarray) -> np.ndarray:
        """The exact AUC inside each of the sorted ``bins`` of group ``g``: only their rows come back."""
        chosen = store.numpy(Sql(f"{binned.text}SELECT cell, y, s FROM binned WHERE g = ? AND list_contains(?, cell) "
                                 "ORDER BY cell, s", (*binned.params, g, (g * AUC_BINS + bins).tolist())), cancel)
        position = np.searchsorted(bins, np.asarray(chosen["cell"], dtype=np.int64) - g * AUC_BINS)
        return mann_whitney_auc(position, np.asarray(chosen["y"], dtype=np.float64),
                                np.asarray(chosen["s"], dtype=np.float64), len(bins))

    group = cell // AUC_BINS
    groups["roc_auc"] = histogram_auc(group, cell % AUC_BINS, positives, count - positives,
                                      np.asarray(cells["mixed"], dtype=bool), len(groups), exact_within)
    return groups[groups["g"].isin(np.unique(group))]


def _binned_rows(rows: Sql, keys: list[str], out: Outcomes, groups: pd.DataFrame) -> Sql:
    """``WITH ... binned AS (g, y, s, cell)``: each labelled, scored row's group number and
    histogram cell (``g * AUC_BINS + bin`` of the score's equal-width bin in [0, 1])."""
    numbered = group_numbers(groups, keys)
    text = (f"WITH scored_rows AS ({rows.text}), labelled AS ({auc_source(keys, out)}), numbered AS ({numbered.text}), "
            f"binned AS (SELECT g, y, s, g * {AUC_BINS} + CAST(least(greatest(floor(s * {AUC_BINS}), 0), "
            f"{AUC_BINS - 1}) AS BIGINT) AS cell FROM numbered WHERE g IS NOT NULL) ")
    return Sql(text, (*rows.params, *numbered.params))
