"""The contract every long analysis function takes: report progress, honour cancel.

Analysis functions know nothing of threads. They accept ``progress`` (a callable taking a
fraction in [0, 1] and a short message) and ``cancel`` (a :class:`CancelToken`), call
``progress`` now and then, and call ``cancel.raise_if_cancelled()`` between steps. The
app's task runner supplies both; tests and the CLI pass the defaults.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol


class Cancelled(Exception):
    """Raised inside a job when the user (or a newer request) cancelled it."""


class Progress(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None: ...


def no_progress(fraction: float, message: str = "") -> None:
    """Default progress sink for callers that do not show progress."""


class CancelToken:
    """A thread-safe flag plus hooks that stop work already running inside DuckDB.

    A long single SQL statement cannot check a flag, so code that runs one registers the
    cursor's ``interrupt`` with :meth:`on_cancel`; cancelling then interrupts the statement.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # an interrupt of a finished cursor is harmless
                pass

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook`` on cancel (at once if already cancelled); returns an unregister."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._hooks.append(hook)
        if already:
            hook()

        def unregister() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return unregister

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


NEVER_CANCELLED = CancelToken()
"""A token nobody cancels; the default for callers without a cancel button."""


def scaled(progress: Progress, start: float, stop: float) -> Progress:
    """A progress sink that maps [0, 1] onto [start, stop] of ``progress``, for sub-steps."""

    def report(fraction: float, message: str = "") -> None:
        progress(start + (stop - start) * min(max(fraction, 0.0), 1.0), message)

    return report
