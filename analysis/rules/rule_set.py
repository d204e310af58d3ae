"""Rules in front of a model, and the rule sets that make a derived version.

Teams bolt simple rules onto a model ("kiosk payments go to the old model", "always flag
amounts over 10,000"), and those rules are versions too. A :class:`Rule` maps a slice to a
fixed output or routes it to another version; a :class:`RuleSet` is the ordered rules on one
base version, numbered: each change makes a new rule set, the old ones are kept. The rule
set evaluated over a log is the *derived version* ``BASE+rules`` (the latest rule set) or
``BASE+rules@N`` (rule set number N); :mod:`analysis.rules.derived` builds its rows.

The JSON form carries a ``schema_version`` and a ``kind`` tag per action, never class paths,
and the slices inside it are :class:`analysis.slices.Slice` documents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Union

from analysis.errors import SchemaError
from analysis.slices import Slice

SCHEMA_VERSION = 1
DERIVED_SUFFIX = "+rules"
_DERIVED = re.compile(r"(?P<base>.+)\+rules(?:@(?P<number>[1-9][0-9]*))?")

Output = Union[bool, int, float, str]
"""A fixed prediction: the value written into the log's prediction column."""


@dataclass(frozen=True)
class Route:
    """Answer with ``version``'s output for the same request id."""

    version: str

    def describe(self) -> str:
        return f"route to {self.version}"


@dataclass(frozen=True)
class FixedOutput:
    """Answer with ``prediction`` and, when given, ``score`` (else the score follows the
    prediction: probability 1 for the predicted class)."""

    prediction: Output
    score: float | None = None

    def describe(self) -> str:
        score = "" if self.score is None else f" (score {self.score:g})"
        return f"predict {self.prediction!r}{score}"


Action = Union[Route, FixedOutput]


@dataclass(frozen=True)
class Rule:
    """Rows of ``where`` get ``action`` instead of the base version's output."""

    where: Slice
    action: Action

    @property
    def name(self) -> str:
        return self.where.name

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.action, Route):
            action = {"kind": "route", "version": self.action.version}
        else:
            action = {"kind": "fixed", "prediction": self.action.prediction, "score": self.action.score}
        return {"where": self.where.to_dict(), "action": action}

    @classmethod
    def from_dict(cls, document: Any, path: str) -> "Rule":
        if not isinstance(document, dict) or not isinstance(document.get("action"), dict):
            raise SchemaError(f"{path}: a rule is an object with 'where' and 'action'")
        where = Slice.from_dict(document.get("where"))
        action = document["action"]
        kind = action.get("kind")
        if kind == "route" and isinstance(action.get("version"), str):
            return cls(where, Route(action["version"]))
        prediction, score = action.get("prediction"), action.get("score")
        if kind == "fixed" and isinstance(prediction, (bool, int, float, str)) and valid_score(score):
            return cls(where, FixedOutput(prediction, None if score is None else float(score)))
        raise SchemaError(f"{path}.action: expected a 'route' with a version or a 'fixed' prediction "
                          f"with a score in [0, 1] or null, not {action!r}")


def valid_score(score: Any) -> bool:
    return score is None or (isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 1)


@dataclass(frozen=True)
class RuleSet:
    """Rule set number ``number`` on ``base``: its rules in order; the first that matches wins."""

    base: str
    number: int
    rules: tuple[Rule, ...]
    note: str = ""

    @property
    def name(self) -> str:
        """The name of exactly this rule set as a version: ``BASE+rules@N``."""
        return f"{latest_name(self.base)}@{self.number}"

    def with_rule(self, rule: Rule, note: str = "") -> "RuleSet":
        """The next rule set: these rules and ``rule`` after them."""
        return RuleSet(self.base, self.number + 1, self.rules + (rule,), note)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "name": self.name, "base": self.base, "number": self.number,
                "note": self.note, "rules": [rule.to_dict() for rule in self.rules]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, document: Any) -> "RuleSet":
        if not isinstance(document, dict):
            raise SchemaError("a rule set is a JSON object")
        version = document.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(f"a rule set of format {version!r} cannot be read (this Sleuth reads {SCHEMA_VERSION})")
        base, number, note = document.get("base"), document.get("number"), document.get("note", "")
        rules = document.get("rules")
        if not isinstance(base, str) or not base or not isinstance(note, str) or not isinstance(rules, list):
            raise SchemaError("a rule set needs a 'base' version, a 'note' and a list of 'rules'")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise SchemaError(f"a rule set's 'number' is a positive integer, not {number!r}")
        return cls(base, number, tuple(Rule.from_dict(r, f"rules[{i}]") for i, r in enumerate(rules)), note)

    @classmethod
    def from_json(cls, text: str) -> "RuleSet":
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, RecursionError):
            raise SchemaError("a rule set is not valid JSON") from None


def empty_rule_set(base: str) -> RuleSet:
    """Rule set number 0: the base version itself, before any rule."""
    return RuleSet(base, 0, ())


def latest_name(base: str) -> str:
    """The derived version that always means the newest rule set on ``base``."""
    return base + DERIVED_SUFFIX


def parse_derived(version: str) -> tuple[str, int | None] | None:
    """(base, rule-set number or None for the latest) for ``BASE+rules[@N]``, else None."""
    match = _DERIVED.fullmatch(version)
    if match is None:
        return None
    number = match.group("number")
    return match.group("base"), None if number is None else int(number)
