"""Results a process keeps by what they are a function of, so that reopening a log does not
compute them again (a queue's intake, a reference, a window reopened open the same log)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class KeptResults:
    """At most ``kept`` results by key, the least recently used dropped first; safe to share
    between threads (a lock guards the table, never the work that makes a result)."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._results: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The result kept for ``key``, None when none is."""
        with self._lock:
            if key not in self._results:
                return None
            self._results.move_to_end(key)
            return self._results[key]

    def keep(self, key: Hashable, result: Any) -> None:
        with self._lock:
            self._results[key] = result
            self._results.move_to_end(key)
            while len(self._results) > self.kept:
                self._results.popitem(last=False)
