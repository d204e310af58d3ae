import pytest

from tests.views.helpers import panel_builder


@pytest.fixture
def demo_panel(qtbot, sync_tasks, demo_files):
    """Builds a panel alone on the 200k demo log, shown, its jobs run inline: the panel's tests
    need no window. For tests whose assertions rest on the full demo's sizes (a slice found
    significant, a ranking); the others take :func:`window_demo_panel`."""
    build, sessions = panel_builder(qtbot, sync_tasks, demo_files.log)
    yield build
    for session in sessions:
        session.close()


@pytest.fixture
def window_demo_panel(qtbot, sync_tasks, window_demo_files):
    """As :func:`demo_panel`, on the 20k demo log (a tenth of the CPU to open and to refresh):
    for tests that compare what a panel shows with pandas on the same rows."""
    build, sessions = panel_builder(qtbot, sync_tasks, window_demo_files.log)
    yield build
    for session in sessions:
        session.close()
