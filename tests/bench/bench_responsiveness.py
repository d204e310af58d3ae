"""Is the event loop ever blocked while a person works on a 10M-row log?

DESIGN.md's budget: during any GUI interaction the event loop is never blocked for more than
100 ms. The window (offscreen) opens the 10M-row x 30-column Parquet log and then goes through
what an engineer does in the first minutes, each step driven through the real widgets and
followed until no job runs: scroll the table to random positions, sort by a column, type a
slice, break the error rate down by a column, find failing slices, check the inputs.

A heartbeat timer asks to fire every :data:`TICK_MS`; the event loop is blocked for as long as
a gap between two beats exceeds the tick. Per step the table gives how long the step took
until its results were shown and the worst and 99th-percentile blocking (gap minus tick) seen
meanwhile. Worker threads compete with the GUI thread for the interpreter lock, so a job that
holds it in Python (pandas, numpy) shows up here even though it runs off the GUI thread.
On a loaded machine most of a gap is time the scheduler did not run the process, so each step
also gives the most CPU time the GUI thread itself spent within one gap ("GUI work max"): the
part of a stall that is Sleuth's work (painting, layout, Python), which load does not inflate,
and the longest garbage-collection pass on any thread, in that thread's CPU time: a pass holds
the interpreter lock, so the GUI thread waits through it whichever worker triggered it.

Run: ``.venv/bin/python tests/bench/bench_responsiveness.py [--rows 10000000] [--repeats 1]``.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import budget_verdict, ensure_log, load_range, machine_note, markdown_table, median_spread, megabytes, \
    millis, parse_args, peak_rss_mb, percentile, run_child_if_asked, runs_in_turns, seconds

TICK_MS = 5
BUDGET_MS = 100.0
BUDGET_MB = 2048
STEP_TIMEOUT_S = 600
SCROLL_POSITIONS = 20
SEED = 20261123


class Heartbeat:
    """Gaps between the beats of a timer that should fire every ``TICK_MS``."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._beat)
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.gaps_ms: list[float] = []
        self.work_ms: list[float] = []
        self.timer.start()

    def _beat(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps_ms.append((now - self.last) * 1000)
        self.work_ms.append((cpu - self.last_cpu) * 1000)
        self.last, self.last_cpu = now, cpu

    def take_work(self) -> list[float]:
        """The GUI thread's CPU time within every gap since the last call, in ms."""
        work, self.work_ms = self.work_ms, []
        return work

    def take(self) -> list[float]:
        """The blocked time of every beat since the last call, in ms (gap minus the tick)."""
        gaps, self.gaps_ms = self.gaps_ms, []
        return [max(0.0, g - TICK_MS) for g in gaps]


class Collections:
    """The garbage collector's passes, on whichever thread runs them: a pass holds the
    interpreter lock throughout, so the GUI thread waits for its whole length. Each pass is
    timed in the collecting thread's CPU clock, which the machine's load does not stretch."""

    def __init__(self) -> None:
        self.cpu_ms: list[float] = []
        self._started = threading.local()
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started.cpu = time.thread_time()
        elif getattr(self._started, "cpu", None) is not None:
            self.cpu_ms.append((time.thread_time() - self._started.cpu) * 1000)
            self._started.cpu = None

    def take(self) -> list[float]:
        """The CPU ms of every pass since the last call."""
        passes, self.cpu_ms = self.cpu_ms, []
        return passes

    def close(self) -> None:
        gc.callbacks.remove(self._observe)


def _wait_idle(app, window) -> None:
    """Run the event loop until no job runs, the way a person waits for the window to settle."""
    started = time.perf_counter()
    quiet_since = None
    while True:
        app.processEvents()
        if window.tasks.running():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since > 0.2:  # results may start follow-up jobs
            return
        if time.perf_counter() - started > STEP_TIMEOUT_S:
            raise TimeoutError(f"still busy after {STEP_TIMEOUT_S} s: {window.notifications.messages()}")
        time.sleep(0.001)


def _steps(window) -> list[tuple[str, object]]:
    """(name, action) in the order a person takes them; each action only touches widgets."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    table = window.table_panel.view
    columns = window.table_panel.model

    def scroll() -> None:
        bar = table.verticalScrollBar()
        draw = random.Random(SEED)
        for _ in range(SCROLL_POSITIONS):
            bar.setValue(int(draw.random() * bar.maximum()))
            deadline = time.perf_counter() + 5
            while time.perf_counter() < deadline and window.tasks.running():
                window.app.processEvents()
                time.sleep(0.001)

    def sort() -> None:
        headers = [columns.headerData(c, Qt.Horizontal, Qt.DisplayRole) for c in range(columns.columnCount())]
        table.sortByColumn(headers.index("score"), Qt.DescendingOrder)

    def type_slice() -> None:
        edit = window.slice_bar.edit
        edit.setFocus()
        edit.selectAll()
        QTest.keyClicks(edit, "country = 'NG' AND f_num_00 > 0")
        QTest.keyClick(edit, Qt.Key_Return)

    def breakdown() -> None:
        window.breakdown_dock.raise_()
        boxes = window.breakdown_panel.column_box
        boxes.setCurrentIndex(boxes.findText("device"))

    def discovery() -> None:
        window.discovery_dock.raise_()
        QTest.mouseClick(window.discovery_panel.find_button, Qt.LeftButton)

    def check_inputs() -> None:
        window.findings_dock.raise_()
        QTest.mouseClick(window.findings_panel.run_button, Qt.LeftButton)

    return [("scroll the table (20 positions)", scroll), ("sort by score", sort),
            ("type a slice", type_slice), ("break down by device", breakdown),
            ("find failing slices", discovery), ("check inputs", check_inputs)]


def sleuth_gui(log: Path) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from analysis.store import APP_MEMORY_LIMIT, Store
    from app.controller import AppController
    from app.main_window import MainWindow
    from app.state import Session
    from app.tasks import TaskRunner, freeze_start_up_objects

    app = QApplication(sys.argv[:1])
    result = {}
    with tempfile.TemporaryDirectory() as settings_dir:
        settings = QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.IniFormat)
        session, tasks = Session(Store(memory_limit=APP_MEMORY_LIMIT)), TaskRunner()  # DuckDB's share as in the app
        window = MainWindow(session, tasks, AppController(session, tasks), settings)
        freeze_start_up_objects()  # as the app does (app/launch.py)
        window.app = app
        window.resize(1440, 900)
        window.show()
        app.processEvents()
        beat, collections = Heartbeat(), Collections()
        try:
            steps = [("open the log", lambda: window.open_paths([str(log)]))] + _steps(window)
            for name, action in steps:
                beat.take()
                beat.take_work()
                collections.take()
                started = time.perf_counter()
                action()
                _wait_idle(app, window)
                blocked = beat.take()
                result[f"{name}|s"] = time.perf_counter() - started - 0.2
                result[f"{name}|max_ms"] = max(blocked, default=0.0)
                result[f"{name}|p99_ms"] = percentile(blocked, 0.99) if blocked else 0.0
                result[f"{name}|work_ms"] = max(beat.take_work(), default=0.0)
                result[f"{name}|gc_ms"] = max(collections.take(), default=0.0)
                result[f"{name}|peak_mb"] = peak_rss_mb()
                result[f"{name}|duckdb_mb"] = _duckdb_mb(session.store)
            result["messages"] = window.notifications.messages()
        finally:
            collections.close()
            tasks.shutdown()
            session.close()
            window.close()
    return result


def _duckdb_mb(store) -> float:
    """What DuckDB holds in memory now (its buffers, temp tables, the sorted copies), by its
    own account: ``duckdb_memory()`` summed, so a step's growth can be told from Python's."""
    return (store.scalar("SELECT sum(memory_usage_bytes) FROM duckdb_memory()") or 0) / 2**20


ROUTES = {"sleuth_gui": sleuth_gui}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    log = ensure_log(args.rows)
    runs = runs_in_turns(__file__, ("sleuth_gui",), log, args.repeats)["sleuth_gui"]
    names = [key.split("|")[0] for key in runs[0] if key.endswith("|s")]
    rows = [[name, median_spread(runs, f"{name}|s", seconds), median_spread(runs, f"{name}|p99_ms", millis),
             median_spread(runs, f"{name}|max_ms", millis), budget_verdict(runs, f"{name}|max_ms", BUDGET_MS),
             median_spread(runs, f"{name}|work_ms", millis), budget_verdict(runs, f"{name}|work_ms", BUDGET_MS),
             median_spread(runs, f"{name}|gc_ms", millis),
             median_spread(runs, f"{name}|peak_mb", megabytes), median_spread(runs, f"{name}|duckdb_mb", megabytes),
             budget_verdict(runs, f"{name}|peak_mb", BUDGET_MB)]
            for name in names]
    print(f"### Event loop while working on the log\n\n{machine_note(args.rows, args.repeats)}; "
          f"runs under {load_range(runs)}\n")
    print(markdown_table(["step", "until shown", "blocked p99", "blocked max", f"max < {BUDGET_MS:.0f} ms, every run",
                          "GUI work max", f"work < {BUDGET_MS:.0f} ms, every run", "longest collection (CPU)",
                          "peak RSS after it", "DuckDB's memory after it", f"peak < {BUDGET_MB} MB, every run"], rows))
    print(f"\nPeak memory {median_spread(runs, 'peak_rss_mb', megabytes)}. "
          f"Messages shown: {sorted({m for run in runs for m in run['messages']}) or 'none'}.")


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
