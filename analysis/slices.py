"""A slice is a value: a predicate over a log's columns, with a name and notes.

A slice is never a filtered copy of the data and never a list of millions of row ids. It is a
small immutable tree of conditions (the model is glue's ``SubsetState``) that every panel
takes, that the workspace saves as JSON, that discovery returns and the failure queue links
to. Trees are hashable, so any result can be cached by the slice that produced it.

Three renderings of one tree:

* :func:`to_sql` gives a parameterised ``WHERE`` fragment (names through ``ident()``, values
  as ``?`` parameters), so nothing a user typed is ever pasted into SQL; leaves on what a row
  means (``wrong``, ``flip(...)``, see :class:`RoleLeaf`) need the dataset's roles and are
  resolved by the :class:`LeafResolver` passed where a query is built for one dataset;
* :func:`to_text` gives the slice syntax read by :func:`analysis.slicing.parser.parse_slice`;
* :meth:`Slice.to_json` gives a versioned document with a stable ``kind`` tag per node.

Null semantics. Leaves keep SQL's three-valued logic: ``region != 'EU'`` and
``region NOT IN ('EU')`` do *not* match rows whose region is null (comparing with an
unknown value is unknown, and ``WHERE`` keeps only true rows), which is what a person
filtering "everything but EU" expects from a column with gaps. ``Not(x)`` however means
"rows where ``x`` is not true" (``NOT coalesce(x, FALSE)``), so a slice and its complement
always partition the rows, nulls included.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable, Protocol, Union

from analysis.errors import SchemaError
from analysis.query import ROW_ID, Sql, ident

Value = Union[bool, int, float, str, _dt.datetime, _dt.date]
"""What a predicate compares a column with. Null is not a value: use :class:`IsNull`."""

COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
LOWER_BOUND_OPS = (">", ">=")
UPPER_BOUND_OPS = ("<", "<=")

KEYWORDS = frozenset("AND OR NOT IN BETWEEN IS NULL TRUE FALSE ROWS".split())
"""Words of the slice syntax; a column with one of these names is written in double quotes."""


def check_value(value: Any) -> Value:
    """Accept only the plain value types a slice can save, compare and print."""
    if isinstance(value, (bool, str, _dt.date)):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text values cannot contain NUL characters")
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a slice value must be a finite number, not {value!r}")
        return value
    raise ValueError(f"a slice value must be a number, text, boolean, date or timestamp, not {value!r}")


def check_column(column: Any) -> str:
    if not isinstance(column, str) or column == "" or "\x00" in column:
        raise ValueError(f"not a valid column name: {column!r}")
    return column


class Predicate:
    """Base of every slice node; ``&``, ``|`` and ``~`` build new trees, never mutate."""

    @property
    def columns(self) -> frozenset[str]:
        """The column names this predicate reads (what a cached result depends on)."""
        raise TypeError(f"{type(self).__name__} does not say which columns it reads")

    def __and__(self, other: "Predicate") -> "Predicate":
        return all_of([self, other])

    def __or__(self, other: "Predicate") -> "Predicate":
        return any_of([self, other])

    def __invert__(self) -> "Predicate":
        return self.part if isinstance(self, Not) else Not(self)


@dataclass(frozen=True)
class AllRows(Predicate):
    """The neutral slice: every row. ``Everything & s`` is ``s``."""

    @property
    def columns(self) -> frozenset[str]:
        return frozenset()


Everything = AllRows()


@dataclass(frozen=True)
class Compare(Predicate):
    """``column op value`` with ``op`` one of ``= != < <= > >=``."""

    column: str
    op: str
    value: Value

    def __post_init__(self) -> None:
        check_column(self.column)
        if self.op not in COMPARE_OPS:
            raise ValueError(f"unknown comparison {self.op!r}; use one of {' '.join(COMPARE_OPS)}")
        check_value(self.value)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclass(frozen=True)
class CompareColumns(Predicate):
    """``left op right`` between two columns of the same row, e.g. ``prediction != is_fraud``:
    the model's wrong predictions among the labelled rows. A row where either side is NULL is
    not selected, as in SQL, so an unlabelled row is neither right nor wrong."""

    left: str
    op: str
    right: str

    def __post_init__(self) -> None:
        check_column(self.left)
        check_column(self.right)
        if self.op not in COMPARE_OPS:
            raise ValueError(f"unknown comparison {self.op!r}; use one of {' '.join(COMPARE_OPS)}")

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.left, self.right})


@dataclass(frozen=True)
class InSet(Predicate):
    """``column IN (values)``, or ``NOT IN`` when ``negated``; duplicates are dropped."""

    column: str
    values: tuple[Value, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        check_column(self.column)
        unique = tuple(dict.fromkeys(check_value(v) for v in self.values))
        if not unique:
            raise ValueError(f"an IN list on '{self.column}' needs at least one value")
        object.__setattr__(self, "values", unique)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclass(frozen=True)
class Range(Predicate):
    """An interval of a numeric or time column; an open end is ``None``.

    Half-open ``[low, high)`` is the default because binned intervals and time windows tile
    without overlap that way; ``BETWEEN`` sets both ends inclusive.
    """

    column: str
    low: Value | None
    high: Value | None
    low_inclusive: bool = True
    high_inclusive: bool = False

    def __post_init__(self) -> None:
        check_column(self.column)
        if self.low is None and self.high is None:
            raise ValueError(f"a range on '{self.column}' needs at least one end")
        for end in (self.low, self.high):
            if end is not None:
                check_value(end)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})

    def bounds(self) -> list[Compare]:
        """The range as one or two comparisons, lower end first."""
        parts = []
        if self.low is not None:
            parts.append(Compare(self.column, ">=" if self.low_inclusive else ">", self.low))
        if self.high is not None:
            parts.append(Compare(self.column, "<=" if self.high_inclusive else "<", self.high))
        return parts


@dataclass(frozen=True)
class IsNull(Predicate):
    """``column IS NULL``, or ``IS NOT NULL`` when ``negated``."""

    column: str
    negated: bool = False

    def __post_init__(self) -> None:
        check_column(self.column)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclass(frozen=True)
class RowIds(Predicate):
    """Hand-picked rows, as sorted, merged half-open ranges ``[start, stop)`` of the row id.

    Ranges, not ids: a selection of a million consecutive rows is one pair of numbers.
    """

    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        cleaned = []
        for pair in self.ranges:
            start, stop = pair
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop)):
                raise ValueError(f"row ranges are pairs of integers, not {pair!r}")
            if not 0 <= start < stop:
                raise ValueError(f"row range {start}:{stop} is empty or negative")
            cleaned.append((start, stop))
        if not cleaned:
            raise ValueError("a row selection needs at least one row")
        object.__setattr__(self, "ranges", merge_ranges(cleaned))

    @classmethod
    def of(cls, ids: Iterable[int]) -> "RowIds":
        """The selection of these row ids, stored as runs of consecutive ids."""
        return cls(tuple((i, i + 1) for i in ids))

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({ROW_ID})


def merge_ranges(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return tuple(merged)


def flatten(parts: Iterable[Predicate], kind: type) -> tuple[Predicate, ...]:
    """Parts of an And/Or with nested nodes of the same kind spliced in and duplicates dropped."""
    flat: list[Predicate] = []
    for part in parts:
        if not isinstance(part, Predicate):
            raise ValueError(f"not a slice predicate: {part!r}")
        flat.extend(part.parts if isinstance(part, kind) else (part,))
    return tuple(dict.fromkeys(flat))


@dataclass(frozen=True)
class And(Predicate):
    """Rows where every part is true. Build with ``&`` or :func:`all_of`."""

    parts: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        parts = flatten(self.parts, And)
        if Everything in parts or len(parts) < 2:
            raise ValueError("And needs two or more parts other than Everything; use & or all_of()")
        object.__setattr__(self, "parts", parts)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset().union(*(p.columns for p in self.parts))


@dataclass(frozen=True)
class Or(Predicate):
    """Rows where at least one part is true. Build with ``|`` or :func:`any_of`."""

    parts: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        parts = flatten(self.parts, Or)
        if Everything in parts or len(parts) < 2:
            raise ValueError("Or needs two or more parts other than Everything; use | or any_of()")
        object.__setattr__(self, "parts", parts)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset().union(*(p.columns for p in self.parts))


@dataclass(frozen=True)
class Not(Predicate):
    """Rows where ``part`` is not true (false *or unknown*), so ``s`` and ``~s`` partition rows."""

    part: Predicate

    def __post_init__(self) -> None:
        if not isinstance(self.part, Predicate):
            raise ValueError(f"not a slice predicate: {self.part!r}")

    @property
    def columns(self) -> frozenset[str]:
        return self.part.columns


def all_of(parts: Iterable[Predicate]) -> Predicate:
    """The conjunction of ``parts``: flattened, deduplicated, ``Everything`` when empty."""
    kept = tuple(p for p in flatten(parts, And) if p != Everything)
    if not kept:
        return Everything
    return kept[0] if len(kept) == 1 else And(kept)


def any_of(parts: Iterable[Predicate]) -> Predicate:
    """The disjunction of ``parts``: flattened, deduplicated, ``Everything`` if any part is."""
    kept = flatten(parts, Or)
    if not kept:
        raise ValueError("any_of() needs at least one part")
    if Everything in kept:
        return Everything
    return kept[0] if len(kept) == 1 else Or(kept)


# --- leaves that read the column roles ----------------------------------------------------


OUTCOMES = ("wrong", "correct", "unlabelled")
"""The outcome leaves, as written in the slice syntax."""

FLIP_DIRECTIONS = ("negative", "positive")


class RoleLeaf(Predicate):
    """A condition on what a row *means* (its label, prediction, version, request id) rather
    than on named columns: which columns those are is the dataset's role mapping, so the leaf
    stays unresolved in the tree (and in saved slices) and becomes SQL only where a query is
    built for one dataset, through a :class:`LeafResolver`. A slice saved as ``wrong`` still
    means the wrong predictions after the label column is remapped."""

    @property
    def columns(self) -> frozenset[str]:
        return frozenset()


@dataclass(frozen=True)
class Outcome(RoleLeaf):
    """``wrong`` (labelled, predicted, and the prediction is not the label), ``correct``, or
    ``unlabelled`` (no label yet). An unlabelled row is neither wrong nor correct."""

    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"an outcome is one of {', '.join(OUTCOMES)}, not {self.outcome!r}")


@dataclass(frozen=True)
class Flip(RoleLeaf):
    """The candidate's rows of the requests that flipped between two versions, paired by
    request id: ``negative`` when the base was right and the candidate wrong, ``positive`` the
    reverse (for a regression model: the absolute error grew, or shrank)."""

    base: str
    candidate: str
    direction: str = "negative"

    def __post_init__(self) -> None:
        for version in (self.base, self.candidate):
            if not isinstance(version, str) or version == "" or "\x00" in version:
                raise ValueError(f"a flip names two model versions as text, not {version!r}")
        if self.base == self.candidate:
            raise ValueError(f"a flip is between two different versions, not '{self.base}' and itself")
        if self.direction not in FLIP_DIRECTIONS:
            raise ValueError(f"a flip is {' or '.join(FLIP_DIRECTIONS)}, not {self.direction!r}")


class LeafResolver(Protocol):
    """Turns a :class:`RoleLeaf` into SQL over one dataset's view, knowing its roles.

    Raises :class:`SchemaError` with a sentence when the leaf cannot mean anything there (no
    label column, no request id to pair versions by)."""

    def leaf_sql(self, leaf: RoleLeaf) -> Sql: ...


def role_leaves(pred: Predicate) -> list[RoleLeaf]:
    """The role leaves of ``pred``, in order: empty for a slice that only names columns."""
    if isinstance(pred, RoleLeaf):
        return [pred]
    if isinstance(pred, (And, Or)):
        return [leaf for part in pred.parts for leaf in role_leaves(part)]
    if isinstance(pred, Not):
        return role_leaves(pred.part)
    return []


# --- edit modes --------------------------------------------------------------------------


class EditMode(str, Enum):
    """How a new selection combines with the current slice (glue's ``edit_subset_mode``).

    ``NARROW`` is AND, except that a condition of the current slice on the same columns as the
    new one is replaced: picking another time range or another bin moves the slice instead of
    emptying it. A role leaf names no column, so it is always ANDed.
    """

    REPLACE = "replace"
    AND = "and"
    OR = "or"
    AND_NOT = "and_not"
    NARROW = "narrow"


def combine(current: Predicate, new: Predicate, mode: EditMode | str) -> Predicate:
    """The slice that results from applying ``new`` to ``current`` in ``mode``."""
    mode = EditMode(mode)
    if mode is EditMode.REPLACE:
        return new
    if mode is EditMode.AND:
        return current & new
    if mode is EditMode.OR:
        return current | new
    if mode is EditMode.NARROW:
        kept = [part for part in conjuncts(current) if not new.columns or part.columns != new.columns]
        return all_of(kept + [new])
    return current & ~new


def conjuncts(predicate: Predicate) -> list[Predicate]:
    """The conditions ANDed in ``predicate`` (none for all rows)."""
    if predicate is Everything:
        return []
    return list(predicate.parts) if isinstance(predicate, And) else [predicate]


# --- SQL ---------------------------------------------------------------------------------


def to_sql(pred: Predicate, resolver: LeafResolver | None = None) -> Sql:
    """A parameterised ``WHERE`` fragment selecting the rows where ``pred`` is true.

    ``resolver`` turns role leaves (``wrong``, ``flip(...)``) into SQL for the dataset queried;
    only the places that turn the *current* or a *typed* slice into a query pass one, so a
    role leaf anywhere else is refused with a sentence rather than guessed.
    """
    if isinstance(pred, RoleLeaf):
        if resolver is None:
            raise SchemaError(f"'{to_text(pred)}' depends on the log's column roles and cannot be used here")
        return resolver.leaf_sql(pred)
    if isinstance(pred, AllRows):
        return Sql("TRUE")
    if isinstance(pred, Compare):
        return Sql(f"{ident(pred.column)} {pred.op} ?", (pred.value,))
    if isinstance(pred, CompareColumns):
        return Sql(f"{ident(pred.left)} {pred.op} {ident(pred.right)}")
    if isinstance(pred, InSet):
        marks = ", ".join("?" * len(pred.values))
        keyword = "NOT IN" if pred.negated else "IN"
        return Sql(f"{ident(pred.column)} {keyword} ({marks})", pred.values)
    if isinstance(pred, Range):
        return join_sql([to_sql(c) for c in pred.bounds()], "AND")
    if isinstance(pred, IsNull):
        return Sql(f"{ident(pred.column)} IS {'NOT ' if pred.negated else ''}NULL")
    if isinstance(pred, RowIds):
        row = ident(ROW_ID)
        return join_sql(
            [Sql(f"{row} >= ? AND {row} < ?", pair) for pair in pred.ranges], "OR"
        )
    if isinstance(pred, And):
        return join_sql([to_sql(p, resolver) for p in pred.parts], "AND")
    if isinstance(pred, Or):
        return join_sql([to_sql(p, resolver) for p in pred.parts], "OR")
    if isinstance(pred, Not):
        inner = to_sql(pred.part, resolver)
        return Sql(f"NOT coalesce(({inner.text}), FALSE)", inner.params)
    raise TypeError(f"not a slice predicate: {pred!r}")


def join_sql(fragments: list[Sql], operator: str) -> Sql:
    if len(fragments) == 1:
        return fragments[0]
    text = f" {operator} ".join(f"({f.text})" for f in fragments)
    return Sql(text, tuple(p for f in fragments for p in f.params))


# --- text --------------------------------------------------------------------------------
#
# Binding strength in the slice syntax, as in SQL: OR < AND < NOT < a single condition.
# A part is wrapped in parentheses only when it binds more loosely than where it stands.

_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def to_text(pred: Predicate) -> str:
    """The predicate in the slice syntax, readable and accepted by ``parse_slice``."""
    return _text(pred)[0]


def _text(pred: Predicate) -> tuple[str, int]:
    """The text of ``pred`` and how tightly it binds."""
    if isinstance(pred, AllRows):
        return "TRUE", _ATOM
    if isinstance(pred, Compare):
        return f"{name_text(pred.column)} {pred.op} {value_text(pred.value)}", _ATOM
    if isinstance(pred, CompareColumns):
        return f"{name_text(pred.left)} {pred.op} {name_text(pred.right)}", _ATOM
    if isinstance(pred, InSet):
        values = ", ".join(value_text(v) for v in pred.values)
        keyword = "NOT IN" if pred.negated else "IN"
        return f"{name_text(pred.column)} {keyword} ({values})", _ATOM
    if isinstance(pred, Range):
        if pred.low is not None and pred.high is not None and pred.low_inclusive and pred.high_inclusive:
            low, high = value_text(pred.low), value_text(pred.high)
            return f"{name_text(pred.column)} BETWEEN {low} AND {high}", _ATOM
        bounds = pred.bounds()
        return " AND ".join(to_text(b) for b in bounds), (_AND if len(bounds) > 1 else _ATOM)
    if isinstance(pred, IsNull):
        return f"{name_text(pred.column)} IS {'NOT ' if pred.negated else ''}NULL", _ATOM
    if isinstance(pred, RowIds):
        return "ROWS " + ", ".join(f"{a}:{b}" for a, b in pred.ranges), _ATOM
    if isinstance(pred, Outcome):
        return pred.outcome, _ATOM
    if isinstance(pred, Flip):
        return f"flip({quote_text(pred.base)} -> {quote_text(pred.candidate)}, {pred.direction})", _ATOM
    if isinstance(pred, And):
        return " AND ".join(_wrapped(p, _AND) for p in pred.parts), _AND
    if isinstance(pred, Or):
        return " OR ".join(_wrapped(p, _OR) for p in pred.parts), _OR
    if isinstance(pred, Not):
        return "NOT " + _wrapped(pred.part, _NOT), _NOT
    raise TypeError(f"not a slice predicate: {pred!r}")


def _wrapped(pred: Predicate, context: int) -> str:
    text, strength = _text(pred)
    return f"({text})" if strength < context else text


def name_text(column: str) -> str:
    """A column name as written in the slice syntax: bare when plain, else double-quoted."""
    if _PLAIN_NAME.fullmatch(column) and column.upper() not in KEYWORDS:
        return column
    return '"' + column.replace('"', '""') + '"'


def value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, _dt.datetime):
        return quote_text(value.isoformat(sep=" "))
    if isinstance(value, _dt.date):
        return quote_text(value.isoformat())
    return quote_text(value)


def quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- the Slice value and its JSON --------------------------------------------------------


SCHEMA_VERSION = 1
MAX_JSON_DEPTH = 200

UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""``UPGRADES[n]`` turns a version-``n`` slice document into version ``n + 1``.

Saved slices outlive releases: when the document format changes, the old reader is not
kept; instead one function per step lifts old documents to the current version.
"""


@dataclass(frozen=True)
class Slice:
    """A named predicate. Equal (and hashed) by predicate and name; notes do not count."""

    predicate: Predicate
    name: str = ""
    notes: str = field(default="", compare=False)

    @property
    def columns(self) -> frozenset[str]:
        return self.predicate.columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "notes": self.notes,
            "predicate": predicate_to_dict(self.predicate),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, document: Any) -> "Slice":
        """Read a saved slice of any known version; anything malformed raises SchemaError."""
        if not isinstance(document, dict):
            raise SchemaError(f"a saved slice is a JSON object, not {type(document).__name__}")
        document = upgrade(document)
        name, notes = document.get("name", ""), document.get("notes", "")
        if not isinstance(name, str) or not isinstance(notes, str):
            raise SchemaError("a saved slice's name and notes must be text")
        if "predicate" not in document:
            raise SchemaError("a saved slice has no 'predicate'")
        return cls(predicate_from_dict(document["predicate"]), name, notes)

    @classmethod
    def from_json(cls, text: str) -> "Slice":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"a saved slice is not valid JSON: {exc.msg} at character {exc.pos}") from None
        except RecursionError:
            raise SchemaError("a saved slice is nested too deeply") from None
        return cls.from_dict(document)


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """Lift a slice document to :data:`SCHEMA_VERSION` through the :data:`UPGRADES` chain."""
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemaError(f"a saved slice needs a positive integer 'schema_version', not {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"this slice was saved by a newer Sleuth (format {version}; this one reads up to {SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        document = UPGRADES[version](document)
        version += 1
    return document


def predicate_to_dict(pred: Predicate) -> dict[str, Any]:
    """The JSON form of a predicate: one object per node with a stable ``kind`` tag."""
    if isinstance(pred, AllRows):
        return {"kind": "everything"}
    if isinstance(pred, Compare):
        return {"kind": "compare", "column": pred.column, "op": pred.op, "value": value_to_json(pred.value)}
    if isinstance(pred, CompareColumns):
        return {"kind": "compare_columns", "left": pred.left, "op": pred.op, "right": pred.right}
    if isinstance(pred, InSet):
        values = [value_to_json(v) for v in pred.values]
        return {"kind": "in_set", "column": pred.column, "values": values, "negated": pred.negated}
    if isinstance(pred, Range):
        return {
            "kind": "range",
            "column": pred.column,
            "low": value_to_json(pred.low),
            "high": value_to_json(pred.high),
            "low_inclusive": pred.low_inclusive,
            "high_inclusive": pred.high_inclusive,
        }
    if isinstance(pred, IsNull):
        return {"kind": "is_null", "column": pred.column, "negated": pred.negated}
    if isinstance(pred, RowIds):
        return {"kind": "row_ids", "ranges": [list(r) for r in pred.ranges]}
    if isinstance(pred, Outcome):
        return {"kind": "outcome", "outcome": pred.outcome}
    if isinstance(pred, Flip):
        return {"kind": "flip", "base": pred.base, "candidate": pred.candidate, "direction": pred.direction}
    if isinstance(pred, (And, Or)):
        return {"kind": "and" if isinstance(pred, And) else "or", "parts": [predicate_to_dict(p) for p in pred.parts]}
    if isinstance(pred, Not):
        return {"kind": "not", "part": predicate_to_dict(pred.part)}
    raise TypeError(f"not a slice predicate: {pred!r}")


def value_to_json(value: Value | None) -> Any:
    """Numbers, text, booleans and null as themselves; dates and timestamps tagged."""
    if isinstance(value, _dt.datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"date": value.isoformat()}
    return value


def predicate_from_dict(node: Any, path: str = "predicate", depth: int = 0) -> Predicate:
    """Rebuild a predicate, naming the JSON path of anything that does not fit."""
    if depth > MAX_JSON_DEPTH:
        raise SchemaError(f"{path}: slice is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(node, dict):
        raise SchemaError(f"{path}: expected an object with a 'kind', not {type(node).__name__}")
    kind = node.get("kind")
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise SchemaError(f"{path}: unknown slice kind {kind!r}; known kinds: {', '.join(sorted(_READERS))}")
    try:
        return reader(node, path, depth)
    except KeyError as exc:
        raise SchemaError(f"{path}: a '{kind}' node needs {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{path}: {exc}") from None


def value_from_json(data: Any) -> Value | None:
    if isinstance(data, dict):
        if set(data) == {"timestamp"} and isinstance(data["timestamp"], str):
            return _dt.datetime.fromisoformat(data["timestamp"])
        if set(data) == {"date"} and isinstance(data["date"], str):
            return _dt.date.fromisoformat(data["date"])
        raise ValueError(f"a tagged value is {{'timestamp': ...}} or {{'date': ...}}, not {data!r}")
    return data


def _flag(node: dict[str, Any], key: str, default: bool) -> bool:
    value = node.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"'{key}' must be true or false, not {value!r}")
    return value


def _read_list(node: dict[str, Any], key: str) -> list[Any]:
    value = node[key]
    if not isinstance(value, list):
        raise ValueError(f"'{key}' must be a list")
    return value


def _read_parts(node: dict[str, Any], path: str, depth: int) -> list[Predicate]:
    return [
        predicate_from_dict(part, f"{path}.parts[{i}]", depth + 1)
        for i, part in enumerate(_read_list(node, "parts"))
    ]


_READERS: dict[str, Callable[[dict[str, Any], str, int], Predicate]] = {
    "everything": lambda node, path, depth: Everything,
    "compare": lambda node, path, depth: Compare(node["column"], node["op"], value_from_json(node["value"])),
    "compare_columns": lambda node, path, depth: CompareColumns(node["left"], node["op"], node["right"]),
    "in_set": lambda node, path, depth: InSet(
        node["column"], tuple(value_from_json(v) for v in _read_list(node, "values")), _flag(node, "negated", False)
    ),
    "range": lambda node, path, depth: Range(
        node["column"],
        value_from_json(node.get("low")),
        value_from_json(node.get("high")),
        _flag(node, "low_inclusive", True),
        _flag(node, "high_inclusive", False),
    ),
    "is_null": lambda node, path, depth: IsNull(node["column"], _flag(node, "negated", False)),
    "row_ids": lambda node, path, depth: RowIds(tuple(tuple(r) for r in _read_list(node, "ranges"))),
    "outcome": lambda node, path, depth: Outcome(node["outcome"]),
    "flip": lambda node, path, depth: Flip(node["base"], node["candidate"], node["direction"]),
    "and": lambda node, path, depth: And(tuple(_read_parts(node, path, depth))),
    "or": lambda node, path, depth: Or(tuple(_read_parts(node, path, depth))),
    "not": lambda node, path, depth: Not(predicate_from_dict(node["part"], f"{path}.part", depth + 1)),
}
