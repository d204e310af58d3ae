"""Exact quantiles of several columns at once, DuckDB's ``quantile_cont`` on either engine.

On DuckDB they are one aggregate. Spark's exact ``percentile`` builds a map of every distinct
value of each column and merges the maps across the shuffle: at 1M rows it was about 17 of
the reference profile's 21 server CPU-s (docs/performance-log.md). So on Spark the wanted
ranks are found by selection with exact counts, as :mod:`analysis.engine.pages` finds a
jumped-to row:

1. one aggregate reads each column's exact count of values and Spark's ``percentile_approx``
   just below and just above each fraction (its rank error is at most ``n / APPROX_ACCURACY``),
   which brackets the wanted ranks;
2. one aggregate reads, per (column, fraction), the exact count of values below the bracket,
   how many equal each of its ends and the values strictly inside (at most about
   ``4 n / APPROX_ACCURACY`` of them);
3. the client picks the ranks ``floor(h)`` and ``ceil(h)`` (``h = (n - 1) q``) from the bracket
   and interpolates as DuckDB does (:func:`select_quantile`).

A bracket that misses its ranks (the sketch's bound is probabilistic at its ends) or holds more
than ``MAX_BRACKET_VALUES`` values (a heavily tied middle) sends its column to Spark's exact
``percentile`` (the dialect's form of ``quantile_cont``), so the result is exact in every case.
"""

from __future__ import annotations

import math
from fractions import Fraction
from dataclasses import dataclass
from typing import Any, Sequence

from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, literal, literal_list, select

APPROX_ACCURACY = 10_000
"""Spark's ``percentile_approx`` accuracy: its answer's rank is within ``n / APPROX_ACCURACY``."""

BRACKET_SHARE = 2 / APPROX_ACCURACY
"""Each bracket's ends are read at the fraction this far below and above the wanted one: twice
the sketch's error bound, so both ends fall on the right side of the wanted rank."""

MAX_BRACKET_VALUES = 10_000
"""Values strictly inside one bracket the client takes; past it the column's quantiles are
Spark's exact ``percentile`` (a value tied thousands of times inside a bracket)."""


@dataclass(frozen=True)
class Bracket:
    """The sorted values around a wanted rank: ``below`` values lie under ``low``, then
    ``low_ties`` values equal ``low``, the ``middle`` values (sorted), and ``high_ties``
    values equal ``high``."""

    below: int
    low: Any
    low_ties: int
    middle: tuple[Any, ...]
    high: Any
    high_ties: int

    def value_at(self, rank: int) -> tuple[bool, Any]:
        """(found, the value of 0-based ``rank`` in the column's sorted values); not found
        when the rank lies outside the bracket."""
        at = rank - self.below
        for count, value in ((self.low_ties, self.low), (len(self.middle), None), (self.high_ties, self.high)):
            if 0 <= at < count:
                return True, self.middle[at] if value is None else value
            at -= count
        return False, None


def quantile_ranks(n: int, fraction: float) -> tuple[int, int, float]:
    """The two 0-based ranks ``quantile_cont`` reads among ``n`` values, and the weight of the
    upper one: DuckDB's (and numpy's ``linear``) ``h = (n - 1) q``."""
    position = (n - 1) * fraction
    lower = math.floor(position)
    return lower, math.ceil(position), position - lower


def select_quantile(n: int, fraction: float, bracket: Bracket) -> tuple[bool, Any]:
    """(found, DuckDB's ``quantile_cont`` of the column at ``fraction``) from its count of
    values and the bracket around the wanted ranks; not found when a rank lies outside it."""
    lower, upper, weight = quantile_ranks(n, fraction)
    if not all(isinstance(v, (int, float)) for v in (bracket.low, bracket.high)):
        return False, None  # a time's interpolation is DuckDB's own rounding: left to the exact form
    found_low, low = bracket.value_at(lower)
    found_high, high = bracket.value_at(upper)
    if not (found_low and found_high):
        return False, None
    if lower == upper:
        return True, _as_result(low)
    return True, interpolate(_as_result(low), weight, _as_result(high))


def interpolate(low: float, weight: float, high: float) -> float:
    """DuckDB's interpolation between two neighbouring values, to the last bit: its source
    reads ``low * (1 - weight) + high * weight``, and its build fuses the multiply and add
    (``fma(low, 1 - weight, high * weight)``, checked against DuckDB on the same rows in
    tests/analysis/engine/test_exact_quantiles.py). Python 3.11 has no ``math.fma``: the sum
    is formed exactly as a fraction and rounded once, as a fused multiply-add rounds."""
    return float(Fraction(low) * Fraction(1.0 - weight) + Fraction(high * weight))


def _as_result(value: Any) -> float:
    """DuckDB's ``quantile_cont`` of an integer column is a DOUBLE."""
    return float(value)


def exact_quantiles(
    store, view: str, values: Sequence[str], fractions: Sequence[float], condition: Sql | None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> list[list[Any] | None]:
    """Each value expression's ``quantile_cont`` at every fraction over the ``condition``'s rows
    of ``view`` (None for an expression with no non-NULL value): DuckDB's one aggregate, or on
    Spark the selection of the module doc."""
    if not values:
        return []
    if not needs_quantile_pass(store):
        return list(store.rows(_exact_statement(view, values, fractions, condition), cancel)[0])
    counted = store.rows(_bracket_ends_statement(view, values, fractions, condition), cancel)[0]
    sizes = [int(n) for n in counted[0::4]]
    ends = [_exact_extremes(fractions, sketched, low, high)
            for sketched, low, high in zip(counted[1::4], counted[2::4], counted[3::4])]
    wanted = [i for i, n in enumerate(sizes) if n > 0]
    found: list[list[Any] | None] = [None] * len(values)
    if not wanted:
        return found
    brackets = _brackets(store, view, [values[i] for i in wanted], [ends[i] for i in wanted], fractions,
                         condition, cancel)
    missed = []
    for i, column_brackets in zip(wanted, brackets):
        selected = [select_quantile(sizes[i], q, b) if b is not None else (False, None)
                    for q, b in zip(fractions, column_brackets)]
        if all(ok for ok, _ in selected):
            found[i] = [value for _, value in selected]
        else:
            missed.append(i)
    if missed:
        exact = store.rows(_exact_statement(view, [values[i] for i in missed], fractions, condition), cancel)[0]
        for i, quantiles in zip(missed, exact):
            found[i] = quantiles
    return found


def needs_quantile_pass(store) -> bool:
    """Whether the store's exact quantiles are a pass of their own (:func:`exact_quantiles`) rather
    than a ``quantile_cont`` beside a scan's other aggregates: Spark's are, DuckDB's are not."""
    return store.engine == "spark"


def _exact_statement(view: str, values: Sequence[str], fractions: Sequence[float], condition: Sql | None) -> Sql:
    listed = literal_list(fractions)
    return select([f"quantile_cont({value}, {listed})" for value in values], ident(view), condition)


def _bracket_ends_statement(view: str, values: Sequence[str], fractions: Sequence[float],
                            condition: Sql | None) -> Sql:
    """Each value's exact count, its sketch's values just below and above every fraction, and
    its exact minimum and maximum."""
    ends = literal_list([bound for q in fractions for bound in (max(0.0, q - BRACKET_SHARE),
                                                                   min(1.0, q + BRACKET_SHARE))])
    parts = [part for value in values for part in (
        f"count({value})", f"approx_quantile({value}, {ends})", f"min({value})", f"max({value})")]
    return select(parts, ident(view), condition)


def _exact_extremes(fractions: Sequence[float], sketched: Sequence[Any] | None, low: Any, high: Any) -> list[Any]:
    """The sketch's bracket ends, the exact minimum and maximum where an end's fraction is 0 or 1
    (a sketch need not keep the extremes exactly), so the first and last ranks are never missed."""
    if sketched is None:
        return []
    wanted = [bound for q in fractions for bound in (q - BRACKET_SHARE, q + BRACKET_SHARE)]
    return [low if q <= 0 else high if q >= 1 else end for q, end in zip(wanted, sketched)]


def _brackets(
    store, view: str, values: Sequence[str], ends: Sequence[Sequence[Any]], fractions: Sequence[float],
    condition: Sql | None, cancel: CancelToken,
) -> list[list[Bracket | None]]:
    """Per value expression and fraction, the :class:`Bracket` between its sketch's two ends
    (None where it holds more than ``MAX_BRACKET_VALUES`` values), from one aggregate."""
    parts = []
    for value, column_ends in zip(values, ends):
        for index in range(len(fractions)):
            low, high = _bound(column_ends[2 * index]), _bound(column_ends[2 * index + 1])
            inside = f"{value} > {low} AND {value} < {high}"
            parts += [f"count({value}) FILTER (WHERE {value} < {low})",
                      f"count({value}) FILTER (WHERE {value} = {low})",
                      f"count({value}) FILTER (WHERE {value} = {high} AND {high} > {low})",
                      f"count({value}) FILTER (WHERE {inside})",
                      f"CASE WHEN count({value}) FILTER (WHERE {inside}) <= {MAX_BRACKET_VALUES} "
                      f"THEN list({value}) FILTER (WHERE {inside}) END"]
    row = store.rows(select(parts, ident(view), condition), cancel)[0]
    found, at = [], 0
    for column_ends in ends:
        column = []
        for index in range(len(fractions)):
            below, low_ties, high_ties, inside, middle = row[at:at + 5]
            at += 5
            column.append(None if inside > MAX_BRACKET_VALUES else Bracket(
                int(below), column_ends[2 * index], int(low_ties), tuple(sorted(middle or ())),
                column_ends[2 * index + 1], int(high_ties)))
        found.append(column)
    return found


def _bound(value: Any) -> str:
    """A bracket's end as SQL: a DOUBLE from its shortest text, which both engines read back
    to the same bits (a bare decimal literal is a DECIMAL, converted again on comparison)."""
    return f"CAST({literal(repr(value))} AS DOUBLE)" if isinstance(value, float) else literal(value)
