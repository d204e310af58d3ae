"""Input and output checks: each column, time bucket and group compared with the reference.

DuckDB counts the rows once per (bucket, group) cell (:mod:`analysis.triage.cells`); numpy
compares each cell with the same group's reference cell. Every check measures an effect size
(a difference of shares, a distance between distributions) and emits a :class:`Symptom` only
above a minimum effect and a minimum row count, never on a bare p-value: on millions of rows
every difference is "significant", and an on-call engineer needs the few that matter.
Both the all-rows cell and a group's cell are checked; ``evidence["level"]`` says which, and
triage decides whether the group or all rows is the right subgroup. What cells cannot see,
on a few rows or a sparse log, is looked for row by row afterwards: nulls, zeros and a stuck
value clustered in time (:mod:`analysis.triage.row_scan`), values far beyond anything in the
reference (a unit change, the swap behind one: :mod:`analysis.triage.far_beyond`); there the
evidence is a scan's p-value over time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
import math
from typing import Sequence

import numpy as np
from scipy.spatial.distance import jensenshannon

from analysis.triage.cells import Cell, CellSpec, ColumnCounts, all_rows_extremes, count_cells
from analysis.triage.novel_values import novel_value_symptoms
from analysis.triage.far_beyond import UNIT_FACTORS, UNIT_TOLERANCE, far_beyond_symptoms, nearest_unit_factor
from analysis.triage.row_scan import STUCK_MIN_REFERENCE_DISTINCT, FirstRows, row_level_symptoms, shared_first_rows
from analysis.dataset import Dataset
from analysis.data.time import time_span, timestamp_expr
from analysis.triage.reference_profile import ERROR, PREDICTED_POSITIVE, Profile, cell_spec, unchecked_columns
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.data.roles import Role, RoleMap
from analysis.triage.symptoms import Symptom
from analysis.data.time import BUCKETS, Bucket
from analysis.scope import Scope
from analysis.stats.multiple_testing import adjust_p_values
from analysis.stats.significance import chi_square_p_values, homogeneity_chi_square, overdispersion

MIN_ROWS = 200
"""Rows a cell needs before any check reads it: fewer make shares too noisy to trust."""

CHECK_MAX_BUCKETS = 60
"""Checks use the smallest bucket giving at most this many buckets: enough rows per cell."""

DAILY_FROM_DAYS = 7
"""Over a week or more, buckets are at least a day long, so daily cycles (traffic mix,
hour-of-day features) are not read as shifts."""

NULL_MIN_EFFECT = 0.05
"""A null share at least this much above the reference's is a null_rate symptom."""

ZERO_MIN_EFFECT = 0.1
"""A zero share at least this much above the reference's is a zero_fill symptom."""

OUT_OF_RANGE_MIN_EFFECT = 0.05
"""A share outside the typical range at least this much above the reference's is out_of_range."""

DISTRIBUTION_MIN_EFFECT = 0.14
"""Minimum Jensen-Shannon distance (base 2, small-sample bias removed) for a distribution,
score_shift or category-share symptom."""

RATE_MIN_EFFECT = 0.05
"""A predicted-positive or error rate this far from the reference's is a model-side symptom."""

SHARE_NOISE_SIGMAS = 4.0
"""A share difference must also exceed this many binomial standard errors of the cell."""

NEW_CATEGORY_MIN_SHARE = 0.01
"""Values unknown to the reference must fill at least this share of a cell."""

VANISHED_MIN_EXPECTED = 20
"""A reference category vanishes only where at least this many rows of it were expected."""

VALUES_OFF_KINDS = frozenset({"unit_change", "swap"})
"""Cell symptoms that already explain why a column's values are off (a unit, a swap); such a
column needs no row-by-row look for values far beyond the reference
(:mod:`analysis.triage.far_beyond` is for what the cells miss)."""

SWAP_MAX_RATIO = 0.3
"""Two columns look swapped when their distance to each other's reference is at most this
share of their distance to their own."""

FALSE_DISCOVERY_RATE = 0.05
"""Distribution-level cell symptoms (:data:`TESTED_KINDS`) must also be significant at this
Benjamini-Hochberg level over every histogram and category table the run compared."""

TESTED_KINDS = frozenset({"distribution", "score_shift", "unit_change"})
"""Cell symptoms read from a whole distribution, whose effect (a distance, a ratio of means)
has no noise bar of its own: on a cell of a few hundred rows, one of the thousands of
(cell, column) pairs a log holds passes the distance floor by chance (the clean 20,000-row demo
showed seven such shifts, the 200,000-row one none). Share symptoms carry their own bar
(:data:`SHARE_NOISE_SIGMAS`)."""


def check_bucket(start: dt.datetime, end: dt.datetime) -> Bucket:
    """The bucket width for checks: at most 60 buckets, at least a day over a week or more."""
    span = max((end - start).total_seconds(), 0.0)
    floor = 86400.0 if span >= DAILY_FROM_DAYS * 86400.0 else 0.0
    for bucket in BUCKETS:
        if bucket.seconds >= floor and span / bucket.seconds <= CHECK_MAX_BUCKETS:
            return bucket
    return BUCKETS[-1]


def run_checks(scope: Scope, profile: Profile, bucket: Bucket | None = None,
               group_columns: Sequence[str] | None = None, min_rows: int = MIN_ROWS,
               cancel: CancelToken = NEVER_CANCELLED, progress: Progress = no_progress,
               first_rows: FirstRows | None = None, counted: Scope | None = None,
               shapes_on_share: bool = False) -> list[Symptom]:
    """Every symptom of the rows matching ``condition`` against ``profile``; ``first_rows``
    is shared with the caller's later steps (triage) when given, else made once for this run.

    ``counted`` is where the schema and the cells are read when they are not ``scope``'s: the
    whole table on a cluster (the same columns, roles and condition), when ``scope`` holds rows
    pulled from it; the row-level scans then read the pulled rows. ``shapes_on_share``: ``scope``
    is a share of ``counted``'s rows on the same store, where the histograms the distribution
    tests read are counted (:func:`analysis.triage.cells.count_cells`)."""
    counted = counted or scope
    dataset, roles = counted.dataset, scope.roles
    progress(0.0, "Comparing the schema with the reference")
    profile = profile.label_matched_to(roles)
    symptoms = schema_symptoms(dataset, roles, profile)
    present = {c.name: c.dtype for c in dataset.columns}
    skipped = unchecked_columns(roles) | {roles.model_version}
    comparable = [c for c in profile.columns if present.get(c.name) == c.dtype and c.name not in skipped]
    groups = tuple(g for g in (profile.group_columns if group_columns is None else group_columns)
                   if g in present and profile.column(g) is not None and profile.column(g).kind == "categorical")
    span = time_span(counted) if roles.timestamp else None
    if bucket is None and span is not None:
        bucket = check_bucket(*span)
    spec = cell_spec(
        dataset, roles, {c.name: c.edges for c in comparable if c.kind == "numeric"},
        {c.name: c.kind for c in comparable}, groups,
    )
    progress(0.1, "Counting rows per time bucket and group")
    bucket_sql = bucket.sql(timestamp_expr(dataset, roles)) if bucket is not None and roles.timestamp else None
    cells = None if bucket_sql or shapes_on_share else _cells_profiled(profile, counted, spec)
    if cells is None:
        cells = count_cells(counted.store, dataset, spec, counted.condition, bucket_sql, cancel,
                            shapes=scope if shapes_on_share else None)
    progress(0.8, "Comparing each cell with the reference")
    width = dt.timedelta(seconds=bucket.seconds) if bucket is not None and bucket_sql else None
    tested: list[tuple[float, int]] = []
    found: list[Symptom] = []
    for cell in cells:
        cancel.raise_if_cancelled()
        reference = profile.cell(cell.group)
        if reference is None or reference.rows < min_rows or cell.rows < min_rows:
            continue
        found += _cell_symptoms(cell, reference, profile, roles, comparable, width, min_rows, tested)
    symptoms += significant_only(found, tested)
    with shared_first_rows(scope, first_rows) as shared:
        progress(0.85, "Looking row by row for nulls, zeros and stuck values clustered in time")
        symptoms += row_level_symptoms(scope, comparable, cancel, shared, profile, groups)
        progress(0.9, "Looking row by row for values far beyond the reference")
        seen = {c for s in symptoms if s.kind in VALUES_OFF_KINDS for c in s.columns}
        symptoms += far_beyond_symptoms(scope, profile, [c for c in comparable if c.name not in seen], cancel, shared,
                                        all_rows_extremes(cells))
        progress(0.95, "Looking row by row for values the reference never held")
        symptoms += novel_value_symptoms(scope, profile, comparable, groups, symptoms, cancel, shared)
    progress(1.0, f"{len(symptoms)} symptom(s)")
    return sorted(symptoms, key=_symptom_order)


def _cells_profiled(profile: Profile, counted: Scope, spec: CellSpec) -> list[Cell] | None:
    """The reference profile's own cells, each cut to ``spec``'s columns, when they counted these
    very rows (``counted``, in one bucket) with at least ``spec``'s measures; else None. A log with
    no timestamp is checked against its whole self by default, and its cells were the profile's
    and the checks' one pass each over the same rows (3.4 of the 7.1 CPU-s a check of a 400-row,
    250-column log took, in the performance log's h15small entry)."""
    over = profile.counted
    if over is None or not (over.scope.store is counted.store and over.scope.dataset.view == counted.dataset.view
                            and over.scope.condition == counted.condition and _measured_within(spec, over.spec)):
        return None
    wanted = {*(name for name, _ in spec.numeric), *spec.categorical, *spec.other}
    return [replace(cell, columns={name: counts for name, counts in cell.columns.items() if name in wanted})
            for cell in profile.cells]


def _measured_within(spec: CellSpec, counted: CellSpec) -> bool:
    """Whether cells counted by ``counted`` hold every measure ``spec`` asks for, per the same groups."""
    return (spec.groups == counted.groups and spec.outcomes == counted.outcomes
            and set(spec.numeric) <= set(counted.numeric) and set(spec.categorical) <= set(counted.categorical)
            and set(spec.other) <= set(counted.other))


def _symptom_order(symptom: Symptom) -> tuple:
    """A fixed order: DuckDB returns groups in no particular order, and triage breaks ties by
    position, so the same log must give the same list."""
    return (symptom.kind, symptom.columns, str(symptom.group), symptom.start or dt.datetime.min)


def schema_symptoms(dataset: Dataset, roles: RoleMap, profile: Profile) -> list[Symptom]:
    """Columns of the reference missing from the data, of another type, or new in the data.

    A training snapshot has no id, version, prediction or score: a log's column in a role the
    reference does not play at all is not "new". Features are always compared, and so are the
    model's columns of a reference that is itself a log."""
    present = {c.name: c.dtype for c in dataset.columns}
    known = {c.name for c in profile.columns}
    unplayed = _roles_only_in(roles, profile.roles)
    found = []
    for column in profile.columns:
        dtype = present.get(column.name)
        if dtype is None:
            found.append(_schema(dataset, column.name, "missing", column.dtype, None))
        elif dtype != column.dtype:
            found.append(_schema(dataset, column.name, "retyped", column.dtype, dtype))
    skipped = unchecked_columns(profile.roles)
    for column in dataset.columns:
        if column.name not in known and column.name not in skipped and roles.role_of(column.name) not in unplayed:
            found.append(_schema(dataset, column.name, "new", None, column.dtype))
    return found


LOG_SIDE_ROLES = (Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION, Role.PREDICTION, Role.SCORE)
"""Roles a prediction log has and a training snapshot may lack."""


def _roles_only_in(data: RoleMap, reference: RoleMap) -> set[Role]:
    """The log-side roles the checked data plays and the reference does not."""
    def plays(roles: RoleMap, role: Role) -> bool:
        return bool(roles.scores) if role is Role.SCORE else getattr(roles, role.value) is not None

    return {role for role in LOG_SIDE_ROLES if plays(data, role) and not plays(reference, role)}


def _schema(dataset: Dataset, column: str, change: str, before: str | None, after: str | None) -> Symptom:
    return Symptom(
        "schema", (column,), dataset.row_count, 1.0,
        evidence={"change": change, "reference_type": before, "observed_type": after, "level": "all rows"},
    )


def significant_only(symptoms: list[Symptom], tested: Sequence[tuple[float, int]]) -> list[Symptom]:
    """``symptoms`` less those of :data:`TESTED_KINDS` not significant once the chi-square
    statistics of every comparison the run made (``tested``: passed or not, the family is what
    was tried) are corrected for the log's overdispersion and Benjamini-Hochberg controls the
    false discovery rate over them; the kept ones get their p-value in ``evidence``."""
    chi2, dof = np.array([t[0] for t in tested], dtype=float), np.array([t[1] for t in tested], dtype=int)
    factor = overdispersion(chi2, dof)
    p_values = chi_square_p_values(chi2, dof, factor)
    cutoff = p_values[adjust_p_values(p_values, "bh") < FALSE_DISCOVERY_RATE].max(initial=-1.0) if len(tested) else -1.0
    kept = []
    for symptom in symptoms:
        if symptom.kind in TESTED_KINDS:
            statistic, df = symptom.evidence["chi_square"]
            p_value = float(chi_square_p_values([statistic], [df], factor)[0])
            if p_value > cutoff:
                continue
            symptom = replace(symptom, evidence={**symptom.evidence, "p_value": p_value, "overdispersion": factor})
        kept.append(symptom)
    return kept


def _cell_symptoms(
    cell: Cell, reference: Cell, profile: Profile, roles: RoleMap, columns: list, width: dt.timedelta | None,
    min_rows: int, tested: list[tuple[float, int]],
) -> list[Symptom]:
    place = {
        "start": cell.bucket, "end": cell.bucket + width if cell.bucket is not None and width else None,
        "group": cell.group,
    }
    level = "group" if cell.group else "all rows"
    model_side = {roles.label, roles.prediction, *roles.scores}
    per_version_only = roles.model_version is not None and not (cell.group and cell.group[0][0] == roles.model_version)
    checked = [
        (column, cell.columns[column.name], reference.columns[column.name]) for column in columns
        if column.name in cell.columns and column.name in reference.columns
        and reference.columns[column.name].rows >= min_rows
        and not (column.name in model_side and per_version_only)
    ]
    numeric = {c.name for c, obs, ref in checked
               if c.kind == "numeric" and obs.non_null >= min_rows and ref.non_null >= min_rows}
    # a histogram counted on a share needs as many of the share's rows to be compared
    histograms = [(c, obs, ref) for c, obs, ref in checked if c.name in numeric and obs.histogram_rows >= min_rows]
    observed_bins, reference_bins = [obs.bins for _, obs, _ in histograms], [ref.bins for _, _, ref in histograms]
    shifts = dict(zip([c.name for c, _, _ in histograms], _distribution_effects(
        observed_bins, reference_bins,
        [obs.histogram_rows for _, obs, _ in histograms], [ref.non_null for _, _, ref in histograms],
    )))
    tests = dict(zip([c.name for c, _, _ in histograms], zip(*_homogeneity(observed_bins, reference_bins))))
    tested += tests.values()
    categorical = [(c, obs, ref) for c, obs, ref in checked
                   if c.name not in numeric and c.kind == "categorical" and obs.categories and ref.categories]
    compared = _category_comparisons(categorical)
    found: list[Symptom] = []
    shifted: list[str] = []
    for column, obs, ref in checked:
        found += _null_rate(column.name, obs, ref, place, level)
        if column.name in numeric:
            shift = shifts.get(column.name, 0.0)
            found += _numeric_symptoms(column, obs, ref, shift, place, level, column.name in roles.scores,
                                       tests.get(column.name))
            if shift >= DISTRIBUTION_MIN_EFFECT:
                shifted.append(column.name)
        elif column.name in compared:
            tested.append(compared[column.name][1])
            found += _category_symptoms(column.name, obs, ref, profile, place, level, *compared[column.name])
    found += _swaps(cell, reference, [c for c in shifted if c not in model_side], place, level)
    if not per_version_only:
        found += _model_symptoms(cell, reference, place, level, min_rows)
    return _without_units_of_swaps(found)


def _null_rate(name: str, obs: ColumnCounts, ref: ColumnCounts, place: dict, level: str) -> list[Symptom]:
    effect = obs.null_rate - ref.null_rate
    if not _share_rose(effect, ref.null_rate, obs.rows, NULL_MIN_EFFECT):
        return []
    return [Symptom("null_rate", (name,), obs.rows - obs.non_null, effect, ref.null_rate, obs.null_rate,
                    **place, evidence={"level": level, "cell_rows": obs.rows})]


def _numeric_symptoms(
    column, obs: ColumnCounts, ref: ColumnCounts, shift: float, place: dict, level: str, is_score: bool,
    test: tuple[float, int] | None,
) -> list[Symptom]:
    """Zero fill, stuck value, out of range, unit change and ``shift`` (the distribution effect,
    computed once by the caller, which also looks for swaps with it); ``test``, the histograms'
    chi-square of homogeneity and its degrees of freedom, is the evidence of a unit change and a
    shift (see :func:`significant_only`); None (and ``shift`` 0) where the cell's share had too
    few rows to compare histograms, whose counts every row keeps are still checked."""
    name = column.name
    found = []
    evidence = {"level": level, "cell_rows": obs.rows}
    zero_effect = obs.zero_rate - ref.zero_rate
    if _share_rose(zero_effect, ref.zero_rate, obs.non_null, ZERO_MIN_EFFECT):
        found.append(Symptom("zero_fill", (name,), obs.zeros, zero_effect, ref.zero_rate, obs.zero_rate,
                             **place, evidence=evidence))
    if obs.minimum is not None and obs.minimum == obs.maximum and column.distinct >= STUCK_MIN_REFERENCE_DISTINCT:
        found.append(Symptom("stuck", (name,), obs.non_null, 1.0, float(column.distinct), obs.minimum,
                             **place, evidence={**evidence, "value": obs.minimum}))
    oor_effect = obs.out_of_range_rate - ref.out_of_range_rate
    if column.enough_draws and _share_rose(oor_effect, ref.out_of_range_rate, obs.non_null,
                                                OUT_OF_RANGE_MIN_EFFECT):
        found.append(Symptom("out_of_range", (name,), obs.out_of_range, oor_effect,
                             ref.out_of_range_rate, obs.out_of_range_rate, **place,
                             evidence={**evidence, "typical_range": [column.edges[0], column.edges[-1]],
                                       "observed_min": obs.minimum, "observed_max": obs.maximum}))
    factor = _unit_factor(obs, ref) if test is not None else None
    if factor is not None:
        found.append(Symptom("unit_change", (name,), obs.non_null, abs(math.log10(obs.mean / ref.mean)),
                             ref.mean, obs.mean, **place, evidence={**evidence, "factor": factor, "chi_square": test}))
    if column.enough_draws and shift >= DISTRIBUTION_MIN_EFFECT:
        found.append(Symptom("score_shift" if is_score else "distribution", (name,), obs.non_null, shift,
                             ref.mean, obs.mean, **place,
                             evidence={**evidence, "measure": "jensen-shannon distance", "chi_square": test,
                                       "reference_bins": ref.bin_shares.round(4).tolist(),
                                       "observed_bins": obs.bin_shares.round(4).tolist(),
                                       "edges": list(column.edges)}))
    return found


def _category_comparisons(categorical: list) -> dict[str, tuple[float, tuple[float, int]]]:
    """Each (column, observed counts, reference counts) category table's distribution effect
    and chi-square test (statistic, degrees of freedom), by column name. The tables of one
    width go to scipy together (a call per table was a tenth of the 200k demo's check): each
    row is computed as alone, with no padding, so the numbers are the same."""
    by_width: dict[int, list] = {}
    for column, obs, ref in categorical:
        values = sorted(set(ref.categories) | set(obs.categories))
        by_width.setdefault(len(values), []).append((
            column.name, [obs.categories.get(v, 0) for v in values], [ref.categories.get(v, 0) for v in values],
            sum(obs.categories.values()), sum(ref.categories.values())))
    compared = {}
    for tables in by_width.values():
        names, observed, expected, totals, ref_totals = zip(*tables)
        effects = _distribution_effects(observed, expected, totals, ref_totals)
        chi2, dof = _homogeneity(observed, expected)
        compared.update({name: (float(effect), (float(statistic), int(df)))
                         for name, effect, statistic, df in zip(names, effects, chi2, dof)})
    return compared


def _category_symptoms(name: str, obs: ColumnCounts, ref: ColumnCounts, profile: Profile, place: dict, level: str,
                       effect: float, test: tuple[float, int]) -> list[Symptom]:
    """New, vanished and shifted categories of one column; ``effect`` and ``test``, its table's
    distribution effect and chi-square, are :func:`_category_comparisons`'."""
    known = profile.column(name).counts.categories
    total = sum(obs.categories.values())
    found = []
    new = {v: n for v, n in obs.categories.items() if v not in known}
    new_share = sum(new.values()) / total
    if new_share >= NEW_CATEGORY_MIN_SHARE:
        found.append(Symptom("new_category", (name,), sum(new.values()), new_share, 0.0, new_share, **place,
                             evidence={"level": level, "values": dict(sorted(new.items(), key=lambda kv: -kv[1])[:10])}))
    ref_total = sum(ref.categories.values())
    vanished = {v: n / ref_total for v, n in ref.categories.items()
                if v not in obs.categories and n / ref_total * total >= VANISHED_MIN_EXPECTED}
    if vanished:
        share = sum(vanished.values())
        found.append(Symptom("vanished_category", (name,), int(round(share * total)), share, share, 0.0, **place,
                             evidence={"level": level, "values": vanished}))
    if effect >= DISTRIBUTION_MIN_EFFECT:
        values = sorted(set(ref.categories) | set(obs.categories))
        found.append(Symptom("distribution", (name,), total, effect, None, None, **place,
                             evidence={"level": level, "measure": "jensen-shannon distance", "chi_square": test,
                                       "reference_shares": {v: ref.categories.get(v, 0) / ref_total for v in values},
                                       "observed_shares": {v: obs.categories.get(v, 0) / total for v in values}}))
    return found


def _swaps(cell: Cell, reference: Cell, shifted: list[str], place: dict, level: str) -> list[Symptom]:
    """Pairs of shifted numeric columns each distributed like the other's reference."""
    found = []
    for i, a in enumerate(shifted):
        for b in shifted[i + 1:]:
            oa, ob, ra, rb = cell.columns[a], cell.columns[b], reference.columns[a], reference.columns[b]
            own = _moment_distance(oa, ra) + _moment_distance(ob, rb)
            crossed = _moment_distance(oa, rb) + _moment_distance(ob, ra)
            if 0 < own < math.inf and crossed <= SWAP_MAX_RATIO * own:
                found.append(Symptom("swap", (a, b), min(oa.non_null, ob.non_null), 1.0 - crossed / own,
                                     own, crossed, **place,
                                     evidence={"level": level, "distance_to_own_reference": own,
                                               "distance_to_other_reference": crossed}))
    return found


def _model_symptoms(cell: Cell, reference: Cell, place: dict, level: str, min_rows: int) -> list[Symptom]:
    found = []
    for name, kind in ((PREDICTED_POSITIVE, "positive_rate"), (ERROR, "metric")):
        if name not in cell.outcomes or name not in reference.outcomes:
            continue
        (n, s), (rn, rs) = cell.outcomes[name], reference.outcomes[name]
        if n < min_rows or rn < min_rows:
            continue
        rate, ref_rate = s / n, rs / rn
        if _share_moved(rate - ref_rate, ref_rate, n, RATE_MIN_EFFECT):
            found.append(Symptom(kind, (name,), n, rate - ref_rate, ref_rate, rate, **place,
                                 evidence={"level": level, "measure": "error rate" if name == ERROR else "predicted-positive rate"}))
    return found


def _without_units_of_swaps(found: list[Symptom]) -> list[Symptom]:
    """A swap also rescales both columns; it is not a unit change of either."""
    swapped = {c for s in found if s.kind == "swap" for c in s.columns}
    return [s for s in found if not (s.kind == "unit_change" and s.columns[0] in swapped)]


def _share_moved(effect: float, reference: float, rows: int, minimum: float) -> bool:
    """True when a share moved by at least ``minimum`` and well beyond the cell's noise."""
    if rows <= 0:
        return False
    noise = math.sqrt(max(reference * (1 - reference), 1.0 / rows) / rows)
    return abs(effect) >= minimum and abs(effect) >= SHARE_NOISE_SIGMAS * noise


def _share_rose(effect: float, reference: float, rows: int, minimum: float) -> bool:
    """:func:`_share_moved`, upwards only: nulls, zeros and values out of range are defects when
    there are more of them than in the reference; fewer is the feed getting better, not a fill."""
    return effect > 0 and _share_moved(effect, reference, rows, minimum)


def _distribution_effects(
    observed: Sequence[Sequence[float]], reference: Sequence[Sequence[float]],
    n_obs: Sequence[int], n_ref: Sequence[int],
) -> np.ndarray:
    """Jensen-Shannon distance (base 2) between each pair of histograms, less its small-sample
    bias: with k bins, two samples of the same distribution differ by about
    (k - 1) / (8 ln 2) x (1/n + 1/m) in divergence, which is subtracted before the root.

    All pairs go to scipy in one call (a cell has dozens of columns, a log hundreds of cells);
    shorter histograms are padded with bins empty on both sides, which change neither the
    distance nor the count of bins.
    """
    effects = np.zeros(len(observed))
    if not len(observed):
        return effects
    width = max(len(h) for h in [*observed, *reference])
    p, q = np.zeros((len(observed), width)), np.zeros((len(observed), width))
    for i, (o, r) in enumerate(zip(observed, reference)):
        p[i, :len(o)], q[i, :len(r)] = o, r
    n, m = np.asarray(n_obs, dtype=float), np.asarray(n_ref, dtype=float)
    valid = (p.sum(axis=1) > 0) & (q.sum(axis=1) > 0) & (n > 0) & (m > 0)
    if not valid.any():
        return effects
    p, q, n, m = p[valid], q[valid], n[valid], m[valid]
    divergence = jensenshannon(p, q, base=2, axis=1) ** 2
    bins = np.count_nonzero((p > 0) | (q > 0), axis=1)
    bias = (bins - 1) / (8 * math.log(2)) * (1 / n + 1 / m)
    effects[valid] = np.sqrt(np.maximum(divergence - bias, 0.0))
    return effects


def _homogeneity(observed: Sequence[Sequence[float]], reference: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Each pair of histograms' chi-square of one distribution and its degrees of freedom
    (padded with bins empty on both sides, as :func:`_distribution_effects` does)."""
    if not len(observed):
        return np.zeros(0), np.zeros(0, dtype=int)
    width = max(len(h) for h in [*observed, *reference])
    p, q = np.zeros((len(observed), width)), np.zeros((len(observed), width))
    for i, (o, r) in enumerate(zip(observed, reference)):
        p[i, :len(o)], q[i, :len(r)] = o, r
    return homogeneity_chi_square(p, q)


_NO_UNIT_WITHIN = min(abs(math.log(factor)) for factor in UNIT_FACTORS) - UNIT_TOLERANCE
"""A ratio of means nearer 1 than this (log scale) is within the tolerance of no unit factor:
most cells' ratios are, and a check of 10M rows asks for 12,150 cells' factors."""


def _unit_factor(obs: ColumnCounts, ref: ColumnCounts) -> float | None:
    """The unit factor that maps the reference's mean and spread onto the cell's, if any.

    A mean that moved less than any factor can reach is answered at once, without trying
    the twenty factors in Python (1.4 s of the 10M-row check under cProfile)."""
    if not (ref.mean and ref.std and obs.mean and obs.std) or math.isnan(obs.std) or math.isnan(ref.std):
        return None
    mean_ratio = obs.mean / ref.mean
    if mean_ratio > 0 and abs(math.log(mean_ratio)) < _NO_UNIT_WITHIN:
        return None
    return nearest_unit_factor(mean_ratio, obs.std / ref.std)


def _moment_distance(obs: ColumnCounts, ref: ColumnCounts) -> float:
    """How far a cell's values sit from a reference, in the reference's standard deviations
    (location) plus the log ratio of spreads (scale)."""
    if not ref.std or math.isnan(ref.std) or not obs.std or math.isnan(obs.std):
        return math.inf
    return abs(obs.mean - ref.mean) / ref.std + abs(math.log(obs.std / ref.std))
