"""Which column of a table is the label, read from the model trained to predict it.

Names mislead on real tables: a target is called after its domain (``ui``, ``deny``,
``churned``) and a feature may be called ``y``. A model file knows better, for a training
snapshot and for the prediction log the model served alike:

- the label is a column the model does *not* read (a column it reads is never the label);
- its values are what the model predicts (within ``classes_`` for a classifier, numbers for a
  regressor);
- it is not a column that says where, when or by whom a row was made (id, time, version, the
  model's own score and prediction, a source or batch).

On a log that is not enough: a column the model does not read may still hold the
prediction's values by chance (a yes/no flag the service adds). The model was trained to
forecast its label, so the label is also a column the model's output *agrees* with beyond
chance: the score ranks its positive rows above its other rows (a one-sided Mann-Whitney U
test, i.e. ROC AUC above 1/2) or, without one score, the prediction agrees with it beyond the
agreement of independent columns (Cohen's kappa against its null standard error, Fleiss,
Cohen & Everitt 1969). Each test runs in each version apart, at a family-wise level of
:data:`AGREEMENT_ALPHA` over every candidate and version (Bonferroni), and a candidate agrees
when one version does. The score is tested where there is one because it carries more than
the class: on Ecdat's Benefits the model's classes barely agree with ``ui`` (most rows are
predicted "yes") while its score ranks ``ui`` far beyond chance (p < 1e-8).

This sits in the data layer with no model object in it (:class:`ModelColumns` is what a model
file says about columns) so that loading a log can use it; :mod:`analysis.trace.snapshot_label`
reads those facts from a model file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.data.column_names import normalize
from analysis.data.roles import ColumnProfile, RoleMap, TaskType, label_name_rank
from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, ident
from analysis.scope import Scope
from analysis.store import Store

PROVENANCE_WORDS = frozenset("source batch batch_id snapshot_date date weight sample_weight".split())
"""Names of columns that say where a training row came from or how much it counts: not labels."""

AGREEMENT_ALPHA = 0.05
"""Family-wise level of "the model's output agrees with this column", over candidates and versions."""

AGREEMENT_SAMPLE = 50_000
"""Rows the agreement test reads: the first ones, as the role profile does."""


@dataclass(frozen=True)
class ModelColumns:
    """What a model file says about a table's columns: those it reads, and the classes it
    predicts as text keys (see :func:`label_key`), None for a regressor."""

    inputs: frozenset[str]
    classes: frozenset[str] | None


def merged_model_columns(models: Sequence[ModelColumns]) -> ModelColumns | None:
    """What several model files that may have served one log say together (a workspace's
    version cards, one model per version): a column any of them reads is an input, so never
    the label; the classes are every classifier's; regressors only, None. None without models."""
    if not models:
        return None
    inputs = frozenset().union(*(m.inputs for m in models))
    classes = [m.classes for m in models if m.classes is not None]
    return ModelColumns(inputs, frozenset().union(*classes) if classes else None)


@dataclass(frozen=True)
class LabelChoice:
    """The label the model file points to, and the other columns that would also have fitted."""

    column: str
    others: tuple[str, ...]
    agreement: bool = False  # the model's output was tested to agree with it (a log)

    def sentence(self) -> str:
        said = (f"label '{self.column}' inferred from the model file (a column the model does not read, "
                "whose values the model predicts")
        said += ", and which its output agrees with beyond chance)" if self.agreement else ")"
        if self.others:
            said += f"; also possible: {', '.join(self.others)} (name the label with --label)"
        return said


def label_key(value: Any) -> str:
    """A label value as text, so 1, 1.0, True, "1" and "true" from different files meet."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value)
    if text.lower() in ("true", "false"):  # how SQL renders a boolean as text
        return "1" if text.lower() == "true" else "0"
    whole = text[:-2] if text.endswith(".0") else None  # how SQL renders a whole double as text
    return whole if whole and whole.lstrip("-").isdigit() else text


def fitting_columns(store: Store, dataset: Dataset, profiles: Sequence[ColumnProfile], roles: RoleMap,
                    model: ModelColumns) -> list[ColumnProfile]:
    """The columns that could be the model's label: not read by it, not where/when/who a row
    came from, and holding values the model predicts (see the module text)."""
    context = {roles.id, roles.timestamp, roles.model_version, roles.prediction, *roles.scores, ROW_ID}
    candidates = [p for p in profiles
                  if p.name not in model.inputs and p.name not in context
                  and normalize(p.name) not in PROVENANCE_WORDS and p.non_null > 0]
    if model.classes is None:
        return [p for p in candidates if p.is_numeric]
    return [p for p in candidates if _within_classes(store, dataset, p.name, model.classes)]


def label_from_model(scope: Scope, profiles: Sequence[ColumnProfile], model: ModelColumns,
                     cancel: CancelToken = NEVER_CANCELLED) -> LabelChoice | None:
    """The label ``model`` points to among ``profiles``' columns, or None when no column fits.

    On a table the model scored (``roles`` name a score or a prediction) only the fitting
    columns its output agrees with beyond chance remain. Several: the best by name (the
    ranking detection uses), the others named; the profile order breaks ties."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    fitting = fitting_columns(store, dataset, profiles, roles, model)
    tested = bool(fitting) and (bool(roles.scores) or roles.prediction is not None)
    if tested:
        fitting = _agreeing(store, dataset, roles, fitting, cancel)
    if not fitting:
        return None
    order = {p.name: i for i, p in enumerate(profiles)}
    ranked = sorted(fitting, key=lambda p: (_name_rank(p), order[p.name]))
    return LabelChoice(ranked[0].name, tuple(p.name for p in ranked[1:]), agreement=tested)


def _within_classes(store: Store, dataset: Dataset, column: str, classes: frozenset[str]) -> bool:
    """Every value of ``column`` is one of the classifier's classes (read at most one beyond)."""
    rows = store.rows(f"SELECT DISTINCT {ident(column)} FROM {ident(dataset.view)} "
                      f"WHERE {ident(column)} IS NOT NULL LIMIT {len(classes) + 1}")
    return all(label_key(value) in classes for (value,) in rows)


def _agreeing(store: Store, dataset: Dataset, roles: RoleMap, candidates: list[ColumnProfile],
              cancel: CancelToken) -> list[ColumnProfile]:
    """The candidates the model's output agrees with beyond chance (module text)."""
    by_score = len(roles.scores) == 1 and roles.task is TaskType.BINARY and roles.positive_class is not None
    output = roles.scores[0] if by_score else roles.prediction
    if output is None:
        return []
    version = ident(roles.model_version) if roles.model_version else "NULL"
    columns = ", ".join(f"{ident(p.name)} AS c{i}" for i, p in enumerate(candidates))
    frame = store.df(f"SELECT {version} AS v, {ident(output)} AS f, {columns} FROM {ident(dataset.view)} "
                     f"WHERE {ident(output)} IS NOT NULL LIMIT {AGREEMENT_SAMPLE}", cancel)
    groups = [part for _, part in frame.groupby("v", dropna=False)] if roles.model_version else [frame]
    level = AGREEMENT_ALPHA / (len(candidates) * max(len(groups), 1))
    test = _score_ranks_p_value if by_score else _kappa_p_value
    positive = label_key(roles.positive_class) if by_score else None
    return [p for i, p in enumerate(candidates)
            if any(test(part["f"], part[f"c{i}"], positive) < level for part in groups)]


def _score_ranks_p_value(score, column, positive: str) -> float:
    """One-sided Mann-Whitney U: the score is higher on the column's positive rows."""
    from scipy import stats

    known = column.notna() & score.notna()
    hit = column[known].map(label_key) == positive
    scores = score[known].astype(float)
    if hit.all() or not hit.any():
        return 1.0
    return float(stats.mannwhitneyu(scores[hit], scores[~hit], alternative="greater").pvalue)


def _kappa_p_value(prediction, column, _positive: str | None) -> float:
    """One-sided test of Cohen's kappa > 0 between prediction and column, with kappa's
    standard error under independence (Fleiss, Cohen & Everitt 1969)."""
    from scipy import stats

    known = column.notna() & prediction.notna()
    a, b = prediction[known].map(label_key).to_numpy(), column[known].map(label_key).to_numpy()
    n = len(a)
    if n == 0:
        return 1.0
    classes = sorted(set(a) | set(b))
    p_a = np.array([(a == c).mean() for c in classes])
    p_b = np.array([(b == c).mean() for c in classes])
    observed, expected = float((a == b).mean()), float(p_a @ p_b)
    if expected >= 1.0:
        return 1.0
    variance = expected + expected ** 2 - float(np.sum(p_a * p_b * (p_a + p_b)))
    if variance <= 0:
        return 1.0
    kappa = (observed - expected) / (1 - expected)
    z = kappa * (1 - expected) * math.sqrt(n) / math.sqrt(variance)
    return float(stats.norm.sf(z))


def _name_rank(profile: ColumnProfile) -> float:
    """Detection's label-name rank; a name that says nothing ranks after every label name."""
    rank = label_name_rank(profile)
    return math.inf if rank is None else rank
