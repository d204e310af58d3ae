"""Suspect training labels: which rows of a training snapshot probably carry a wrong label.

Two estimates of "how improbable is this row's label to a model that did not learn from it"
are combined:

* **Confident learning** (Northcutt, Jiang, Chuang, JAIR 2021) through cleanlab: the model's
  family (a fresh clone, same hyper-parameters) is refitted ``folds`` times, each row is scored
  by the fit that did not see it, and cleanlab's label-quality score is the out-of-fold
  probability of the row's given label. cleanlab also estimates *how many* labels are wrong.
* **Self-influence** of the trained model (Koh and Liang 2017; BoostIn for boosted trees),
  where the model allows: the row's in-sample loss plus its influence on its own loss estimates
  its leave-one-out loss, so ``exp(-(loss + |self-influence|))`` is a second estimate of the
  given label's probability without that row.

cleanlab decides *which* rows are suspect: its estimated number of wrong labels, ``flagged``,
taken from the top of its own ranking (lowest label quality first). Self-influence only
re-orders rows *within* that set, by ``1 - max(p_out_of_fold, p_leave_one_out)``: a label is
only as suspect as the less alarmed of the two estimates, so the rows both estimates find
improbable come first. Rows outside the set follow in cleanlab's order. The set at the
operating point cleanlab chooses is therefore exactly cleanlab's, so the combination can never
be less precise there; it can only move cleanlab's true finds ahead of its false alarms (most
alerts in production are false alarms, so the top of the list matters most). A blend of the two
scores across the whole ranking was tried first, and is less precise than cleanlab alone for
boosted trees, whose in-sample fit makes self-influence the weaker estimate; the tests measure
both model families. Without self-influence the score is ``1 - p_out_of_fold``, cleanlab's
ranking.

Where the wrong labels concentrate is judged per training source, batch and date on the rows
whose given label the out-of-fold model *disputes* (it finds another class more probable): one
corrupted batch holds far more of them than its share of rows, which a one-sided binomial test
(with Benjamini-Hochberg control over all the values tested) separates from chance. Not on
cleanlab's flagged set: confident learning counts a row as mislabelled only where the other
class's out-of-fold probability reaches that class's average self-confidence, which under a
9:1 class balance is near 1 for the majority class, while a model fitted on a batch whose
labels are half flipped learns part of the flips and scores them in between. On Computers
(nine in ten ``premium``) cleanlab flagged 26 rows, 7 in the flipped batch (BH p = 0.19); the
model disputed 89 of that batch's 187 labels against 12% elsewhere (p ~ 1e-33).

scikit-learn, cleanlab and the model and influence modules are imported inside the functions:
importing Sleuth must stay fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.data.roles import TaskType
from analysis.report.formatting import json_value

if TYPE_CHECKING:
    from analysis.trace.influence import InfluencePrep
    from analysis.trace.model_files import LoadedModel

DEFAULT_SOURCE_COLUMNS = ("source", "batch", "batch_id", "snapshot_date", "date")
"""Columns of a training snapshot that say where and when a row came from, when present."""

_CLEANLAB_METHOD = "confident learning (cleanlab, Northcutt et al. 2021)"


@dataclass(frozen=True)
class Suspects:
    """The ranked suspect labels of one snapshot and where they concentrate.

    ``rows``: the ``k`` most suspect rows, most suspect first, with columns ``row_id``,
    ``score`` (the combined score in [0, 1], which orders the flagged rows), ``label``,
    ``suggested_label`` (the class the out-of-fold model finds most probable),
    ``cleanlab_score`` (cleanlab's label quality: low is suspect), ``self_influence`` (NaN when
    the model does not allow it) and ``flagged`` (among cleanlab's estimated wrong labels;
    flagged rows come first).
    ``by_source``: one row per value of each source/batch/date column (see :func:`by_source`).
    ``flagged``: how many labels confident learning estimates to be wrong (the ``flagged``
    highest-scoring rows). ``by_source`` counts the disputed labels instead (module text).
    """

    method: str
    rows: pd.DataFrame
    by_source: pd.DataFrame
    flagged: int
    surrogate: bool


@dataclass(frozen=True)
class SnapshotColumns:
    """What the columns of a training snapshot in memory are, for ranking its labels.

    Parameters
    ----------
    features : list of str
        The columns the model (or the surrogate) reads.
    label : str
        The column holding each row's given label: the one being judged.
    id_column : str or None, default=None
        The column whose value names a row in the report; None names rows by their 0-based
        position in the snapshot.
    source_columns : sequence of str, default=DEFAULT_SOURCE_COLUMNS
        Columns that say where and when a row came from; those present are where the
        disputed labels' concentration is tested (see :func:`by_source`).
    """

    features: list[str]
    label: str
    id_column: str | None = None
    source_columns: Sequence[str] = DEFAULT_SOURCE_COLUMNS


@dataclass(frozen=True)
class SuspectSettings:
    """How the snapshot's labels are ranked, and how many are reported.

    Parameters
    ----------
    k : int, default=50
        How many of the most suspect rows the result lists.
    folds : int, default=5
        How many refits give the out-of-fold probabilities: each row is scored by the fit
        that left its fold out. Five is cleanlab's default; more costs a refit each.
    seed : int, default=0
        Seeds the split into folds, so the same snapshot gives the same ranking every time.
    """

    k: int = 50
    folds: int = 5
    seed: int = 0


def find_suspects(train_frame: pd.DataFrame, columns: SnapshotColumns, model: LoadedModel | None = None,
                  settings: SuspectSettings = SuspectSettings(), progress: Progress = no_progress,
                  cancel: CancelToken = NEVER_CANCELLED, prepared: InfluencePrep | None = None) -> Suspects:
    """Rank the snapshot's rows by how likely their label is wrong; see the module docstring.

    Without ``model`` a surrogate of the right kind is fitted on the snapshot (and the result
    says so). ``row_id`` is the id column's value, or the row's 0-based position without one.
    ``prepared`` is ``model``'s influence preparation on these rows and features when the
    caller keeps one (a window's influence cache, which its traces made): the self-influence
    is read from it instead of preparing the model a second time.
    """
    features, label, id_column = columns.features, columns.label, columns.id_column
    folds, seed, k = settings.folds, settings.seed, settings.k
    labels = _class_labels(train_frame, label, folds)
    _require_columns(train_frame, [*features, *([id_column] if id_column else [])])
    if model is None:
        model = _surrogate(train_frame, features, label, labels, progress)
    train_x = train_frame[features]
    classes, codes = np.unique(labels, return_inverse=True)

    out_of_fold = out_of_fold_probabilities(
        model.estimator, train_x, codes, folds=folds, seed=seed,
        progress=scaled(progress, 0.0, 0.6), cancel=cancel,
    )
    progress(0.6, "Confident learning")
    label_quality, flagged = _confident_learning(codes, out_of_fold)
    cancel.raise_if_cancelled()

    is_suspect = np.zeros(len(codes), dtype=bool)
    is_suspect[np.argsort(label_quality, kind="stable")[:flagged]] = True
    if prepared is None:
        from analysis.trace.influence import prepared_self_influence

        influence = prepared_self_influence(model, train_x, labels, progress=scaled(progress, 0.65, 0.95),
                                            cancel=cancel)
    else:
        influence = _self_influence(prepared)
    if influence is None:
        score = 1.0 - label_quality
        self_influence = np.full(len(codes), np.nan)
        method = _CLEANLAB_METHOD
    else:
        self_influence, influence_method = influence
        leave_one_out = _leave_one_out_probability(model.estimator, train_x, classes, codes,
                                                   self_influence)
        score = np.where(is_suspect, 1.0 - np.maximum(label_quality, leave_one_out),
                         1.0 - label_quality)
        method = f"{_CLEANLAB_METHOD} + self-influence ({influence_method})"
    if model.surrogate:
        method += ", on a surrogate model"

    order = np.lexsort((-score, ~is_suspect))
    row_ids = (train_frame[id_column].to_numpy() if id_column is not None
               else np.arange(len(train_frame)))
    top = order[:k]
    rows = pd.DataFrame({
        "row_id": row_ids[top],
        "score": score[top],
        "label": classes[codes[top]],
        "suggested_label": classes[out_of_fold[top].argmax(axis=1)],
        "cleanlab_score": label_quality[top],
        "self_influence": self_influence[top],
        "flagged": is_suspect[top],
    })
    present = [name for name in columns.source_columns if name in train_frame.columns]
    progress(1.0, "Suspect labels ranked")
    disputed = out_of_fold.argmax(axis=1) != codes
    return Suspects(method, rows, by_source(train_frame, disputed, present), flagged,
                    bool(model.surrogate))


def out_of_fold_probabilities(
    estimator: Any,
    train_x: pd.DataFrame,
    codes: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> np.ndarray:
    """Class probabilities of each row from a clone of ``estimator`` fitted without it.

    This is what ``sklearn.model_selection.cross_val_predict(method="predict_proba")`` computes
    with stratified folds, written as a loop so that a cancel lands between two fits.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    n_classes = int(codes.max()) + 1
    probabilities = np.zeros((len(codes), n_classes))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(train_x, codes)
    for fold, (fit_rows, held_out) in enumerate(splits):
        cancel.raise_if_cancelled()
        progress(fold / folds, f"Out-of-fold fit {fold + 1} of {folds}")
        with threadpool_limits(limits=1):  # as fit_surrogate: OpenMP's spinning threads slow fits on a busy machine
            fitted = clone(estimator).fit(train_x.iloc[fit_rows], codes[fit_rows])
        probabilities[np.ix_(held_out, fitted.classes_)] = fitted.predict_proba(
            train_x.iloc[held_out])
    return probabilities


def by_source(train_frame: pd.DataFrame, disputed: np.ndarray,
              source_columns: Sequence[str]) -> pd.DataFrame:
    """How concentrated the disputed labels are in each value of each source/batch/date column.

    ``disputed`` counts the value's rows whose label the out-of-fold model disputes, ``share``
    is the value's part of all disputed labels, ``expected_share`` its part of all rows,
    ``lift`` their ratio (1 = as many as its size predicts). ``p_value`` tests "more disputed
    labels than the overall rate predicts" (one-sided binomial), adjusted with
    Benjamini-Hochberg over every value listed, so a snapshot with many batches does not raise
    false alarms by chance. Sorted by column, then by lift, highest first.
    """
    from scipy.stats import binomtest

    from analysis.stats.multiple_testing import adjust_p_values

    total_rows, total_disputed = len(disputed), int(disputed.sum())
    rate = total_disputed / total_rows if total_rows else 0.0
    records = []
    for column in source_columns:
        counts = pd.DataFrame({"value": _groupable(train_frame[column]), "disputed": disputed})
        grouped = counts.groupby("value", dropna=False, sort=True)["disputed"].agg(["size", "sum"])
        for value, (rows, count) in grouped.iterrows():
            share = count / total_disputed if total_disputed else 0.0
            expected = rows / total_rows
            p_value = (binomtest(int(count), int(rows), rate, alternative="greater").pvalue
                       if 0.0 < rate < 1.0 else 1.0)
            records.append({
                "column": column, "value": value, "rows": int(rows), "disputed": int(count),
                "share": share, "expected_share": expected,
                "lift": share / expected if total_disputed else math.nan, "p_value": p_value,
            })
    table = pd.DataFrame(records, columns=["column", "value", "rows", "disputed", "share",
                                           "expected_share", "lift", "p_value"])
    if len(table):
        table["p_value"] = adjust_p_values(table["p_value"].to_numpy(float), "bh")
        table = _sorted_within_columns(table, "lift", source_columns)
    return table


CONCENTRATION_ALPHA = 0.05
"""Adjusted p-value below which a source value is said to hold more than its share."""


def influence_by_source(train_frame: pd.DataFrame, scores: np.ndarray,
                        source_columns: Sequence[str] = DEFAULT_SOURCE_COLUMNS) -> pd.DataFrame:
    """An influence vector over training rows (positive = harmful), summed per source value.

    E.g. :func:`analysis.trace.influence.aggregate_influence` over a slice's failed predictions: a
    corrupted batch that caused them holds most of the harmful influence. Columns: ``column``,
    ``value``, ``rows``, ``sum``, ``mean``, ``harmful_share`` (the value's part of all positive
    influence), ``lift`` (that share over the value's share of the rows) and ``p_value``. A value
    holds more than its share exactly when its rows' mean harmful influence exceeds the other
    rows' mean, so ``p_value`` is the one-sided Welch t-test of that, adjusted with
    Benjamini-Hochberg over every value listed: a headline may claim a concentration only where
    it beats chance. Only the ``source_columns`` the frame has are used; sorted by column, then
    ``harmful_share``, highest first.
    """
    scores = np.asarray(scores, dtype=float)
    if len(scores) != len(train_frame):
        raise SchemaError(f"{len(scores)} influence scores for {len(train_frame)} training rows")
    harmful = np.clip(scores, 0.0, None)
    total_harmful = harmful.sum()
    present = [name for name in source_columns if name in train_frame.columns]
    parts = []
    for column in present:
        frame = pd.DataFrame({"value": _groupable(train_frame[column]), "score": scores,
                              "harmful": harmful})
        grouped = frame.groupby("value", dropna=False, sort=True).agg(
            rows=("score", "size"), sum=("score", "sum"), mean=("score", "mean"),
            harmful=("harmful", "sum"))
        grouped["harmful_share"] = grouped["harmful"] / total_harmful if total_harmful else 0.0
        grouped["lift"] = grouped["harmful_share"] / (grouped["rows"] / len(scores))
        positions = frame.groupby("value", dropna=False, sort=True).indices
        grouped["p_value"] = [_more_harmful_p(harmful, positions[value]) for value in grouped.index]
        parts.append(grouped.drop(columns="harmful").reset_index().assign(column=column))
    columns = ["column", "value", "rows", "sum", "mean", "harmful_share", "lift", "p_value"]
    if not parts:
        return pd.DataFrame(columns=columns)
    from analysis.stats.multiple_testing import adjust_p_values

    table = pd.concat(parts, ignore_index=True)[columns]
    table["p_value"] = adjust_p_values(table["p_value"].to_numpy(float), "bh")
    return _sorted_within_columns(table, "harmful_share", present)


def _more_harmful_p(harmful: np.ndarray, positions: np.ndarray) -> float:
    """One-sided Welch t-test that the mean harmful influence of the rows at ``positions``
    exceeds the other rows'; 1.0 when either side is too small or constant to test."""
    from scipy.stats import ttest_ind

    inside = np.zeros(len(harmful), dtype=bool)
    inside[positions] = True
    ours, rest = harmful[inside], harmful[~inside]
    if len(ours) < 2 or len(rest) < 2 or (np.ptp(ours) == 0 and np.ptp(rest) == 0):
        return 1.0
    p_value = ttest_ind(ours, rest, equal_var=False, alternative="greater").pvalue
    return 1.0 if np.isnan(p_value) else float(p_value)


def suspects_report(suspects: Suspects, top: int = 20) -> dict[str, Any]:
    """The JSON object ``sleuth suspects`` prints: method, the top suspects, the aggregate."""
    head = suspects.rows.head(top)
    return {
        "method": suspects.method,
        "surrogate": suspects.surrogate,
        "flagged": suspects.flagged,
        "suspects": [
            {"row_id": json_value(row.row_id), "score": json_value(row.score),
             "label": json_value(row.label), "suggested_label": json_value(row.suggested_label)}
            for row in head.itertuples(index=False)
        ],
        "by_source": [
            {key: json_value(value) for key, value in record.items()}
            for record in suspects.by_source.to_dict(orient="records")
        ],
    }


def _class_labels(train_frame: pd.DataFrame, label: str, folds: int) -> np.ndarray:
    """The label column as an array, checked to be a usable classification label."""
    if label not in train_frame.columns:
        raise SchemaError("the training snapshot has no label column", column=label)
    values = train_frame[label]
    missing = int(values.isna().sum())
    if missing:
        raise SchemaError(f"{missing} training rows have no label", column=label)
    if pd.api.types.is_float_dtype(values) and values.nunique() > 20:
        raise SchemaError("suspect labels need a classification label, this one looks "
                          "continuous", column=label)
    labels = values.to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise SchemaError("every training row has the same label", column=label)
    if counts.min() < folds:
        rare = classes[counts.argmin()].item()
        raise SchemaError(f"class {rare!r} has {counts.min()} rows; {folds}-fold "
                          f"out-of-fold predictions need at least {folds}", column=label)
    return labels


def _require_columns(train_frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column not in train_frame.columns:
            raise SchemaError("the training snapshot has no such column", column=column)


def _surrogate(train_frame: pd.DataFrame, features: list[str], label: str,
               labels: np.ndarray, progress: Progress) -> LoadedModel:
    """A model of the right kind fitted on the snapshot, for a snapshot without its model."""
    from analysis.trace.model_files import fit_surrogate

    progress(0.0, "Fitting a surrogate model on the snapshot")
    task = TaskType.BINARY if len(np.unique(labels)) == 2 else TaskType.MULTICLASS
    return fit_surrogate(train_frame, features, label, task)


def _confident_learning(codes: np.ndarray,
                        out_of_fold: np.ndarray) -> tuple[np.ndarray, int]:
    """cleanlab's label quality per row (the out-of-fold probability of the given label) and
    its estimate of how many labels are wrong (the confident joint, pruned by noise rate)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(codes, out_of_fold, method="self_confidence")
    return quality, int(find_label_issues(codes, out_of_fold).sum())


def _self_influence(prep: InfluencePrep) -> tuple[np.ndarray, str] | None:
    """How much each row's own loss rises when it is removed, and the method's name; None
    when the model's influence method has no self-influence."""
    from analysis.trace.influence import self_influence

    values = self_influence(prep)
    if values is None:
        return None
    return np.asarray(values, dtype=float), prep.method


def _leave_one_out_probability(estimator: Any, train_x: pd.DataFrame, classes: np.ndarray,
                               codes: np.ndarray, self_influence: np.ndarray) -> np.ndarray:
    """exp(-(in-sample loss + self-influence)): the given label's probability without the row.

    Removing a row raises its own loss by about its self-influence (Koh and Liang 2017), so
    this is the full model's leave-one-out estimate, comparable to an out-of-fold probability.
    """
    probabilities = estimator.predict_proba(train_x)
    column_of = {value: index for index, value in enumerate(estimator.classes_.tolist())}
    missing = [value for value in classes.tolist() if value not in column_of]
    if missing:
        raise SchemaError(f"the model was not trained on label values {missing}")
    given = probabilities[np.arange(len(codes)),
                          np.array([column_of[value] for value in classes.tolist()])[codes]]
    in_sample_loss = -np.log(np.clip(given, 1e-12, 1.0))
    return np.exp(-(in_sample_loss + self_influence))


def _groupable(values: pd.Series) -> pd.Series:
    """Dates and timestamps grouped by calendar day; other values as they are."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.floor("D")
    return values


def _sorted_within_columns(table: pd.DataFrame, key: str,
                           column_order: Sequence[str]) -> pd.DataFrame:
    position = {name: index for index, name in enumerate(column_order)}
    return (table.assign(_position=table["column"].map(position))
            .sort_values(["_position", key], ascending=[True, False], kind="stable")
            .drop(columns="_position").reset_index(drop=True))
