"""A row of the cluster's table that the pull lacks, fetched by its id and added to the pull.

The window's table pages over the whole table on Spark while the other panels read the pulled
rows (often a sample). When the selected row is not among them, it is fetched by its id on the
engine (a keyed query: one row comes back, whatever the table's size) and appended to the
pulled log's view with the next local row id, so trace and the row details read it as they
read any pulled row. The pulled file stays as it was written: the view becomes its rows followed
by a small table of the fetched ones, under the same name, so every view built on it sees them.
"""

from __future__ import annotations

import pandas as pd

from analysis.dataset import Dataset
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident

FETCHED = "_sleuth_fetched"
"""The name the fetched rows are registered under while they are inserted."""

ZONED = "TIMESTAMP WITH TIME ZONE"


def fetch_engine_row(engine, dataset: Dataset, row_id: int, cancel: CancelToken = NEVER_CANCELLED) -> pd.DataFrame:
    """The row whose id on ``engine`` is ``row_id`` in ``dataset``'s view there (no row when
    there is none), its id column included."""
    return engine.df(Sql(f"SELECT * FROM {ident(dataset.view)} WHERE {ident(ROW_ID)} = ?", (int(row_id),)), cancel)


def append_rows(local, pulled: Dataset, rows: pd.DataFrame, first_id: int,
                cancel: CancelToken = NEVER_CANCELLED) -> list[int]:
    """Add ``rows`` (an engine's rows of the table ``pulled`` was pulled from) to ``pulled``'s
    view in the ``local`` DuckDB store, numbered from ``first_id``; returns their local ids.

    The first time, the view is renamed and a view of the same name unites it with a table of
    fetched rows (typed as the view is), in one transaction, so a query running meanwhile reads
    one or the other, never no view.
    """
    view, fetched = ident(pulled.view), ident(f"{pulled.view}_fetched")
    with local.job_cursor(cancel) as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            if not cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                               [f"{pulled.view}_fetched"]).fetchall()[0][0]:
                file_rows = ident(f"{pulled.view}_file_rows")
                cur.execute(f"ALTER VIEW {view} RENAME TO {file_rows}")
                cur.execute(f"CREATE TABLE {fetched} AS SELECT * FROM {file_rows} LIMIT 0")
                cur.execute(f"CREATE VIEW {view} AS SELECT * FROM {file_rows} UNION ALL SELECT * FROM {fetched}")
            cur.register(FETCHED, rows.drop(columns=[ROW_ID], errors="ignore"))
            given = dict(cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE {FETCHED})").fetchall())
            columns = [c for c in pulled.columns if c.name in given]
            values = ", ".join(_as_local(ident(c.name), given[c.name], c.dtype) for c in columns)
            cur.execute(f"INSERT INTO {fetched} ({', '.join(ident(c.name) for c in columns)}, {ident(ROW_ID)}) "
                        f"SELECT {values}, {int(first_id)} + row_number() OVER () - 1 FROM {FETCHED}")
            cur.unregister(FETCHED)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    return list(range(first_id, first_id + len(rows)))


def _as_local(column: str, given: str, local: str) -> str:
    """``column`` as the pulled view types it. Spark's instants come back without their zone
    (in UTC, :func:`analysis.engine.spark_store._duckdb_like`): they are read as UTC, not as
    the zone this machine's DuckDB session happens to be in."""
    if local.upper() == ZONED and not given.upper().startswith(ZONED):
        return f"timezone('UTC', CAST({column} AS TIMESTAMP))"
    return f"CAST({column} AS {local})"
