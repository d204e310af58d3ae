"""Triage: from many check symptoms to a few ranked findings, each with since when and for whom.

Input checks (:mod:`analysis.triage.checks`) report every bucket and group where a column or the
model's output departs from the reference. One root cause shows up many times: a column
nulled for one region for six hours fires the null check in six hourly buckets, in the
region's group and in all rows, and moves the score and the positive rate there too. Triage
turns that into one :class:`Finding`:

1. **Since when.** The symptoms of one (kind, columns, group) become a per-bucket series of
   effect sizes (0 where the check did not fire); :func:`analysis.triage.changepoint.find_stretch`
   finds its anomalous stretch and whether it was a sudden break or a gradual trend.
   Once a finding is assembled, :func:`localise` replaces a sudden stretch by the window the
   rows give: the problem's row-level form (:mod:`analysis.triage.violating_rows`) goes
   through Kulldorff's scan over the time-ordered rows (:mod:`analysis.triage.localisation`,
   :mod:`analysis.triage.scan`), to the hour on a dense log and in days or weeks on a sparse
   one, with a p-value over all the windows tried. A numeric column's trend starts where its
   mean began to move (:mod:`analysis.triage.drift_start`), not where the checks first saw it
   past their bar, and a step that a broken stick fits better is a trend. Whole-log levels
   keep the checks' buckets, and so do kinds with no row-level form (schema changes; a swap
   checked without its reference profile).
2. **For whom.** Among stretches of the same kind and columns that overlap in time, the
   group where the effect is largest wins when it is at least :data:`CONCENTRATION` times the
   all-rows effect (the problem is concentrated there); otherwise it is everywhere. Where
   each row showing the problem is itself broken (nulls, zero fill, a stuck value, out of
   range, a new category, a unit change, a swap), :func:`localise` then replaces that group
   by slice discovery over the window's rows (``region = 'EU-West' AND device = 'ios'``),
   each predicate kept only if it sharpens the slice, or "everywhere" when no slice
   concentrates them; distribution shifts, vanished categories and the model side keep
   the group.
3. **One root cause.** Input stretches are taken in order of :data:`ROOT_CAUSE_ORDER` (a swap
   explains the distribution shift of its columns, not the other way round); a stretch on the
   same columns, an overlapping time and a compatible group joins the finding already opened.
   Model-side stretches (score, positive rate, metric, and any symptom of the model's own
   columns) join the input finding they overlap in time and group; those that join none are
   ``model_only`` findings, and join an input finding after all when both, once located,
   share their window and rows (:func:`absorb_model_only`).
4. **What it did to the model.** One SQL pass over the log compares the finding's rows with
   the same group before the stretch (after it when the stretch starts the log): mean score,
   and error where labels exist. Differences count only when they are beyond chance
   (|z| >= :data:`MIN_Z`), as effect sizes: Cohen's d for the score, Cohen's h for the error.
   On rows broken one by one (:data:`BROKEN_ROW_KINDS`) every score is computed from a
   wrong input, so any move of it counts. Where the rows are sound and only their
   distribution moved, what counts is harm (:attr:`ModelEffect.harm`): where both sides hold
   labels (:data:`MIN_BASELINE_ROWS` each) the score counts by how far it moved *away from
   the outcome* (the shift of score minus outcome, i.e. of its calibration), and the error
   only when it grew. A population that really changes (Ecdat's Computers: 25 and 75 MHz
   machines leave the market, premium ones take over) moves the score and the outcome
   together and the error falls: the model absorbed it, which is drift to know about
   (``info``), not an alarm, however abrupt the market's step. Without labels the score's
   own shift is all there is, and it counts.
5. **Rank** (higher is worse)::

       score = log10(1 + rows) * effect * (SHARPNESS_FLOOR + sharpness) * (CONFINEMENT_FLOOR + confinement)
       effect = model effect + INPUT_WEIGHT * min(input effect, 1)

   ``rows`` are the rows in the finding's group and window, ``sharpness`` in [0, 1] says how
   abruptly it began, ``confinement`` is the share of the window's rows *outside* the group
   (0 when it affects everyone). Rows count by their logarithm so that a slow drift of the
   whole population does not outrank a sudden break of one source by sheer size.
6. **Severity**: ``alert`` needs a sudden break with a model effect of at least
   :data:`ALERT_MODEL_EFFECT` on at least :data:`ALERT_MIN_ROWS` rows; gradual changes are at
   most ``warning``; a ``warning`` needs the model to move, or rows broken one by one
   (:data:`BROKEN_ROW_KINDS`) appearing at once with a large input effect. A real feature's
   distribution moving while the model's score and error stay put, or while its score moves
   with the outcome (step 4), is ``info``, however significant and however abrupt: the
   population changed and the model absorbed it. Once a defect is located
   row by row, its input effect is the share of the located rows showing it less the share
   elsewhere, and the model's change counts only when :data:`MOSTLY` of the rows show it.
   Evidence comes before alarms: a window whose Benjamini-Hochberg q-value is not below
   :data:`FALSE_DISCOVERY_RATE` is ``info`` (:func:`with_evidence`); a stretch the checks'
   buckets gave, where the rows' own most likely window lies elsewhere, is weighed by the
   scan's p-value of that stretch among all windows.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from analysis.triage.changepoint import ANOMALOUS_SHARE, Stretch, find_stretch
from analysis.triage.drift_start import drift_onset
from analysis.dataset import Dataset
from analysis.triage.localisation import (
    outside_windows, scanned_window, slice_columns, stretch_p_value, surrounding_share, violating_slice,
)
from analysis.data.time import time_span, timestamp_expr
from analysis.metrics.outcomes import outcomes
from analysis.triage.reference_profile import Profile
from analysis.triage.row_scan import FirstRows, shared_first_rows
from analysis.stats.multiple_testing import adjust_p_values
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident
from analysis.data.roles import RoleMap, TaskType
from analysis.slices import Compare, Everything, IsNull, Predicate, Range, all_of, to_sql, to_text
from analysis.triage.symptoms import Symptom
from analysis.triage.violating_rows import Violation, violation_of
from analysis.report.formatting import is_missing, number, percent, plain_value, significant
from analysis.scope import Scope
from analysis.stats.significance import pooled_proportion_z

ROOT_CAUSE_ORDER = (
    "schema", "swap", "null_rate", "zero_fill", "stuck", "unit_change", "novel_values",
    "new_category", "vanished_category", "out_of_range", "distribution",
)
"""Input symptom kinds, the most specific explanation first."""

MODEL_KINDS = ("score_shift", "positive_rate", "metric")

FINDING_KINDS = {
    "schema": "schema", "swap": "swap", "null_rate": "null_burst", "zero_fill": "zero_fill",
    "stuck": "stuck", "unit_change": "unit_change", "novel_values": "novel_values", "new_category": "new_category",
    "vanished_category": "new_category", "out_of_range": "range", "distribution": "shift",
}
"""The root-cause kind a finding gets from its leading symptom (a gradual shift is ``drift``)."""

DRIFTING_KINDS = frozenset({"distribution", "out_of_range", "unit_change"})

SEVERITIES = ("alert", "warning", "info")

CONCENTRATION = 2.0
"""A group is "where it happens" when its effect is at least this many times the all-rows one."""

MAX_STRETCHES_PER_SERIES = 3
MIN_Z = 3.0
MIN_BASELINE_ROWS = 30
INPUT_WEIGHT = 0.25
SHARPNESS_FLOOR = 0.25
CONFINEMENT_FLOOR = 0.25
ALERT_MODEL_EFFECT = 0.2
ALERT_MIN_ROWS = 100
WARNING_MODEL_EFFECT = 0.1
WARNING_INPUT_EFFECT = 0.5

BROKEN_ROW_KINDS = frozenset({"null_rate", "zero_fill", "stuck", "unit_change", "out_of_range", "new_category", "swap",
                              "novel_values"})
"""Input kinds whose rows are each defective (:mod:`analysis.triage.violating_rows`)."""

DEFECT_SHARE_KINDS = frozenset({"null_rate", "zero_fill", "stuck", "out_of_range", "new_category", "swap",
                                "novel_values"})
"""Kinds whose input effect, once located row by row, is the share of the located rows showing
the defect less the share elsewhere (the checks measured it on coarser cells)."""

MOSTLY = 0.5
"""The model's change on a finding's rows is the defect's only when most of those rows show
it; otherwise the healthy majority moved it (a common value that grew with the population is
no stuck feed)."""

FALSE_DISCOVERY_RATE = 0.05
"""Located windows are warnings or alerts only below this Benjamini-Hochberg q-value."""

POPULATION_DRIFT_EPISODES = 3
"""A column whose distribution moves in at least this many (group, time) stretches, each with a
small effect, is drifting as a population rather than breaking in one place."""

DRIFT_MAX_EFFECT = 0.3
"""Above this effect a distribution change is a break to look at, not slow drift."""

Group = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Episode:
    """One anomalous stretch of one (kind, columns, group) series, with the symptoms in it."""

    kind: str
    columns: tuple[str, ...]
    group: Group
    start: _dt.datetime | None
    end: _dt.datetime | None
    shape: str
    sharpness: float
    effect: float
    symptoms: tuple[Symptom, ...]

    @property
    def sudden(self) -> bool:
        return self.shape in ("burst", "step")

    def overlaps(self, other: "Episode") -> bool:
        if None in (self.start, self.end, other.start, other.end):
            return True
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Finding:
    """One probable root cause, localised and ranked.

    ``window`` is ``(start, end)`` (half-open, naive UTC; None ends for a whole-log check);
    ``group`` the subgroup (``()`` for all rows) and ``slice`` the predicate of the group and
    the window together, so that selecting a finding narrows the log to its rows. ``effect``
    is the combined effect the rank uses; ``evidence`` holds every number behind the finding.
    ``decision`` is set by :func:`analysis.triage.decisions.apply_decisions`.
    """

    kind: str
    columns: tuple[str, ...]
    window: tuple[_dt.datetime | None, _dt.datetime | None]
    group: Group
    slice: Predicate
    rows: int
    severity: str
    score: float
    effect: float
    evidence: dict[str, Any] = field(compare=False, hash=False)
    symptoms: tuple[Symptom, ...] = field(compare=False, hash=False)
    sentence: str = ""
    decision: str | None = None

    @property
    def slice_text(self) -> str | None:
        """The group as slice text (``region = 'EU-West'``), None when it is all rows."""
        return group_text(self.group)

    @property
    def key(self) -> str:
        """Stable across runs (no time in it), so a decision applies to the same problem again."""
        return finding_key(self.kind, self.columns, self.group)


def finding_key(kind: str, columns: Sequence[str], group: Group) -> str:
    return f"{kind}|{','.join(columns)}|{group_text(group) or '*'}"


def group_predicate(group: Group) -> Predicate:
    return all_of([IsNull(c) if v is None else Compare(c, "=", plain_value(v)) for c, v in group])


def group_text(group: Group) -> str | None:
    return to_text(group_predicate(group)) if group else None


# --- 1. since when -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimeGrid:
    """Equal buckets covering the log, so a series has a value (0 when quiet) in every bucket."""

    origin: _dt.datetime
    width: _dt.timedelta
    count: int

    def index(self, moment: _dt.datetime) -> int:
        return int((moment - self.origin) // self.width)


def time_grid(symptoms: Sequence[Symptom], span: tuple[_dt.datetime, _dt.datetime] | None) -> TimeGrid | None:
    """The bucket grid of one series' timed symptoms: their most common width, from the log's
    first bucket to its last (the symptoms' own range when the log's span is unknown)."""
    timed = [s for s in symptoms if s.start is not None and s.end is not None and s.end > s.start]
    if not timed:
        return None
    width = Counter(s.end - s.start for s in timed).most_common(1)[0][0]
    first = min(s.start for s in timed)
    last = max(s.end for s in timed)
    if span is not None:
        first -= width * max(0, math.ceil((first - span[0]) / width))
        last = max(last, span[1])
    return TimeGrid(first, width, max(1, math.ceil((last - first) / width)))


def episodes_of(symptoms: Sequence[Symptom], span: tuple[_dt.datetime, _dt.datetime] | None) -> list[Episode]:
    """The anomalous stretches of every (kind, columns, group) series, each on its own grid
    (checks may bucket by hour for one column and by day for another). A symptom found
    outside other findings' windows (a unit change after the swap that held its column) is
    a series of its own: one stretch over both would hand its rows to the swap."""
    series: dict[tuple[str, tuple[str, ...], Group, bool], list[Symptom]] = {}
    for symptom in symptoms:
        key = (symptom.kind, symptom.columns, symptom.group, bool(symptom.evidence.get("outside")))
        series.setdefault(key, []).append(symptom)
    found: list[Episode] = []
    for (kind, columns, group, _), members in series.items():
        grid = time_grid(members, span)
        timed = [s for s in members if grid and s.start is not None and s.end is not None]
        found += [_whole_log(kind, columns, group, s) for s in members if not (grid and s.start and s.end)]
        found += _stretches(kind, columns, group, timed, grid) if timed else []
    return found


def _whole_log(kind: str, columns: tuple[str, ...], group: Group, symptom: Symptom) -> Episode:
    return Episode(kind, columns, group, symptom.start, symptom.end, "level", 0.0, symptom.effect, (symptom,))


def _stretches(kind, columns, group, timed: list[Symptom], grid: TimeGrid) -> list[Episode]:
    values = np.zeros(grid.count)
    for s in timed:
        i = min(max(grid.index(s.start), 0), grid.count - 1)
        values[i] = max(values[i], abs(s.effect))
    episodes = []
    peak = values.max()
    for _ in range(MAX_STRETCHES_PER_SERIES):
        if values.max() <= 0 or values.max() < ANOMALOUS_SHARE * peak:
            break
        stretch = find_stretch(values)
        inside = [s for s in timed if stretch.first <= grid.index(s.start) <= stretch.last]
        if inside:
            episodes.append(_episode(kind, columns, group, stretch, inside))
        values[stretch.first : stretch.last + 1] = 0.0
    return episodes


def _episode(kind, columns, group, stretch: Stretch, inside: list[Symptom]) -> Episode:
    rows = np.array([s.rows for s in inside], dtype=np.float64)
    effects = np.array([abs(s.effect) for s in inside])
    effect = float(np.average(effects, weights=rows)) if rows.sum() > 0 else float(effects.mean())
    return Episode(
        kind, columns, group, min(s.start for s in inside), max(s.end for s in inside),
        stretch.shape, stretch.sharpness, effect, tuple(inside),
    )


# --- 2. for whom -------------------------------------------------------------------------


def concentrate(episodes: Sequence[Episode]) -> list[Episode]:
    """One episode per cluster of same-kind, same-columns episodes overlapping in time: the
    group where the effect is concentrated, carrying the others' symptoms."""
    remaining = sorted(episodes, key=lambda e: -e.effect)
    kept: list[Episode] = []
    while remaining:
        seed = remaining.pop(0)
        cluster = [seed] + [e for e in remaining if (e.kind, e.columns) == (seed.kind, seed.columns) and e.overlaps(seed)]
        remaining = [e for e in remaining if e not in cluster]
        kept.append(_where_concentrated(cluster))
    return kept


def _where_concentrated(cluster: list[Episode]) -> Episode:
    everyone = [e for e in cluster if not e.group]
    groups = [e for e in cluster if e.group]
    chosen = everyone[0] if everyone else cluster[0]
    if groups:
        best = max(groups, key=lambda e: e.effect)
        if not everyone or best.effect >= CONCENTRATION * everyone[0].effect:
            chosen = best
    others = tuple(s for e in cluster if e is not chosen for s in e.symptoms)
    return replace(chosen, symptoms=chosen.symptoms + others)


# --- 3. one root cause -------------------------------------------------------------------


@dataclass
class _Draft:
    """A finding being assembled: its leading input episode and what joined it."""

    lead: Episode
    joined: list[Episode] = field(default_factory=list)
    model: list[Episode] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.lead.kind in MODEL_KINDS:
            return "model_only"
        if self.lead.kind in DRIFTING_KINDS and self.lead.shape == "trend":
            return "drift"
        return FINDING_KINDS.get(self.lead.kind, self.lead.kind)

    @property
    def symptoms(self) -> tuple[Symptom, ...]:
        return tuple(s for e in [self.lead, *self.joined, *self.model] for s in e.symptoms)


def group_covers(outer: Group, inner: Group) -> bool:
    """True when every row of ``inner`` is in ``outer`` as far as the group keys tell."""
    return set(outer) <= set(inner)


def root_causes(episodes: Sequence[Episode], model_columns: frozenset[str] = frozenset()) -> list[_Draft]:
    """Input episodes grouped under their most specific explanation; model-side ones attached.

    An episode is model-side when its kind is, or when it concerns only the model's own
    columns (``model_columns``: scores, prediction): a score out of its usual range is what a
    broken input does to the model, not a cause of its own."""
    def on_model(episode: Episode) -> bool:
        return episode.kind in MODEL_KINDS or bool(episode.columns) and set(episode.columns) <= model_columns

    order = {kind: i for i, kind in enumerate(ROOT_CAUSE_ORDER)}
    inputs = sorted(
        (e for e in episodes if not on_model(e)),
        key=lambda e: (order.get(e.kind, len(order)), -e.effect),
    )
    drafts: list[_Draft] = []
    for episode in _merge_population_drift(inputs):
        home = next((d for d in drafts if _explains(d.lead, episode)), None)
        if home is None:
            drafts.append(_Draft(episode))
        else:
            home.joined.append(episode)
    for episode in (e for e in episodes if on_model(e)):
        home = _model_home(drafts, episode)
        if home is None:
            drafts.append(_Draft(episode))
        else:
            home.model.append(episode)
    return drafts


def _explains(lead: Episode, other: Episode) -> bool:
    """Whether ``other`` is a symptom of ``lead``: same columns, overlapping time, and rows that
    are the lead's rows seen through the same grouping or through another one.

    A break in one client (two columns swapped) also moves those columns in every merchant
    category and region the client's rows fall in; those are the same rows seen through other
    group columns, not problems of their own.
    """
    same_columns = set(other.columns) <= set(lead.columns)
    related_groups = group_covers(other.group, lead.group) or group_covers(lead.group, other.group)
    seen_through_other_grouping = (
        lead.sudden and bool(lead.group) and bool(other.group)
        and {key for key, _ in other.group}.isdisjoint({key for key, _ in lead.group})
    )
    return same_columns and (related_groups or seen_through_other_grouping) and lead.overlaps(other)


def _merge_population_drift(episodes: list[Episode]) -> list[Episode]:
    """Small distribution changes of one column scattered over groups and time become one
    population-wide drift episode, spanning them all, for all rows."""
    by_column: dict[tuple[str, ...], list[Episode]] = {}
    for episode in episodes:
        if episode.kind == "distribution" and episode.effect < DRIFT_MAX_EFFECT:
            by_column.setdefault(episode.columns, []).append(episode)
    merged = []
    absorbed: set[int] = set()
    for columns, group in by_column.items():
        if len(group) < POPULATION_DRIFT_EPISODES or any(e.start is None or e.end is None for e in group):
            continue
        absorbed.update(id(e) for e in group)
        everyone = [e for e in group if not e.group]
        lead = max(everyone or group, key=lambda e: e.effect)
        merged.append(replace(
            lead, group=(), start=min(e.start for e in group), end=max(e.end for e in group), shape="trend",
            sharpness=min(e.sharpness for e in group), symptoms=tuple(s for e in group for s in e.symptoms),
        ))
    return [e for e in episodes if id(e) not in absorbed] + merged


def _model_home(drafts: list[_Draft], episode: Episode) -> _Draft | None:
    """The input finding a model-side change belongs to: same group first, then a group the
    change's rows contain, the strongest input effect breaking ties."""
    candidates = [
        d for d in drafts
        if d.lead.kind not in MODEL_KINDS and d.lead.overlaps(episode) and group_covers(episode.group, d.lead.group)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda d: (d.lead.group == episode.group, d.lead.sudden, d.lead.effect))


# --- 4. effect on the model --------------------------------------------------------------


@dataclass(frozen=True)
class ModelEffect:
    """The model on the finding's rows against the same group before (or after) them."""

    rows: int
    window_rows: int
    baseline: str
    score_before: float | None
    score_inside: float | None
    error_before: float | None
    error_inside: float | None
    labelled_inside: int
    score_effect: float
    error_effect: float
    miscalibration_effect: float | None = None
    error_grew: bool = False

    @property
    def effect(self) -> float:
        return max(self.score_effect, self.error_effect)

    @property
    def harm(self) -> float:
        """The model's change on rows that are not broken one by one (module text, step 4):
        the score's move away from the outcome where labels tell it, else the score's own
        move; and the error's rise."""
        moved = self.score_effect if self.miscalibration_effect is None else self.miscalibration_effect
        return max(moved, self.error_effect if self.error_grew else 0.0)


def measure_effect(scope: Scope, group: Group, start: _dt.datetime | None, end: _dt.datetime | None,
                   cancel: CancelToken = NEVER_CANCELLED) -> ModelEffect:
    """Score and error of ``group`` inside ``[start, end)`` and outside it, in one pass."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    out = outcomes(roles, dataset.columns)
    score = out.confidence or (f"CAST(({out.y_pred}) AS DOUBLE)" if out.y_pred else "CAST(NULL AS DOUBLE)")
    if out.is_correct is not None:
        error = f"1.0 - CAST(({out.is_correct}) AS DOUBLE)"
    else:
        error = out.loss or "CAST(NULL AS DOUBLE)"
    residual = _residual(out) or "CAST(NULL AS DOUBLE)"
    part, params = _part_sql(dataset, roles, start, end)
    in_group = to_sql(group_predicate(group))
    text = (
        f"SELECT {part} AS part, COUNT(*) AS window_rows, "
        f"COUNT(*) FILTER (WHERE {in_group.text}) AS n, "
        f"AVG({score}) FILTER (WHERE {in_group.text}) AS score_mean, "
        f"STDDEV_POP({score}) FILTER (WHERE {in_group.text}) AS score_sd, "
        f"COUNT({score}) FILTER (WHERE {in_group.text}) AS scored, "
        f"AVG({error}) FILTER (WHERE {in_group.text}) AS error_mean, "
        f"STDDEV_POP({error}) FILTER (WHERE {in_group.text}) AS error_sd, "
        f"COUNT({error}) FILTER (WHERE {in_group.text}) AS labelled, "
        f"AVG({residual}) FILTER (WHERE {in_group.text}) AS residual_mean, "
        f"STDDEV_POP({residual}) FILTER (WHERE {in_group.text}) AS residual_sd, "
        f"COUNT({residual}) FILTER (WHERE {in_group.text}) AS residuals "
        f"FROM {ident(dataset.view)} GROUP BY part"
    )
    sql = Sql(text, params + in_group.params * 10)
    parts = {row.part: row for row in store.df(sql, cancel).itertuples(index=False)}
    return _compare(parts, roles.task)


def _residual(out) -> str | None:
    """Score minus outcome on a labelled row (NULL on an unlabelled one): the positive-class
    score (the top class's probability) less whether it happened, or the predicted value less
    the true one. Its mean moves when the score moves away from what really happens."""
    if out.confidence is not None and out.confidence_hit is not None:
        return f"CAST(({out.confidence}) AS DOUBLE) - CAST(({out.confidence_hit}) AS DOUBLE)"
    if out.y_pred is not None and out.task is not TaskType.MULTICLASS:
        return f"CAST(({out.y_pred}) AS DOUBLE) - CAST(({out.y_true}) AS DOUBLE)"
    return None


def _part_sql(dataset: Dataset, roles: RoleMap, start, end) -> tuple[str, tuple]:
    if roles.timestamp is None or start is None or end is None:
        return "'inside'", ()
    ts = timestamp_expr(dataset, roles)
    return f"CASE WHEN {ts} < ? THEN 'before' WHEN {ts} < ? THEN 'inside' ELSE 'after' END", (start, end)


def _compare(parts: dict[str, Any], task: TaskType) -> ModelEffect:
    inside = parts.get("inside")
    baseline = "before"
    base = parts.get("before")
    if base is None or base.n < MIN_BASELINE_ROWS:
        baseline, base = "after", parts.get("after")
    if inside is None or base is None or base.n < MIN_BASELINE_ROWS:
        rows = int(inside.n) if inside is not None else 0
        window_rows = int(inside.window_rows) if inside is not None else 0
        return ModelEffect(rows, window_rows, "none", None, _num(inside, "score_mean"), None,
                           _num(inside, "error_mean"), int(_num(inside, "labelled") or 0), 0.0, 0.0)
    score_effect = _mean_effect(base.score_mean, base.score_sd, base.scored, inside.score_mean, inside.score_sd, inside.scored)
    if task is TaskType.REGRESSION:
        error_effect = _mean_effect(base.error_mean, base.error_sd, base.labelled, inside.error_mean, inside.error_sd, inside.labelled)
    else:
        error_effect = _proportion_effect(base.error_mean, base.labelled, inside.error_mean, inside.labelled)
    error_before, error_inside = _num(base, "error_mean"), _num(inside, "error_mean")
    error_grew = None not in (error_before, error_inside) and error_inside > error_before
    miscalibration = None
    if min(base.residuals, inside.residuals) >= MIN_BASELINE_ROWS:
        miscalibration = _mean_effect(base.residual_mean, base.residual_sd, base.residuals,
                                      inside.residual_mean, inside.residual_sd, inside.residuals)
    return ModelEffect(
        rows=int(inside.n), window_rows=int(inside.window_rows), baseline=baseline,
        score_before=_num(base, "score_mean"), score_inside=_num(inside, "score_mean"),
        error_before=error_before, error_inside=error_inside,
        labelled_inside=int(inside.labelled), score_effect=score_effect,
        error_effect=error_effect, miscalibration_effect=miscalibration, error_grew=error_grew,
    )


def _num(row: Any, name: str) -> float | None:
    value = None if row is None else getattr(row, name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _mean_effect(mean0, sd0, n0, mean1, sd1, n1) -> float:
    """Cohen's d of the change in a mean, 0 unless |z| reaches :data:`MIN_Z`."""
    if not (n0 and n1) or any(v is None or _isnan(v) for v in (mean0, sd0, mean1, sd1)):
        return 0.0
    standard_error = math.sqrt(sd0**2 / n0 + sd1**2 / n1)
    pooled = math.sqrt((sd0**2 + sd1**2) / 2)
    if standard_error == 0 or pooled == 0:
        return 0.0
    if abs(mean1 - mean0) / standard_error < MIN_Z:
        return 0.0
    return abs(mean1 - mean0) / pooled


def _proportion_effect(p0, n0, p1, n1) -> float:
    """Cohen's h of the change in an error rate, 0 unless |z| reaches :data:`MIN_Z`."""
    if not (n0 and n1) or p0 is None or p1 is None or _isnan(p0) or _isnan(p1):
        return 0.0
    if abs(float(pooled_proportion_z(p0 * n0, n0, p1 * n1, n1))) < MIN_Z:
        return 0.0
    return abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0)))


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- 5 and 6. rank and severity ----------------------------------------------------------


def rank_score(rows: int, effect: float, sharpness: float, confinement: float) -> float:
    """The ranking formula of the module text."""
    return math.log10(1 + rows) * effect * (SHARPNESS_FLOOR + sharpness) * (CONFINEMENT_FLOOR + confinement)


def severity_of(sudden: bool, model_effect: float, input_effect: float, rows: int, broken_rows: bool) -> str:
    """Alerts and warnings need the model to move, or rows broken one by one (``broken_rows``:
    nulls, zeros, a stuck value, a unit, a swap...) appearing at once. A real feature's
    distribution moving while the model's score and error stay put (or its score moves with
    the outcome: ``model_effect`` is then :attr:`ModelEffect.harm`) is the population
    changing, which the model absorbs: worth knowing (``info``), not an alarm."""
    if sudden and model_effect >= ALERT_MODEL_EFFECT and rows >= ALERT_MIN_ROWS:
        return "alert"
    if model_effect >= WARNING_MODEL_EFFECT or (sudden and broken_rows and input_effect >= WARNING_INPUT_EFFECT):
        return "warning"
    return "info"


def triage(scope: Scope, symptoms: Iterable[Symptom], profile: Profile | None = None,
           cancel: CancelToken = NEVER_CANCELLED, first_rows: FirstRows | None = None) -> list[Finding]:
    """The findings behind ``symptoms``, best first (see the module text for every step).

    ``profile`` is the reference the checks used; without it a swap cannot be told row by
    row and keeps the checks' buckets and group. ``first_rows`` is the check run's (shared
    with :func:`analysis.triage.checks.run_checks`); without it every finding's localisation
    shares one made here."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    symptoms = list(symptoms)
    span = time_span(scope.with_condition(None)) if roles.timestamp else None
    episodes = concentrate(episodes_of(symptoms, span))
    findings = []
    with shared_first_rows(scope.with_condition(None), first_rows) as shared:
        for draft in root_causes(episodes, frozenset({roles.prediction, *roles.scores}) - {None}):
            cancel.raise_if_cancelled()
            findings.append(_finding(store, dataset, roles, profile, draft, cancel, shared))
    series = len({(s.kind, s.columns, s.group) for s in symptoms})
    return ranked(with_evidence(absorb_into_swaps(absorb_model_only(without_repeats(findings))), series))


def without_repeats(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per problem: drafts that root-cause grouping kept apart (seen through other
    groups, e.g. a client's swap in each merchant category of a slice) can localise to the
    same kind, the same columns and the same rows. Two findings with the same key whose
    windows nest cover the same rows (the inner one's rows are the outer one's), so they are
    one finding, which a decision could not tell apart anyway: the better ranked one is kept
    with the other's symptoms."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: -f.score):
        _join_or_keep(kept, finding, lambda k: k.key == finding.key and _windows_nest(k.window, finding.window))
    return kept


def _join_or_keep(kept: list[Finding], finding: Finding, joins: Callable[[Finding], bool]) -> None:
    """Add ``finding``'s symptoms to the first kept finding it ``joins``, else keep it."""
    home = next((k for k in kept if joins(k)), None)
    if home is None:
        kept.append(finding)
    else:
        kept[kept.index(home)] = replace(home, symptoms=home.symptoms + finding.symptoms)


def _windows_nest(a: tuple, b: tuple) -> bool:
    """True when one half-open window holds the other (a None end is open on that side)."""
    def holds(outer, inner) -> bool:
        (o0, o1), (i0, i1) = outer, inner
        return (o0 is None or (i0 is not None and o0 <= i0)) and (o1 is None or (i1 is not None and i1 <= o1))

    return holds(a, b) or holds(b, a)


def absorb_model_only(findings: Sequence[Finding]) -> list[Finding]:
    """Model-side findings that, once located, sit in the window and rows of an input finding
    join it: the score moved *because* the input broke (before localisation the checks' coarse
    group and buckets may not have shown the overlap)."""
    inputs = [f for f in findings if f.kind != "model_only"]
    kept = list(inputs)
    for finding in (f for f in findings if f.kind == "model_only"):
        _join_or_keep(kept, finding, lambda f: f.kind != "model_only" and _same_rows(f, finding))
    return kept


def absorb_into_swaps(findings: Sequence[Finding]) -> list[Finding]:
    """Findings on a swap's columns that, once located, share its rows join the swap, as
    root-cause grouping joins them before localisation: a column scanned again outside a
    swap's window (:mod:`analysis.triage.far_beyond`) finds the swap's last rows beyond the
    edge the all-rows scan gave it, while the located swap reaches them."""
    kept = [f for f in findings if f.kind == "swap"]
    for finding in (f for f in findings if f.kind != "swap"):
        _join_or_keep(kept, finding, lambda s: s.kind == "swap" and set(finding.columns) <= set(s.columns)
                      and _same_rows(s, finding))
    return kept


def _same_rows(a: Finding, b: Finding) -> bool:
    """Overlapping windows and groups of which one contains the other."""
    (a0, a1), (b0, b1) = a.window, b.window
    overlap = None in (a0, a1, b0, b1) or (a0 < b1 and b0 < a1)
    return overlap and (group_covers(a.group, b.group) or group_covers(b.group, a.group))


def with_evidence(findings: Sequence[Finding], tried: int) -> list[Finding]:
    """Findings whose located window is not significant are ``info``, never warnings or alerts.

    Each scanned window has a p-value over all the windows of its series; the
    Benjamini-Hochberg procedure then controls the false discovery rate over the ``tried``
    series (each kind, columns and group the checks reported at least once; series that
    gave no located finding count as p = 1). Findings with no scanned window (schema changes, trends, whole-log
    levels) keep their severity: they were not located by a scan.
    """
    scanned = [i for i, f in enumerate(findings) if f.evidence.get("window_p_value") is not None]
    if not scanned:
        return list(findings)
    p_values = [findings[i].evidence["window_p_value"] for i in scanned]
    padded = p_values + [1.0] * max(0, tried - len(p_values))
    adjusted = adjust_p_values(padded, "bh")[:len(p_values)]
    updated = list(findings)
    for i, q in zip(scanned, adjusted):
        finding = findings[i]
        severity = finding.severity if q < FALSE_DISCOVERY_RATE else "info"
        updated[i] = replace(finding, severity=severity, evidence={**finding.evidence, "window_q_value": float(q)})
    return updated


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Alerts first, then warnings, then info; by rank score within a severity."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.score))


def _finding(store, dataset, roles, profile, draft: _Draft, cancel, first_rows: FirstRows) -> Finding:
    lead, located = localise(Scope(store, dataset, roles),
                             since_trend_began(Scope(store, dataset, roles), draft.lead, cancel), profile, cancel,
                             first_rows)
    draft = replace(draft, lead=lead)
    start, end = lead.start, lead.end
    measured = measure_effect(Scope(store, dataset, roles), lead.group, start, end, cancel)
    confinement = 1.0 - measured.rows / measured.window_rows if lead.group and measured.window_rows else 0.0
    input_effect = 0.0 if lead.kind in MODEL_KINDS else lead.effect
    defect_share = located.get("slice_share" if lead.group else "window_share")
    if lead.kind in DEFECT_SHARE_KINDS and defect_share is not None:
        input_effect = max(defect_share - located["baseline_share"], 0.0)
        if defect_share < MOSTLY:
            measured = replace(measured, score_effect=0.0, error_effect=0.0)
    moved = measured.effect if lead.kind in BROKEN_ROW_KINDS | set(MODEL_KINDS) else measured.harm
    model_effect = moved if lead.kind not in MODEL_KINDS else max(moved, min(lead.effect, 1.0))
    effect = moved + INPUT_WEIGHT * min(input_effect, 1.0)
    rows = measured.rows or sum(s.rows for s in lead.symptoms)
    evidence = {**_evidence(draft, measured, moved, confinement, input_effect), **located}
    kind = draft.kind
    window_slice = _window_slice(roles, start, end)
    return Finding(
        kind=kind,
        columns=lead.columns,
        window=(start, end),
        group=lead.group,
        slice=all_of([group_predicate(lead.group), window_slice]),
        rows=rows,
        severity=severity_of(lead.sudden, model_effect, input_effect, rows, lead.kind in BROKEN_ROW_KINDS),
        score=rank_score(rows, effect if lead.kind not in MODEL_KINDS else model_effect, lead.sharpness, confinement),
        effect=effect,
        evidence=evidence,
        symptoms=draft.symptoms,
        sentence=sentence(kind, lead, measured) + _absorbed_text(lead, measured),
    )


def since_trend_began(scope: Scope, lead: Episode, cancel: CancelToken = NEVER_CANCELLED) -> Episode:
    """A numeric column that drifts starts where its mean began to move, not where the checks
    first saw it far from the reference, and a step the checks' bar made of a trend is a
    trend (:mod:`analysis.triage.drift_start`)."""
    dataset = scope.dataset
    timed = [s for s in lead.symptoms if s.start is not None and s.end is not None]
    numeric = {c.name for c in dataset.columns if c.is_numeric}
    if lead.shape not in ("trend", "step") or lead.kind not in DRIFTING_KINDS or not timed \
            or len(lead.columns) != 1 or lead.columns[0] not in numeric:
        return lead
    width = Counter(s.end - s.start for s in timed).most_common(1)[0][0]
    onset = drift_onset(scope, lead.columns[0], group_predicate(lead.group), width, cancel)
    if onset is None or not onset.gradual:
        return lead
    return replace(lead, start=min(onset.start, lead.start or onset.start), shape="trend", sharpness=0.0)


LOCATED_SHARE_KINDS = frozenset({"null_rate", "zero_fill", "out_of_range", "new_category", "novel_values"})
"""Kinds whose sentence quotes the share of rows showing the problem (re-measured once located)."""


def localise(scope: Scope, lead: Episode, profile: Profile | None = None,
             cancel: CancelToken = NEVER_CANCELLED, first_rows: FirstRows | None = None,
             ) -> tuple[Episode, dict[str, Any]]:
    """The lead narrowed to the window it lasted and to the slice its rows concentrate in,
    with the numbers behind both (see :mod:`analysis.triage.localisation`).

    Only sudden stretches are narrowed in time (a slow trend has no moment it began; a level
    stretch no change point), and only to a scanned window that overlaps the checks' stretch. Kinds without a row-level form (schema changes; swaps checked
    against an expectations-less reference) keep the checks' buckets and group; kinds whose
    rows are not defective one by one (distribution, score, rates, vanished categories) are
    narrowed in time but keep the group with the largest effect.
    """
    dataset, roles = scope.dataset, scope.roles
    peak = _peak(lead)
    violation = violation_of(peak, dataset, roles, profile)
    located: dict[str, Any] = {"since_when": "buckets", "for_whom": "largest group effect"}
    if violation is None:
        return lead, located
    with shared_first_rows(scope, first_rows) as shared:
        return _localised(scope, lead, peak, violation, located, shared.condition(cancel), cancel)


def _localised(scope: Scope, lead: Episode, peak: Symptom, violation: Violation, located: dict[str, Any],
               first_rows: Sql, cancel: CancelToken) -> tuple[Episode, dict[str, Any]]:
    """:func:`localise` once its violation is known, over ``first_rows`` (one row per request)."""
    dataset, roles = scope.dataset, scope.roles
    start, end, group = lead.start, lead.end, lead.group
    baseline, observed, rows = violation.reference_share or 0.0, peak.observed, peak.rows
    first_rows = first_rows & outside_windows(dataset, roles, peak.evidence.get("outside", ()))
    if lead.sudden and roles.timestamp and start and end:
        rows_of_group = to_sql(group_predicate(group)) & first_rows
        window = scanned_window(scope, violation, rows_of_group, cancel)
        if window is not None and window.start < end and start < window.end:
            start, end, baseline = window.start, window.end, window.baseline
            observed, rows = window.inside_share, window.rows
            located.update(since_when="scan", scan_unit=window.unit.label, window_p_value=window.p_value)
        else:
            located["window_p_value"] = stretch_p_value(scope, violation, rows_of_group, start, end, cancel)
    located["baseline_share"] = round(baseline, 4)
    if violation.broken_rows:
        window = to_sql(_window_slice(roles, start, end)) & first_rows
        healthy = _slice_baseline(scope, violation, first_rows, group, start, end, baseline, cancel)
        where = violating_slice(scope, violation, window, slice_columns(dataset, roles, lead.columns), healthy,
                                cancel)
        if where is not None:
            group = where.group
            observed = where.slice_rate if group else where.window_rate
            rows = round(where.slice_rows * where.slice_rate) if group else round(where.window_rows * where.window_rate)
            located.update(for_whom="slice discovery", window_share=round(where.window_rate, 4),
                           slice_share=round(where.slice_rate, 4), slice_coverage=round(where.coverage, 4))
    if lead.kind not in LOCATED_SHARE_KINDS:
        observed = peak.observed
    moved = replace(peak, start=start, end=end, observed=observed, rows=rows, group=group)
    symptoms = tuple(moved if s is peak else s for s in lead.symptoms)
    return replace(lead, start=start, end=end, group=group, symptoms=symptoms), located


def _slice_baseline(scope: Scope, violation: Violation, first_rows: Sql, group: Group, start, end, baseline: float,
                    cancel: CancelToken) -> float:
    """The share of rows showing ``violation`` that slice discovery counts as healthy in the
    window: the scan's ``baseline`` when it was measured over every row, the whole log's share
    around the window when the scan read one group's rows (:func:`surrounding_share`)."""
    if not group or start is None or end is None:
        return baseline
    around = surrounding_share(scope, violation, first_rows, start, end, cancel)
    return baseline if around is None else around


def _window_slice(roles: RoleMap, start, end) -> Predicate:
    if roles.timestamp is None or start is None or end is None:
        return Everything
    return Range(roles.timestamp, start, end)


def _evidence(draft: _Draft, measured: ModelEffect, moved: float, confinement: float,
              input_effect: float) -> dict[str, Any]:
    lead = draft.lead
    return {
        "shape": lead.shape,
        "sharpness": round(lead.sharpness, 4),
        "confinement": round(confinement, 4),
        "input_effect": round(input_effect, 4),
        "reference": _peak(lead).reference,
        "observed": _peak(lead).observed,
        "model_effect": round(moved, 4),
        "score_effect": round(measured.score_effect, 4),
        "miscalibration_effect": None if measured.miscalibration_effect is None
        else round(measured.miscalibration_effect, 4),
        "error_effect": round(measured.error_effect, 4),
        "baseline": measured.baseline,
        "score_before": measured.score_before,
        "score_inside": measured.score_inside,
        "error_before": measured.error_before,
        "error_inside": measured.error_inside,
        "labelled_rows": measured.labelled_inside,
        "window_rows": measured.window_rows,
        "symptom_kinds": sorted({s.kind for s in draft.symptoms}),
    }


def _peak(episode: Episode) -> Symptom:
    return max(episode.symptoms, key=lambda s: abs(s.effect))


# --- the sentence ------------------------------------------------------------------------

_WHAT = {
    "null_burst": "`{col}` is null in {observed} of rows{where} {when}, up from {reference}",
    "zero_fill": "`{col}` is zero-filled in {observed} of rows{where} {when}, up from {reference}",
    "stuck": "`{col}` is stuck at one value{where} {when}",
    "swap": "{cols} look swapped{where} {when}",
    "unit_change": "`{col}` is off by a constant factor{where} {when} ({reference} -> {observed})",
    "range": "`{col}` is out of its usual range in {observed} of rows{where} {when}, up from {reference}",
    "new_category": "`{col}` has categories the reference does not know{where} {when}",
    "novel_values": "`{col}` holds values no reference row held in {observed} of rows{where} {when}"
                    " (such as {examples}), up from {reference} expected",
    "schema": "{cols} changed in type or presence {when}",
    "shift": "`{col}` changed distribution{where} {when} ({reference} -> {observed})",
    "drift": "`{col}` is drifting gradually{where} {when} ({reference} -> {observed})",
    "model_only": "the model's {col} moved{where} {when} ({reference} -> {observed}) with no input change found",
}
_SHARE_KINDS = frozenset({"null_burst", "zero_fill", "range", "novel_values"})


def sentence(kind: str, lead: Episode, measured: ModelEffect) -> str:
    """The one-line explanation, e.g. "`merchant_risk` is null in 41% of rows where
    region = 'EU-West' from 02:00 to 05:30 on 2026-10-14, up from 0.2%; error on those rows
    0.04 -> 0.19"."""
    peak = _peak(lead)
    as_share = kind in _SHARE_KINDS
    text = _WHAT.get(kind, _WHAT["shift"]).format(
        col=lead.columns[0] if lead.columns else lead.kind,
        cols=" and ".join(f"`{c}`" for c in lead.columns),
        where=f" where {group_text(lead.group)}" if lead.group else "",
        when=window_text(lead.start, lead.end),
        reference=_value_text(peak.reference, as_share),
        observed=_value_text(peak.observed, as_share),
        examples=_examples_text(peak),
    )
    if kind == "swap" and peak.evidence.get("told_by"):
        text += f" (`{peak.columns[0]}` holds values no reference row held, such as {_examples_text(peak)})"
    return text + model_text(measured)


def _examples_text(symptom: Symptom) -> str:
    """The first three example values a symptom quotes (values never seen), as text."""
    return ", ".join(significant(v) for v in list(symptom.evidence.get("values") or {})[:3])


def _absorbed_text(lead: Episode, measured: ModelEffect) -> str:
    """Why a shift that moved the score is no alarm: the outcome moved with it (step 4)."""
    sound_rows = lead.kind not in BROKEN_ROW_KINDS and lead.kind not in MODEL_KINDS
    if sound_rows and measured.score_effect >= WARNING_MODEL_EFFECT > measured.harm:
        return " (the outcome moved with the score, so the model followed the change)"
    return ""


def model_text(measured: ModelEffect) -> str:
    parts = []
    if not (is_missing(measured.score_before) or is_missing(measured.score_inside)):
        parts.append(f"mean score {number(measured.score_before, 3)} -> {number(measured.score_inside, 3)}")
    if not (is_missing(measured.error_before) or is_missing(measured.error_inside)):
        parts.append(f"error on those rows {number(measured.error_before, 2)} -> {number(measured.error_inside, 2)}")
    return "; " + "; ".join(parts) if parts else ""


def window_text(start: _dt.datetime | None, end: _dt.datetime | None) -> str:
    if start is None or end is None:
        return "over the whole log"
    if start.time() == end.time() == _dt.time(0):
        last_day = end - _dt.timedelta(days=1)
        return f"on {start:%Y-%m-%d}" if last_day == start else f"from {start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    if start.date() == (end - _dt.timedelta(microseconds=1)).date():
        return f"from {start:%H:%M} to {end:%H:%M} on {start:%Y-%m-%d}"
    return f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def _value_text(value: float | None, as_share: bool) -> str:
    if as_share and not is_missing(value):
        return percent(value, 0 if value >= 0.1 else 1)
    return significant(value)
