"""The roles dialog on a training snapshot: a label set there is kept and used by trace/suspects."""

from PySide6.QtCore import Qt

from analysis.data.roles import Role
from analysis.trace.tracer import read_training
from analysis.workspace.workspace_file import Workspace
from tests.analysis.trace.test_snapshot_label import churn_snapshot
from tests.views.helpers import settle
from views.dialogs.roles import HINTS, RolesDialog


def test_a_snapshots_label_set_in_the_dialog_is_saved_and_used(app_window, qtbot, monkeypatch, tmp_path, store):
    churn_snapshot().to_parquet(tmp_path / "snapshot.parquet")
    snapshot = str(tmp_path / "snapshot.parquet")
    app_window.controller.save_workspace_as(tmp_path / "w.sleuth")
    app_window.controller.open_paths([snapshot], kind="training")
    settle(qtbot, app_window)
    assert app_window.session.active.roles.label == "y"  # the names alone get it wrong
    assert app_window.session.chosen_snapshot_roles(snapshot) == {}

    def choose_label(dialog):
        dialog.set_role("churned", Role.LABEL)
        return True

    monkeypatch.setattr(RolesDialog, "exec", choose_label)
    qtbot.keyClick(app_window, Qt.Key_R, Qt.ControlModifier)
    settle(qtbot, app_window)
    roles = app_window.session.active.roles
    assert roles.label == "churned" and "y" in roles.features and roles.chosen == ("label",)
    named = app_window.session.chosen_snapshot_roles(snapshot)
    assert named == {Role.LABEL: "churned"}
    assert read_training(store, [snapshot], fixed=named).label == "churned"

    app_window.session.workspace.close()
    app_window.session.workspace = None
    entry = Workspace.open(tmp_path / "w.sleuth").datasets()[0]
    assert entry.kind == "training" and entry.roles == roles


def test_the_dialog_says_what_a_snapshots_roles_are_for(qtbot, store, tmp_path):
    from analysis.data.open_log import load_log
    from PySide6.QtWidgets import QLabel

    churn_snapshot().to_parquet(tmp_path / "snapshot.parquet")
    loaded = load_log(store, [str(tmp_path / "snapshot.parquet")], check=False)
    dialog = RolesDialog(loaded.dataset, loaded.roles, kind="training")
    qtbot.addWidget(dialog)
    assert HINTS["training"] in [label.text() for label in dialog.findChildren(QLabel)]
    assert dialog.roles().chosen == ()
    dialog.set_role("customer_id", Role.FEATURE)
    assert dialog.roles().chosen == ()  # only roles someone gave a column are recorded
    dialog.set_role("churned", Role.LABEL)
    assert dialog.roles().chosen == ("label",) and "y" in dialog.roles().features
