"""TaskRunner: results on the GUI thread, latest request wins, cancel reaches DuckDB."""

import threading
import time

import pytest
from PySide6.QtCore import QThread

from analysis.errors import InputError
from analysis.progress import Cancelled
from app.tasks import HEAVY, TaskRunner


@pytest.fixture
def runner(qapp):
    tasks = TaskRunner()
    yield tasks
    tasks.shutdown()


def test_result_is_delivered_on_the_gui_thread(runner, qtbot):
    got = []
    runner.submit(lambda: threading.current_thread().name, on_result=lambda v: got.append((v, QThread.currentThread())))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    worker_name, delivered_on = got[0]
    assert worker_name.startswith("sleuth-interactive")
    assert delivered_on is qapp_thread()


def qapp_thread():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance().thread()


def test_newer_job_with_same_key_supersedes_older(runner, qtbot):
    release = threading.Event()
    got = []

    def slow(value, cancel):
        release.wait(5)
        cancel.raise_if_cancelled()
        return value

    first = runner.submit(slow, "old", key="k", lane=HEAVY, on_result=got.append)
    runner.submit(lambda: "new", key="k", on_result=got.append)
    release.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert got == ["new"]
    assert first.cancelled


def test_progress_and_errors_reach_the_gui(runner, qtbot):
    progress_seen, errors = [], []
    runner.sig_progress.connect(lambda task: progress_seen.append(task.fraction))
    runner.sig_error.connect(lambda task, text: errors.append(text))

    def job(progress):
        progress(0.5, "half")
        time.sleep(0.1)
        raise InputError("bad column", file="a.csv", column="x")

    runner.submit(job, label="Loading")
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["a.csv, column 'x': bad column"]
    assert 0.5 in progress_seen


def test_cancel_interrupts_a_running_duckdb_statement(runner, qtbot, store):
    outcome = []

    def long_query(cancel):
        try:
            return store.scalar("SELECT count(*) FROM range(20000000000) a", cancel)
        except Cancelled:
            outcome.append("cancelled")
            raise

    task = runner.submit(long_query, lane=HEAVY, on_result=outcome.append)
    time.sleep(0.3)
    task.cancel()
    qtbot.waitUntil(lambda: not runner.running(), timeout=10000)
    assert outcome == ["cancelled"]


def test_synchronous_runner_runs_inline(qapp):
    tasks = TaskRunner(synchronous=True)
    got = []
    tasks.submit(lambda: 7, on_result=got.append)
    assert got == [7]
    tasks.shutdown()


def test_partial_results_arrive_on_the_gui_thread_before_the_result(runner, qtbot):
    got = []

    def job(partial):
        partial("verdict")
        return "whole"

    record = lambda kind: lambda v: got.append((kind, v, QThread.currentThread() is qapp_thread()))  # noqa: E731
    runner.submit(job, lane=HEAVY, on_partial=record("partial"), on_result=record("result"))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got == [("partial", "verdict", True), ("result", "whole", True)]


def test_partial_results_of_a_superseded_job_are_dropped(runner, qtbot):
    release = threading.Event()
    got = []

    def slow(partial, cancel):
        release.wait(5)
        partial("stale verdict")
        cancel.raise_if_cancelled()
        return "stale"

    runner.submit(slow, key="k", lane=HEAVY, on_partial=got.append, on_result=got.append)
    runner.submit(lambda: "new", key="k", on_result=got.append)
    release.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert got == ["new"]
