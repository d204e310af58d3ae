"""Issue #17: a log's checks on open are work the user did not ask for, so a sort the user
starts does not wait behind them: the checks pause (the findings panel says so), the sort is
shown, and the checks run again afterwards and their findings are shown."""

import threading

from PySide6.QtCore import Qt

from tests.views.helpers import PLANTED, close_window, make_window, reuse_check_in_panel, settle

LONG = 240000


class HeldChecks:
    """The checks (the session's check of the 20k demo: these tests are of when the checks run,
    not of what they find), except that each run holds (checking its token between "batches",
    as the checks do) until it is cancelled or ``free`` is set: without preemption a sort would
    wait behind them for ever."""

    def __init__(self, check):
        self.check, self.calls = check, 0
        self.holding, self.free = threading.Event(), threading.Event()

    def __call__(self, *args, cancel, progress, **kwargs):
        self.calls += 1
        self.holding.set()
        while not cancel.cancelled and not self.free.wait(0.01):
            pass
        cancel.raise_if_cancelled()
        return self.check(*args, cancel=cancel, progress=progress, **kwargs)


def sort_by(view, name):
    """What a click on the column's header does (the benchmark sorts the same way)."""
    model = view.model()
    view.sortByColumn(next(i for i in range(model.columnCount()) if model.headerData(i, Qt.Horizontal) == name),
                      Qt.DescendingOrder)


def _held_checks(monkeypatch, files, checked) -> HeldChecks:
    """The findings panel's checks held (:class:`HeldChecks`) around the session's check."""
    import views.panels.findings as findings_module

    held = HeldChecks(reuse_check_in_panel(monkeypatch, files, checked))
    monkeypatch.setattr(findings_module, "check_dataset", held)
    return held


def test_a_sort_preempts_the_checks_on_open_which_resume_and_show_their_findings(qtbot, qsettings, window_demo_files,
                                                                                window_demo_check, monkeypatch):
    held = _held_checks(monkeypatch, window_demo_files, window_demo_check)
    window = make_window(qtbot, qsettings, threaded=True, check_on_open=True)
    panel, table = window.findings_panel, window.table_panel
    captions = []
    monkeypatch.setattr(panel.caption, "setText", lambda text: (captions.append(text), type(panel.caption).setText(panel.caption, text)))
    window.open_paths([str(window_demo_files.log)])
    qtbot.waitUntil(held.holding.is_set, timeout=LONG)  # the checks on open are running
    qtbot.waitUntil(lambda: table.view.model().columnCount() > 0, timeout=LONG)
    sorted_while = []

    def sorted_(task):
        if task.label == "Sorting the table":
            sorted_while.append((held.calls, panel.job_running("check")))
            held.free.set()

    window.tasks.sig_finished.connect(sorted_)
    sort_by(table.view, "score")
    qtbot.waitUntil(lambda: bool(sorted_while), timeout=LONG)
    calls, checking = sorted_while[0]
    assert checking  # the sort ran while the checks were unfinished
    assert "Checks paused for sorting the table; they resume when it is done." in captions
    settle(qtbot, window, timeout=LONG)
    assert "sorted by score" in table.status.text()
    assert held.calls == calls + 1  # run again from the start, once
    assert PLANTED <= {f.kind for f in window.session.findings}  # nothing lost
    assert not captions[-1].startswith("Checks paused") and captions[-1] != "Check cancelled."
    close_window(window)


def test_check_inputs_is_the_users_own_and_is_not_paused(qtbot, qsettings, window_demo_files, window_demo_check,
                                                          monkeypatch):
    held = _held_checks(monkeypatch, window_demo_files, window_demo_check)
    window = make_window(qtbot, qsettings, threaded=True, check_on_open=False)
    window.open_paths([str(window_demo_files.log)])
    settle(qtbot, window, timeout=LONG)
    panel = window.findings_panel
    window.findings_dock.raise_()
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    qtbot.waitUntil(held.holding.is_set, timeout=LONG)
    sort_by(window.table_panel.view, "score")
    qtbot.waitUntil(lambda: any(t.label == "Sorting the table" for t in window.tasks.running()), timeout=LONG)
    assert not any(t.preempted for t in window.tasks.running())  # a user's job never preempts a user's
    held.free.set()
    settle(qtbot, window, timeout=LONG)
    assert held.calls == 1 and "sorted by score" in window.table_panel.status.text()
    assert PLANTED <= {f.kind for f in window.session.findings}
    close_window(window)
