"""Version cards: model versions as engineers think of them ("the fallback", "new customers").

A log names versions by whatever string the serving system wrote (a UUID, a tag); a card gives
one a human name, says what traffic it serves and where it came from. The raw string stays the
key, so renaming never touches the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from analysis.errors import SchemaError


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
