"""Metrics per model version, overall and over time, computed by DuckDB over the log's view.

The heavy lifting is two SQL statements. The first groups rows by (version, true class,
predicted class, calibration bin) and returns additive counts and sums, a table of a few
dozen rows from which accuracy, precision, recall, F1, rates, mean score, log loss and the
calibration error all follow exactly. The second computes ROC AUC from a fine histogram of
scores per class, within a stated bound of the exact value (see :func:`_auc_by_group`).
"Over time" is the same two statements with the time bucket as one more group key, so a
metric means the same thing on the chart as in the summary.

Undefined values are None: precision with no predicted positive, AUC with one class, R²
with a constant label. They match scikit-learn with ``zero_division=np.nan`` (and a macro
average that skips classes where a value is undefined, as scikit-learn does with it).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.metrics.auc import (
    AUC_BINS, AUC_ERROR_BOUND, auc_source, group_numbers, histogram_auc, mann_whitney_auc, numbered_groups,
)
from analysis.metrics.outcomes import Outcomes, outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, where_clause
from analysis.data.roles import RoleMap, TaskType
from analysis.store import Store
from analysis.data.time import Bucket, choose_bucket, time_span, timestamp_expr
from analysis.scope import Scope
from analysis.stats.intervals import t_interval, wilson_interval

CLASSIFICATION = frozenset({TaskType.BINARY, TaskType.MULTICLASS})
REGRESSION = frozenset({TaskType.REGRESSION})


@dataclass(frozen=True)
class MetricInfo:
    """How the GUI lists a metric: its name, which direction is good, which tasks have it."""

    name: str
    display: str
    higher_is_better: bool
    tasks: frozenset[TaskType]
    needs_label: bool = True


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", "Accuracy", True, CLASSIFICATION),
        MetricInfo("error_rate", "Error rate", False, CLASSIFICATION),
        MetricInfo("precision", "Precision", True, CLASSIFICATION),
        MetricInfo("recall", "Recall", True, CLASSIFICATION),
        MetricInfo("f1", "F1", True, CLASSIFICATION),
        MetricInfo("roc_auc", "ROC AUC", True, CLASSIFICATION),
        MetricInfo("log_loss", "Log loss", False, CLASSIFICATION),
        MetricInfo("ece", "Expected calibration error", False, CLASSIFICATION),
        MetricInfo("positive_rate", "Positive rate (labels)", True, frozenset({TaskType.BINARY})),
        MetricInfo(
            "predicted_positive_rate", "Predicted positive rate", True,
            frozenset({TaskType.BINARY}), needs_label=False,
        ),
        MetricInfo("mean_score", "Mean score", True, CLASSIFICATION, needs_label=False),
        MetricInfo("mae", "MAE", False, REGRESSION),
        MetricInfo("rmse", "RMSE", False, REGRESSION),
        MetricInfo("r2", "R²", True, REGRESSION),
        MetricInfo("mean_prediction", "Mean prediction", True, REGRESSION, needs_label=False),
    )
}
"""Every metric Sleuth computes. ``higher_is_better`` is True for the descriptive rates too,
where neither direction is better, so the GUI has one sort order. Mean score is the mean
positive-class score (binary) or top-class probability (multiclass).

Expected calibration error uses 10 equal-width bins over [0, 1] of the positive-class score
(binary: ``sum_b n_b/N * |fraction positive in b - mean score in b|``) or of the top-class
probability (multiclass, "top-label" ECE: ``|accuracy of the top class in b - mean top
probability in b|``), over labelled rows with a valid score; a score of 1 falls in the top bin.
"""


@dataclass(frozen=True)
class VersionMetrics:
    """The metrics of one model version (``version`` None when the log has no version column)."""

    version: str | None
    rows: int
    labelled: int
    label_coverage: float
    invalid_scores: int
    metrics: dict[str, float | None]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """The 95% interval of each metric that has one (see :data:`PROPORTIONS`, :data:`MEANS`)."""
    few_rows: frozenset[str] = frozenset()
    """The metrics measured on too few rows to be read as a stable estimate (see :func:`few_rows`)."""


def metrics_for(task: TaskType) -> list[MetricInfo]:
    """The metrics a task has, in display order."""
    return [m for m in METRICS.values() if task in m.tasks]


def overall_metrics(scope: Scope, cancel: CancelToken = NEVER_CANCELLED, *, with_auc: bool = True,
                    with_calibration: bool = True,
                    partial: Callable[[list[VersionMetrics]], None] | None = None) -> list[VersionMetrics]:
    """Every metric of the task, one entry per model version, over rows matching ``condition``.

    Versions come in order of first appearance when there is a timestamp, else by name.
    ROC AUC (within ``AUC_ERROR_BOUND`` of the exact value) takes a second pass over the
    scored rows; ``with_auc=False`` leaves it None. ``with_calibration=False`` leaves ECE None
    and groups the pass by fewer keys (no calibration bin), for a caller that reads no ECE: a
    fifth of the pass's CPU. ``partial``, when given, gets every metric
    but AUC as soon as the first pass is done, so one job shows those first and then AUC
    without aggregating the log a second time (what a separate job without AUC cost).
    """
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    before_auc = None if partial is None else (lambda table: partial(_version_metrics(table, roles)))
    table = _metric_table(
        store, dataset, roles, condition, None, cancel, with_calibration=with_calibration, with_auc=with_auc,
        before_auc=before_auc,
    )
    return _version_metrics(table, roles)


def _version_metrics(table: pd.DataFrame, roles: RoleMap) -> list[VersionMetrics]:
    """The metric table's rows as :class:`VersionMetrics`, in order of first appearance."""
    if table.empty:
        return []
    names = [m.name for m in metrics_for(roles.task)]
    table = table.sort_values(["first_seen", "version"] if roles.timestamp else ["version"], na_position="last")
    return [
        VersionMetrics(
            version=None if pd.isna(row.version) else str(row.version),
            rows=int(row.rows),
            labelled=int(row.labelled),
            label_coverage=float(row.labelled / row.rows) if row.rows else 0.0,
            invalid_scores=int(row.invalid_scores),
            metrics={name: _number(getattr(row, name)) for name in names},
            intervals={name: (float(getattr(row, f"{name}_low")), float(getattr(row, f"{name}_high")))
                       for name in names if _has_interval(row, name)},
            few_rows=frozenset(name for name in names if getattr(row, f"{name}_few")),
        )
        for row in table.itertuples(index=False)
    ]


def _has_interval(row, name: str) -> bool:
    return f"{name}_low" in row._fields and not (pd.isna(getattr(row, f"{name}_low"))
                                                   or pd.isna(getattr(row, f"{name}_high")))


def metric_over_time(scope: Scope, metric: str = "accuracy", bucket: Bucket | None = None,
                     cancel: CancelToken = NEVER_CANCELLED) -> pd.DataFrame:
    """``metric`` per (version, time bucket) with rows, as columns
    ``version, bucket_start, value, low, high, few, rows, labelled`` (``value`` NaN where
    undefined; ``low``/``high`` its 95% interval, NaN where the metric has none; ``few`` True
    where the bucket has too few rows for a stable estimate, see :func:`few_rows`).

    ``bucket_start`` is a naive timestamp in UTC (a TIMESTAMP WITH TIME ZONE column is
    converted), so epoch seconds follow without a time-zone guess. Without ``bucket`` the
    width is chosen from the time span of the rows.
    """
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    info = METRICS.get(metric)
    if info is None or roles.task not in info.tasks:
        raise SchemaError(f"metric '{metric}' does not apply to a {roles.task.value} task")
    if roles.timestamp is None:
        raise SchemaError("metric over time needs a timestamp column")
    columns = SERIES_COLUMNS
    if bucket is None:
        span = time_span(scope)
        if span is None:
            return pd.DataFrame(columns=columns)
        bucket = choose_bucket(*span)
    table = _metric_table(
        store, dataset, roles, condition, bucket, cancel, with_calibration=metric == "ece",
        with_auc=metric == "roc_auc",
    )
    if table.empty:
        return pd.DataFrame(columns=columns)
    table = table.rename(columns={metric: "value", f"{metric}_few": "few"}).sort_values(
        ["version", "bucket_start"], na_position="last")
    table["value"] = table["value"].astype(float)
    table["low"] = table[f"{metric}_low"].astype(float) if f"{metric}_low" in table else np.nan
    table["high"] = table[f"{metric}_high"].astype(float) if f"{metric}_high" in table else np.nan
    table["few"] = table["few"].astype(bool)
    return table[columns].reset_index(drop=True)


SERIES_COLUMNS = ["version", "bucket_start", "value", "low", "high", "few", "rows", "labelled"]


@dataclass(frozen=True)
class MetricSeries:
    """A metric over time and the bucket width it was aggregated at (for the plot's caption)."""

    metric: str
    bucket: Bucket | None
    frame: pd.DataFrame


def metric_series(scope: Scope, metric: str = "accuracy", cancel: CancelToken = NEVER_CANCELLED) -> MetricSeries:
    """:func:`metric_over_time` at the bucket width chosen from the rows' time span."""
    span = time_span(scope)
    bucket = choose_bucket(*span) if span else None
    frame = metric_over_time(scope, metric, bucket, cancel) if bucket else pd.DataFrame(
        columns=SERIES_COLUMNS
    )
    return MetricSeries(metric, bucket, frame)


def _number(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _keys(bucket: Bucket | None) -> list[str]:
    return ["version"] if bucket is None else ["version", "bucket_start"]


def _metric_table(
    store: Store,
    dataset: Dataset,
    roles: RoleMap,
    condition: Sql | None,
    bucket: Bucket | None,
    cancel: CancelToken,
    *,
    with_calibration: bool,
    with_auc: bool,
    before_auc: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """One row per key (version, and bucket when given) with counts and every metric;
    ``before_auc`` gets the table without AUC before AUC's pass starts."""
    out = outcomes(roles, dataset.columns)
    rows = _outcome_rows(dataset, roles, out, condition, bucket)
    keys = _keys(bucket)
    if roles.task is TaskType.REGRESSION:
        return _regression_table(store.df(_regression_sql(rows, keys), cancel))
    groups = _with_labelled_sums(store.df(_classification_sql(rows, keys, with_calibration), cancel))
    table = _classification_table(groups, keys, roles.task, with_calibration)
    if with_auc and out.confidence is not None:
        if before_auc is not None:
            before_auc(table.assign(roc_auc=np.nan))
        scored = groups.loc[groups["scored_labelled"] > 0, keys].drop_duplicates()
        labelled = int(groups["scored_labelled"].sum())
        auc = _auc_table(_auc_pass(store)(store, rows, scored, out, cancel, labelled), keys)
        table = table.merge(auc, on=keys, how="left")
    else:
        table["roc_auc"] = np.nan
    return table


def _outcome_rows(
    dataset: Dataset, roles: RoleMap, out: Outcomes, condition: Sql | None, bucket: Bucket | None
) -> Sql:
    """SELECT of each row's outcome columns, the input of every aggregate below."""
    version = "CAST(NULL AS VARCHAR)" if roles.model_version is None else f"CAST({ident(roles.model_version)} AS VARCHAR)"
    ts = "CAST(NULL AS TIMESTAMP)" if roles.timestamp is None else timestamp_expr(dataset, roles)
    null = "NULL"
    columns = [
        f"{version} AS version",
        f"{ts} AS ts",
        f"{out.has_label} AS has_label",
        f"{out.y_true} AS y_true",
        f"{out.y_pred or null} AS y_pred",
        f"{out.confidence or 'CAST(NULL AS DOUBLE)'} AS confidence",
        f"{out.confidence_hit or null} AS confidence_hit",
        f"{out.calibration_bin or null} AS calibration_bin",
        f"{out.invalid_score} AS invalid_score",
        f"{out.log_loss or 'CAST(NULL AS DOUBLE)'} AS log_loss",
    ]
    if out.positive_score is not None:
        columns.append(f"{out.positive_score} AS s0")
    columns += [f"{score} AS s{i}" for i, score in enumerate(out.class_scores)]
    if bucket is not None:
        columns.append(f"{bucket.sql(ts)} AS bucket_start")
        condition = Sql(f"{ts} IS NOT NULL") & condition
    where = where_clause(condition)
    return Sql(f"SELECT {', '.join(columns)} FROM {ident(dataset.view)}{where.text}", where.params)


def _common_aggregates() -> list[str]:
    return [
        "COUNT(*) AS rows",
        "COUNT(*) FILTER (WHERE has_label) AS labelled",
        "COUNT(*) FILTER (WHERE invalid_score) AS invalid_scores",
        "MIN(ts) AS first_seen",
    ]


def _classification_sql(rows: Sql, keys: list[str], with_calibration: bool) -> Sql:
    """The metrics pass of a classifier. A class label is NULL exactly where the row has no
    label, and ``y_true`` is a group key, so the labelled rows' counts and sums are the
    groups' own where ``y_true`` is set (:func:`_with_labelled_sums`), not aggregates filtered
    on ``has_label``: three such filters took 0.11 of the pass's 0.92 CPU-s at 10M rows."""
    group = keys + ["y_true", "y_pred"] + (["calibration_bin"] if with_calibration else [])
    aggregates = [a for a in _common_aggregates() if " AS labelled" not in a] + [
        "COUNT(confidence) AS scored",
        "SUM(confidence) AS confidence_sum",
        "SUM(confidence * confidence) AS confidence_square_sum",
        # a calibration hit is NULL without a label (it is the label, or compares with it)
        "SUM(confidence_hit) FILTER (WHERE confidence IS NOT NULL) AS hit_sum",
        "COUNT(log_loss) AS log_loss_n",
        "SUM(log_loss) AS log_loss_sum",
        "SUM(log_loss * log_loss) AS log_loss_square_sum",
    ]
    text = f"SELECT {', '.join(group + aggregates)} FROM ({rows.text}) GROUP BY {', '.join(group)}"
    return Sql(text, rows.params)


def _with_labelled_sums(groups: pd.DataFrame) -> pd.DataFrame:
    """``groups`` of :func:`_classification_sql` with the labelled rows' count, scored count
    and confidence sum: the groups' own where the label is set, else 0."""
    labelled = groups["y_true"].notna()
    return groups.assign(labelled=groups["rows"].where(labelled, 0),
                         scored_labelled=groups["scored"].where(labelled, 0),
                         labelled_confidence_sum=groups["confidence_sum"].where(labelled, 0.0))


def _regression_sql(rows: Sql, keys: list[str]) -> Sql:
    scored = "y_true IS NOT NULL AND y_pred IS NOT NULL"
    aggregates = _common_aggregates() + [
        f"COUNT(*) FILTER (WHERE {scored}) AS evaluated",
        f"SUM(ABS(y_true - y_pred)) FILTER (WHERE {scored}) AS abs_error_sum",
        f"SUM((y_true - y_pred) * (y_true - y_pred)) FILTER (WHERE {scored}) AS squared_error_sum",
        f"VAR_POP(y_true) FILTER (WHERE {scored}) AS label_variance",
        "AVG(y_pred) AS mean_prediction",
        "COUNT(y_pred) AS predicted",
        "SUM(CAST(y_pred AS DOUBLE) * CAST(y_pred AS DOUBLE)) AS prediction_square_sum",
    ]
    text = f"SELECT {', '.join(keys + aggregates)} FROM ({rows.text}) GROUP BY {', '.join(keys)}"
    return Sql(text, rows.params)


def _ratio(numerator, denominator) -> np.ndarray:
    """numerator / denominator as floats, NaN where the denominator is 0 (the value is undefined).
    Takes columns or arrays and returns an array: the metric tables are a few rows, where a
    pandas operation's overhead is most of its cost."""
    denominator = np.asarray(denominator)
    return np.asarray(numerator, dtype=float) / np.where(denominator > 0, denominator.astype(float), np.nan)


def _regression_table(groups: pd.DataFrame) -> pd.DataFrame:
    table = groups.copy()
    table["mae"] = _ratio(table["abs_error_sum"], table["evaluated"])
    table["rmse"] = np.sqrt(_ratio(table["squared_error_sum"], table["evaluated"]))
    total_variance = table["label_variance"].astype(float) * table["evaluated"]
    table["r2"] = 1.0 - _ratio(table["squared_error_sum"], total_variance)
    table["mean_prediction"] = table["mean_prediction"].astype(float)
    table["prediction_sum"] = table["mean_prediction"].fillna(0.0) * table["predicted"]
    return with_intervals(table, TaskType.REGRESSION)


def _classification_table(
    groups: pd.DataFrame, keys: list[str], task: TaskType, with_calibration: bool
) -> pd.DataFrame:
    """Every classification metric per key from the (key, y_true, y_pred, bin) groups.

    The groups are a few dozen rows, so the per-row sums are numpy arrays put into one frame
    and the metrics one more frame joined at once: a pandas column set or operation per sum
    and metric was most of a metrics refresh's CPU on a 20k-row log (the suite refreshes
    hundreds of times)."""
    labelled = groups["y_true"].notna().to_numpy()
    predicted = groups["y_pred"].notna().to_numpy()
    evaluated = labelled & predicted
    n = groups["rows"].to_numpy()

    def rows_where(selected: np.ndarray) -> np.ndarray:
        return np.where(selected, n, 0)

    def sum_of(column: str) -> np.ndarray:
        return groups[column].fillna(0.0).to_numpy()

    sums = {
        "rows": n,
        "labelled": groups["labelled"].to_numpy(),
        "invalid_scores": groups["invalid_scores"].to_numpy(),
        "evaluated": rows_where(evaluated),
        "correct": rows_where(evaluated & (groups["y_true"] == groups["y_pred"]).to_numpy()),
        "with_label": rows_where(labelled),
        "with_prediction": rows_where(predicted),
        "scored": groups["scored"].to_numpy(),
        "confidence_sum": sum_of("confidence_sum"),
        "confidence_square_sum": sum_of("confidence_square_sum"),
        "log_loss_n": groups["log_loss_n"].to_numpy(),
        "log_loss_sum": sum_of("log_loss_sum"),
        "log_loss_square_sum": sum_of("log_loss_square_sum"),
    }
    if task is TaskType.BINARY:
        true_pos, pred_pos = (groups["y_true"] == 1).to_numpy(), (groups["y_pred"] == 1).to_numpy()
        sums["tp"] = rows_where(evaluated & true_pos & pred_pos)
        sums["fp"] = rows_where(evaluated & ~true_pos & pred_pos)
        sums["fn"] = rows_where(evaluated & true_pos & ~pred_pos)
        sums["label_positive"] = rows_where(labelled & true_pos)
        sums["predicted_positive"] = rows_where(predicted & pred_pos)
    table = pd.DataFrame({**{key: groups[key] for key in keys}, **sums}).groupby(keys, dropna=False, sort=False).sum()
    accuracy = _ratio(table["correct"], table["evaluated"])
    metrics = {
        # grouped as the sums are (by first appearance), so the rows line up with the table's
        "first_seen": groups.groupby(keys, dropna=False, sort=False)["first_seen"].min().to_numpy(),
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "mean_score": _ratio(table["confidence_sum"], table["scored"]),
        "log_loss": _ratio(table["log_loss_sum"], table["log_loss_n"]),
    }
    if task is TaskType.BINARY:
        tp, fp, fn = (table[name].to_numpy() for name in ("tp", "fp", "fn"))
        metrics["precision"] = _ratio(tp, tp + fp)
        metrics["recall"] = _ratio(tp, tp + fn)
        metrics["f1"] = _ratio(2 * tp, 2 * tp + fp + fn)
        metrics["positive_rate"] = _ratio(table["label_positive"], table["with_label"])
        metrics["predicted_positive_rate"] = _ratio(table["predicted_positive"], table["with_prediction"])
    table = pd.concat([table, pd.DataFrame(metrics, index=table.index)], axis=1)
    if task is not TaskType.BINARY:
        table = table.join(_macro_scores(groups[evaluated], keys))
    table["ece"] = _calibration_error(groups, keys) if with_calibration else np.nan
    return with_intervals(table.reset_index(), task)


PROPORTIONS: dict[str, tuple[str, str]] = {
    "accuracy": ("correct", "evaluated"),
    "error_rate": ("wrong", "evaluated"),
    "precision": ("tp", "predicted_tp_fp"),
    "recall": ("tp", "true_tp_fn"),
    "positive_rate": ("label_positive", "with_label"),
    "predicted_positive_rate": ("predicted_positive", "with_prediction"),
}
"""Metrics that are a share of rows, as (successes, trials) columns: Wilson's interval. Binary
only for precision and recall (a multiclass macro average is not one proportion)."""

MEANS: dict[str, tuple[str, str, str]] = {
    "mean_score": ("confidence_sum", "confidence_square_sum", "scored"),
    "log_loss": ("log_loss_sum", "log_loss_square_sum", "log_loss_n"),
    "mae": ("abs_error_sum", "squared_error_sum", "evaluated"),
    "mean_prediction": ("prediction_sum", "prediction_square_sum", "predicted"),
}
"""Metrics that are a mean over rows, as (sum, sum of squares, count) columns: Student's t
interval (an absolute error's square is the squared error, so MAE needs no extra sum)."""

FEW_SUCCESSES = 10
"""A share is "measured on few rows" when it has fewer than this many successes or failures:
the textbook condition (n·p ≥ 10 and n·(1-p) ≥ 10) under which the binomial is close enough
to normal for its interval and its point to be read as a stable estimate."""

FEW_ROWS = 30
"""A mean, or a metric without a closed-form interval (F1, ROC AUC, ECE, RMSE, R²), is
"measured on few rows" below this count: the textbook size from which the central limit
theorem lets a mean be read as normal."""


def with_intervals(table: pd.DataFrame, task: TaskType) -> pd.DataFrame:
    """``table`` with ``<metric>_low``/``_high`` (95% interval) for every share and mean, and
    ``<metric>_few`` for every metric: True where the rows behind it are too few (see
    :data:`FEW_SUCCESSES`, :data:`FEW_ROWS`). The new columns are numpy arrays joined as one
    frame (see :func:`_classification_table`)."""
    def column(name: str) -> np.ndarray:
        return added[name] if name in added else table[name].to_numpy()

    def has(name: str) -> bool:
        return name in added or name in table

    added: dict[str, np.ndarray] = {}
    basis = column("evaluated")  # the rows with a label and a prediction
    if task is not TaskType.REGRESSION:
        added["wrong"] = basis - column("correct")
    if task is TaskType.BINARY:
        added["predicted_tp_fp"] = column("tp") + column("fp")
        added["true_tp_fn"] = column("tp") + column("fn")
    for name in (m.name for m in metrics_for(task)):
        added[f"{name}_few"] = basis.astype(float) < FEW_ROWS
    for name, (hits, trials) in PROPORTIONS.items():
        if has(hits) and has(trials) and task in METRICS[name].tasks:
            k, n = column(hits).astype(float), column(trials).astype(float)
            added[f"{name}_low"], added[f"{name}_high"] = wilson_interval(k, n)
            added[f"{name}_few"] = np.minimum(k, n - k) < FEW_SUCCESSES
    for name, (total, squares, rows) in MEANS.items():
        if has(total) and task in METRICS[name].tasks:
            n = column(rows).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = column(total).astype(float) / n
                variance = np.maximum(column(squares).astype(float) - n * mean * mean, 0.0) / (n - 1)
            variance = np.where(n > 1, variance, np.nan)
            added[f"{name}_low"], added[f"{name}_high"] = t_interval(mean, variance, n)
            added[f"{name}_few"] = n < FEW_ROWS
    return pd.concat([table, pd.DataFrame(added, index=table.index)], axis=1)


def _macro_scores(evaluated: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Macro precision, recall and F1 over the classes seen as label or prediction per key,
    skipping a class where the value is undefined (as scikit-learn with zero_division=nan)."""
    as_true = evaluated.groupby(keys + ["y_true"], dropna=False)["rows"].sum().rename("true")
    as_pred = evaluated.groupby(keys + ["y_pred"], dropna=False)["rows"].sum().rename("pred")
    hits = evaluated[evaluated["y_true"] == evaluated["y_pred"]]
    tp = hits.groupby(keys + ["y_true"], dropna=False)["rows"].sum().rename("tp")
    as_true.index = as_true.index.set_names(keys + ["cls"])
    as_pred.index = as_pred.index.set_names(keys + ["cls"])
    tp.index = tp.index.set_names(keys + ["cls"])
    per_class = pd.concat([as_true, as_pred, tp], axis=1).fillna(0)
    per_class["precision"] = _ratio(per_class["tp"], per_class["pred"])
    per_class["recall"] = _ratio(per_class["tp"], per_class["true"])
    per_class["f1"] = _ratio(2 * per_class["tp"], per_class["true"] + per_class["pred"])
    return per_class.groupby(level=keys, dropna=False)[["precision", "recall", "f1"]].mean()


def _calibration_error(groups: pd.DataFrame, keys: list[str]) -> pd.Series:
    """ECE per key: sum over bins of |hits - confidence| divided by the labelled scored rows."""
    binned = groups[groups["calibration_bin"].notna()]
    per_bin = binned.groupby(keys + ["calibration_bin"], dropna=False)[
        ["scored_labelled", "labelled_confidence_sum", "hit_sum"]
    ].sum()
    gap = (per_bin["hit_sum"].astype(float) - per_bin["labelled_confidence_sum"]).abs()
    frame = pd.DataFrame({"gap": gap, "n": per_bin["scored_labelled"]})
    per_key = frame.groupby(level=keys, dropna=False).sum()
    return pd.Series(_ratio(per_key["gap"], per_key["n"]), index=per_key.index)


AUC_CHUNK_ROWS = 4_000_000
"""Labelled scores are counted into the histogram this many rows at a time: about 32 MB held per
count (dense, 96 MB sparse), so the pass stays within the memory budget at 100M rows."""


def _auc_pass(store: Store) -> Callable:
    """DuckDB's AUC pass streams the labelled scores into this process; on a cluster that is
    one row per labelled row over the network, so the engine counts the histogram there."""
    if store.engine == "duckdb":
        return _auc_by_group
    from analysis.metrics.engine_auc import auc_by_group_on_engine  # it builds on this module

    return auc_by_group_on_engine


def _auc_by_group(store: Store, rows: Sql, scored: pd.DataFrame, out: Outcomes, cancel: CancelToken,
                  labelled: int | None = None) -> pd.DataFrame:
    """ROC AUC per (keys, class) from a histogram of the scores, within ``AUC_ERROR_BOUND``.

    ``scored`` holds the keys that have labelled rows with a valid score (known from the
    metrics' own pass, which also counts them: ``labelled``, sizing the histogram), so the
    groups are numbered here and handed to the pass as constants (see :func:`~analysis.metrics.auc.group_numbers`): asking DuckDB for the distinct groups instead cost a whole
    extra scan of the log (about a quarter of AUC's time at 10M rows).

    Sorting the labelled scores by (group, score) in DuckDB was most of the cost (0.95 s of
    fetching them sorted against 0.22 s unsorted, 3M rows); a hash aggregate into fine bins
    in DuckDB was slower still. So DuckDB hands the rows over unsorted, in chunks, and numpy
    counts positives and negatives per (group, bin), a linear pass whose memory is one chunk
    and the histogram. The histogram gives every pair of rows in different bins exactly;
    pairs within a bin count one half, so the error is at most half their share of all pairs
    (zero in a bin holding a single distinct score). Where that bound exceeds
    ``AUC_ERROR_BOUND``, the rows of the bins with the most such pairs are read again and
    ranked exactly (see :func:`histogram_auc`).

    The row CTEs are ``NOT MATERIALIZED``: read twice (the pass, then the bins to rank),
    DuckDB would otherwise copy every labelled row into its buffers first, which took the
    process past 2 GB at 100M rows.
    """
    keys = list(scored.columns)
    if scored.empty:
        return pd.DataFrame(columns=keys + ["k", "g", "roc_auc"])
    per_row = len(out.classes) if out.positive_score is None else 1
    groups = numbered_groups(scored, per_row)
    numbered = group_numbers(groups, keys)
    common = (
        f"WITH scored_rows AS NOT MATERIALIZED ({rows.text}), labelled AS NOT MATERIALIZED ({auc_source(keys, out)}), "
        f"numbered AS NOT MATERIALIZED ({numbered.text}) "
    )
    params = (*rows.params, *numbered.params)
    histogram = ScoreHistogram(len(groups) * AUC_BINS, None if labelled is None else labelled * per_row)
    # DuckDB hands over (group, class, score) as they are, 13 bytes a row; numpy bins them.
    # Computing the 8-byte cell in SQL cost DuckDB twice the CPU of the scan (0.41 s against
    # 0.2 s at 10M rows) and widened every row handed over to 24 bytes.
    batches = store.numpy_chunks(Sql(common + "SELECT g, y, s FROM numbered WHERE g IS NOT NULL", params),
                                 AUC_CHUNK_ROWS, cancel)
    _count_beside(batches, histogram, cancel)

    def exact_within(g: int, bins: np.ndarray) -> np.ndarray:
        """The exact AUC inside each of the sorted ``bins`` of group ``g``, ranking their rows."""
        binned = f"SELECT y, s, {_score_bin_sql('s')} AS bin FROM numbered WHERE g = ?"
        chosen = store.numpy(Sql(common + f"SELECT bin, y, s FROM ({binned}) WHERE list_contains(?, bin) "
                                 "ORDER BY bin, s", (*params, g, bins.tolist())), cancel)
        position = np.searchsorted(bins, np.asarray(chosen["bin"], dtype=np.int64))
        return mann_whitney_auc(position, np.asarray(chosen["y"], dtype=np.float64),
                                np.asarray(chosen["s"], dtype=np.float64), len(bins))

    cells, count, positives, mixed = histogram.totals()
    group = cells // AUC_BINS
    groups["roc_auc"] = histogram_auc(group, cells % AUC_BINS, positives, count - positives, mixed,
                                      len(groups), exact_within, AUC_ERROR_BOUND)
    # A class score that is never valid on a key's labelled rows leaves its group empty:
    # it has no AUC to average, as when the groups were the distinct ones of the rows.
    # (Counted, not np.unique'd: unique over the ~1.8M occupied cells of 10M rows took 35 ms, this 2 ms.)
    return groups[np.bincount(group, minlength=len(groups))[groups["g"].to_numpy()] > 0]


def _count_beside(batches: Iterator[dict[str, np.ndarray]], histogram: "ScoreHistogram",
                  cancel: CancelToken = NEVER_CANCELLED) -> None:
    """Count each batch of (g, y, s) into ``histogram`` on a thread of its own while this one
    takes the next batch from DuckDB, one batch in flight.

    The pass is a chain: DuckDB scans and hands a batch over, numpy bins and counts it. In
    turns, one core sat idle (at 10M rows DuckDB's workers used 0.25 s of CPU in a pass of about
    1 s, the rest was this thread's numpy); side by side the two halves overlap. numpy's
    counting releases the interpreter lock in its loops, and its gathers hold it for one batch
    (~110k rows, a few ms), so neither half nor the GUI thread waits long for the other."""
    def count(batch: dict[str, np.ndarray]) -> None:
        score = np.asarray(batch["s"], dtype=np.float64)
        histogram.add(np.asarray(batch["g"], dtype=np.int64) * AUC_BINS + score_bins(score),
                      np.asarray(batch["y"], dtype=np.int64), score)

    with ThreadPoolExecutor(1, thread_name_prefix="sleuth-auc-count") as counter:
        pending = None
        for batch in batches:
            if pending is not None:
                pending.result()
            cancel.raise_if_cancelled()  # DuckDB may have handed over its last batches already
            pending = counter.submit(count, batch)
        if pending is not None:
            pending.result()


def score_bins(score: np.ndarray) -> np.ndarray:
    """The histogram bin of each valid score (in [0, 1]): ``floor(score * AUC_BINS)``, a score
    of 1 in the top bin. Exact, as :func:`_score_bin_sql` is: a power of two scales a double
    without rounding, so both sides agree on every bin edge."""
    return np.minimum((score * AUC_BINS).astype(np.int64), AUC_BINS - 1)


def _score_bin_sql(score: str) -> str:
    """:func:`score_bins` in SQL, for reading the rows of chosen bins again."""
    return f"CAST(least(floor({score} * {AUC_BINS}), {AUC_BINS - 1}) AS BIGINT)"


DENSE_HISTOGRAM_CELLS = 1 << 22
"""Up to this many cells (4 groups of ``AUC_BINS``), the histogram is four dense arrays (128 MB)
counted by ``bincount`` without sorting: 0.75 s of CPU for 9M rows of two groups against 2.0 s
for sorted unique cells. More groups (a metric per time bucket) keep only the cells that occur."""

DENSE_ROWS_PER_CELL = 1 / 8
"""...and only with at least this many rows per cell: filling and scanning the dense arrays
costs their width whatever the rows, sorting the occupied cells costs the rows. Two groups
(2M cells), CPU per histogram: 20k rows 37 ms dense against 1.7 ms sorted, 200k 96 against
22, 500k 39 against 96, 1M 87 against 172 (the same totals; every window and panel test opens a
20k-row log and pays the dense width at each metrics refresh)."""


class ScoreHistogram:
    """Rows, positives and whether more than one distinct score fell in each histogram cell
    (``group * AUC_BINS + bin``), added chunk by chunk as DuckDB hands them over; ``totals()``
    gives the occupied cells in order, so groups and bins come sorted.

    The cost of counting a batch is its rows plus, dense, the whole histogram's width (one
    ``bincount`` with ``minlength``), or, sparse, the cells seen so far (merged by ``unique``).
    DuckDB hands a filtered scan over in batches of about one row group (82 of 110k rows at
    10M), so rows are held until ``AUC_CHUNK_ROWS`` of them are counted at once: 82 small
    counts took twice the CPU of four large ones. Dense, only the packed ``2 * cell + y`` is
    held (8 bytes a row where copying cell, class and score into one batch took 24), and
    whether a cell's scores differ is settled per incoming batch against one score kept per
    cell: two ``ufunc.at`` (lowest and highest score per cell) cost 0.6 s of CPU at 10M rows.

    Even so, settling it took 0.25 of the 0.6 CPU-s of counting 9M rows (two gathers and a
    scatter over the 2M cells, most missing the cache), and for scores without ties it only
    says what the counts say: every cell holding two rows holds two scores. So the first batch
    is settled and looked at: when no cell of it holds two rows of one score, the rest are not
    settled (``settling`` off) and every cell holding more than one row counts as mixed. That
    can only overstate the mixed pairs, so the stated error bound still holds (at worst a few
    more bins are ranked exactly); scores with ties (a rounded score, a tree's few leaves) keep
    being settled exactly.
    """

    def __init__(self, n_cells: int, rows: int | None = None) -> None:
        """``rows``: how many will be added, when known (a few rows count sorted, see above)."""
        self.dense = n_cells <= DENSE_HISTOGRAM_CELLS and (rows is None or rows >= n_cells * DENSE_ROWS_PER_CELL)
        size = n_cells if self.dense else 0
        self.cells = np.arange(size, dtype=np.int64)
        self.count, self.positives = np.zeros(size), np.zeros(size)
        self.first, self.mixed = np.full(size, np.nan), np.zeros(size, dtype=bool)
        self.low, self.high = np.full(0, np.inf), np.full(0, -np.inf)  # sparse only: dense settles `mixed`
        self._held: list[tuple[np.ndarray, ...]] = []
        self._held_rows = 0
        self.settling = self.dense  # whether each cell's mixed flag is still being settled exactly
        self._ties = False  # two rows of one cell with one score seen: settle to the end

    def add(self, cell: np.ndarray, y: np.ndarray, score: np.ndarray) -> None:
        """Take one batch of rows (``y`` 0/1 integers); count the held rows once there are
        ``AUC_CHUNK_ROWS`` of them."""
        if self.dense:
            if self.settling:
                self.settling = self._mark_mixed(cell, score)
            self._held.append((cell * 2 + y,))
        else:
            self._held.append((cell, y, score))
        self._held_rows += len(cell)
        if self._held_rows >= AUC_CHUNK_ROWS:
            self._count_held()

    def _mark_mixed(self, cell: np.ndarray, score: np.ndarray) -> bool:
        """Mark the cells where a score differs from the first score kept for the cell: the
        cells holding more than one distinct score, exactly, in a few gathers per batch.
        Returns whether to go on settling: yes once two rows of a cell shared a score (ties),
        and while no row met another in a cell (nothing to judge by yet)."""
        kept = self.first[cell]
        new = np.isnan(kept)
        if new.any():
            self.first[cell[new]] = score[new]  # of repeated cells one write wins: any of its scores will do
            kept[new] = self.first[cell[new]]
        differs = score != kept
        self.mixed[cell[differs]] = True
        if self._ties:
            return True
        met_before = ~new  # rows of cells an earlier batch filled
        cells, rows = np.unique(cell, return_counts=True)
        repeated = rows > 1  # cells this batch fills twice or more
        self._ties = bool(np.any(met_before & ~differs) or np.any(repeated & ~self.mixed[cells]))
        return self._ties or not (met_before.any() or repeated.any())

    def _count_held(self) -> None:
        if not self._held:
            return
        held = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*self._held)]
        self._held, self._held_rows = [], 0
        if self.dense:
            # one unweighted bincount of 2 * cell + y counts negatives and positives of every cell
            # at once: a weighted count of rows and one of positives took twice as long
            by_class = np.bincount(held[0], minlength=2 * len(self.cells)).reshape(-1, 2)
            self.count += by_class[:, 0] + by_class[:, 1]  # a tenth of .sum(axis=1)'s time on two columns
            self.positives += by_class[:, 1]
            return
        cell, y, score = held
        merged = (np.concatenate(pair) for pair in zip((self.cells, self.count, self.positives, self.low, self.high),
                                                       (cell, np.ones(len(cell)), y, score, score)))
        cell, count, positives, low, high = merged
        self.cells, inverse = np.unique(cell, return_inverse=True)
        size = len(self.cells)
        self.count, self.positives = np.bincount(inverse, weights=count, minlength=size), np.bincount(
            inverse, weights=positives, minlength=size)
        self.low, self.high = np.full(size, np.inf), np.full(size, -np.inf)
        np.minimum.at(self.low, inverse, low)
        np.maximum.at(self.high, inverse, high)

    def totals(self) -> tuple[np.ndarray, ...]:
        """(cells, rows, positives, more than one distinct score) of the occupied cells."""
        self._count_held()
        kept = np.flatnonzero(self.count)
        if not self.dense:
            mixed = self.low < self.high
        elif self.settling:
            mixed = self.mixed
        else:  # settled only for the first batch: a cell with more rows counts as mixed
            mixed = self.mixed | (self.count > 1)
        return tuple(values[kept] for values in (self.cells, self.count, self.positives, mixed))


def _auc_table(per_class: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """AUC per key: the binary AUC, or the one-vs-rest macro mean, undefined (NaN) when any
    class lacks positives or negatives (scikit-learn refuses those)."""
    if per_class.empty:
        return pd.DataFrame(columns=keys + ["roc_auc"])
    grouped = per_class.groupby(keys, dropna=False, sort=False)["roc_auc"]
    macro = grouped.agg(lambda values: values.mean() if values.notna().all() else math.nan)
    return macro.rename("roc_auc").reset_index()


def model_versions(scope: Scope, cancel: CancelToken = NEVER_CANCELLED) -> list[str]:
    """The log's model versions as text, in order of first appearance in time (else by name)."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.model_version is None:
        return []
    version = f"CAST({ident(roles.model_version)} AS VARCHAR)"
    order = f"MIN({timestamp_expr(dataset, roles)})" if roles.timestamp else version
    rows = store.rows(
        Sql(f"SELECT {version} AS v FROM {ident(dataset.view)} WHERE {version} IS NOT NULL GROUP BY v ORDER BY {order}, v"),
        cancel,
    )
    return [r[0] for r in rows]
