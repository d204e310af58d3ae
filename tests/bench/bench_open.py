"""Open a 10M-row x 30-column Parquet log until the table and the overall metrics are visible.

Three routes, each in a fresh process:

* **Sleuth headless**: ``load_log`` + ``prepare_table`` + the first ``fetch_window`` (table
  ready), then ``overall_metrics`` as the window runs it: every metric but AUC handed to
  ``partial`` (metrics ready), then AUC from the same call (one aggregation of the log).
* **Sleuth GUI** (offscreen): from ``MainWindow.open_paths`` until the table model holds its
  first page and the metrics panel shows results, then the AUC, then every background job
  (log checks, metric over time) done. The process time includes Python, Qt and shutdown.
* **Notebook**: ``pandas.read_parquet`` of the whole file, then scikit-learn metrics per
  version on the labelled rows (without AUC, then AUC).

Budget (DESIGN.md): table and overall metrics visible in < 3 s, peak memory < 2 GB.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Clock,
    budget_verdict,
    ensure_log,
    load_range,
    machine_note,
    markdown_table,
    median_spread,
    medians,
    megabytes,
    parse_args,
    ratio,
    run_child_if_asked,
    runs_in_turns,
    seconds,
)
from analysis.scope import Scope

GUI_TIMEOUT_S = 600
BUDGET_S = 3.0
BUDGET_MB = 2048
AUC_BUDGET_S = 2.0


def sleuth_headless(log: Path) -> dict:
    from analysis.data.open_log import load_log
    from analysis.metrics.per_version import overall_metrics
    from analysis.store import Store
    from analysis.window import TableSpec, fetch_window, prepare_table

    clock = Clock()
    store = Store()
    loaded = load_log(store, [str(log)], check=False)
    clock.mark("loaded")
    dataset = loaded.dataset
    window = prepare_table(store, TableSpec(dataset.view, tuple(dataset.column_names)))
    page = fetch_window(store, window, 0, 200)
    assert len(page) == 200
    clock.mark("table")
    results = overall_metrics(Scope(store, dataset, loaded.roles), partial=lambda _shown: clock.mark("metrics"))
    clock.mark("auc")
    return {**clock.marks, "check": _sleuth_check(results)}


def _sleuth_check(results: list) -> dict:
    """accuracy and AUC per version, to confirm the routes computed the same thing."""
    return {r.version: [r.metrics["accuracy"], r.metrics["roc_auc"]] for r in results}


def sleuth_gui(log: Path) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("QT_API", "pyside6")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from analysis.store import APP_MEMORY_LIMIT, Store
    from app.controller import AppController
    from app.main_window import MainWindow
    from app.state import Session
    from app.tasks import TaskRunner

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as settings_dir:
        settings = QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.IniFormat)
        session, tasks = Session(Store(memory_limit=APP_MEMORY_LIMIT)), TaskRunner()  # DuckDB's share as in the app
        window = MainWindow(session, tasks, AppController(session, tasks), settings)
        window.resize(1440, 900)
        window.show()
        app.processEvents()
        try:
            marks = _time_gui_open(app, window, log)
            results = window.metrics_panel.results
        finally:
            tasks.shutdown()
            session.close()
            window.close()
    return {**marks, "check": _sleuth_check(results)}


def _time_gui_open(app, window, log: Path) -> dict:
    """Seconds from ``open_paths`` until: the first page is in the table model, metrics are
    shown, AUC is shown, and no job runs (processing events as the event loop would)."""
    clock = Clock()
    watch_open(window, clock)
    window.open_paths([str(log)])
    while not {"table", "metrics", "auc"} <= clock.marks.keys() or window.tasks.running():
        if clock.now() > GUI_TIMEOUT_S:
            raise TimeoutError(f"the window was not ready after {GUI_TIMEOUT_S} s: {clock.marks}, "
                               f"{window.notifications.messages()}")
        app.processEvents()
        time.sleep(0.001)
    clock.mark("idle")
    return clock.marks


def watch_open(window, clock: Clock) -> None:
    """Mark on ``clock`` when the table model gets its first page ("table"), the metrics
    panel shows results ("metrics") and every version's ROC AUC ("auc")."""
    window.table_panel.model.dataChanged.connect(lambda *_: clock.mark_once("table"))

    def on_metrics() -> None:
        results = window.metrics_panel.results
        if results:
            clock.mark_once("metrics")
        if results and all(r.metrics.get("roc_auc") is not None for r in results):
            clock.mark_once("auc")

    window.metrics_panel.sig_rendered.connect(on_metrics)


def notebook(log: Path) -> dict:
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

    clock = Clock()
    frame = pd.read_parquet(log)
    frame.head(200)
    clock.mark("table")
    outcome = frame.loc[frame["label"].notna(), ["model_version", "label", "prediction", "score"]]
    labelled = dict(tuple(outcome.groupby("model_version")))
    for rows in labelled.values():
        y = rows["label"].astype(int)
        accuracy_score(y, rows["prediction"])
        precision_score(y, rows["prediction"])
        recall_score(y, rows["prediction"])
        f1_score(y, rows["prediction"])
        log_loss(y, rows["score"])
    clock.mark("metrics")
    check = {}
    for version, rows in labelled.items():
        y = rows["label"].astype(int)
        check[version] = [accuracy_score(y, rows["prediction"]), roc_auc_score(y, rows["score"])]
    clock.mark("auc")
    return {**clock.marks, "check": check}


ROUTES = {"sleuth_headless": sleuth_headless, "sleuth_gui": sleuth_gui, "notebook": notebook}


def agree(a: dict, b: dict) -> bool:
    """Accuracy equal to 1e-9 and ROC AUC within Sleuth's stated bound, per version."""
    from analysis.metrics.per_version import AUC_ERROR_BOUND

    tolerances = (1e-9, AUC_ERROR_BOUND)
    return a.keys() == b.keys() and all(
        abs(x - y) <= tolerance for v in a for x, y, tolerance in zip(a[v], b[v], tolerances)
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    log = ensure_log(args.rows)
    runs = runs_in_turns(__file__, tuple(ROUTES), log, args.repeats)
    for run in runs["sleuth_gui"]:
        run["visible"] = max(run["table"], run["metrics"])
    headless, gui, book = (medians(runs[route]) for route in ROUTES)

    def cells(route: str, idle: bool) -> list[str]:
        keys = ("table", "metrics", "auc", "idle") if idle else ("table", "metrics", "auc")
        figures = [median_spread(runs[route], key, seconds) for key in keys]
        return [*figures, *([] if idle else ["—"]), median_spread(runs[route], "process_s", seconds),
                median_spread(runs[route], "peak_rss_mb", megabytes), load_range(runs[route])]

    rows = [
        ["Sleuth headless", *cells("sleuth_headless", False)],
        ["Sleuth GUI (offscreen)", *cells("sleuth_gui", True)],
        ["Notebook (pandas + sklearn)", *cells("notebook", False)],
        ["ratio notebook / Sleuth GUI (medians)", ratio(book["table"], gui["table"]),
         ratio(book["metrics"], gui["metrics"]), ratio(book["auc"], gui["auc"]), "",
         ratio(book["process_s"], gui["process_s"]), ratio(book["peak_rss_mb"], gui["peak_rss_mb"]), ""],
    ]
    print(f"### Open a log: table and metrics visible\n\n{machine_note(args.rows, args.repeats)}\n")
    print(markdown_table(["route", "table shown", "metrics shown (no AUC)", "AUC shown", "all jobs done",
                          "process wall", "peak RSS", "load before the runs"], rows))
    same = all(agree(run["check"], book["check"]) for route in ("sleuth_headless", "sleuth_gui")
               for run in runs[route])
    print(f"\nBudgets, judged on every run: table + metrics visible < {BUDGET_S:.0f} s (GUI: "
          f"{budget_verdict(runs['sleuth_gui'], 'visible', BUDGET_S)}); ROC AUC shown < {AUC_BUDGET_S:.0f} s "
          f"(headless: {budget_verdict(runs['sleuth_headless'], 'auc', AUC_BUDGET_S)}; GUI: "
          f"{budget_verdict(runs['sleuth_gui'], 'auc', AUC_BUDGET_S)}); peak memory < {BUDGET_MB} MB (GUI: "
          f"{budget_verdict(runs['sleuth_gui'], 'peak_rss_mb', BUDGET_MB)}). "
          f"File probe child peak: {megabytes(gui['children_peak_rss_mb'])}. "
          f"Accuracy per version equal to scikit-learn's and AUC within the stated bound: {'yes' if same else 'NO'}.")


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
