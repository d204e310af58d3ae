"""Comparing two model versions: which rows are compared, paired or not, and every metric's
difference with its interval and p-value (the methods are in :mod:`analysis.compare_stats`).

Two versions that scored the same requests (shadow or challenger traffic) are compared
**paired**: rows are joined on the id, so each request is judged by both versions and the
tests need far fewer rows. Versions that saw different requests (an A/B split, a rollout)
and two time windows of one version are compared **unpaired**.

The rule: a comparison is paired when the log has an id role, the sides are whole versions
(not time windows), and the ids both versions scored are at least :data:`PAIRED_SHARE` of the
smaller side's distinct ids. Rows of a paired comparison that only one version scored (canary
traffic next to shadow traffic) are left out and counted. A request scored twice by the same
version pairs through its first row (lowest row id), so a duplicate never counts twice.

The paired rows are a scratch DuckDB table (:func:`paired_view`): the candidate's row (every column,
``ROW_ID`` included, so a slice or a row link means the candidate's row) plus both versions'
outcome columns named below. Its label ``PAIR_LABEL`` is the label of either row: both rows
are the same request, so a label joined by id is on both or neither.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from . import compare_stats as cs
from .compare_stats import DiffTest
from .dataset import Dataset
from .errors import SchemaError
from .metrics import METRICS
from .outcomes import CALIBRATION_BINS, Outcomes, outcomes
from .progress import NEVER_CANCELLED, CancelToken
from .query import ROW_ID, Sql, ident, literal, where_clause
from .roles import RoleMap, TaskType
from .store import Store

PAIRED_SHARE = 0.5
"""Shared ids, as a share of the smaller side's ids, from which two versions count as paired."""

PAIR_LABEL = "_sleuth_label"
BASE_ROW = "_sleuth_base_row"


def side_column(side: str, what: str) -> str:
    """Name of an outcome column of one side (``"b"`` or ``"c"``) in the paired view:
    ``pred``, ``score``, ``loss``, ``ok`` (right against the pair's label), ``bin``, ``conf``
    (calibration confidence), ``hit`` (what that confidence should have predicted)."""
    return f"_sleuth_{side}_{what}"


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a model version's rows, optionally within a time window."""

    label: str
    version: str | None
    window: Sql | None
    rows: int
    labelled: int
    distinct_ids: int | None

    @property
    def coverage(self) -> float:
        """Share of the side's rows that have a label (late labels lower it)."""
        return self.labelled / self.rows if self.rows else 0.0

    def condition(self, roles: RoleMap) -> Sql:
        """The side's rows as a SQL condition over the dataset view."""
        version = Sql("TRUE")
        if self.version is not None:
            version = Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (self.version,))
        return version & self.window


@dataclass(frozen=True)
class Pairing:
    """How two sides are compared: ``paired`` or not, with the counts that decided it.

    ``pairs`` are the requests both sides scored, ``labelled_pairs`` those with a label.
    ``explanation`` says in words which comparison was chosen and why.
    """

    base: Side
    candidate: Side
    paired: bool
    pairs: int
    labelled_pairs: int
    shared_share: float | None
    explanation: str
    deduplicate: bool = False


def pair_versions(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    base: str | None,
    candidate: str | None,
    condition: Sql | None = None,
    *,
    base_condition: Sql | None = None,
    candidate_condition: Sql | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Pairing:
    """Decide paired or unpaired for ``base`` vs ``candidate`` over rows in ``condition``.

    ``base_condition``/``candidate_condition`` restrict each side (e.g. to a time window, to
    compare one version before and after a deploy); such a comparison is always unpaired.
    """
    if (base is not None or candidate is not None) and roles.model_version is None:
        raise SchemaError("comparing versions needs a model version column")
    windows = base_condition is not None or candidate_condition is not None
    if not windows and base == candidate:
        raise SchemaError("choose two different versions (or two time windows of one version)")
    out = outcomes(roles, dataset.columns)
    sides = [
        _side(store, dataset, roles, out, version, window, name, condition, cancel)
        for version, window, name in ((base, base_condition, "base"), (candidate, candidate_condition, "candidate"))
    ]
    base_side, cand_side = sides
    if windows or roles.id is None:
        reason = "two time windows are" if windows else "the log has no id column, so the versions are"
        return Pairing(base_side, cand_side, False, 0, 0, None,
                       f"Unpaired: {reason} compared as independent samples "
                       f"({base_side.rows:,} and {cand_side.rows:,} rows).")
    pairs, labelled_pairs = _shared_ids(store, dataset, roles, out, base_side, cand_side, condition, cancel)
    smaller = min(base_side.distinct_ids or 0, cand_side.distinct_ids or 0)
    share = pairs / smaller if smaller else 0.0
    paired = share >= PAIRED_SHARE
    duplicates = any(s.distinct_ids is not None and s.distinct_ids < s.rows for s in sides)
    if paired:
        explanation = (
            f"Paired: {pairs:,} requests were scored by both versions ({share:.0%} of the smaller side); "
            f"{base_side.rows - pairs:,} base and {cand_side.rows - pairs:,} candidate rows scored by one "
            "version only are left out."
        )
    else:
        explanation = (
            f"Unpaired: only {pairs:,} requests ({share:.0%} of the smaller side) were scored by both "
            f"versions, so {base_side.rows:,} base and {cand_side.rows:,} candidate rows are compared "
            "as independent samples."
        )
    return Pairing(base_side, cand_side, paired, pairs if paired else 0, labelled_pairs if paired else 0,
                   share, explanation, duplicates)


def _side(store: Store, dataset: Dataset, roles: RoleMap, out: Outcomes, version: str | None,
          window: Sql | None, name: str, condition: Sql | None, cancel: CancelToken) -> Side:
    draft = Side(version or name, version, window, 0, 0, None)
    where = where_clause(draft.condition(roles) & condition)
    ids = f"COUNT(DISTINCT CAST({ident(roles.id)} AS VARCHAR))" if roles.id else "NULL"
    rows, labelled, distinct = store.rows(
        Sql(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {out.has_label}), {ids} FROM {ident(dataset.view)}{where.text}",
            where.params),
        cancel,
    )[0]
    label = version if window is None or version is None else f"{version} ({name} window)"
    return Side(label or name, version, window, int(rows), int(labelled), None if distinct is None else int(distinct))


def _shared_ids(store: Store, dataset: Dataset, roles: RoleMap, out: Outcomes, base: Side, candidate: Side,
                condition: Sql | None, cancel: CancelToken) -> tuple[int, int]:
    key = f"CAST({ident(roles.id)} AS VARCHAR)"
    view = ident(dataset.view)
    b = where_clause(base.condition(roles) & condition)
    c = where_clause(candidate.condition(roles) & condition)
    text = (
        f"WITH b AS (SELECT {key} AS k, bool_or({out.has_label}) AS lab FROM {view}{b.text} GROUP BY k), "
        f"c AS (SELECT {key} AS k, bool_or({out.has_label}) AS lab FROM {view}{c.text} GROUP BY k) "
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE b.lab OR c.lab) FROM b JOIN c ON b.k = c.k"
    )
    pairs, labelled = store.rows(Sql(text, b.params + c.params), cancel)[0]
    return int(pairs), int(labelled)


def _side_columns(out: Outcomes, side: str) -> list[str]:
    null = "NULL"
    return [
        f"{out.y_true} AS {side_column(side, 'label')}",
        f"{out.y_pred or null} AS {side_column(side, 'pred')}",
        f"{out.positive_score or 'CAST(NULL AS DOUBLE)'} AS {side_column(side, 'score')}",
        f"{out.loss or 'CAST(NULL AS DOUBLE)'} AS {side_column(side, 'loss')}",
        f"{out.calibration_bin or null} AS {side_column(side, 'bin')}",
        f"{out.confidence or 'CAST(NULL AS DOUBLE)'} AS {side_column(side, 'conf')}",
        f"{out.confidence_hit or null} AS {side_column(side, 'hit')}",
    ]


def paired_rows_sql(dataset: Dataset, roles: RoleMap, pairing: Pairing) -> str:
    """SELECT of the paired rows (see the module doc). Versions enter as literals because a
    view cannot carry parameters; they are the log's own version values, quoted."""
    if not pairing.paired:
        raise SchemaError("these versions did not score the same requests; compare them unpaired")
    out = outcomes(roles, dataset.columns)
    key = f"CAST({ident(roles.id)} AS VARCHAR)"
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    first = f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ident(ROW_ID)}) = 1" if pairing.deduplicate else ""
    view = ident(dataset.view)
    base_cols = ", ".join(_side_columns(out, "b"))
    cand_cols = ", ".join(_side_columns(out, "c"))
    label = f"coalesce({side_column('c', 'label')}, {side_column('b', 'label')})"
    ok = "CAST({pred} = {label} AS INTEGER)"
    return (
        f"WITH b AS (SELECT {key} AS _sleuth_key, {ident(ROW_ID)} AS {BASE_ROW}, {base_cols} FROM {view} "
        f"WHERE {version} = {literal(pairing.base.version)}{first}), "
        f"c AS (SELECT *, {key} AS _sleuth_key, {cand_cols} FROM {view} "
        f"WHERE {version} = {literal(pairing.candidate.version)}{first}) "
        f"SELECT c.* EXCLUDE (_sleuth_key), b.* EXCLUDE (_sleuth_key), {label} AS {PAIR_LABEL}, "
        f"{ok.format(pred=side_column('b', 'pred'), label=label)} AS {side_column('b', 'ok')}, "
        f"{ok.format(pred=side_column('c', 'pred'), label=label)} AS {side_column('c', 'ok')} "
        "FROM c JOIN b ON c._sleuth_key = b._sleuth_key"
    )


@contextlib.contextmanager
def paired_view(store: Store, dataset: Dataset, roles: RoleMap, pairing: Pairing) -> Iterator[str]:
    """The paired rows, joined once into a scratch table that is dropped on exit; yields its name.

    A comparison reads the pairs some twenty times (each metric test, the flips, discovery,
    every tested slice); joining the two versions once instead of on every read is most of
    the cost saved on a large log.
    """
    name = store.new_name("paired")
    store.execute(f"CREATE TABLE {ident(name)} AS {paired_rows_sql(dataset, roles, pairing)}")
    try:
        yield name
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(name)}")


# --- the rows each computation reads --------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """A SELECT exposing one or both sides' outcome columns (see :func:`side_column`) and a
    label column: the paired view filtered by the current slice, or one side's own rows."""

    sql: Sql
    label: str


def paired_rows(view: str, condition: Sql | None = None) -> Rows:
    where = where_clause(condition)
    return Rows(Sql(f"SELECT * FROM {ident(view)}{where.text}", where.params), PAIR_LABEL)


def side_rows(dataset: Dataset, roles: RoleMap, side: Side, code: str, condition: Sql | None = None) -> Rows:
    """Rows of one side of an unpaired comparison, with its columns named for ``code``."""
    out = outcomes(roles, dataset.columns)
    where = where_clause(side.condition(roles) & condition)
    ok = f"CAST(({out.y_pred or 'NULL'}) = ({out.y_true}) AS INTEGER) AS {side_column(code, 'ok')}"
    columns = ", ".join(_side_columns(out, code) + [ok, "*"])
    return Rows(Sql(f"SELECT {columns} FROM {ident(dataset.view)}{where.text}", where.params),
                side_column(code, "label"))


def _query(rows: Rows, select: str, where: str, group_by: str = "") -> Sql:
    text = f"SELECT {select} FROM ({rows.sql.text}) WHERE {where}" + (f" GROUP BY {group_by}" if group_by else "")
    return Sql(text, rows.sql.params)


# --- overall comparison ------------------------------------------------------------------------

COMPARED = {
    TaskType.BINARY: ("accuracy", "error_rate", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"),
    TaskType.MULTICLASS: ("accuracy", "error_rate", "precision", "recall", "f1", "log_loss", "ece"),
    TaskType.REGRESSION: ("mae", "rmse"),
}
"""The metrics a comparison tests, per task: the quality metrics of :data:`metrics.METRICS`
(descriptive rates such as the positive rate have no "better" version). Multiclass ROC AUC
is left out: DeLong's test is defined for one binary AUC."""

N_BOOT = 1000


@dataclass(frozen=True)
class MetricDiff:
    """One metric of both versions: ``diff = candidate - base`` with its 95% interval."""

    metric: str
    base: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric].higher_is_better

    @property
    def worsening(self) -> float | None:
        """How much worse the candidate is, in the metric's units (negative: better)."""
        if self.diff is None:
            return None
        return -self.diff if self.higher_is_better else self.diff


@dataclass(frozen=True)
class Comparison:
    pairing: Pairing
    metric: str
    threshold: float | None
    overall: list[MetricDiff]

    def get(self, metric: str) -> MetricDiff:
        for entry in self.overall:
            if entry.metric == metric:
                return entry
        raise KeyError(metric)


def default_metric(roles: RoleMap) -> str:
    return "mae" if roles.task is TaskType.REGRESSION else "accuracy"


def at_threshold(roles: RoleMap, threshold: float | None) -> RoleMap:
    """Roles whose binary predictions are ``score >= threshold`` when a threshold is chosen.

    An edited threshold replaces a logged prediction column: the engineer asks "what if we
    had cut here", and the logged classes were cut elsewhere.
    """
    if threshold is None or roles.task is not TaskType.BINARY or not roles.scores:
        return roles
    return replace(roles, prediction=None, threshold=float(threshold))


def compare_versions(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    base: str | None,
    candidate: str | None,
    condition: Sql | None = None,
    threshold: float | None = None,
    metrics: Sequence[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    *,
    base_condition: Sql | None = None,
    candidate_condition: Sql | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Comparison:
    """Every compared metric of ``candidate`` against ``base`` over rows in ``condition``.

    Only labelled rows count for metrics (paired: pairs with a label). ``metrics`` limits the
    list (default: all of :data:`COMPARED` for the task); the first is the primary metric.
    """
    roles = at_threshold(roles, threshold)
    pairing = pair_versions(store, dataset, roles, base, candidate, condition, base_condition=base_condition,
                            candidate_condition=candidate_condition, cancel=cancel)
    names = list(metrics or COMPARED[roles.task])
    unknown = [m for m in names if m not in COMPARED[roles.task]]
    if unknown:
        raise SchemaError(f"cannot compare {', '.join(unknown)} for a {roles.task.value} task; "
                          f"choose from {', '.join(COMPARED[roles.task])}")
    with _compared_rows(store, dataset, roles, pairing, condition) as (base_rows, cand_rows):
        tests = {name: _metric_test(store, dataset, roles, name, pairing.paired, base_rows, cand_rows,
                                    n_boot, seed, cancel) for name in names}
    overall = [MetricDiff(name, t.base, t.candidate, t.diff, t.ci_low, t.ci_high, t.p_value, t.method)
               for name, t in tests.items()]
    return Comparison(pairing, names[0], threshold, overall)


@contextlib.contextmanager
def _compared_rows(store: Store, dataset: Dataset, roles: RoleMap, pairing: Pairing,
                   condition: Sql | None) -> Iterator[tuple[Rows, Rows]]:
    """(base rows, candidate rows): the same paired rows twice, or each side's own rows."""
    if pairing.paired:
        with paired_view(store, dataset, roles, pairing) as view:
            rows = paired_rows(view, condition)
            yield rows, rows
    else:
        yield (side_rows(dataset, roles, pairing.base, "b", condition),
               side_rows(dataset, roles, pairing.candidate, "c", condition))


def _metric_test(store: Store, dataset: Dataset, roles: RoleMap, name: str, paired: bool,
                 base_rows: Rows, cand_rows: Rows, n_boot: int, seed: int, cancel: CancelToken) -> DiffTest:
    out = outcomes(roles, dataset.columns)
    if name in ("accuracy", "error_rate"):
        test = accuracy_test(store, paired, base_rows, cand_rows, cancel)
        return _complement(test) if name == "error_rate" else test
    if name in ("precision", "recall", "f1"):
        return _class_metric_test(store, roles, name, paired, base_rows, cand_rows, n_boot, seed, cancel)
    if name == "roc_auc":
        return _auc_test(store, paired, base_rows, cand_rows, cancel) if out.positive_score else cs.UNDEFINED
    if name == "ece":
        return _ece_test(store, paired, base_rows, cand_rows, n_boot, seed, cancel) if out.confidence else cs.UNDEFINED
    if name == "log_loss" and out.log_loss is None:
        return cs.UNDEFINED
    if name == "rmse":
        return _rmse_test(store, paired, base_rows, cand_rows, cancel)
    return mean_loss_test(store, paired, base_rows, cand_rows, cancel)


def _complement(test: DiffTest) -> DiffTest:
    """The error-rate test from the accuracy test: values 1 - x, differences negated."""
    def flip(value: float | None) -> float | None:
        return None if value is None else 1.0 - value

    def negate(value: float | None) -> float | None:
        return None if value is None else -value

    return DiffTest(flip(test.base), flip(test.candidate), negate(test.diff), negate(test.ci_high),
                    negate(test.ci_low), test.p_value, test.method)


def _evaluated(rows: Rows, *sides: str) -> str:
    return " AND ".join([f"{rows.label} IS NOT NULL"] + [f"{side_column(s, 'pred')} IS NOT NULL" for s in sides])


def accuracy_test(store: Store, paired: bool, base_rows: Rows, cand_rows: Rows,
                  cancel: CancelToken = NEVER_CANCELLED) -> DiffTest:
    """Accuracy of both versions: McNemar + Newcombe paired, or Fisher + Newcombe unpaired."""
    b_ok, c_ok = side_column("b", "ok"), side_column("c", "ok")
    if paired:
        both, negative, positive, neither = store.rows(_query(
            base_rows,
            f"COUNT(*) FILTER (WHERE {b_ok} = 1 AND {c_ok} = 1), COUNT(*) FILTER (WHERE {b_ok} = 1 AND {c_ok} = 0), "
            f"COUNT(*) FILTER (WHERE {b_ok} = 0 AND {c_ok} = 1), COUNT(*) FILTER (WHERE {b_ok} = 0 AND {c_ok} = 0)",
            _evaluated(base_rows, "b", "c")), cancel)[0]
        return cs.paired_proportions(both, negative, positive, neither)
    base_hits, base_n = store.rows(_query(base_rows, f"COALESCE(SUM({b_ok}), 0), COUNT(*)", _evaluated(base_rows, "b")), cancel)[0]
    cand_hits, cand_n = store.rows(_query(cand_rows, f"COALESCE(SUM({c_ok}), 0), COUNT(*)", _evaluated(cand_rows, "c")), cancel)[0]
    return cs.independent_proportions(int(base_hits), int(base_n), int(cand_hits), int(cand_n))


def mean_loss_test(store: Store, paired: bool, base_rows: Rows, cand_rows: Rows,
                   cancel: CancelToken = NEVER_CANCELLED) -> DiffTest:
    """Mean per-row loss (log loss, 0/1 error, absolute error) of both versions."""
    b, c = side_column("b", "loss"), side_column("c", "loss")
    if paired:
        sums = store.rows(_query(
            base_rows, f"COUNT(*), SUM({b}), SUM({c}), SUM({b} * {b}), SUM({c} * {c}), SUM({b} * {c})",
            f"{base_rows.label} IS NOT NULL AND {b} IS NOT NULL AND {c} IS NOT NULL"), cancel)[0]
        return cs.paired_mean_loss(cs.LossSums(int(sums[0]), *(float(x or 0.0) for x in sums[1:])))
    base = _loss_sums(store, base_rows, b, cancel)
    cand = _loss_sums(store, cand_rows, c, cancel)
    return cs.welch_mean_loss(*base, *cand)


def _loss_sums(store: Store, rows: Rows, loss: str, cancel: CancelToken) -> tuple[int, float, float]:
    n, total, squares = store.rows(_query(rows, f"COUNT(*), SUM({loss}), SUM({loss} * {loss})",
                                          f"{rows.label} IS NOT NULL AND {loss} IS NOT NULL"), cancel)[0]
    return int(n), float(total or 0.0), float(squares or 0.0)


def _rmse_test(store: Store, paired: bool, base_rows: Rows, cand_rows: Rows, cancel: CancelToken) -> DiffTest:
    b, c = side_column("b", "loss"), side_column("c", "loss")
    b2, c2 = f"({b} * {b})", f"({c} * {c})"
    if paired:
        n, sb, qb, sc, qc, cross = store.rows(_query(
            base_rows, f"COUNT(*), SUM({b2}), SUM({b2} * {b2}), SUM({c2}), SUM({c2} * {c2}), SUM({b2} * {c2})",
            f"{base_rows.label} IS NOT NULL AND {b} IS NOT NULL AND {c} IS NOT NULL"), cancel)[0]
        return cs.rmse_difference(int(n), float(sb or 0), float(qb or 0), int(n), float(sc or 0), float(qc or 0),
                                  float(cross or 0))
    sides = []
    for rows, loss in ((base_rows, b), (cand_rows, c)):
        square = f"({loss} * {loss})"
        n, total, quad = store.rows(_query(rows, f"COUNT(*), SUM({square}), SUM({square} * {square})",
                                           f"{rows.label} IS NOT NULL AND {loss} IS NOT NULL"), cancel)[0]
        sides += [int(n), float(total or 0), float(quad or 0)]
    return cs.rmse_difference(*sides, None)


def _auc_test(store: Store, paired: bool, base_rows: Rows, cand_rows: Rows, cancel: CancelToken) -> DiffTest:
    """DeLong on the labelled rows' scores, fetched as three (paired) or two numpy columns."""
    b, c = side_column("b", "score"), side_column("c", "score")
    if paired:
        data = store.numpy(_query(base_rows, f"{base_rows.label} AS y, {b} AS sb, {c} AS sc",
                                  f"{base_rows.label} IS NOT NULL AND {b} IS NOT NULL AND {c} IS NOT NULL"), cancel)
        return cs.delong_paired(_plain(data["y"]), _plain(data["sb"]), _plain(data["sc"]))
    base = store.numpy(_query(base_rows, f"{base_rows.label} AS y, {b} AS s", f"{base_rows.label} IS NOT NULL AND {b} IS NOT NULL"), cancel)
    cand = store.numpy(_query(cand_rows, f"{cand_rows.label} AS y, {c} AS s", f"{cand_rows.label} IS NOT NULL AND {c} IS NOT NULL"), cancel)
    return cs.delong_unpaired(_plain(base["y"]), _plain(base["s"]), _plain(cand["y"]), _plain(cand["s"]))


def _plain(values: np.ndarray) -> np.ndarray:
    """A fetched column as a plain numpy array (DuckDB returns masked arrays for nullable ones)."""
    return np.ma.getdata(values) if isinstance(values, np.ma.MaskedArray) else np.asarray(values)


# --- bootstrap over cells ----------------------------------------------------------------------


def _class_metric_test(store: Store, roles: RoleMap, name: str, paired: bool, base_rows: Rows, cand_rows: Rows,
                       n_boot: int, seed: int, cancel: CancelToken) -> DiffTest:
    """Precision, recall or F1 (binary: of the positive class; multiclass: macro average)."""
    b, c = side_column("b", "pred"), side_column("c", "pred")
    if paired:
        cells = store.df(_query(base_rows, f"{base_rows.label} AS y, {b} AS pb, {c} AS pc, COUNT(*) AS n",
                                _evaluated(base_rows, "b", "c"), "ALL"), cancel)
        return cs.cell_bootstrap(
            cells["n"].to_numpy(), _class_metric(name, roles.task, cells["y"], cells["pb"]),
            _class_metric(name, roles.task, cells["y"], cells["pc"]), n_boot=n_boot, seed=seed)
    base = store.df(_query(base_rows, f"{base_rows.label} AS y, {b} AS p, COUNT(*) AS n", _evaluated(base_rows, "b"), "ALL"), cancel)
    cand = store.df(_query(cand_rows, f"{cand_rows.label} AS y, {c} AS p, COUNT(*) AS n", _evaluated(cand_rows, "c"), "ALL"), cancel)
    return cs.cell_bootstrap(
        base["n"].to_numpy(), _class_metric(name, roles.task, base["y"], base["p"]),
        _class_metric(name, roles.task, cand["y"], cand["p"]), cand_counts=cand["n"].to_numpy(),
        n_boot=n_boot, seed=seed, method="cell bootstrap (independent)")


def _class_metric(name: str, task: TaskType, y: pd.Series, predicted: pd.Series) -> cs.CellMetric:
    """Precision/recall/F1 of each replicate from cell counts, with undefined values NaN
    (binary: of class 1; multiclass: mean over the classes where the value is defined)."""
    y_values, p_values = y.astype(str).to_numpy(), predicted.astype(str).to_numpy()
    classes = ["1"] if task is TaskType.BINARY else sorted(set(y_values) | set(p_values))
    is_true = np.array([y_values == k for k in classes], dtype=np.float64).T
    is_pred = np.array([p_values == k for k in classes], dtype=np.float64).T
    hit = is_true * is_pred

    def value(counts: np.ndarray) -> np.ndarray:
        tp, true, pred = counts @ hit, counts @ is_true, counts @ is_pred
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class = {
                "precision": tp / np.where(pred > 0, pred, np.nan),
                "recall": tp / np.where(true > 0, true, np.nan),
                "f1": 2 * tp / np.where(true + pred > 0, true + pred, np.nan),
            }[name]
        defined = np.isfinite(per_class)
        total = np.where(defined, per_class, 0.0).sum(axis=1)
        count = defined.sum(axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    return value


def _ece_test(store: Store, paired: bool, base_rows: Rows, cand_rows: Rows, n_boot: int, seed: int,
              cancel: CancelToken) -> DiffTest:
    """Expected calibration error, bootstrapped over (bin, hit) cells of each version."""
    def cols(side: str) -> tuple[str, str, str]:
        return side_column(side, "bin"), side_column(side, "hit"), side_column(side, "conf")

    (bb, bh, bc), (cb, ch, cc) = cols("b"), cols("c")
    if paired:
        cells = store.df(_query(
            base_rows, f"{bb} AS bb, {bh} AS bh, {cb} AS cb, {ch} AS ch, COUNT(*) AS n, SUM({bc}) AS sb, SUM({cc}) AS sc",
            f"{base_rows.label} IS NOT NULL AND {bc} IS NOT NULL AND {cc} IS NOT NULL", "ALL"), cancel)
        n = cells["n"].to_numpy(dtype=np.float64)
        return cs.cell_bootstrap(n, _ece_metric(cells["bb"], cells["bh"], cells["sb"] / n),
                                 _ece_metric(cells["cb"], cells["ch"], cells["sc"] / n), n_boot=n_boot, seed=seed)
    frames = [
        store.df(_query(rows, f"{b} AS bin, {h} AS hit, COUNT(*) AS n, SUM({cf}) AS s",
                        f"{rows.label} IS NOT NULL AND {cf} IS NOT NULL", "ALL"), cancel)
        for rows, (b, h, cf) in ((base_rows, cols("b")), (cand_rows, cols("c")))
    ]
    metrics = [_ece_metric(f["bin"], f["hit"], f["s"] / f["n"]) for f in frames]
    return cs.cell_bootstrap(frames[0]["n"].to_numpy(), metrics[0], metrics[1], cand_counts=frames[1]["n"].to_numpy(),
                             n_boot=n_boot, seed=seed, method="cell bootstrap (independent)")


def _ece_metric(bins: pd.Series, hits: pd.Series, mean_confidence: pd.Series) -> cs.CellMetric:
    """ECE of each replicate: per bin, |hits - summed confidence|, over all counted rows."""
    onehot = np.array([bins.to_numpy() == b for b in range(CALIBRATION_BINS)], dtype=np.float64).T
    hit_weight = onehot * hits.to_numpy(dtype=np.float64)[:, None]
    confidence_weight = onehot * mean_confidence.to_numpy(dtype=np.float64)[:, None]

    def value(counts: np.ndarray) -> np.ndarray:
        gaps = np.abs(counts @ hit_weight - counts @ confidence_weight).sum(axis=1)
        return gaps / counts.sum(axis=1)

    return value
