"""Runs Qt-free analysis jobs off the GUI thread, with progress, cancel and latest-wins.

Analysis functions are plain: they take ``progress`` and ``cancel`` keyword arguments when
they can report or stop, and know nothing of threads. This module alone knows Qt and threads.
Three lanes, so a long job never starves the table: *table* for the pages the table shows
while scrolling (tens of milliseconds each), *interactive* for plot and metric aggregates, and
*heavy*, a single worker, for loading, sorting, log checks, discovery and the slow metrics.
A page request therefore never queues behind an aggregate, nor an aggregate behind a load. A
job submitted ``after_interactive`` (a log's checks) starts only when no interactive job is in
flight: on two cores the numbers on screen (a log's metrics and ROC AUC when it opens) come
first instead of sharing the cores with it. An interactive
job submitted ``ahead`` (a log's metrics and ROC AUC as it opens) runs alone on the lane:
interactive jobs start only when none such is in flight (the time plot's series, a second
full aggregation of the log, took half the cores and put AUC at open 0.7 s behind the same
call headless; on two cores two aggregations side by side finish no sooner than one after
the other, so the plot comes at about the same time and the metrics earlier). A job
submitted with a ``key`` replaces the running job of the same key: the old one is cancelled
and its result dropped (napari's layer slicer does the same with a generation count).

Background work yields to the user: a heavy job submitted ``background`` (started by the app,
not asked for: a log's checks on open) is preempted by any heavy job the user starts. Its
token is cancelled, so it stops at its next check between batches, the user's job runs
first, and the background job is run again from the start once no user heavy job is left;
its ``on_paused`` and ``on_resumed`` say so. Preempting, not a second heavy worker: two heavy
DuckDB jobs at once (a 10M-row check and a sort) could pass the 2 GB peak memory the app
keeps under, and on two cores they would only share the same CPU.
"""

from __future__ import annotations

import gc
import inspect
import itertools
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from analysis.errors import SleuthError
from analysis.progress import CancelToken, Cancelled

TABLE = "table"
INTERACTIVE = "interactive"
HEAVY = "heavy"
PROGRESS_INTERVAL_S = 0.05


def freeze_start_up_objects() -> None:
    """Keep the garbage collector's full passes off the objects start-up made, which live as
    long as the window: collect once, then freeze them (``gc.freeze``) so no pass walks them.

    A full collection walks every tracked object while holding the interpreter lock. After
    start-up that is some 165,000 objects of the libraries imported (pandas, pyarrow, Qt,
    pyqtgraph): a pass of 125 ms of CPU, 250-400 ms on two shared cores. Whichever worker's
    allocations trigger one (a log's checks building their cells) stops the GUI thread that
    long: the stalls of opening a 10M-row log and of *Check inputs* were these passes. Frozen,
    a full pass walks only what was made since (a few thousand objects, about 1 ms). Call it
    once, when the window is built and before any job runs."""
    gc.collect()
    gc.freeze()


@dataclass(eq=False)
class Task:
    """One submitted job, as the GUI sees it."""

    id: int
    key: str | None
    label: str
    lane: str
    token: CancelToken = field(default_factory=CancelToken)
    fraction: float = 0.0
    message: str = ""
    done: bool = False
    background: bool = False  # started by the app, not the user: a user's heavy job preempts it
    preempted: bool = False  # cancelled to let a user's job run first; to be run again

    def cancel(self) -> None:
        """Cancel for good (a preempted job is then not run again)."""
        self.preempted = False
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled


def describe_error(exc: BaseException, label: str) -> str:
    """One line for the notification area: the user's problem, or what failed unexpectedly."""
    if isinstance(exc, SleuthError):
        return str(exc)
    return f"{label or 'A background job'} failed unexpectedly: {type(exc).__name__}: {exc}"


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


@dataclass(frozen=True)
class _Outcomes:
    """What to call when a job ends, by how it ended."""

    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    notify: bool
    on_cancelled: Callable[[], None] | None
    on_paused: Callable[[str], None] | None = None
    on_resumed: Callable[[], None] | None = None


@dataclass
class _Job:
    """A background job's call, kept to run it again after a user's job preempted it."""

    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    outcomes: _Outcomes
    after_interactive: bool


class TaskRunner(QObject):
    """Submits jobs to worker threads and delivers their results on the GUI thread."""

    sig_started = Signal(object)  # Task
    sig_progress = Signal(object)  # Task (fraction and message updated)
    sig_finished = Signal(object)  # Task, whatever the outcome
    sig_error = Signal(object, str)  # Task, one-line message for the notification surface
    _sig_deliver = Signal(object)  # a callable to run on the GUI thread

    def __init__(self, synchronous: bool = False, parent: QObject | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._synchronous = synchronous
        self._clock = clock  # seconds, for spacing progress messages (a test's clock stands still)
        self._shut_down = False  # set by shutdown(): a job submitted after it is dropped
        self._ids = itertools.count(1)
        self._by_key: dict[str, Task] = {}
        self._active: dict[int, Task] = {}
        self._lock = threading.Lock()
        self._pools = {
            TABLE: ThreadPoolExecutor(2, thread_name_prefix="sleuth-table"),
            INTERACTIVE: ThreadPoolExecutor(2, thread_name_prefix="sleuth-interactive"),
            HEAVY: ThreadPoolExecutor(1, thread_name_prefix="sleuth-heavy"),
        }
        self._interactive_in_flight = 0  # submitted interactive jobs not yet ended: heavy ones wait for 0
        self._interactive_done = threading.Condition()
        self._ahead_in_flight: set[int] = set()  # ids of `ahead` jobs not yet ended: later interactive ones wait
        self._background: dict[int, _Job] = {}  # background jobs not yet delivered, by task id
        self._paused: list[Task] = []  # preempted background jobs waiting for the heavy lane
        self._sig_deliver.connect(self._run_delivered)

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        key: str | None = None,
        lane: str = INTERACTIVE,
        label: str = "",
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        notify: bool | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        after_interactive: bool = False,
        ahead: bool = False,
        background: bool = False,
        on_paused: Callable[[str], None] | None = None,
        on_resumed: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> Task:
        """Run ``fn(*args, **kwargs)`` on ``lane``; ``on_result`` gets its value on the GUI thread.

        A failure goes to ``on_error`` when given, and to the runner's ``sig_error`` (the
        window's notification area) when ``notify`` is true, which is the default without an
        ``on_error``. A cancelled or superseded job calls only ``on_cancelled``. A job that
        takes ``partial`` hands early results to it; ``on_partial`` gets them on the GUI thread
        while the job still runs. ``after_interactive``: wait until no interactive job is in
        flight before starting (background work that must not slow what is on screen).
        ``ahead`` (interactive lane): other interactive jobs wait until it ends (see the module text).
        ``background`` (heavy lane): the app's own job, preempted by the user's heavy jobs and
        run again after them; ``on_paused`` gets the user job's label when it is preempted,
        ``on_resumed`` is called when it runs again.
        """
        notify = on_error is None if notify is None else notify
        task = Task(next(self._ids), key, label, lane, background=background and lane == HEAVY)
        if self._shut_down:  # a panel reacting to the window's teardown: no worker is left to run it
            task.cancel()
            return task
        if key is not None:
            previous = self._by_key.get(key)
            if previous is not None:
                self._withdraw(previous)
            self._by_key[key] = task
        if lane == HEAVY and not task.background:
            self._preempt_background(label)
        self._active[task.id] = task
        if _accepts(fn, "cancel"):
            kwargs["cancel"] = task.token
        if _accepts(fn, "progress"):
            kwargs["progress"] = self._progress_reporter(task)
        if on_partial is not None and _accepts(fn, "partial"):
            kwargs["partial"] = self._partial_reporter(task, on_partial)
        self.sig_started.emit(task)
        outcomes = _Outcomes(on_result, on_error, notify, on_cancelled, on_paused, on_resumed)
        if task.background:
            self._background[task.id] = _Job(fn, args, kwargs, outcomes, after_interactive)
        self._start(task, fn, args, kwargs, outcomes, after_interactive, ahead and lane == INTERACTIVE)
        return task

    def _start(self, task: Task, fn, args, kwargs, outcomes: "_Outcomes", after_interactive: bool,
               ahead: bool = False) -> None:
        job = lambda: self._run(task, fn, args, kwargs, outcomes, after_interactive, ahead)  # noqa: E731
        if self._synchronous:
            job()
            return
        if task.lane == INTERACTIVE:
            with self._interactive_done:
                self._interactive_in_flight += 1
                if ahead:
                    self._ahead_in_flight.add(task.id)
        self._pools[task.lane].submit(job)

    def _preempt_background(self, label: str) -> None:
        """Stop the running background jobs so the user's heavy job does not queue behind
        them; each is run again when the heavy lane has no user job left."""
        for task in list(self._active.values()):
            if (task.background and not task.done and not task.preempted and not task.cancelled
                    and task not in self._paused):  # one cancelled for good stays cancelled
                task.preempted = True
                task.token.cancel()
                outcomes = self._background[task.id].outcomes
                if outcomes.on_paused is not None:
                    outcomes.on_paused(label)

    def _user_heavy_in_flight(self) -> bool:
        return any(t.lane == HEAVY and not t.background and not t.done for t in self._active.values())

    def _resume_background(self) -> None:
        """Run the preempted background jobs again, from the start, once the heavy lane
        has no user job; one cancelled for good meanwhile ends as cancelled."""
        if not self._paused or self._user_heavy_in_flight():
            return
        paused, self._paused = self._paused, []
        for task in paused:
            job = self._background[task.id]
            if not task.preempted:
                self._cancelled(task, job.outcomes)
                continue
            task.preempted, task.token = False, CancelToken()
            task.fraction, task.message = 0.0, ""
            if "cancel" in job.kwargs:
                job.kwargs["cancel"] = task.token
            if job.outcomes.on_resumed is not None:
                job.outcomes.on_resumed()
            self._start(task, job.fn, job.args, job.kwargs, job.outcomes, job.after_interactive)

    def _withdraw(self, task: Task) -> None:
        """Cancel ``task`` for good; a paused one has no run to end, so it ends here, after
        the caller's own updates (its ``on_cancelled`` must not overwrite what replaced it)."""
        task.cancel()
        if task in self._paused:
            self._paused.remove(task)
            outcomes = self._background[task.id].outcomes
            QTimer.singleShot(0, self, lambda: self._cancelled(task, outcomes))

    def _progress_reporter(self, task: Task) -> Callable[[float, str], None]:
        """A job's progress sink that shows at most one message per ``PROGRESS_INTERVAL_S``
        without losing the last: a message within the interval of the one shown is kept and
        shown when the interval ends (the latest kept wins), so a step that starts and ends
        between two messages (a short check) still shows its name. Dropping it instead left
        the status bar on an older step. A final ``fraction`` of 1.0 is shown at once."""
        lock = threading.Lock()
        state = {"shown_at": float("-inf"), "pending": 0, "generation": 0}

        def show(generation: int) -> None:  # on the GUI thread, when the interval ends
            with lock:
                if state["pending"] != generation:
                    return  # shown directly since: a later message came after the interval
                state["pending"], state["shown_at"] = 0, self._clock()
            self._emit_progress(task)

        def report(fraction: float, message: str = "") -> None:
            with lock:
                task.fraction, task.message = fraction, message
                now = self._clock()
                wait_s = state["shown_at"] + PROGRESS_INTERVAL_S - now
                if wait_s <= 0 or fraction >= 1.0:
                    state["pending"], state["shown_at"] = 0, now
                elif state["pending"]:
                    return  # the delivery already scheduled shows this message
                else:
                    state["generation"] += 1
                    state["pending"] = generation = state["generation"]
            if wait_s <= 0 or fraction >= 1.0:
                self._deliver(lambda: self._emit_progress(task))
            else:
                self._deliver(lambda: QTimer.singleShot(max(1, round(wait_s * 1000)), self,
                                                        lambda: show(generation)))

        return report

    def _partial_reporter(self, task: Task, on_partial: Callable[[Any], None]) -> Callable[[Any], None]:
        def deliver(value: Any) -> None:
            if not task.done and not task.cancelled:
                on_partial(value)

        return lambda value: self._deliver(lambda: deliver(value))

    def _emit_progress(self, task: Task) -> None:
        if not task.done and not task.cancelled:
            self.sig_progress.emit(task)

    def _run(self, task: Task, fn, args, kwargs, outcomes: "_Outcomes", after_interactive: bool = False,
             ahead: bool = False) -> None:
        try:
            if after_interactive and not self._synchronous:
                self._wait_for_interactive(task)
            elif task.lane == INTERACTIVE and not ahead and not self._synchronous:
                self._wait_for_ahead(task)
            task.token.raise_if_cancelled()  # preempted or replaced while it queued
            value = fn(*args, **kwargs)
        except Cancelled:
            self._deliver(lambda: self._cancelled(task, outcomes))
        except BaseException as exc:  # noqa: BLE001 - every failure goes to one surface
            if not isinstance(exc, SleuthError):
                traceback.print_exception(exc, file=sys.stderr)
            self._deliver(lambda error=exc: self._fail(task, error, outcomes))
        else:
            self._deliver(lambda: self._succeed(task, value, outcomes))
        finally:
            if task.lane == INTERACTIVE and not self._synchronous:
                with self._interactive_done:
                    self._interactive_in_flight -= 1
                    self._ahead_in_flight.discard(task.id)
                    self._interactive_done.notify_all()

    def _wait_for_interactive(self, task: Task) -> None:
        """Hold a job until no interactive job is in flight (raises Cancelled if it is
        cancelled meanwhile): background work never competes with what is on screen."""
        with self._interactive_done:
            while self._interactive_in_flight and not task.cancelled:
                self._interactive_done.wait(PROGRESS_INTERVAL_S)
        if task.cancelled:
            raise Cancelled()

    def _wait_for_ahead(self, task: Task) -> None:
        """Hold an interactive job while an ``ahead`` one submitted before it is in flight
        (raises Cancelled if it is cancelled meanwhile). Only earlier ones: the lane's pool
        starts jobs in the order submitted, so an earlier ``ahead`` job holds a worker and
        runs, and the waiting ones can never hold every worker while it queues."""
        with self._interactive_done:
            while any(i < task.id for i in self._ahead_in_flight) and not task.cancelled:
                self._interactive_done.wait(PROGRESS_INTERVAL_S)
        if task.cancelled:
            raise Cancelled()

    def _deliver(self, callback: Callable[[], None]) -> None:
        if self._synchronous:
            callback()
        else:
            self._sig_deliver.emit(callback)

    def _run_delivered(self, callback: Callable[[], None]) -> None:
        callback()

    def _cancelled(self, task: Task, outcomes: "_Outcomes") -> None:
        if task.preempted:
            self._paused.append(task)  # not finished: it runs again after the user's job
            self._resume_background()
            return
        self._finish(task)
        if outcomes.on_cancelled is not None:
            outcomes.on_cancelled()

    def _succeed(self, task: Task, value: Any, outcomes: "_Outcomes") -> None:
        if task.cancelled and not task.preempted:  # a preempted job that finished anyway is shown
            self._cancelled(task, outcomes)
            return
        self._finish(task)
        if outcomes.on_result is not None:
            outcomes.on_result(value)

    def _fail(self, task: Task, exc: BaseException, outcomes: "_Outcomes") -> None:
        if task.cancelled:
            self._cancelled(task, outcomes)
            return
        self._finish(task)
        if outcomes.notify:
            self.sig_error.emit(task, describe_error(exc, task.label))
        if outcomes.on_error is not None:
            outcomes.on_error(exc)

    def _finish(self, task: Task) -> None:
        task.done = True
        task.preempted = False
        self._active.pop(task.id, None)
        self._background.pop(task.id, None)
        if task.key is not None and self._by_key.get(task.key) is task:
            del self._by_key[task.key]
        self.sig_finished.emit(task)
        self._resume_background()

    def running(self) -> list[Task]:
        """Jobs submitted and not yet delivered, oldest first."""
        return sorted(self._active.values(), key=lambda t: t.id)

    def cancel(self, key: str) -> None:
        task = self._by_key.get(key)
        if task is not None:
            self._withdraw(task)

    def cancel_all(self) -> None:
        for task in list(self._active.values()):
            self._withdraw(task)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until every job is delivered (for the CLI screenshot and tests)."""
        deadline = time.monotonic() + timeout_s
        app = QCoreApplication.instance()
        while self._active:
            if time.monotonic() > deadline:
                return False
            if app is not None:
                app.processEvents()
            time.sleep(0.005)
        if app is not None:
            app.processEvents()
        return True

    def shutdown(self) -> None:
        """Cancel everything and wait for the workers, so no thread outlives the window."""
        self._shut_down = True
        self.cancel_all()
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
