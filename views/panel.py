"""What every panel shares: the Session changes it follows, its jobs, its empty state, a preview.

After Orange's widget mixin (``ConcurrentWidgetMixin``, ``WidgetPreview``): a panel declares the
:class:`~app.state.Changes` fields it listens to in ``listens_to`` and implements
:meth:`Panel.refresh`, which the base calls only when one of them changed, and only while the
panel is visible: a panel in a dock tab behind another collects the changes and refreshes once
when it is shown, so opening a log computes what is on screen first. Qt calls a dock that is
tabbed behind another visible, so the window tells the panel through :meth:`Panel.set_in_front`
(its dock's ``visibilityChanged``) and the panel waits for its tab to be chosen. A panel runs its
work through :meth:`Panel.run_job` with a per-job done callback (and an optional error one), so
it never filters the runner's global signals to find its own jobs; its jobs are keyed by panel,
so a new request replaces the old one and two panels never cancel each other's work; a job
whose result its inputs alone decide runs through :meth:`Panel.run_kept_job`, so inputs already
computed (all rows again after a filter) are shown again without reading the log. It shows
"nothing to show" through :meth:`Panel.show_empty`, names the widget that takes the keyboard
in :meth:`Panel.focus_widget`, and emits ``sig_rendered`` each time it has drawn a result, the
one signal tests and previews wait on. ``python -m views.panels.NAME`` runs a panel alone on the
demo data through :func:`preview`.
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any, Callable, ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QApplication, QLabel, QStackedWidget, QVBoxLayout, QWidget

from analysis.report.formatting import escape_html
from analysis.scope import Scope
from analysis.slices import EditMode, to_text
from analysis.workspace.version_cards import with_card_names
from app.commands import AddDataset, EditSlice
from app.state import Changes, OpenDataset, Session
from app.tasks import HEAVY, INTERACTIVE, Task, TaskRunner

_NOT_KEPT = object()
"""What :meth:`KeptResults.get` returns for inputs not computed yet (None can be a result)."""


class Panel(QWidget):
    """A view of one concept over the Session; subclasses set ``listens_to`` and ``refresh``."""

    listens_to: ClassVar[frozenset[str]] = frozenset()
    """The :class:`Changes` fields after which :meth:`refresh` must run."""

    title: ClassVar[str] = ""
    """The panel's name in the window's docks and menus, and in its preview."""

    sig_rendered = Signal()

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        unknown = self.listens_to - Changes.field_names()
        if unknown:
            raise TypeError(f"{type(self).__name__} listens to unknown changes: {sorted(unknown)}")
        self.session = session
        self.tasks = tasks
        self._jobs: dict[str, Task] = {}
        self._pending: Changes | None = None
        self._in_front = True  # False while its dock's tab is behind another (see set_in_front)
        self._empty: QLabel | None = None
        self._content_stack: QStackedWidget | None = None

    # --- following the Session ---------------------------------------------------------------

    def follow_session(self) -> None:
        """Start listening to the Session and draw the current state once shown; the last line
        of ``__init__``."""
        self.session.changed.connect(self._session_changed)
        self._session_changed(Changes(**dict.fromkeys(self.listens_to, True)))

    def _session_changed(self, changes: Changes) -> None:
        if not changes.touches(self.listens_to):
            return
        if self.on_screen():
            self.refresh(changes)
        else:
            self._pending = changes if self._pending is None else self._pending | changes

    def on_screen(self) -> bool:
        """Shown and, in a dock, its tab in front: what the person can see now."""
        return self.isVisible() and self._in_front

    def set_in_front(self, in_front: bool) -> None:
        """Follow the dock's ``visibilityChanged``: a tab behind another collects changes and
        refreshes once when its tab is chosen, so its scans never compete with what is shown."""
        self._in_front = in_front
        self._refresh_pending()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._refresh_pending()

    def _refresh_pending(self) -> None:
        if self._pending is not None and self.on_screen():
            pending, self._pending = self._pending, None
            self.refresh(pending)

    def refresh(self, changes: Changes) -> None:
        """Bring the panel up to date after ``changes``, which set at least one field of
        ``listens_to`` (several commands' changes, merged, when the panel was hidden)."""
        raise NotImplementedError

    # --- jobs --------------------------------------------------------------------------------

    def run_job(self, name: str, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None],
                on_error: Callable[[BaseException], None] | None = None,
                on_cancelled: Callable[[], None] | None = None, lane: str = INTERACTIVE,
                label: str = "", **kwargs: Any) -> Task:
        """Run ``fn`` as this panel's job ``name``, replacing a running job of the same name.

        ``on_done`` gets the result on the GUI thread. A failure is reported in the window's
        notification area and, when given, passed to ``on_error`` so the panel can say so
        where its result would have been. A cancelled or superseded job calls only
        ``on_cancelled``.
        """
        task = self.tasks.submit(fn, *args, key=self._job_key(name), lane=lane, label=label,
                                 on_result=on_done, on_error=on_error, notify=True,
                                 on_cancelled=on_cancelled, **kwargs)
        self._jobs[name] = task
        return task

    def run_kept_job(self, name: str, fn: Callable[..., Any], scope: Scope, *args: Any,
                     on_done: Callable[[Any], None], **options: Any) -> Task | None:
        """:meth:`run_job` for a result decided by ``fn(scope, *args)`` alone, kept in the
        Session's :class:`~app.state.KeptResults`: inputs already computed are shown at once,
        and the job of the same name still running (for other inputs) is cancelled, so it
        cannot draw over them. ``fn``'s arguments come positionally (they make the key);
        ``options`` are :meth:`run_job`'s (lane, label, ``on_partial``...)."""
        kept = self.session.results
        key = kept.key(fn, (scope, *args))
        result = kept.get(key, _NOT_KEPT)
        if result is not _NOT_KEPT:
            self.cancel_job(name)
            on_done(result)
            return None

        def done(result: Any) -> None:
            kept.put(key, result)
            on_done(result)
        return self.run_job(name, fn, scope, *args, on_done=done, **options)

    def cancel_job(self, name: str) -> None:
        self.tasks.cancel(self._job_key(name))

    def job_running(self, name: str) -> bool:
        task = self._jobs.get(name)
        return task is not None and not task.done

    def job_cancelled(self, name: str) -> bool:
        """True when the last job ``name`` ended by being cancelled (Esc, or the runner shut down)."""
        task = self._jobs.get(name)
        return task is not None and task.done and task.cancelled

    def _job_key(self, name: str) -> str:
        return f"{type(self).__name__}@{id(self):x}:{name}"

    # --- empty state and focus ---------------------------------------------------------------

    def with_empty_state(self, content: QWidget) -> QStackedWidget:
        """``content`` in a stack with the panel's one empty-state label; add the stack to the layout."""
        self._empty = QLabel()
        self._empty.setAlignment(Qt.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setStyleSheet("color: #666;")
        self._content_stack = QStackedWidget()
        self._content_stack.addWidget(content)
        self._content_stack.addWidget(self._empty)
        return self._content_stack

    def show_empty(self, message: str) -> None:
        """Show ``message`` (why there is nothing, and what to do) in place of the content."""
        assert self._empty is not None and self._content_stack is not None, "call with_empty_state first"
        self._empty.setText(message)
        self._content_stack.setCurrentWidget(self._empty)

    def show_content(self) -> None:
        assert self._content_stack is not None, "call with_empty_state first"
        self._content_stack.setCurrentIndex(0)

    def empty_message(self) -> str:
        """The empty state's text when it is shown, else ""."""
        if self._content_stack is None or self._content_stack.currentWidget() is not self._empty:
            return ""
        return self._empty.text()

    def focus_widget(self) -> QWidget:
        """The widget that takes the keyboard when the panel is brought forward (View menu)."""
        return self

    def rendered(self) -> None:
        """Say that a result was drawn (tests and previews wait on ``sig_rendered``)."""
        self.sig_rendered.emit()


def slice_shown(session: Session) -> str:
    """The rows a panel shows, for its header: "all rows" or the slice's name or text, so
    every header names the slice that the bar shows and the numbers come from; for rows pulled
    from Spark, also what they are of the table ("computed on a 1,000,000-row sample of ...")."""
    if session.condition() is None:
        shown = "all rows"
    else:
        current = session.current_slice
        named = with_card_names(current.predicate, session.active.roles.model_version, session.version_cards)
        shown = f"slice <code>{escape_html(current.name or to_text(named))}</code>"
    return shown + escape_html(pulled_note(session))


def pulled_note(session: Session, name: str | None = None) -> str:
    """" (computed on a 1,000,000-row sample of 3,200,000,000 rows on sc://host)" when the
    dataset ``name`` (the active one by default) is rows pulled from Spark, else "": what a
    header adds so that no number computed on a sample passes for one of the whole table."""
    opened = session.datasets.get(name) if name else session.active
    pulled = opened.pulled if opened is not None else None
    return f" ({pulled.sentence})" if pulled is not None else ""


def narrow_slice(session: Session, predicate, name: str = "") -> None:
    """A panel's "open this as the slice" intent, as the window runs it: narrow the current slice."""
    session.run(EditSlice(predicate, EditMode.NARROW, name))


def preview(panel_class: type[Panel], rows: int = 50_000) -> None:
    """Show ``panel_class`` alone on a fresh demo log, as ``python -m views.panels.NAME`` does.

    The demo is generated into a temporary folder and loaded as a job, so the panel first
    shows its empty state and then follows the Session like it does in the window.
    """
    from analysis.demo.generate import generate_demo
    from analysis.data.open_log import load_log

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="sleuth-preview-") as folder:
        demo = generate_demo(folder, rows=rows)
        session, tasks = Session(), TaskRunner()
        window = QWidget()
        window.setWindowTitle(f"Sleuth — {panel_class.title or panel_class.__name__}")
        panel = panel_class(session, tasks)
        if hasattr(panel, "sig_open_slice"):
            panel.sig_open_slice.connect(lambda predicate: narrow_slice(session, predicate))
        tasks.sig_error.connect(lambda _task, text: print(text, file=sys.stderr))
        QVBoxLayout(window).addWidget(panel)
        tasks.submit(load_log, session.store, [str(demo.log)], check=False, lane=HEAVY, label="Opening the demo",
                     on_result=lambda loaded: session.run(AddDataset(
                         OpenDataset(loaded.dataset, loaded.roles, "log", loaded.issues), persist=False)))
        window.resize(1100, 650)
        window.show()
        code = app.exec()
        tasks.shutdown()
        session.close()
    sys.exit(code)
