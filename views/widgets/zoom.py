"""Zoom for a projector: one factor scales every font of the window, plot axes included.

Three people reading a laptop's screen on a projector need larger text everywhere at once, not
per panel. Widgets take the application font, so setting it scales every label, table and
menu; pyqtgraph's axes and legends draw with fonts of their own and cache their size, so each
gets the new font explicitly (a plot made later takes the application font by itself).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QGraphicsView, QWidget

ZOOM_STEPS = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0)
"""The factors Zoom in / Zoom out walk through; 1.0 is the platform's own font size."""


def next_zoom(current: float, steps: int) -> float:
    """The factor ``steps`` steps above (or below, when negative) ``current``, within ZOOM_STEPS."""
    nearest = min(range(len(ZOOM_STEPS)), key=lambda i: abs(ZOOM_STEPS[i] - current))
    return ZOOM_STEPS[max(0, min(len(ZOOM_STEPS) - 1, nearest + steps))]


def apply_zoom(base: QFont, factor: float, root: QWidget) -> QFont:
    """Make the application font ``base`` scaled by ``factor`` and give it to every plot axis
    under ``root``; returns the font set."""
    font = QFont(base)
    font.setPointSizeF(base.pointSizeF() * factor)
    QApplication.setFont(font)
    for view in root.findChildren(QGraphicsView):
        scene = view.scene()
        for item in scene.items() if scene is not None else ():
            if isinstance(item, pg.AxisItem):
                item.setTickFont(font)
                item.label.setFont(font)
                item.setLabel(item.labelText, item.labelUnits, item.labelUnitPrefix, **item.labelStyle)
            elif isinstance(item, pg.LegendItem):
                _scale_legend(item, font)
    return font


def _scale_legend(legend: pg.LegendItem, font: QFont) -> None:
    """A legend's entries keep the size they were made with: write them again at ``font``'s."""
    size = f"{font.pointSizeF():.1f}pt"
    legend.setLabelTextSize(size)
    for _sample, label in legend.items:
        label.setText(label.text, size=size)
