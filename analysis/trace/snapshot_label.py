"""Which column of a training snapshot is the label, read from the model trained on it.

Names mislead on real snapshots: a target is called after its domain (``churned``,
``readmitted``) and a feature may be called ``y`` (a width in mm). The model file knows better:
the label is a column the model does *not* read, and its values are what the model predicts
(within ``classes_`` for a classifier, numbers for a regressor). Columns that say where or when
a row came from (id, time, source, batch) are never the label. Among several candidates the
name decides (the same ranking detection uses), and the others are named in the message.

The rule itself lives in :mod:`analysis.data.model_label` (loading a log applies it too);
this module reads what it needs from a model file: the columns the model reads and its classes.
"""

from __future__ import annotations

from typing import Any, Sequence

from analysis.data.model_label import LabelChoice, ModelColumns, label_key
from analysis.data.model_label import label_from_model as label_among_columns
from analysis.data.roles import ColumnProfile, TaskType
from analysis.errors import SchemaError
from analysis.scope import Scope
from analysis.trace.model_files import LoadedModel, final_estimator, is_xgboost_booster

__all__ = ["LabelChoice", "label_from_model", "label_key", "model_classes", "model_columns", "model_inputs"]


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


def model_columns(model: LoadedModel) -> ModelColumns | None:
    """What ``model`` says about a table's columns (its inputs and classes), None when it names
    none of its inputs (fitted on a bare array): then nothing but the names can tell the label."""
    inputs = model_inputs(model)
    if inputs is None:
        return None
    classes = model_classes(model)
    return ModelColumns(frozenset(inputs), None if classes is None else frozenset(classes))


def label_from_model(scope: Scope, profiles: Sequence[ColumnProfile], model: LoadedModel) -> LabelChoice | None:
    """The snapshot's label according to ``model`` (see the module docstring).

    None when the model names none of its inputs (fitted on a bare array): then nothing but the
    names can tell the label. Raises :class:`SchemaError` when no column fits the model.
    """
    columns = model_columns(model)
    if columns is None:
        return None
    choice = label_among_columns(scope, profiles, columns)
    if choice is None:
        wanted = (f"values within the model's classes ({', '.join(sorted(columns.classes)[:10])})"
                  if columns.classes is not None else "numbers")
        raise SchemaError(f"no column outside the model's inputs holds {wanted}, so the snapshot has no label "
                          "for this model (name it with --label)", file=", ".join(scope.dataset.paths))
    return choice


def model_classes(model: LoadedModel) -> set[str] | None:
    """The classes a classifier predicts, as text keys (see :func:`label_key`); None for a regressor."""
    final = final_estimator(model.estimator)
    if is_xgboost_booster(final) and model.task is TaskType.BINARY:
        return {"0", "1"}
    classes = getattr(model.estimator, "classes_", getattr(final, "classes_", None))
    return None if classes is None else {label_key(c) for c in classes}


def _steps(estimator: Any) -> list[Any]:
    """The estimator and, for a pipeline, each of its steps (nested pipelines included)."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", None) or ():
        found += _steps(step)
    return found
