"""The failing slices an intake searched, kept by their owner for the next intake of the same rows.

Discovery is most of an intake's CPU, and intakes repeat it on the same rows: the same log
queued again, with and without the checks' findings, or a window's "add to queue" clicked
twice. Who keeps the results is the one who runs intakes: the window's Session keeps one
:class:`DiscoveryCache` for its life, a CLI run one for its commands, and passes it down as the
trace's :class:`~analysis.trace.tracer.InfluenceCache` is passed (no process-wide state: two
sessions, or a test and the next, never see each other's results unless they share one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from analysis.discovery.failing_slices import DiscoverySettings, failing_slices, row_error_sql
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, where_clause
from analysis.scope import Scope

KEPT = 16
"""Searches a cache keeps (the least recently used goes first): one per version and rows queued."""


class DiscoveryCache:
    """:func:`~analysis.discovery.failing_slices.failing_slices` results by what they depend on
    (:func:`rows_read` and the settings), at most ``kept`` of them, safe to share between the
    GUI thread and workers (a lock guards the table; a search runs outside it, so a second
    worker never waits on another's search of other rows)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._found: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def failing_slices(self, scope: Scope, settings: DiscoverySettings,
                       cancel: CancelToken = NEVER_CANCELLED) -> tuple:
        """The search's result, kept from an earlier search of the same rows or searched now.
        The key is what the search reads, so a changed file, label or condition searches again;
        a condition whose parameters cannot be keyed (a list of rows) is searched each time."""
        key = (rows_read(scope, settings), settings)
        try:
            hash(key)
        except TypeError:
            return tuple(failing_slices(scope, settings, cancel=cancel))
        with self._lock:
            if key in self._found:
                self._found.move_to_end(key)
                return self._found[key]
        found = tuple(failing_slices(scope, settings, cancel=cancel))
        with self._lock:
            self._found[key] = found
            while len(self._found) > self.kept:
                self._found.popitem(last=False)
        return found


def rows_read(scope: Scope, settings: DiscoverySettings) -> tuple:
    """What discovery's result depends on: the columns (names and types), the roles, the
    condition, and a fingerprint of the rows it reads (their number and the sum of a hash of each
    row's id, error, version and features: one scan, a small part of the search's many)."""
    store, dataset, roles, condition = scope.store, scope.dataset, scope.roles, scope.condition
    read = [ROW_ID] + [c for c in [roles.model_version, *roles.features] if c and c in dataset.column_names]
    error = row_error_sql(dataset, roles, settings.error)
    where = where_clause(condition)
    fingerprint = store.rows(Sql(
        f"SELECT count(*), sum(hash({', '.join(ident(c) for c in read)}, {error})) "
        f"FROM {ident(dataset.view)}{where.text}", where.params))[0]
    columns = tuple((c.name, c.dtype) for c in dataset.columns)
    return (columns, roles, None if condition is None else (condition.text, condition.params), tuple(fingerprint))
