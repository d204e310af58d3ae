"""Issue #17: a recheck of the log (the log checks run again after the roles changed) is
stoppable while a scan runs, the way a user stops it: the status bar's Cancel, or closing the
log. The scan running is interrupted and no later one starts, no result reaches the sidebar, and
the runner is idle with no thread left behind. While it runs, the status bar says which scan."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.data.make_slow_checks_log import write_slow_checks_log
from tests.views.helpers import close_window, make_window, settle
from views.widgets.task_status import TaskStatus

LONG = 240000
DUPLICATES = "Checking log: ids in 'request_id' scored more than once"


@pytest.fixture(scope="module")
def slow_log(tmp_path_factory):
    return write_slow_checks_log(tmp_path_factory.mktemp("slow_recheck") / "log.parquet")


class HeavyCursors:
    """The statements the heavy lane starts (one cursor each), and which started after ``stop``."""

    def __init__(self, store) -> None:
        self.real, self.started, self.after_stop, self.stopped = store.cursor, 0, 0, False
        store.cursor = self

    def __call__(self):
        if threading.current_thread().name.startswith("sleuth-heavy"):
            self.started += 1
            self.after_stop += self.stopped
        return self.real()


def close_the_log(qtbot, window, status):
    window.actions_by_id["close_dataset"].trigger()  # File > Close


def click_cancel(qtbot, window, status):
    qtbot.mouseClick(status.cancel_button, Qt.LeftButton)  # the status bar's Cancel


@pytest.mark.parametrize("stop", [click_cancel, close_the_log], ids=["cancel button", "closing the log"])
def test_a_recheck_stopped_mid_scan_shows_no_result_and_leaves_the_runner_idle(qtbot, qsettings, slow_log, stop):
    window = make_window(qtbot, qsettings, threaded=True)
    window.open_paths([str(slow_log)])
    settle(qtbot, window, timeout=LONG)  # opened, and checked once on open
    opened = window.session.active
    assert opened is not None and opened.roles.id == "request_id", window.notifications.messages()
    status = window.findChild(TaskStatus)
    threads = {t.name for t in threading.enumerate()}
    delivered = []
    window.session.changed.connect(lambda changes: changes.issues and delivered.append(changes))
    cursors = HeavyCursors(window.session.store)
    window.controller.set_roles(opened.name, opened.roles)  # what the roles dialog's OK does
    qtbot.waitUntil(lambda: cursors.started >= 2, timeout=LONG)  # the score scan done, the duplicate-id scan on
    QApplication.processEvents()  # the progress the job sent before that scan
    shown = status.label.text()
    cursors.stopped = True
    stop(qtbot, window, status)
    settle(qtbot, window, timeout=LONG)
    assert cursors.after_stop == 0  # the label's scan never started
    assert delivered == []  # no result reached the sidebar
    assert window.tasks.running() == [] and not status.isVisible()
    # no thread left behind: the cancelled cursor's interrupter ends within its period of the
    # cursor's close, which on a loaded machine can come after the runner is idle
    qtbot.waitUntil(lambda: {t.name for t in threading.enumerate()} == threads, timeout=10000)
    assert shown == DUPLICATES  # the status bar said which scan ran
    close_window(window)
