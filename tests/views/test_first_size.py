"""The window's first size fits the screen it opens on, and a saved size is reused only where it
fits: at 1440x900 on a 1280x720 screen (Xvfb, no window manager) the slice bar's *Build…*, the
time range and the plot's end were off the screen. The offscreen screen (800 px wide) is
narrower than the window's minimum width, so the screen's free area is a laptop's here: 1280x720
below a 32-pixel top bar."""

import pytest
from PySide6.QtCore import QByteArray, QRect, QSettings
from PySide6.QtWidgets import QApplication

import app.main_window
from tests.views.helpers import close_window, make_window

LAPTOP = QRect(0, 32, 1280, 688)


@pytest.fixture
def laptop(monkeypatch):
    monkeypatch.setattr(app.main_window, "_available_area", lambda: LAPTOP)
    return LAPTOP


def _start(qtbot, qsettings):
    """The window as ``sleuth`` starts it, on the settings the last start wrote when it closed."""
    window = make_window(qtbot, QSettings(qsettings.fileName(), QSettings.IniFormat), size=None)
    QApplication.processEvents()
    return window


def _stop(window):
    window.close()
    close_window(window)


def test_the_first_window_fills_a_smaller_screen_with_its_frame_inside(qtbot, qsettings, laptop):
    window = _start(qtbot, qsettings)
    try:
        frame = window.frameGeometry()
        assert laptop.contains(frame), (frame, laptop)
        assert frame.width() >= laptop.width() - 2 and frame.height() >= laptop.height() - 2
        bar = window.slice_bar
        assert laptop.contains(QRect(bar.mapToGlobal(bar.rect().topLeft()), bar.size()))
    finally:
        _stop(window)


def test_a_saved_size_is_restored_where_it_fits_and_ignored_where_it_does_not(qtbot, qsettings, laptop):
    window = _start(qtbot, qsettings)
    window.setGeometry(laptop.x() + 20, laptop.y() + 30, 900, 650)
    QApplication.processEvents()
    kept = window.geometry()
    _stop(window)
    again = _start(qtbot, qsettings)
    try:
        # Qt squeezes the width to the real offscreen screen (800 px) when it restores: the top and
        # the height say the saved geometry, not the first size (the whole free area), came back.
        assert (again.geometry().top(), again.height()) == (kept.top(), kept.height()), (again.geometry(), kept)
        again.resize(1600, 1000)  # a size from a larger monitor
        QApplication.processEvents()
    finally:
        _stop(again)
    third = _start(qtbot, qsettings)
    try:
        frame = third.frameGeometry()
        assert laptop.contains(frame) and frame.width() >= laptop.width() - 2, (frame, laptop)
    finally:
        _stop(third)


def test_a_saved_geometry_that_is_not_one_opens_at_the_first_size(qtbot, qsettings, laptop):
    qsettings.setValue("geometry", QByteArray(b"\x00\x01 not a geometry"))
    qsettings.sync()
    window = _start(qtbot, qsettings)
    try:
        assert laptop.contains(window.frameGeometry()) and window.width() >= laptop.width() - 4
    finally:
        _stop(window)


def test_the_preferred_size_is_kept_where_the_screen_has_room(qtbot, qsettings, monkeypatch):
    monkeypatch.setattr(app.main_window, "_available_area", lambda: QRect(0, 0, 2560, 1440))
    window = _start(qtbot, qsettings)
    try:
        assert (window.width(), window.height()) == (1440, 900)
        assert QRect(0, 0, 2560, 1440).center() == window.geometry().center() or \
            (window.geometry().center() - QRect(0, 0, 2560, 1440).center()).manhattanLength() <= 2
    finally:
        _stop(window)
