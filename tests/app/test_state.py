"""Session and commands: one notification per change, undo, persistence into the workspace."""

from analysis.dataset import Column, Dataset
from analysis.data.roles import RoleMap
from analysis.workspace.workspace_file import Workspace
from app.commands import AddDataset, AttachWorkspace, RemoveDataset, SelectRow, SetActive, SetRoles
from app.state import Changes, OpenDataset, Session


def opened(name: str) -> OpenDataset:
    dataset = Dataset(name, f"ds_{name}", (f"/data/{name}.parquet",), "parquet", (Column("y", "INTEGER"),), 10)
    return OpenDataset(dataset, RoleMap(label="y"))


def recorder(session: Session) -> list[Changes]:
    seen: list[Changes] = []
    session.changed.connect(seen.append)
    return seen


def test_add_select_and_remove_publish_once_each(tmp_path):
    session = Session()
    seen = recorder(session)
    session.run(AddDataset(opened("a")))
    session.run(AddDataset(opened("b")))
    assert session.active_name == "b"
    session.run(SetActive("a"))
    session.run(SetActive("a"))  # no change, no notification
    session.run(RemoveDataset("a"))
    assert session.active_name == "b"
    assert len(seen) == 4
    assert seen[2] == Changes(active=True, selection=True)


def test_undo_and_redo_of_roles():
    session = Session()
    session.run(AddDataset(opened("a")))
    session.run(SetRoles("a", RoleMap(label="y", scores=("p",))))
    assert session.active.roles.scores == ("p",)
    assert session.undo() == "Change column roles"
    assert session.active.roles.scores == ()
    session.redo()
    assert session.active.roles.scores == ("p",)


def test_opening_and_selecting_are_not_undoable():
    session = Session()
    session.run(AddDataset(opened("a")))
    session.run(SelectRow(42))
    assert session.selected_row == 42
    assert not session.can_undo and session.undo() is None
    assert list(session.datasets) == ["a"] and session.selected_row == 42


def test_batch_coalesces_notifications():
    session = Session()
    seen = recorder(session)
    with session.batch():
        session.run(AddDataset(opened("a")))
        session.run(SelectRow(3))
    assert seen == [Changes(datasets=True, active=True, selection=True)]


def test_commands_write_through_to_the_workspace(tmp_path):
    session = Session()
    session.run(AddDataset(opened("a")))
    workspace = Workspace.open(tmp_path / "w.sleuth")
    session.run(AttachWorkspace(workspace))  # what was open is saved into the new workspace
    session.run(AddDataset(opened("b")))
    session.run(SetRoles("b", RoleMap(label="y", prediction="y")))
    session.run(RemoveDataset("a"))
    entries = {e.name: e for e in workspace.datasets()}
    assert set(entries) == {"b"}
    assert entries["b"].roles.prediction == "y"
    session.undo()  # reopening "a" registers it again
    assert {e.name for e in workspace.datasets()} == {"a", "b"}


def test_unique_names():
    session = Session()
    session.run(AddDataset(opened("log")))
    assert session.unique_name("log") == "log (2)"
    assert session.unique_name("other") == "other"


def test_a_log_opened_after_a_close_keeps_the_closed_one_undoable():
    """Close ``log``, open another ``log``: the new one is ``log (2)``, so undoing the close brings
    the first back beside it (it used to replace it) and redoing closes the first again (the
    redo then raised KeyError, the second close having closed the wrong log)."""
    session = Session()
    first = opened("log")
    session.run(AddDataset(first))
    session.run(RemoveDataset("log"))
    second_name = session.unique_name("log")
    assert second_name == "log (2)"
    second = opened(second_name)
    session.run(AddDataset(second))
    session.run(RemoveDataset(second_name))
    assert session.undo() == session.undo() == "Close dataset"
    assert session.datasets == {"log": first, "log (2)": second}
    assert session.redo() == session.redo() == "Close dataset"
    assert session.datasets == {}
    session.undo()
    assert list(session.datasets) == ["log (2)"]  # the last close undone first
