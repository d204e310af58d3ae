"""Influence functions for linear and logistic models, in their exact form.

Koh and Liang (ICML 2017): upweighting training row ``i`` by a small ``eps`` moves the fitted
parameters by ``-eps H^-1 grad L_i`` (``H``: Hessian of the whole training objective, the L2
penalty included), so the query's loss changes by ``I(i) = -grad L_q^T H^-1 grad L_i`` per unit
weight. Removing the row is ``eps = -w_i``, so ``w_i * I(i)`` is the query loss *with* the row
minus *without* it: positive means the row is harmful (removing it lowers the query's loss).

The model is a linear score ``z = theta^T [x, 1]`` on the features the pipeline's preprocessing
produces, with one of three losses: logistic (binary), softmax (multiclass) or half squared
error (regression). The objective is ``sum_i w_i L_i + lam/2 |coef|^2`` (intercept unpenalised),
with ``lam`` read from the estimator: ``(1 - l1_ratio) / C`` for ``LogisticRegression``,
``alpha`` for ``Ridge``, 0 for ``LinearRegression``, ``n * alpha`` for ``SGDClassifier``. An L1
part has no Hessian and is left out. The Hessian is eigendecomposed once (eigenvalues floored
slightly above zero so directions the data never constrains do not blow up); a query is then
one solve and one pass over the stored training gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.errors import SchemaError
from analysis.trace.model_files import dense_features, final_estimator
from analysis.progress import CancelToken, Progress

METHOD = "influence functions (exact, Koh & Liang 2017)"
LOGISTIC, SOFTMAX, SQUARED = "logistic", "softmax", "squared"
_EIGEN_FLOOR = 1e-8
"""Smallest eigenvalue kept, relative to the largest, when inverting the Hessian."""
_NEWTON_STEPS = 10
_NEWTON_TOLERANCE = 1e-8
"""A refit's Newton steps stop when a step moves no parameter by more than this, relative to
the largest parameter (at most :data:`_NEWTON_STEPS` steps; the objective is convex)."""


@dataclass(frozen=True)
class LinearInfluence:
    """The factorised Hessian and every training row's weighted loss gradient."""

    estimator: Any
    loss: str
    theta: np.ndarray  # (classes, features + 1): one row per output, the intercept last
    weighted_gradients: np.ndarray  # (rows, parameters): w_i * grad L_i
    hessian_inverse: np.ndarray  # (parameters, parameters)
    gradients: np.ndarray  # (rows, parameters): grad L_i
    design: np.ndarray  # (rows, features + 1): the training rows as the model sees them
    targets: np.ndarray  # (rows,): class positions or values
    weights: np.ndarray  # (rows,)
    penalty: np.ndarray  # (parameters,): the L2 penalty on each parameter (0 on intercepts)

    method = METHOD

    def scores(self, x_query: pd.DataFrame, y_query: np.ndarray) -> np.ndarray:
        """``w_i * -grad L_q^T H^-1 grad L_i`` for every training row (positive = harmful)."""
        query_gradient = _gradients(self.loss, self.theta, _design(self.estimator, x_query), y_query)
        direction = self.hessian_inverse @ query_gradient.sum(axis=0)
        return -(self.weighted_gradients @ direction)

    def self_influence(self) -> np.ndarray:
        """How much each row's own loss rises when it is removed: ``w_i g_i^T H^-1 g_i``."""
        return np.einsum("ij,ij->i", self.weighted_gradients @ self.hessian_inverse, self.gradients)

    def refit_without(self, removed: np.ndarray) -> np.ndarray:
        """The parameters refitted without the ``removed`` training rows (a boolean mask), the
        preprocessing held as fitted: Newton's method on the remaining rows' objective, started
        at the fitted parameters. One step is the influence estimate with the remaining rows'
        Hessian; a batch of flipped labels moves the fit too far for one step (on the demo, one
        step fixes 241 of the 333 failures a real refit fixes), so steps go on until they no
        longer move the parameters, three or four for a quarter of the rows."""
        kept = ~removed
        design, targets, weights = self.design[kept], self.targets[kept], self.weights[kept]
        theta = self.theta.copy()
        for _ in range(_NEWTON_STEPS):
            gradient = weights @ _gradients(self.loss, theta, design, targets) + self.penalty * theta.ravel()
            hessian = _hessian(self.loss, theta, design, weights) + np.diag(self.penalty)
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0].reshape(theta.shape)
            theta = theta - step
            if np.abs(step).max() <= _NEWTON_TOLERANCE * max(1.0, np.abs(theta).max()):
                break
        return theta

    def predicted(self, thetas: Sequence[np.ndarray], x_query: pd.DataFrame) -> np.ndarray:
        """The class (position) each of the parameters ``thetas`` predicts for each query row,
        (rows, thetas). The rows are preprocessed once for all of them: a blame asks for the
        refit without each batch on the same rows, and the pipeline's encoding of a hundred
        thousand rows cost more than the products."""
        design = _design(self.estimator, x_query)
        return np.column_stack([self._classes(_outputs(self.loss, theta, design)) for theta in thetas])

    def _classes(self, outputs: np.ndarray) -> np.ndarray:
        return (outputs[:, 0] >= 0.5).astype(int) if self.loss == LOGISTIC else outputs.argmax(axis=1)


def prepare(estimator: Any, train_X: pd.DataFrame, codes: np.ndarray, weights: np.ndarray,
            progress: Progress, cancel: CancelToken) -> LinearInfluence:
    """Training gradients and the inverse Hessian, computed once per model and snapshot."""
    final = final_estimator(estimator)
    loss = _loss_of(final)
    theta = _parameters(final, loss)
    progress(0.1, "Preprocessing the training rows")
    design = _design(estimator, train_X)
    cancel.raise_if_cancelled()
    gradients = _gradients(loss, theta, design, codes)
    progress(0.5, "Building the Hessian")
    penalty = np.zeros(theta.shape)
    penalty[:, :-1] = _l2_penalty(final, float(weights.sum()))
    hessian = _hessian(loss, theta, design, weights) + np.diag(penalty.ravel())
    cancel.raise_if_cancelled()
    progress(0.8, "Factorising the Hessian")
    values, vectors = np.linalg.eigh(hessian)
    floor = max(values.max(), 1.0) * _EIGEN_FLOOR
    inverse = (vectors / np.maximum(values, floor)) @ vectors.T
    return LinearInfluence(estimator, loss, theta, gradients * weights[:, None], inverse, gradients, design, codes,
                           weights, penalty.ravel())


def _loss_of(final: Any) -> str:
    classes = getattr(final, "classes_", None)
    if classes is None:
        if np.ndim(final.coef_) > 1 and np.shape(final.coef_)[0] > 1:
            raise SchemaError("influence functions support one regression target, "
                              f"this model predicts {np.shape(final.coef_)[0]}")
        return SQUARED
    return LOGISTIC if len(classes) == 2 else SOFTMAX


def _parameters(final: Any, loss: str) -> np.ndarray:
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(getattr(final, "intercept_", 0.0), dtype=float))
    intercept = np.broadcast_to(intercept, (coef.shape[0],))
    return np.column_stack([coef, intercept])


def _l2_penalty(final: Any, total_weight: float) -> float:
    """``lam`` of ``lam/2 |coef|^2`` when the objective is written as a *sum* of row losses."""
    name = type(final).__name__
    if name == "LogisticRegression":
        penalty = getattr(final, "penalty", "deprecated")
        if penalty in (None, "none") or not np.isfinite(final.C):
            return 0.0
        l1_share = {"l1": 1.0, "l2": 0.0}.get(penalty, final.l1_ratio or 0.0)
        return (1.0 - l1_share) / final.C
    if name == "Ridge":
        return float(final.alpha)
    if name == "SGDClassifier":
        share = {"l2": 1.0, "elasticnet": 1.0 - final.l1_ratio}.get(final.penalty, 0.0)
        return total_weight * final.alpha * share
    return 0.0


def _design(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    """Preprocessed features with a trailing column of ones for the intercept."""
    features = dense_features(estimator, frame)
    if np.isnan(features).any():
        raise SchemaError("the model's preprocessing leaves missing values; a linear model "
                          "cannot score them")
    return np.column_stack([features, np.ones(len(features))])


def _outputs(loss: str, theta: np.ndarray, design: np.ndarray) -> np.ndarray:
    """Predicted probability (logistic: of class 1; softmax: of each class) or value."""
    scores = design @ theta.T
    if loss == LOGISTIC:
        return 1.0 / (1.0 + np.exp(-scores))
    if loss == SOFTMAX:
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)
    return scores


def _gradients(loss: str, theta: np.ndarray, design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-row gradient of the loss with respect to theta, flattened output-major."""
    outputs = _outputs(loss, theta, design)
    if loss == SOFTMAX:
        residual = outputs.copy()
        residual[np.arange(len(targets)), targets.astype(int)] -= 1.0
    else:
        residual = outputs - targets.astype(float)[:, None]
    return (residual[:, :, None] * design[:, None, :]).reshape(len(design), -1)


def _hessian(loss: str, theta: np.ndarray, design: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Hessian of ``sum_i w_i L_i``: ``X^T diag(w * curvature) X`` per pair of outputs."""
    outputs = _outputs(loss, theta, design)
    classes, width = theta.shape
    hessian = np.empty((classes * width, classes * width))
    for a in range(classes):
        for b in range(classes):
            if loss == SQUARED:
                curvature = np.ones(len(design))
            elif loss == LOGISTIC:
                curvature = outputs[:, 0] * (1.0 - outputs[:, 0])
            else:
                curvature = outputs[:, a] * ((a == b) - outputs[:, b])
            block = design.T @ (design * (weights * curvature)[:, None])
            hessian[a * width:(a + 1) * width, b * width:(b + 1) * width] = block
    return hessian
