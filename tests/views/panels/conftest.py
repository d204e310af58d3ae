import pytest

from app.state import Session
from tests.views.helpers import open_log
from views.panel import narrow_slice


@pytest.fixture
def demo_panel(qtbot, sync_tasks, demo_files):
    """Builds a panel alone on the demo log, shown, its jobs run inline, and its "open this as
    the slice" intent run as the window runs it: the panel's tests need no window."""
    sessions = []

    def build(panel_class, size=(1200, 700)):
        session = Session()
        sessions.append(session)
        open_log(session, demo_files.log)
        panel = panel_class(session, sync_tasks)
        if hasattr(panel, "sig_open_slice"):
            panel.sig_open_slice.connect(lambda predicate: narrow_slice(session, predicate))
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        return panel

    yield build
    for session in sessions:
        session.close()
