"""Breakdowns and cross-tabs equal a plain pandas group-by on the same rows, group predicates
partition the rows, and the intervals and tests behave as the statistics say they should."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from analysis.metrics.per_version import AUC_ERROR_BOUND
from analysis.slicing.binning import bin_column
from analysis.slicing.breakdown import breakdown, crosstab
from analysis.data.loading import open_dataset
from analysis.query import ROW_ID, Sql, ident
from analysis.data.roles import RoleMap, TaskType
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.store import Store

N = 6000
ROLES = RoleMap(
    model_version="model_version", label="label", prediction="prediction", scores=("score",),
    task=TaskType.BINARY, positive_class="1",
)
EPS = np.finfo(float).eps


def make_log(n: int = N, seed: int = 3) -> pd.DataFrame:
    """Two versions; region R-bad has a 45% error rate, every other row 10%; nulls are random."""
    rng = np.random.default_rng(seed)
    regions = np.array([f"R{i}" for i in range(12)] + ["R-bad"])
    weights = np.r_[np.linspace(3, 1, 12), 1.5]
    region = rng.choice(regions, n, p=weights / weights.sum())
    label = rng.integers(0, 2, n)
    wrong = rng.uniform(size=n) < np.where(region == "R-bad", 0.45, 0.10)
    prediction = np.where(wrong, 1 - label, label)
    score = np.clip(np.where(prediction == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    frame = pd.DataFrame({
        "model_version": rng.choice(["v1", "v2"], n),
        "ts": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.uniform(0, 30 * 86400, n).round(), unit="s"),
        "label": label,
        "prediction": prediction,
        "score": score,
        "amount": rng.exponential(50, n).round(2),
        "items": rng.integers(0, 4, n),
        "region": region,
        "flag": rng.uniform(size=n) < 0.3,
    })
    for name, share in (("amount", 0.06), ("items", 0.03), ("region", 0.05), ("flag", 0.08), ("ts", 0.02)):
        frame[name] = frame[name].astype(object).where(rng.uniform(size=n) > share)
    frame["amount"] = frame["amount"].astype("Float64")
    frame["items"] = frame["items"].astype("Int64")
    frame["flag"] = frame["flag"].astype("boolean")
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    """The log in pandas (with the view's row ids) and the same rows opened as a dataset."""
    frame = make_log()
    path = tmp_path_factory.mktemp("breakdown") / "log.parquet"
    frame.to_parquet(path)
    store = Store(memory_limit="1GB", threads=2)
    dataset = open_dataset(store, path)
    ids = store.df(f"SELECT {ident(ROW_ID)} AS rid FROM {ident(dataset.view)}")["rid"].to_numpy()
    frame.index = ids
    frame["error"] = (frame["label"] != frame["prediction"]).astype(float)
    yield store, dataset, frame
    store.close()


def group_of_ranges(values: pd.Series, edges) -> pd.Series:
    """Group index as the binning orders range groups: below, then pandas.cut's right-closed
    bins (the first closed on both ends), above, null."""
    edges = list(edges)
    x = values.astype(float)
    inner = pd.cut(x, edges, labels=False, include_lowest=True) + 1
    index = np.where(x < edges[0], 0, np.where(x > edges[-1], len(edges), inner))
    return pd.Series(np.where(values.isna(), len(edges) + 1, index), index=values.index)


def expected(frame: pd.DataFrame, groups: pd.Series, value: str = "error") -> pd.DataFrame:
    grouped = frame.assign(g=groups).groupby(["model_version", "g"])
    table = pd.DataFrame({"rows": grouped.size(), "value": grouped[value].mean()}).reset_index()
    table["share"] = table["rows"] / table.groupby("model_version")["rows"].transform("sum")
    return table


def keyed(result):
    order = {g.key: i for i, g in enumerate(result.binning.groups)}
    frame = result.frame.assign(g=result.frame["group_key"].map(order))
    return frame.rename(columns={"version": "model_version"}).sort_values(["model_version", "g"]).reset_index(drop=True)


def assert_matches(result, frame: pd.DataFrame, groups: pd.Series, value: str = "error") -> None:
    want = expected(frame, groups, value).sort_values(["model_version", "g"]).reset_index(drop=True)
    got = keyed(result)
    assert list(got["g"]) == list(want["g"])
    assert list(got["model_version"]) == list(want["model_version"])
    np.testing.assert_array_equal(got["rows"].to_numpy(), want["rows"].to_numpy())
    np.testing.assert_allclose(got["share"], want["share"], rtol=1e-12)
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-12)


def test_quantile_bins_of_a_float_column_match_pandas(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "amount")
    edges = result.binning.edges
    finite = frame["amount"].dropna().astype(float)
    np.testing.assert_allclose(edges, np.unique(np.quantile(finite, np.linspace(0, 1, 6))), rtol=1e-12)
    assert result.binning.groups[1].label.startswith("[") and result.binning.groups[-3].label.endswith("]")
    assert result.binning.groups[-1].label == "null"
    assert_matches(result, frame, group_of_ranges(frame["amount"], edges))


def test_timestamp_column_is_binned_by_time(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "ts")
    edges = result.binning.edges
    assert len(edges) == 6
    epoch = pd.Timestamp("1970-01-01")
    as_seconds = (frame["ts"] - epoch).dt.total_seconds()
    edge_seconds = [(pd.Timestamp(e) - epoch).total_seconds() for e in edges]
    assert_matches(result, frame, group_of_ranges(as_seconds, edge_seconds))


def test_user_edges_give_right_closed_bins_and_overflow_groups(log):
    store, dataset, frame = log
    binning = bin_column(store, dataset, "amount", edges=[50, 10, 100])
    assert [g.label for g in binning.groups] == ["< 10", "[10, 50]", "(50, 100]", "> 100", "null"]
    result = breakdown(Scope(store, dataset, ROLES), "amount", binning=binning)
    assert_matches(result, frame, group_of_ranges(frame["amount"], [10, 50, 100]))


@pytest.mark.parametrize("column", ["amount", "items", "region", "flag", "ts"])
def test_group_predicates_partition_the_rows(log, column):
    store, dataset, frame = log
    binning = bin_column(store, dataset, column, top_k=5)
    seen: list[int] = []
    for group in binning.groups:
        where = to_sql(group.predicate)
        ids = store.df(Sql(f"SELECT {ident(ROW_ID)} AS rid FROM {ident(dataset.view)} WHERE {where.text}", where.params))
        seen += list(ids["rid"])
    assert sorted(seen) == sorted(frame.index)
    result = breakdown(Scope(store, dataset, ROLES), column, binning=binning)
    assert result.frame["rows"].sum() == len(frame)
    for row in result.frame.itertuples():
        where = to_sql(result.predicate_of(row.group_key)) & Sql(f"{ident('model_version')} = ?", (row.version,))
        count = store.scalar(Sql(f"SELECT count(*) FROM {ident(dataset.view)} WHERE {where.text}", where.params))
        assert count == row.rows


def test_top_k_values_and_other(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "region", binning=bin_column(store, dataset, "region", top_k=3))
    counts = frame["region"].value_counts()
    top = list(counts.sort_values(ascending=False, kind="stable").index[:3])
    labels = [g.label for g in result.binning.groups]
    assert labels == top + [f"other ({len(counts) - 3} values)", "null"]
    groups = frame["region"].map({v: i for i, v in enumerate(top)}).fillna(3)
    groups[frame["region"].isna()] = 4
    assert_matches(result, frame, groups)


def test_low_cardinality_numbers_and_booleans_get_one_group_per_value(log):
    store, dataset, frame = log
    items = breakdown(Scope(store, dataset, ROLES), "items")
    by_count = frame["items"].value_counts().sort_values(ascending=False, kind="stable")
    assert [g.label for g in items.binning.groups] == [str(v) for v in by_count.index] + ["null"]
    groups = frame["items"].map({v: i for i, v in enumerate(by_count.index)}).fillna(len(by_count))
    assert_matches(items, frame, groups)
    flags = breakdown(Scope(store, dataset, ROLES), "flag")
    assert sorted(g.label for g in flags.binning.groups) == ["false", "null", "true"]


def test_one_version_only(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "region", version="v2")
    assert set(result.frame["version"]) == {"v2"}
    v2 = frame[frame["model_version"] == "v2"]
    order = {g.predicate.value: i for i, g in enumerate(result.binning.groups) if hasattr(g.predicate, "value")}
    groups = v2["region"].map(order).fillna(len(order))
    groups[v2["region"].isna()] = len(order) + 1
    assert_matches(result, v2, groups)
    np.testing.assert_allclose(result.frame["share"].sum(), 1.0)


def test_intervals_equal_scipy_wilson(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "region", metric="accuracy")
    for row in result.frame.itertuples():
        in_group = frame.loc[frame["model_version"] == row.version]
        key_rows = store.df(_ids_sql(dataset, result.predicate_of(row.group_key)))["rid"]
        members = in_group.loc[in_group.index.intersection(key_rows)]
        k, n = int((members["error"] == 0).sum()), len(members)
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert row.ci_low == pytest.approx(ci.low, abs=1e-12)
        assert row.ci_high == pytest.approx(ci.high, abs=1e-12)


def _ids_sql(dataset, predicate) -> Sql:
    where = to_sql(predicate)
    return Sql(f"SELECT {ident(ROW_ID)} AS rid FROM {ident(dataset.view)} WHERE {where.text}", where.params)


def test_planted_bad_region_is_significant_and_null_group_is_not(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "region", binning=bin_column(store, dataset, "region", top_k=20))
    bad = result.frame[result.frame["label"] == "R-bad"]
    assert len(bad) == 2 and bad["significant"].all() and (bad["diff"] > 0.2).all()
    nulls = result.frame[result.frame["label"] == "null"]
    assert len(nulls) == 2 and not nulls["significant"].any()
    others = result.frame[result.frame["label"] != "R-bad"]
    assert (others.loc[others["significant"], "diff"] < 0).all(), "the rest holds R-bad, so only better groups stand out"
    for row in bad.itertuples():
        rows = frame[frame["model_version"] == row.version]
        in_group = rows["region"] == "R-bad"
        table = [[rows.loc[in_group, "error"].sum(), (1 - rows.loc[in_group, "error"]).sum()],
                 [rows.loc[~in_group, "error"].sum(), (1 - rows.loc[~in_group, "error"]).sum()]]
        z_p = stats.chi2_contingency(np.array(table), correction=False).pvalue
        assert row.p_value == pytest.approx(z_p, rel=1e-6)


def test_mean_metric_interval_and_welch_test_equal_scipy(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "flag", metric="log_loss")
    p = np.clip(frame["score"].to_numpy(), EPS, 1 - EPS)
    loss = pd.Series(np.where(frame["label"] == 1, -np.log(p), -np.log(1 - p)), index=frame.index)
    for row in result.frame.itertuples():
        rows = frame["model_version"] == row.version
        members = rows & frame.index.isin(store.df(_ids_sql(dataset, result.predicate_of(row.group_key)))["rid"])
        group, rest = loss[members], loss[rows & ~members]
        assert row.value == pytest.approx(group.mean(), rel=1e-9)
        assert row.rest_value == pytest.approx(rest.mean(), rel=1e-9)
        interval = stats.t.interval(0.95, len(group) - 1, loc=group.mean(), scale=stats.sem(group))
        assert (row.ci_low, row.ci_high) == pytest.approx(interval, rel=1e-9)
        assert row.p_value == pytest.approx(stats.ttest_ind(group, rest, equal_var=False).pvalue, rel=1e-6)


def test_multi_row_metric_without_interval(log):
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "flag", metric="roc_auc", version="v1")
    rows = frame[frame["model_version"] == "v1"]
    for row in result.frame.itertuples():
        members = rows.index.isin(store.df(_ids_sql(dataset, result.predicate_of(row.group_key)))["rid"])
        # ROC AUC is within its stated bound of the exact value (see per_version.AUC_ERROR_BOUND).
        assert row.value == pytest.approx(roc_auc_score(rows.loc[members, "label"], rows.loc[members, "score"]),
                                          abs=AUC_ERROR_BOUND)
        assert row.rest_value == pytest.approx(roc_auc_score(rows.loc[~members, "label"], rows.loc[~members, "score"]),
                                               abs=AUC_ERROR_BOUND)
    assert result.frame[["ci_low", "ci_high", "p_value"]].isna().all().all()



def pandas_ece(rows: pd.DataFrame) -> float:
    """Expected calibration error of the positive-class score: 10 equal-width bins over [0, 1]
    (a score of 1 in the top one), ``sum_b n_b/N * |fraction positive in b - mean score in b|``."""
    scored = rows[rows["label"].notna() & rows["score"].notna()]
    bins = np.minimum(np.floor(scored["score"].to_numpy(float) * 10), 9)
    per_bin = scored.assign(bin=bins).groupby("bin").agg(n=("score", "size"), hit=("label", "mean"),
                                                         confidence=("score", "mean"))
    return float((per_bin["n"] * (per_bin["hit"] - per_bin["confidence"]).abs()).sum() / len(scored))


def test_calibration_error_by_group_equals_pandas(log):
    """ECE is read from the calibration bins, which the other multi-row metrics leave out."""
    store, dataset, frame = log
    result = breakdown(Scope(store, dataset, ROLES), "flag", metric="ece", version="v2")
    rows = frame[frame["model_version"] == "v2"]
    assert len(result.frame) == 3  # true, false, null
    for row in result.frame.itertuples():
        members = rows.index.isin(store.df(_ids_sql(dataset, result.predicate_of(row.group_key)))["rid"])
        assert row.value == pytest.approx(pandas_ece(rows[members]), rel=1e-9)
        assert row.rest_value == pytest.approx(pandas_ece(rows[~members]), rel=1e-9)

def test_crosstab_equals_pivot_table(log):
    store, dataset, frame = log
    region = bin_column(store, dataset, "region", top_k=4)
    table = crosstab(Scope(store, dataset, ROLES), "region", "flag", row_binning=region, version="v1")
    rows = frame[frame["model_version"] == "v1"]
    labels = rows["region"].where(rows["region"].isin([g.label for g in region.groups]), "other (9 values)")
    labels = labels.where(rows["region"].notna(), "null")
    flag = rows["flag"].map({True: "true", False: "false"}).astype(object).where(rows["flag"].notna(), "null")
    want = pd.DataFrame({"r": labels, "c": flag, "error": rows["error"]}).pivot_table(
        index="r", columns="c", values="error", aggfunc=["mean", "count"]
    )
    assert len(table.frame) == want["count"].notna().sum().sum()
    for cell in table.frame.itertuples():
        assert cell.value == pytest.approx(want[("mean", cell.col_label)][cell.row_label], rel=1e-12)
        assert cell.rows == want[("count", cell.col_label)][cell.row_label]
        assert cell.ci_low <= cell.value <= cell.ci_high
    first = table.frame.iloc[0]
    where = to_sql(table.predicate_of(first["row_key"], first["col_key"])) & Sql("model_version = 'v1'")
    count = store.scalar(Sql(f"SELECT count(*) FROM {ident(dataset.view)} WHERE {where.text}", where.params))
    assert count == first["rows"]


@pytest.mark.parametrize("edge", [float("inf"), float("-inf"), float("nan"), float("1e309")])
def test_edges_that_are_not_finite_are_refused_with_a_sentence(log, edge):
    from analysis.errors import SchemaError

    store, dataset, _frame = log
    with pytest.raises(SchemaError, match="finite"):
        bin_column(store, dataset, "amount", edges=[0, edge])
