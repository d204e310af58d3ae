"""Labels that stopped arriving: "no labels since 2026-11-20: 1,234 predictions after that have none".

Labels come days after a prediction, so the newest rows of any log lack them; that alone is
no finding. What is one is a cut: the labels stopped at a moment, so every prediction after
it has none however old it is. One snapshot of the log has no arrival times, but it has
each row's *age* (the log's last timestamp minus the row's) and whether its label is there,
and the two explanations shape that differently:

* **Normal delay.** A row of age ``a`` has its label with probability ``q * F(a)``: ``q`` the
  share that is ever labelled, ``F`` the delay distribution, here exponential with mean
  ``tau`` (``F(a) = 1 - exp(-a / tau)``). The labelled share fades in smoothly with age.
* **Stopped.** Labels stopped reaching the log ``g`` before its end: a row of age ``a`` can have
  its label only if it came within ``a - g``, so ``q * F(a - g)`` for ``a > g`` and 0 after the
  cut. ``g`` is the age of the first row after the last labelled one (the likeliest cut).

Both are fitted by maximum likelihood on the rows grouped by age bucket (binomial counts).
The cut is a finding when the stopped model beats the delay model by the BIC penalty of its
one extra parameter (``ln`` of the rows), the same kind of penalty the rest of triage uses:
a delay that fades in explains a short unlabelled tail, a cliff to zero it cannot.

A fixed delay breaks that reading: labels that arrive every day but ``N`` days late leave the
last ``N`` days unlabelled behind a cliff, and a delay of ``N`` days plus a random part gives
exactly the likelihood of a stop ``N`` days ago. One snapshot of labels cannot tell the two
apart; their arrival times can. When the labels were joined with their arrival time
(:data:`analysis.data.labels.ARRIVED`), the question becomes whether labels still *arrive*:
the days on which some label arrived form a process of rate ``d / T`` (``d`` such days over
the ``T`` days from the first arrival to the log's end), and no arrival during the last ``G``
days has probability ``exp(-G d / T)``; below :data:`ALPHA` the labels stopped, however late
each one comes.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from analysis.data.labels import ARRIVED
from analysis.data.roles import RoleMap
from analysis.data.time import choose_bucket, timestamp_expr
from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, where_clause
from analysis.scope import Scope
from analysis.slices import Range
from analysis.store import Store
from analysis.triage.ranking import Finding, rank_score

LABELS_STOPPED = "labels_stopped"

MIN_LABELLED = 30
"""Labelled rows needed before the labels' arrival can be modelled at all."""

ALPHA = 0.05
"""Level of the arrival test: no label for this improbably long stops the labels."""


@dataclass(frozen=True)
class LabelGap:
    """The unlabelled end of a log: from ``since`` (the first row after the last labelled one)
    to ``last`` (the log's last timestamp), ``rows`` predictions, none labelled; ``stopped``
    when the labels' arrival stopped rather than lags (see the module text)."""

    since: _dt.datetime
    last: _dt.datetime
    rows: int
    labelled_share: float  # share of the rows before the gap that have their label
    mean_delay_days: float  # the delay model's mean delay, fitted on the whole log
    bic_gain: float  # BIC of the delay model minus the stopped model's (> 0: stopped fits better)
    stopped: bool
    last_arrival: _dt.datetime | None = None  # when the labels' arrival times are known
    arrival_p_value: float | None = None  # chance of no arrival since then, labels still arriving

    @property
    def sentence(self) -> str:
        said = (f"no labels since {self.since:%Y-%m-%d %H:%M}: {self.rows:,} predictions after that have none, "
                f"while {self.labelled_share:.0%} of those before have their label ")
        if self.last_arrival is not None:
            return said + (f"(none has arrived since {self.last_arrival:%Y-%m-%d %H:%M}, while labels arrived "
                           f"{self.mean_delay_days:.1f} days after their prediction on average; "
                           f"p = {self.arrival_p_value:.2g})")
        return said + (f"(a delay that fades in, fitted on the log with a mean of {self.mean_delay_days:.1f} days, "
                       f"does not explain the cut)")


def label_gap(scope: Scope, cancel: CancelToken = NEVER_CANCELLED) -> LabelGap | None:
    """The unlabelled end of the rows matching ``condition`` and whether labels stopped; None
    without a label or a time column, with too few labels, or with the last row labelled."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    if roles.label is None or roles.timestamp is None:
        return None
    ts = timestamp_expr(dataset, roles)
    where = where_clause(condition)
    view = ident(dataset.view)
    labelled = f"{ident(roles.label)} IS NOT NULL"
    bounds = store.rows(Sql(
        f"SELECT MAX({ts}) FILTER (WHERE {labelled}), MAX({ts}), MIN({ts}), COUNT(*) FILTER (WHERE {labelled}) "
        f"FROM {view}{where.text}", where.params), cancel)[0]
    last_labelled, last, first, labels = bounds
    if last_labelled is None or labels < MIN_LABELLED or last_labelled >= last:
        return None
    after = Sql(f"{ts} > ?", (last_labelled,))
    gap_where = where_clause(after if condition is None else Sql(f"({condition.text}) AND {after.text}",
                                                                  condition.params + after.params))
    since, rows = store.rows(Sql(f"SELECT MIN({ts}), COUNT(*) FROM {view}{gap_where.text}", gap_where.params), cancel)[0]
    width = choose_bucket(first, last).seconds
    ages = Sql(
        f"SELECT FLOOR(epoch({ts} - ?) / ?) AS bucket, AVG(epoch(? - {ts})) / 86400.0 AS age, COUNT(*) AS n, "
        f"COUNT(*) FILTER (WHERE {labelled}) AS k FROM {view}{where.text} GROUP BY bucket ORDER BY bucket",
        (since, width, last) + where.params,
    )
    counts = store.df(ages, cancel)
    age = counts["age"].to_numpy(dtype=float)
    gap_age = (last - since).total_seconds() / 86400.0
    n, k = counts["n"].to_numpy(dtype=float), counts["k"].to_numpy(dtype=float)
    delay_fit, delay_ll = _fit(age, n, k, 0.0)
    _, stopped_ll = _fit(age, n, k, gap_age)
    gain = 2 * (stopped_ll - delay_ll) - math.log(n.sum())
    before = n.sum() - rows
    gap = LabelGap(since, last, int(rows), float(labels / before) if before else 0.0,
                   float(delay_fit[1]), float(gain), gain > 0)
    return _judged_by_arrival(store, dataset, roles, gap, condition, cancel) if ARRIVED in dataset.column_names else gap


def _judged_by_arrival(
    store: Store, dataset: Dataset, roles: RoleMap, gap: LabelGap, condition: Sql | None, cancel: CancelToken,
) -> LabelGap:
    """``gap`` judged by when its labels arrived (see the module text), with their measured mean
    delay; unchanged when fewer than two days saw a label arrive (no rate to judge by)."""
    ts, arrived = timestamp_expr(dataset, roles), f"CAST({ident(ARRIVED)} AS TIMESTAMP)"
    known = Sql(f"{arrived} IS NOT NULL AND {ident(roles.label)} IS NOT NULL")
    where = where_clause(known if condition is None else Sql(f"({condition.text}) AND {known.text}",
                                                              condition.params))
    days, first, last_arrival, delay = store.rows(Sql(
        f"SELECT count(DISTINCT date_trunc('day', {arrived})), min({arrived}), max({arrived}), "
        f"avg(epoch({arrived} - {ts})) / 86400.0 FROM {ident(dataset.view)}{where.text}", where.params), cancel)[0]
    if days < 2:
        return gap
    end = max(gap.last, last_arrival)
    span_days = (end - first).total_seconds() / 86400.0
    silent_days = (end - last_arrival).total_seconds() / 86400.0
    p_value = math.exp(-silent_days * days / span_days)
    return replace(gap, mean_delay_days=float(delay), stopped=p_value < ALPHA, last_arrival=last_arrival,
                   arrival_p_value=p_value)


def _fit(age: np.ndarray, n: np.ndarray, k: np.ndarray, cut: float) -> tuple[tuple[float, float], float]:
    """``(q, tau)`` and the log likelihood of ``q * F(age - cut)`` (0 up to the cut) on the
    binomial counts ``k`` of ``n`` per age bucket, maximised over ``q`` and ``tau``."""
    shifted = age - cut

    def negative_ll(params: np.ndarray) -> float:
        q, tau = expit(params[0]), math.exp(params[1])
        p = np.where(shifted > 0, q * -np.expm1(-np.maximum(shifted, 0.0) / tau), 0.0)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -float(np.sum(k * np.log(p) + (n - k) * np.log1p(-p)))

    share = min(max(k.sum() / n.sum(), 1e-6), 1 - 1e-6)
    starts = [np.array([math.log(share / (1 - share)), math.log(tau)]) for tau in (0.1, 1.0, 10.0)]
    best = min((minimize(negative_ll, x0, method="Nelder-Mead") for x0 in starts), key=lambda r: r.fun)
    return (float(expit(best.x[0])), float(math.exp(best.x[1]))), -float(best.fun)


def labels_stopped_finding(scope: Scope, cancel: CancelToken = NEVER_CANCELLED) -> Finding | None:
    """The finding "no labels since ..." when labels stopped arriving (None when they did not).

    A warning: predictions are still served, but every metric of the rows after the cut is
    blind, so the window must say so and estimate instead. Its effect is the share of those
    rows that would have had their label; its key has no time in it, so a decision (e.g.
    "expected: labels come weekly") applies the next time too."""
    roles = scope.roles
    gap = label_gap(scope, cancel)
    if gap is None or not gap.stopped:
        return None
    end = gap.last + _dt.timedelta(microseconds=1)
    window = Range(roles.timestamp, gap.since, end)
    return Finding(
        kind=LABELS_STOPPED, columns=(roles.label,), window=(gap.since, end), group=(), slice=window,
        rows=gap.rows, severity="warning", score=rank_score(gap.rows, gap.labelled_share, 1.0, 0.0),
        effect=gap.labelled_share,
        evidence={"labelled_share_before": round(gap.labelled_share, 4), "mean_delay_days": round(gap.mean_delay_days, 3),
                  "bic_gain": round(gap.bic_gain, 2), "last_timestamp": gap.last,
                  "last_arrival": gap.last_arrival, "arrival_p_value": gap.arrival_p_value},
        symptoms=(), sentence=gap.sentence,
    )
