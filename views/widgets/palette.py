"""One colour per model version, the same in every panel, legend and plot.

A version's colour is keyed by its place in the card order of the whole log (the Session's
``version_position``), never by its place among the versions a result happens to hold, so a
slice that holds only the second version still draws it in the second colour.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap

from app.state import Session

VERSION_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
"""Okabe-Ito: distinguishable for the common colour-vision deficiencies."""


def version_colour(session: Session, version: str | None) -> QColor:
    """The colour of ``version`` of the active log."""
    return QColor(VERSION_COLOURS[session.version_position(version) % len(VERSION_COLOURS)])


def version_swatch(session: Session, version: str | None, size: int = 12) -> QIcon:
    """A small square of the version's colour, for a header or a list item beside its name."""
    pixmap = QPixmap(size, size)
    pixmap.fill(version_colour(session, version))
    return QIcon(pixmap)
