"""``--engine`` for the commands that need rows (check, trace, suspects): they run on a pull.

``info``, ``slices`` and ``compare`` run their passes on the cluster (:func:`app.cli.command_log`);
the commands below need individual rows, so with ``--engine`` each source is pulled into a
local Parquet file (:func:`analysis.engine.sample.pull_rows`: all its rows when they fit in
``--sample-rows``, else a uniform sample) and the command runs on those files exactly as on any
file. The report then names what it was computed on: a ``sample`` object in JSON and a sentence
above the text.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from typing import Iterator, Mapping, Sequence

from typing import TYPE_CHECKING

from analysis.engine import DEFAULT_SAMPLE_ROWS
from analysis.errors import InputError, SchemaError
from analysis.scope import Scope

if TYPE_CHECKING:  # the CLI starts without Spark's client or the loaders: they are imported when used
    from analysis.data.roles import Role, RoleMap
    from analysis.dataset import Dataset
    from analysis.engine.sample import Sample
    from analysis.triage.share import Share

SPARK_COMMANDS = ("info", "slices", "compare")
"""The log-reading commands whose passes run on Spark (``--labels`` joined there too); the others
say so when given --engine."""

SAMPLED_COMMANDS = ("check", "trace", "suspects")
"""The commands that take ``--engine`` and run on rows pulled from the cluster."""

CARRIED_ROLES = ("id", "timestamp", "model_version", "prediction")
"""The log's roles detected on the whole table and kept for its pulled rows, whose few values
(one request's rows) would be too little to detect them from."""


SHARED_COMMANDS = ("check",)
"""The commands whose ``--sample-rows`` also means something without ``--engine``: the rows of a
large local log their row-level parts read (a share of its requests, :mod:`analysis.triage.share`)."""


def add_sample_option(cmd: argparse.ArgumentParser, positive_int, local: str = "") -> None:
    """``--sample-rows N``; ``local`` says what it does without ``--engine`` (SHARED_COMMANDS)."""
    cmd.add_argument("--sample-rows", type=positive_int, metavar="N",
                     help=f"with --engine: pull at most N rows of each table to this machine, a uniform random "
                          f"sample when it has more (default {DEFAULT_SAMPLE_ROWS:,}){local}; the output says so")


def check_sample_option(args: argparse.Namespace) -> None:
    """``--sample-rows`` only means something with ``--engine`` (or for a command that shares a
    local log, :data:`SHARED_COMMANDS`): elsewhere alone it is refused, not ignored."""
    if getattr(args, "sample_rows", None) is not None and args.engine is None and args.command not in SHARED_COMMANDS:
        raise InputError("--sample-rows sets how many rows to pull from Spark; it needs --engine")


class RowPuller:
    """Pulls tables' rows from one Spark session into one temporary folder."""

    def __init__(self, store, folder: str, max_rows: int) -> None:
        self.store, self.folder, self.max_rows = store, folder, max_rows

    def table(self, sources: Sequence[str]) -> Sample:
        """All of the table's rows when they fit, else a uniform sample of them."""
        return self.table_and_pull(sources)[1]

    def table_and_pull(self, sources: Sequence[str]) -> tuple[Dataset, Sample]:
        """The table as a dataset on the cluster (for the passes that aggregate it there) and
        its rows pulled as :meth:`table` pulls them (for those that need rows)."""
        from analysis.engine.sample import pull_rows
        from analysis.engine.spark_log import open_spark_table

        dataset = open_spark_table(self.store, sources)
        return dataset, pull_rows(self.store, dataset, self.folder, self.max_rows)

    def table_and_share(self, sources: Sequence[str], fixed: Mapping[Role, str]) -> tuple[Dataset, Sample, Share | None]:
        """The table on the cluster and the rows ``check`` reads on this machine (:meth:`share_of`),
        its id detected on the cluster (or ``fixed``)."""
        from analysis.engine.spark_log import load_spark_log

        log = load_spark_log(self.store, sources, fixed=fixed)
        return log.dataset, *self.share_of(log.dataset, log.roles)

    def share_of(self, dataset: Dataset, roles: RoleMap) -> tuple[Sample, Share | None]:
        """All of ``dataset``'s rows when they fit in ``max_rows``; else its share of about
        ``max_rows`` rows, whole requests chosen by a hash of the id as a check without
        ``--engine`` chooses its share (:func:`analysis.triage.share.share_condition`, in
        Spark's form), and the :class:`Share` that says so, as that check says it."""
        from analysis.engine.sample import pull_rows
        from analysis.query import ROW_ID, ident
        from analysis.triage.share import Share, share_condition, share_every

        every = share_every(dataset.row_count, self.max_rows)
        if every <= 1:
            return pull_rows(self.store, dataset, self.folder, self.max_rows), None
        key = ident(roles.id or ROW_ID)
        pulled = pull_rows(self.store, dataset, self.folder, None, share_condition(key, every, self.store.engine))
        return pulled, Share(pulled.rows, dataset.row_count, roles.id, every)

    def traced_log(self, sources: Sequence[str], fixed: Mapping[Role, str], row: str | None,
                   slice_text: str | None) -> tuple[Sample, dict[Role, str]]:
        """The log rows a trace reads (the request ``row``'s, or the slice's) and the roles
        detected on the whole log, which its few pulled rows keep."""
        from analysis.engine.sample import pull_rows
        from analysis.engine.spark_log import load_spark_log
        from analysis.query import Sql, ident
        from analysis.slicing.role_leaves import where_sql

        log = load_spark_log(self.store, sources, fixed=fixed)
        if row is not None:
            if log.roles.id is None:
                raise SchemaError("the log has no id column to find the row by; name it with --id COL")
            condition = Sql(f"CAST({ident(log.roles.id)} AS VARCHAR) = ?", (row,))
            where = f"{log.roles.id} = '{row}'"
        else:
            condition, where = where_sql(Scope(self.store, log.dataset, log.roles), slice_text), slice_text
        sample = pull_rows(self.store, log.dataset, self.folder, self.max_rows, condition, where)
        return sample, {**carried_roles(log.roles), **fixed}


def carried_roles(roles: RoleMap) -> dict[Role, str]:
    from analysis.data.roles import Role

    found = {Role(role): getattr(roles, role) for role in CARRIED_ROLES if getattr(roles, role)}
    if len(roles.scores) == 1:
        found[Role.SCORE] = roles.scores[0]
    return found


def refuse_local_options(args: argparse.Namespace, joins_labels: bool = False) -> None:
    """``--as-of`` picks a lakehouse version on this machine, which a Spark log cannot; ``--labels``
    is joined on the cluster where the command ``joins_labels``, refused where it reads pulled rows.
    (``--rules`` and ``--golden`` run on the cluster: the rules' derived versions and the golden
    requests' filter are the same SQL there.)"""
    if getattr(args, "as_of", None):
        raise InputError("--as-of reads a lakehouse table on this machine; with --engine, pick the table "
                         "version in Spark and name that table")
    if getattr(args, "labels", None) and not joins_labels:
        raise InputError(f"--labels with --engine is joined on the cluster by {', '.join(SPARK_COMMANDS)}; "
                         f"for sleuth {args.command}, join the labels in Spark and name that table")


@contextlib.contextmanager
def row_puller(args: argparse.Namespace) -> Iterator[RowPuller]:
    """A puller on ``args.engine`` whose files and session are gone when the command is done."""
    from analysis.engine.spark_store import SparkStore

    refuse_local_options(args)
    store = SparkStore(args.engine)
    try:
        with tempfile.TemporaryDirectory(prefix="sleuth-pulled-") as folder:
            yield RowPuller(store, folder, args.sample_rows or DEFAULT_SAMPLE_ROWS)
    finally:
        store.close()


def with_samples(report: dict, samples: Mapping[str, Sample | None]) -> dict:
    """The JSON report with each sample's object (``sample``, ``log_sample``...) added."""
    return {**report, **{key: sample.to_json() for key, sample in samples.items() if sample is not None}}


def sample_lines(samples: Mapping[str, Sample | None], subjects: Mapping[str, str]) -> list[str]:
    """One sentence per sample for the text report, e.g. "log: computed on a 1,000,000-row
    sample of 3,200,000,000 rows on sc://host"."""
    return [f"{subjects[key]}: {sample.sentence()}" for key, sample in samples.items() if sample is not None]


CHECK_SUBJECTS = {"sample": "row scans, localisation and examples",
                  "reference_sample": "the reference's row scans"}
"""What each pulled sample of ``check --engine`` is read by: its cells and profile are not."""


def counted_line(log: Dataset, reference: Dataset | None, url: str) -> str:
    """The sentence saying what ``check --engine`` counted on the cluster, e.g. "reference
    profile and per-column and per-time cells: computed on all 3,200,000,000 rows on sc://host"."""
    of = f" (reference: all {reference.row_count:,} rows)" if reference is not None else ""
    return f"reference profile and per-column and per-time cells: computed on all {log.row_count:,} rows{of} on {url}"
