"""Which training rows made the model give this answer: the common API over every method.

The method is chosen by the kind of model (:func:`analysis.trace.model_files.model_kind`) and its name is
part of every result, so the user always sees how the rows were found:

* linear and logistic models: influence functions, exact (:mod:`analysis.trace.influence_linear`);
* boosted trees (scikit-learn, LightGBM, XGBoost): BoostIn (:mod:`analysis.trace.influence_trees`);
* random forests and extra trees: leaf co-membership (:mod:`analysis.trace.influence_trees`);
* anything else: nearest neighbours, an approximation
  (:mod:`analysis.trace.influence_neighbours`).

**Sign convention.** A score is the query's loss *with* the training row minus its loss
*without* it (the model refitted without the row, as each method estimates it). Positive =
harmful: removing the row would lower the query's loss. Negative = helpful.

:func:`prepare_influence` does the one-time work per model and snapshot (Hessian
factorisation, per-tree leaf assignments and derivatives, a neighbour index); each
:func:`influence_for_row` is then a pass over the prepared training data. Training rows are
identified by their 0-based position in the ``train_X`` frame that was prepared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from analysis.trace import influence_linear
from analysis.trace import influence_neighbours
from analysis.trace import influence_trees
from analysis.errors import SchemaError
from analysis.trace.model_files import BOOSTING, FOREST, LIGHTGBM, LINEAR, XGBOOST, LoadedModel, final_estimator
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress


class _Method(Protocol):
    method: str

    def scores(self, x_query: pd.DataFrame, y_query: np.ndarray) -> np.ndarray: ...

    def self_influence(self) -> np.ndarray | None: ...


@dataclass(frozen=True)
class InfluencePrep:
    """A model prepared for influence queries over one training snapshot."""

    model: LoadedModel
    method: str
    state: _Method
    row_count: int


@dataclass(frozen=True)
class Influence:
    """The training rows that most raised (harmful) and lowered (helpful) one query's loss.

    ``scores`` has one value per training row (positive = harmful); ``harmful`` and
    ``helpful`` list ``(training row position, score)``, strongest first, only rows whose
    score has that sign. ``surrogate`` is true when the model was fitted by Sleuth.
    """

    method: str
    scores: np.ndarray
    harmful: list[tuple[int, float]]
    helpful: list[tuple[int, float]]
    surrogate: bool


def prepare_influence(model: LoadedModel, train_X: pd.DataFrame, train_y: Any,
                      weights: Any = None, progress: Progress = no_progress,
                      cancel: CancelToken = NEVER_CANCELLED) -> InfluencePrep:
    """Do the one-time work of the method ``model.kind`` calls for, on this snapshot."""
    targets = _encode_targets(model, train_y)
    row_weights = _row_weights(weights, len(train_X))
    estimator = model.estimator
    if model.kind == LINEAR:
        state = influence_linear.prepare(estimator, train_X, targets, row_weights, progress, cancel)
    elif model.kind in (BOOSTING, LIGHTGBM, XGBOOST):
        state = influence_trees.prepare_boosting(estimator, model.kind, train_X, targets,
                                                 row_weights, progress, cancel)
    elif model.kind == FOREST:
        state = influence_trees.prepare_forest(estimator, train_X, targets, row_weights,
                                               progress, cancel)
    else:
        classes = getattr(final_estimator(estimator), "classes_", None)
        state = influence_neighbours.prepare(estimator, train_X, targets,
                                             None if classes is None else len(classes),
                                             progress, cancel)
    progress(1.0, "Influence ready")
    return InfluencePrep(model, _method_name(state.method, model), state, len(train_X))


def prepared_self_influence(model: LoadedModel, train_X: pd.DataFrame, train_y: Any,
                            progress: Progress = no_progress,
                            cancel: CancelToken = NEVER_CANCELLED) -> tuple[np.ndarray, str] | None:
    """:func:`self_influence` of the model prepared on this snapshot, and the method's name
    (as :func:`prepare_influence` names it), for a caller that reads nothing else of the
    preparation: boosted trees then skip what only queries read (see
    :func:`analysis.trace.influence_trees.boosting_self_influence`)."""
    if model.kind not in (BOOSTING, LIGHTGBM, XGBOOST):
        prep = prepare_influence(model, train_X, train_y, progress=progress, cancel=cancel)
        values = self_influence(prep)
        return None if values is None else (np.asarray(values, dtype=float), prep.method)
    scores, method = influence_trees.boosting_self_influence(
        model.estimator, model.kind, train_X, _encode_targets(model, train_y), _row_weights(None, len(train_X)),
        progress, cancel)
    progress(1.0, "Influence ready")
    return scores, _method_name(method, model)


def _method_name(method: str, model: LoadedModel) -> str:
    return method + (", on a surrogate model" if model.surrogate else "")


def influence_for_row(prep: InfluencePrep, x_query: pd.DataFrame, y_query: Any,
                      k: int = 20) -> Influence:
    """The ``k`` most harmful and ``k`` most helpful training rows for one logged prediction.

    ``y_query`` is the row's true label (the loss is measured against it).
    """
    if len(x_query) != 1:
        raise SchemaError(f"influence is computed for one prediction at a time, got {len(x_query)} rows")
    scores = prep.state.scores(x_query, _encode_targets(prep.model, [y_query]))
    harmful, helpful = strongest(scores, k)
    return Influence(prep.method, scores, harmful, helpful, prep.model.surrogate)


def strongest(scores: np.ndarray, k: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(harmful, helpful): the ``k`` training rows with the largest positive and the ``k`` with
    the most negative scores, strongest first, as (row position, score)."""
    order = np.argsort(-scores, kind="stable")
    harmful = [(int(i), float(scores[i])) for i in order[:k] if scores[i] > 0]
    helpful = [(int(i), float(scores[i])) for i in order[::-1][:k] if scores[i] < 0]
    return harmful, helpful


def self_influence(prep: InfluencePrep) -> np.ndarray | None:
    """How much each training row's own loss rises when it is removed; None where the method
    does not define it (nearest neighbours). Large values mark rows the model fits only
    because they are in the training set: often mislabeled ones."""
    return prep.state.self_influence()


def aggregate_influence(prep: InfluencePrep, X_queries: pd.DataFrame, y_queries: Any) -> np.ndarray:
    """Summed scores over a set of predictions (e.g. a slice's failures): rows harmful to many."""
    if len(X_queries) == 0:
        return np.zeros(prep.row_count)
    return prep.state.scores(X_queries, _encode_targets(prep.model, y_queries))


def _encode_targets(model: LoadedModel, values: Any) -> np.ndarray:
    """Class positions in the model's ``classes_`` (classifiers) or floats (regressors)."""
    values = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=object)
    if pd.isna(values).any():
        raise SchemaError("influence needs the true label, and some rows have none")
    classes = getattr(final_estimator(model.estimator), "classes_", None)
    if classes is None:
        return values.astype(float)
    position = {_label_key(c): i for i, c in enumerate(classes.tolist())}
    # each distinct label is keyed once, not each row: a blame encodes a version's ~100k labels
    rows, distinct = pd.factorize(values, use_na_sentinel=False)
    codes = np.array([position.get(_label_key(v), -1) for v in distinct.tolist()], dtype=int)[rows]
    if (codes < 0).any():
        unknown = sorted({str(v) for v, c in zip(values.tolist(), codes) if c < 0})
        raise SchemaError(f"label value(s) {', '.join(unknown[:5])} are not among the model's "
                          f"classes ({', '.join(str(c) for c in classes.tolist())})")
    return codes


def _label_key(value: Any) -> str:
    """Labels compare as text, so 1, 1.0, True and "1" from different files meet."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_weights(weights: Any, count: int) -> np.ndarray:
    if weights is None:
        return np.ones(count)
    values = np.asarray(weights, dtype=float)
    if values.shape != (count,) or not np.isfinite(values).all() or (values < 0).any():
        raise SchemaError("training weights must be one finite, non-negative number per row")
    return values
