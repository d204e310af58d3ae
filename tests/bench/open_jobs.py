"""Which jobs the window runs when, from ``open_paths`` until ROC AUC is shown (offscreen).

Prints the marks of ``bench_open.py``'s GUI route (table, metrics, AUC; seconds from the
open) and every job's submit, start and end with its lane, so the job that shares the cores
with the metrics at open can be named. A job's start is when its worker picks it up, before
any wait (``after_interactive``, ``ahead``). ``--tree DIR`` runs a ``git archive main`` copy
to compare in turns: ``for t in /tmp/main .; do .venv/bin/python tests/bench/open_jobs.py
--tree $t $SLEUTH_BENCH_CACHE/log-10000000-v1.parquet; done``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("log")
    args = parser.parse_args()
    sys.path[:0] = [str(args.tree.resolve()), str(Path(__file__).resolve().parent)]
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from analysis.store import APP_MEMORY_LIMIT, Store
    from app.controller import AppController
    from app.main_window import MainWindow
    from app.state import Session
    from app.tasks import TaskRunner
    from bench_open import watch_open
    from common import Clock

    clock, events = Clock(), []
    run, submit = TaskRunner._run, TaskRunner.submit

    def traced_run(self, task, fn, *rest):
        events.append((clock.now(), "start", task.lane, fn.__qualname__))
        try:
            return run(self, task, fn, *rest)
        finally:
            events.append((clock.now(), "end", task.lane, fn.__qualname__))

    def traced_submit(self, fn, *rest, **kwargs):
        events.append((clock.now(), "submit", kwargs.get("lane", "interactive"), fn.__qualname__))
        return submit(self, fn, *rest, **kwargs)

    TaskRunner._run, TaskRunner.submit = traced_run, traced_submit
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.IniFormat)
        session, tasks = Session(Store(memory_limit=APP_MEMORY_LIMIT)), TaskRunner()
        window = MainWindow(session, tasks, AppController(session, tasks), settings)
        window.resize(1440, 900)
        window.show()
        app.processEvents()
        watch_open(window, clock)
        clock.start, events[:] = time.perf_counter(), []  # from the open on
        window.open_paths([args.log])
        while "auc" not in clock.marks:
            app.processEvents()
            time.sleep(0.001)
        tasks.shutdown()
        session.close()
        window.close()
    print({k: round(v, 2) for k, v in clock.marks.items()})
    for at, what, lane, name in events:
        print(f"{at:8.2f} {what:6s} {lane:11s} {name}")


if __name__ == "__main__":
    main()
