"""Values far beyond anything the reference held, found row by row however few they are.

The cell checks need a few hundred rows per time bucket and a share that moved by several
points, so fifty rows of an age sent in months instead of years, spread over a month of a
sparse log, slip through. A unit change leaves a trace no natural drift does: values beyond
the reference's whole range by a large factor. Here a row is *far beyond* when its value is
above the reference maximum times :data:`UNIT_GAP` or below the reference minimum divided by
it (each side only where the reference's tail is short, see :func:`far_beyond_bounds`): half a
decade on the log scale, the midpoint between a value and the same value times ten, the rule
:mod:`analysis.triage.violating_rows` uses for a unit change. In either direction, the
reference has none such rows by construction; the question is whether the log has them *far
more often somewhere in time* than elsewhere, and that is Kulldorff's scan
(:func:`analysis.triage.localisation.scanned_window`) with its p-value, Bonferroni-corrected
over the columns tried. A column whose far-beyond rows are scattered (a heavy tail) is no
finding; one whose rows cluster in a window is a ``unit_change`` symptom for that window.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence

from scipy.stats import binomtest

from analysis.dataset import Dataset
from analysis.metrics.per_version import timestamp_expr
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.data.roles import RoleMap
from analysis.scope import Scope
from analysis.store import Store
from analysis.triage.cells import finite_double
from analysis.triage.localisation import outside_windows, scanned_window
from analysis.triage.reference_profile import ColumnProfile, Profile
from analysis.triage.row_scan import FirstRows, shared_first_rows
from analysis.triage.symptoms import Symptom
from analysis.triage.violating_rows import Violation, far_beyond_condition, nearer_other_reference, swapped_condition

UNIT_GAP = math.sqrt(10.0)
"""How far beyond the reference range a value must be: half a decade on the log scale."""

ALPHA = 0.05
"""Family-wise level over the columns tried."""

UNIT_FACTORS = (10.0, 100.0, 1000.0, 1e6, 60.0, 3600.0, 24.0, 1.609344, 2.20462, 2.54)
"""Factors between common units (powers of ten, seconds/minutes/hours, km/mi, kg/lb, cm/in);
their inverses count too."""

UNIT_TOLERANCE = math.log(1.15)
"""Ratios must be within 15% of a unit factor (log scale) to be read as that factor."""


def nearest_unit_factor(mean_ratio: float, spread_ratio: float | None = None) -> float | None:
    """The common unit factor (or inverse) within :data:`UNIT_TOLERANCE` of the ratio of means,
    and of the ratio of spreads when given; None when none is."""
    if mean_ratio <= 0:
        return None
    ratios = [mean_ratio] + ([spread_ratio] if spread_ratio is not None else [])
    for base in UNIT_FACTORS:
        for factor in (base, 1 / base):
            if all(r > 0 and abs(math.log(r / factor)) < UNIT_TOLERANCE for r in ratios):
                return factor
    return None


def far_beyond_bounds(column: ColumnProfile) -> tuple[float | None, float | None]:
    """``(low, high)``: values below ``low`` or above ``high`` are far beyond the reference
    (None where that side has no bound).

    A side has a bound only when the reference's extreme is positive and its 1% tail spans
    less than :data:`UNIT_GAP` (``q99 / max`` or ``min / q01`` above ``1 / UNIT_GAP``): a tail
    already stretching over half a decade, like values of a risk score running down to 0,
    makes values a factor beyond its extreme natural, not a change of unit. Nor has a side a
    bound when the reference holds too few draws of the column to bound a new one
    (:attr:`ColumnProfile.enough_draws`)."""
    if not column.enough_draws:
        return None, None
    low, high = column.counts.minimum, column.counts.maximum
    q01, q99 = column.quantiles.get("0.01"), column.quantiles.get("0.99")
    bounded_low = low is not None and q01 is not None and low > 0 and q01 / low < UNIT_GAP
    bounded_high = high is not None and q99 is not None and q99 > 0 and high / q99 < UNIT_GAP
    return (low / UNIT_GAP if bounded_low else None, high * UNIT_GAP if bounded_high else None)


Extremes = Mapping[str, tuple[float | None, float | None]]
"""Each column's (smallest, largest) value over a superset of the rows scanned."""


def far_beyond_symptoms(scope: Scope, profile: Profile, columns: Sequence[ColumnProfile],
                        cancel: CancelToken = NEVER_CANCELLED, first_rows: FirstRows | None = None,
                        extremes: Extremes | None = None) -> list[Symptom]:
    """A ``unit_change`` symptom for each numeric column in ``columns`` whose far-beyond rows
    cluster in a window of time beyond chance (see the module text); ``first_rows`` is the
    check run's shared one, if it has one.

    ``extremes``, when the caller knows them for every row the scan may read (the checks'
    all-rows cells, :func:`analysis.triage.cells.all_rows_extremes`), spare the count of
    far-beyond rows over the log for each column none of whose values passes a bound: on a
    clean log, every column, so the pass over the rows is skipped (1 CPU-s of the 10M-row
    checks, 10 at 100M). The columns tried, and so the Bonferroni level, stay the same."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.timestamp is None:
        return []
    model_side = {roles.label, roles.prediction, *roles.scores}
    numeric = [c for c in columns if c.kind == "numeric" and c.name not in model_side]
    bounded = [(c, far_beyond_bounds(c)) for c in numeric]
    bounded = [(c, bounds) for c, bounds in bounded if bounds != (None, None)]
    if not bounded:
        return []
    with shared_first_rows(scope, first_rows) as shared:
        where = (condition if condition is not None else Sql("TRUE")) & shared.condition(cancel)
        return _clustered(store, dataset, roles, profile, numeric, bounded, where, cancel, extremes)


def _clustered(
    store: Store, dataset: Dataset, roles: RoleMap, profile: Profile, numeric: Sequence[ColumnProfile],
    bounded: list, where: Sql, cancel: CancelToken, extremes: Extremes | None = None,
) -> list[Symptom]:
    """The symptoms of the ``bounded`` columns whose far-beyond rows among ``where`` (one row
    per request) cluster in time, with the swaps that explain them; each of them is tried
    (the family of the Bonferroni level), those ``extremes`` show to have no such row are
    not counted."""
    reaching = [(c, bounds) for c, bounds in bounded if extremes is None or _may_pass(extremes.get(c.name), bounds)]
    if not reaching:
        return []
    conditions = [far_beyond_condition(finite_double(c.name, c.dtype), *bounds) for c, bounds in reaching]
    counts = store.rows(Sql(
        f"SELECT {', '.join(f'count_if(({cond}))' for cond in conditions)} FROM {ident(dataset.view)} "
        f"WHERE {where.text}", where.params), cancel)[0]
    found: list[Symptom] = []
    for (column, bounds), condition_text, count in zip(reaching, conditions, counts):
        if count:
            found += _column_symptoms(store, dataset, roles, profile, numeric, column, bounds, condition_text,
                                      where, ALPHA / len(bounded), found, cancel)
    return found


def _may_pass(extreme: tuple[float | None, float | None] | None, bounds: tuple[float | None, float | None]) -> bool:
    """Whether values spanning ``extreme`` (smallest, largest; None: unknown column) can hold
    one beyond ``bounds`` (:func:`far_beyond_bounds`): above the high bound, or below the low
    one (a smallest value of 0 or less may still hide a small positive one, so it passes). A
    NaN extreme (an engine that orders NaN above every number) says nothing: it passes."""
    if extreme is None or any(v is not None and math.isnan(v) for v in extreme):
        return True
    smallest, largest = extreme
    low, high = bounds
    return ((high is not None and largest is not None and largest > high)
            or (low is not None and smallest is not None and smallest < low))


def _column_symptoms(
    store: Store, dataset: Dataset, roles: RoleMap, profile: Profile, numeric: Sequence[ColumnProfile],
    column: ColumnProfile, bounds, condition_text: str, where: Sql, level: float, found: list[Symptom],
    cancel: CancelToken,
) -> list[Symptom]:
    """One column's far-beyond windows, outside the windows of the swaps that hold it.

    A swap explains the column's far values in its own window only: a later unit change of
    the column is news of its own (Star's teachers' experience, swapped with a reading score
    by one source, then sent in months for one subgroup). So once a swap holding the column
    is found (by it or by its partner, earlier), the column is scanned again outside the
    swap's window. The scans form a fixed sequence at the column's level (each tried only once
    the one before it was significant and explained by a swap), which keeps the family-wise
    level of the columns' Bonferroni."""
    symptoms: list[Symptom] = []
    violation = Violation(f"CASE WHEN ({condition_text}) THEN 1.0 ELSE 0.0 END", 1, 0.0, True)
    while True:
        swapped = _swap_windows(column.name, found + symptoms)
        scanned = where & outside_windows(dataset, roles, swapped)
        window = scanned_window(Scope(store, dataset, roles), violation, scanned, cancel)
        if window is None or window.p_value is None or window.p_value >= level:
            return symptoms
        symptom = _symptom(store, dataset, roles, column, bounds, condition_text, window, scanned, cancel)
        symptoms.append(replace(symptom, evidence={**symptom.evidence, "outside": swapped}) if swapped else symptom)
        swap = _swapped_with(store, dataset, roles, profile, column, numeric, window, scanned, cancel)
        if swap is None:
            return symptoms
        symptoms.append(swap)


def _swap_windows(column: str, found: Sequence[Symptom]) -> list[tuple]:
    """The windows of the swaps in ``found`` that hold ``column``."""
    return [(s.start, s.end) for s in found if s.kind == "swap" and column in s.columns]


def _swapped_with(
    store: Store, dataset: Dataset, roles: RoleMap, profile: Profile, column: ColumnProfile,
    numeric: Sequence[ColumnProfile], window, where: Sql, cancel: CancelToken,
) -> Symptom | None:
    """A ``swap`` symptom when ``column``'s far-beyond values (in ``window``) are another
    column's values.

    The partner is the column whose own values moved most towards ``column``'s reference
    inside the window (share of rows nearer it than their own, inside less outside): a far
    value alone sits near the median of many columns, a partner's values move too. That move
    must be significant itself (one-sided binomial test of the share inside against the share
    outside): a column's values that sit near ``column``'s reference as often as they always
    do (days ill near years of schooling, for a quarter of the rows) move nothing, and the
    rows where both moved would then cluster only because ``column``'s do. The rows where the
    partner moved and the pair sits nearer swapped than as sent (judged as a pair,
    :func:`swapped_condition`: a column that drifted since the reference may sit far from
    both references) must then cluster in time beyond chance (scan). Both tests are
    Bonferroni over the partners tried. Their window must overlap ``window``: the swap is to
    explain the far-beyond rows, and a partner's natural drift elsewhere (advertising counts
    falling over the years towards a disk size's median) explains nothing."""
    partners = [(other, nearer_other_reference(profile, other.name, column.name))
                for other in numeric if other.name != column.name]
    partners = [(other, moved) for other, moved in partners if moved is not None]
    if not partners:
        return None
    ts = timestamp_expr(dataset, roles)
    inside = f"{ts} >= ? AND {ts} < ?"
    counts = store.rows(Sql(
        f"SELECT count(*) FILTER (WHERE {inside}), count(*) FILTER (WHERE NOT ({inside})), "
        + ", ".join(f"count_if(({moved}) AND {inside}), count_if(({moved}) AND NOT ({inside}))" for _, moved in partners)
        + f" FROM {ident(dataset.view)} WHERE {where.text}",
        (window.start, window.end) * (2 + 2 * len(partners)) + tuple(where.params)), cancel)[0]
    rows_in, rows_out = counts[0], counts[1]
    if not rows_in or not rows_out:
        return None
    moved_in, moved_out = counts[2::2], counts[3::2]
    gain, partner, partner_moved, hits, base = max(
        ((m_in / rows_in - m_out / rows_out, other, moved, m_in, m_out / rows_out)
         for (other, moved), m_in, m_out in zip(partners, moved_in, moved_out)), key=lambda found: found[0])
    swapped = swapped_condition(profile, column.name, partner.name)
    level = ALPHA / len(partners)
    if gain <= 0 or swapped is None or binomtest(hits, rows_in, base, alternative="greater").pvalue >= level:
        return None
    rows = Violation(f"CASE WHEN ({swapped}) AND ({partner_moved}) THEN 1.0 ELSE 0.0 END", 1, 0.0, True)
    found = scanned_window(Scope(store, dataset, roles), rows, where, cancel)
    if found is None or found.p_value is None or found.p_value >= level or not (
            found.start < window.end and window.start < found.end):
        return None
    return Symptom(
        "swap", (column.name, partner.name), round(found.rows * found.inside_share),
        found.inside_share - found.baseline, found.baseline, found.inside_share, found.start, found.end, (),
        evidence={"level": "all rows", "window_p_value": found.p_value, "cell_rows": found.rows},
    )


def _symptom(store, dataset, roles, column: ColumnProfile, bounds, condition_text: str, window, where: Sql,
             cancel) -> Symptom:
    """The symptom of one column's window: its rows, and the factor between the far-beyond
    values' mean and the reference mean (the effect, on the log10 scale, as the cell check's)."""
    ts = timestamp_expr(dataset, roles)
    inside = Sql(f"{ts} >= ? AND {ts} < ?", (window.start, window.end)) & where
    x = finite_double(column.name, column.dtype)
    cases, mean = store.rows(Sql(
        f"SELECT count_if(({condition_text})), avg({x}) FILTER (WHERE ({condition_text})) "
        f"FROM {ident(dataset.view)} WHERE {inside.text}", inside.params), cancel)[0]
    reference = column.counts.mean
    ratio = mean / reference if mean and reference and reference > 0 and mean > 0 else None
    effect = abs(math.log10(ratio)) if ratio else 1.0
    factor = (nearest_unit_factor(ratio) or ratio) if ratio else None
    return Symptom(
        "unit_change", (column.name,), int(cases), effect, reference, mean, window.start, window.end, (),
        evidence={"level": "all rows", "factor": factor, "far_beyond": [bounds[0], bounds[1]],
                  "window_p_value": window.p_value, "cell_rows": window.rows},
    )
