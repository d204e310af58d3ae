"""The workspace file: round trips, commits at once, refuses what it is not."""

import sqlite3

import pytest

from analysis.errors import InputError
from analysis.data.roles import RoleMap, TaskType
from analysis.workspace.workspace_file import SCHEMA_VERSION, DatasetEntry, Workspace

ROLES = RoleMap(id="request_id", label="is_fraud", scores=("score",), features=("amount", "region"),
                task=TaskType.BINARY, positive_class="1", threshold=0.3)


def test_dataset_registration_round_trips(tmp_path):
    log = tmp_path / "log.parquet"
    log.write_bytes(b"")
    path = tmp_path / "w.sleuth"
    ws = Workspace.open(path)
    ws.save_dataset(DatasetEntry("log", (str(log),), "parquet", ROLES))
    ws.save_dataset(DatasetEntry("train", (str(log),), "parquet", None, kind="training"))
    ws.close()

    reopened = Workspace.open(path, create=False)
    entries = reopened.datasets()
    assert [e.name for e in entries] == ["log", "train"]
    assert entries[0].roles == ROLES
    assert entries[0].paths == (str(log.resolve()),)
    assert entries[1].roles is None and entries[1].kind == "training"
    assert reopened.meta("schema_version") == SCHEMA_VERSION


def test_each_edit_is_durable_even_if_the_process_dies(tmp_path):
    """An edit is on disk the moment it is made: a process killed right after it loses nothing."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "w.sleuth"
    script = textwrap.dedent(f"""
        import os
        from analysis.data.roles import RoleMap
        from analysis.workspace.workspace_file import DatasetEntry, Workspace
        ws = Workspace.open({str(path)!r})
        ws.save_dataset(DatasetEntry("log", ("/data/a.parquet",), "parquet", RoleMap(label="y")))
        ws.save_roles("log", RoleMap(label="late_label", scores=("p",)))
        os._exit(1)  # no close, no clean shutdown
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    entries = Workspace.open(path).datasets()
    assert [e.name for e in entries] == ["log"]
    assert entries[0].roles.label == "late_label"


def test_remove_and_meta(tmp_path):
    ws = Workspace.open(tmp_path / "w.sleuth")
    ws.save_dataset(DatasetEntry("a", ("/x.parquet",), "parquet", None))
    ws.set_meta("note", {"k": [1, 2]})
    ws.remove_dataset("a")
    assert ws.datasets() == []
    assert ws.meta("note") == {"k": [1, 2]}
    assert ws.meta("missing", 5) == 5


def test_failed_edit_leaves_workspace_unchanged(tmp_path):
    ws = Workspace.open(tmp_path / "w.sleuth")
    ws.save_dataset(DatasetEntry("a", ("/x.parquet",), "parquet", ROLES))

    class Exploding(RoleMap):
        def to_dict(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ws.save_roles("a", Exploding())
    assert ws.datasets()[0].roles == ROLES
    ws.save_roles("a", RoleMap(label="z"))  # the connection is usable after the failed edit
    assert ws.datasets()[0].roles.label == "z"


def test_sqlite_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "fake.sleuth"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(InputError, match="SQLite"):
        Workspace.open(path)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.sleuth"
    path.write_text("hello, this is not a database at all")
    with pytest.raises(InputError, match="not a Sleuth workspace"):
        Workspace.open(path)


def test_other_duckdb_database_is_refused(tmp_path):
    import duckdb

    path = tmp_path / "other.sleuth"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (x INT)")
    con.close()
    with pytest.raises(InputError, match="not a Sleuth workspace"):
        Workspace.open(path)


def test_missing_workspace_without_create(tmp_path):
    with pytest.raises(InputError, match="no such workspace"):
        Workspace.open(tmp_path / "nope.sleuth", create=False)


def test_decisions_are_an_append_only_history_and_profiles_are_kept(tmp_path):
    path = tmp_path / "w.sleuth"
    ws = Workspace.open(path)
    ws.add_decision("null_burst|merchant_risk|region=EU-West", {"action": "dismissed", "note": "known outage"})
    ws.add_decision("null_burst|merchant_risk|region=EU-West", {"action": "confirmed", "note": ""})
    ws.save_profile("predictions", '{"schema_version": 1}')
    ws.close()
    again = Workspace.open(path)
    assert [d["action"] for d in again.decisions()] == ["dismissed", "confirmed"]
    assert again.profile("predictions") == '{"schema_version": 1}'
    assert again.profile("other") is None


def test_an_older_workspace_is_migrated(tmp_path):
    import duckdb

    path = tmp_path / "old.sleuth"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("CREATE TABLE datasets (name VARCHAR PRIMARY KEY, position INTEGER, paths VARCHAR, format VARCHAR, "
                "kind VARCHAR, roles VARCHAR, added_at TIMESTAMP)")
    con.execute("INSERT INTO datasets VALUES ('log', 0, ?, 'parquet', 'log', NULL, now())", ['["/x.parquet"]'])
    con.close()
    ws = Workspace.open(path)
    assert ws.meta("schema_version") == SCHEMA_VERSION
    assert [e.name for e in ws.datasets()] == ["log"]
    assert ws.slices() == ([], []) and ws.version_cards() == {} and ws.decisions() == []


def test_a_capability_table_is_registered_and_an_edit_is_all_or_nothing(tmp_path):
    from analysis.query import Sql

    workspace = Workspace.open(tmp_path / "own.sleuth")
    insert = "INSERT INTO rule_sets VALUES (?, ?, ?, NULL)"
    workspace.edit([Sql(insert, ("v1", 1, '{"kept": true}'))])
    with pytest.raises(Exception):
        workspace.edit([Sql(insert, ("v1", 2, '{"lost": true}')), Sql("INSERT INTO no_such_table VALUES (1)")])
    workspace.close()
    reopened = Workspace.open(tmp_path / "own.sleuth", create=False)
    assert reopened.fetch(Sql("SELECT base, number, document FROM rule_sets")) == [("v1", 1, '{"kept": true}')]
    reopened.close()


def test_a_labels_join_round_trips_and_goes_with_its_dataset(tmp_path):
    labels = tmp_path / "labels.csv"
    entry = DatasetEntry("log + labels", (str(tmp_path / "log.csv"),), "csv", RoleMap(label="label"),
                         labels=(str(labels),), labels_on="request_id")
    ws = Workspace.open(tmp_path / "w.sleuth")
    ws.save_dataset(entry)
    ws.save_dataset(DatasetEntry("log", (str(tmp_path / "log.csv"),), "csv", None))
    ws.close()
    again = Workspace.open(tmp_path / "w.sleuth")
    assert [(e.name, e.labels, e.labels_on) for e in again.datasets()] == [
        ("log + labels", (str(labels.resolve()),), "request_id"), ("log", (), None)]
    again.remove_dataset("log + labels")
    again.save_dataset(DatasetEntry("log + labels", entry.paths, "csv", None))  # registered again, no join
    assert [(e.name, e.labels) for e in again.datasets()] == [("log", ()), ("log + labels", ())]
    again.close()


def test_slices_on_outcomes_and_flips_survive_the_workspace(tmp_path):
    """Role leaves are saved as leaves (not as the rows they selected), so a reopened workspace
    reads the same predicate back, for the saved slices and the current one."""
    from analysis.slices import Compare, Flip, Outcome, Slice

    path = tmp_path / "w.sleuth"
    flips = Slice(Flip("fraud-lr-2026.09", "fraud-gbm-2026.10", "negative") & Compare("amount", ">", 500), "big flips")
    wrong = Slice(Outcome("wrong") | Outcome("unlabelled"), "to review")
    ws = Workspace.open(path)
    ws.save_slice(flips)
    ws.save_slice(wrong)
    ws.set_meta("current_slice", flips.to_dict())
    ws.close()

    reopened = Workspace.open(path, create=False)
    saved, problems = reopened.slices()
    assert (saved, problems) == ([flips, wrong], [])
    assert Slice.from_dict(reopened.meta("current_slice")) == flips
    reopened.close()


def test_findings_and_the_check_reference_are_kept_and_survive_save_as(tmp_path):
    ws = Workspace.open(tmp_path / "w.sleuth")
    documents = [{"key": "swap|a,b|*", "sentence": "a and b look swapped"}, {"key": "drift|c|*", "sentence": "c drifts"}]
    ws.save_findings("log", "the log's first 20% of time", documents)
    ws.save_findings("other", "x", [{"key": "k"}])
    ws.save_findings("other", "y", [])  # a clean check clears the old findings
    ws.save_check_reference("log", {"kind": "before", "before": "2026-10-10T00:00:00", "since": None})
    copy = ws.save_as(tmp_path / "copy.sleuth")
    ws.close()
    for path in (tmp_path / "w.sleuth", tmp_path / "copy.sleuth"):
        again = copy if path.name == "copy.sleuth" else Workspace.open(path)
        assert again.findings("log") == ("the log's first 20% of time", documents)
        assert again.findings("other") == (None, [])
        assert again.check_reference("log")["before"] == "2026-10-10T00:00:00"
        assert again.check_reference("other") is None
        again.close()


def test_a_version_5_workspace_opens_with_empty_findings(tmp_path):
    """A file written before the findings tables existed opens, keeps what it had, and gains them."""
    from analysis.workspace.schema import TABLES

    import duckdb

    path = tmp_path / "v5.sleuth"
    con = duckdb.connect(str(path))
    for table in TABLES:
        if table.since <= 5:
            con.execute(table.create_statement())
    con.execute("INSERT INTO meta VALUES ('schema_version', '5')")
    con.execute("INSERT INTO profiles VALUES ('log', '{\"schema_version\": 1}', now())")
    con.close()
    ws = Workspace.open(path)
    assert ws.meta("schema_version") == SCHEMA_VERSION == 12
    assert ws.profile("log") == '{"schema_version": 1}'
    assert ws.findings("log") == (None, []) and ws.check_reference("log") is None
    ws.save_findings("log", "r", [{"key": "k"}])
    assert ws.findings("log") == ("r", [{"key": "k"}])
    ws.close()


def test_a_version_11_workspace_knows_which_logs_were_checked(tmp_path):
    """A file written before checks were recorded (schema 11): a log with kept findings was
    checked (their reference, time and count become its last check); a log without is unknown,
    since a clean check then left no row; a clean check from now on is kept as one with 0
    findings, and survives reopening."""
    import datetime as _dt
    import json

    import duckdb

    from analysis.workspace.schema import TABLES

    path = tmp_path / "v11.sleuth"
    checked_at = _dt.datetime(2026, 11, 2, 9, 30)
    con = duckdb.connect(str(path))
    for table in TABLES:
        if table.since <= 11:
            con.execute(table.create_statement())
    con.execute("INSERT INTO meta VALUES ('schema_version', '11')")
    for position, key in enumerate(["swap|a,b|*", "drift|c|*"]):
        con.execute("INSERT INTO findings VALUES ('log', ?, ?, ?, 'first 20% of time', ?)",
                    [position, key, json.dumps({"key": key}), checked_at])
    con.close()
    ws = Workspace.open(path)
    assert ws.meta("schema_version") == SCHEMA_VERSION == 12
    assert ws.last_check("log") == {"reference": "first 20% of time", "findings": 2, "checked_at": checked_at}
    assert ws.findings("log")[1] == [{"key": "swap|a,b|*"}, {"key": "drift|c|*"}]
    assert ws.last_check("clean") is None
    ws.save_findings("clean", "the profile saved on Nov 1", [])
    ws.close()
    again = Workspace.open(path)
    clean = again.last_check("clean")
    assert (clean["reference"], clean["findings"]) == ("the profile saved on Nov 1", 0)
    assert again.findings("clean") == (None, [])
    again.close()


def test_a_version_8_workspace_opens_and_keeps_compare_verdicts_from_then_on(tmp_path):
    """A file written before compare verdicts were kept opens with none, then keeps them in order."""
    import datetime as _dt

    import duckdb

    from analysis.workspace.schema import TABLES

    path = tmp_path / "v8.sleuth"
    con = duckdb.connect(str(path))
    for table in TABLES:
        if table.since <= 8:
            con.execute(table.create_statement())
    con.execute("INSERT INTO meta VALUES ('schema_version', '8')")
    con.close()
    ws = Workspace.open(path)
    assert ws.meta("schema_version") == SCHEMA_VERSION and ws.compare_verdicts() == []
    before = _dt.datetime.now()
    ws.add_compare_verdict("log", {"base": "v1", "candidate": "v2", "verdict": "worse"})
    ws.add_compare_verdict(None, {"base": "v2", "candidate": "v3", "verdict": "better"})
    ws.close()
    again = Workspace.open(path)
    kept = again.compare_verdicts()
    assert [(v["dataset"], v["candidate"], v["verdict"]) for v in kept] == [("log", "v2", "worse"), (None, "v3", "better")]
    assert all(v["compared_at"] >= before for v in kept)
    assert again.compare_verdicts(since=_dt.datetime.now() + _dt.timedelta(days=1)) == []
    again.close()


def test_a_log_pulled_from_spark_is_registered_by_its_source_never_by_a_token(tmp_path):
    """A pulled log reopens by pulling again: its registration keeps the URL without its
    parameters, the table, the rows and the filter; closing it drops the source too."""
    from analysis.query import Sql
    from analysis.workspace.workspace_file import SparkSource

    with pytest.raises(ValueError):
        SparkSource("sc://host:443/;token=secret", "main.ml.logs", 1000)
    source = SparkSource("sc://host:443", "main.ml.logs", 5_000, "region = 'EU-West'")
    path = tmp_path / "pulled.sleuth"
    ws = Workspace.open(path)
    ws.save_dataset(DatasetEntry("main.ml.logs", (), "parquet", None, spark=source))
    ws.save_dataset(DatasetEntry("local", (str(tmp_path / "a.parquet"),), "parquet", None))
    ws.close()
    again = Workspace.open(path)
    entries = {entry.name: entry for entry in again.datasets()}
    assert entries["main.ml.logs"].spark == source and entries["main.ml.logs"].paths == ()
    assert entries["local"].spark is None
    again.remove_dataset("main.ml.logs")
    assert again.fetch(Sql("SELECT count(*) FROM spark_pulls")) == [(0,)]
    again.close()


def test_an_unreadable_spark_source_leaves_the_registration_without_one(tmp_path):
    from analysis.query import Sql

    path = tmp_path / "edited.sleuth"
    ws = Workspace.open(path)
    ws.save_dataset(DatasetEntry("logs", (), "parquet", None))
    ws.edit([Sql("INSERT INTO spark_pulls VALUES ('logs', '{\"url\": \"sc://h\", \"rows\": -3}', NULL)")])
    assert [entry.spark for entry in ws.datasets()] == [None]
    ws.close()
