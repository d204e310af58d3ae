"""Does a sort wait behind the checks a log runs when it opens? (#17)

The window (offscreen) opens the 10M-row log; as soon as the table shows its first rows and
the checks on open are running, the score column is sorted, as a person who does not wait
would. Reported: seconds from the click until the sorted table is shown, the process's CPU
seconds over that time, whether the checks were paused meanwhile and whether their findings
were shown in the end. Runs the code it is started from (``PYTHONPATH`` an export of another
commit to measure that one; run as `python -m tests.bench.bench_sort_during_checks` from the tree). ``bench_responsiveness`` cannot show this: it waits for every job
before each step, so its sort never meets the checks.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from tests.bench.common import ensure_log, offscreen_window

STEP_TIMEOUT_S = 1800


def _run_until(app, done, what: str) -> None:
    started = time.perf_counter()
    while not done():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > STEP_TIMEOUT_S:
            raise TimeoutError(what)


def main() -> None:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 10_000_000
    log = ensure_log(rows)
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as settings_dir:
        window, session, tasks = offscreen_window(settings_dir)
        captions, sorted_at = [], []
        panel, model, view = window.findings_panel, window.table_panel.model, window.table_panel.view
        label = type(panel.caption)
        panel.caption.setText = lambda text: (captions.append(text), label.setText(panel.caption, text))
        tasks.sig_finished.connect(lambda t: t.label == "Sorting the table" and sorted_at.append(time.perf_counter()))
        window.open_paths([str(log)])
        _run_until(app, lambda: model.rowCount() > 0 and panel.job_running("check"), "the table and the checks")
        headers = [model.headerData(c, Qt.Horizontal, Qt.DisplayRole) for c in range(model.columnCount())]
        cpu, clicked = time.process_time(), time.perf_counter()
        view.sortByColumn(headers.index("score"), Qt.DescendingOrder)
        _run_until(app, lambda: bool(sorted_at), "the sort")
        sort_cpu = time.process_time() - cpu
        _run_until(app, lambda: not tasks.running(), "every job")
        result = {"rows": rows, "load": os.getloadavg()[0], "sort_shown_s": sorted_at[0] - clicked,
                  "cpu_s_until_sorted": sort_cpu, "paused_caption": [c for c in captions if "paused" in c],
                  "findings_shown": len(session.findings), "until_idle_s": time.perf_counter() - clicked}
        tasks.shutdown()
        session.close()
        window.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
