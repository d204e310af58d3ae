"""A log beyond the share size: its row-level checks read a stated share of whole requests, and
still find the planted incidents; at or below it nothing changes and nothing says so.

The 200k demo stands in for a large log, its share size lowered by parameter to 100,000 rows
(one request in two): no test builds a large log."""

import hashlib
import json
import os
import re

import pandas as pd
import pytest
from scipy.stats import binom

from analysis.data.open_log import load_log
from analysis.query import ident
from analysis.scope import Scope
from analysis.store import Store
from analysis.triage.check_report import CheckSettings, finding_to_dict, report_text, run_check
from analysis.triage.share import SHARE_SALT, request_share, share_condition
from tests.app.run_cli import sleuth_in_process

SHARE_ROWS = 100_000
"""Half the demo's 200,000 rows: a share of one request in two."""


def located(finding: dict) -> tuple:
    """What a finding says and where (its evidence holds Monte Carlo p-values of its own)."""
    return tuple(json.dumps(finding[key], default=str) for key in ("key", "window", "slice", "rows", "severity", "sentence"))


def overlaps(window, planted) -> bool:
    start, end = (pd.Timestamp(t).to_pydatetime() for t in planted)
    return window[0] <= end and start < window[1]


@pytest.fixture(scope="module")
def shared_check(demo_files):
    store = Store(memory_limit="1GB")
    try:
        yield run_check(store, [str(demo_files.log)], CheckSettings(share_rows=SHARE_ROWS))
    finally:
        store.close()


def test_the_planted_incidents_are_found_on_the_share_with_their_columns_and_windows(shared_check, demo_files):
    incidents = {i["id"]: i for i in json.loads(demo_files.manifest.read_text())["incidents"]}
    by_kind = {f.kind: f for f in shared_check.findings[:2]}
    assert set(by_kind) == {"null_burst", "swap"}
    burst, swap = by_kind["null_burst"], by_kind["swap"]
    assert (burst.columns, burst.slice_text) == (("merchant_risk",), "region = 'EU-West'")
    start, end = (pd.Timestamp(t).to_pydatetime() for t in incidents["a"]["window"])
    assert start - pd.Timedelta(hours=1) <= burst.window[0] <= start and end <= burst.window[1] <= end + pd.Timedelta(hours=1)
    assert set(swap.columns) == set(incidents["b"]["columns"]) and swap.slice_text == "client = 'stark-pay'"
    assert overlaps(swap.window, incidents["b"]["window"])
    assert {f.severity for f in (burst, swap)} == {"alert"}


def test_the_share_holds_whole_requests_about_the_stated_share(demo_files, store):
    """Every request in the share has all of its rows there (both versions' copies), the
    share's size is one request in two within binomial noise, and its rows keep their row ids."""
    loaded = load_log(store, [str(demo_files.log)], check=False)
    whole = Scope(store, loaded.dataset, loaded.roles)
    everything = store.df(f"SELECT * FROM {ident(loaded.dataset.view)}")
    with request_share(whole, SHARE_ROWS) as (shared, share):
        rows = store.df(f"SELECT * FROM {ident(shared.dataset.view)}")
        scratch = re.search(r"read_parquet\('([^']+)'\)", store.scalar(
            f"SELECT sql FROM duckdb_views() WHERE view_name = '{shared.dataset.view}'")).group(1)
        assert os.path.exists(scratch)
    requests = everything.groupby("request_id").size()
    kept = rows.groupby("request_id").size()
    assert (kept == requests[kept.index]).all()
    assert (share.rows, share.of_rows, share.every, share.key) == (len(rows), 200_000, 2, "request_id")
    assert binom.ppf(1e-6, len(requests), 0.5) <= len(kept) <= binom.ppf(1 - 1e-6, len(requests), 0.5)
    original = everything.set_index(loaded.dataset.row_id).loc[rows[loaded.dataset.row_id]]
    assert (original["request_id"].to_numpy() == rows["request_id"].to_numpy()).all()
    assert shared.dataset.view not in set(store.df("SELECT view_name FROM duckdb_views()").view_name)
    assert not os.path.exists(os.path.dirname(scratch))  # the scratch file and its folder are deleted


def test_every_output_states_the_share_and_the_json_holds_its_rows(shared_check, demo_files, monkeypatch):
    """The command's JSON from a check of its own; its text from the module's check, which the
    command is handed (the same log and share size, asserted): the text is that run's report."""
    import analysis.triage.check_report as check_report

    sentence = (f"distribution tests, row scans, localisation, examples and the findings' row counts: computed on a "
                f"{shared_check.share.rows:,}-row share of 200,000 rows (1 in 2 requests, by a hash of request_id)")
    text = report_text(shared_check)
    assert text.splitlines()[0] == sentence
    assert all(line.endswith("rows in the share)") for line in text.splitlines() if re.match(r"\d+\. \[", line))
    shown = sleuth_in_process("check", demo_files.log, "--sample-rows", SHARE_ROWS, "--json", check=True)
    report = json.loads(shown.stdout)
    assert report["share"] == {"rows": shared_check.share.rows, "of_rows": 200_000, "key": "request_id", "every": 2,
                               "sentence": sentence}
    assert [located(f) for f in report["findings"]] == [located(finding_to_dict(f)) for f in shared_check.findings]
    asked = []
    monkeypatch.setattr(check_report, "run_check", lambda store, paths, settings, **_: asked.append(
        (list(paths), settings.share_rows)) or shared_check)
    assert sleuth_in_process("check", demo_files.log, "--sample-rows", SHARE_ROWS, check=True).stdout == text + "\n"
    assert asked == [([str(demo_files.log)], SHARE_ROWS)]


def test_a_log_at_the_share_size_is_checked_whole_and_says_nothing_of_a_share(demo_files, demo_check):
    """At the share size (200,000 rows, the demo's) nothing is copied: no share, no statement,
    and exactly the findings of the default check (share size 10M: the session's ``demo_check``)."""
    assert demo_check.share is None
    shown = sleuth_in_process("check", demo_files.log, "--sample-rows", 200_000, "--json", check=True)
    report = json.loads(shown.stdout)
    assert "share" not in report and "share" not in report_text(demo_check)
    assert [located(f) for f in report["findings"]] == [located(finding_to_dict(f)) for f in demo_check.findings]


def test_sparks_share_is_the_requests_whose_salted_md5_is_low_and_not_duckdbs(demo_files, store):
    """Spark's form of the share (``check --engine`` pulls it), run here by DuckDB, keeps the
    requests whose salted MD5 (Python's hashlib), as a number, lies below 2^128 / 2, whole; DuckDB's
    own share (its ``hash``, cheaper on DuckDB) is as many requests, but others."""
    loaded = load_log(store, [str(demo_files.log)], check=False)
    view = ident(loaded.dataset.view)
    in_spark_form = share_condition(ident("request_id"), 2, "spark").text
    kept = store.df(f"SELECT request_id, count(*) AS n FROM {view} WHERE {in_spark_form} GROUP BY ALL")
    requests = store.df(f"SELECT request_id, count(*) AS n FROM {view} GROUP BY ALL").set_index("request_id").n
    low = {i for i in requests.index if int(hashlib.md5(f"{i}{SHARE_SALT}".encode()).hexdigest(), 16) < 2 ** 127}
    assert set(kept.request_id) == low
    assert (kept.set_index("request_id").n == requests[kept.request_id]).all()
    on_duckdb = set(store.df(f"SELECT DISTINCT request_id FROM {view} "
                             f"WHERE {share_condition(ident('request_id'), 2, 'duckdb').text}").request_id)
    assert binom.ppf(1e-6, len(requests), 0.5) <= len(on_duckdb) <= binom.ppf(1 - 1e-6, len(requests), 0.5)
    assert len(on_duckdb & low) < 0.6 * len(low)
