"""The failure queue's place in the main window: its dock and its View menu entries.

Kept out of ``main_window.py`` so the shell's own layout (docks, zoom, menus) can change
without touching the queue, and the window gains the queue in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from views.panel import narrow_slice
from views.panels.queue import QueuePanel

if TYPE_CHECKING:
    from app.main_window import MainWindow


def install_queue(window: "MainWindow") -> None:
    """Add the queue panel as a dock tabbed with the others, and View > Failure queue."""
    window.queue_panel = QueuePanel(window.session, window.tasks)
    window.queue_panel.sig_open_slice.connect(lambda predicate: narrow_slice(window.session, predicate))
    window.queue_dock = window._dock(window.queue_panel, Qt.TopDockWidgetArea)
    window.tabifyDockWidget(window.findings_dock, window.queue_dock)
    view_menu = window.actions_by_id["show_data"].associatedObjects()[0]
    view_menu.addAction(window.queue_dock.toggleViewAction())
