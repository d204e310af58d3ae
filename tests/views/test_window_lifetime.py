"""A closed window is freed: what outlives it (its task runner, its controller) holds no
reference to it, so its plots, their menus and its panels go with it."""

import gc
import weakref

from tests.conftest import deliver_deferred_deletes
from tests.views.helpers import close_window, make_window, open_demo


def test_a_closed_window_is_collected_while_its_runner_and_controller_live_on(qtbot, qsettings, window_demo_files):
    window = make_window(None, qsettings)
    open_demo(qtbot, window, window_demo_files)  # the panels draw their plots, with their menus
    tasks, controller = window.tasks, window.controller
    window_ref = weakref.ref(window)
    window.close()
    close_window(window)
    window.deleteLater()
    deliver_deferred_deletes()
    del window
    gc.collect()
    assert window_ref() is None, "a signal of the runner or the controller still holds the closed window"
    assert tasks is not None and controller is not None  # both outlive the window, as in the app
