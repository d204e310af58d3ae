"""Rows pulled from Spark for the analyses that need individual rows (trace, suspects, check).

Influence, confident learning and the checks' row-level scans work on rows in memory, so on a
Spark log they run on a pulled part of it: all the rows when they fit in ``max_rows``, else a
uniform random sample of ``max_rows`` of them. The pulled rows are written to a local Parquet
file, which the analysis then opens through the same loading path as any file, and every output
names the sample (:meth:`Sample.sentence`, :meth:`Sample.to_json`) so no number computed on a
part passes for one computed on the whole.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
import pyarrow.parquet as pq

from analysis.dataset import Dataset
from analysis.engine.spark_log import READER_OF_SUFFIX
from analysis.engine.spark_store import SparkStore, fetched_arrow
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident

SAMPLE_SEED = 7
"""One seed, so the same command on the same table pulls the same sample."""

MARGIN_SDS = 6
"""The Bernoulli pre-sample aims this many standard deviations above ``max_rows``, so it falls
short of ``max_rows`` rows with probability below 1e-9 (a shortfall only makes the sample smaller)."""


@dataclass(frozen=True)
class Sample:
    """What was pulled: a local Parquet file of ``rows`` rows out of ``of_rows`` on ``engine``.

    ``row_ids``: each pulled row's id on the engine, in the file's order (ascending), so a row
    the cluster's table shows is found in the pull by its id (:meth:`pulled_row`); None when
    the rows came another way (a test's stand-in)."""

    path: Path
    rows: int
    of_rows: int
    engine: str
    where: str | None = None
    row_ids: np.ndarray | None = field(default=None, compare=False, repr=False)

    def pulled_row(self, engine_row: int) -> int | None:
        """The local row id (the file's 0-based row number) of the engine's row ``engine_row``,
        None when that row was not pulled."""
        if self.row_ids is None or engine_row is None:
            return None
        at = int(np.searchsorted(self.row_ids, engine_row))
        return at if at < len(self.row_ids) and self.row_ids[at] == engine_row else None

    def sentence(self) -> str:
        """The words every output carries, e.g. "computed on a 1,000,000-row sample of
        3,200,000,000 rows on sc://host"."""
        matching = f" matching {self.where}" if self.where else ""
        if self.rows == self.of_rows:
            return f"computed on all {self.of_rows:,} rows{matching}, pulled from {self.engine}"
        return f"computed on a {self.rows:,}-row sample of {self.of_rows:,} rows{matching} on {self.engine}"

    def to_json(self) -> dict:
        return {"rows": self.rows, "of_rows": self.of_rows, "engine": self.engine, "where": self.where}


def pull_rows(store: SparkStore, dataset: Dataset, folder: str | Path, max_rows: int | None,
              condition: Sql | None = None, where: str | None = None,
              cancel: CancelToken = NEVER_CANCELLED) -> Sample:
    """Pull ``dataset``'s rows (those matching ``condition``, described to people as ``where``)
    into a Parquet file in ``folder``: all of them when they fit in ``max_rows``, else a uniform
    random sample of exactly ``max_rows`` (with overwhelming probability). With ``max_rows``
    None, every matching row, uncounted beforehand: ``condition`` bounds them itself (a check's
    share, :func:`analysis.triage.share.share_condition`), and counting would be a scan more.

    The sample is drawn on the cluster in two steps that keep it uniform: a Bernoulli sample a
    little larger than ``max_rows`` (so only about ``max_rows`` rows are ever sorted), then
    ``max_rows`` of those in a random order. The rows keep the source's order, as a file's do,
    and their ids there come back beside them (8 bytes a row), not as a column of the file.
    """
    selected = Sql(f"SELECT * FROM {ident(dataset.view)}" + (f" WHERE {condition.text}" if condition else ""),
                   condition.params if condition else ())
    of_rows = dataset.row_count
    if condition is not None and max_rows is not None:
        of_rows = int(store.scalar(Sql(f"SELECT count(*) FROM ({selected.text}) AS selected", selected.params),
                                   cancel))
    with store.job_cursor(cancel):
        from pyspark.sql import functions

        frame = store.frame(selected)
        if max_rows is not None and of_rows > max_rows:
            frame = frame.sample(fraction=_bernoulli_fraction(max_rows, of_rows), seed=SAMPLE_SEED)
            frame = frame.orderBy(functions.rand(SAMPLE_SEED)).limit(max_rows)
        table = fetched_arrow(frame.orderBy(ROW_ID))
    row_ids = table.column(ROW_ID).to_numpy()
    table = table.drop([ROW_ID])
    # a folder of its own, never one an earlier pull (another session, another run) left there
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="sample_", dir=folder)) / f"{_file_stem(dataset.name)}.parquet"
    pq.write_table(table, path)
    return Sample(path, table.num_rows, of_rows if max_rows is not None else table.num_rows, store.url, where, row_ids)


def _bernoulli_fraction(wanted: int, total: int) -> float:
    """The inclusion probability whose Binomial(total, p) count is ``MARGIN_SDS`` standard
    deviations above ``wanted`` (sd ≈ sqrt(wanted) when p is small)."""
    return min(1.0, (wanted + MARGIN_SDS * math.sqrt(wanted) + MARGIN_SDS ** 2) / total)


def _file_stem(name: str) -> str:
    """A file name that shows where the rows came from (the last part of a table name or path)."""
    last = PurePath(name.split(",")[0].strip().rstrip("/\\"))
    stem = last.stem if last.suffix.lower() in READER_OF_SUFFIX else last.name
    return re.sub(r"[^\w.-]", "_", stem) or "sample"
