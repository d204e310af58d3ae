"""Accuracy before the labels arrive, estimated from the model's own calibrated scores.

Labels often arrive days after a prediction. If the scores are calibrated, a binary score
``p`` says the positive class is right with probability ``p``; with threshold ``t`` the
predicted class is right with probability ``p`` when ``p >= t`` and ``1 - p`` otherwise
(the top-class probability for multiclass). The mean of that over rows is the *expected*
accuracy: confidence-based performance estimation (CBPE, as NannyML calls it). It is an
estimate and only as good as the calibration, which the metrics panel measures (ECE) on the
rows that do have labels; every name here says "estimated".
"""

from __future__ import annotations

import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.metrics.outcomes import outcomes
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import Sql, ident, literal, where_clause
from analysis.data.roles import RoleMap, TaskType
from analysis.data.time import Bucket, choose_bucket, time_span, timestamp_expr
from analysis.scope import Scope


def expected_correct_sql(dataset: Dataset, roles: RoleMap) -> str:
    """Each row's probability of being classified right, if its score is calibrated."""
    out = outcomes(roles, dataset.columns)
    if roles.task is TaskType.REGRESSION or out.confidence is None:
        raise SchemaError("estimated accuracy needs a classification log with probability scores")
    if roles.task is TaskType.MULTICLASS:
        return out.confidence
    threshold = literal(float(roles.threshold))
    score = out.positive_score
    return f"CASE WHEN {score} >= {threshold} THEN {score} WHEN {score} IS NOT NULL THEN 1.0 - {score} END"


def estimated_accuracy(scope: Scope, bucket: Bucket | None = None,
                       cancel: CancelToken = NEVER_CANCELLED) -> pd.DataFrame:
    """Estimated accuracy per model version (and time bucket when ``bucket`` is given).

    Columns: ``version``, ``bucket_start`` (with a bucket), ``rows``, ``scored`` and
    ``estimated_accuracy``. Rows without a valid score are left out of the estimate.
    """
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    version = "CAST(NULL AS VARCHAR)" if roles.model_version is None else f"CAST({ident(roles.model_version)} AS VARCHAR)"
    keys = [f"{version} AS version"]
    if bucket is not None:
        if roles.timestamp is None:
            raise SchemaError("estimated accuracy over time needs a timestamp column")
        keys.append(f"{bucket.sql(timestamp_expr(dataset, roles))} AS bucket_start")
    expected = expected_correct_sql(dataset, roles)
    where = where_clause(condition)
    names = ", ".join(k.rsplit(" AS ", 1)[1] for k in keys)
    text = (
        f"SELECT {', '.join(keys)}, COUNT(*) AS rows, COUNT({expected}) AS scored, "
        f"AVG({expected}) AS estimated_accuracy FROM {ident(dataset.view)}{where.text} "
        f"GROUP BY {names} ORDER BY {names}"
    )
    return store.df(Sql(text, where.params), cancel)


ESTIMATED_ACCURACY = "estimated_accuracy"
"""The time plot's name for this series; it is not in ``METRICS`` because no label is used."""


def estimated_accuracy_series(scope: Scope, cancel: CancelToken = NEVER_CANCELLED):
    """Estimated accuracy per version and time bucket, shaped like ``metric_series`` for the plot
    (``value`` is the estimate), at the bucket width chosen from the rows' time span."""
    from analysis.metrics.per_version import MetricSeries

    span = time_span(scope)
    if span is None:
        return MetricSeries(ESTIMATED_ACCURACY, None, pd.DataFrame(columns=["version", "bucket_start", "value"]))
    bucket = choose_bucket(*span)
    frame = estimated_accuracy(scope, bucket, cancel)
    frame = frame.rename(columns={"estimated_accuracy": "value"})
    frame["value"] = frame["value"].astype(float)
    return MetricSeries(ESTIMATED_ACCURACY, bucket, frame)
