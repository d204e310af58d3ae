"""Which column of a training snapshot is the label, read from the model trained on it.

Names mislead on real snapshots: a target is called after its domain (``churned``,
``readmitted``) and a feature may be called ``y`` (a width in mm). The model file knows better:
the label is a column the model does *not* read, and its values are what the model predicts
(within ``classes_`` for a classifier, numbers for a regressor). Columns that say where or when
a row came from (id, time, source, batch) are never the label. Among several candidates the
name decides (the same ranking detection uses), and the others are named in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.data.column_names import normalize
from analysis.data.roles import ColumnProfile, TaskType, label_name_rank
from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.query import ROW_ID, ident
from analysis.scope import Scope
from analysis.store import Store
from analysis.trace.model_files import LoadedModel, final_estimator, is_xgboost_booster

PROVENANCE_WORDS = frozenset("source batch batch_id snapshot_date date weight sample_weight".split())
"""Names of columns that say where a training row came from or how much it counts: not labels."""


@dataclass(frozen=True)
class LabelChoice:
    """The label the model file points to, and the other columns that would also have fitted."""

    column: str
    others: tuple[str, ...]

    def sentence(self) -> str:
        said = f"label '{self.column}' inferred from the model file (a column the model does not read, " \
               "whose values the model predicts)"
        if self.others:
            said += f"; also possible: {', '.join(self.others)} (name the label with --label)"
        return said


def model_inputs(model: LoadedModel) -> set[str] | None:
    """The columns the model reads: ``feature_names_in_``, a booster's feature names, or the
    named columns of a pipeline's column transformer. None when the model names no column."""
    names = set(model.feature_names or ())
    for step in _steps(model.estimator):
        for _, _, columns in getattr(step, "transformers_", getattr(step, "transformers", ())) or ():
            if isinstance(columns, str):
                names.add(columns)
            elif isinstance(columns, (list, tuple)):
                names.update(c for c in columns if isinstance(c, str))
    return names or None


def label_from_model(scope: Scope, profiles: Sequence[ColumnProfile], model: LoadedModel) -> LabelChoice | None:
    """The snapshot's label according to ``model`` (see the module docstring).

    None when the model names none of its inputs (fitted on a bare array): then nothing but the
    names can tell the label. Raises :class:`SchemaError` when no column fits the model.
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    inputs = model_inputs(model)
    if inputs is None:
        return None
    context = {roles.id, roles.timestamp, roles.model_version, ROW_ID}
    candidates = [p for p in profiles
                  if p.name not in inputs and p.name not in context and normalize(p.name) not in PROVENANCE_WORDS
                  and p.non_null > 0]
    classes = model_classes(model)
    fitting = [p for p in candidates
               if (_within_classes(store, dataset, p.name, classes) if classes is not None else p.is_numeric)]
    if not fitting:
        wanted = (f"values within the model's classes ({', '.join(sorted(classes)[:10])})" if classes is not None
                  else "numbers")
        raise SchemaError(f"no column outside the model's inputs holds {wanted}, so the snapshot has no label "
                          "for this model (name it with --label)", file=", ".join(dataset.paths))
    order = {p.name: i for i, p in enumerate(profiles)}
    ranked = sorted(fitting, key=lambda p: (_name_rank(p), order[p.name]))
    return LabelChoice(ranked[0].name, tuple(p.name for p in ranked[1:]))


def model_classes(model: LoadedModel) -> set[str] | None:
    """The classes a classifier predicts, as text keys (see :func:`label_key`); None for a regressor."""
    final = final_estimator(model.estimator)
    if is_xgboost_booster(final) and model.task is TaskType.BINARY:
        return {"0", "1"}
    classes = getattr(model.estimator, "classes_", getattr(final, "classes_", None))
    return None if classes is None else {label_key(c) for c in classes}


def label_key(value: Any) -> str:
    """A label value as text, so 1, 1.0, True and "1" from different files meet."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _within_classes(store: Store, dataset: Dataset, column: str, classes: set[str]) -> bool:
    """Every value of ``column`` is one of the classifier's classes (read at most one beyond)."""
    rows = store.rows(f"SELECT DISTINCT {ident(column)} FROM {ident(dataset.view)} "
                      f"WHERE {ident(column)} IS NOT NULL LIMIT {len(classes) + 1}")
    return all(label_key(value) in classes for (value,) in rows)


def _name_rank(profile: ColumnProfile) -> float:
    """Detection's label-name rank; a name that says nothing ranks after every label name."""
    rank = label_name_rank(profile)
    return math.inf if rank is None else rank


def _steps(estimator: Any) -> list[Any]:
    """The estimator and, for a pipeline, each of its steps (nested pipelines included)."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", None) or ():
        found += _steps(step)
    return found
