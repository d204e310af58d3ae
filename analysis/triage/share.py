"""The share of a large log that the checks' row-level parts read: whole requests, by a hash of the id.

On a log of 100M rows the checks cost about 40 CPU-s per 10M rows, and the cells (the counts per
column, time bucket and group) are already at DuckDB's floor per aggregate (performance log,
g17c). The row-level parts (the null, zero and stuck row scans, the far-beyond and novel-value
scans, triage's localisation of each finding and the rows and model effect it quotes) need rows,
not counts, and a uniform share of them answers their questions: a defect that clusters in time
clusters as much in rows drawn independently of their values, with fewer rows to prove it. So
above :data:`CHECK_SHARE_ROWS` rows they, and the labels' arrival, read a stated share, as
``check --engine`` reads them from rows pulled from the cluster, while the reference profile,
the schema and the cells still count every row, but for the histograms' inner bins: only the
distribution tests read those, their chi-square is then the share's counts' (the power they
state), and their effect floor (a Jensen-Shannon distance of 0.14) stands far above the noise
of a cell's thousands of share rows, so they are counted on the share too
(:mod:`analysis.triage.cells`).

A finding's row count is then the share's rows in its group and window, said to be ("rows in
the share"), not scaled up: an estimate of the whole log's count would need an interval to be
honest, the share's count is exact for the rows the finding was located on, and opening the
finding's slice in the window counts the whole log's rows.

The share is chosen by a hash of the request id (the row id where the log has none), so every
row of a request is in or out together and the repeated ids a shadow log holds are still found
whole; the hash is salted so the row scans' own hashed screens of the row id stay independent of
it. Each engine hashes in its own form (:func:`share_condition`): DuckDB with its own ``hash``,
which Spark has no equal of, and Spark (``check --engine``, whose share is pulled) with the MD5
of the id's text, which DuckDB also computes alike but at about 20 CPU-s more per 100M rows than
its own hash (performance log, h17sparkchecks): so the two engines' shares are different
requests of the same size, each drawn independently of the values. It is written once to a
scratch Parquet file that every row-level step reads through a view, both deleted when the
check is done. It is written in no particular order: no step reads the
share's order (a request's first row is its smallest row id, kept in the file; every other step
counts, groups or orders by a column), and at 100M rows the ordered write buffered its rows
until the earlier ones were written, spilling 3.5 GB beside its 1.2 GB file and taking the
process to 1.8 GB, where the unordered one spills nothing, the process peaks under 1 GB and the
write costs a third less CPU (performance log, h15checks). At or below the share size nothing
is written and every step reads the log itself, so the findings are those of a check without a
share.

Why a Parquet file (performance log, h14checks): a scratch table of a 100M-row log's 10M-row
share (31 columns, about 2.5 GB uncompressed) does not fit DuckDB's 1.5 GB and is spilled
whole; each step then read it back at twice the CPU of reading the log's own Parquet, and the
check's wall time grew by 70% while its CPU fell. A view filtering the log by the hash in each
step writes nothing, but still decodes three quarters of every column of every row per step.
The file is compressed, is read by the columns a step needs, and keeps the process's memory
where it was.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, TRUE, Sql, ident, literal
from analysis.scope import Scope
from analysis.triage import CHECK_SHARE_ROWS

def share_every(total: int | None, rows: int) -> int:
    """One row (or request) in how many a share of about ``rows`` of ``total`` rows keeps."""
    return -(-(total or 0) // rows)


SHARE_SALT = "sleuth check share"
"""Hashed with the key, so the share is drawn independently of the row scans' hashed screens."""

def share_condition(key: str, every: int, engine: str) -> Sql:
    """The rows of about one request in ``every``, by a salted hash of the id (``key``, an SQL
    expression), in ``engine``'s form: DuckDB's own ``hash``, the cheapest it has; on Spark the
    MD5 form (:func:`analysis.engine.dialect.md5_share_condition`), which has no DuckDB ``hash``
    to copy. ``every`` of 1 keeps every row."""
    if every <= 1:
        return TRUE
    if engine == "spark":
        from analysis.engine.dialect import md5_share_condition

        return Sql(md5_share_condition(key, SHARE_SALT, every))
    return Sql(f"hash({key}, {literal(SHARE_SALT)}) % {every} = 0")


@dataclass(frozen=True)
class Share:
    """A check's row-level parts read ``rows`` of the log's ``of_rows``: the requests whose
    id column ``key`` hashes to one value in ``every`` (the rows whose row number does, when
    ``key`` is None: a log without ids)."""

    rows: int
    of_rows: int
    key: str | None
    every: int

    def sentence(self) -> str:
        """The words every output carries, e.g. "computed on a 10,000,000-row share of
        100,000,000 rows (1 in 10 requests, by a hash of request_id)", as a pulled sample's do."""
        chosen = f"requests, by a hash of {self.key}" if self.key else "rows, by a hash of the row number"
        return f"computed on a {self.rows:,}-row share of {self.of_rows:,} rows (1 in {self.every} {chosen})"

    def to_json(self) -> dict:
        return {"rows": self.rows, "of_rows": self.of_rows, "key": self.key, "every": self.every}


SHARE_SUBJECT = "distribution tests, row scans, localisation, examples and the findings' row counts"
"""What reads the share, with the labels' arrival: the histograms the distribution tests compare
(:mod:`analysis.triage.cells`) too. The schema, the reference profile and the cells' other
counts (rows, nulls, zeros, moments, extremes, values outside the typical range, categories,
model outcomes) read every row."""


def share_line(share: Share) -> str:
    """The sentence a check's text and header open with, e.g. "row scans, localisation, examples
    and the findings' row counts: computed on a 10,000,000-row share of 100,000,000 rows (...)"."""
    return f"{SHARE_SUBJECT}: {share.sentence()}"


@contextmanager
def request_share(scope: Scope, share_rows: int | None = CHECK_SHARE_ROWS,
                  cancel: CancelToken = NEVER_CANCELLED) -> Iterator[tuple[Scope, Share | None]]:
    """``scope`` (its dataset, all its rows) and None when it holds at most ``share_rows`` rows
    (or ``share_rows`` is None); else a scope over a scratch Parquet file of about ``share_rows``
    of its rows, whole requests chosen by hash, and the :class:`Share` that says so. The file
    keeps each row's id in the log (``ROW_ID``), so a row it names is the log's row."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    every = share_every(dataset.row_count, share_rows) if share_rows is not None else 1
    if every <= 1:
        yield scope, None
        return
    key = ident(roles.id or ROW_ID)
    folder = Path(tempfile.mkdtemp(prefix="sleuth-check-share-"))
    path, view = literal(str(folder / "share.parquet")), store.new_name("check_share")
    try:
        store.execute(f"COPY (SELECT * FROM {ident(dataset.view)} WHERE {share_condition(key, every, store.engine).text}) "
                      f"TO {path} (FORMAT parquet, PRESERVE_ORDER false)", cancel)
        store.execute(f"CREATE VIEW {ident(view)} AS SELECT * FROM read_parquet({path})")
        rows = int(store.scalar(Sql(f"SELECT count(*) FROM {ident(view)}")))
        shared = Scope(store, replace(dataset, view=view, row_count=rows), roles)
        yield shared, Share(rows, dataset.row_count, roles.id, every)
    finally:
        store.execute(f"DROP VIEW IF EXISTS {ident(view)}")
        shutil.rmtree(folder, ignore_errors=True)
