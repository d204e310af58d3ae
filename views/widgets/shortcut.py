"""Keyboard shortcuts bound to a function, in the context they are asked for.

PySide6 drops the ``context`` keyword when ``QShortcut`` is built with a Python callable: the
shortcut silently becomes window-wide. A Return meant for one table then fires wherever the
focus is (Return in the slice bar opened the selected failing slice instead of the typed
filter). Every shortcut is made here, which sets the context explicitly.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def shortcut(keys: QKeySequence | QKeySequence.StandardKey | str, parent: QWidget, slot: Callable[[], object],
             context: Qt.ShortcutContext) -> QShortcut:
    """A shortcut on ``parent`` that runs ``slot`` only within ``context``."""
    made = QShortcut(QKeySequence(keys), parent)
    made.setContext(context)
    made.activated.connect(slot)
    return made
