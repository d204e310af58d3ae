"""A model the workspace knows (a version card's model file) tells a log's label, as ``--model``
does: in the window when a log is opened, and in every command given a workspace (issue #13)."""

from __future__ import annotations

import skops.io

from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import Workspace
from app.cli import main
from tests.analysis.data.test_model_label import churn_log

NOTE = "label 'churned' inferred from the model file"


def churn_files(tmp_path, model_file: str | None = "churn.skops"):
    """The churn log (names alone take its input ``y`` for the label; the label is ``churned``)
    and a workspace whose card for the served version names the model file."""
    frame, model = churn_log()
    frame.to_parquet(tmp_path / "log.parquet")
    skops.io.dump(model, tmp_path / "churn.skops")
    workspace = Workspace.open(tmp_path / "team.sleuth")
    if model_file is not None:
        workspace.save_version_card(VersionCard("v1", name="churn", model_file=str(tmp_path / model_file)))
    workspace.close()
    return tmp_path / "log.parquet", tmp_path / "team.sleuth"


def saved_label(workspace_path) -> str | None:
    workspace = Workspace.open(workspace_path, create=False)
    try:
        return workspace.datasets()[0].roles.label
    finally:
        workspace.close()


def test_queue_add_reads_the_label_from_the_workspace_model(tmp_path, capsys):
    log, workspace = churn_files(tmp_path)
    assert main(["queue", "add", str(workspace), str(log), "--json"]) == 0
    assert NOTE in capsys.readouterr().err
    assert saved_label(workspace) == "churned"


def test_without_a_model_in_the_workspace_names_alone_decide(tmp_path, capsys):
    """The names take the input ``y`` (a width in mm) for the label: a regression, refused."""
    log, workspace = churn_files(tmp_path, model_file=None)
    assert main(["queue", "add", str(workspace), str(log), "--json"]) == 2
    err = capsys.readouterr().err
    assert NOTE not in err and "the failure queue takes classification logs" in err


def test_slices_given_a_workspace_by_cards_reads_its_model(tmp_path, capsys):
    log, workspace = churn_files(tmp_path)
    assert main(["slices", str(log), "--cards", str(workspace), "--json"]) == 0
    assert NOTE in capsys.readouterr().err


def test_a_card_model_that_is_missing_is_named_and_left_out(tmp_path, capsys):
    log, workspace = churn_files(tmp_path, model_file="moved.skops")
    assert main(["slices", str(log), "--cards", str(workspace), "--json"]) == 0
    err = capsys.readouterr().err
    assert "the version cards' model moved.skops is not read for the label: " in err and NOTE not in err


def test_the_window_opens_a_log_with_the_label_its_workspace_model_tells(tmp_path, qtbot, sync_tasks):
    from app.commands import LoadVersionCards
    from app.controller import AppController
    from app.state import Session

    log, workspace = churn_files(tmp_path)
    session = Session()
    controller = AppController(session, sync_tasks)
    messages = []
    controller.message.connect(lambda level, text: messages.append((level, text)))
    controller.open_paths([str(log)])
    assert session.active.roles.label == "y"  # no model known yet: the names decide
    session.run(LoadVersionCards({"v1": VersionCard("v1", model_file=str(tmp_path / "churn.skops"))}))
    controller.open_paths([str(log)], name="with cards")
    assert session.datasets["with cards"].roles.label == "churned"
    assert ("info", f"with cards: {NOTE}") in [(level, text[:len(f"with cards: {NOTE}")]) for level, text in messages]


def test_a_model_chosen_after_the_log_opened_gives_it_its_label(tmp_path, qtbot, sync_tasks):
    """The person opens the log (names take the input ``y`` for its label), then chooses the
    served version's model file (the trace panel's "Choose model…" saves it on the card): the
    open log's label becomes ``churned``, and the message area says why. A label set by hand
    in the roles dialog stays."""
    from dataclasses import replace

    from analysis.data.roles import Role
    from app.commands import SaveVersionCard
    from app.controller import AppController
    from app.state import Session

    log, _ = churn_files(tmp_path, model_file=None)
    session = Session()
    controller = AppController(session, sync_tasks)
    messages = []
    controller.message.connect(lambda level, text: messages.append((level, text)))
    controller.open_paths([str(log)], name="log")
    controller.open_paths([str(log)], name="by hand")
    hand_set = session.datasets["by hand"].roles
    controller.set_roles("by hand", replace(hand_set.with_role("y", Role.LABEL), chosen=(Role.LABEL.value,)))
    assert session.datasets["log"].roles.label == "y"
    session.run(SaveVersionCard(VersionCard("v1", model_file=str(tmp_path / "churn.skops"))))
    assert session.datasets["log"].roles.label == "churned" and "y" in session.datasets["log"].roles.features
    assert session.datasets["by hand"].roles.label == "y"
    assert any(level == "info" and text.startswith(f"log: {NOTE}") for level, text in messages)
