"""What GUI tests share: a main window on a fresh Session, and waiting for its jobs."""

from PySide6.QtWidgets import QApplication

from app.controller import AppController
from app.main_window import MainWindow
from app.state import Session
from app.tasks import TaskRunner


def make_window(qtbot, qsettings) -> MainWindow:
    session = Session()
    tasks = TaskRunner()
    window = MainWindow(session, tasks, AppController(session, tasks), qsettings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    return window


def close_window(window: MainWindow) -> None:
    window.tasks.shutdown()
    window.session.close()


def settle(qtbot, window, timeout=30000):
    """Wait until no job runs (jobs started by delivered results included)."""
    qtbot.waitUntil(lambda: not window.tasks.running(), timeout=timeout)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: not window.tasks.running(), timeout=timeout)


def open_demo(qtbot, window, demo_files):
    window.open_paths([str(demo_files.log)])
    settle(qtbot, window)
    assert window.session.active is not None, window.notifications.messages()
    return window.session.active
