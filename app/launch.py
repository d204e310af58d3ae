"""Starting the window: the QApplication, the Session, the task runner and the main window.

Qt is imported here only, after the binding is chosen (PySide6 before pyqtgraph, see
ECOSYSTEM.md), so the headless commands in :mod:`app.cli` never load it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from analysis.store import APP_MEMORY_LIMIT


def prepare_demo(out: Path, rows: int, seed: int, incidents: bool) -> Path:
    """Generate the demo files when missing (or of another size) and a workspace over them."""
    from analysis.demo.workspace import ensure_demo_workspace

    def report(fraction: float, message: str = "") -> None:
        sys.stderr.write(f"\r[{fraction:5.0%}] {message:<60}")
        sys.stderr.flush()

    workspace = ensure_demo_workspace(out, rows=rows, seed=seed, incidents=incidents, progress=report)
    sys.stderr.write("\n")
    return workspace


def run_window(paths: Sequence[str], screenshot: str | None, size: str, options=None,
               screenshots: str | None = None, fixed=None) -> int:
    """Start the window on ``paths``; ``options`` (:class:`LogOptions`: late labels, a lakehouse
    version) and ``fixed`` (``{Role: column}``, the roles named on the command line) apply to
    the log the paths name. ``screenshot`` renders the loaded window to a PNG,
    ``screenshots`` each panel in turn into a folder (see :mod:`app.window_tour`), then exit."""
    rendering = bool(screenshot or screenshots)
    os.environ.setdefault("QT_API", "pyside6")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    if rendering:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import signal
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from analysis.data.open_log import NO_OPTIONS
    from analysis.store import Store

    from app.controller import AppController
    from app.main_window import MainWindow, deferred
    from app.state import Session
    from app.tasks import TaskRunner, freeze_start_up_objects

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Sleuth")
    app.setApplicationName("Sleuth")
    app.setStyle("Fusion")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    session = Session(Store(memory_limit=APP_MEMORY_LIMIT))
    tasks = TaskRunner()
    controller = AppController(session, tasks)
    # A screenshot is reproducible: it starts from the default layout, not the user's last one.
    scratch = tempfile.TemporaryDirectory(prefix="sleuth-") if rendering else None
    settings = QSettings(os.path.join(scratch.name, "settings.ini"), QSettings.IniFormat) if scratch else QSettings()
    window = MainWindow(session, tasks, controller, settings)
    freeze_start_up_objects()
    if rendering:
        width, height = (int(v) for v in size.lower().split("x"))
        window.resize(width, height)
    window.show()
    if paths and ((options is not None and (options.labels or options.as_of)) or fixed):
        deferred(lambda: controller.open_paths(list(paths), options=options or NO_OPTIONS, fixed=fixed))
    elif paths:
        deferred(lambda: window.open_paths(list(paths)))
    elif not rendering:
        last = QSettings().value("last_workspace")
        if last and Path(str(last)).exists():
            deferred(lambda: controller.open_workspace(str(last)))
    try:
        if screenshots:
            return save_panel_screenshots(app, window, tasks, Path(screenshots))
        if screenshot:
            return save_screenshot(app, window, tasks, screenshot)
        return app.exec()
    finally:
        tasks.shutdown()
        session.close()
        if scratch is not None:
            scratch.cleanup()
        if rendering:
            _delete_now(window)


def _delete_now(window) -> None:
    """Delete the window of a rendering run before returning: ``freeze_start_up_objects`` keeps
    it from the garbage collector, so a caller in the same process (``sleuth open
    --screenshots`` run by the tests) kept it alive, its Session closed, meeting every later
    app-wide event (a zoom's ``QApplication.setFont``)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.deleteLater()
    QCoreApplication.sendPostedEvents(window, QEvent.Type.DeferredDelete)


def save_screenshot(app, window, tasks, path: str) -> int:
    """Wait for every job (and the jobs they start), paint, and save the window as a PNG."""
    settle(app, window, tasks)
    ok = window.grab().save(path)
    return _finish(window, [path] if ok else [], [] if ok else [path])


def save_panel_screenshots(app, window, tasks, folder: Path) -> int:
    """Walk every panel (:mod:`app.window_tour`) and save the window at each as ``folder/<panel>.png``."""
    from app.window_tour import open_meeting_screen, stops, visit

    folder.mkdir(parents=True, exist_ok=True)
    settle(app, window, tasks)
    written, failed = [], []
    for stop in stops(window):
        visit(window, stop, lambda: settle(app, window, tasks))
        path = str(folder / f"{stop.name}.png")
        (written if window.grab().save(path) else failed).append(path)
    meeting = open_meeting_screen(window, lambda: settle(app, window, tasks))
    if meeting is not None:
        path = str(folder / "meeting.png")
        (written if meeting.grab().save(path) else failed).append(path)
        meeting.close()
    return _finish(window, written, failed)


def settle(app, window, tasks) -> None:
    """Wait for every job and the jobs they start: painting requests table pages, whose
    arrival repaints."""
    app.processEvents()
    for _ in range(4):
        tasks.wait_idle(timeout_s=300)
        window.grab()
        app.processEvents()
    tasks.wait_idle(timeout_s=300)


def _finish(window, written: list[str], failed: list[str]) -> int:
    """Report the window's messages and what was written; 2 when a file could not be written."""
    for text in window.notifications.messages():
        sys.stderr.write(f"sleuth: {text}\n")
    window.close()
    for path in failed:
        sys.stderr.write(f"sleuth: error: could not write {path}\n")
    for path in written:
        print(path)
    return 2 if failed else 0
