"""What every panel promises, checked over every panel found in ``views/panels`` (as Orange's
``WidgetTest`` does): it builds on an empty Session and on the demo log, draws something, takes
a full refresh without raising, names a focus widget of its own, and previews alone.
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import views.panels
from analysis.data.open_log import load_log
from app.commands import AddDataset
from app.state import Changes, OpenDataset, Session
from app.tasks import TaskRunner
from tests.views.helpers import not_blank
from views.panel import Panel


def _panel_classes() -> list[type[Panel]]:
    found = []
    for info in pkgutil.iter_modules(views.panels.__path__):
        module = importlib.import_module(f"views.panels.{info.name}")
        found += [cls for _name, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, Panel) and cls.__module__ == module.__name__]
    return found


PANELS = _panel_classes()


def test_every_panel_module_holds_a_panel():
    modules = {info.name for info in pkgutil.iter_modules(views.panels.__path__)}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in PANELS} == modules


@pytest.fixture(scope="module")
def demo_session(demo_files, qapp):
    """One Session with the demo log open, shared by the module's tests (they only read it)."""
    session, tasks = Session(), TaskRunner(synchronous=True)
    loaded = load_log(session.store, [str(demo_files.log)], check=False)
    session.run(AddDataset(OpenDataset(loaded.dataset, loaded.roles, "log", loaded.issues), persist=False))
    yield session, tasks
    tasks.shutdown()
    session.close()


def _show(qtbot, panel: Panel) -> Panel:
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    return panel


@pytest.mark.parametrize("panel_class", PANELS, ids=lambda cls: cls.__name__)
def test_a_panel_on_an_empty_session_draws_and_refreshes(qtbot, sync_tasks, panel_class):
    session = Session()
    panel = _show(qtbot, panel_class(session, sync_tasks))
    assert not_blank(panel)
    panel.refresh(Changes.everything())
    focus = panel.focus_widget()
    assert focus is panel or panel.isAncestorOf(focus)
    assert panel.listens_to and panel.title
    session.close()


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&gt;", ">").replace("&lt;", "<").strip()


@pytest.mark.parametrize("panel_class", PANELS, ids=lambda cls: cls.__name__)
def test_a_panel_with_nothing_to_show_says_so_in_a_sentence(qtbot, sync_tasks, panel_class):
    """With no log open, the panel's empty state (``Panel.show_empty``) is up, and it is a
    sentence or two of words saying what to do, not a blank widget."""
    session = Session()
    panel = _show(qtbot, panel_class(session, sync_tasks))
    panel.refresh(Changes.everything())
    text = _plain(panel.empty_message())
    session.close()
    assert re.fullmatch(r"[A-Z][^.!?]*\w[^.!?]*[.!?](\s[^.!?]*[.!?])*", text), text
    assert len(text.split()) >= 5, text


@pytest.mark.parametrize("panel_class", PANELS, ids=lambda cls: cls.__name__)
def test_a_panel_on_the_demo_log_draws_and_refreshes(qtbot, demo_session, panel_class):
    session, tasks = demo_session
    errors = []
    tasks.sig_error.connect(lambda _task, text: errors.append(text))
    panel = _show(qtbot, panel_class(session, tasks))
    panel.refresh(Changes.everything())
    assert not_blank(panel)
    assert errors == []
    assert not tasks.running()


@pytest.mark.parametrize("panel_class", PANELS, ids=lambda cls: cls.__name__)
def test_a_panel_module_previews_its_panel_alone(panel_class):
    """``python -m views.panels.NAME`` ends with ``preview(ThatPanel)`` under ``__main__``."""
    tree = ast.parse(Path(inspect.getfile(panel_class)).read_text())
    main = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    assert main and ast.unparse(main[0].body[0]) == f"preview({panel_class.__name__})"
