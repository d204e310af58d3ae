"""Maximising one panel and putting the layout back, for a projector or a small screen.

In a review meeting the panel being discussed should fill the screen, and the layout the person
arranged must come back exactly afterwards. Maximising hides every other dock (and the table
with the slice bar when a dock is maximised) after keeping ``saveState``; restoring puts that
state back, so rearranged, floated or closed docks return as they were. A double-click on a
panel's tab or title bar does what the key does, instead of Qt's default of floating the dock
(the float button still floats it).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabBar, QWidget


class PanelMaximiser(QObject):
    """Shows one dock, or the central table, alone; ``toggle`` again restores the layout."""

    def __init__(self, window: QMainWindow, docks: list[QDockWidget], layout_version: int) -> None:
        super().__init__(window)
        self.window = window
        self.docks = docks  # the window's list: a dock added later is covered too
        self.layout_version = layout_version
        self.maximised: QWidget | None = None
        self._saved: QByteArray | None = None
        window.installEventFilter(self)
        for dock in docks:
            dock.installEventFilter(self)

    def toggle(self, target: QWidget) -> None:
        """Maximise ``target`` (a dock, or the central widget), or restore when one is maximised."""
        if self.maximised is not None:
            self.restore()
        else:
            self.maximise(target)

    def maximise(self, target: QWidget) -> None:
        self._saved = self.window.saveState(self.layout_version)
        self.maximised = target
        central = self.window.centralWidget()
        for dock in self.docks:
            if dock is not target:
                dock.hide()
        if isinstance(target, QDockWidget):
            central.hide()
            target.show()
            target.raise_()

    def restore(self) -> None:
        """Put back the layout kept when maximising (nothing happens when none is maximised)."""
        if self.maximised is None:
            return
        self.maximised = None
        self.window.centralWidget().show()
        if self._saved is not None:
            self.window.restoreState(self._saved, self.layout_version)
        self._saved = None

    def dock_with_focus(self, focus: QWidget | None) -> QWidget:
        """The dock holding ``focus``; the central widget (table and slice bar) otherwise."""
        widget = focus
        while widget is not None:
            if isinstance(widget, QDockWidget) and widget in self.docks:
                return widget
            widget = widget.parentWidget()
        return self.window.centralWidget()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.ChildPolished and watched is self.window:
            child = event.child()
            # Tab bars of tabified docks come and go with the layout; a dock may be added later.
            if isinstance(child, (QTabBar, QDockWidget)):
                child.installEventFilter(self)
        elif event.type() == QEvent.MouseButtonDblClick:
            target = self._double_clicked_dock(watched, event)
            if target is not None:
                self.toggle(target)
                return True
        return False

    def _double_clicked_dock(self, watched: QObject, event) -> QDockWidget | None:
        """The dock whose tab or title bar was double-clicked, if that is what happened."""
        position = event.position().toPoint()
        if isinstance(watched, QTabBar):
            index = watched.tabAt(position)
            title = watched.tabText(index) if index >= 0 else None
            return next((d for d in self.docks if d.windowTitle() == title), None)
        if isinstance(watched, QDockWidget) and watched.widget() is not None:
            return watched if position.y() < watched.widget().geometry().top() else None
        return None
