"""The roles dialog on a training snapshot: a label set there is kept and used by trace/suspects."""

from PySide6.QtCore import Qt

from analysis.data.roles import Role
from analysis.scope import Scope
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


def test_a_text_column_chosen_as_score_or_time_is_refused_in_the_dialog(qtbot, store, tmp_path):
    """Applied, it made every panel fail with DuckDB's SQL in red banners and tracebacks."""
    import pandas as pd

    from analysis.data.open_log import load_log

    pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=4, freq="h"), "score": [0.1, 0.9, 0.4, 0.7],
                  "label": [0, 1, 0, 1], "device": ["pos", "web", "pos", "app"]}).to_parquet(tmp_path / "log.parquet")
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    dialog = RolesDialog(loaded.dataset, loaded.roles)
    qtbot.addWidget(dialog)
    dialog.show()
    for role, said in ((Role.SCORE, "a score must be numbers"), (Role.TIMESTAMP, "cannot be the timestamp")):
        dialog.set_role("device", role)
        assert dialog.roles() == loaded.roles  # nothing applied
        assert dialog.combos["device"].currentData() == Role.FEATURE.value
        assert dialog.refusal.isVisible() and "'device'" in dialog.refusal.text() and said in dialog.refusal.text()
    dialog.set_role("device", Role.LABEL)  # class names are a fine label
    assert dialog.roles().label == "device" and not dialog.refusal.isVisible()


def test_a_text_score_from_a_saved_mapping_is_a_sentence_in_the_checks(store, tmp_path):
    import pandas as pd
    from dataclasses import replace

    from analysis.data.log_sanity import Severity, check_log
    from analysis.data.open_log import load_log

    pd.DataFrame({"score": [0.1, 0.9], "label": [0, 1], "device": ["pos", "web"]}).to_parquet(tmp_path / "log.parquet")
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    issues = check_log(Scope(store, loaded.dataset, replace(loaded.roles, scores=("device",))))
    assert [i.column for i in issues if i.severity is Severity.ERROR] == ["device"]
