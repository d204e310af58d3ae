"""Colours and small formatting rules shared by every panel, so a version looks the same everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor

# Okabe-Ito: distinguishable for the common colour-vision deficiencies.
VERSION_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def version_colour(index: int) -> QColor:
    return QColor(VERSION_COLOURS[index % len(VERSION_COLOURS)])
