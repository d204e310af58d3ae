"""Reading a log's label from a version card's model is the app's own background work: it
queues behind the log's checks instead of preempting them (a preempted check starts again from
the beginning), and the label still arrives once they are done."""

from __future__ import annotations

import threading

from analysis.workspace.version_cards import VersionCard
from app.tasks import HEAVY, TaskRunner
from tests.app.test_workspace_models import churn_files


class _Checks:
    """Stands for the log's checks on open: works until released, looking at its token between
    batches as the real checks do, and counts its runs."""

    def __init__(self):
        self.started, self.release, self.runs = threading.Event(), threading.Event(), 0

    def __call__(self, cancel):
        self.runs += 1
        self.started.set()
        while not self.release.wait(0.01):
            cancel.raise_if_cancelled()
        return "findings"


def test_the_card_label_job_waits_for_the_checks_instead_of_pausing_them(tmp_path, qtbot, qapp):
    from app.commands import SaveVersionCard
    from app.controller import AppController
    from app.state import Session

    log, _ = churn_files(tmp_path, model_file=None)
    runner = TaskRunner()
    try:
        session = Session()
        controller = AppController(session, runner)
        controller.open_paths([str(log)], name="log")
        qtbot.waitUntil(lambda: "log" in session.datasets and not runner.running(), timeout=60000)
        assert session.datasets["log"].roles.label == "y"  # the names alone decide, for now
        checks, got, paused = _Checks(), [], []
        runner.submit(checks, lane=HEAVY, background=True, label="Checking log", on_result=got.append,
                      on_paused=paused.append)
        assert checks.started.wait(10)
        session.run(SaveVersionCard(VersionCard("v1", model_file=str(tmp_path / "churn.skops"))))
        qtbot.wait(200)
        assert paused == [] and checks.runs == 1  # not preempted
        assert session.datasets["log"].roles.label == "y"  # the label job waits its turn
        checks.release.set()
        qtbot.waitUntil(lambda: session.datasets["log"].roles.label == "churned", timeout=60000)
        assert got == ["findings"] and checks.runs == 1
        qtbot.waitUntil(lambda: not runner.running(), timeout=60000)
    finally:
        runner.shutdown()
