"""The failure queue's place in the main window: its dock and meeting mode (View > Meeting,
F11, an entry of ``app/actions.py``).

Kept out of ``main_window.py`` so the shell's own layout (docks, zoom, menus) can change
without touching the queue, and the window gains the queue in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from analysis.errors import InputError
from analysis.queue.failure_queue import os_user
from views.meeting import MeetingView
from views.panel import narrow_slice
from views.panels.queue import QueuePanel

if TYPE_CHECKING:
    from app.main_window import MainWindow


def add_queue_dock(window: "MainWindow") -> None:
    """Add the queue panel as a dock tabbed with the others; called with the window's other
    docks, so the default layout, Reset layout, the View menu and maximising all know it."""
    window.queue_panel = QueuePanel(window.session, window.tasks)
    window.queue_panel.sig_open_slice.connect(lambda predicate: narrow_slice(window.session, predicate))
    window.queue_dock = window._dock(window.queue_panel, Qt.TopDockWidgetArea)
    window.tabifyDockWidget(window.findings_dock, window.queue_dock)
    window.meeting_view = None


def start_meeting_mode(window: "MainWindow") -> None:
    """Ask who attends, then open meeting mode full screen; a sentence when it cannot start."""
    names, ok = QInputDialog.getText(window, "Meeting", "Who is here (names, comma-separated)?", text=os_user())
    if ok:
        open_meeting(window, names.split(","))


def open_meeting(window: "MainWindow", attendees: list[str]) -> MeetingView | None:
    """Meeting mode with ``attendees``, full screen; None (and a sentence) when it cannot start."""
    try:
        window.meeting_view = MeetingView(window.session, window.tasks, attendees, window, zoom=window.zoom)
    except InputError as exc:
        window.notifications.show_message("error", f"Meeting mode cannot start: {exc}")
        return None
    window.meeting_view.showFullScreen()
    window.meeting_view.setFocus()
    return window.meeting_view
