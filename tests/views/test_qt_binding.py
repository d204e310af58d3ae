"""The Qt binding must not lose references while painting plots (PySide6 6.12.0 did).

Each repaint of a pyqtgraph view dropped one reference to ``None`` and ``True``; a session
of scrolling and re-plotting then aborted the interpreter ("bool_dealloc"). pyproject.toml
excludes that release; this test fails if a binding with the same fault is installed.
"""

import gc
import sys

import pyqtgraph as pg


def test_repainting_a_plot_keeps_reference_counts(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.plot([0, 1, 2], [1, 0, 1], symbol="o")
    plot.resize(300, 200)
    plot.grab()
    gc.collect()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        plot.grab()
    gc.collect()
    after = sys.getrefcount(None), sys.getrefcount(True)
    assert after[0] >= before[0] - 20, f"None lost {before[0] - after[0]} references in 200 repaints"
    assert after[1] >= before[1] - 20, f"True lost {before[1] - after[1]} references in 200 repaints"
