"""What one input or output check saw in one stretch of time and one group of rows.

Checks (``analysis.triage.checks``) emit :class:`Symptom` values; triage (``analysis.triage.ranking``)
localises them in time and in a subgroup, groups the symptoms of one root cause into a
finding, and ranks findings. Keeping the value here lets both sides be written and tested
apart.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

SYMPTOM_KINDS = (
    "schema",            # a column missing, new, or of another type
    "null_rate",         # more nulls than the reference
    "zero_fill",         # a zero / default value now fills the column
    "stuck",             # a value stuck at one constant
    "out_of_range",      # values outside the reference's typical range
    "new_category",      # categories the reference never had
    "vanished_category", # reference categories that no longer appear
    "unit_change",       # values a constant factor away from the reference
    "novel_values",      # values of a low-cardinality column no reference row held
    "distribution",      # a change of distribution measured by effect size
    "swap",              # two columns each now distributed like the other's reference
    "score_shift",       # the model's score distribution moved
    "positive_rate",     # the predicted-positive rate moved
    "metric",            # the metric moved, where labels exist
)


@dataclass(frozen=True)
class Symptom:
    """One check's deviation from the reference.

    ``group`` is ``()`` for all rows, else the low-cardinality columns and values that define
    the rows (``(("region", "EU-West"),)``). ``start``/``end`` bound the time bucket(s) where it
    was seen (None for a check over the whole log). ``effect`` is the check's normalised effect
    size (comparable within a kind, 0 = like the reference); ``reference`` and ``observed`` are
    the numbers a sentence quotes (e.g. null share 0.002 -> 0.41).
    """

    kind: str
    columns: tuple[str, ...]
    rows: int
    effect: float
    reference: float | None = None
    observed: float | None = None
    start: _dt.datetime | None = None
    end: _dt.datetime | None = None
    group: tuple[tuple[str, Any], ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
