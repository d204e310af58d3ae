"""Values no reference row held, clustered in time: what tells two overlapping columns swapped.

A swap of two columns whose ranges overlap (VietNamI's log age, 0 to 4.5, and years of
schooling, 0 to 12) puts no value far beyond the other's range, so neither the cell checks
nor the far-beyond scan (:mod:`analysis.triage.far_beyond`) see it. The values still tell it:
schooling holds fractions no reference row ever held, and age whole numbers. For a column of
few values the reference profile keeps every value it held with its count
(:func:`analysis.triage.reference_profile.value_set_wanted`), and a row holding a value
outside that set is *novel*.

Some novel values are normal: a column that takes a hundred values over years shows a few new
ones any month. How often is the reference's own Good-Turing estimate of the mass it never
saw: with ``N`` rows of which ``N1`` hold a value seen once, a new row holds a value never seen
with probability about ``N1 / N`` (Good 1953); here ``(N1 + 1) / (N + 1)``, which stays above
zero when the reference holds no single value (among ``N + 1`` exchangeable draws the last is
new at most as often as one of them is a singleton). Each level of a group column is tested
against its own rows' estimate (:func:`level_unseen_mass`): a level holding most of the
reference's rare values shows new ones more often than the column as a whole, every day.

Per column, the rows holding a novel value (one row per request) go through Kulldorff's scan
(:func:`analysis.triage.localisation.scanned_window`), which finds the window they cluster in
and its p-value over every window tried; the window's count of novel values is then tested
against the Good-Turing rate (one-sided binomial). Both must hold (an intersection-union test:
its p-value is the larger of the two), and the Benjamini-Hochberg procedure
(:func:`analysis.stats.multiple_testing.adjust_p_values`) controls the false discovery rate over
every column tried. Rows a unit change or swap already found on the column explains (its
window) are left out: their values are that finding's. Triage then names the subgroup the
novel rows concentrate in (:mod:`analysis.triage.localisation`).

A column's novel values that are another column's values, while that column holds this
one's (:func:`analysis.triage.violating_rows.swapped_values_condition`), are a swap (unless
the cell or far-beyond checks already found a unit change or a swap of the column: its values
are then that finding's, which the novel values join): that
indicator is scanned over the partners the column could have been swapped with (Bonferroni
over them, its window overlapping the novel values'), and gives a ``swap`` symptom.

An expectations file saved before value sets were kept has none: the check is skipped and
:func:`skipped_checks` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from scipy.special import xlogy

from analysis.data.roles import RoleMap
from analysis.data.time import time_span, timestamp_expr
from analysis.dataset import Dataset
from analysis.query import Sql, ident, literal, select
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.scope import Scope
from analysis.stats.multiple_testing import adjust_p_values
from analysis.triage.cells import finite_double
from analysis.triage.localisation import ScannedWindow, outside_windows, scan_unit, scanned_window
from analysis.triage.reference_profile import ColumnProfile, Profile
from analysis.triage.row_scan import FirstRows, shared_first_rows
from analysis.triage.scan import PERMUTATIONS, SEED, gumbel_p_value, peer_scan, scan
from analysis.triage.symptoms import Symptom
from analysis.triage.violating_rows import Violation, novel_value_condition, swapped_values_condition

ALPHA = 0.05
"""False discovery rate over the columns tried, and family-wise level over a column's partners."""

EXPLAINED_KINDS = frozenset({"unit_change", "swap"})
"""Symptoms whose window explains a column's novel values (a factor, another column's values)."""

EXAMPLES = 5
"""Novel values a symptom quotes, the most frequent first."""


def unseen_mass(counts: Sequence[int]) -> float:
    """The Good-Turing estimate of the share of new rows holding a value the reference never
    held, ``(N1 + 1) / (N + 1)`` (see the module text); 1 for an empty reference."""
    total = sum(counts)
    singletons = sum(1 for n in counts if n == 1)
    return min(1.0, (singletons + 1) / (total + 1))


def level_unseen_mass(profile: Profile, column: str, level: tuple[str, Any]) -> float:
    """The Good-Turing estimate for the new rows of one ``level``: among the level's reference
    rows, the share holding a value the reference held once, ``(N1 + 1) / (N + 1)`` as in
    :func:`unseen_mass`. The test is per level, and a level may hold most of a column's rare
    values (:func:`analysis.triage.reference_profile._level_singletons`): judged by the whole
    column's rate, such a level shows values never seen beyond "expected" all the time. An
    expectations file without the counts per level (version 4) falls back on the column's."""
    rows, once = level_unseen_counts(profile, column, level)
    return min(1.0, (once + 1) / (rows + 1))


def level_unseen_counts(profile: Profile, column: str, level: tuple[str, Any]) -> tuple[int, int]:
    """The evidence of :func:`level_unseen_mass`: the reference rows counted and those holding a
    value held once (the level's, else the column's)."""
    counted = (profile.level_singletons or {}).get(column, {}).get((level[0], str(level[1])))
    if counted is not None:
        return counted
    counts = list(profile.value_sets[column].values())
    return sum(counts), sum(1 for n in counts if n == 1)


def skipped_checks(profile: Profile) -> list[str]:
    """What this profile cannot check, in one sentence each, for the report."""
    if profile.value_sets is None:
        return ["values never seen in the reference: not checked, because the reference profile was saved "
                "before Sleuth kept each column's values; profile the reference again to check them"]
    return []


def novel_value_symptoms(scope: Scope, profile: Profile, columns: Sequence[ColumnProfile], groups: Sequence[str],
                         found: Sequence[Symptom] = (), cancel: CancelToken = NEVER_CANCELLED,
                         first_rows: FirstRows | None = None) -> list[Symptom]:
    """A ``novel_values`` symptom for each (column of ``columns``, level of a ``groups``
    column) whose novel values cluster in a window beyond the reference's unseen mass and
    beyond the other levels at the same time, and a ``swap`` where they are a partner's
    values (see the module text); ``found`` are the run's symptoms so far (their unit changes
    and swaps explain their windows), ``first_rows`` the run's shared one, if any."""
    roles = scope.roles
    if roles.timestamp is None or not profile.value_sets or not groups:
        return []
    model_side = {roles.label, roles.prediction, *roles.scores}
    numeric = [c for c in columns if c.kind == "numeric" and c.name not in model_side]
    tried = [c for c in numeric if profile.value_sets.get(c.name) and c.enough_draws]
    if not tried:
        return []
    with shared_first_rows(scope, first_rows) as shared:
        where = (scope.condition if scope.condition is not None else Sql("TRUE")) & shared.condition(cancel)
        return _significant(scope, profile, tried, numeric, groups, found, where, cancel)


def _significant(scope: Scope, profile: Profile, tried: Sequence[ColumnProfile], numeric: Sequence[ColumnProfile],
                 groups: Sequence[str], found: Sequence[Symptom], where: Sql, cancel: CancelToken) -> list[Symptom]:
    """The symptoms of the ``tried`` columns' levels that pass the tests of the module text."""
    dataset = scope.dataset
    held = novel_values_held(scope, profile, tried, where, cancel)
    screened = [c for c in tried if held[c.name] != []]
    scoped = {c.name: where & outside_windows(dataset, scope.roles, _explained_windows(c.name, found))
              for c in screened}
    conditions = {c.name: _novel_condition(profile, dataset, c, held[c.name]) for c in screened}
    levels = _levels(profile, groups, scope.roles)
    counted = {(c.name, level): level_unseen_counts(profile, c.name, level) for c in tried for level in levels}
    masses = {key: min(1.0, (once + 1) / (rows + 1)) for key, (rows, once) in counted.items()}
    series = _level_series(scope, screened, levels, conditions, scoped, where, cancel) if screened else {}
    hypotheses = len(tried) * len(levels)
    by_name = {c.name: c for c in tried}
    explained = {c for s in found if s.kind in EXPLAINED_KINDS for c in s.columns}
    tests = [(by_name[name], level, _level_p_value(*counts, masses[name, level], counted[name, level]))
             for (name, level), counts in series.items()]
    if not tests:
        return []
    q_values = adjust_p_values([p for *_, p in tests] + [1.0] * (hypotheses - len(tests)), "bh")[:len(tests)]
    symptoms: list[Symptom] = []
    for (column, level, p_value), q_value in zip(tests, q_values):
        if q_value >= ALPHA:
            continue
        rows_of_level = scoped[column.name] & Sql(f"{ident(level[0])} = ?", (level[1],))
        violation = Violation(f"CASE WHEN {conditions[column.name]} THEN 1.0 ELSE 0.0 END", 1, 0.0, True)
        window = scanned_window(scope, violation, rows_of_level, cancel)
        if window is None:
            continue
        mass = masses[column.name, level]
        examples = _examples(scope, column, conditions[column.name], window, rows_of_level, cancel)
        symptoms.append(Symptom(
            "novel_values", (column.name,), round(window.rows * window.inside_share), window.inside_share - mass, mass,
            window.inside_share, window.start, window.end, (level,),
            evidence={"level": level[0], "window_p_value": p_value, "unseen_mass": mass, "values": examples,
                      "reference_values": len(profile.value_sets[column.name]), "cell_rows": window.rows},
        ))
        swap = None if column.name in explained else _swapped_with(scope, profile, column, numeric, window,
                                                                 rows_of_level, level, cancel)
        if swap is not None:
            symptoms.append(replace(swap, evidence={**swap.evidence, "values": examples}))
    return symptoms


def novel_values_held(scope: Scope, profile: Profile, columns: Sequence[ColumnProfile], where: Sql,
                      cancel: CancelToken = NEVER_CANCELLED) -> dict[str, list[float] | None]:
    """Per column, the novel values (:func:`novel_value_condition`) the ``where`` rows hold,
    sorted; None when they outnumber the reference's own values (a column gone continuous).

    The screen of :func:`_significant`: the log's distinct values per column come from one
    pass of grouping sets, each a hash of a few hundred keys, and the test against the
    reference's values runs once per distinct value, not once per row. The per-row flags are
    then built only for columns holding a novel value, and test the (short) list of those: a
    clean column costs nothing more, where testing every row against the reference's list of
    up to a thousand values cost 14.6 of the checks' 42 CPU-s on the 10M-row demo log. The
    list kept per column is cut after the longer of the two lists would be read: past it, the
    reference's own list is the shorter test."""
    dataset = scope.dataset
    names = [ident(c.name) for c in columns]
    flags = [ident(f"{FLAG}g{i}") for i in range(len(columns))]
    longest = max(len(profile.value_sets[c.name]) for c in columns) + 1
    inner = select([f"{finite_double(c.name, c.dtype)} AS {n}" for c, n in zip(columns, names)],
                   ident(dataset.view), where)
    novel = " OR ".join(f"({novel_value_condition(profile, dataset, c.name)})" for c in columns)
    rank = ident(f"{FLAG}rank")
    result = scope.store.rows(Sql(
        f"SELECT {', '.join(names)} FROM (SELECT {', '.join(names)}, row_number() OVER "
        f"(PARTITION BY {', '.join(flags)} ORDER BY {', '.join(names)}) AS {rank} FROM ("
        f"SELECT {', '.join(names)}, {', '.join(f'grouping({n}) AS {g}' for n, g in zip(names, flags))} "
        f"FROM ({inner.text}) AS log_values GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})"
        f") AS distinct_values WHERE {novel}) AS novel_values WHERE {rank} <= {longest}", inner.params), cancel)
    found: dict[str, list[float]] = {c.name: [] for c in columns}
    for row in result:
        index = next(i for i, value in enumerate(row) if value is not None)
        found[columns[index].name].append(float(row[index]))
    return {name: None if len(values) > len(profile.value_sets[name]) else sorted(values)
            for name, values in found.items()}


def _novel_condition(profile: Profile, dataset: Dataset, column: ColumnProfile, held: list[float] | None) -> str:
    """SQL true where ``column`` holds a novel value, on the rows :func:`novel_values_held`
    screened: one of the ``held`` ones, or, where they were too many to list, not one of the
    reference's (:func:`novel_value_condition`)."""
    if held is None:
        return novel_value_condition(profile, dataset, column.name)
    return f"({finite_double(column.name, column.dtype)} IN ({', '.join(literal(v) for v in held)}))"


def _level_p_value(rows: np.ndarray, cases: np.ndarray, peer_rows: np.ndarray, peer_cases: np.ndarray,
                   mass: float, reference: tuple[int, int] | None = None) -> float:
    """The p-value that a level's novel values cluster in a window beyond both its peers at the
    same time (:func:`analysis.triage.scan.peer_scan`: the population's new values, which every
    level shows at once, cancel out) and the reference's unseen ``mass``
    (:func:`beyond_unseen_mass`): the larger of the two (an intersection-union test). Units
    with no row of the level are left out, as the subgroup stuck scan leaves them."""
    held = rows > 0
    rows, cases, peer_rows, peer_cases = rows[held], cases[held], peer_rows[held], peer_cases[held]
    if peer_rows.sum() <= 0:  # the level holds every row read: no subgroup to tell apart
        return 1.0
    if peer_cases.sum() > 0:
        window = peer_scan(rows, cases, peer_rows, peer_cases, PERMUTATIONS, level=ALPHA)
    else:
        window = scan(rows, cases, PERMUTATIONS, level=ALPHA)
    if window is None or window.p_value is None or window.p_value >= ALPHA:
        return 1.0
    return max(window.p_value, beyond_unseen_mass(rows, cases, mass, reference=reference))


def _levels(profile: Profile, groups: Sequence[str], roles: RoleMap) -> list[tuple[str, Any]]:
    """The levels ``(group column, value)`` of ``groups`` the reference's cells hold (a group
    column holds two values at least there, :func:`analysis.triage.reference_profile.choose_group_columns`),
    but the model version's: a version sends no inputs (a shadow log's versions score the same
    request, whose first row alone is read), a source does."""
    found = {pair for cell in profile.cells if len(cell.group) == 1 for pair in cell.group
             if pair[0] in groups and pair[0] != roles.model_version}
    return sorted(found, key=lambda level: (level[0], str(level[1])))


def _level_series(scope: Scope, columns: Sequence[ColumnProfile], levels: Sequence[tuple[str, Any]],
                  conditions: dict[str, str], scoped: dict[str, Sql], where: Sql, cancel: CancelToken) -> dict:
    """Per (column, level) whose rows hold a novel value: the level's rows and novel rows per
    scan unit (:func:`analysis.triage.localisation.scan_unit`), and the other levels' (its
    peers'), over the column's scope. One pass: each column's two flags (in its scope; novel
    there) are computed once per row, and counted per unit and per (unit, level) by grouping
    sets. An indicator per (column, level) evaluated the value-set test once per level and
    cost 270 CPU-s on a 10M-row log, against a few seconds for this."""
    dataset, roles = scope.dataset, scope.roles
    span = time_span(scope.with_condition(where))
    if span is None or not levels:
        return {}
    groups = sorted({g for g, _ in levels})
    flags, params = [], []
    for i, column in enumerate(columns):
        inside = scoped[column.name]
        flags.append(f"({inside.text}) AS {ident(f'{FLAG}s{i}')}, "
                     f"(({conditions[column.name]}) AND ({inside.text})) AS {ident(f'{FLAG}n{i}')}")
        params += [*inside.params, *inside.params]
    unit_name = ident(f"{FLAG}unit")
    names = [ident(g) for g in groups]
    counts = ", ".join(f"count_if({ident(f'{FLAG}s{i}')}), count_if({ident(f'{FLAG}n{i}')})"
                       for i in range(len(columns)))
    result = scope.store.rows(Sql(
        f"SELECT {unit_name}, {', '.join(f'grouping({n})' for n in names)}, {', '.join(names)}, {counts} "
        f"FROM (SELECT {scan_unit(*span).sql(timestamp_expr(dataset, roles))} AS {unit_name}, {', '.join(names)}, "
        f"{', '.join(flags)} FROM {ident(dataset.view)} WHERE {where.text}) "
        f"GROUP BY GROUPING SETS (({unit_name}), {', '.join(f'({unit_name}, {n})' for n in names)})",
        tuple(params) + tuple(where.params)), cancel)
    return _series_from_sets(result, columns, levels, groups)


FLAG = "__sleuth_novel_"
"""Prefix of the per-row flags' names in :func:`_level_series` (no log column is named so)."""


def _series_from_sets(result: Sequence[tuple], columns: Sequence[ColumnProfile], levels: Sequence[tuple[str, Any]],
                      groups: Sequence[str]) -> dict:
    """:func:`_level_series`'s arrays from its grouping sets' rows: ``(unit, grouping flags...,
    group values..., (rows, novel) per column)``; a unit a level lacks counts 0."""
    width = len(groups)
    units = sorted({row[0] for row in result if all(row[1:1 + width])})
    at = {unit: k for k, unit in enumerate(units)}
    totals = np.zeros((len(units), 2 * len(columns)), dtype=np.int64)
    by_level: dict[tuple[str, Any], np.ndarray] = {}
    for row in result:
        counted = np.array([value or 0 for value in row[1 + 2 * width:]], dtype=np.int64)
        if all(row[1:1 + width]):
            totals[at[row[0]]] = counted
            continue
        index = next(k for k in range(width) if not row[1 + k])
        level = (groups[index], row[1 + width + index])
        by_level.setdefault(level, np.zeros_like(totals))[at[row[0]]] = counted
    series = {}
    for i, column in enumerate(columns):
        for level in levels:
            counted = by_level.get(level)
            if counted is None or not counted[:, 2 * i + 1].any():
                continue
            rows, cases = counted[:, 2 * i], counted[:, 2 * i + 1]
            series[column.name, level] = (rows, cases, totals[:, 2 * i] - rows, totals[:, 2 * i + 1] - cases)
    return series


def beyond_unseen_mass(rows: np.ndarray, cases: np.ndarray, mass: float, permutations: int = PERMUTATIONS,
                       seed: int = SEED, reference: tuple[int, int] | None = None) -> float:
    """The p-value that some stretch of time holds more novel values than the reference's
    unseen ``mass`` lets a row hold: the largest log likelihood ratio, over every interval of
    the units (``rows`` rows and ``cases`` novel ones each), of a rate above ``mass`` against
    ``mass`` itself, judged against its maxima when each unit's cases are drawn at ``mass``
    (Monte Carlo, Gumbel fit, :func:`analysis.triage.scan.gumbel_p_value`). Unlike a test of
    the window the scan picked, every interval that could have been picked is paid for, and
    unlike the scan (which compares a window with the rest of the log) the rate is the
    reference's: a handful of rare values spread over the log, as many as the reference
    expects, is no finding however two of them happen to fall on one day.

    ``reference`` (rows, rows holding a value held once) is the evidence ``mass`` was estimated
    from: the rate is then itself uncertain (a level's few hundred reference rows put a few points
    on it either way), and each Monte Carlo draw takes its rate from that evidence, Beta(N1 + 1,
    N - N1 + 1), before drawing the cases: a level whose estimate fell low by chance is then no
    finding for holding new values at its true, steady rate."""
    rows, cases = np.asarray(rows, dtype=np.int64), np.asarray(cases, dtype=np.int64)
    if cases.sum() <= 0 or mass >= 1.0:
        return 1.0
    intervals = _UnitIntervals.of(rows)
    observed = _largest_llr(intervals, cases, mass)
    if observed <= 0:
        return 1.0
    rng = np.random.default_rng(seed)
    rates = (np.full(permutations, mass) if reference is None
             else rng.beta(reference[1] + 1, reference[0] - reference[1] + 1, permutations))
    maxima = np.array([_largest_llr(intervals, rng.binomial(rows, rate), mass) for rate in rates])
    return gumbel_p_value(observed, maxima)


@dataclass(frozen=True)
class _UnitIntervals:
    """Every interval ``[first, last]`` of consecutive units, with its rows (``n``) and ``after``
    (``last + 1``): they depend on the rows only, so :func:`beyond_unseen_mass`'s hundred draws,
    which move the cases, share them: built again for each draw, they were 3 in 10 of the
    test's CPU (60 to 400 units)."""

    first: np.ndarray
    last: np.ndarray
    n: np.ndarray
    after: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray) -> "_UnitIntervals":
        row_sums = np.concatenate([[0], np.cumsum(rows)])
        first, last = np.triu_indices(len(rows))
        return cls(first, last, (row_sums[last + 1] - row_sums[first]).astype(np.float64), last + 1)


def _largest_llr(intervals: _UnitIntervals, cases: np.ndarray, mass: float) -> float:
    """The largest binomial log likelihood ratio, rate inside above ``mass`` against ``mass``,
    over every interval of consecutive units; taken only for the intervals whose rate is above
    ``mass`` (the others score 0: most of them, for a rare value)."""
    case_sums = np.concatenate([[0], np.cumsum(cases)])
    c = (case_sums[intervals.after] - case_sums[intervals.first]).astype(np.float64)
    n = intervals.n
    rate = np.divide(c, n, out=np.zeros_like(c), where=n > 0)
    above = np.flatnonzero(rate > mass)
    c, n, rate = c[above], n[above], rate[above]
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = xlogy(c, rate / mass) + xlogy(n - c, (1.0 - rate) / (1.0 - mass))
    return float(np.nan_to_num(llr, nan=0.0).max(initial=0.0))


def _explained_windows(column: str, found: Sequence[Symptom]) -> list[tuple]:
    """The windows of the unit changes and swaps in ``found`` that hold ``column``."""
    return [(s.start, s.end) for s in found
            if s.kind in EXPLAINED_KINDS and column in s.columns and s.start is not None and s.end is not None]


def _examples(scope: Scope, column: ColumnProfile, condition: str, window: ScannedWindow, where: Sql,
              cancel: CancelToken) -> dict[float, int]:
    """The window's most frequent novel values of ``column`` and their counts."""
    inside = _inside(scope, window) & where
    x = finite_double(column.name, column.dtype)
    rows = scope.store.rows(Sql(
        f"SELECT {x} AS value, count(*) AS n FROM {ident(scope.dataset.view)} WHERE ({condition}) AND {inside.text} "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {EXAMPLES}", inside.params), cancel)
    return {float(value): int(n) for value, n in rows}


def _inside(scope: Scope, window: ScannedWindow) -> Sql:
    ts = timestamp_expr(scope.dataset, scope.roles)
    return Sql(f"{ts} >= ? AND {ts} < ?", (window.start, window.end))


def _swapped_with(scope: Scope, profile: Profile, column: ColumnProfile, numeric: Sequence[ColumnProfile],
                  window: ScannedWindow, where: Sql, level: tuple[str, Any], cancel: CancelToken) -> Symptom | None:
    """A ``swap`` of ``column`` with the partner (another numeric input) whose values trade
    places with its novel ones (:func:`swapped_values_condition`) in a window of significance,
    Bonferroni over the partners, overlapping the novel values' ``window``; the most
    significant partner wins. Partners with no such row in the window are not scanned (one
    pass counts them), but count in the correction."""
    dataset = scope.dataset
    partners = [c for c in numeric if c.name != column.name]
    conditions = {c.name: swapped_values_condition(profile, dataset, column.name, c.name) for c in partners}
    held = {c.name: conditions[c.name] for c in partners if conditions[c.name] is not None}
    if not held:
        return None
    inside = _inside(scope, window) & where
    counts = scope.store.rows(Sql(f"SELECT {', '.join(f'count_if({c})' for c in held.values())} "
                                  f"FROM {ident(dataset.view)} WHERE {inside.text}", inside.params), cancel)[0]
    best: tuple[float, ColumnProfile, ScannedWindow] | None = None
    for partner in partners:
        condition = held.get(partner.name)
        if condition is None or not counts[list(held).index(partner.name)]:
            continue
        violation = Violation(f"CASE WHEN {condition} THEN 1.0 ELSE 0.0 END", 1, 0.0, True)
        found = scanned_window(scope, violation, where, cancel)
        if found is None or found.p_value is None or found.p_value >= ALPHA / len(partners):
            continue
        if not (found.start < window.end and window.start < found.end):
            continue
        if best is None or found.p_value < best[0]:
            best = (found.p_value, partner, found)
    if best is None:
        return None
    p_value, partner, found = best
    return Symptom(
        "swap", (column.name, partner.name), round(found.rows * found.inside_share),
        found.inside_share - found.baseline, found.baseline, found.inside_share, found.start, found.end, (level,),
        evidence={"level": level[0], "told_by": "values never seen", "window_p_value": p_value,
                  "cell_rows": found.rows},
    )
