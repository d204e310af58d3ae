"""A model version as a person types it: its raw string, or the name its version card gives it.

Sleuth shows versions by their card names ("incumbent (logistic)"), in failing-slice results,
panel headers and the slice bar, so that text must read back as the slice it shows. The parser
asks one :class:`VersionNames` for every version it reads: the two versions of
``flip(...)`` and each literal the version column is compared with by ``=``, ``<>`` or ``IN``.
The slice keeps the raw strings (what the log holds, what JSON and the workspace store), so a
renamed card never changes what a saved slice selects.

A raw version wins over a card name that happens to spell it. A name given to two versions is
refused rather than guessed. When the log's versions are known, text that is neither one of
them nor a card's name is refused in a sentence that lists them, instead of selecting no rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from analysis.errors import SchemaError
from analysis.workspace.version_cards import VersionCard


@dataclass(frozen=True)
class VersionNames:
    """Reads versions typed against a log whose version role is ``column``.

    ``cards`` maps raw versions to their cards; ``versions``, when listed, are the log's
    versions (None while they are not known: names still resolve, nothing is refused)."""

    column: str | None
    cards: Mapping[str, VersionCard] = field(default_factory=dict)
    versions: tuple[str, ...] | None = None

    def raw(self, typed: str) -> str:
        """The raw version ``typed`` means; :class:`SchemaError` with a sentence if none."""
        if self.versions is not None and typed in self.versions:
            return typed
        named = [version for version, card in self.cards.items()
                 if card.name.strip() == typed and (self.versions is None or version in self.versions)]
        if len(named) > 1:
            listed = ", ".join(f"'{v}'" for v in named)
            raise SchemaError(f"'{typed}' is the card name of the versions {listed}; write the one you mean "
                              "by its raw string")
        if named:
            return named[0]
        if self.versions is None:
            return typed
        raise SchemaError(f"this log has no model version '{typed}' (its versions: {self.known()})")

    def known(self) -> str:
        """The log's versions as a list to read: raw strings, each with its card's name."""
        shown = []
        for version in self.versions or ():
            name = self.cards[version].name.strip() if version in self.cards else ""
            shown.append(f"'{version}' (card: '{name}')" if name else f"'{version}'")
        return ", ".join(shown) or "none"
