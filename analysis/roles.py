"""Column roles of a prediction log: which column is the id, the label, the score...

:class:`RoleMap` is the value the rest of Sleuth reads; :func:`detect_roles` proposes one from
names, types and values; the user edits it and the workspace saves it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any


class TaskType(str, Enum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Role(str, Enum):
    ID = "id"
    TIMESTAMP = "timestamp"
    MODEL_VERSION = "model_version"
    LABEL = "label"
    PREDICTION = "prediction"
    SCORE = "score"
    FEATURE = "feature"
    IGNORED = "ignored"


SINGLE_ROLES = (Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION, Role.LABEL, Role.PREDICTION)


@dataclass(frozen=True)
class RoleMap:
    """Which column plays which role. Every field names columns of the dataset's view.

    ``scores`` holds one column for a binary task (the positive class's probability) or one
    column per class for a multiclass task, with ``score_classes`` giving the class value
    (as text) of each. ``positive_class`` is the label value, as text, that counts as positive
    in a binary task.
    """

    id: str | None = None
    timestamp: str | None = None
    model_version: str | None = None
    label: str | None = None
    prediction: str | None = None
    scores: tuple[str, ...] = ()
    score_classes: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    task: TaskType = TaskType.BINARY
    positive_class: str | None = None
    threshold: float = 0.5

    def role_of(self, column: str) -> Role:
        for role in SINGLE_ROLES:
            if getattr(self, role.value) == column:
                return role
        if column in self.scores:
            return Role.SCORE
        if column in self.features:
            return Role.FEATURE
        return Role.IGNORED

    def with_role(self, column: str, role: Role) -> "RoleMap":
        """The same mapping with ``column`` moved to ``role`` (a single role's old holder
        becomes a feature, so no column silently disappears)."""
        cleared = self._without(column)
        if role in SINGLE_ROLES:
            previous = getattr(cleared, role.value)
            if previous is not None:
                cleared = replace(cleared, features=cleared.features + (previous,))
            return replace(cleared, **{role.value: column})
        if role is Role.SCORE:
            return replace(cleared, scores=cleared.scores + (column,))
        if role is Role.FEATURE:
            return replace(cleared, features=cleared.features + (column,))
        return replace(cleared, ignored=cleared.ignored + (column,))

    def _without(self, column: str) -> "RoleMap":
        changes: dict[str, Any] = {}
        for role in SINGLE_ROLES:
            if getattr(self, role.value) == column:
                changes[role.value] = None
        if column in self.scores:
            idx = self.scores.index(column)
            changes["scores"] = self.scores[:idx] + self.scores[idx + 1 :]
            if len(self.score_classes) == len(self.scores):
                changes["score_classes"] = self.score_classes[:idx] + self.score_classes[idx + 1 :]
        changes["features"] = tuple(c for c in self.features if c != column)
        changes["ignored"] = tuple(c for c in self.ignored if c != column)
        return replace(self, **changes)

    @property
    def has_outcome(self) -> bool:
        """True when metrics can be computed: a label and a prediction or score."""
        return self.label is not None and (self.prediction is not None or bool(self.scores))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task"] = self.task.value
        for key in ("scores", "score_classes", "features", "ignored"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoleMap":
        known = {f for f in cls.__dataclass_fields__}
        clean = {k: v for k, v in data.items() if k in known}
        for key in ("scores", "score_classes", "features", "ignored"):
            clean[key] = tuple(clean.get(key) or ())
        clean["task"] = TaskType(clean.get("task", "binary"))
        return cls(**clean)
