"""Metrics grouped by one column (a breakdown) or by two (a cross-tab), per model version,
with confidence intervals and a test of each group against the rest of the data.

Grouping: :func:`analysis.slicing.binning.bin_column` decides a column's groups (value
ranges, frequent values, "other", null), each kept as a slice predicate.

Computing. One SQL statement groups the rows by (version, group) through a ``CASE`` over the
group predicates and returns additive sums; "the rest" of a group is its version's total minus
the group, so no second scan is needed. Two kinds of metric get an interval and a test:

* proportions (accuracy, error rate, precision, recall, positive rates): Wilson score
  interval; against the rest a pooled two-proportion z-test, or Fisher's exact test when an
  expected cell count is below 5;
* means (log loss, mean score, MAE, mean prediction, and RMSE as the root of the mean squared
  error): mean +- t quantile x standard error from the group's sum and sum of squares (the
  normal interval for any group of useful size); against the rest Welch's t-test from the same
  sums. RMSE's interval is the square root of the MSE interval's ends.

F1, ROC AUC, ECE, R², and multiclass (macro) precision and recall are not a count or a mean
of rows: their value and the rest's value come from :func:`analysis.metrics.per_version.overall_metrics`
over the group's predicate and its complement (two scans per group), with no interval and no
test (NaN).

P-values of one breakdown are adjusted together with Benjamini-Hochberg; a group is
significant when its adjusted p-value is below ``1 - confidence`` (0.05 by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.metrics.per_version import METRICS, overall_metrics
from analysis.metrics.outcomes import Outcomes, outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import TRUE, Sql, ident, select
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slices import Not, Predicate, to_sql
from analysis.stats.intervals import t_interval, wilson_interval
from analysis.stats.multiple_testing import adjust_p_values
from analysis.stats.significance import pooled_proportion_z
from analysis.slicing.binning import Binning, bin_column
from analysis.store import Store

FISHER_BELOW = 5
"""Fisher's exact test replaces the z-test when an expected cell count is below this."""

FRAME_COLUMNS = [
    "version", "group_key", "label", "rows", "share", "labelled", "value", "ci_low", "ci_high",
    "rest_value", "diff", "p_value", "p_adjusted", "significant",
]
CROSSTAB_COLUMNS = [
    "version", "row_key", "row_label", "col_key", "col_label", "rows", "share", "labelled",
    "value", "ci_low", "ci_high",
]

# --- metric definitions ------------------------------------------------------------------

PROPORTION = "proportion"
MEAN = "mean"
MULTI_ROW = "multi_row"


@dataclass(frozen=True)
class _Measure:
    """How a metric is computed per group: ``kind`` says which interval and test apply;
    ``expr`` is the row's contribution (0/1 or a value, NULL when the row does not count), so
    that COUNT, SUM and the sum of squares of it are the additive sums of every group."""

    kind: str
    expr: str = "CAST(NULL AS DOUBLE)"
    root: bool = False


def _measure(metric: str, roles: RoleMap, out: Outcomes) -> _Measure:
    info = METRICS.get(metric)
    if info is None or roles.task not in info.tasks:
        raise SchemaError(f"metric '{metric}' does not apply to a {roles.task.value} task")
    binary = roles.task is TaskType.BINARY
    y_true, y_pred = out.y_true, out.y_pred
    needs_prediction = {
        "accuracy", "error_rate", "precision", "recall", "predicted_positive_rate", "mae", "rmse", "mean_prediction",
    }
    if metric in needs_prediction and y_pred is None:
        raise SchemaError(f"metric '{metric}' needs a prediction or score column")
    proportions = {
        "accuracy": lambda: out.is_correct,
        "error_rate": lambda: f"1 - ({out.is_correct})",
        "positive_rate": lambda: y_true,
        "predicted_positive_rate": lambda: y_pred,
    }
    if binary:
        proportions["precision"] = lambda: f"CASE WHEN ({y_pred}) = 1 THEN ({y_true}) END"
        proportions["recall"] = lambda: f"CASE WHEN ({y_true}) = 1 THEN ({y_pred}) END"
    if metric in proportions:
        return _Measure(PROPORTION, proportions[metric]())
    means = {
        "log_loss": out.log_loss,
        "mean_score": out.confidence,
        "mae": out.loss if roles.task is TaskType.REGRESSION else None,
        "rmse": f"POWER(({y_true}) - ({y_pred}), 2)" if y_pred is not None else None,
        "mean_prediction": y_pred,
    }
    if metric in means:
        if means[metric] is None:
            raise SchemaError(f"metric '{metric}' needs a score column")
        return _Measure(MEAN, means[metric], root=metric == "rmse")
    return _Measure(MULTI_ROW)


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Breakdown:
    """A metric per (version, group) of one column; ``frame`` has :data:`FRAME_COLUMNS`,
    one row per group with rows in that version (``version`` None without a version column)."""

    column: str
    metric: str
    binning: Binning
    frame: pd.DataFrame
    confidence: float = 0.95

    def predicate_of(self, group_key: str) -> Predicate:
        return self.binning.group(group_key).predicate


@dataclass(frozen=True, eq=False)
class CrossTab:
    """A metric per (version, row group, column group); ``frame`` has :data:`CROSSTAB_COLUMNS`
    with ``share`` the cell's share of its version's rows."""

    metric: str
    row_binning: Binning
    col_binning: Binning
    frame: pd.DataFrame
    confidence: float = 0.95

    def predicate_of(self, row_key: str, col_key: str) -> Predicate:
        return self.row_binning.group(row_key).predicate & self.col_binning.group(col_key).predicate


def breakdown(scope: Scope, column: str, metric: str = "error_rate", binning: Binning | None = None,
              version: str | None = None, confidence: float = 0.95,
              cancel: CancelToken = NEVER_CANCELLED) -> Breakdown:
    """``metric`` per group of ``column`` and per version (or only ``version``), each group
    with its interval and its difference from the rest of its version (see module doc)."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    _check_confidence(confidence)
    out = outcomes(roles, dataset.columns)
    measure = _measure(metric, roles, out)
    binning = binning or bin_column(store, dataset, column, condition, cancel=cancel)
    where = _version_condition(roles, version) & condition
    sums = _group_sums(store, dataset, roles, out, measure, where, [binning], cancel)
    totals = sums.groupby("version", dropna=False)[["rows", "n", "s", "ss"]].transform("sum")
    grouped = sums["g0"].notna()
    sums, totals = sums[grouped].reset_index(drop=True), totals[grouped].reset_index(drop=True)
    frame = sums[["version"]].copy()
    frame["group_key"] = [binning.groups[int(i)].key for i in sums["g0"]]
    frame["label"] = [binning.groups[int(i)].label for i in sums["g0"]]
    frame["rows"] = sums["rows"].astype(int)
    frame["share"] = sums["rows"] / totals["rows"]
    frame["labelled"] = sums["labelled"].astype(int)
    rest = pd.DataFrame({c: totals[c] - sums[c] for c in ("n", "s", "ss")})
    if measure.kind == MULTI_ROW:
        predicates = [binning.groups[int(i)].predicate for i in sums["g0"]]
        value, rest_value = _multi_row_values(store, dataset, roles, metric, where, sums["version"], predicates, cancel)
        stats_frame = _no_interval(value, rest_value)
    else:
        stats_frame = _interval_and_test(measure, sums, rest, confidence)
    frame = pd.concat([frame, stats_frame], axis=1)
    frame["p_adjusted"] = adjust_p_values(frame["p_value"].to_numpy(float), "bh")
    frame["significant"] = frame["p_adjusted"] < 1.0 - confidence
    order = {g.key: i for i, g in enumerate(binning.groups)}
    frame = frame.assign(_order=frame["group_key"].map(order)).sort_values(
        ["version", "_order"], na_position="last", kind="stable"
    )
    return Breakdown(column, metric, binning, frame[FRAME_COLUMNS].reset_index(drop=True), confidence)


def crosstab(scope: Scope, row_column: str, col_column: str, metric: str = "error_rate",
             row_binning: Binning | None = None, col_binning: Binning | None = None, version: str | None = None,
             confidence: float = 0.95, cancel: CancelToken = NEVER_CANCELLED) -> CrossTab:
    """``metric`` per cell of two groupings and per version, for a heat map; cells without
    rows are left out. Multi-row metrics (F1, AUC...) cost one scan per non-empty cell."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    _check_confidence(confidence)
    out = outcomes(roles, dataset.columns)
    measure = _measure(metric, roles, out)
    row_binning = row_binning or bin_column(store, dataset, row_column, condition, cancel=cancel)
    col_binning = col_binning or bin_column(store, dataset, col_column, condition, cancel=cancel)
    where = _version_condition(roles, version) & condition
    sums = _group_sums(store, dataset, roles, out, measure, where, [row_binning, col_binning], cancel)
    version_rows = sums.groupby("version", dropna=False)["rows"].transform("sum")
    kept = sums["g0"].notna() & sums["g1"].notna()
    sums, version_rows = sums[kept].reset_index(drop=True), version_rows[kept].reset_index(drop=True)
    rows_, cols_ = [row_binning.groups[int(i)] for i in sums["g0"]], [col_binning.groups[int(i)] for i in sums["g1"]]
    frame = pd.DataFrame({
        "version": sums["version"],
        "row_key": [g.key for g in rows_], "row_label": [g.label for g in rows_],
        "col_key": [g.key for g in cols_], "col_label": [g.label for g in cols_],
        "rows": sums["rows"].astype(int), "share": sums["rows"] / version_rows,
        "labelled": sums["labelled"].astype(int),
    })
    if measure.kind == MULTI_ROW:
        predicates = [r.predicate & c.predicate for r, c in zip(rows_, cols_)]
        value, _ = _multi_row_values(
            store, dataset, roles, metric, where, sums["version"], predicates, cancel, with_rest=False
        )
        cells = _no_interval(value, value)
    else:
        cells = _interval(measure, sums, confidence)
    frame = pd.concat([frame, cells[["value", "ci_low", "ci_high"]]], axis=1)
    return CrossTab(metric, row_binning, col_binning, frame[CROSSTAB_COLUMNS], confidence)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ValueError("confidence must be in [0.5, 1)")


def _version_expr(roles: RoleMap) -> str:
    if roles.model_version is None:
        return "CAST(NULL AS VARCHAR)"
    return f"CAST({ident(roles.model_version)} AS VARCHAR)"


def _version_condition(roles: RoleMap, version: str | None) -> Sql:
    """The rows of ``version`` (every row when None), so a condition can be ANDed to it."""
    if version is None:
        return TRUE
    if roles.model_version is None:
        raise SchemaError("this log has no model version column to choose a version from")
    return Sql(f"{_version_expr(roles)} = ?", (version,))


def _group_sums(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    out: Outcomes,
    measure: _Measure,
    condition: Sql | None,
    binnings: Sequence[Binning],
    cancel: CancelToken,
) -> pd.DataFrame:
    """The one statement: per (version, g0[, g1]) the rows, labelled rows and the additive
    sums ``n`` (rows that count), ``s`` and ``ss`` (sum and sum of squares of ``expr``)."""
    cases = [b.case_sql() for b in binnings]
    keys = ["version"] + [f"g{i}" for i in range(len(cases))]
    inner = [f"{_version_expr(roles)} AS version"]
    inner += [f"{case.text} AS g{i}" for i, case in enumerate(cases)]
    inner += [f"{out.has_label} AS has_label", f"CAST({measure.expr} AS DOUBLE) AS m"]
    rows = select(inner, ident(dataset.view), condition)
    text = (
        f"SELECT {', '.join(keys)}, count(*) AS rows, count(*) FILTER (WHERE has_label) AS labelled, "
        f"count(m) AS n, coalesce(sum(m), 0) AS s, coalesce(sum(m * m), 0) AS ss "
        f"FROM ({rows.text}) GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}"
    )
    params = tuple(p for case in cases for p in case.params) + rows.params
    sums = store.df(Sql(text, params), cancel)
    for name in ("rows", "labelled", "n", "s", "ss"):
        sums[name] = sums[name].astype(float)
    sums["version"] = sums["version"].astype(object).where(sums["version"].notna(), None)
    return sums



# --- statistics --------------------------------------------------------------------------


def _mean_and_variance(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance from count, sum and sum of squares (NaN where undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        variance = np.where(n > 1, np.maximum(ss - n * mean * mean, 0) / (n - 1), np.nan)
    return mean, variance


def _interval(measure: _Measure, sums: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Value and interval of each group from its own sums."""
    n, s, ss = (sums[c].to_numpy(float) for c in ("n", "s", "ss"))
    if measure.kind == PROPORTION:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(n > 0, s / n, np.nan)
        low, high = wilson_interval(s, n, confidence)
        return pd.DataFrame({"value": value, "ci_low": low, "ci_high": high})
    mean, variance = _mean_and_variance(n, s, ss)
    low, high = t_interval(mean, variance, n, confidence)
    if measure.root:
        mean, low, high = np.sqrt(mean), np.sqrt(np.maximum(low, 0)), np.sqrt(high)
    return pd.DataFrame({"value": mean, "ci_low": low, "ci_high": high})


def _interval_and_test(measure: _Measure, sums: pd.DataFrame, rest: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Value, interval, the rest's value, the difference and the p-value of each group."""
    frame = _interval(measure, sums, confidence)
    rest_value = _interval(measure, rest, confidence)["value"]
    frame["rest_value"] = rest_value.to_numpy()
    frame["diff"] = frame["value"] - frame["rest_value"]
    if measure.kind == PROPORTION:
        frame["p_value"] = _proportion_p_values(sums["s"], sums["n"], rest["s"], rest["n"])
    else:
        frame["p_value"] = _welch_p_values(sums, rest)
    return frame


def _proportion_p_values(k1: pd.Series, n1: pd.Series, k2: pd.Series, n2: pd.Series) -> np.ndarray:
    """Two-sided p-value of "the group's rate equals the rest's": pooled z-test, or Fisher's
    exact test where an expected count is small (the z-test's normal approximation fails)."""
    k1, n1, k2, n2 = (np.asarray(x, float) for x in (k1, n1, k2, n2))
    p = 2 * stats.norm.sf(np.abs(pooled_proportion_z(k1, n1, k2, n2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (k1 + k2) / (n1 + n2)
        expected = np.minimum.reduce([n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)])
    for i in np.flatnonzero((expected < FISHER_BELOW) & (n1 > 0) & (n2 > 0)):
        table = [[k1[i], n1[i] - k1[i]], [k2[i], n2[i] - k2[i]]]
        p[i] = stats.fisher_exact(np.asarray(table, dtype=np.int64)).pvalue
    return np.where((n1 > 0) & (n2 > 0), p, np.nan)


def _welch_p_values(sums: pd.DataFrame, rest: pd.DataFrame) -> np.ndarray:
    """Welch's t-test of the group's mean against the rest's, from counts and sums."""
    n1, n2 = sums["n"].to_numpy(float), rest["n"].to_numpy(float)
    m1, v1 = _mean_and_variance(n1, sums["s"].to_numpy(float), sums["ss"].to_numpy(float))
    m2, v2 = _mean_and_variance(n2, rest["s"].to_numpy(float), rest["ss"].to_numpy(float))
    if len(n1) == 0:
        return np.empty(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.ttest_ind_from_stats(m1, np.sqrt(v1), n1, m2, np.sqrt(v2), n2, equal_var=False).pvalue
    identical = (v1 == 0) & (v2 == 0) & (m1 == m2)
    return np.where(identical, 1.0, np.asarray(p, float))


def _no_interval(value: Sequence[float], rest_value: Sequence[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"value": np.asarray(value, float)})
    frame["ci_low"] = frame["ci_high"] = np.nan
    frame["rest_value"] = np.asarray(rest_value, float)
    frame["diff"] = frame["value"] - frame["rest_value"]
    frame["p_value"] = np.nan
    return frame


def _multi_row_values(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    metric: str,
    condition: Sql | None,
    versions: pd.Series,
    predicates: Sequence[Predicate],
    cancel: CancelToken,
    with_rest: bool = True,
) -> tuple[list[float], list[float]]:
    """The metric over each predicate (and its complement) per version, through
    :func:`overall_metrics`, for metrics that are not a count or mean of rows. Only the pass
    the metric needs runs: AUC's for ROC AUC, the calibration bins for ECE (two scans per
    group, so a pass nobody reads cost each of them)."""

    per_version: dict[Predicate, dict[str | None, float]] = {}

    def value_of(predicate: Predicate, version: str | None) -> float:
        if predicate not in per_version:
            found = overall_metrics(Scope(store, dataset, roles, to_sql(predicate) & condition), cancel,
                                    with_auc=metric == "roc_auc", with_calibration=metric == "ece")
            per_version[predicate] = {
                entry.version: math.nan if entry.metrics.get(metric) is None else float(entry.metrics[metric])
                for entry in found
            }
        return per_version[predicate].get(version, math.nan)

    values, rests = [], []
    for predicate, version in zip(predicates, versions):
        values.append(value_of(predicate, version))
        rests.append(value_of(Not(predicate), version) if with_rest else math.nan)
    return values, rests


def breakdown_by(scope: Scope, column: str, metric: str = "error_rate", version: str | None = None, n_bins: int = 5,
                 edges: Sequence[float] | None = None, cancel: CancelToken = NEVER_CANCELLED) -> Breakdown:
    """Bin ``column`` as asked (``n_bins`` quantiles, or the user's ``edges``) and break down by it:
    the one call the breakdown panel makes per change of its settings."""
    store, dataset, condition = scope.store, scope.dataset, scope.condition
    binning = bin_column(store, dataset, column, condition, n_bins=n_bins, edges=edges or None, cancel=cancel)
    return breakdown(scope, column, metric, binning, version, cancel=cancel)


def crosstab_by(scope: Scope, row_column: str, col_column: str, metric: str = "error_rate",
                version: str | None = None, n_bins: int = 5, cancel: CancelToken = NEVER_CANCELLED) -> CrossTab:
    """Both columns binned with ``n_bins`` quantiles (or their values), then :func:`crosstab`."""
    store, dataset, condition = scope.store, scope.dataset, scope.condition
    rows = bin_column(store, dataset, row_column, condition, n_bins=n_bins, cancel=cancel)
    cols = bin_column(store, dataset, col_column, condition, n_bins=n_bins, cancel=cancel)
    return crosstab(scope, row_column, col_column, metric, rows, cols, version, cancel=cancel)
