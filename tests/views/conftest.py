import pytest

from tests.views.helpers import close_window, make_window


@pytest.fixture
def app_window(qtbot, qsettings):
    """The main window, shown offscreen, with nothing open."""
    window = make_window(qtbot, qsettings)
    yield window
    close_window(window)
