import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.views.helpers import close_window, make_window


@pytest.fixture
def app_window(qtbot, qsettings):
    """The main window, shown offscreen, with nothing open; its jobs run inline."""
    window = make_window(qtbot, qsettings)
    yield window
    close_window(window)


@pytest.fixture(autouse=True)
def no_dangling_single_shot_timers(monkeypatch, qapp):
    """Fail a test that leaves a ``QTimer.singleShot`` callback unfired (napari's
    ``dangling_qtimers``): it would run in a later test, on widgets already deleted. A timer a
    widget owns dies with the widget and is not tracked."""
    pending = []
    original = QTimer.singleShot

    def tracked(msec, *rest):
        if len(rest) != 1 or not callable(rest[0]):
            return original(msec, *rest)
        callback = rest[0]
        pending.append(callback)

        def fire():
            pending.remove(callback)
            callback()

        return original(msec, fire)

    monkeypatch.setattr(QTimer, "singleShot", tracked)
    yield
    QApplication.processEvents()
    assert not pending, f"QTimer.singleShot callbacks left unfired after the test: {pending}"


@pytest.fixture(scope="session")
def window_demo_influence():
    """One influence cache for the tests that trace or blame rows of the 20k demo with its own
    snapshot and models, as one window keeps each model's preparation for the next rows: each
    model is prepared once per worker, not in every test (2-3 CPU-s each time). The traces
    are the same from a kept preparation. A test passes it to its Session, whose cache every
    view traces through; one that counts preparations (test_trace.py's first) gives its Session
    a cache of its own."""
    from analysis.trace.tracer import InfluenceCache

    return InfluenceCache()
