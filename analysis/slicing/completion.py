"""What the slice bar offers while a filter is typed: columns, their values, the ML leaves, saved slices.

The bar asks :func:`suggest` at the cursor. Where a condition starts (at the beginning, after
``AND``, ``OR``, ``NOT`` or ``(``) the offers are column names, the role leaves the dataset's
roles can resolve (``wrong``, ``correct``, ``unlabelled``, ``flip('a' -> 'b', negative)`` for
its versions) and the saved slices (inserted as their text in parentheses). After
``column =`` (any comparison) or inside ``column IN (...)`` the offers are that column's values,
which :func:`category_values` reads once per column: the most frequent values of a text or
boolean column, and nothing for a column with more distinct values than a list can show (ids,
free text), where a list of some values would only mislead. Matching is by prefix, any case;
everything offered is written in the slice syntax (names quoted when needed, text quoted), so
accepting an offer never makes the filter unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.data.roles import RoleMap
from analysis.slices import FLIP_DIRECTIONS, OUTCOMES, Flip, Outcome, RoleLeaf, name_text, to_text, value_text
from analysis.slicing.role_leaves import RoleContext
from analysis.store import Store

MAX_VALUES = 50
"""Most values offered for one column; a column with more distinct values offers none."""

CATEGORY_TYPES = ("VARCHAR", "BOOLEAN", "ENUM")

_NAME = r'(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"]|"")+")'
_TYPED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_AFTER_COMPARISON = re.compile(rf"({_NAME})\s*(?:==|!=|<>|<=|>=|=|<|>)\s*$")
_INSIDE_IN_LIST = re.compile(rf"({_NAME})\s+(?:NOT\s+)?IN\s*\((?:[^()]*,)?\s*$", re.IGNORECASE)
_CONDITION_START = re.compile(r"(?:^|\(|\b(?:AND|OR|NOT))\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Suggestion:
    label: str  # what the list shows
    text: str  # what replaces the word being typed
    kind: str  # "column", "value", "leaf" or "saved"


@dataclass(frozen=True)
class Completion:
    """The offers at a cursor: ``suggestions`` replace ``text[start:cursor]``. ``values_of``
    names the column whose values the cursor asks for (offered once they have been read)."""

    start: int
    suggestions: tuple[Suggestion, ...]
    values_of: str | None = None


def suggest(text: str, cursor: int, columns: Sequence[str], values: Mapping[str, Sequence] | None = None,
            leaves: Sequence[RoleLeaf] = (), saved: Mapping[str, str] | None = None) -> Completion:
    """The offers for the word ending at ``cursor`` in ``text`` (see the module text).

    ``values`` holds the values already read per column, ``leaves`` the role leaves the
    dataset can resolve and ``saved`` the saved slices' texts by name."""
    before = text[:cursor]
    start = _word_start(before)
    word, context = before[start:], before[:start]
    column = _compared_column(context, columns)
    if column is not None:
        prefix = word[1:].replace("''", "'") if word.startswith("'") else word
        offered = [Suggestion(value_text(v), value_text(v), "value") for v in (values or {}).get(column, ())
                   if v is not None and _starts(str(v), prefix)]
        return Completion(start, tuple(offered), column)
    if not _CONDITION_START.search(context):
        return Completion(start, ())
    prefix = word.strip('"')
    offered = [Suggestion(f"{name} — saved slice", f"({body})", "saved") for name, body in (saved or {}).items()
               if _starts(name, prefix)]
    offered += [Suggestion(name, name_text(name), "column") for name in columns if _starts(name, prefix)]
    offered += [Suggestion(to_text(leaf), to_text(leaf), "leaf") for leaf in leaves if _starts(to_text(leaf), prefix)]
    return Completion(start, tuple(offered))


def _word_start(before: str) -> int:
    """Where the word ending at the end of ``before`` begins: the opening quote of a text or
    quoted name still open there (quotes are paired from the start, a doubled quote being a
    quote inside), else the start of a bare name (the end itself when there is none)."""
    position = 0
    while position < len(before):
        quote = before[position]
        if quote not in "'\"":
            position += 1
            continue
        close = before.find(quote, position + 1)
        while close >= 0 and before.startswith(quote * 2, close):
            close = before.find(quote, close + 2)
        if close < 0:
            return position  # still open at the cursor
        position = close + 1
    typed = _TYPED_NAME.search(before)
    return typed.start() if typed else len(before)


def _compared_column(context: str, columns: Sequence[str]) -> str | None:
    """The column a value is being typed for (after a comparison or inside an IN list)."""
    found = _AFTER_COMPARISON.search(context) or _INSIDE_IN_LIST.search(context)
    if found is None:
        return None
    name = found.group(1)
    name = name[1:-1].replace('""', '"') if name.startswith('"') else name
    return name if name in columns else None


def _starts(candidate: str, prefix: str) -> bool:
    return candidate.lower().startswith(prefix.lower())


def resolvable_leaves(dataset: Dataset, roles: RoleMap, versions: Sequence[str]) -> list[RoleLeaf]:
    """The role leaves that mean something for ``dataset`` with ``roles``: the outcomes, and a
    negative and a positive flip for each ordered pair of ``versions``."""
    context = RoleContext(dataset, roles, tuple(versions))
    candidates: list[RoleLeaf] = [Outcome(outcome) for outcome in OUTCOMES]
    candidates += [Flip(base, candidate, direction) for base in versions for candidate in versions
                   if base != candidate for direction in FLIP_DIRECTIONS]
    kept = []
    for leaf in candidates:
        try:
            context.check(leaf)
        except SchemaError:
            continue
        kept.append(leaf)
    return kept


def category_values(store: Store, dataset: Dataset, column: str, limit: int = MAX_VALUES,
                    cancel: CancelToken = NEVER_CANCELLED) -> list:
    """The values of a text or boolean ``column``, most frequent first; empty for other types
    and for a column with more than ``limit`` distinct values."""
    dtype = dataset.column(column).dtype.upper()
    if not dtype.startswith(CATEGORY_TYPES):
        return []
    rows = store.rows(Sql(f"SELECT {ident(column)} FROM {ident(dataset.view)} WHERE {ident(column)} IS NOT NULL "
                          f"GROUP BY 1 ORDER BY COUNT(*) DESC, 1 LIMIT {int(limit) + 1}"), cancel)
    return [] if len(rows) > limit else [row[0] for row in rows]
