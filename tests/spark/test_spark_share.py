"""``check --engine`` on a table beyond its share size reads a share of whole requests, and its
numbers are DuckDB's on the same rows.

Spark chooses the share by the salted MD5 of the request id, DuckDB by its own ``hash`` (which
Spark has no equal of, and which costs DuckDB less): the engines' shares are different requests.
DuckDB also computes Spark's form alike (:func:`analysis.engine.dialect.md5_share_condition`), so
here the local check is made to choose its share in Spark's form, and then the check's numbers
(the distribution tests on the share's histograms, the row scans, the findings' rows in the share)
are DuckDB's. The narrow demo log (20,000 rows) stands in for a large table, its share size
lowered by parameter to 10,000 rows: one request in two.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from analysis.triage.share import SHARE_SALT
from tests.spark.test_spark_engine import assert_same

pytestmark = pytest.mark.slow

SHARE_ROWS = 10_000
"""Half the narrow demo's 20,000 rows: a share of one request in two."""


def _requests_kept(ids: pd.Series, every: int) -> set[str]:
    """The requests whose salted MD5, as a number, lies below 2^128 / every (Python's hashlib:
    neither engine's)."""
    bound = -(-2 ** 128 // every)
    return {i for i in ids.unique() if int(hashlib.md5(f"{i}{SHARE_SALT}".encode()).hexdigest(), 16) < bound}


def _sketches_left_out(report: dict) -> dict:
    """The report without what each engine estimates by its own sketch: a stuck value's
    reference is the reference profile's distinct count (``approx_count_distinct``: DuckDB's
    HyperLogLog and Spark's HLL++ differ, 3,387 against 3,605 on this log), not the share's."""
    for finding in report["findings"]:
        for symptom in finding["symptoms"]:
            if symptom["kind"] == "stuck":
                symptom["reference"] = None
    return report


@pytest.fixture(scope="module")
def checked_on_both(narrow_demo_log, spark_url):
    """``check --json`` with ``--engine`` and without (its share chosen in Spark's form), and
    without a share."""
    import analysis.triage.share as share
    from tests.app.run_cli import sleuth_in_process

    argv = ["check", narrow_demo_log, "--sample-rows", SHARE_ROWS, "--json"]
    by_engine = share.share_condition
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(share, "share_condition", lambda key, every, engine: by_engine(key, every, "spark"))
        on_duckdb = json.loads(sleuth_in_process(*argv, check=True).stdout)
    on_spark = json.loads(sleuth_in_process(*argv, "--engine", spark_url, check=True).stdout)
    whole = json.loads(sleuth_in_process("check", narrow_demo_log, "--json", check=True).stdout)
    return on_spark, on_duckdb, whole


def test_the_share_on_spark_is_duckdbs_and_its_findings_are_too(checked_on_both, narrow_demo_log, spark_url):
    """The same share (its rows, one request in two by request_id's MD5, its sentence), and the same
    findings with their rows counted in it; no uniform sample is named beside it. The report's
    ``rows`` are the log's on this machine, as with a sample: the pulled share's with ``--engine``."""
    on_spark, on_duckdb, whole = checked_on_both
    log = pd.read_parquet(narrow_demo_log)
    kept = _requests_kept(log["request_id"], 2)
    share = {"rows": int(log["request_id"].isin(kept).sum()), "of_rows": len(log), "key": "request_id", "every": 2}
    assert {key: on_duckdb["share"][key] for key in share} == share
    assert on_spark.pop("counted") == {"rows": len(log), "engine": spark_url, "reference_rows": None}
    assert "sample" not in on_spark
    assert (on_spark.pop("rows"), on_duckdb.pop("rows")) == (share["rows"], len(log))  # the rows on this machine
    assert len(on_duckdb["findings"]) >= 3
    assert_same(_sketches_left_out(on_spark), _sketches_left_out(on_duckdb))
    assert [f["rows"] for f in on_duckdb["findings"]] != [f["rows"] for f in whole["findings"]], \
        "the share changes the rows the findings count: a check of every row is not what was compared"


def test_pulls_of_fresh_sessions_into_one_folder_keep_their_own_files(narrow_demo_log, spark_url, tmp_path):
    """Each session numbers its names from 1, so two sessions pulling the same table into one
    folder (the window's, pulling again; a benchmark's scratch folder, run again) once named the
    same file: the second pull failed on the first's folder. Each pull now has a folder of its own."""
    import pyarrow.parquet as pq

    from analysis.engine.sample import pull_rows
    from analysis.engine.spark_log import open_spark_table
    from analysis.engine.spark_store import SparkStore

    pulled = []
    for _ in range(2):
        store = SparkStore(spark_url)
        try:
            pulled.append(pull_rows(store, open_spark_table(store, [str(narrow_demo_log)]), tmp_path / "pulls", 500))
        finally:
            store.close()
    first, second = pulled
    assert first.path != second.path and first.path.parent.parent == second.path.parent.parent == tmp_path / "pulls"
    assert pq.read_metadata(first.path).num_rows == pq.read_metadata(second.path).num_rows == first.rows == 500
