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
        raise InputError("bad column", file="a.csv", column="x")

    runner.submit(job, label="Loading")
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["a.csv, column 'x': bad column"]
    assert 0.5 in progress_seen


def test_progress_within_the_interval_is_shown_when_it_ends_the_latest_winning(qapp, qtbot):
    """A clock that stands still puts every message within the interval of the first: the
    first is delivered at once, the two after it are coalesced into one delivery when the interval
    ends, which shows the last of them (a delivery shows the task's message as it is then)."""
    tasks = TaskRunner(clock=lambda: 100.0)
    shown, release = [], threading.Event()
    tasks.sig_progress.connect(lambda task: shown.append(task.message))

    def job(progress):
        for step, name in enumerate(["Loading", "Nulls", "Swapped columns"]):
            progress(step / 10, name)
        release.wait(10)  # still running: a finished job's progress is not shown

    tasks.submit(job, label="Checks")
    try:
        qtbot.waitUntil(lambda: len(shown) == 2, timeout=5000)  # dropped, not coalesced: one only
        assert shown[-1] == "Swapped columns"
    finally:
        release.set()
        tasks.wait_idle(10)
        tasks.shutdown()


def test_progress_after_the_interval_is_shown_at_once_while_a_coalesced_one_waits(qapp):
    """A message coalesced into a delivery at the interval's end does not hold back one that
    comes after the interval: a synchronous runner (no event loop while its job runs, so the
    waiting delivery cannot run) still shows it, as it shows a step's name in the tests."""
    now = [0.0]
    tasks = TaskRunner(synchronous=True, clock=lambda: now[0])
    shown = []
    tasks.sig_progress.connect(lambda task: shown.append(task.message))

    def job(progress):
        for at, name in ((0.0, "Loading"), (0.01, "Nulls"), (0.2, "Blaming training batches")):
            now[0] = at
            progress(at, name)

    tasks.submit(job)
    assert shown == ["Loading", "Blaming training batches"]
    tasks.shutdown()


def test_cancel_interrupts_a_running_duckdb_statement(runner, qtbot, store):
    outcome = []
    started = threading.Event()

    def long_query(cancel):
        started.set()
        try:
            return store.scalar("SELECT count(*) FROM range(20000000000) a", cancel)
        except Cancelled:
            outcome.append("cancelled")
            raise

    task = runner.submit(long_query, lane=HEAVY, on_result=outcome.append)
    assert started.wait(10)
    task.cancel()  # before or after DuckDB starts the statement: the store interrupts it either way
    qtbot.waitUntil(lambda: not runner.running(), timeout=10000)
    assert outcome == ["cancelled"]


def test_synchronous_runner_runs_inline(qapp):
    tasks = TaskRunner(synchronous=True)
    got = []
    tasks.submit(lambda: 7, on_result=got.append)
    assert got == [7]
    tasks.shutdown()


def test_a_job_reports_how_it_ended_to_its_own_callbacks(sync_tasks):
    """Each outcome reaches only its callback; a failure with its own handler is not announced
    unless asked (a panel asks, so the window still shows the message)."""
    seen, announced = [], []
    sync_tasks.sig_error.connect(lambda _task, text: announced.append(text))

    def fail():
        raise InputError("no rows")

    def cancelled():
        raise Cancelled()

    sync_tasks.submit(fail, on_error=lambda exc: seen.append(("error", str(exc))))
    assert seen == [("error", "no rows")] and announced == []
    sync_tasks.submit(fail, on_error=lambda exc: seen.append("again"), notify=True)
    assert seen[-1] == "again" and announced == ["no rows"]
    sync_tasks.submit(cancelled, on_result=seen.append, on_error=seen.append,
                      on_cancelled=lambda: seen.append("cancelled"))
    assert seen[-1] == "cancelled" and len(announced) == 1
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


def test_a_job_after_interactive_starts_only_when_no_interactive_job_is_in_flight(runner, qtbot):
    """A log's checks (heavy) wait for its metrics (interactive): on two cores they would
    otherwise halve the speed of the numbers on screen."""
    heavy_started = threading.Event()
    seen = []

    def metrics():
        seen.append(("heavy started during the interactive job", heavy_started.wait(0.5)))
        return "metrics"

    runner.submit(metrics, on_result=seen.append)
    runner.submit(heavy_started.set, lane=HEAVY, after_interactive=True, on_result=lambda _none: seen.append("checks"))
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert seen == [("heavy started during the interactive job", False), "metrics", "checks"]


def test_a_job_cancelled_while_it_waits_for_interactive_ones_never_runs(runner, qtbot):
    release, ran, cancelled = threading.Event(), [], []
    runner.submit(release.wait, 5)
    waiting = runner.submit(ran.append, 1, lane=HEAVY, after_interactive=True, on_cancelled=lambda: cancelled.append(True))
    waiting.cancel()
    release.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert ran == [] and cancelled == [True]


class _Background:
    """A background job that works in batches until released, checking its token between them,
    and counts its runs."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.runs = 0

    def __call__(self, cancel):
        self.runs += 1
        self.started.set()
        while not self.release.wait(0.01):  # one "batch", then the check the real checks make
            cancel.raise_if_cancelled()
        cancel.raise_if_cancelled()
        return "findings"


def test_a_user_heavy_job_preempts_background_work_which_then_runs_again(runner, qtbot):
    background, order, got, paused = _Background(), [], [], []
    checks = runner.submit(background, lane=HEAVY, background=True, on_result=got.append,
                           on_paused=paused.append, on_cancelled=lambda: got.append("cancelled"))
    assert background.started.wait(5)

    def sort():
        order.append(("sort", background.runs))
        background.release.set()  # the rerun may finish: the point is it did not block the sort
        return "sorted"

    with qtbot.waitSignal(runner.sig_finished, check_params_cb=lambda t: t is checks, timeout=10000):
        runner.submit(sort, lane=HEAVY, label="Sorting the table", on_result=order.append)
    assert order == [("sort", 1), "sorted"]  # it ran while the checks had run once, unfinished
    assert paused == ["Sorting the table"]
    assert got == ["findings"] and background.runs == 2
    assert checks.done and not checks.cancelled


def test_a_replaced_user_job_resumes_background_work_once(runner, qtbot):
    background, got, sorts = _Background(), [], []
    gate = threading.Event()
    checks = runner.submit(background, lane=HEAVY, background=True, on_result=got.append)
    assert background.started.wait(5)

    def sort(name, cancel):
        gate.wait(5)
        cancel.raise_if_cancelled()
        sorts.append((name, background.runs))
        background.release.set()
        return name

    runner.submit(sort, "by score", key="sort", lane=HEAVY)
    runner.submit(sort, "by label", key="sort", lane=HEAVY)  # replaces the first
    gate.set()
    with qtbot.waitSignal(runner.sig_finished, check_params_cb=lambda t: t is checks, timeout=10000):
        pass
    assert sorts == [("by label", 1)]
    assert got == ["findings"] and background.runs == 2


def test_cancelling_paused_background_work_ends_it_for_good(runner, qtbot):
    background, got = _Background(), []
    gate = threading.Event()
    checks = runner.submit(background, key="check", lane=HEAVY, background=True, on_result=got.append,
                           on_cancelled=lambda: got.append("cancelled"))
    assert background.started.wait(5)
    runner.submit(lambda: gate.wait(5), lane=HEAVY)
    qtbot.waitUntil(lambda: checks in runner._paused, timeout=5000)
    runner.cancel("check")
    gate.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert got == ["cancelled"] and background.runs == 1


def test_background_work_cancelled_for_good_is_not_revived_by_a_later_user_job(runner, qtbot):
    """The user leaves a log while its check runs: the check is cancelled, and a heavy job the
    user starts before the cancel is delivered must not preempt it (which would run it again
    from the start, for a log nobody looks at, and deliver its result)."""
    background, got = _Background(), []
    runner.submit(background, key="check", lane=HEAVY, background=True, on_result=got.append,
                  on_cancelled=lambda: got.append("cancelled"))
    assert background.started.wait(5)
    runner.cancel("check")  # its worker stops, its end not yet delivered to the GUI thread
    background.release.set()
    runner.submit(lambda: "sorted", lane=HEAVY, label="Sorting the table", on_result=got.append)
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert sorted(got) == ["cancelled", "sorted"] and background.runs == 1


def test_interactive_jobs_wait_for_an_ahead_job_submitted_before_them(runner, qtbot):
    """A log's metrics (ahead) run alone on the interactive lane: the time plot's series,
    submitted just after, starts when they end, not beside them on the two cores."""
    release, order = threading.Event(), []

    def metrics():
        order.append("metrics started")
        release.wait(5)
        order.append("metrics ended")

    runner.submit(metrics, ahead=True)
    runner.submit(order.append, "series started")
    qtbot.waitUntil(lambda: order == ["metrics started"], timeout=5000)
    time.sleep(0.2)  # the pool has a free worker: without `ahead` the series would start now
    assert order == ["metrics started"]
    release.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert order == ["metrics started", "metrics ended", "series started"]


def test_an_ahead_job_never_holds_back_jobs_submitted_before_it(runner, qtbot):
    release, order = threading.Event(), []
    runner.submit(lambda: (release.wait(5), order.append("earlier ended")))
    runner.submit(order.append, "ahead ran", ahead=True)
    qtbot.waitUntil(lambda: order == ["ahead ran"], timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)
    assert order == ["ahead ran", "earlier ended"]


def test_a_job_submitted_after_shutdown_is_dropped_not_raised(qapp):
    """A panel reacting to the window's teardown may submit after the workers are gone: the job
    never runs, is not listed as running, and nothing raises."""
    tasks = TaskRunner()
    tasks.shutdown()
    started, ran = [], []
    tasks.sig_started.connect(started.append)
    task = tasks.submit(lambda: ran.append(1), key="late", lane=HEAVY)
    assert task.cancelled and tasks.running() == [] and started == [] and ran == []
