"""The demo data: files that load, a manifest that holds on the rows, and real incident effects.

Generation (which trains two models) runs once per module; a second run checks determinism
and a small clean run checks that ``incidents=False`` is really clean. Manifest predicates are
evaluated as SQL over the written files, so a predicate that does not hold fails here.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import skops.io
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from analysis.demo.generate import TRAINING_ROWS, generate_demo
from analysis.demo.models import NEW_VERSION, OLD_VERSION
from analysis.demo.world import FEATURES
from analysis.progress import CancelToken, Cancelled

ROWS = 200_000  # the null burst covers ~0.3% of rows: fewer would leave it a handful of errors
SEED = 7


def _of_rows_and_seed(files):
    """A demo the run shares (tests/conftest.py), checked to be of ``ROWS`` rows and ``SEED``: the
    suite generates it once for its other tests, where generating it here again cost a demo
    (its log, and both models trained again)."""
    manifest = json.loads(files.manifest.read_text(encoding="utf-8"))
    assert (manifest["rows"], manifest["seed"]) == (ROWS, SEED)
    return files


@pytest.fixture(scope="module")
def demo(demo_files):
    return _of_rows_and_seed(demo_files)


@pytest.fixture(scope="module")
def clean(clean_demo_files):
    """The same demo without incidents."""
    return _of_rows_and_seed(clean_demo_files)


@pytest.fixture(scope="module")
def manifest(demo):
    return json.loads(demo.manifest.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def incidents(manifest):
    return {incident["id"]: incident for incident in manifest["incidents"]}


@pytest.fixture(scope="module")
def con(demo):
    connection = duckdb.connect()
    connection.read_parquet(str(demo.log)).create_view("log")
    connection.read_parquet(str(demo.training)).create_view("training")
    yield connection
    connection.close()


def count(con, sql: str) -> int:
    return con.execute(sql).fetchall()[0][0]


def error_rates(con, predicate: str) -> tuple[float, float]:
    """Error rate of labelled rows inside and outside ``predicate`` (both versions pooled)."""
    inside, outside = con.execute(
        f"SELECT avg((prediction <> is_fraud)::INT) FILTER (WHERE {predicate}),"
        f" avg((prediction <> is_fraud)::INT) FILTER (WHERE NOT ({predicate}))"
        " FROM log WHERE is_fraud IS NOT NULL"
    ).fetchall()[0]
    return inside, outside


def test_files_load_with_the_documented_schema(demo, con, manifest):
    assert demo.log.exists() and demo.training.exists() and demo.manifest.exists()
    assert set(demo.models) == {OLD_VERSION, NEW_VERSION}
    assert all(path.exists() for path in demo.models.values())
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE log)").fetchall())
    assert types["request_id"] == "VARCHAR" and types["timestamp"] == "TIMESTAMP"
    assert list(types) == (
        ["request_id", "timestamp", "model_version", *FEATURES, "score", "prediction", "is_fraud"]
    )
    assert count(con, "SELECT count(*) FROM log") == ROWS == manifest["rows"]
    assert len(pd.read_parquet(demo.log, columns=["score"])) == ROWS
    start, end = con.execute("SELECT min(timestamp), max(timestamp) FROM log").fetchall()[0]
    assert (end - start).days == 29
    training = pd.read_parquet(demo.training)
    assert len(training) == TRAINING_ROWS and training["row_id"].is_unique
    assert 0.03 <= training["is_fraud"].mean() <= 0.06
    assert 3 <= training["source"].nunique() <= 6
    assert manifest["files"]["models"] == {v: f"models/{v}.skops" for v in demo.models}
    assert [v["version"] for v in manifest["versions"]] == [OLD_VERSION, NEW_VERSION]


def test_versions_score_overlapping_traffic_once_each(con):
    assert count(con, "SELECT count(*) - count(DISTINCT (request_id, model_version)) FROM log") == 0
    per_request = con.execute(
        "SELECT count(*) FILTER (WHERE n = 2), count(*) FILTER (WHERE n = 1 AND v = ?),"
        " count(*) FILTER (WHERE n = 1 AND v = ?)"
        " FROM (SELECT request_id, count(*) AS n, any_value(model_version) AS v"
        "       FROM log GROUP BY request_id)",
        [OLD_VERSION, NEW_VERSION],
    ).fetchall()[0]
    both, old_only, new_only = per_request
    assert both > 0.3 * ROWS / 2 and old_only > 0 and new_only > 0
    new_start = con.execute(
        "SELECT min(timestamp) FROM log WHERE model_version = ?", [NEW_VERSION]
    ).fetchall()[0][0]
    assert new_start.day == 8


def test_manifest_lists_six_incidents(manifest, incidents):
    assert list(incidents) == ["a", "b", "c", "d", "e", "f"]
    kinds = [incidents[key]["kind"] for key in "abcdef"]
    assert kinds == ["null_burst", "swapped_columns", "label_noise", "weak_subpopulation",
                     "gradual_drift", "label_delay"]
    for incident in manifest["incidents"]:
        assert incident["description"] and incident["columns"] and incident["versions"]
        assert incident["rows_affected"] > 0
    assert manifest["seed"] == SEED and manifest["threshold"] == 0.5
    assert manifest["generated_at"].startswith("2026-")


def test_null_burst_is_exactly_the_predicate_and_raises_errors(con, incidents):
    burst = incidents["a"]
    column = burst["columns"][0]
    nulls = count(con, f"SELECT count(*) FROM log WHERE {column} IS NULL")
    in_predicate = count(con, f"SELECT count(*) FROM log WHERE {burst['predicate']}")
    nulls_in_predicate = count(
        con, f"SELECT count(*) FROM log WHERE {column} IS NULL AND {burst['predicate']}"
    )
    assert nulls == nulls_in_predicate == in_predicate == burst["rows_affected"]
    start, end = burst["window"]
    assert end[:10] == start[:10] and start < end
    inside, outside = error_rates(con, burst["predicate"])
    assert inside > 1.5 * outside
    for version, effect in burst["effect"].items():
        assert effect["inside"]["error_rate"] > effect["outside"]["error_rate"], version


def test_swapped_client_sends_swapped_distributions_and_gets_more_errors(con, incidents):
    swap = incidents["b"]
    client = swap["predicate"].split("'")[1]
    medians = con.execute(
        f"SELECT median(amount) FILTER (WHERE {swap['predicate']}),"
        f" median(distance_from_home_km) FILTER (WHERE {swap['predicate']}),"
        " median(amount) FILTER (WHERE client = ? AND NOT ({p})),"
        " median(distance_from_home_km) FILTER (WHERE client = ? AND NOT ({p}))"
        " FROM log".format(p=swap["predicate"]),
        [client, client],
    ).fetchall()[0]
    swapped_amount, swapped_distance, amount_before, distance_before = medians
    assert swapped_amount == pytest.approx(distance_before, rel=0.15)
    assert swapped_distance == pytest.approx(amount_before, rel=0.15)
    assert swapped_distance > 3 * swapped_amount
    in_predicate = count(con, f"SELECT count(*) FROM log WHERE {swap['predicate']}")
    assert in_predicate == swap["rows_affected"]
    inside, outside = error_rates(con, swap["predicate"])
    assert inside > 1.5 * outside


def test_flipped_training_labels_are_the_listed_rows(demo, clean, incidents):
    noise = incidents["c"]
    noisy = pd.read_parquet(demo.training)
    truth = pd.read_parquet(clean.training)  # same seed, no flips: the true labels
    differs = noisy["row_id"][noisy["is_fraud"] != truth["is_fraud"]]
    assert sorted(differs) == noise["flipped_row_ids"]
    flipped = noisy.set_index("row_id").loc[noise["flipped_row_ids"]]
    assert (flipped["merchant_category"] == noise["category"]).all()
    assert (flipped["source"] == noise["source"]).all()
    category_rows = (noisy["merchant_category"] == noise["category"]).sum()
    assert 0.03 <= len(flipped) / category_rows <= 0.08


def _scores(con, predicate: str = "TRUE") -> pd.DataFrame:
    return con.execute(
        "SELECT request_id, model_version, score, prediction, is_fraud FROM log"
        f" WHERE is_fraud IS NOT NULL AND {predicate}"
    ).df()


def test_new_version_is_better_overall_but_worse_on_the_weak_slice(con, incidents):
    weak = incidents["d"]
    assert weak["versions"] == [NEW_VERSION]
    metrics = {}
    for name, predicate in (("all", "TRUE"), ("slice", weak["predicate"])):
        rows = _scores(con, predicate)
        for version, group in rows.groupby("model_version"):
            metrics[name, version] = (
                accuracy_score(group["is_fraud"], group["prediction"]),
                roc_auc_score(group["is_fraud"], group["score"]),
                log_loss(group["is_fraud"], group["score"]),
            )
    old_all, new_all = metrics["all", OLD_VERSION], metrics["all", NEW_VERSION]
    assert new_all[0] > old_all[0] + 0.005 and new_all[1] > old_all[1] + 0.003
    assert new_all[2] < 0.8 * old_all[2]
    old_slice, new_slice = metrics["slice", OLD_VERSION], metrics["slice", NEW_VERSION]
    assert new_slice[0] < old_slice[0] - 0.01 and new_slice[2] > old_slice[2]

    paired = _scores(con, weak["predicate"]).pivot(
        index="request_id", columns="model_version", values=["prediction", "is_fraud"]
    ).dropna()
    old_right = paired["prediction", OLD_VERSION] == paired["is_fraud", OLD_VERSION]
    new_right = paired["prediction", NEW_VERSION] == paired["is_fraud", NEW_VERSION]
    negative_flips = int((old_right & ~new_right).sum())
    positive_flips = int((~old_right & new_right).sum())
    assert binomtest(negative_flips, negative_flips + positive_flips, 0.5).pvalue < 1e-4
    assert negative_flips > positive_flips


def test_usual_spend_drifts_only_with_incidents(con, clean, incidents):
    drift = incidents["e"]
    column = drift["columns"][0]
    daily = con.execute(
        f"SELECT avg({column}) FROM log GROUP BY date_trunc('day', timestamp)"
        " ORDER BY date_trunc('day', timestamp)"
    ).fetchall()
    assert daily[-1][0] / daily[0][0] == pytest.approx(1.29, abs=0.08)
    assert drift["relative_change_per_day"] == pytest.approx(0.01, abs=0.003)
    clean_log = pd.read_parquet(clean.log, columns=["timestamp", column])
    clean_daily = clean_log.groupby(clean_log["timestamp"].dt.date)[column].mean()
    assert clean_daily.iloc[-1] / clean_daily.iloc[0] == pytest.approx(1.0, abs=0.08)


def test_labels_of_the_last_days_are_missing(con, incidents):
    delay = incidents["f"]
    in_window = f"FROM log WHERE {delay['predicate']}"
    assert count(con, f"SELECT count(*) FILTER (WHERE is_fraud IS NOT NULL) {in_window}") == 0
    assert count(con, f"SELECT count(*) {in_window}") == delay["rows_affected"]
    last_day = con.execute("SELECT max(timestamp) FROM log").fetchall()[0][0]
    first_missing = con.execute(f"SELECT min(timestamp) {in_window}").fetchall()[0][0]
    assert (last_day.date() - first_missing.date()).days == 2
    older_missing = count(
        con, f"SELECT count(*) FROM log WHERE is_fraud IS NULL AND NOT ({delay['predicate']})"
    )
    assert older_missing == delay["older_unlabelled_rows"]
    assert 0 < older_missing < 0.03 * ROWS


def test_same_seed_gives_identical_files(demo, manifest, tmp_path):
    again = generate_demo(tmp_path, rows=ROWS, seed=SEED)
    assert pq.read_table(again.log).equals(pq.read_table(demo.log))
    assert pq.read_table(again.training).equals(pq.read_table(demo.training))
    assert json.loads(again.manifest.read_text(encoding="utf-8")) == manifest


def test_clean_variant_has_no_incidents(clean):
    log = pd.read_parquet(clean.log)
    manifest = json.loads(clean.manifest.read_text(encoding="utf-8"))
    assert manifest["incidents"] == []
    assert list(log.columns) == ["request_id", "timestamp", "model_version", *FEATURES,
                                 "score", "prediction", "is_fraud"]
    assert not log.isna().any().any()  # no null burst, every label present
    stark = log[log["client"] == "stark-pay"]
    late = stark["timestamp"] >= "2026-10-18"
    assert stark["amount"][late].median() == pytest.approx(stark["amount"][~late].median(), rel=0.15)
    assert {v["training_rows"] for v in manifest["versions"]} == {TRAINING_ROWS}


def test_models_reload_with_skops_and_reproduce_logged_scores(demo, con, incidents):
    untouched = f"NOT ({incidents['a']['predicate']}) AND NOT ({incidents['b']['predicate']})"
    for version, path in demo.models.items():
        model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        rows = con.execute(
            f"SELECT * FROM log WHERE model_version = ? AND {untouched}"
            " ORDER BY hash(request_id) LIMIT 300",
            [version],
        ).df()
        assert len(rows) == 300
        rescored = model.predict_proba(rows[list(FEATURES)])[:, 1]
        np.testing.assert_allclose(rescored, rows["score"], rtol=1e-9, atol=1e-12)


def test_cancel_leaves_no_log_behind(tmp_path):
    token = CancelToken()

    def cancel_when_writing(fraction: float, message: str = "") -> None:
        if "prediction log" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        generate_demo(tmp_path, rows=5_000, progress=cancel_when_writing, cancel=token)
    assert not any(path.name.startswith("predictions") for path in tmp_path.iterdir())
