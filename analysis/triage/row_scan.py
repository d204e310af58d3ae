"""Rows broken one by one, found in time however few they are: a scan per column and defect.

The cell checks read a (time bucket, group) cell only once it holds
:data:`analysis.triage.checks.MIN_ROWS` rows. On a log of a dozen requests a day no cell of a
subgroup ever does, so a month of nulls, zeros or one repeated value sent by one source goes
unseen. Yet each such row is broken by itself, so the question needs no cell: *do the rows
showing the defect cluster in time beyond chance?* That is Kulldorff's scan
(:mod:`analysis.triage.scan`) over the time-ordered 0/1 indicator of the defect, whose
p-value already accounts for every window tried.

The defects, per input column (the model's own columns, the id, the time and the version
excluded), each the row-level expression triage localises with
(:func:`analysis.triage.violating_rows.violation_of`):

* ``null_rate``: the value is missing (NULL, or NaN in a float column);
* ``zero_fill``: a numeric value is 0;
* ``stuck``: a numeric value equals a candidate value of the column, for a column whose
  reference held at least :data:`STUCK_MIN_REFERENCE_DISTINCT` values, kept only where the
  value fills significantly more of the window's rows than the reference's most frequent
  value fills the reference. The candidates are the most frequent values of the scan's
  units within the reference's range (a most frequent value of 0 is the zero fill's, one
  beyond the range the range and unit checks') that some unit repeats
  significantly more often than the reference's most frequent value (one-sided binomial
  test at :data:`ALPHA`, a screen only): the log's single most frequent value would miss a
  value stuck for weeks at the median of a column with a common value of its own (a round
  amount, a ratio of 0.8), while during those weeks it leads their units.

Clustering alone does not make a value stuck: a drift that moves values off their usual grid
makes the log's most frequent value simply stop occurring, and the normal weeks before it
would "cluster". A stuck value occurs far more often than it normally does, and "normally"
is the reference: no value of the reference is more frequent than its most frequent one
(:attr:`analysis.triage.reference_profile.ColumnProfile.top_share`), so a window whose share of
the value is above that share by a one-sided binomial test at the scan's level holds the value
more often than the reference holds any value. (An expectations file of version 1 records no
such share; its stuck windows are judged by the scan alone.)

A column that follows the clock (a local hour of day, a weekday) holds each of its values for
hours on end, every day, by design: the hours when it reads 19 cluster as well as any stuck
value. So a stuck window must also hold the value more often than the same hours of the week
hold it elsewhere in the log: the expected count is, summed over the window's hours of the
week, its rows there times the value's share among the log's other rows at that hour of the
week, and the window's count must exceed it by a one-sided binomial test at the same level.

All indicators are counted per scan unit in one SQL pass (in batches, for wide logs); numpy
scans each series. A column whose nulls, zeros or most frequent value are spread over time
as they come (sparse fields, count data) gives a replicate or two of Monte Carlo
(:func:`analysis.triage.scan.scan` with a ``level``) and no symptom; one whose defect clusters
gives a symptom for the unit-level window at family-wise level :data:`ALPHA` (Bonferroni
over the indicators scanned), which triage narrows to the hour and to the subgroup. A
column's stuck candidates share one indicator's part of the level, split evenly among them
(weighted Bonferroni: the parts still sum to :data:`ALPHA`), so a column with many
candidates weakens only its own stuck test, never the null or zero scans of any column.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import numpy as np
from scipy.stats import binom, binomtest

from analysis.data.roles import RoleMap
from analysis.data.time import Bucket, time_span, timestamp_expr
from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, TRUE, Sql, ident, literal
from analysis.scope import Scope
from analysis.stats.multiple_testing import adjust_p_values
from analysis.store import Store
from analysis.triage.localisation import scan_unit, unit_end
from analysis.triage.cells import finite_double
from analysis.triage.reference_profile import ColumnProfile, Profile
from analysis.triage.scan import PERMUTATIONS, Intervals, ScanWindow, peer_scan, scan
from analysis.triage.share import share_every
from analysis.triage.symptoms import Symptom
from analysis.triage.violating_rows import violation_of

ALPHA = 0.05
"""Family-wise level over the indicators scanned."""

STUCK_MIN_REFERENCE_DISTINCT = 5
"""A column is stuck only if its reference had at least this many distinct values."""

STUCK_SCREEN_ROWS = 1_000_000
"""The most rows (about) the stuck candidates are screened on (see :func:`_screening_sample`)."""

SUBGROUP_SCREEN_ROWS = 250_000
"""The most rows (about) each level's candidate is read from (see :func:`_subgroup_candidates`)."""

INDICATORS_PER_QUERY = 64
"""Indicators summed per SQL pass: one aggregate over hundreds of them runs DuckDB short of memory."""

IDS_PER_PASS = 20_000_000
"""Ids whose hashes one aggregate counts: 20M fit under a 500 MB limit (see
:func:`first_rows_of_requests`)."""


@dataclass(frozen=True)
class Defect:
    """One indicator scanned: a symptom kind on one column, with what its expression needs."""

    kind: str
    column: str
    evidence: dict[str, Any]
    reference_share: float | None = None
    """The share of rows the indicator may reach normally (None: judged by the scan alone)."""
    candidates: int = 1
    """How many indicators share this one's part of the level: a column's stuck candidates
    split one test's part among them (weighted Bonferroni), so extra candidates cost the
    column's stuck test its power, never another indicator's."""

    def beyond_reference(self, window: ScanWindow, level: float) -> bool:
        """Whether the window's share of indicator rows is significantly above the reference's
        share (one-sided binomial test at ``level``), or no reference share is known."""
        if self.reference_share is None:
            return True
        return binomtest(window.cases, window.rows, self.reference_share, alternative="greater").pvalue < level

    def quoted(self, share_outside: float, share_inside: float) -> tuple[float | None, float | None]:
        """The (reference, observed) a symptom quotes, as the cell checks quote them: shares
        of rows, except for a stuck value (the reference's distinct count, and the value)."""
        if self.kind == "stuck":
            return self.evidence["distinct"], self.evidence["value"]
        return share_outside, share_inside

    def probe(self) -> Symptom:
        """The symptom whose row-level form is this defect's indicator."""
        return Symptom(self.kind, (self.column,), 0, 0.0, evidence=dict(self.evidence))


def row_level_symptoms(scope: Scope, columns: Sequence[ColumnProfile], cancel: CancelToken = NEVER_CANCELLED,
                       first_rows: FirstRows | None = None, profile: Profile | None = None,
                       groups: Sequence[str] = ()) -> list[Symptom]:
    """A symptom for each (defect, column) whose rows cluster in time beyond chance, and for
    each value stuck for one level of a ``groups`` column of ``profile``
    (:func:`subgroup_stuck_symptoms`); ``first_rows`` is the check run's shared one (see
    :class:`FirstRows`), if it has one."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.timestamp is None:
        return []
    with shared_first_rows(scope, first_rows) as shared:
        where = (condition if condition is not None else Sql("TRUE")) & shared.condition(cancel)
        span = time_span(scope.with_condition(where))
        if span is None:
            return []
        unit = scan_unit(*span)
        defects, repeating = candidate_defects(scope, columns, where, unit, cancel)
        found = []
        if defects:
            starts, rows, cases = _unit_counts(store, dataset, roles, defects, where, span, unit, cancel)
            found = _clustered(store, dataset, roles, defects, where, starts, rows, cases, unit, cancel)
        if profile is None or not groups:
            return found
        return found + subgroup_stuck_symptoms(scope.with_condition(where), columns, profile, groups, span, unit,
                                               cancel, repeating)


def _clustered(
    store: Store, dataset: Dataset, roles: RoleMap, defects: list[Defect], where: Sql, starts: list,
    rows: np.ndarray, cases: list[np.ndarray], unit, cancel: CancelToken,
) -> list[Symptom]:
    """A symptom for each defect whose series of rows per unit holds a significant window."""
    tests = sum(1.0 / d.candidates for d in defects)
    intervals = Intervals.of(rows)  # every defect's series is over the same rows
    found = []
    for defect, series in zip(defects, cases):
        cancel.raise_if_cancelled()
        level = ALPHA / tests / defect.candidates
        window = _significant_window(rows, series, defect, level, intervals)
        if window is None:
            continue
        inside = (starts[window.first], unit_end(starts[window.last], unit))
        if defect.kind == "stuck" and not _beyond_the_clock(store, dataset, roles, defect, inside, where, level,
                                                            cancel):
            continue
        reference, observed = defect.quoted(window.rate_outside, window.rate_inside)
        found.append(Symptom(
            defect.kind, (defect.column,), window.cases, window.rate_inside - window.rate_outside,
            reference, observed, starts[window.first], unit_end(starts[window.last], unit), (),
            evidence={**defect.evidence, "level": "all rows", "window_p_value": window.p_value,
                      "cell_rows": window.rows, "scan_unit": unit.label},
        ))
    return found


def _significant_window(rows: np.ndarray, series: np.ndarray, defect: Defect, level: float,
                        intervals: Intervals) -> ScanWindow | None:
    """The scan's window of ``defect``'s ``series`` when it is significant at ``level`` and
    beyond the defect's reference share, else None. The window is the most likely interval
    whatever the replicates say, so a defect with a reference share (a stuck value) is judged
    against it first, and a window holding the value no more often than the reference's most
    frequent value does draws no Monte Carlo replicates: a clustered one would draw all 99 to
    be dropped after them (94 of the 1,175 scans of the corpus's and the 20k demo's checks).
    Nulls and zeros have no reference share: their replicates are drawn at once."""
    if defect.reference_share is not None:
        window = scan(rows, series, 0, intervals=intervals)
        if window is None or not defect.beyond_reference(window, level):
            return None
    window = scan(rows, series, PERMUTATIONS, level=level, intervals=intervals)
    return None if window is None or window.p_value is None or window.p_value >= level else window


def _beyond_the_clock(
    store: Store, dataset: Dataset, roles: RoleMap, defect: Defect, inside: tuple, where: Sql, level: float,
    cancel: CancelToken,
) -> bool:
    """Whether the window ``inside`` holds ``defect``'s rows significantly more often than the
    same hours of the week hold them in the rest of the log (see the module text)."""
    ts = timestamp_expr(dataset, roles)
    hit = violation_of(defect.probe(), dataset, roles).expression
    in_window = f"{ts} >= ? AND {ts} < ?"
    counts = store.rows(Sql(
        f"SELECT count(*) FILTER (WHERE {in_window}), sum({hit}) FILTER (WHERE {in_window}), "
        f"count(*) FILTER (WHERE NOT ({in_window})), sum({hit}) FILTER (WHERE NOT ({in_window})) "
        f"FROM {ident(dataset.view)} WHERE {where.text} GROUP BY (isodow({ts}) - 1) * 24 + hour({ts})",
        inside * 4 + tuple(where.params)), cancel)
    rows_in, hits_in, rows_out, hits_out = (np.array([float(r[i] or 0.0) for r in counts]) for i in range(4))
    overall = hits_out.sum() / rows_out.sum() if rows_out.sum() else 0.0
    share = np.divide(hits_out, rows_out, out=np.full(len(counts), overall), where=rows_out > 0)
    n, observed = int(rows_in.sum()), int(round(hits_in.sum()))
    expected = float(np.clip((rows_in * share).sum() / n, 0.0, 1.0)) if n else 0.0
    return n > 0 and binomtest(observed, n, expected, alternative="greater").pvalue < level


@contextmanager
def first_rows_of_requests(scope: Scope, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[Sql]:
    """The rows that are evidence of their own, as a condition that costs no pass over every
    id per query. A shadow log holds each request once per version with the same inputs;
    counting the copies would double the evidence of every cluster (one request's value, logged
    by two versions, is no stuck feed). So each id counts once, by its first row; a log without
    versions counts every row.

    The plain condition, ``ROW_ID IN (SELECT min(ROW_ID) ... GROUP BY id)``, puts every distinct id
    (text, as ids mostly are) in a hash aggregate and every first row in the build side of a
    semi join, again in each query: at 100M rows with distinct ids DuckDB ran out of memory in
    the unit counts. Only the copies matter, so they are found once, in two steps: the 64-bit
    hashes of the ids held more than once (an aggregate of fixed-size keys, which fits where
    one of text ids did not: 20M ids under a 500 MB limit), then, among the rows with such a
    hash only, the exact id's first row (a hash shared by two ids costs a candidate, never a
    wrong answer). The later rows of each repeated id go to a table that the scan's queries
    anti-join: empty for a log whose ids are all distinct. Both tables are dropped on leaving
    the block. Above :data:`IDS_PER_PASS` rows, the hashes are counted in passes, each over
    one share of the hash values (at 100M distinct ids one aggregate ran out of memory under
    1.5 GB).
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.model_version is None or roles.id is None:
        yield Sql("TRUE")
        return
    copies, repeated = store.new_name("sleuth_copies"), store.new_name("sleuth_repeated_hashes")
    rowid, request, view = ident(ROW_ID), ident(roles.id), ident(dataset.view)
    try:
        passes = max(1, math.ceil(store.rows(f"SELECT count(*) FROM {view}", cancel)[0][0] / IDS_PER_PASS))
        store.execute(f"CREATE TABLE {ident(repeated)} (h UBIGINT)", cancel)
        for share in range(passes):
            store.execute(
                f"INSERT INTO {ident(repeated)} SELECT h FROM (SELECT hash({request}) AS h FROM {view}) AS hashes "
                f"WHERE h % {passes} = {share} GROUP BY h HAVING count(*) > 1", cancel)
        store.execute(
            f"CREATE TABLE {ident(copies)} AS WITH candidates AS ("
            f"SELECT {rowid} AS row_id, {request} AS id FROM {view} WHERE hash({request}) IN "
            f"(SELECT h FROM {ident(repeated)})) "
            f"SELECT c.row_id FROM candidates AS c JOIN (SELECT id, min(row_id) AS first_row FROM candidates "
            f"GROUP BY id) AS repeated ON c.id IS NOT DISTINCT FROM repeated.id AND c.row_id > repeated.first_row",
            cancel,
        )
        yield Sql(f"{rowid} NOT IN (SELECT row_id FROM {ident(copies)})")
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(copies)}")
        store.execute(f"DROP TABLE IF EXISTS {ident(repeated)}")


class FirstRows:
    """The condition of :func:`first_rows_of_requests`, made at its first use and shared by
    every step of one check run until closed.

    The row scan, the far-beyond scan and triage's localisation of each finding all read one
    row per request. Each opening its own block found the repeated ids again, one pass over
    every id per step (1.7 s of a 10M-row log's checks, each time, three times or more per
    run). The tables depend only on the dataset's view, not on a step's condition, so one
    run can hold them for all of its steps. Made lazily: a run whose steps need none (no
    timestamp, no finding to localise) never pays for it."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._held = ExitStack()
        self._condition: Sql | None = None

    def condition(self, cancel: CancelToken = NEVER_CANCELLED) -> Sql:
        """The rows that are evidence of their own, as a condition (tables made on first call)."""
        if self._condition is None:
            self._condition = self._held.enter_context(first_rows_of_requests(self._scope, cancel))
        return self._condition

    def __enter__(self) -> FirstRows:
        return self

    def __exit__(self, *_exc) -> None:
        self._condition = None
        self._held.close()


def shared_first_rows(scope: Scope, given: FirstRows | None) -> AbstractContextManager[FirstRows]:
    """``given`` when the caller shares one (left open for its other steps), else this step's
    own, dropped when the step ends."""
    return nullcontext(given) if given is not None else FirstRows(scope)


def candidate_defects(scope: Scope, columns: Sequence[ColumnProfile], where: Sql, unit: Bucket,
                      cancel: CancelToken = NEVER_CANCELLED) -> tuple[list[Defect], frozenset[str]]:
    """The indicators worth scanning: nulls of every input column, zeros of the numeric ones,
    and, for those that held many values in the reference, each value that some ``unit`` of
    the log repeats more often than the reference repeats its most frequent value (see
    :func:`_stuck_candidates`); and the many-valued columns some unit repeats a value of at
    all, the only ones a value can be stuck in for one level (see :func:`subgroup_stuck_symptoms`)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    inputs = _inputs(roles, columns)
    numeric = [c for c in inputs if c.kind == "numeric"]
    defects = [Defect("null_rate", c.name, {}) for c in inputs]
    defects += [Defect("zero_fill", c.name, {}) for c in numeric]
    many_valued = _many_valued(roles, columns)
    repeating: set[str] = set()
    for first in range(0, len(many_valued), INDICATORS_PER_QUERY):
        batch = many_valued[first:first + INDICATORS_PER_QUERY]
        chosen, repeated = _stuck_candidates(store, dataset, roles, batch, where, unit, cancel)
        repeating |= repeated
        for column, values in zip(batch, chosen):
            defects += [Defect("stuck", column.name, {"value": value, "distinct": float(column.distinct),
                                                      "reference_top_share": column.top_share},
                               column.top_share, len(values)) for value in values]
    return defects, frozenset(repeating)


def _inputs(roles: RoleMap, columns: Sequence[ColumnProfile]) -> list[ColumnProfile]:
    """The input columns: not the id, the time, the version or the model's own columns."""
    skipped = {ROW_ID, roles.id, roles.timestamp, roles.model_version, roles.label, roles.prediction, *roles.scores}
    return [c for c in columns if c.name not in skipped]


def _many_valued(roles: RoleMap, columns: Sequence[ColumnProfile]) -> list[ColumnProfile]:
    """The numeric inputs a value can be stuck in: those with many values in the reference."""
    return [c for c in _inputs(roles, columns) if c.kind == "numeric" and c.distinct >= STUCK_MIN_REFERENCE_DISTINCT]


def _stuck_candidates(store: Store, dataset: Dataset, roles: RoleMap, columns: Sequence[ColumnProfile], where: Sql,
                      unit: Bucket, cancel: CancelToken) -> tuple[list[list[float]], set[str]]:
    """Per column, the values that could be stuck (and the names of the columns some unit
    repeats any value of at all, stuck or not, a 0 too: a count column led by its zeros in
    every unit may still hold a value stuck for one level): the most frequent value of a unit (DuckDB's
    top-k sketch) that the unit repeats (a unit of single values has no most frequent one)
    more often than the reference's most frequent value would fill it (one-sided binomial
    test at :data:`ALPHA`: a screen that keeps chance leaders of busy units out of the tests,
    whose level the module text accounts for).

    The log's single most frequent value is not enough: a column with a common value of its
    own (a round amount, a ratio of 0.8) hides a value stuck for a few weeks at its median,
    while the weeks it is stuck it is their most frequent value. One statement, one scan of
    the log: the screened rows (the sample's) are kept once, then read twice, for the units'
    most frequent values (one column each, their rows summed as 0/1: a list indexed and a
    filter per row and column took a third more CPU) and for how often each unit holds them
    (two scans of the log cost 3.4 CPU-s of a 10M-row log, most of it reading and filtering
    rows the sample then drops). A
    column whose reference has no most frequent share (a version-1 expectations file) keeps
    one candidate, the value that fills the most units it leads."""
    ts = timestamp_expr(dataset, roles)
    width = len(columns)
    values, modes = [f"sleuth_value_{i}" for i in range(width)], [f"sleuth_mode_{i}" for i in range(width)]
    where = where & _screening_sample(dataset)
    screened = ", ".join(f"{finite_double(c.name, c.dtype)} AS {v}" for c, v in zip(columns, values))
    result = store.rows(Sql(
        f"WITH screened AS MATERIALIZED (SELECT {unit.sql(ts)} AS sleuth_unit, {screened} "
        f"FROM {ident(dataset.view)} WHERE {where.text}), "
        f"modes AS (SELECT sleuth_unit, "
        + ", ".join(f"approx_top_k({v}, 1)[1] AS {m}" for v, m in zip(values, modes))
        + " FROM screened GROUP BY 1) "
        "SELECT count(*), " + ", ".join(f"any_value(modes.{m})" for m in modes) + ", "
        + ", ".join(f"coalesce(sum(CAST(screened.{v} = modes.{m} AS INTEGER)), 0)" for v, m in zip(values, modes))
        + " FROM screened JOIN modes ON screened.sleuth_unit = modes.sleuth_unit GROUP BY modes.sleuth_unit",
        tuple(where.params)), cancel)
    chosen, repeating = [], set()
    for i, column in enumerate(columns):
        held: dict[float, int] = {}
        for rows, *rest in result:
            value, count = rest[i], rest[width + i]
            if value is not None and count >= 2:
                repeating.add(column.name)
            if value is None or float(value) == 0.0 or count < 2 or not _in_reference_range(column, float(value)):
                continue
            if column.top_share is None or binom.sf(count - 1, rows, column.top_share) < ALPHA:
                held[float(value)] = held.get(float(value), 0) + count
        if column.top_share is None and held:
            held = {max(held, key=held.get): 0}
        chosen.append(sorted(held))
    return chosen, repeating


def _screening_sample(dataset: Dataset) -> Sql:
    """The rows the stuck candidates are screened on: every row of a log up to
    :data:`STUCK_SCREEN_ROWS`, beyond it a fixed pseudo-random share by the hash of the row id.

    Both the screen's passes (a top-k sketch per unit and column, then the leaders' counts) cost
    more than the scan they feed (5.4 s of a 10M-row log's 12.6 s of checks). A sample keeps the
    screen valid: rows drawn independently of their values hold a value in the same share as
    the unit does, so the binomial screen against the reference's top share keeps its level and
    only loses power, and a value stuck for a stretch of time still leads its units' samples.
    The stuck test itself counts every row (:func:`_unit_counts`)."""
    return _hashed_share(dataset, STUCK_SCREEN_ROWS)


def _hashed_share(dataset: Dataset, rows: int) -> Sql:
    """Every row of a log of up to ``rows`` rows, beyond it about ``rows`` of them, drawn by the
    hash of the row id (independent of the values, the same rows every run)."""
    every = share_every(dataset.row_count, rows)
    return Sql(f"hash({ident(ROW_ID)}) % {every} = 0") if every > 1 else TRUE


def _in_reference_range(column: ColumnProfile, value: float) -> bool:
    """Whether the reference held values on both sides of ``value`` (or at it). A stuck feed
    repeats a value the column can hold; a repeated value beyond the reference's range is what
    the range and unit checks explain (another column's values in this one, during a swap),
    as a repeated 0 is the zero fill's."""
    low, high = column.counts.minimum, column.counts.maximum
    return (low is None or value >= low) and (high is None or value <= high)


def _unit_counts(store: Store, dataset: Dataset, roles: RoleMap, defects: list[Defect], where: Sql, span, unit,
                 cancel: CancelToken) -> tuple[list, np.ndarray, list[np.ndarray]]:
    """Unit starts, rows per unit and each defect's rows per unit (units with rows only)."""
    ts = timestamp_expr(dataset, roles)
    scoped = Sql(f"{ts} >= ? AND {ts} <= ?", span) & where
    expressions = [violation_of(d.probe(), dataset, roles).expression for d in defects]
    starts: list = []
    rows = np.zeros(0, dtype=np.int64)
    cases: list[np.ndarray] = []
    for first in range(0, len(expressions), INDICATORS_PER_QUERY):
        batch = expressions[first:first + INDICATORS_PER_QUERY]
        result = store.rows(Sql(
            f"SELECT {unit.sql(ts)} AS unit_start, count(*), " + ", ".join(f"sum({e})" for e in batch)
            + f" FROM {ident(dataset.view)} WHERE {scoped.text} GROUP BY 1 ORDER BY 1", scoped.params), cancel)
        starts = [r[0] for r in result]
        rows = np.array([r[1] for r in result], dtype=np.int64)
        cases += [np.rint(np.array([float(r[2 + i] or 0.0) for r in result])).astype(np.int64)
                  for i in range(len(batch))]
    return starts, rows, cases


def subgroup_stuck_symptoms(scope: Scope, columns: Sequence[ColumnProfile], profile: Profile, groups: Sequence[str],
                            span, unit: Bucket, cancel: CancelToken = NEVER_CANCELLED,
                            repeating: frozenset[str] | None = None) -> list[Symptom]:
    """A ``stuck`` symptom, its group the level, for each (numeric column, level of a group
    column) whose rows hold one value clustered in time beyond chance (``scope``'s condition
    holds the rows that are evidence of their own).

    A value stuck for one source, a quarter of a dozen requests a day, seldom leads a unit of
    all rows, so the all-rows candidates (:func:`_stuck_candidates`) miss it, the more so in a
    column whose own common values (a 0, a round amount) lead the units. Within the level's
    rows it does lead: each (column, level) is one hypothesis, whose candidate is the level's
    most frequent value over the log (0, the zero fill's, and values beyond the reference's
    range skipped), scanned over the level's rows against the rest of the log at the same time
    (:func:`_scan_level`: a drift every level shares is not stuck). The Benjamini-Hochberg
    procedure holds the false discovery rate at :data:`ALPHA` over every hypothesis (those with
    no candidate count as p = 1); a window it keeps must then hold the value more often than the level's reference
    holds any value, and more often than the same hours of the week do, both at the procedure's
    critical level. A level is more alike than all rows (machines without a CD drive had fewer
    disk sizes), so the reference's most frequent share over all rows is no bound for it (a
    drift of the level's usual disk size read as stuck); the level's reference cell bounds it:
    no value is more frequent than the fullest bin of its histogram
    (:func:`_level_top_share`). A column whose common value is the stuck one, as 47% of a
    rating's rows, is so judged against that value's own frequency at least.

    ``repeating`` (the all-rows screen's, :func:`_stuck_candidates`), when given, names the
    columns some unit of the screen's sample repeats a value of: a value stuck for a level
    repeats within the units it is stuck in, so a column none of whose units repeats any value
    (a measurement to the last decimal) has no candidate for any level. Its hypotheses still
    count (as p = 1), and neither its top values nor its counts are read: at 10M rows, 13 of 19
    columns, two thirds of the subgroup scan's CPU."""
    store, dataset, roles, where = scope.store, scope.dataset, scope.roles, scope.condition
    many_valued = _many_valued(roles, columns)
    if not many_valued or not groups:
        return []
    screened = [c for c in many_valued if repeating is None or c.name in repeating]
    if not screened:
        return []
    levels, candidates = _subgroup_candidates(store, dataset, screened, groups, where, cancel)
    tested = [(column, level, candidates[column.name, level]) for column in many_valued for level in levels
              if (column.name, level) in candidates]
    if not tested:
        return []
    defects = [Defect("stuck", column.name, {"value": value, "distinct": float(column.distinct),
                                             "reference_top_share": column.top_share},
                      _level_top_share(profile, column, level)) for column, level, value in tested]
    starts, level_rows, cases, peers = _subgroup_counts(store, dataset, roles, levels, tested, where, span, unit,
                                                        cancel)
    windows = [_scan_level(level_rows[level], series, defect, *held)
               for (_, level, _), series, defect, held in zip(tested, cases, defects, peers)]
    p_values = [w.p_value if w is not None and w.p_value is not None else 1.0 for w in windows]
    hypotheses = len(many_valued) * len(levels)
    q_values = adjust_p_values(p_values + [1.0] * (hypotheses - len(tested)), "bh")[:len(tested)]
    critical = ALPHA * int(np.sum(q_values < ALPHA)) / hypotheses
    found = []
    for (column, level, value), defect, window, q_value in zip(tested, defects, windows, q_values):
        if q_value >= ALPHA or not defect.beyond_reference(window, critical):
            continue
        inside = (starts[window.first], unit_end(starts[window.last], unit))
        rows_of_level = where & Sql(f"{ident(level[0])} = ?", (level[1],))
        if not _beyond_the_clock(store, dataset, roles, defect, inside, rows_of_level, critical, cancel):
            continue
        found.append(Symptom(
            "stuck", (column.name,), window.cases, window.rate_inside - window.rate_outside, float(column.distinct),
            value, inside[0], inside[1], (level,),
            evidence={**defect.evidence, "level": level[0], "window_p_value": window.p_value,
                      "cell_rows": window.rows, "scan_unit": unit.label},
        ))
    return found


def _scan_level(rows: np.ndarray, cases: np.ndarray, defect: Defect, all_rows: np.ndarray,
                all_cases: np.ndarray) -> ScanWindow | None:
    """The scan of one level's series over its units with rows only (a unit with none of the
    level's rows adds no interval a neighbour does not, and at a few rows a day they are half
    the units); the window's units indexed in the full series.

    The level's rows holding the value are judged against the rest of the log at the same time
    (``all_rows``, ``all_cases``: the log's rows and rows holding the value per unit, the
    level's included), with :func:`analysis.triage.scan.peer_scan`. A column that drifts
    (Computers' 33 MHz machines taking the market, then leaving it for 66 MHz ones; Movies'
    share of films rated 1 by 4.5% of voters) raises its common value in every level at once,
    and a level that always holds a value more often (older machines without a CD drive)
    holds it so in every window: a scan of the level's own share against a constant rate read
    both as stuck, while neither departs from the rest of the log, which a feed stuck for one
    source does for as long as it lasts. A value no other row holds (a column's median to the
    last decimal) has no peers to be judged against: nothing drifts with it, and the level's
    own share is scanned (:func:`analysis.triage.scan.scan`).

    The window is the most likely interval whatever the replicates say, so it is first judged
    against the level's reference share at :data:`ALPHA`, the loosest level the
    Benjamini-Hochberg procedure can give it: a window that fails there fails at the
    procedure's critical level too, and its Monte Carlo replicates (most of the cost, for a
    hundred hypotheses of a handful of columns and levels) are not drawn."""
    held = np.flatnonzero(rows)
    level_rows, level_cases = rows[held], cases[held]
    peer_rows, peer_cases = all_rows[held] - level_rows, all_cases[held] - level_cases
    if peer_cases.sum() <= 0:
        window = scan(level_rows, level_cases, 0)
        if window is None or not defect.beyond_reference(window, ALPHA):
            return None
        window = scan(level_rows, level_cases, PERMUTATIONS, level=ALPHA)
    else:
        window = peer_scan(level_rows, level_cases, peer_rows, peer_cases, 0)
        if window is None or not defect.beyond_reference(window, ALPHA):
            return None
        window = peer_scan(level_rows, level_cases, peer_rows, peer_cases, PERMUTATIONS, level=ALPHA)
    return None if window is None else replace(window, first=int(held[window.first]), last=int(held[window.last]))


def _level_top_share(profile: Profile, column: ColumnProfile, level: tuple[str, Any]) -> float | None:
    """A bound on the share of the level's reference rows any one value of ``column`` fills:
    its fullest histogram bin in the level's reference cell, and at least the column's own
    most frequent share; None for an expectations file with no such share."""
    if column.top_share is None:
        return None
    cell = profile.cell(((level[0], _as_text(level[1])),))
    counts = cell.columns.get(column.name) if cell is not None else None
    fullest = max(counts.bins) / counts.non_null if counts is not None and counts.bins and counts.non_null else 0.0
    return max(column.top_share, fullest)


def _as_text(value: Any) -> str:
    """A level as the reference's cells name it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


SUBGROUP_TOP_VALUES = 3
"""Most frequent values of a level read per column: its first nonzero one within the
reference's range is the level's candidate."""


def _subgroup_candidates(store: Store, dataset: Dataset, columns: Sequence[ColumnProfile], groups: Sequence[str],
                         where: Sql, cancel: CancelToken) -> tuple[list[tuple[str, Any]], dict]:
    """The levels ``(group column, value)`` that hold some but not all rows, and each
    (column name, level)'s candidate value, from one pass (GROUPING SETS) over a hashed share
    of the rows, :data:`SUBGROUP_SCREEN_ROWS` at most.

    A candidate is the value that leads its level over the whole log, so the share needs rows
    enough per level, not a share of the log: a value stuck in a level outnumbers each of its
    other values there by as much in any share drawn independently of the values, and the test
    itself counts every row (:func:`_subgroup_counts`). The top-k sketch per column and group
    column is the cost (1.8 s of CPU per group column over a million rows of 19 columns: 9 s of
    the 10M-row log's checks at the stuck screen's million rows, a quarter of it at this share)."""
    names = [ident(g) for g in groups]
    values = [finite_double(c.name, c.dtype) for c in columns]
    where = where & _hashed_share(dataset, SUBGROUP_SCREEN_ROWS)
    result = store.rows(Sql(
        f"SELECT {', '.join(names)}, {', '.join(f'grouping({n})' for n in names)}, count(*), "
        + ", ".join(f"approx_top_k({v}, {SUBGROUP_TOP_VALUES})" for v in values)
        + f" FROM {ident(dataset.view)} WHERE {where.text} GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})",
        where.params), cancel)
    width = len(groups)
    totals: dict[int, int] = {}
    for row in result:
        index = list(row[width:2 * width]).index(0)
        totals[index] = totals.get(index, 0) + row[2 * width]
    levels, candidates = [], {}
    for row in result:
        index = list(row[width:2 * width]).index(0)
        if row[index] is None or row[2 * width] >= totals[index]:
            continue
        level = (groups[index], row[index])
        levels.append(level)
        for column, top in zip(columns, row[2 * width + 1:]):
            usable = [float(v) for v in top or () if v is not None and float(v) != 0.0
                      and _in_reference_range(column, float(v))]
            if usable:
                candidates[column.name, level] = usable[0]
    return levels, candidates


def _subgroup_counts(store: Store, dataset: Dataset, roles: RoleMap, levels: list, tested: list, where: Sql, span,
                     unit: Bucket, cancel: CancelToken) -> tuple[list, dict, list[np.ndarray], list]:
    """Unit starts, each level's rows per unit, each tested (column, level)'s rows holding its
    candidate per unit, and for each the whole log's rows and rows holding the candidate per
    unit, which the level is judged against (units with rows only).

    Counted per value, not per (column, level): one pass counts the rows per unit and level
    (GROUPING SETS of the unit with each group column) and, in the same aggregate, the rows
    holding each candidate value of the columns with at most :data:`SHARED_PASS_VALUES` of them
    (a sum per value, which each grouping set splits by level); a column with more gets one
    pass of its own over only the rows holding one of its candidates, per unit and value, and
    per unit, value and level. One ``sum(CASE ...)`` per (column, level) and per candidate
    evaluated every indicator on every row (hundreds per row: 36 s of the 10M-row log's 56 s
    of CPU); a row holds at most one candidate of a column, so the counts of the rows that
    hold one are the same numbers for a fraction of the work."""
    ts = timestamp_expr(dataset, roles)
    scoped = Sql(f"{ts} >= ? AND {ts} <= ?", span) & where
    names = list(dict.fromkeys(name for name, _ in levels))
    values_of: dict[str, list[float]] = {}
    for column, _, value in tested:
        values_of.setdefault(column.name, [])
        if float(value) not in values_of[column.name]:
            values_of[column.name].append(float(value))
    shared = [(name, value) for name, values in values_of.items() if len(values) <= SHARED_PASS_VALUES
              for value in values]
    totals, held = _counts_by_unit(store, dataset, unit.sql(ts), names, scoped, cancel, summed=shared)
    starts = sorted(totals.get(None, {}))
    index = {u: i for i, u in enumerate(starts)}

    def series(by_unit: dict) -> np.ndarray:
        out = np.zeros(len(starts), dtype=np.int64)
        for u, n in by_unit.items():
            out[index[u]] = n
        return out

    level_rows = {level: series(totals.get(level, {})) for level in levels}
    all_rows = series(totals.get(None, {}))
    for name, values in values_of.items():
        if len(values) <= SHARED_PASS_VALUES:
            continue
        groups = list(dict.fromkeys(level[0] for column, level, _ in tested if column.name == name))
        held.update(_counts_by_unit(store, dataset, unit.sql(ts), groups, scoped, cancel, (name, sorted(values)))[1])
    cases = [series(held.get((column.name, float(value), level), {})) for column, level, value in tested]
    peers = [(all_rows, series(held.get((column.name, float(value), None), {}))) for column, _, value in tested]
    return starts, level_rows, cases, peers


SHARED_PASS_VALUES = 3
"""A column with at most this many candidate values has the rows holding each counted in the
pass that counts the rows per unit and level: a sum per value and row costs a fifth of a pass
of its own (at 10M rows, six such sums added 0.46 s of CPU to that pass; their six passes took
2.1 s). One with more gets a pass over only the rows holding one (:func:`_counts_by_unit`)."""


def _counts_by_unit(store: Store, dataset: Dataset, unit_sql: str, groups: Sequence[str], scoped: Sql,
                    cancel: CancelToken, holding: tuple[str, list[float]] | None = None,
                    summed: Sequence[tuple[str, float]] = ()) -> tuple[dict, dict]:
    """Rows per unit of ``scoped``'s rows, keyed None (all of them) and (group column, level),
    each ``{unit start: rows}``, and rows holding a value per unit, keyed (column, value, None)
    and (column, value, level): of each ``summed`` (column, value); or, with ``holding`` (a
    column and values), of the rows holding one of them only, counted among those rows alone.
    One pass, GROUPING SETS."""
    names = [ident(g) for g in groups]
    value = f"CAST({ident(holding[0])} AS DOUBLE)" if holding else None
    keys = ["sleuth_unit"] + (["sleuth_value"] if holding else [])
    where = scoped & Sql(f"{value} IN ({', '.join(literal(float(v)) for v in holding[1])})") if holding else scoped
    sets = ", ".join(f"({', '.join(keys + extra)})" for extra in [[]] + [[n] for n in names])
    read = list(dict.fromkeys(ident(name) for name, _ in summed))
    sums = "".join(f", sum(CAST(CAST({ident(name)} AS DOUBLE) = {literal(float(v))} AS INTEGER))" for name, v in summed)
    result = store.rows(Sql(
        f"SELECT {', '.join(keys)}, {''.join(f'grouping({n}), {n}, ' for n in names)}count(*){sums} FROM "
        f"(SELECT {unit_sql} AS sleuth_unit{f', {value} AS sleuth_value' if holding else ''}"
        f"{''.join(f', {n}' for n in names + read)} FROM {ident(dataset.view)} WHERE {where.text}) AS sleuth_rows "
        f"GROUP BY GROUPING SETS ({sets})", where.params), cancel)
    counts: dict = {}
    held: dict = {}
    for row in result:
        rest = row[len(keys):]
        grouped = [j for j in range(len(groups)) if rest[2 * j] == 0]
        level = (groups[grouped[0]], rest[2 * grouped[0] + 1]) if grouped else None
        rows_at = 2 * len(groups)
        if holding:
            held.setdefault((holding[0], float(row[1]), level), {})[row[0]] = int(rest[rows_at])
            continue
        counts.setdefault(level, {})[row[0]] = int(rest[rows_at])
        for (name, v), n in zip(summed, rest[rows_at + 1:]):
            held.setdefault((name, float(v), level), {})[row[0]] = int(n or 0)
    return counts, held
