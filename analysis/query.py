"""The one query layer: every piece of SQL that Sleuth emits is assembled here or from here.

User text never reaches SQL as text. Column and view names go through :func:`ident`; values
go through parameters (``?``) carried by :class:`Sql` fragments, or, where DuckDB allows no
parameters (the file list inside ``CREATE VIEW``), through :func:`literal`.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

ROW_ID = "_sleuth_row"
"""Dense 0-based row number that every registered dataset view carries (hidden in the GUI)."""

PAGE_FROM, PAGE_TO = "_sleuth_page_from", "_sleuth_page_to"
"""The parameters of a view's rows macro (:func:`rows_macro_name`): the ROW_ID range it reads."""


def rows_macro_name(view: str) -> str:
    """The table macro ``name(from, to)`` of a view whose ROW_ID range its own filter cannot
    reach in the files (a lakehouse table with deleted rows): the view's rows with ROW_ID in
    ``[from, to)``, read at the cost of the row groups that hold them. Most views have none."""
    return f"{view}_page_rows"


def ident(name: str) -> str:
    """Quote a column, view or table name so any text is a valid, inert identifier."""
    if not isinstance(name, str) or name == "":
        raise ValueError(f"not a valid column name: {name!r}")
    if "\x00" in name:
        raise ValueError("column names cannot contain NUL characters")
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """Render a Python value as a SQL literal, for the few places that take no parameters."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::DOUBLE"
        if math.isinf(value):
            return "'Infinity'::DOUBLE" if value > 0 else "'-Infinity'::DOUBLE"
        return repr(value)
    if isinstance(value, _dt.datetime):
        # An offset in a TIMESTAMP literal is dropped; TIMESTAMPTZ keeps the instant, as a parameter does.
        kind = "TIMESTAMP" if value.tzinfo is None else "TIMESTAMPTZ"
        return f"{kind} {literal(value.isoformat(sep=' '))}"
    if isinstance(value, _dt.date):
        return f"DATE {literal(value.isoformat())}"
    if isinstance(value, (list, tuple)):  # a list parameter, e.g. of list_contains(?, x)
        return literal_list(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError("text values cannot contain NUL characters")
    return "'" + text.replace("'", "''") + "'"


def literal_list(values: Iterable[Any]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


@dataclass(frozen=True)
class Sql:
    """A SQL fragment and its positional parameters, composed without string pasting of values."""

    text: str
    params: tuple[Any, ...] = ()

    def __and__(self, other: "Sql | None") -> "Sql":
        if other is None or other.text.strip() in ("", "TRUE"):
            return self
        if self.text.strip() in ("", "TRUE"):
            return other
        return Sql(f"({self.text}) AND ({other.text})", self.params + other.params)


TRUE = Sql("TRUE")


def where_clause(condition: Sql | None) -> Sql:
    """``WHERE ...`` for a condition, or nothing when there is none."""
    if condition is None or condition.text.strip() in ("", "TRUE"):
        return Sql("")
    return Sql(f" WHERE {condition.text}", condition.params)


def select(
    columns: Sequence[str] | str,
    source: str,
    condition: Sql | None = None,
    *,
    group_by: Sequence[str] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
    offset: int | None = None,
) -> Sql:
    """Build a SELECT over ``source`` (already quoted) with expression columns (already built)."""
    cols = columns if isinstance(columns, str) else ", ".join(columns)
    where = where_clause(condition)
    text = f"SELECT {cols} FROM {source}{where.text}"
    if group_by:
        text += " GROUP BY " + ", ".join(group_by)
    if order_by:
        text += " ORDER BY " + ", ".join(order_by)
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    if offset:
        text += f" OFFSET {int(offset)}"
    return Sql(text, where.params)


def inline(fragment: Sql) -> str:
    """The fragment with each ``?`` replaced by its parameter as a :func:`literal`.

    For the bodies of views, which DuckDB stores without parameters. Only ``?`` outside quoted
    names and text is a placeholder, so a column called ``"why?"`` stays as it is.
    """
    out: list[str] = []
    params = iter(fragment.params)
    quote: str | None = None
    for ch in fragment.text:
        if quote is not None:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            try:
                out.append(literal(next(params)))
            except StopIteration:
                raise ValueError("a SQL fragment has more placeholders than parameters") from None
            continue
        out.append(ch)
    if next(params, _UNUSED) is not _UNUSED:
        raise ValueError("a SQL fragment has more parameters than placeholders")
    return "".join(out)


_UNUSED = object()
