"""Which rows show a finding's problem: one 0/1 SQL expression per symptom kind.

The checks compare whole (bucket, group) cells with the reference, so they say "on that day,
in that region". To say *since when* at hour resolution and *for whom* as a slice, triage
needs the problem row by row: a row of a null burst is a row where the column is null. This
module gives that expression for every kind that has one (:func:`violation_of`):

==================  ===========================================================  ========
kind                a row shows it when                                          broken?
==================  ===========================================================  ========
null_rate           the column is NULL (or NaN for a float column)               yes
zero_fill           the column is 0                                              yes
stuck               the column equals the stuck value                            yes
out_of_range        the value is outside the reference's typical range           yes
new_category        the value is one of the categories the reference lacks       yes
unit_change         the value is nearer the factor-scaled mean than the mean     yes
                    (log scale: beyond ``mean x sqrt(factor)``); for a row-level
                    symptom, beyond the reference range by ``sqrt(10)``
swap                each of the two values sits nearer the *other* column's      yes
                    reference (median, in interquartile ranges) than its own;
                    for a swap told by values never seen, each value is one its
                    own reference never held and the other's did
novel_values        the value (within the reference's range, not 0) is one no    yes
                    reference row held
vanished_category   the value is one of the vanished categories (its share       no
                    *falls*)
distribution,       the value falls in a reference bin (or a category) whose     no
score_shift         share grew; the share of such rows minus the reference's is
                    the total-variation distance of the two histograms
positive_rate,      the row is predicted positive / is an error (labelled rows)  no
metric
==================  ===========================================================  ========

"Broken" rows are defective one by one, so slice discovery can look for where they
concentrate. The other kinds only move a *share* (a distribution, a rate): their expression
still gives an hourly series for since-when, but says nothing about an individual row, so
their for-whom stays the group of the checks. Schema changes have no rows and no time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from analysis.dataset import Dataset
from analysis.triage.cells import finite_double
from analysis.triage.reference_profile import ERROR, PREDICTED_POSITIVE, Profile, model_outcomes
from analysis.query import ident, literal
from analysis.data.roles import RoleMap
from analysis.triage.symptoms import Symptom

FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")

MAX_LISTED_VALUES = 50
"""Categories an expression lists at most (the checks keep the ten most frequent new ones)."""


@dataclass(frozen=True)
class Violation:
    """How a problem shows in the rows.

    ``expression`` is SQL text over the dataset's view, 1.0 where a row shows the problem and
    0.0 elsewhere (NULL only for model-side errors of unlabelled rows); its values are
    literals because slice discovery takes an expression without parameters. ``direction``
    is +1 when the problem raises the share of such rows, -1 when it lowers it (a vanished
    category). ``reference_share`` is that share in the reference, when the checks know it.
    ``broken_rows`` says whether each such row is itself defective (see the module text).
    """

    expression: str
    direction: int
    reference_share: float | None
    broken_rows: bool


def violation_of(symptom: Symptom, dataset: Dataset, roles: RoleMap, profile: Profile | None = None) -> Violation | None:
    """The row-level form of ``symptom``'s kind, or None when the kind has none (a schema
    change, a swap without its reference profile, a symptom lacking the numbers it needs)."""
    present = {c.name for c in dataset.columns}
    if symptom.kind in ("positive_rate", "metric"):
        return _model_side(symptom, dataset, roles)
    if not symptom.columns or not set(symptom.columns) <= present:
        return None
    build = _BUILDERS.get(symptom.kind)
    return build(symptom, dataset, profile) if build is not None else None


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1.0 ELSE 0.0 END"


def _number(column: str) -> str:
    return f"CAST({ident(column)} AS DOUBLE)"


def _null(symptom: Symptom, dataset: Dataset, _profile) -> Violation:
    column = symptom.columns[0]
    condition = f"{ident(column)} IS NULL"
    if dataset.column(column).dtype.upper().split("(")[0] in FLOAT_TYPES:
        condition += f" OR NOT isfinite({_number(column)})"
    return Violation(_flag(condition), 1, symptom.reference, True)


def _zero(symptom: Symptom, dataset: Dataset, _profile) -> Violation:
    return Violation(_flag(f"{_number(symptom.columns[0])} = 0"), 1, symptom.reference, True)


def _stuck(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    value = symptom.evidence.get("value")
    if value is None:
        return None
    return Violation(_flag(f"{_number(symptom.columns[0])} = {literal(float(value))}"), 1, None, True)


def _out_of_range(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    typical = symptom.evidence.get("typical_range")
    if not typical:
        return None
    x = _number(symptom.columns[0])
    low, high = (literal(float(v)) for v in typical)
    return Violation(_flag(f"{x} < {low} OR {x} >= {high}"), 1, symptom.reference, True)


def _new_category(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    values = list(symptom.evidence.get("values") or {})[:MAX_LISTED_VALUES]
    if not values:
        return None
    return Violation(_flag(_is_one_of(symptom.columns[0], values)), 1, 0.0, True)


def _vanished_category(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    values = list(symptom.evidence.get("values") or {})[:MAX_LISTED_VALUES]
    if not values:
        return None
    return Violation(_flag(_is_one_of(symptom.columns[0], values)), -1, symptom.reference, False)


def _unit_change(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    if symptom.evidence.get("far_beyond"):
        low, high = symptom.evidence["far_beyond"]
        x = finite_double(symptom.columns[0], dataset.column(symptom.columns[0]).dtype)
        return Violation(_flag(far_beyond_condition(x, low, high)), 1, 0.0, True)
    factor, mean = symptom.evidence.get("factor"), symptom.reference
    if not factor or mean is None or mean <= 0 or factor <= 0:
        return None
    threshold = literal(float(mean * math.sqrt(factor)))
    x = _number(symptom.columns[0])
    condition = f"{x} > {threshold}" if factor > 1 else f"{x} > 0 AND {x} < {threshold}"
    return Violation(_flag(condition), 1, None, True)


def far_beyond_condition(x: str, low: float | None, high: float | None) -> str:
    """SQL true where ``x`` is above ``high`` or, still positive, below ``low`` (a None bound
    is no side): values far beyond the reference range (:mod:`analysis.triage.far_beyond`).
    A zero or a negative is no change of unit (a factor keeps the sign), so it is left to
    the zero-fill and range checks."""
    sides = ([f"{x} > {literal(float(high))}"] if high is not None else []) + (
        [f"({x} > 0 AND {x} < {literal(float(low))})"] if low is not None else [])
    return " OR ".join(sides) if sides else "FALSE"


def _swap(symptom: Symptom, dataset: Dataset, profile: Profile | None) -> Violation | None:
    """The rows :func:`swapped_condition` calls swapped (:func:`swapped_values_condition` for a
    swap told by values never seen, :mod:`analysis.triage.novel_values`)."""
    if profile is None or len(symptom.columns) != 2:
        return None
    if symptom.evidence.get("told_by") == "values never seen":
        condition = swapped_values_condition(profile, dataset, *symptom.columns)
    else:
        condition = swapped_condition(profile, *symptom.columns)
    return Violation(_flag(condition), 1, None, True) if condition is not None else None


def swapped_condition(profile: Profile, a: str, b: str) -> str | None:
    """SQL true where a row is swapped: moving each value to the other column brings the pair
    nearer their references, ``d(a, ref b) + d(b, ref a) < d(a, ref a) + d(b, ref b)``,
    distances in interquartile ranges from the reference median (robust to the long tails of
    amounts). The pair is judged together, not each value alone: a column that drifted since
    the reference (advertising counts falling over the years) has values far from both
    references, yet the pair is still far nearer swapped than as sent. None without quartiles."""
    centres = [_median_and_spread(profile, column) for column in (a, b)]
    if None in centres:
        return None
    (ma, sa), (mb, sb) = centres
    xa, xb = _number(a), _number(b)

    def distance(x: str, median: float, spread: float) -> str:
        return f"abs({x} - {literal(median)}) / {literal(spread)}"

    own = f"{distance(xa, ma, sa)} + {distance(xb, mb, sb)}"
    crossed = f"{distance(xa, mb, sb)} + {distance(xb, ma, sa)}"
    return f"{crossed} < {own}"


def nearer_other_reference(profile: Profile, column: str, other: str) -> str | None:
    """SQL true where ``column``'s value sits nearer ``other``'s reference than its own (same
    distance as :func:`_swap`): how a swap's partner is told from any column whose median
    happens to lie near a far-off value. None without the quartiles to measure it."""
    own, crossed = _median_and_spread(profile, column), _median_and_spread(profile, other)
    if own is None or crossed is None:
        return None
    x = _number(column)
    return (f"abs({x} - {literal(crossed[0])}) / {literal(crossed[1])} < "
            f"abs({x} - {literal(own[0])}) / {literal(own[1])}")


def _median_and_spread(profile: Profile, column: str) -> tuple[float, float] | None:
    described = profile.column(column)
    quantiles = described.quantiles if described is not None else {}
    if not {"0.25", "0.5", "0.75"} <= set(quantiles):
        return None
    spread = quantiles["0.75"] - quantiles["0.25"]
    return (quantiles["0.5"], spread) if spread > 0 else None


def _novel_values(symptom: Symptom, dataset: Dataset, profile: Profile | None) -> Violation | None:
    """The rows holding a value no reference row held (:func:`novel_value_condition`)."""
    condition = novel_value_condition(profile, dataset, symptom.columns[0]) if profile is not None else None
    return Violation(_flag(condition), 1, 0.0, True) if condition is not None else None


def novel_value_condition(profile: Profile, dataset: Dataset, column: str) -> str | None:
    """SQL true where ``column`` holds a value that no reference row held, within the range the
    reference's values span; None when the profile kept no set of the column's values. A missing
    value, a 0 and a value beyond the range are the null, zero-fill, range and unit checks'
    (a zero-filled feed is one finding, not two)."""
    values = (profile.value_sets or {}).get(column)
    if not values:
        return None
    x = finite_double(column, dataset.column(column).dtype)
    low, high = literal(float(min(values))), literal(float(max(values)))
    return f"({x} BETWEEN {low} AND {high} AND {x} <> 0 AND NOT ({_held(x, values)}))"


def swapped_values_condition(profile: Profile, dataset: Dataset, a: str, b: str) -> str | None:
    """SQL true where each column holds a value its own reference never held and the other's
    did: ``a`` a novel value (:func:`novel_value_condition`) ``b``'s reference held, ``b`` a
    value ``a``'s reference held and its own did not (a 0 is the zero fill's, never a swap's).
    Where ``b`` kept no set of values, "``b``'s reference held it" is "within ``b``'s reference
    range". None when ``a`` kept no set."""
    novel = novel_value_condition(profile, dataset, a)
    values_a = (profile.value_sets or {}).get(a)
    if novel is None or not values_a:
        return None
    xa = finite_double(a, dataset.column(a).dtype)
    xb = finite_double(b, dataset.column(b).dtype)
    return (f"({novel} AND {_held_by(profile, b, xa)} AND {_held(xb, values_a)} AND {xb} <> 0 "
            f"AND NOT ({_held_by(profile, b, xb)}))")


def _held_by(profile: Profile, column: str, x: str) -> str:
    """SQL true where ``x`` is a value ``column``'s reference held: one of its set, else
    within its range (FALSE when the profile knows neither)."""
    values = (profile.value_sets or {}).get(column)
    if values is not None:
        return _held(x, values)
    described = profile.column(column)
    low, high = (described.counts.minimum, described.counts.maximum) if described is not None else (None, None)
    if low is None or high is None:
        return "FALSE"
    return f"({x} BETWEEN {literal(float(low))} AND {literal(float(high))})"


def _held(x: str, values) -> str:
    """SQL true where ``x`` is one of ``values`` (FALSE for none)."""
    return f"{x} IN ({', '.join(literal(float(v)) for v in values)})" if values else "FALSE"


def _distribution(symptom: Symptom, dataset: Dataset, _profile) -> Violation | None:
    """Rows in the bins (or categories) that gained share: their share in excess of the
    reference's is the total-variation distance between the two histograms."""
    evidence = symptom.evidence
    if "reference_shares" in evidence:
        reference, observed = evidence["reference_shares"], evidence.get("observed_shares", {})
        grown = [v for v in observed if observed[v] > reference.get(v, 0.0)][:MAX_LISTED_VALUES]
        if not grown:
            return None
        share = sum(reference.get(v, 0.0) for v in grown)
        return Violation(_flag(_is_one_of(symptom.columns[0], grown)), 1, share, False)
    edges, reference, observed = evidence.get("edges"), evidence.get("reference_bins"), evidence.get("observed_bins")
    if not edges or not reference or not observed or len(reference) != len(edges) + 1:
        return None
    grown = [i for i, (r, o) in enumerate(zip(reference, observed)) if o > r]
    if not grown:
        return None
    x = _number(symptom.columns[0])
    bounds = [None, *edges, None]
    parts = [_bin_condition(x, bounds[i], bounds[i + 1]) for i in grown]
    return Violation(_flag(" OR ".join(f"({p})" for p in parts)), 1, float(sum(reference[i] for i in grown)), False)


def _bin_condition(x: str, low: float | None, high: float | None) -> str:
    """``[low, high)``, open-ended where a bound is None, as the checks count their bins."""
    parts = [f"{x} >= {literal(float(low))}"] if low is not None else [f"{x} IS NOT NULL"]
    if high is not None:
        parts.append(f"{x} < {literal(float(high))}")
    return " AND ".join(parts)


def _model_side(symptom: Symptom, dataset: Dataset, roles: RoleMap) -> Violation | None:
    wanted = PREDICTED_POSITIVE if symptom.kind == "positive_rate" else ERROR
    expression = dict(model_outcomes(dataset, roles)).get(wanted)
    if expression is None:
        return None
    return Violation(expression, 1 if symptom.effect >= 0 else -1, symptom.reference, False)


def _is_one_of(column: str, values: Sequence[Any]) -> str:
    listed = ", ".join(literal(str(v)) for v in values)
    return f"CAST({ident(column)} AS VARCHAR) IN ({listed})"


_BUILDERS = {
    "null_rate": _null,
    "zero_fill": _zero,
    "stuck": _stuck,
    "out_of_range": _out_of_range,
    "new_category": _new_category,
    "vanished_category": _vanished_category,
    "unit_change": _unit_change,
    "swap": _swap,
    "novel_values": _novel_values,
    "distribution": _distribution,
    "score_shift": _distribution,
}
