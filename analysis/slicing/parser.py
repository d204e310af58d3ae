"""Text to slice: the filter box's language, read by a hand-written parser.

The syntax is a small, safe subset of SQL's ``WHERE``::

    region = 'EU-West' AND amount > 500
    merchant_category IN ('electronics', 'travel') OR NOT flagged = TRUE
    amount BETWEEN 10 AND 20          merchant_risk IS NOT NULL
    timestamp >= '2026-10-14 02:00:00' "my col" != 'O''Brien'      ROWS 0:100, 250:300
    prediction <> is_fraud            (a column compared with another column of the same kind)
    wrong AND region = 'EU-West'      correct      unlabelled      flip('v1' -> 'v2', negative)

The text is never handed to DuckDB. It is tokenised and parsed here into an
:mod:`analysis.slices` tree, and only that tree becomes SQL (names quoted, values as
parameters). Anything outside the grammar (functions, subqueries, comments, ``;``, arithmetic)
is an error that points at the character where it starts. A name after a comparison is a column:
``prediction <> is_fraud`` selects the labelled rows whose prediction differs from the label (a row
with either side NULL is not selected, as in SQL); the two columns must hold the same kind of value.

Some conditions are about what a row *means* and read the dataset's column roles instead of
column names: ``wrong`` (labelled, and the prediction is not the label), ``correct``,
``unlabelled`` (no label yet), and ``flip('base' -> 'candidate', negative)``: the candidate's
rows of the requests the base version got right and the candidate wrong (``positive``: the
reverse), paired by request id. Versions are written as text (a bare name or number is read as
its text). These words are conditions only where a condition stands alone, so a column called
``wrong`` is still compared as ``wrong = 1``. Given a ``check_leaf`` callable, the parser asks it
whether each such condition means something for the dataset, and points at the one that does not.

Given a :class:`~analysis.slicing.version_names.VersionNames`, a version may also be written by
its card's name, in a flip and wherever the version column is compared with a value (``=``,
``<>``, ``IN``): the slice holds the raw string it stands for, and a version the log does not
hold is refused in a sentence listing those it does.

Values are checked against the column's DuckDB type, so mistakes surface while typing rather
than as an empty table:

* numeric columns take numbers; a quoted number (``'500'``) is accepted as the number;
* TIMESTAMP and DATE columns take ISO text (``'2026-10-14'``, ``'2026-10-14 02:00'``,
  ``'2026-10-14T02:00:00+02:00'``), kept as a ``date`` or ``datetime``;
* BOOLEAN columns take ``TRUE``/``FALSE``;
* VARCHAR columns take text, and also a bare number, read as the text typed (``client = 7``
  means ``client = '7'``), because ids and codes are often digits stored as text;
* list, struct and map columns can only be tested with ``IS [NOT] NULL``;
* UUID columns take UUID text (anything else would fail inside DuckDB, far from the typing);
* other types (TIME, INTERVAL...) take text or numbers and DuckDB casts them.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from analysis.dataset import NUMERIC_TYPES
from analysis.errors import SchemaError, SleuthError
from analysis.slices import (
    FLIP_DIRECTIONS,
    KEYWORDS,
    LOWER_BOUND_OPS,
    OUTCOMES,
    UPPER_BOUND_OPS,
    And,
    Compare,
    CompareColumns,
    Everything,
    Flip,
    InSet,
    IsNull,
    Outcome,
    Predicate,
    Range,
    RoleLeaf,
    RowIds,
    Value,
    all_of,
    any_of,
    flatten,
)
from analysis.slicing.version_names import VersionNames

MAX_LENGTH = 20_000
"""Longest accepted expression: room for an IN list of about a thousand categories."""

MAX_DEPTH = 64
"""Deepest nesting of parentheses and NOTs; keeps the recursive parser far from Python's limit."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

OUTCOME_WORDS = {**{word: word for word in OUTCOMES}, "unlabeled": "unlabelled"}
"""The outcome leaves as they may be typed (either spelling of unlabelled), any case."""


class SliceParseError(SleuthError):
    """A filter expression that cannot be read; ``position`` is the 0-based offending offset."""

    def __init__(self, message: str, position: int, *, column: str | None = None) -> None:
        self.position = position
        super().__init__(f"{message} (at character {position + 1})", column=column)


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # NAME, QUOTED_NAME, KEYWORD, STRING, NUMBER, OP, "(", ")", ",", ":", "->", END
    text: str  # the keyword upper-cased, the name or string unquoted, otherwise as typed
    position: int
    value: Value | None = None


OPERATORS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOOKALIKE_QUOTES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033\u00b4`\uff02\uff07"


def tokenize(text: str) -> Iterator[Token]:
    """Split ``text`` into tokens, rejecting anything the grammar has no use for.

    Tokens are produced as the parser asks for them, so of several problems the user is
    told about the first one in the text, whether it is a stray character or a misplaced word.
    """
    if len(text) > MAX_LENGTH:
        raise SliceParseError(f"the filter is {len(text):,} characters long; the limit is {MAX_LENGTH:,}", MAX_LENGTH)
    if "\x00" in text:
        raise SliceParseError("the filter contains a NUL character", text.index("\x00"))
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif text.startswith("--", i) or text.startswith("/*", i):
            raise SliceParseError("comments are not allowed in a filter", i)
        elif text.startswith("->", i):
            yield Token("->", "->", i)
            i += 2
        elif ch == "'":
            body, i_end = read_quoted(text, i, "'", "text")
            yield Token("STRING", body, i, body)
            i = i_end
        elif ch == '"':
            body, i_end = read_quoted(text, i, '"', "column name")
            if body == "":
                raise SliceParseError('"" is an empty column name', i)
            yield Token("QUOTED_NAME", body, i)
            i = i_end
        elif NUMBER.match(text, i):
            number = read_number(text, i)
            yield number
            i += len(number.text)
        elif NAME.match(text, i):
            word = NAME.match(text, i).group()
            yield Token("KEYWORD", word.upper(), i) if word.upper() in KEYWORDS else Token("NAME", word, i)
            i += len(word)
        elif text[i : i + 2] in OPERATORS or ch in OPERATORS:
            op = text[i : i + 2] if text[i : i + 2] in OPERATORS else ch
            yield Token("OP", OPERATORS[op], i)
            i += len(op)
        elif ch in "(),:":
            yield Token(ch, ch, i)
            i += 1
        else:
            raise SliceParseError(explain_character(ch), i)
    yield Token("END", "", len(text))


def read_quoted(text: str, start: int, quote: str, what: str) -> tuple[str, int]:
    """The body of a quoted string or name starting at ``start`` (a doubled quote is one quote)."""
    parts = []
    i = start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise SliceParseError(f"unterminated {what}: the {quote} opened here is never closed", start)
        parts.append(text[i:end])
        if text.startswith(quote * 2, end):
            parts.append(quote)
            i = end + 2
        else:
            return "".join(parts), end + 1


def read_number(text: str, start: int) -> Token:
    raw = NUMBER.match(text, start).group()
    end = start + len(raw)
    if end < len(text) and (text[end].isalnum() or text[end] in "._"):
        raise SliceParseError(f"malformed number {text[start:end + 1]!r}", start)
    if re.fullmatch(r"-?\d+", raw):
        value: int | float = int(raw)
        if not INT64_MIN <= value <= INT64_MAX:
            raise SliceParseError(f"the number {raw} is too large", start)
    else:
        value = float(raw)
        if value in (float("inf"), float("-inf")):
            raise SliceParseError(f"the number {raw} is too large", start)
    return Token("NUMBER", raw, start, value)


def explain_character(ch: str) -> str:
    if ch == ";":
        return "';' is not allowed: a filter is a single condition"
    if ch in LOOKALIKE_QUOTES:
        return f"'{ch}' is not a quote the filter understands: write text in straight quotes 'like this'"
    if ch == "\\":
        return "a backslash is not allowed; to put a quote inside text, double it: 'O''Brien'"
    if ch.isalpha():
        return f"unexpected character '{ch}': put column names with such characters in double quotes"
    if not ch.isprintable():
        return f"unexpected invisible character U+{ord(ch):04X}"
    return f"unexpected character '{ch}'"


# --- types -------------------------------------------------------------------------------


def type_family(dtype: str) -> str:
    """Which value rules apply to a DuckDB type: number, time, date, bool, uuid, text, nested, other."""
    upper = dtype.strip().upper()
    base = upper.split("(")[0].strip()
    if base in NUMERIC_TYPES:
        return "number"
    if "[" in upper or base.startswith(("STRUCT", "MAP", "UNION")):
        return "nested"
    if base.startswith("TIMESTAMP"):
        return "time"
    if base == "DATE":
        return "date"
    if base in ("BOOLEAN", "BOOL"):
        return "bool"
    if base == "UUID":
        return "uuid"
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"):
        return "text"
    return "other"


def parse_iso(text: str) -> _dt.date | _dt.datetime:
    """An ISO date (``2026-10-14``) or date-time with optional time zone; ValueError if neither."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _dt.date.fromisoformat(text)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].+", text):
        raise ValueError(text)
    return _dt.datetime.fromisoformat(text)


# --- the parser --------------------------------------------------------------------------


LeafCheck = Callable[[RoleLeaf], None]
"""Raises :class:`SchemaError` with a sentence when a role leaf means nothing for the dataset."""


def parse_slice(text: str, columns: Mapping[str, str], check_leaf: LeafCheck | None = None,
                versions: VersionNames | None = None) -> Predicate:
    """Parse a filter expression against ``columns`` (name -> DuckDB type) into a predicate.

    Raises :class:`SliceParseError`, with the position of the problem, for anything that is
    not a well-formed, well-typed filter over those columns, and (given ``check_leaf``, see
    :mod:`analysis.slicing.role_leaves`) for a role leaf the dataset's roles cannot resolve.
    Given ``versions``, each version typed (in a flip, or compared with the version column) is
    read through it: a card's name becomes its raw version, an unknown version is refused.
    """
    if not isinstance(text, str):
        raise SliceParseError("a filter must be text", 0)
    if text.strip() == "":
        raise SliceParseError("the filter is empty", 0)
    return Parser(tokenize(text), dict(columns), check_leaf, versions).parse()


class Parser:
    """Recursive descent over the tokens, with SQL's precedence: OR < AND < NOT < condition."""

    def __init__(self, tokens: Iterator[Token], columns: dict[str, str], check_leaf: LeafCheck | None = None,
                 versions: VersionNames | None = None) -> None:
        self.pending = tokens
        self.tokens: list[Token] = []
        self.at = 0
        self.columns = columns
        self.check_leaf = check_leaf
        self.versions = versions
        self.depth = 0

    def parse(self) -> Predicate:
        pred = self.or_expr()
        token = self.peek()
        if token.kind == ")":
            raise SliceParseError("this ')' has no matching '('", token.position)
        if token.kind != "END":
            raise SliceParseError(f"unexpected {describe(token)}: expected AND, OR or the end", token.position)
        return pred

    # token helpers

    def peek(self, ahead: int = 0) -> Token:
        """The token ``ahead`` places on, read from the text only now; END repeats at the end."""
        while len(self.tokens) <= self.at + ahead and (not self.tokens or self.tokens[-1].kind != "END"):
            self.tokens.append(next(self.pending))
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.at += 1
        return token

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "KEYWORD" and token.text == word

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise SliceParseError(f"expected {what}, found {describe(token)}", token.position)
        return self.take()

    def expect_keyword(self, word: str, context: str) -> None:
        if not self.is_keyword(word):
            token = self.peek()
            raise SliceParseError(f"expected {word} {context}, found {describe(token)}", token.position)
        self.take()

    def nest(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SliceParseError(f"the filter is nested more than {MAX_DEPTH} levels deep", position)

    # grammar

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.is_keyword("OR"):
            self.take()
            parts.append(self.and_expr())
        return any_of(parts)

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.is_keyword("AND"):
            self.take()
            parts.append(self.not_expr())
        return all_of(fuse_ranges(list(flatten(parts, And))))

    def not_expr(self) -> Predicate:
        if not self.is_keyword("NOT"):
            return self.primary()
        self.nest(self.take().position)
        pred = ~self.not_expr()
        self.depth -= 1
        return pred

    def primary(self) -> Predicate:
        token = self.peek()
        if token.kind == "(":
            self.nest(self.take().position)
            pred = self.or_expr()
            if self.peek().kind != ")":
                found = self.peek()
                raise SliceParseError(
                    f"expected ')' to close the '(' at character {token.position + 1}, found {describe(found)}",
                    found.position,
                )
            self.take()
            self.depth -= 1
            return pred
        if self.is_keyword("TRUE"):
            self.take()
            return Everything
        if self.is_keyword("ROWS"):
            self.take()
            return self.row_ranges()
        if self.starts_role_leaf():
            return self.role_leaf()
        return self.condition()

    def starts_role_leaf(self) -> bool:
        """True at ``wrong``/``correct``/``unlabelled`` standing alone, or at ``flip(``: a
        column of that name is followed by a comparison, never by AND, OR, ')' or the end."""
        token = self.peek()
        if token.kind != "NAME":
            return False
        word, after = token.text.lower(), self.peek(1)
        if word == "flip":
            return after.kind == "("
        return word in OUTCOME_WORDS and (after.kind in (")", "END") or (
            after.kind == "KEYWORD" and after.text in ("AND", "OR")))

    def role_leaf(self) -> RoleLeaf:
        start = self.take()
        if start.text.lower() == "flip":
            leaf: RoleLeaf = self.flip()
        else:
            leaf = Outcome(OUTCOME_WORDS[start.text.lower()])
        if self.check_leaf is not None:
            try:
                self.check_leaf(leaf)
            except SchemaError as exc:
                raise SliceParseError(str(exc), start.position) from None
        return leaf

    def flip(self) -> Flip:
        """``flip(base -> candidate, negative|positive)``, the direction negative if left out."""
        self.expect("(", "'(' after flip")
        base = self.version("the base version after 'flip('")
        self.expect("->", "'->' between the base and the candidate version")
        candidate_at = self.peek().position
        candidate = self.version("the candidate version after '->'")
        direction = "negative"
        if self.peek().kind == ",":
            self.take()
            token = self.peek()
            if token.kind != "NAME" or token.text.lower() not in FLIP_DIRECTIONS:
                raise SliceParseError(f"expected negative or positive, found {describe(token)}", token.position)
            direction = self.take().text.lower()
        self.expect(")", "')' to close flip(...)")
        if base == candidate:
            raise SliceParseError(f"a flip is between two different versions, not '{base}' and itself",
                                  candidate_at)
        return Flip(base, candidate, direction)

    def version(self, what: str) -> str:
        """A model version: text in quotes, or a bare name or number read as the text typed;
        a card's name read as its raw version."""
        token = self.peek()
        if token.kind not in ("STRING", "NAME", "NUMBER") or token.text == "":
            raise SliceParseError(f"expected {what}, found {describe(token)}", token.position)
        self.take()
        return self.raw_version(token.text, token.position)

    def raw_version(self, typed: str, position: int) -> str:
        """``typed`` as the raw version it names (itself without a :class:`VersionNames`)."""
        if self.versions is None:
            return typed
        try:
            return self.versions.raw(typed)
        except SchemaError as exc:
            raise SliceParseError(str(exc), position) from None

    def row_ranges(self) -> RowIds:
        ranges = [self.row_range()]
        while self.peek().kind == ",":
            self.take()
            ranges.append(self.row_range())
        return RowIds(tuple(ranges))

    def row_range(self) -> tuple[int, int]:
        start = self.row_number("a row range start:stop after ROWS")
        self.expect(":", "':' between the start and stop of a row range")
        stop = self.row_number("the stop of a row range")
        if stop.value <= start.value:
            raise SliceParseError(f"the row range {start.text}:{stop.text} is empty", start.position)
        return (start.value, stop.value)

    def row_number(self, what: str) -> Token:
        token = self.expect("NUMBER", what)
        if not isinstance(token.value, int) or token.value < 0:
            raise SliceParseError(f"row numbers are whole numbers from 0, not {token.text}", token.position)
        return token

    def condition(self) -> Predicate:
        column, dtype = self.column_name()
        token = self.peek()
        if token.kind == "OP":
            self.take()
            if self.names_column(self.peek()):
                return self.column_comparison(column, dtype, token.text)
            names_version = token.text in ("=", "!=") and self.is_version_column(column)
            return Compare(column, token.text, self.value(column, dtype, f"after '{token.text}'", names_version))
        negated = self.is_keyword("NOT") and (self.is_keyword("IN", 1) or self.is_keyword("BETWEEN", 1))
        if negated:
            self.take()
        if self.is_keyword("IN"):
            self.take()
            return InSet(column, self.value_list(column, dtype, self.is_version_column(column)), negated)
        if self.is_keyword("BETWEEN"):
            self.take()
            low = self.value(column, dtype, "after BETWEEN")
            self.expect_keyword("AND", "between the two ends of BETWEEN")
            high = self.value(column, dtype, "after BETWEEN ... AND")
            between = Range(column, low, high, True, True)
            return ~between if negated else between
        if self.is_keyword("IS"):
            self.take()
            is_not = self.is_keyword("NOT")
            if is_not:
                self.take()
            self.expect_keyword("NULL", "after IS" + (" NOT" if is_not else ""))
            return IsNull(column, is_not)
        raise SliceParseError(
            f"expected a comparison (=, !=, <, <=, >, >=), IN, BETWEEN or IS NULL after '{column}', "
            f"found {describe(token)}",
            token.position,
        )

    def is_version_column(self, column: str) -> bool:
        """True when ``column`` holds the model versions and typed versions are resolved."""
        return self.versions is not None and self.versions.column == column

    def names_column(self, token: Token) -> bool:
        """True when ``token`` names a column of the schema (not a function call)."""
        if token.kind not in ("NAME", "QUOTED_NAME"):
            return False
        known = token.text in self.columns or (
            token.kind == "NAME" and any(c.lower() == token.text.lower() for c in self.columns))
        return known and self.peek(1).kind != "("

    def column_comparison(self, left: str, left_type: str, op: str) -> CompareColumns:
        """``left op right`` for a name after the operator: two columns of one family (numbers
        with numbers, text with text...), so ``prediction != is_fraud`` reads as the wrong
        predictions and a mistyped pair is refused here rather than by DuckDB."""
        token = self.peek()
        right = self.resolve(token)
        right_type = self.columns[right]
        if type_family(left_type) != type_family(right_type) or type_family(left_type) == "nested":
            raise SliceParseError(
                f"'{left}' ({left_type}) cannot be compared with '{right}' ({right_type}); "
                "compare columns of the same kind, or put text in single quotes",
                token.position,
            )
        self.take()
        return CompareColumns(left, op, right)

    def column_name(self) -> tuple[str, str]:
        token = self.peek()
        if token.kind == "NAME" and self.peek(1).kind == "(":
            message = f"'{token.text}(' is a function call; functions are not allowed in a filter"
            raise SliceParseError(message, token.position)
        if token.kind not in ("NAME", "QUOTED_NAME"):
            raise SliceParseError(f"expected a column name, found {describe(token)}", token.position)
        self.take()
        column = self.resolve(token)
        dtype = self.columns[column]
        if type_family(dtype) == "nested" and not self.is_keyword("IS"):
            raise SliceParseError(
                f"it holds {dtype} values, which can only be tested with IS [NOT] NULL",
                token.position,
                column=column,
            )
        return column, dtype

    def resolve(self, token: Token) -> str:
        """The schema's spelling of a column: exact match, else the one case-insensitive match."""
        name = token.text
        if name in self.columns:
            return name
        if token.kind == "NAME":
            folded = [c for c in self.columns if c.lower() == name.lower()]
            if len(folded) == 1:
                return folded[0]
            if folded:
                options = ", ".join(f'"{c}"' for c in folded)
                raise SliceParseError(
                    f"'{name}' could be any of {options}; write the one you mean in double quotes", token.position
                )
        close = difflib.get_close_matches(name, list(self.columns), n=1, cutoff=0.6)
        close = close or [c for c in self.columns if c.lower() == name.lower()]
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SliceParseError(f"unknown column '{name}'{hint}", token.position)

    def value_list(self, column: str, dtype: str, names_version: bool = False) -> tuple[Value, ...]:
        self.expect("(", f"'(' to start the list of values for '{column}'")
        values = [self.value(column, dtype, "in the IN list", names_version)]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value(column, dtype, "in the IN list", names_version))
        self.expect(")", "',' or ')' in the IN list")
        return tuple(values)

    def value(self, column: str, dtype: str, where: str, names_version: bool = False) -> Value:
        """A literal, checked and converted for the column's type; with ``names_version``, text
        or a number is first read as a model version (a card's name becomes its raw string)."""
        token = self.peek()
        if self.is_keyword("NULL"):
            message = f"NULL is not a value to compare with; write '{column} IS NULL' or 'IS NOT NULL'"
            raise SliceParseError(message, token.position)
        if token.kind in ("NAME", "QUOTED_NAME"):
            raise SliceParseError(
                f"expected a value {where}, found the name '{token.text}', which is no column here "
                "(put text in single quotes; functions are not allowed)",
                token.position,
            )
        if token.kind == "(":
            message = f"expected a value {where}, found '('; subqueries and expressions are not allowed"
            raise SliceParseError(message, token.position)
        if token.kind == "KEYWORD" and token.text in ("TRUE", "FALSE"):
            literal: Value = token.text == "TRUE"
        elif token.kind in ("STRING", "NUMBER"):
            literal = token.value
        else:
            raise SliceParseError(f"expected a value {where}, found {describe(token)}", token.position)
        self.take()
        if names_version and token.kind in ("STRING", "NUMBER"):
            raw = self.raw_version(token.text, token.position)
            if raw != token.text:
                token = Token("STRING", raw, token.position, raw)
                literal = raw
        return convert(literal, token, column, dtype)


def convert(literal: Value, token: Token, column: str, dtype: str) -> Value:
    """``literal`` as a value of the column's type family, or a type-mismatch error."""
    family = type_family(dtype)

    def mismatch(advice: str) -> SliceParseError:
        message = f"it holds {dtype} values; {advice}, not {token_text(token)}"
        return SliceParseError(message, token.position, column=column)

    if family == "number":
        if isinstance(literal, bool):
            raise mismatch("compare it with a number")
        if isinstance(literal, str):
            if not NUMBER.fullmatch(literal.strip()):
                raise mismatch("compare it with a number")
            return read_number(literal.strip(), 0).value
        return literal
    if family in ("time", "date"):
        if not isinstance(literal, str):
            raise mismatch("compare it with a date or time in quotes, like '2026-10-14 02:00:00'")
        try:
            return parse_iso(literal)
        except ValueError:
            raise mismatch("write the date or time as ISO text, like '2026-10-14' or '2026-10-14 02:00:00'") from None
    if family == "bool":
        if not isinstance(literal, bool):
            raise mismatch("compare it with TRUE or FALSE")
        return literal
    if family == "uuid":
        if not isinstance(literal, str) or not is_uuid(literal):
            raise mismatch("compare it with a UUID in quotes, like 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'")
        return literal
    if family == "text":
        if isinstance(literal, bool):
            raise mismatch("compare it with text in quotes")
        return token.text if token.kind == "NUMBER" else literal
    if isinstance(literal, bool):
        raise mismatch("compare it with text in quotes or a number")
    return literal


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def fuse_ranges(parts: list[Predicate]) -> list[Predicate]:
    """Read ``c >= a AND c < b`` (a lower then an upper bound on one column) as one Range.

    This is how a half-open range prints, so a range survives a round trip through text.
    """
    fused: list[Predicate] = []
    i = 0
    while i < len(parts):
        low, high = parts[i], parts[i + 1] if i + 1 < len(parts) else None
        if (
            isinstance(low, Compare)
            and isinstance(high, Compare)
            and low.column == high.column
            and low.op in LOWER_BOUND_OPS
            and high.op in UPPER_BOUND_OPS
        ):
            fused.append(Range(low.column, low.value, high.value, low.op == ">=", high.op == "<="))
            i += 2
        else:
            fused.append(low)
            i += 1
    return fused


def describe(token: Token) -> str:
    if token.kind == "END":
        return "the end of the filter"
    if token.kind == "KEYWORD":
        return token.text
    return token_text(token)


def token_text(token: Token) -> str:
    if token.kind == "STRING":
        return "'" + token.text.replace("'", "''") + "'"
    if token.kind == "QUOTED_NAME":
        return '"' + token.text.replace('"', '""') + '"'
    return token.text if token.kind in ("NUMBER", "KEYWORD") else f"'{token.text}'"
