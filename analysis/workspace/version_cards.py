"""Version cards: model versions as engineers think of them ("the fallback", "new customers").

A log names versions by whatever string the serving system wrote (a UUID, a tag); a card gives
one a human name, says what traffic it serves and where it came from. The raw string stays the
key, so renaming never touches the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from analysis.errors import SchemaError
from analysis.slices import And, Compare, Flip, InSet, Not, Or, Predicate


@dataclass(frozen=True)
class VersionCard:
    version: str
    name: str = ""
    description: str = ""
    serves: str = ""  # the slice of traffic it serves, in the slice text syntax, or empty
    training_snapshot: str = ""
    model_file: str = ""
    notes: str = ""

    @property
    def display_name(self) -> str:
        return self.name.strip() or self.version

    def renamed(self, name: str) -> "VersionCard":
        return replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "VersionCard":
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise SchemaError("a version card is an object with a 'version' text")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if not all(isinstance(v, str) for v in known.values()):
            raise SchemaError(f"version card '{data['version']}': every field is text")
        return cls(**known)


def display_name(cards: dict[str, VersionCard], version: str | None) -> str:
    """The card's name for ``version``, else the raw string ("all rows" without a version)."""
    if version is None:
        return "all rows"
    card = cards.get(str(version))
    return card.display_name if card else str(version)


def in_card_order(versions: Iterable[str | None], order: Sequence[str]) -> list[str | None]:
    """``versions`` in the card order ``order`` (the log's versions as the cards list them: by
    first appearance in the whole log), so every panel, slice and legend shows them alike;
    a version ``order`` does not hold yet follows by name, and no version (None) comes last."""
    position = {version: i for i, version in enumerate(order)}
    return sorted(versions, key=lambda v: (v is None, position.get(v, len(position)), "" if v is None else str(v)))


def card_position(version: str | None, order: Sequence[str]) -> int:
    """The place of ``version`` in the card order: what its colour is keyed by, so a slice
    holding one version draws it in the colour it has in the whole log. A version the order
    does not hold yet (or no version) takes the first place after it."""
    return order.index(version) if version in order else len(order)


def with_card_names(predicate: Predicate, column: str | None, cards: Mapping[str, VersionCard]) -> Predicate:
    """``predicate`` with each value of the version ``column`` and each version of a flip
    replaced by its card's name: what a slice reads as on screen (``model_version = 'fallback'``,
    ``flip('fallback' -> 'new customers')``). Only for showing; the raw predicate stays the one
    that is applied, copied and saved (the parser reads the names back to it)."""
    if column is None:
        return predicate

    def name(value):
        return display_name(cards, value) if isinstance(value, str) else value

    if isinstance(predicate, Compare) and predicate.column == column:
        return replace(predicate, value=name(predicate.value))
    if isinstance(predicate, InSet) and predicate.column == column:
        return replace(predicate, values=tuple(name(v) for v in predicate.values))
    if isinstance(predicate, (And, Or)):
        return type(predicate)(tuple(with_card_names(p, column, cards) for p in predicate.parts))
    if isinstance(predicate, Not):
        return Not(with_card_names(predicate.part, column, cards))
    if isinstance(predicate, Flip):
        base, candidate = display_name(cards, predicate.base), display_name(cards, predicate.candidate)
        return replace(predicate, base=base, candidate=candidate) if base != candidate else predicate
    return predicate
