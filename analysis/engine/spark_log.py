"""A log that lives on Spark: a table name or a path Spark reads, opened as a Sleuth dataset.

The dataset is a temporary view in the Spark session, with the same hidden row id column as a
DuckDB view (``ROW_ID``), so every analysis addresses it the same way. Column types are named
as DuckDB names them, because roles, binning and the slice parser decide by those names.
Roles are detected by the same profile, computed on the cluster.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePath
from typing import Mapping, Sequence

from analysis.data.labels import LabelJoin, join_label_table, labelled_roles
from analysis.data.log_sanity import check_log
from analysis.data.open_log import LoadedLog
from analysis.data.roles import (PROFILE_SAMPLE_ROWS, Role, RoleMap, check_fixed_roles, detect_roles, profile_columns,
                                 with_fixed_role)
from analysis.dataset import Column, Dataset, LoadReport
from analysis.engine.spark_store import SparkStore, duckdb_type
from analysis.errors import InputError
from analysis.query import ROW_ID, ident
from analysis.scope import Scope

READER_OF_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json",
                    ".jsonl": "json", ".ndjson": "json", ".orc": "orc", ".avro": "avro"}
"""Spark's reader for each file suffix; a path without a known suffix (a folder of part files,
as Spark writes them) is read as Parquet. A Delta table is named by its catalog name, so that
Spark reads its current version rather than every file its folder holds."""

TABLE_NAME = re.compile(r"^[A-Za-z_][\w$-]*(\.[A-Za-z_][\w$-]*){0,2}$")
"""``table``, ``schema.table`` or ``catalog.schema.table``, as Unity Catalog names them."""


CHECKS_ON_ENGINE = ("outcome columns recognised", "multiclass scores name their classes",
                    "score values (NaN or infinite, outside [0, 1], missing)", "ids scored twice by one version",
                    "label coverage")
"""The log checks (:func:`analysis.data.log_sanity.check_log`) and what each looks at: all of
them are aggregates, so they run on the cluster from their one DuckDB text."""

NOT_CHECKED = {"rows the reader skipped": "Spark's reader reports no skipped or malformed rows to Sleuth "
                                          "(DuckDB's CSV reader does, for a local file)"}
"""What ``info`` reports for a local file that it cannot for a table on Spark, and why."""


def is_table_name(source: str) -> bool:
    """A catalog name rather than a path: no path separator, no file suffix Spark reads."""
    return bool(TABLE_NAME.match(source)) and PurePath(source).suffix.lower() not in READER_OF_SUFFIX


def open_spark_table(store: SparkStore, sources: Sequence[str], name: str | None = None) -> Dataset:
    """Register ``sources`` (one table name, or paths of one format) as a view on the cluster."""
    frame = _read(store, list(sources))
    raw = store.new_name("spark_source")
    frame.createOrReplaceTempView(raw)
    view = store.new_name("spark_log")
    store.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "
                  f"SELECT *, monotonically_increasing_id() AS {ident(ROW_ID)} FROM {ident(raw)}")
    columns = tuple(Column(field.name, duckdb_type(field.dataType)) for field in frame.schema.fields
                    if field.name != ROW_ID)
    rows = int(store.scalar(f"SELECT count(*) FROM {ident(view)}"))
    shown = name or ", ".join(sources)
    return Dataset(shown, view, tuple(sources), "spark", columns, rows, LoadReport())


def load_spark_log(store: SparkStore, sources: Sequence[str], *, roles: RoleMap | None = None,
                   fixed: Mapping[Role, str] | None = None, labels: Sequence[str] = (),
                   on: str | None = None) -> LoadedLog:
    """Open a log on Spark and give it roles: ``roles`` when saved, else detected around ``fixed``.
    ``labels`` (a table or paths Spark reads) are joined on the cluster, as :func:`load_log` joins
    a labels file, with ``on`` naming their id column."""
    dataset = open_spark_table(store, sources)
    if fixed:
        check_fixed_roles(fixed, dataset.column_names, dataset.name)
    profiles = ()
    detected = roles is None
    if detected:
        profiles = tuple(_profile_on_client(store, dataset))
        roles = detect_roles(profiles, fixed)
    else:
        for role, column in (fixed or {}).items():
            roles = with_fixed_role(roles, role, column)
    joined = None
    if labels:
        dataset, roles, joined = join_spark_labels(store, dataset, roles, labels, on)
        if detected:  # the joined label sets the task (binary, its positive class): detect around it
            profiles = tuple(_profile_on_client(store, dataset, read_in_scan_order=False))
            roles = labelled_roles(detect_roles(profiles, {**(fixed or {}), Role.LABEL: roles.label}), roles.label,
                                   dataset)
    return LoadedLog(dataset, roles, (), profiles, joined)


def checked_spark_log(store: SparkStore, loaded: LoadedLog) -> LoadedLog:
    """``loaded`` with the log checks' issues, counted on the cluster (only counts and at most
    a few example ids per issue come back)."""
    return replace(loaded, issues=tuple(check_log(Scope(store, loaded.dataset, loaded.roles))))


def checks_json(store: SparkStore) -> dict:
    """What ``info --engine`` checked where: the checks run on the cluster, and those not run."""
    return {"engine": store.url, "run": list(CHECKS_ON_ENGINE), "not_run": dict(NOT_CHECKED)}


def join_spark_labels(store: SparkStore, log: Dataset, roles: RoleMap, sources: Sequence[str],
                      on: str | None = None) -> tuple[Dataset, RoleMap, LabelJoin]:
    """The labels in ``sources`` joined to ``log`` on the cluster: Spark reads them (a table, or
    paths it can reach) and runs the same deduplication, join and counts as DuckDB does, so only
    the counts come back. Their arrival time is kept as the joined log's ``label_arrived_at``.
    The labels' view stays for the session: the joined log's cached labels table reads it.
    Their roles are detected as the log's are, from their first rows profiled on this machine."""
    labels = open_spark_table(store, sources)
    return join_label_table(store, log, roles, replace(labels, report=LoadReport()), on, profile=_profile_on_client)


def _profile_on_client(store: SparkStore, dataset: Dataset, *, read_in_scan_order: bool = True) -> list:
    """The profile role detection reads: DuckDB's, of the same first rows, on this machine.

    The profile reads only a log's first ``PROFILE_SAMPLE_ROWS`` rows (fewer for a wide log), so
    one round trip brings them (a few MB) and a scratch DuckDB profiles them, instead of a Spark
    job per batch of columns and per value count; the roles are then the ones DuckDB detects
    from the same file.

    The rows are asked for with a plain ``LIMIT``, not ``ORDER BY ROW_ID LIMIT``: Spark runs a
    limit over a scan by reading partitions in their order until it has enough rows (the first
    file's first row groups), while an ordered limit reads every column of every row (at 100M
    rows, 330-406 s of a 380-448 s open on ``local[2]``). ``monotonically_increasing_id`` grows
    with the partition's index and the row's place in it, so the partitions read first hold the
    smallest row ids: the same rows, put back in row-id order here. That holds for a view over
    a scan; a log joined to its labels is read in the join's order, so it passes
    ``read_in_scan_order=False`` and pays the ordered limit.
    """
    from analysis.store import Store

    ordered = "" if read_in_scan_order else f" ORDER BY {ident(ROW_ID)}"
    with store.job_cursor() as cursor:
        first = cursor.execute(f"SELECT * FROM {ident(dataset.view)}{ordered} LIMIT {PROFILE_SAMPLE_ROWS}").arrow()
    first = first.sort_by(ROW_ID)
    local = Store(memory_limit="512MB", threads=1)
    try:
        with local.job_cursor() as cursor:
            cursor.register("pulled", first)
            cursor.execute(f"CREATE TABLE {ident(dataset.view)} AS SELECT * FROM pulled")
        return profile_columns(local, dataset)
    finally:
        local.close()


def _read(store: SparkStore, sources: list[str]):
    """Spark's DataFrame over the sources; a source Spark cannot read is named in one sentence."""
    reader = store.session.read
    try:
        if len(sources) == 1 and is_table_name(sources[0]):
            frame = reader.table(sources[0])
        else:
            frame = _reader_for(reader, sources).load(sources)
        frame.schema  # resolves the source on the cluster, so a missing one fails here
    except Exception as exc:  # noqa: BLE001 - Spark's analysis error becomes one sentence
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Spark cannot read {', '.join(sources)} ({text})") from None
    return frame


def _reader_for(reader, sources: list[str]):
    formats = {READER_OF_SUFFIX.get(PurePath(s).suffix.lower(), "parquet") for s in sources}
    if len(formats) > 1:
        raise InputError(f"one log is read in one format; these paths mix {', '.join(sorted(formats))}")
    fmt = formats.pop()
    reader = reader.format(fmt)
    if fmt == "csv":
        separator = "\t" if all(s.lower().endswith(".tsv") for s in sources) else ","
        reader = reader.option("header", True).option("inferSchema", True).option("sep", separator)
    return reader
