"""Maximising one panel and putting the layout back, for a projector or a small screen.

In a review meeting the panel being discussed should fill the screen, and the layout the person
arranged must come back exactly afterwards. Maximising hides every other dock (and the table
with the slice bar when a dock is maximised) after keeping ``saveState``; restoring puts that
state back, so rearranged, floated or closed docks return as they were. A double-click on a
panel's tab or title bar does what the key does, instead of Qt's default of floating the dock
(the float button still floats it).

Every event of a widget with a Python event filter is a call into Python, which takes the
interpreter lock (and waits for a worker holding it). So the window itself is not filtered:
the tab bars Qt makes for tabified docks come and go with the layout and are found when a
dock moves, floats or is shown, and report a double-click by their own signal; only the docks
are filtered, for their title bars.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt
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
        self._bars: set[int] = set()  # tab bars whose double-click is connected, by id
        for dock in docks:
            self.watch(dock)
        window.tabifiedDockWidgetActivated.connect(lambda _dock: self._find_tab_bars())

    def watch(self, dock: QDockWidget) -> None:
        """Follow ``dock``: a double-click on its title bar, and the tab bars its moves create."""
        dock.installEventFilter(self)
        for signal in (dock.dockLocationChanged, dock.topLevelChanged, dock.visibilityChanged):
            signal.connect(lambda *_: self._find_tab_bars())
        self._find_tab_bars()

    def _find_tab_bars(self) -> None:
        """Connect the double-click of every tab bar of the window's dock areas not yet connected."""
        for bar in self.window.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly):
            if id(bar) not in self._bars:
                self._bars.add(id(bar))
                bar.tabBarDoubleClicked.connect(lambda index, bar=bar: self._tab_double_clicked(bar, index))
                bar.destroyed.connect(lambda _o=None, key=id(bar): self._bars.discard(key))

    def _tab_double_clicked(self, bar: QTabBar, index: int) -> None:
        title = bar.tabText(index) if index >= 0 else None
        target = next((d for d in self.docks if d.windowTitle() == title), None)
        if target is not None:
            self.toggle(target)

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
        self._find_tab_bars()

    def dock_with_focus(self, focus: QWidget | None) -> QWidget:
        """The dock holding ``focus``; the central widget (table and slice bar) otherwise."""
        widget = focus
        while widget is not None:
            if isinstance(widget, QDockWidget) and widget in self.docks:
                return widget
            widget = widget.parentWidget()
        return self.window.centralWidget()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A double-click on a dock's title bar maximises (Qt's default would float the dock)."""
        if event.type() == QEvent.MouseButtonDblClick and self._on_title_bar(watched, event):
            self.toggle(watched)
            return True
        return False

    @staticmethod
    def _on_title_bar(dock: QObject, event) -> bool:
        """Whether ``event`` happened above ``dock``'s panel, on its title bar."""
        return (isinstance(dock, QDockWidget) and dock.widget() is not None
                and event.position().toPoint().y() < dock.widget().geometry().top())
