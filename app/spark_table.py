"""The window's table over a whole table on Spark, while the other panels work on the pull.

File > Connect to Spark… pulls a sample into this machine's DuckDB for the panels that need
rows (:mod:`app.spark_pull`), and keeps the Spark session open as a :class:`ClusterTable`: the
table then shows every row on the cluster, a page at a time, by keyset pagination
(:mod:`analysis.engine.pages`): the page after one already shown starts after its last row,
the page before ends before its first, and a page with no neighbour fetched (a jump, a drag of
the scroll bar) is found by selection. Nothing is numbered or sorted on the cluster, so a sort
by a clicked column costs one count, not a sort of billions of rows.

The Qt model asks for pages by position (``start``, ``stop``); :class:`ClusterPages` turns a
position into the bookmarks that find it, remembering where each fetched page began and ended.
Its functions run as jobs on the task runner (progress, cancel); the panel runs no SQL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from analysis.dataset import Dataset
from analysis.engine.fetched_rows import append_rows, fetch_engine_row
from analysis.engine.pages import (
    Bookmark, KeysetPage, KeysetTable, bookmark_of, find_beyond, open_keyset_table, page_after, page_at, page_before,
)
from analysis.errors import InputError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import Sql
from analysis.report.cell_text import pages_text
from analysis.window import Page, TableSpec, containing

if TYPE_CHECKING:  # Spark's client and SQLGlot load when a pull first needs them, not with the window
    from analysis.engine.sample import Sample

CLOSE_WAIT_S = 5
"""How long closing a cluster table waits for its session to stop."""

COPY_MAX_ROWS = 1_000_000
"""The most rows one copy brings from the cluster to the clipboard (about a spreadsheet's limit);
a larger selection is refused in one sentence rather than pulled."""


@dataclass(eq=False)
class ClusterTable:
    """A table on a Spark Connect server, kept open after a pull: its session (``store``), its
    view there (``dataset``), the pull's filter (``condition``), and what was pulled (``sample``)."""

    store: object
    dataset: Dataset
    condition: Sql | None
    sample: Sample
    fetched: dict[int, int] = field(default_factory=dict)
    """Rows fetched from the cluster into the pull since (their id there -> their local id)."""
    _fetching: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        """The server's URL without its parameters (never a token)."""
        return self.store.url

    def spec(self, columns: tuple[str, ...], condition: Sql | None, sort: tuple) -> TableSpec:
        """What the table shows on the cluster: ``columns`` of the rows matching the slice's
        ``condition`` (same columns as the pull, so its SQL reads them there) and the pull's filter."""
        both = condition & self.condition if condition is not None else self.condition
        return TableSpec(view=self.dataset.view, columns=columns, condition=both, sort=sort)

    def pulled_row(self, row_id: int | None) -> int | None:
        """The pull's row (its local id) that is the cluster's row ``row_id``; None when the
        pull does not hold it (a sample, or a row outside the pull's filter) and it was not
        fetched since (:meth:`fetch_row`)."""
        local = self.sample.pulled_row(row_id)
        return self.fetched.get(row_id) if local is None else local

    def fetch_row(self, local, pulled: Dataset, row_id: int, cancel: CancelToken = NEVER_CANCELLED) -> int:
        """The local id of the cluster's row ``row_id`` in ``pulled`` (the pull's log in the
        ``local`` store), fetched from the cluster first when the pull lacks it: one keyed query,
        one row back, appended to the pulled rows so the other panels read it. One fetch at a
        time, so the fetched rows' ids stay dense."""
        with self._fetching:
            known = self.pulled_row(row_id)
            if known is not None:
                return known
            rows = fetch_engine_row(self.store, self.dataset, row_id, cancel)
            if rows.empty:
                raise InputError(f"row id {row_id:,} is no longer in the table on {self.url}")
            first = pulled.row_count + len(self.fetched)
            append_rows(local, pulled, rows.head(1), first, cancel)
            self.fetched[row_id] = first
            return first

    def pulled_rows(self, row_ids: Iterable[int]) -> tuple[list[int], int]:
        """The pull's rows among the cluster's ``row_ids``, and how many of those are not in it."""
        ids = set(row_ids)
        found = [local for local in map(self.pulled_row, ids) if local is not None]
        return found, len(ids) - len(found)

    def where_row(self, row_id: int | None) -> str:
        """Where the other panels read the cluster's row ``row_id`` (the status line's words),
        e.g. "row 41,207 on the cluster is row 812 of the pulled sample", or that they cannot."""
        if row_id is None:
            return ""
        local = self.pulled_row(row_id)
        if local is None:
            return (f"row id {row_id:,} is on {self.url} only, not among the {self.sample.rows:,} pulled rows "
                    f"the other panels read: fetching it from the cluster…")
        fetched = ", fetched from the cluster," if row_id in self.fetched else ""
        return f"row id {row_id:,} on {self.url}{fetched} is row {local:,} of the pulled rows: the other panels show it"

    def close(self) -> None:
        """Stop the session (the cluster drops its temporary views) without waiting more than
        ``CLOSE_WAIT_S``: Spark's client retries a server that died for minutes, and closing the
        window must not wait for that; a server already gone is no error."""
        def stop() -> None:
            try:
                self.store.close()
            except Exception:  # noqa: BLE001 - closing what may already be dead
                pass

        closing = threading.Thread(target=stop, name="sleuth-spark-close", daemon=True)
        closing.start()
        closing.join(CLOSE_WAIT_S)


def open_cluster_pages(cluster: ClusterTable, spec: TableSpec, cancel: CancelToken = NEVER_CANCELLED) -> "ClusterPages":
    """Count the rows ``spec`` shows on the cluster (one aggregate): the table's row count."""
    return ClusterPages(cluster, open_keyset_table(cluster.store, cluster.dataset, spec, cancel))


class ClusterPages:
    """One ordering of a cluster table, read by position.

    ``fetch(start, stop)`` reads the page after the bookmark of row ``start - 1`` when a page
    ending there was fetched, the page before row ``stop`` when one starting there was, and
    otherwise jumps (selection with exact counts). Pages are fetched on two worker threads, so
    the bookmarks are kept under a lock.
    """

    def __init__(self, cluster: ClusterTable, table: KeysetTable) -> None:
        self.cluster = cluster
        self.table = table
        self._lock = threading.Lock()
        self._row_at: dict[int, Bookmark] = {}
        """Bookmarks of the first and last rows of fetched pages, by position."""

    @property
    def row_count(self) -> int:
        return self.table.row_count

    def fetch(self, start: int, stop: int, cancel: CancelToken = NEVER_CANCELLED) -> Page:
        """Rows ``start .. stop - 1`` of the order, from the nearest bookmark."""
        store, size = self.cluster.store, stop - start
        with self._lock:
            before, after = self._row_at.get(start - 1), self._row_at.get(stop)
        if start == 0 or before is not None:
            found = page_after(store, self.table, before, start, size, cancel)
        elif after is not None:
            found = page_before(store, self.table, after, stop, size, cancel)
        else:
            found = page_at(store, self.table, start, size, cancel)
        self._remember(found)
        return found.page

    def find(self, text: str, column: str | None, after: tuple[int, Sequence[Any]] | None, forward: bool = True,
             cancel: CancelToken = NEVER_CANCELLED) -> int | None:
        """The position of the next row (previous when not ``forward``) whose value contains
        ``text`` in ``column`` (any shown column when None), searched on the cluster past the
        shown row ``after`` (its id and shown values; None: from the top) and wrapping around."""
        columns = (column,) if column else self.table.spec.columns
        if not text or not columns:
            return None
        bookmark = bookmark_of(self.table, *after) if after is not None else None
        return find_beyond(self.cluster.store, self.table, containing(columns, text), bookmark, forward, cancel)

    def selection_text(self, ranges: Sequence[tuple[int, int, int, int]], progress: Progress = no_progress,
                       cancel: CancelToken = NEVER_CANCELLED) -> str:
        """The selected cells as the local table copies them (TSV, a header, formulas
        neutralised), read from the cluster a keyset page at a time; more than
        ``COPY_MAX_ROWS`` rows is refused in one sentence."""
        rows = sum(bottom - top + 1 for top, bottom, _, _ in ranges)
        if rows > COPY_MAX_ROWS:
            raise InputError(f"{rows:,} rows are selected on {self.cluster.url}; a copy brings at most "
                             f"{COPY_MAX_ROWS:,} rows from the cluster: select fewer, or narrow the slice")
        return pages_text(lambda start, stop: self.fetch(start, stop, cancel).raw, self.table.spec.columns, ranges,
                          progress, cancel)

    def _remember(self, found: KeysetPage) -> None:
        if found.first is None:
            return
        with self._lock:
            self._row_at[found.page.start] = found.first
            self._row_at[found.page.start + len(found.page) - 1] = found.last

    def describe(self, sliced: bool) -> str:
        """The table's header: where its rows are and what the other panels read, e.g.
        "3,200,000,000 rows on sc://host; other panels on a 1,000,000-row sample" (with the
        pull's filter: "... rows matching amount > 20 on ...")."""
        sample = self.cluster.sample
        rows = (f"{self.row_count:,} rows" + (f" matching {sample.where}" if sample.where else "")
                + (" in the slice" if sliced else ""))
        pulled = (f"a {sample.rows:,}-row sample" if sample.rows < sample.of_rows
                  else f"all {sample.rows:,} rows, pulled")
        return f"{rows} on {self.cluster.url}; other panels on {pulled}"
