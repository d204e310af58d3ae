"""Discovery on the demo log rediscovers its injected problems, read from the manifest."""

import datetime as dt
import json

import duckdb
import pytest

from analysis.errors import SchemaError
from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.slices import Range, to_sql
from tests.app.run_cli import sleuth_in_process


@pytest.fixture(scope="module")
def demo(demo_files):
    from analysis.store import Store

    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    manifest = json.loads(demo_files.manifest.read_text())
    yield store, loaded, {i["id"]: i for i in manifest["incidents"]}, manifest
    store.close()


def test_weak_subpopulation_of_the_stronger_version_is_in_the_top_five(demo):
    store, loaded, incidents, manifest = demo
    weak = incidents["d"]
    stronger = weak["versions"][0]
    found = failing_slices(Scope(store, loaded.dataset, loaded.roles), DiscoverySettings(version=stronger, k=5))
    column = weak["columns"][0]
    value = weak["predicate"].split("=")[1].strip().strip("'")
    hits = [s for s in found if any(p.column == column and value in (p.values or ()) for p in s.predicates)]
    assert hits, [s.text for s in found]
    assert all(s.p_adjusted < 0.05 for s in found)


def test_null_burst_tops_discovery_on_the_day_it_happened(demo):
    """On call, the engineer picks the day the metric dipped; discovery then names the column."""
    store, loaded, incidents, _ = demo
    burst = incidents["a"]
    start = dt.datetime.fromisoformat(burst["window"][0])
    day = Range("timestamp", dt.datetime(start.year, start.month, start.day),
                dt.datetime(start.year, start.month, start.day) + dt.timedelta(days=1))
    found = failing_slices(Scope(store, loaded.dataset, loaded.roles, to_sql(day)),
                           DiscoverySettings(error="logloss", k=5))
    column = burst["columns"][0]
    assert any(p.column == column and p.kind == "is_null" for s in found for p in s.predicates), \
        [s.text for s in found]


def test_reported_sizes_and_error_rates_match_the_rows(demo, demo_files):
    store, loaded, _, manifest = demo
    found = failing_slices(Scope(store, loaded.dataset, loaded.roles), DiscoverySettings(k=3))
    con = duckdb.connect()
    con.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet('{demo_files.log}')")
    for s in found:
        where = s.to_slice()
        sql = to_sql(where.predicate)
        labelled, errors = con.execute(
            f"SELECT count(*), sum(CASE WHEN prediction = is_fraud THEN 0 ELSE 1 END) FROM log "
            f"WHERE is_fraud IS NOT NULL AND ({sql.text})", list(sql.params)).fetchone()
        assert labelled == s.size
        assert errors / labelled == pytest.approx(s.error_rate)
        assert s.ci_low <= s.error_rate <= s.ci_high


def test_disagreement_between_versions(demo):
    store, loaded, _, manifest = demo
    old, new = [v["version"] for v in manifest["versions"]]
    found = failing_slices(Scope(store, loaded.dataset, loaded.roles),
                           DiscoverySettings(error="disagree", version=new, other_version=old, k=5))
    assert found and all(0 <= s.error_rate <= 1 for s in found)


def test_wrong_settings_say_what_is_missing(demo):
    store, loaded, _, _ = demo
    with pytest.raises(SchemaError, match="two versions"):
        failing_slices(Scope(store, loaded.dataset, loaded.roles), DiscoverySettings(error="disagree"))
    with pytest.raises(SchemaError, match="regression"):
        failing_slices(Scope(store, loaded.dataset, loaded.roles), DiscoverySettings(error="abs"))


def test_cli_prints_json_slices(demo_files):
    result = sleuth_in_process("slices", demo_files.log, "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert 1 <= len(rows) <= 3
    assert set(rows[0]) >= {"predicate", "size", "error", "score", "ci", "p_value", "p_adjusted"}


def test_cli_bad_filter_is_a_one_line_error(demo_files):
    result = sleuth_in_process("slices", demo_files.log, "--where", "regoin = 'EU'")
    assert result.returncode == 2
    assert "did you mean 'region'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
