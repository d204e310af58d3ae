"""What one prediction row means, as SQL expressions: its true class, predicted class, score,
whether it was right, and how much it cost.

Metrics, slice discovery and version comparison all read rows through these expressions, so
"correct" and "loss" mean the same thing everywhere. Every expression is a plain SQL text over
the dataset's view: column names go through :func:`ident`, and the few values that come from
the user (positive class, class names, threshold) through :func:`literal`, which keeps the
expressions free of positional parameters so they can be pasted into any statement.

Conventions:

* Labels and predictions are compared as *class text*: booleans become ``'true'``/``'false'``
  and integral floats lose their ``.0``, so a label stored as ``1``, ``1.0`` or ``TRUE`` meets
  a positive class typed as ``'1'`` or ``'true'``.
* A score is *valid* when it is finite and inside [0, 1]; anything else (NaN, inf, a logit) is
  counted as invalid and left out of every score-based number, as the score expressions
  return NULL for it.
* Log loss clips probabilities to ``[eps, 1 - eps]`` with ``eps`` the float64 machine epsilon,
  exactly as scikit-learn 1.9 does.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Sequence

from analysis.dataset import Column
from analysis.errors import SchemaError
from analysis.query import ident, literal
from analysis.data.roles import RoleMap, TaskType

EPS = sys.float_info.epsilon
"""Clipping bound of log loss; scikit-learn uses ``np.finfo(float64).eps``."""

CALIBRATION_BINS = 10

_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")
_INTEGER_TYPES = (
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT".split()
)
_TRUTHY = ("1", "true")


@dataclass(frozen=True)
class Outcomes:
    """SQL expressions describing each row's outcome, for one task.

    ``y_true``/``y_pred`` are INTEGER 0/1 for binary, VARCHAR class text for multiclass and
    DOUBLE for regression. Expressions that cannot exist for the mapping (no score column, no
    way to predict) are None. ``confidence`` is the probability a calibration check reads:
    the positive-class score (binary) or the top-class probability (multiclass);
    ``confidence_hit`` is what it should have predicted: ``y_true`` (binary) or whether the
    top class was right (multiclass). ``loss`` is log loss when there are scores, the 0/1 error
    when there are only predicted classes, and the absolute error for regression.
    """

    task: TaskType
    has_label: str
    y_true: str
    y_pred: str | None
    positive_score: str | None
    classes: tuple[str, ...]
    class_scores: tuple[str, ...]
    confidence: str | None
    confidence_hit: str | None
    invalid_score: str
    is_correct: str | None
    log_loss: str | None
    loss: str | None

    @property
    def calibration_bin(self) -> str | None:
        """Equal-width bin (0..9) of ``confidence``; a score of exactly 1 joins the top bin."""
        if self.confidence is None:
            return None
        return f"LEAST(CAST(FLOOR(({self.confidence}) * {CALIBRATION_BINS}) AS INTEGER), {CALIBRATION_BINS - 1})"


def outcomes(roles: RoleMap, columns: Sequence[Column]) -> Outcomes:
    """Build the outcome expressions for ``roles`` over a view with ``columns``."""
    dtypes = {c.name: c.dtype.upper() for c in columns}
    for name in _mapped_columns(roles):
        if name not in dtypes:
            raise SchemaError("the column mapped to a role is not in the data", column=name)
    if roles.task is TaskType.REGRESSION:
        return _regression(roles, dtypes)
    if roles.task is TaskType.MULTICLASS:
        return _multiclass(roles, dtypes)
    return _binary(roles, dtypes)


def class_text(expr: str, dtype: str) -> str:
    """SQL for a value as class text: ``'true'``/``'false'`` for booleans, ``'1'`` for 1.0."""
    base = dtype.upper().split("(")[0]
    if base == "BOOLEAN":
        return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' END"
    if base in _FLOAT_TYPES:
        as_double = f"CAST({expr} AS DOUBLE)"
        return (
            f"CASE WHEN isfinite({as_double}) AND {as_double} = ROUND({as_double}) "
            f"AND ABS({as_double}) < 1e15 THEN CAST(CAST({as_double} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({expr} AS VARCHAR) END"
        )
    return f"CAST({expr} AS VARCHAR)"


def class_in(expr: str, dtype: str, values: Sequence[str]) -> str:
    """SQL TRUE where ``expr`` (of ``dtype``) has one of the class texts ``values`` (NULL where
    ``expr`` is NULL), the same truth as comparing :func:`class_text` with them.

    An integer column is compared as a number: the text of an integer is ``'7'`` only for 7,
    and never ``'true'`` or ``'1.5'``. Casting every row to text to compare it cost most of
    the metrics' pass over an integer label and prediction (a 10M-row log's projection
    spent more in those casts and string tests than in reading the file)."""
    if dtype.upper().split("(")[0] in _INTEGER_TYPES:
        numbers = [v for v in values if _INTEGER_TEXT.fullmatch(v)]
        if not numbers:
            return f"(CASE WHEN {expr} IS NOT NULL THEN FALSE END)"
        return f"({expr} IN ({', '.join(numbers)}))"
    return f"({class_text(expr, dtype)} IN ({', '.join(literal(v) for v in values)}))"


_INTEGER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
"""Class text that an integer column's value can have (see :func:`class_text`)."""


def normalise_class(value: str, dtype: str) -> str:
    """The class text a user-typed value has in a column of ``dtype`` (see :func:`class_text`)."""
    base = dtype.upper().split("(")[0]
    text = str(value).strip()
    if base == "BOOLEAN":
        lowered = text.lower()
        return "true" if lowered in _TRUTHY else "false" if lowered in ("0", "false") else lowered
    if base in _FLOAT_TYPES or base in _INTEGER_TYPES:
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else repr(number)
    return text


def valid_score(expr: str) -> str:
    """The score as DOUBLE, or NULL when it is NaN, infinite or outside [0, 1]."""
    as_double = f"CAST({expr} AS DOUBLE)"
    return f"CASE WHEN isfinite({as_double}) AND {as_double} BETWEEN 0 AND 1 THEN {as_double} END"


def clipped_log_loss(probability: str) -> str:
    """``-ln(p)`` with ``p`` clipped to ``[eps, 1 - eps]``, the way scikit-learn clips.

    NULL for a NULL ``p``: DuckDB's GREATEST and LEAST skip NULL arguments, so without the
    guard a missing score would cost ``-ln(eps)``.
    """
    clipped = f"GREATEST(LEAST({probability}, {literal(1.0 - EPS)}), {literal(EPS)})"
    return f"CASE WHEN ({probability}) IS NOT NULL THEN -LN({clipped}) END"


def _binary_log_loss(score: str, is_positive: str, has_label: str) -> str:
    """Each labelled row's ``-ln`` of the probability it gave its true class, clipped as
    :func:`clipped_log_loss` clips, NULL without a valid score or a label.

    One guard, one ``CASE`` on the label and one ``LN`` per row: the loss spelt out per
    class of ``y_true`` (itself a ``CASE``, evaluated in each branch) took 0.39 s of CPU at
    10M rows, this form 0.29 s (``cpu_steps.py loss``; README, Performance)."""
    x = f"CAST({score} AS DOUBLE)"
    true_probability = f"CASE WHEN {is_positive} THEN {x} ELSE 1.0 - {x} END"
    clipped = f"GREATEST(LEAST({true_probability}, {literal(1.0 - EPS)}), {literal(EPS)})"
    return f"CASE WHEN {has_label} AND isfinite({x}) AND {x} BETWEEN 0 AND 1 THEN -LN({clipped}) END"


def _mapped_columns(roles: RoleMap) -> list[str]:
    named = [roles.label, roles.prediction, roles.timestamp, roles.model_version]
    return [n for n in named if n is not None] + list(roles.scores)


def _is_textual(dtype: str) -> bool:
    base = dtype.split("(")[0]
    return base not in _FLOAT_TYPES and base not in _INTEGER_TYPES and base != "BOOLEAN"


def _has_label(roles: RoleMap) -> str:
    return "FALSE" if roles.label is None else f"({ident(roles.label)} IS NOT NULL)"


def _invalid(expr: str) -> str:
    """TRUE for a present score that is not a valid probability (NULL counts as absent)."""
    return f"({expr} IS NOT NULL AND {valid_score(expr)} IS NULL)"


def _positive_class(roles: RoleMap, label_dtype: str) -> str:
    if roles.positive_class is not None:
        return normalise_class(roles.positive_class, label_dtype)
    if label_dtype.split("(")[0] == "BOOLEAN":
        return "true"
    if not _is_textual(label_dtype):
        return "1"
    raise SchemaError("choose which label value is the positive class", column=roles.label)


def _binary(roles: RoleMap, dtypes: dict[str, str]) -> Outcomes:
    label_dtype = dtypes[roles.label] if roles.label else "INTEGER"
    positive = _positive_class(roles, label_dtype)
    has_label = _has_label(roles)
    y_true, is_positive = "CAST(NULL AS INTEGER)", "FALSE"
    if roles.label is not None:
        is_positive = class_in(ident(roles.label), label_dtype, (positive,))
        y_true = f"CASE WHEN {is_positive} THEN 1 WHEN {has_label} THEN 0 END"

    score = valid_score(ident(roles.scores[0])) if roles.scores else None
    y_pred = None
    if roles.prediction is not None:
        y_pred = _binary_prediction(roles.prediction, dtypes[roles.prediction], positive, label_dtype)
    elif score is not None:
        y_pred = f"CASE WHEN {score} >= {literal(float(roles.threshold))} THEN 1 WHEN {score} IS NOT NULL THEN 0 END"

    is_correct = None if y_pred is None else f"CAST(({y_pred}) = ({y_true}) AS INTEGER)"
    log_loss = _binary_log_loss(ident(roles.scores[0]), is_positive, has_label) if roles.scores else None
    return Outcomes(
        task=TaskType.BINARY,
        has_label=has_label,
        y_true=y_true,
        y_pred=y_pred,
        positive_score=score,
        classes=("0", "1"),
        class_scores=(),
        confidence=score,
        confidence_hit=y_true if score is not None else None,
        invalid_score=_invalid(ident(roles.scores[0])) if roles.scores else "FALSE",
        is_correct=is_correct,
        log_loss=log_loss,
        loss=log_loss if log_loss is not None else _error(is_correct),
    )


def _binary_prediction(column: str, pred_dtype: str, positive: str, label_dtype: str) -> str:
    """1/0 for a predicted class; a 0/1 (or boolean) prediction column next to class-named
    labels (or a 1/true positive class) is read as "predicted positive" indicator."""
    indicator = not _is_textual(pred_dtype) and (_is_textual(label_dtype) or positive in _TRUTHY)
    matches = _TRUTHY if indicator else (positive,)
    return f"CASE WHEN {class_in(ident(column), pred_dtype, matches)} THEN 1 WHEN {ident(column)} IS NOT NULL THEN 0 END"


def _error(is_correct: str | None) -> str | None:
    return None if is_correct is None else f"1 - ({is_correct})"


def _multiclass(roles: RoleMap, dtypes: dict[str, str]) -> Outcomes:
    if roles.scores and len(roles.score_classes) != len(roles.scores):
        raise SchemaError("each per-class score column needs the class it scores", column=roles.scores[0])
    label_dtype = dtypes[roles.label] if roles.label else "VARCHAR"
    has_label = _has_label(roles)
    y_true = "CAST(NULL AS VARCHAR)"
    if roles.label is not None:
        y_true = class_text(ident(roles.label), label_dtype)
    classes = tuple(normalise_class(c, label_dtype) for c in roles.score_classes)

    raw = [ident(s) for s in roles.scores]
    all_valid = " AND ".join(f"{valid_score(s)} IS NOT NULL" for s in raw) or "FALSE"
    class_scores = tuple(f"CASE WHEN {all_valid} THEN CAST({s} AS DOUBLE) END" for s in raw)

    top_class = confidence = hit = log_loss = None
    if class_scores:
        score_list = "[" + ", ".join(class_scores) + "]"
        class_list = "[" + ", ".join(literal(c) for c in classes) + "]"
        top_class = f"{class_list}[list_position({score_list}, list_max({score_list}))]"
        confidence = f"list_max({score_list})"
        hit = f"CAST(({top_class}) = ({y_true}) AS INTEGER)"
        true_probability = "CASE " + " ".join(
            f"WHEN ({y_true}) = {literal(c)} THEN {s}" for c, s in zip(classes, class_scores)
        ) + f" WHEN ({confidence}) IS NOT NULL THEN 0.0 END"
        log_loss = f"CASE WHEN {has_label} THEN {clipped_log_loss(true_probability)} END"

    y_pred = top_class
    if roles.prediction is not None:
        y_pred = class_text(ident(roles.prediction), dtypes[roles.prediction])
    is_correct = None if y_pred is None else f"CAST(({y_pred}) = ({y_true}) AS INTEGER)"
    invalid = " OR ".join(_invalid(s) for s in raw) or "FALSE"
    return Outcomes(
        task=TaskType.MULTICLASS,
        has_label=has_label,
        y_true=y_true,
        y_pred=y_pred,
        positive_score=None,
        classes=classes,
        class_scores=class_scores,
        confidence=confidence,
        confidence_hit=hit,
        invalid_score=f"({invalid})",
        is_correct=is_correct,
        log_loss=log_loss,
        loss=log_loss if log_loss is not None else _error(is_correct),
    )


def _finite_double(expr: str) -> str:
    return f"CASE WHEN isfinite(CAST({expr} AS DOUBLE)) THEN CAST({expr} AS DOUBLE) END"


def _regression(roles: RoleMap, dtypes: dict[str, str]) -> Outcomes:
    predicted = roles.prediction or (roles.scores[0] if roles.scores else None)
    y_true = "CAST(NULL AS DOUBLE)" if roles.label is None else _finite_double(ident(roles.label))
    y_pred = None if predicted is None else _finite_double(ident(predicted))
    invalid = "FALSE"
    if predicted is not None:
        invalid = f"({ident(predicted)} IS NOT NULL AND {y_pred} IS NULL)"
    loss = None if y_pred is None else f"ABS(({y_true}) - ({y_pred}))"
    return Outcomes(
        task=TaskType.REGRESSION,
        has_label=_has_label(roles),
        y_true=y_true,
        y_pred=y_pred,
        positive_score=None,
        classes=(),
        class_scores=(),
        confidence=None,
        confidence_hit=None,
        invalid_score=invalid,
        is_correct=None,
        log_loss=None,
        loss=loss,
    )
