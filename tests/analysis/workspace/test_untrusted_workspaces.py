"""Workspaces from someone else, or from a bad disk: nothing in them runs, nothing hangs,
every broken one gets one sentence, and saving never destroys a file."""

from __future__ import annotations

import threading

import duckdb
import pytest

from analysis.errors import InputError, SleuthError
from analysis.slices import Compare, Slice
from analysis.workspace.workspace_file import DatasetEntry, Workspace, with_workspace_suffix
from app.cli import main
from tests.analysis.workspace.corrupt_workspaces import make_valid, make_variant, variants

SECRET = "root:x:0:0"


def _add_objects(path, *statements):
    con = duckdb.connect(str(path))
    for sql in statements:
        con.execute(sql)
    con.close()


def _open_in_thread(path, seconds=60):
    """Open ``path`` on a worker thread; a hang shows as an unfinished thread, not a stuck suite."""
    outcome = {}

    def run():
        try:
            outcome["workspace"] = Workspace.open(path)
        except Exception as exc:  # noqa: BLE001 - the test inspects what was raised
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "opening the workspace hung"
    return outcome


@pytest.mark.parametrize("name", sorted(variants()))
def test_every_broken_workspace_gets_one_sentence(tmp_path, name):
    path = make_variant(name, tmp_path)
    with pytest.raises(SleuthError) as raised:
        Workspace.open(path, create=False)
    text = str(raised.value)
    assert "\n" not in text and "Traceback" not in text and str(path) in text


@pytest.mark.parametrize("name", ["truncated to 4096 bytes", "schema_version = 'four'", "table slices missing",
                                  "a directory named x.sleuth", "unparseable JSON in dataset paths"])
def test_the_command_line_exits_2_on_a_broken_workspace(tmp_path, name, capsys):
    path = make_variant(name, tmp_path)
    code = main(["compare", str(tmp_path / "log.csv"), "--base", "a", "--candidate", "b", "--slices", str(path)])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]


def test_a_view_macro_and_never_ending_view_neither_run_nor_survive(tmp_path):
    path = make_valid(tmp_path / "w.sleuth")
    _add_objects(path,
                 "CREATE VIEW passwd AS SELECT content FROM read_text('/etc/passwd')",
                 "CREATE MACRO max(x) AS 42",
                 "CREATE MACRO duckdb_tables() AS TABLE SELECT 1 AS x",
                 "CREATE VIEW forever AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
                 "SELECT count(*) FROM r",
                 "CREATE SEQUENCE counter")
    outcome = _open_in_thread(path)
    workspace = outcome["workspace"]
    note = " ".join(workspace.notes)
    for name in ("view 'passwd'", "macro 'max'", "macro 'duckdb_tables'", "view 'forever'", "sequence 'counter'"):
        assert name in note
    assert SECRET not in note
    # Sleuth's own max() is DuckDB's again: a third decision gets position 2, not 42.
    workspace.add_decision("k", {"action": "confirmed"})
    workspace.add_decision("k", {"action": "dismissed"})
    assert [d["action"] for d in workspace.decisions()] == ["dismissed", "confirmed", "dismissed"]
    workspace.close()
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] == 0
    assert con.execute("SELECT max(position) FROM decisions").fetchone()[0] == 2
    con.close()


def test_a_trigger_neither_runs_nor_survives(tmp_path):
    """A trigger stored in the file would run on Sleuth's own edits (here: saving a slice
    would delete the decisions); the workspace is rebuilt without it."""
    path = make_valid(tmp_path / "w.sleuth")
    try:
        _add_objects(path, "CREATE TRIGGER forget AFTER INSERT ON slices DELETE FROM decisions")
    except duckdb.ParserException:
        pytest.skip("this DuckDB has no triggers")
    workspace = Workspace.open(path)
    assert "trigger 'forget'" in " ".join(workspace.notes)
    workspace.save_slice(Slice(Compare("age", "<", 20), "younger"))
    assert workspace.decisions() == [{"action": "dismissed"}]
    workspace.close()
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_triggers()").fetchone()[0] == 0
    con.close()


def test_a_view_in_place_of_a_table_is_reported_never_read(tmp_path):
    path = make_valid(tmp_path / "w.sleuth")
    _add_objects(path, "DROP TABLE slices",
                 "CREATE VIEW slices AS SELECT content AS name, content AS document, now() AS saved_at "
                 "FROM read_text('/etc/passwd')")
    outcome = _open_in_thread(path)
    assert isinstance(outcome["error"], InputError)
    assert "table 'slices' is missing" in str(outcome["error"]) and SECRET not in str(outcome["error"])


def test_a_default_that_reads_a_file_is_rebuilt_away(tmp_path):
    path = make_valid(tmp_path / "w.sleuth")
    _add_objects(path, "ALTER TABLE slices ALTER saved_at SET DEFAULT (now())")
    workspace = Workspace.open(path)
    workspace.close()
    con = duckdb.connect(str(path), read_only=True)
    defaults = con.execute("SELECT column_default FROM duckdb_columns() WHERE table_name = 'slices'").fetchall()
    con.close()
    assert defaults == [(None,), (None,), (None,)]


def test_saving_onto_the_open_workspace_keeps_it(tmp_path):
    path = make_valid(tmp_path / "w.sleuth")
    workspace = Workspace.open(path)
    assert workspace.save_as(path) is workspace
    workspace.set_meta("after", 1)  # every later edit still lands in the file
    workspace.close()
    again = Workspace.open(path)
    assert again.meta("after") == 1 and [e.name for e in again.datasets()] == ["log"]
    again.close()


def test_save_as_writes_a_complete_copy_and_replaces_the_target_at_once(tmp_path):
    source = Workspace.open(make_valid(tmp_path / "w.sleuth"))
    target = tmp_path / "other.sleuth"
    Workspace.open(target).close()
    copy = source.save_as(target)
    source.close()
    assert [e.name for e in copy.datasets()] == ["log"]
    assert copy.decisions() == [{"action": "dismissed"}] and copy.profile("log") == '{"schema_version": 1}'
    assert [s.name for s in copy.slices()[0]] == ["older"]
    copy.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sleuth", "w.sleuth"]  # nothing left beside


def test_a_typed_name_gets_the_suffix_without_losing_its_own():
    assert with_workspace_suffix("incident").name == "incident.sleuth"
    assert with_workspace_suffix("incident.v2").name == "incident.v2.sleuth"
    assert with_workspace_suffix("incident.sleuth").name == "incident.sleuth"


def test_a_new_workspace_holds_every_table(tmp_path):
    workspace = Workspace.open(tmp_path / "new.sleuth")
    workspace.save_dataset(DatasetEntry("a", ("/x.csv",), "csv", None))
    workspace.close()
    assert Workspace.open(tmp_path / "new.sleuth").notes == ()
