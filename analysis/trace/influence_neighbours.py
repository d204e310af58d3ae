"""Nearest training neighbours: an approximation of influence for models without a gradient
or leaves Sleuth can read (SVMs, neural networks, anything unknown).

The rows closest to the query in the model's own preprocessed feature space (each column
standardised so no unit dominates) stand in for "what the model learnt this answer from".
They are scored as if the model were a distance-weighted nearest-neighbour vote over them:
removing neighbour ``i`` changes that vote, and the score is the query's loss with the row
minus without it (positive = harmful, as everywhere in :mod:`analysis.trace.influence`). So a close
neighbour whose label disagrees with the query's true label is harmful, a close one that
agrees is helpful, and rows that are not neighbours score 0. This is named an approximation
wherever it is shown: it says nothing about what the real model did with those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.trace.model_files import dense_features
from analysis.progress import CancelToken, Progress

METHOD = "nearest neighbours (approximation)"
NEIGHBOURS = 100
"""Neighbours consulted per query: enough for a top-20 of helpful and of harmful rows."""


@dataclass(frozen=True)
class NeighbourInfluence:
    """A neighbour index over the standardised, preprocessed training rows."""

    estimator: Any
    index: Any
    centre: np.ndarray
    scale: np.ndarray
    fill: np.ndarray
    targets: np.ndarray
    class_count: int | None  # None for regression

    method = METHOD

    def scores(self, x_query: pd.DataFrame, y_query: np.ndarray) -> np.ndarray:
        count = min(len(self.targets), NEIGHBOURS)
        distances, neighbours = self.index.kneighbors(self._space(x_query), n_neighbors=count)
        scores = np.zeros(len(self.targets))
        for query in range(len(x_query)):
            closeness = 1.0 / (1.0 + distances[query] / max(np.median(distances[query]), 1e-12))
            scores[neighbours[query]] += self._vote_scores(closeness, self.targets[neighbours[query]],
                                                           y_query[query])
        return scores

    def self_influence(self) -> None:
        """Not defined for an approximation that does not model the training itself."""
        return None

    def _space(self, frame: pd.DataFrame) -> np.ndarray:
        features = dense_features(self.estimator, frame)
        features = np.where(np.isnan(features), self.fill, features)
        return (features - self.centre) / self.scale

    def _vote_scores(self, closeness: np.ndarray, labels: np.ndarray, target: Any) -> np.ndarray:
        """Query loss under the weighted vote, minus the loss with each neighbour left out."""
        total = closeness.sum()
        if self.class_count is None:
            mean = (closeness * labels).sum() / total
            without = (mean * total - closeness * labels) / np.maximum(total - closeness, 1e-12)
            return 0.5 * (mean - target) ** 2 - 0.5 * (without - target) ** 2
        agrees = (labels == target).astype(float)
        # Laplace smoothing keeps a vote with no agreeing neighbour at a finite loss.
        probability = (closeness @ agrees + 1.0) / (total + self.class_count)
        without = ((closeness @ agrees - closeness * agrees + 1.0)
                   / (total - closeness + self.class_count))
        return np.log(without) - np.log(probability)


def prepare(estimator: Any, train_X: pd.DataFrame, targets: np.ndarray, class_count: int | None,
            progress: Progress, cancel: CancelToken) -> NeighbourInfluence:
    """Preprocess and standardise the training rows and index them for neighbour queries."""
    from sklearn.neighbors import NearestNeighbors

    progress(0.1, "Preprocessing the training rows")
    features = dense_features(estimator, train_X)
    fill = np.nan_to_num(np.nanmedian(features, axis=0)) if np.isnan(features).any() else np.zeros(features.shape[1])
    features = np.where(np.isnan(features), fill, features)
    centre = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    cancel.raise_if_cancelled()
    progress(0.5, "Indexing the training rows")
    index = NearestNeighbors().fit((features - centre) / scale)
    return NeighbourInfluence(estimator, index, centre, scale, fill, targets, class_count)
