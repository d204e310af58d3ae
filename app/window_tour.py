"""A walk through every panel of the window, each brought forward and asked for its result.

``sleuth demo --screenshots DIR`` photographs each stop, and the test of the window at a small
screen size checks each stop, so both see the same panels in the same state a person sees
after opening the log and clicking each panel's button. Panels whose result waits for a click
(failing slices, compare, input checks) get that click; trace gets the table's first row; the
failure queue gets the log's failures when it is empty (a person's first click there).
The walk ends in meeting mode (:func:`open_meeting_screen`), the window the review projects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtWidgets import QAbstractButton, QDockWidget

from analysis.queue.failure_queue import os_user
from app.queue_wiring import open_meeting
from views.meeting import MeetingView
from views.panel import Panel
from views.panels.compare import ComparePanel
from views.panels.failing_slices import DiscoveryPanel
from views.panels.findings import FindingsPanel
from views.panels.queue import QueuePanel
from views.panels.trace import TracePanel

STARTED_BY = {DiscoveryPanel: "find_button", ComparePanel: "compare_button", FindingsPanel: "run_button"}
"""The button that starts a panel's result, by panel class: what a person clicks first."""


@dataclass(frozen=True)
class Stop:
    """One panel of the tour; ``dock`` is None for the table, which is always in the window."""

    name: str
    panel: Panel
    dock: QDockWidget | None


def stops(window) -> list[Stop]:
    """The table, then every dock in the View menu's order."""
    found = [Stop("table", window.table_panel, None)]
    for dock in window.docks:
        found.append(Stop(dock.widget().title.lower().replace(" ", "-").replace("(", "").replace(")", ""),
                          dock.widget(), dock))
    return found


def visit(window, stop: Stop, settle: Callable[[], None]) -> None:
    """Bring ``stop``'s panel forward and start its result; ``settle`` waits for the jobs."""
    window.maximiser.restore()
    if stop.dock is not None:
        stop.dock.show()
        stop.dock.raise_()
    settle()
    button = getattr(stop.panel, STARTED_BY.get(type(stop.panel), ""), None)
    if isinstance(button, QAbstractButton) and button.isEnabled():
        button.click()
    elif isinstance(stop.panel, TracePanel) and window.session.selected_row is None:
        window.table_panel.view.selectRow(0)
    elif isinstance(stop.panel, QueuePanel):
        queue_failures(window, settle)
    settle()


def queue_failures(window, settle: Callable[[], None]) -> None:
    """Queue the current slice's failures with the queue panel's button when the queue is empty,
    so the queue (and the meeting) show groups, not an empty agenda."""
    panel = window.queue_panel
    if panel.agenda.tree.topLevelItemCount() == 0 and panel.add_slice_button.isEnabled():
        panel.add_slice_button.click()
        settle()


def open_meeting_screen(window, settle: Callable[[], None]) -> MeetingView | None:
    """Meeting mode as the review opens it, at the window's size: the log's failures are first
    queued with the queue panel's button when the queue is empty, then View > Meeting."""
    window.maximiser.restore()
    window.queue_dock.show()
    window.queue_dock.raise_()
    settle()
    queue_failures(window, settle)
    view = open_meeting(window, [os_user()])
    if view is not None:
        view.showNormal()
        view.resize(window.size())
        settle()
    return view
