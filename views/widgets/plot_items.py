"""Plot items a panel keeps across redraws (a draggable box, a time band, shaded windows).

A pyqtgraph item with child items (an ROI's handles, a region's two edge lines) that no scene
holds is owned by Python alone; left to Python's garbage collector, PySide6 (6.11) can delete
its children's C++ objects twice and crash the process: the suite hit it in a collection after
a comparison panel whose score box had never been drawn (core dump: an ROI ``Handle``'s
wrapper freed inside its ROI's collection). So a kept item always stays in its plot, hidden
when it is not in use, and the scene deletes it with the panel.
"""

from __future__ import annotations

import pyqtgraph as pg


def keep_in_plot(plot: pg.PlotWidget, item: pg.GraphicsObject) -> None:
    """Put ``item`` (back) in ``plot`` unless it is there: a ``clear()`` of the plot takes out
    every item, kept ones included."""
    if item.scene() is not plot.scene():
        plot.addItem(item)
