"""Leaf-based influence for tree ensembles: BoostIn for boosting, leaf co-membership for forests.

A training row can only influence a query through the leaves they share. Both methods
precompute, per tree, the training rows grouped by leaf (:class:`LeafGroups`) and one
coefficient per row, so a query costs one pass over the rows in its own leaves. Scores follow
the convention of :mod:`analysis.trace.influence`: positive = harmful (removing the row would lower
the query's loss).

**Boosting: BoostIn** (Brophy, Hammoudeh and Lowd, JMLR 2023). Tree ``t`` of a boosted model
(fitted on the gradients ``g`` and hessians ``h`` of the loss at the raw scores before it) has
leaf values ``lr * v`` with ``v = -sum_leaf w g / (sum_leaf w h + lam)``. Upweighting row ``i``
moves its leaf value by ``-lr * w_i (g_i + v h_i) / (sum_leaf w h + lam)``; through the query's
loss derivative ``g_q`` (at the same stage) this changes the query's loss, and BoostIn sums that
over the trees where ``i`` and the query share a leaf, holding the tree structure fixed:

    score(i) = -sum_t [leaf_t(i) == leaf_t(q)] * g_q,t * lr * w_i (g_i,t + v h_i,t) / (H_leaf + lam)

It assumes every row was used in every tree: no row subsampling, no early-stopping hold-out.
The trees come from scikit-learn's boosting, LightGBM or XGBoost; each is read by its own
library's leaf lookup (``apply``, ``pred_leaf``) so rows land exactly where the model puts them.

**Forests: leaf co-membership**, in the spirit of TREX and representer points (Brophy and Lowd
2020; Yeh et al. 2018): a forest predicts ``P(q) = 1/T sum_t v_t(leaf_t(q))``, each leaf value
the (weighted) mean target of the training rows in the leaf, i.e. a kernel over leaf
co-membership. Removing row ``i`` moves its leaf's mean by ``w_i (v - y_i) / (W_leaf - w_i)``;
the score is that change of ``P(q)`` times ``-dL/dP`` at the query (``1/P`` of the true class
for log loss, ``y_q - P`` for squared error). All rows count in every tree (bootstrap samples are
not recovered), the forest's kernel as TREX defines it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.trace.model_files import LIGHTGBM, XGBOOST, final_estimator, preprocess, xgboost_booster, xgboost_config
from analysis.progress import CancelToken, Progress

BOOSTIN = "BoostIn (Brophy et al. 2023)"
XGBOOST_BOOSTIN = "BoostIn (XGBoost)"
FOREST_METHOD = "leaf co-membership (forest)"
LOGISTIC, SOFTMAX, SQUARED = "logistic", "softmax", "squared"


@dataclass(frozen=True)
class LeafGroups:
    """One tree's training rows sorted by leaf, with where each leaf's run starts and ends."""

    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, leaf: np.ndarray, node_count: int) -> "LeafGroups":
        order = np.argsort(leaf, kind="stable").astype(np.int32)
        ends = np.cumsum(np.bincount(leaf, minlength=node_count)).astype(np.int32)
        starts = ends - np.bincount(leaf, minlength=node_count).astype(np.int32)
        return cls(order, starts, ends)

    def span(self, node: int) -> slice:
        """Positions in ``order`` (and in arrays sorted like it) of the rows in leaf ``node``."""
        return slice(int(self.starts[node]), int(self.ends[node]))


@dataclass(frozen=True)
class BoostedTrees:
    """A boosted ensemble as Sleuth reads it, whatever library fitted it.

    Trees are ordered by iteration, then output (class); ``values[t]`` maps a node id of tree
    ``t`` to its leaf value *before* the learning rate.
    """

    leaves: Callable[[pd.DataFrame], np.ndarray]  # (rows, trees) leaf node ids
    raw_scores: Callable[[pd.DataFrame, np.ndarray], np.ndarray]
    """(rows, outputs) final raw scores of the rows, given them and their :attr:`leaves`."""
    values: list[np.ndarray]
    iteration: np.ndarray
    output: np.ndarray
    learning_rate: float
    l2: float
    loss: str

    def baseline(self, frame: pd.DataFrame, leaves: np.ndarray) -> np.ndarray:
        """Raw scores before the first tree: the final scores minus every tree's step."""
        raw = self.raw_scores(frame, leaves).copy()
        for tree, values in enumerate(self.values):
            raw[:, self.output[tree]] -= self.learning_rate * values[leaves[:, tree]]
        return raw


@dataclass(frozen=True)
class BoostingInfluence:
    """BoostIn's per-tree leaf groups and per-row coefficients for one training snapshot."""

    trees: BoostedTrees
    groups: list[LeafGroups]
    coefficients: list[np.ndarray]  # per tree, sorted like groups[t].order
    self_scores: np.ndarray
    row_count: int
    method: str = BOOSTIN

    def scores(self, x_query: pd.DataFrame, y_query: np.ndarray) -> np.ndarray:
        """Summed over the queries: BoostIn is linear in the queries' leaf gradients, so their
        sum meets the training rows once."""
        summed = np.asarray(self.leaf_gradients(x_query, y_query).sum(axis=0)).ravel()
        return -(summed[self.big_leaf_columns] @ self.big_leaf_coefficients + self.leaf_members.T @ summed)

    def query_scores(self, gradients: sparse.csr_matrix) -> np.ndarray:
        """Each query's own scores, (queries, training rows), from its :meth:`leaf_gradients`:
        a dense product for the trees' big leaves and a sparse one for the rest (see
        :meth:`leaf_members`)."""
        big = gradients[:, self.big_leaf_columns].toarray() @ self.big_leaf_coefficients
        return -(big + (gradients @ self.leaf_members).toarray())

    def summed_scores(self, gradients: sparse.csr_matrix, members: sparse.csr_matrix) -> np.ndarray:
        """Each query's scores summed within groups of training rows (``members``: rows x
        groups, one 1 per row), (queries, groups): :meth:`query_scores` times ``members``,
        with ``members`` applied to the training side first so no query meets every row."""
        big = gradients[:, self.big_leaf_columns].toarray() @ (members.T @ self.big_leaf_coefficients.T).T
        return -(big + (gradients @ (self.leaf_members @ members)).toarray())

    def leaf_gradients(self, x_query: pd.DataFrame, y_query: np.ndarray) -> sparse.csr_matrix:
        """Each query's loss gradient in the leaf it reaches of every tree, (queries, every
        tree's nodes), from one replay of the boosting over the queries' own raw scores."""
        return self.replayed(x_query, y_query)[0]

    def replayed(self, x_query: pd.DataFrame, y_query: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        """:meth:`leaf_gradients`, and the queries' final raw scores the replay ends with."""
        trees = self.trees
        leaves = trees.leaves(x_query)
        raw = trees.baseline(x_query, leaves)
        weights = np.zeros(leaves.shape)
        for tree, values in enumerate(trees.values):
            if tree == 0 or trees.iteration[tree] != trees.iteration[tree - 1]:
                gradient, _ = _derivatives(trees.loss, raw, y_query)
                stepped = raw.copy()
            output, leaf = trees.output[tree], leaves[:, tree]
            weights[:, tree] = gradient[:, output]
            stepped[:, output] += trees.learning_rate * values[leaf]
            if tree + 1 == len(trees.values) or trees.iteration[tree + 1] != trees.iteration[tree]:
                raw = stepped
        columns = leaves + self.node_offsets[None, :-1]
        rows = np.repeat(np.arange(len(leaves)), leaves.shape[1])
        gradients = sparse.csr_matrix((weights.ravel(), (rows, columns.ravel())),
                                      shape=(len(leaves), self.node_offsets[-1]))
        return gradients, raw

    def true_class_probability(self, raw: np.ndarray, y_query: np.ndarray) -> np.ndarray:
        """The probability the model gives each query's true class, from its raw scores."""
        if self.trees.loss == LOGISTIC:
            positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.where(y_query.astype(int) == 1, positive, 1.0 - positive)
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True))[np.arange(len(raw)), y_query.astype(int)]

    @cached_property
    def node_offsets(self) -> np.ndarray:
        """Where each tree's nodes start among every tree's nodes (and, last, their count)."""
        return np.concatenate([[0], np.cumsum([len(values) for values in self.trees.values])])

    @cached_property
    def big_leaves(self) -> np.ndarray:
        """Per tree, its leaf holding more than half the training rows, or -1. Boosted trees
        often put most rows in one leaf, and most queries land there too."""
        sizes = [group.ends - group.starts for group in self.groups]
        return np.array([int(np.argmax(size)) if size.max() * 2 > self.row_count else -1 for size in sizes])

    @cached_property
    def big_leaf_columns(self) -> np.ndarray:
        """The big leaves' columns among every tree's nodes (trees that have one)."""
        has = self.big_leaves >= 0
        return self.node_offsets[:-1][has] + self.big_leaves[has]

    @cached_property
    def big_leaf_coefficients(self) -> np.ndarray:
        """Every training row's coefficient in the trees that have a big leaf, (those trees, rows),
        whichever leaf it sits in: the dense half of :meth:`leaf_members`'s split."""
        trees = np.flatnonzero(self.big_leaves >= 0)
        dense = np.zeros((len(trees), self.row_count))
        for position, tree in enumerate(trees):
            dense[position, self.groups[tree].order] = self.coefficients[tree]
        return dense

    @cached_property
    def leaf_members(self) -> sparse.csr_matrix:
        """Every tree's nodes by training rows: a leaf's row holds its rows' coefficients, except
        a big leaf's (see :meth:`big_leaves`), which holds minus those of the rows *outside* it.
        A query in a big leaf then gets every row's coefficient from the dense
        :meth:`big_leaf_coefficients` and this row takes back the rows it does not share a
        leaf with: the work is the smaller side of each leaf, not the whole snapshot."""
        rows, columns, data = [], [], []
        for tree, group in enumerate(self.groups):
            offset, order, coefficient = self.node_offsets[tree], group.order, self.coefficients[tree]
            node = np.repeat(np.arange(len(group.starts)), group.ends - group.starts)
            big = self.big_leaves[tree]
            outside = node != big
            rows += [offset + node[outside]]
            columns += [order[outside]]
            data += [coefficient[outside]]
            if big >= 0:
                rows += [np.full(int(outside.sum()), offset + big)]
                columns += [order[outside]]
                data += [-coefficient[outside]]
        entries = (np.concatenate(data).astype(np.float64), (np.concatenate(rows), np.concatenate(columns)))
        return sparse.csr_matrix(entries, shape=(self.node_offsets[-1], self.row_count))

    def self_influence(self) -> np.ndarray:
        """How much each row's own loss rises when it is removed (BoostIn's self-influence)."""
        return self.self_scores


def prepare_boosting(estimator: Any, kind: str, train_X: pd.DataFrame, targets: np.ndarray,
                     weights: np.ndarray, progress: Progress, cancel: CancelToken) -> BoostingInfluence:
    """Replay the boosting on the snapshot: per tree, leaves, derivatives and coefficients."""
    trees = _boosted_trees(estimator, kind)
    groups, coefficients = [], []
    self_scores = np.zeros(len(train_X))
    for tree, leaf, gradient, coefficient in _replayed_coefficients(trees, train_X, targets, weights,
                                                                    progress, cancel):
        self_scores += gradient * coefficient
        group = LeafGroups.of(leaf, len(trees.values[tree]))
        groups.append(group)
        coefficients.append(coefficient[group.order].astype(np.float32))
    influence = BoostingInfluence(trees, groups, coefficients, self_scores, len(train_X), _boostin_method(kind))
    progress(1.0, "Arranging the leaves for queries")
    influence.leaf_members, influence.big_leaf_coefficients  # built here, in the one-time preparation
    return influence


def boosting_self_influence(estimator: Any, kind: str, train_X: pd.DataFrame, targets: np.ndarray,
                            weights: np.ndarray, progress: Progress, cancel: CancelToken) -> tuple[np.ndarray, str]:
    """BoostIn's self-influence of every row and the method's name, the same numbers as
    :func:`prepare_boosting`'s without what only queries read (the rows grouped by leaf, the
    leaf-by-row matrix): about half of a preparation's CPU, which ranking a snapshot's
    labels alone (``sleuth suspects``) would spend for nothing."""
    self_scores = np.zeros(len(train_X))
    for _, _, gradient, coefficient in _replayed_coefficients(_boosted_trees(estimator, kind), train_X, targets,
                                                              weights, progress, cancel):
        self_scores += gradient * coefficient
    return self_scores, _boostin_method(kind)


def _replayed_coefficients(trees: BoostedTrees, train_X: pd.DataFrame, targets: np.ndarray, weights: np.ndarray,
                           progress: Progress, cancel: CancelToken
                           ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Replay the boosting on the snapshot: per tree, ``(tree, each row's leaf, its loss
    gradient, its BoostIn coefficient)``, a row's self-influence in the tree being the
    gradient times the coefficient."""
    progress(0.05, "Finding every training row's leaves")
    leaves = trees.leaves(train_X)
    raw = trees.baseline(train_X, leaves)
    total = len(trees.values)
    for tree, values in enumerate(trees.values):
        if tree == 0 or trees.iteration[tree] != trees.iteration[tree - 1]:
            cancel.raise_if_cancelled()
            progress(0.1 + 0.9 * tree / total, "Replaying the boosting")
            gradients, hessians = _derivatives(trees.loss, raw, targets)
            stepped = raw.copy()
        output, leaf = trees.output[tree], leaves[:, tree]
        g, h = gradients[:, output], hessians[:, output]
        leaf_hessian = np.bincount(leaf, weights=weights * h, minlength=len(values))
        value = values[leaf]
        coefficient = weights * trees.learning_rate * (g + value * h) / (leaf_hessian[leaf] + trees.l2)
        yield tree, leaf, g, coefficient
        stepped[:, output] += trees.learning_rate * value
        if tree + 1 == total or trees.iteration[tree + 1] != trees.iteration[tree]:
            raw = stepped


def _boostin_method(kind: str) -> str:
    return XGBOOST_BOOSTIN if kind == XGBOOST else BOOSTIN


def _boosted_trees(estimator: Any, kind: str) -> BoostedTrees:
    if kind == LIGHTGBM:
        return _lightgbm_trees(estimator)
    if kind == XGBOOST:
        return _xgboost_trees(estimator)
    return _sklearn_boosted_trees(estimator)


def _derivatives(loss: str, raw: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and hessian of each row's loss with respect to its raw scores."""
    if loss == SQUARED:
        return raw - targets.astype(float)[:, None], np.ones_like(raw)
    if loss == LOGISTIC:
        p = 1.0 / (1.0 + np.exp(-raw))
        return p - targets.astype(float)[:, None], p * (1.0 - p)
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    p = shifted / shifted.sum(axis=1, keepdims=True)
    gradient = p.copy()
    gradient[np.arange(len(targets)), targets.astype(int)] -= 1.0
    return gradient, p * (1.0 - p)


def _sklearn_loss(final: Any) -> str:
    classes = getattr(final, "classes_", None)
    if classes is None:
        return SQUARED
    return LOGISTIC if len(classes) == 2 else SOFTMAX


def _raw_scores_of(final: Any) -> Callable[[Any], np.ndarray]:
    score = final.decision_function if hasattr(final, "classes_") else final.predict
    return lambda features: np.asarray(score(features), dtype=float).reshape(len(features), -1)


def _sklearn_boosted_trees(estimator: Any) -> BoostedTrees:
    final = final_estimator(estimator)
    if type(final).__name__.startswith("HistGradientBoosting"):
        return _hist_gradient_boosting_trees(estimator, final)
    raw = _raw_scores_of(final)
    grid = final.estimators_  # (iterations, outputs) of regression trees
    iterations, outputs = grid.shape

    def leaves(frame: pd.DataFrame) -> np.ndarray:
        # A plain array: GradientBoosting.apply checks names against its first tree, which has none.
        features = np.asarray(preprocess(estimator, frame), dtype=np.float32)
        return final.apply(features).reshape(len(frame), -1).astype(np.intp)

    return BoostedTrees(
        leaves=leaves,
        raw_scores=lambda frame, _leaves: raw(preprocess(estimator, frame)),
        values=[grid[m, k].tree_.value[:, 0, 0].astype(float) for m in range(iterations) for k in range(outputs)],
        iteration=np.repeat(np.arange(iterations), outputs),
        output=np.tile(np.arange(outputs), iterations),
        learning_rate=float(final.learning_rate),
        l2=0.0,
        loss=_sklearn_loss(final),
    )


def _hist_gradient_boosting_trees(estimator: Any, final: Any) -> BoostedTrees:
    """HistGradientBoosting's trees, with leaf ids from its own prediction code.

    Each tree predictor is copied with every node's value replaced by the node's id, so its
    ``predict`` (which handles thresholds, missing values and categories exactly as the model
    does) returns the leaf each row lands in. Stored leaf values include the learning rate.
    The raw scores are summed from the leaves' stored values as the model's own prediction
    sums them (the baseline, then each tree's value in order: the same floats): predicting
    them again walked every tree a second time, half of a replay's cost.
    """
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    learning_rate = float(final.learning_rate)
    locators, stored, values, iteration, output = [], [], [], [], []
    for m, predictors in enumerate(final._predictors):
        for k, predictor in enumerate(predictors):
            nodes = predictor.nodes.copy()
            stored.append(predictor.nodes["value"])
            values.append(nodes["value"] / learning_rate)
            nodes["value"] = np.arange(len(nodes))
            locators.append(TreePredictor(nodes, predictor.binned_left_cat_bitsets,
                                          predictor.raw_left_cat_bitsets))
            iteration.append(m)
            output.append(k)
    known_categories, feature_map = final._bin_mapper.make_known_categories_bitsets()

    def leaves(frame: pd.DataFrame) -> np.ndarray:
        features = final._preprocess_X(preprocess(estimator, frame), reset=False)
        columns = [locator.predict(features, known_categories, feature_map, 1) for locator in locators]
        return np.column_stack(columns).astype(np.intp)

    def raw_scores(_frame: pd.DataFrame, leaf_ids: np.ndarray) -> np.ndarray:
        summed = np.zeros((len(leaf_ids), final.n_trees_per_iteration_), dtype=final._baseline_prediction.dtype,
                          order="F")
        summed += final._baseline_prediction
        for tree, tree_values in enumerate(stored):
            summed[:, output[tree]] += tree_values[leaf_ids[:, tree]]
        return summed

    return BoostedTrees(
        leaves=leaves,
        raw_scores=raw_scores,
        values=values,
        iteration=np.asarray(iteration),
        output=np.asarray(output),
        learning_rate=learning_rate,
        l2=float(final.l2_regularization),
        loss=_sklearn_loss(final),
    )


def _lightgbm_trees(estimator: Any) -> BoostedTrees:
    """A LightGBM model (sklearn wrapper or Booster): leaves from ``pred_leaf``, values from
    the model dump. LightGBM's leaf values already include the learning rate."""
    final = final_estimator(estimator)
    booster = getattr(final, "booster_", final)
    dump = booster.dump_model()
    outputs = max(int(dump.get("num_tree_per_iteration", 1)), 1)
    learning_rate = float(getattr(final, "learning_rate", None) or _lightgbm_parameter(dump, "learning_rate", 0.1))
    values = [_lightgbm_leaf_values(tree["tree_structure"], tree["num_leaves"]) / learning_rate
              for tree in dump["tree_info"]]
    objective = str(dump.get("objective", "regression")).split()[0]
    loss = {"binary": LOGISTIC, "multiclass": SOFTMAX, "softmax": SOFTMAX}.get(objective, SQUARED)

    def leaves(frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(booster.predict(preprocess(estimator, frame), pred_leaf=True),
                          dtype=np.intp).reshape(len(frame), -1)

    def raw_scores(frame: pd.DataFrame, _leaves: np.ndarray) -> np.ndarray:
        scores = booster.predict(preprocess(estimator, frame), raw_score=True)
        return np.asarray(scores, dtype=float).reshape(len(frame), -1)

    count = len(values)
    return BoostedTrees(
        leaves=leaves,
        raw_scores=raw_scores,
        values=values,
        iteration=np.arange(count) // outputs,
        output=np.arange(count) % outputs,
        learning_rate=learning_rate,
        l2=float(getattr(final, "reg_lambda", None) or _lightgbm_parameter(dump, "lambda_l2", 0.0)),
        loss=loss,
    )


def _xgboost_trees(estimator: Any) -> BoostedTrees:
    """An XGBoost model (scikit-learn wrapper or Booster) with one tree per round: leaves from
    ``pred_leaf`` (node ids), leaf values from ``trees_to_dataframe``, learning rate and L2 term
    from the saved training configuration. XGBoost's leaf values already include the learning
    rate; :func:`analysis.trace.model_files.model_kind` admits only objectives whose derivatives are here."""
    import xgboost

    booster = xgboost_booster(final_estimator(estimator))
    config = xgboost_config(booster)
    training = config["learner"]["gradient_booster"]["tree_train_param"]
    learning_rate = float(training["eta"])
    nodes = booster.trees_to_dataframe()
    values = []
    for _, tree in nodes.groupby("Tree", sort=True):
        tree_values = np.zeros(int(tree["Node"].max()) + 1)
        leaves = tree[tree["Feature"] == "Leaf"]
        tree_values[leaves["Node"].to_numpy(dtype=int)] = leaves["Gain"].to_numpy(dtype=float) / learning_rate
        values.append(tree_values)
    objective = config["learner"]["objective"]["name"]

    def matrix(frame: pd.DataFrame) -> Any:
        features = preprocess(estimator, frame)
        if isinstance(features, pd.DataFrame):
            return xgboost.DMatrix(features, enable_categorical=True)
        return xgboost.DMatrix(features, feature_names=booster.feature_names)

    def leaves(frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(booster.predict(matrix(frame), pred_leaf=True), dtype=np.intp).reshape(len(frame), -1)

    def raw_scores(frame: pd.DataFrame, _leaves: np.ndarray) -> np.ndarray:
        scores = booster.predict(matrix(frame), output_margin=True)
        return np.asarray(scores, dtype=float).reshape(len(frame), -1)

    return BoostedTrees(
        leaves=leaves,
        raw_scores=raw_scores,
        values=values,
        iteration=np.arange(len(values)),
        output=np.zeros(len(values), dtype=int),
        learning_rate=learning_rate,
        l2=float(training["lambda"]),
        loss=LOGISTIC if objective == "binary:logistic" else SQUARED,
    )


def _lightgbm_parameter(dump: dict, name: str, default: float) -> float:
    for line in str(dump.get("parameters", "")).splitlines():
        key, _, value = line.strip("[]").partition(": ")
        if key == name:
            return float(value)
    return default


def _lightgbm_leaf_values(node: dict, leaf_count: int) -> np.ndarray:
    values = np.zeros(max(leaf_count, 1))
    pending = [node]
    while pending:
        current = pending.pop()
        if "leaf_index" in current:
            values[current["leaf_index"]] = current["leaf_value"]
        elif "left_child" in current:
            pending.extend((current["left_child"], current["right_child"]))
        else:
            values[0] = current.get("leaf_value", 0.0)
    return values


@dataclass(frozen=True)
class ForestInfluence:
    """Per tree, the training rows by leaf, each row's removal weight, and leaf mean targets."""

    estimator: Any
    classification: bool
    groups: list[LeafGroups]
    removal_weights: list[np.ndarray]  # per tree, sorted like groups[t].order
    leaf_means: list[np.ndarray]  # per tree, (nodes, outputs)
    targets: np.ndarray  # (rows, outputs): one-hot classes, or the regression target
    self_scores: np.ndarray

    method = FOREST_METHOD

    def scores(self, x_query: pd.DataFrame, y_query: np.ndarray) -> np.ndarray:
        leaves = _forest_leaves(self.estimator, x_query)
        scores = np.zeros(len(self.targets))
        tree_count = len(self.groups)
        for query in range(len(x_query)):
            output = int(y_query[query]) if self.classification else 0
            prediction = np.mean([self.leaf_means[t][leaves[query, t], output] for t in range(tree_count)])
            sensitivity = (1.0 / max(prediction, 1e-6) if self.classification
                           else float(y_query[query]) - prediction)
            for tree, group in enumerate(self.groups):
                leaf = leaves[query, tree]
                span = group.span(leaf)
                rows = group.order[span]
                shift = self.removal_weights[tree][span] * (self.leaf_means[tree][leaf, output] - self.targets[rows, output])
                scores[rows] += sensitivity * shift / tree_count
        return scores

    def self_influence(self) -> np.ndarray:
        """How much each row's own loss rises when it is removed, under the fixed trees."""
        return self.self_scores


def prepare_forest(estimator: Any, train_X: pd.DataFrame, targets: np.ndarray, weights: np.ndarray,
                   progress: Progress, cancel: CancelToken) -> ForestInfluence:
    """Leaf groups, removal weights and leaf means of every tree, plus self-influence."""
    final = final_estimator(estimator)
    classification = hasattr(final, "classes_")
    if classification:
        target_matrix = np.eye(len(final.classes_))[targets.astype(int)]
        own = targets.astype(int)
    else:
        target_matrix = targets.astype(float)[:, None]
        own = np.zeros(len(targets), dtype=int)
    progress(0.05, "Finding every training row's leaves")
    leaves = _forest_leaves(estimator, train_X)
    rows = np.arange(len(train_X))
    groups, removal_weights, leaf_means = [], [], []
    own_prediction = np.zeros(len(train_X))
    own_shift = np.zeros(len(train_X))
    tree_count = leaves.shape[1]
    for tree, member in enumerate(final.estimators_):
        if tree % 10 == 0:
            cancel.raise_if_cancelled()
            progress(0.1 + 0.9 * tree / tree_count, "Grouping training rows by leaf")
        leaf = leaves[:, tree]
        node_count = member.tree_.node_count
        leaf_weight = np.bincount(leaf, weights=weights, minlength=node_count)
        means = np.column_stack([
            np.bincount(leaf, weights=weights * target_matrix[:, k], minlength=node_count)
            for k in range(target_matrix.shape[1])
        ]) / np.maximum(leaf_weight, 1e-300)[:, None]
        removal = weights / np.maximum(leaf_weight[leaf] - weights, weights)
        own_mean = means[leaf, own]
        own_prediction += own_mean / tree_count
        own_shift += removal * (own_mean - target_matrix[rows, own]) / tree_count
        group = LeafGroups.of(leaf, node_count)
        groups.append(group)
        removal_weights.append(removal[group.order].astype(np.float32))
        leaf_means.append(means.astype(np.float32))
    if classification:
        self_scores = -own_shift / np.maximum(own_prediction, 1e-6)
    else:
        self_scores = -(targets - own_prediction) * own_shift
    return ForestInfluence(estimator, classification, groups, removal_weights, leaf_means,
                           target_matrix, self_scores)


def _forest_leaves(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    return final_estimator(estimator).apply(preprocess(estimator, frame)).astype(np.intp)
