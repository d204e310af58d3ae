"""What GUI tests share: a main window on a fresh Session, its jobs run inline unless asked."""

from dataclasses import replace

import numpy as np
from PySide6.QtWidgets import QApplication, QWidget

from analysis.data.open_log import load_log
from analysis.query import Sql, ident
from analysis.metrics.per_version import model_versions
from analysis.scope import Scope
from analysis.slices import Everything
from analysis.triage.check_report import DEFAULT_REFERENCE, check_dataset
from app.commands import AddDataset, SetFindings, SetVersionOrder
from app.controller import AppController
from app.main_window import MainWindow
from app.state import OpenDataset, Session
from app.tasks import TaskRunner
from tests.app.run_cli import ReusedCheck
from views.panel import narrow_slice

PLANTED = {"null_burst", "unit_change"}
"""What the checks find of the 20k demo's planted incidents, which the tests of when a check
runs and what is kept (test_findings_on_open.py, test_checks_yield.py) look for: the null
burst, and the swapped columns, whose rows are too few there to show the pair swapped, as a
change of unit of one of them (the 200k demo's swap is found as a swap in test_findings.py)."""


def make_window(qtbot, qsettings, threaded: bool = False, check_on_open: bool = False,
                size: tuple[int, int] | None = (1400, 900)) -> MainWindow:
    """The main window, shown offscreen; its jobs run inline unless ``threaded``. A log's input
    checks run when it opens only with ``check_on_open`` (the preference is on for users; a
    test of something else need not pay for a check of every log it opens). Tests lay panels
    out at ``size``, not at the first size the window picks for the offscreen screen (800 px);
    ``None`` keeps that first size. A window shared by a module's tests is made without a
    ``qtbot`` (a test's own) and closed by its fixture (:func:`close_shared_window`)."""
    qsettings.setValue("checks/on_open", check_on_open)
    session = Session()
    tasks = TaskRunner(synchronous=not threaded)
    window = MainWindow(session, tasks, AppController(session, tasks), qsettings)
    if qtbot is not None:
        qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    return window


def shared_window(tmp_path_factory, check_on_open: bool = False, size=(1400, 900)):
    """A window for the tests of one module that only read or click what it shows (a fixture
    of module scope yields it, then :func:`close_shared_window`): building the window and opening and
    checking the 200k demo once instead of at every test. Its preferences live in a temporary
    INI file, as the ``qsettings`` fixture's do."""
    from PySide6.QtCore import QSettings

    settings = QSettings(str(tmp_path_factory.mktemp("settings") / "settings.ini"), QSettings.IniFormat)
    return make_window(None, settings, check_on_open=check_on_open, size=size)


def close_window(window: MainWindow) -> None:
    window.tasks.shutdown()
    window.session.close()


def close_shared_window(window: MainWindow) -> None:
    """Close a window made by :func:`shared_window` and delete it: no ``qtbot`` does, and a window
    left alive still gets every app-wide event of the later tests (the zoom's
    ``QApplication.setFont``) with its Session closed."""
    window.close()
    close_window(window)
    window.deleteLater()


def settle(qtbot, window, timeout=30000):
    """Deliver posted events and wait until no job runs (only a threaded window has to wait)."""
    QApplication.processEvents()
    if window.tasks.running():
        qtbot.waitUntil(lambda: not window.tasks.running(), timeout=timeout)
        QApplication.processEvents()


def open_demo(qtbot, window, demo_files):
    window.open_paths([str(demo_files.log)])
    settle(qtbot, window)
    assert window.session.active is not None, window.notifications.messages()
    return window.session.active


def open_log(session: Session, path, kind: str = "log") -> OpenDataset:
    """Open ``path`` in ``session`` at once, without the window, the runner or the log checks:
    for a test of one panel, which then follows the Session as it does in the window."""
    loaded = load_log(session.store, [str(path)], check=False)
    session.run(AddDataset(OpenDataset(loaded.dataset, loaded.roles, kind, loaded.issues), persist=False))
    versions = model_versions(Scope(session.store, loaded.dataset, loaded.roles))
    session.run(SetVersionOrder(loaded.dataset.name, tuple(versions)))
    return session.active


class PanelCheck(ReusedCheck):
    """:class:`~tests.app.run_cli.ReusedCheck` as the findings panel calls ``check_dataset``
    (its reference, snapshot, time and slice passed in order): the session's check of the demo
    stands in for the panel's check of the whole log against the default reference, the
    check the panel runs on open and at *Check inputs* before the workspace keeps a profile.
    The run it returns is the panel's own: of the dataset the panel asked about (a log opened
    under another name), and, cancelled before it starts, it stops as the checks do at their
    first step. Any other check (another reference, a slice, a saved profile) runs."""

    def __call__(self, scope, saved_profile=None, reference=DEFAULT_REFERENCE, snapshot=None, since=None,
                 where=Everything, progress=None, cancel=None):
        if (reference, snapshot, since, where) != (DEFAULT_REFERENCE, None, None, Everything) or \
                scope.roles != self.checked.roles:
            return check_dataset(scope, saved_profile, reference, snapshot, since, where,
                                 **{name: value for name, value in (("progress", progress), ("cancel", cancel))
                                    if value is not None})
        if cancel is not None:
            cancel.raise_if_cancelled()
        run = super().__call__(scope, saved_profile, progress=progress, cancel=cancel)
        return replace(run, dataset=scope.dataset) if run is self.checked else run


def reuse_check_in_panel(monkeypatch, files, checked) -> PanelCheck:
    """Make the findings panel's check of the demo ``files`` the session's check of them,
    ``checked`` (tests/conftest.py's ``demo_check`` or ``window_demo_check``): for the tests of
    when the panel checks, what it keeps and shows, not of what a check finds (2-5 CPU-s each)."""
    import views.panels.findings as findings_module

    checker = PanelCheck(files, checked)
    monkeypatch.setattr(findings_module, "check_dataset", checker)
    return checker


def keep_check(session: Session, checked) -> None:
    """Keep ``checked`` (a ``CheckRun``, e.g. the session's ``demo_check``) in the session's
    workspace as the findings panel keeps a check it ran: an intake then groups by its findings
    without checking the log again."""
    session.run(SetFindings(checked.findings, session.active.name, checked.profile_json, checked.reference,
                            checked.choice))


def rows_in_slice(session: Session) -> int:
    """How many rows of the active dataset the current slice selects, counted in DuckDB."""
    condition = session.condition()
    where = f" WHERE {condition.text}" if condition is not None else ""
    return session.store.scalar(Sql(f"SELECT count(*) FROM {ident(session.active.dataset.view)}{where}",
                                    condition.params if condition is not None else ()))


def not_blank(panel: QWidget) -> bool:
    """Some pixels (text, a frame, a curve) differ from the background."""
    image = panel.grab().toImage()
    lightness = np.array([[image.pixelColor(x, y).lightness() for x in range(0, image.width(), 3)]
                          for y in range(0, image.height(), 3)])
    values, counts = np.unique(lightness, return_counts=True)
    return len(values) > 3 and lightness.size - counts.max() > 50


def panel_builder(qtbot, tasks, log):
    """A ``build(panel_class, size)`` that makes a panel alone on ``log``, shown, its jobs run
    by ``tasks``, and its "open this as the slice" intent run as the window runs it; and the
    sessions it opened, for the fixture to close."""
    sessions = []

    def build(panel_class, size=(1200, 700)):
        session = Session()
        sessions.append(session)
        open_log(session, log)
        panel = panel_class(session, tasks)
        if hasattr(panel, "sig_open_slice"):
            panel.sig_open_slice.connect(lambda predicate: narrow_slice(session, predicate))
        if qtbot is not None:
            qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        return panel

    return build, sessions
