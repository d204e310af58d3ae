"""Labels that arrive later, from their own file, joined to a log by request id.

Ground truth reaches a production log days after the predictions, in a separate file (a CSV
from a review tool, SageMaker's ground-truth records...). :func:`join_labels` opens that file
like any log, finds its id column (named, or the one whose values match the log's ids), its
label and its arrival time, and shows the log with the label (and arrival time) joined on.
Ids are compared as text, since one side often reads them as numbers or UUIDs.

Nothing is dropped or duplicated silently: a label whose id the log does not hold is counted
and shown; two labels for one request keep one row per prediction (the latest arrival, else
the last in the file: a later label is usually a correction) and are counted, and whether
they disagree is said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from analysis.dataset import Column, Dataset, LoadReport, SkippedRow
from analysis.data.loading import close_dataset, open_dataset
from analysis.data.roles import Role, RoleMap, detect_roles, profile_columns
from analysis.errors import InputError, SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, ident, literal
from analysis.scope import Scope
from analysis.store import Store

ARRIVED = "label_arrived_at"
"""Column the label's arrival time is shown in, when the labels file gives one."""

ID_MATCH_SAMPLE = 10_000
"""Label rows whose values are compared with the log's ids to find the id column."""

EXAMPLES = 3
COVERAGE_AGES_DAYS = (1, 3, 7, 30)
"""Coverage is reported for predictions older than each of these ages."""

GROUND_TRUTH_COLUMNS = {"groundTruthData", "eventMetadata"}
"""SageMaker Model Monitor's ground-truth records: ``groundTruthData {data, encoding}`` and
``eventMetadata.eventId`` (the captured request's inferenceId)."""

GROUND_TRUTH_UNPACKED = ["eventId", "label"]
"""The columns SageMaker ground truth is unpacked into."""


@dataclass(frozen=True)
class LabelJoin:
    """What joining a labels file did, for the load report and ``sleuth info``."""

    file: str
    id_column: str
    label_column: str
    arrival_column: str | None
    labels: int
    labelled_predictions: int
    unknown_ids: int
    unknown_examples: tuple[str, ...] = ()
    repeated_ids: int = 0
    conflicting_ids: int = 0
    repeated_examples: tuple[str, ...] = ()
    skipped: tuple[SkippedRow, ...] = field(default=())

    def sentences(self) -> list[str]:
        said = [f"labels from {self.file} joined on its column '{self.id_column}': {self.labels:,} label(s), "
                f"{self.labelled_predictions:,} prediction row(s) labelled"]
        if self.unknown_ids:
            said.append(f"{self.unknown_ids:,} label(s) name a request the log does not hold, e.g. "
                        + ", ".join(self.unknown_examples))
        if self.repeated_ids:
            said.append(f"{self.repeated_ids:,} request(s) have more than one label ({self.conflicting_ids:,} "
                        f"of them disagree); the {'latest arrival' if self.arrival_column else 'last in the file'} "
                        "is used, e.g. " + ", ".join(self.repeated_examples))
        return said


def join_labels(
    store: Store, log: Dataset, roles: RoleMap, specs: Sequence[str], on: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> tuple[Dataset, RoleMap, LabelJoin]:
    """The log with the labels of ``specs`` joined on; its roles name the joined label."""
    labels = open_dataset(store, specs, cancel=cancel)
    try:
        return join_label_table(store, log, roles, labels, on, cancel)
    finally:
        close_dataset(store, labels)  # the deduplicated table is all the join reads


def join_label_table(
    store: Store, log: Dataset, roles: RoleMap, labels: Dataset, on: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED, profile: Callable[[Any, Dataset], list] = profile_columns,
) -> tuple[Dataset, RoleMap, LabelJoin]:
    """The log with the labels of the opened ``labels`` joined on, on the store both are on
    (DuckDB, or Spark for a log on a cluster: every statement is the same text). ``profile``
    profiles the labels for role detection (a cluster passes one that pulls the first rows and
    profiles them locally, instead of a job per batch of columns)."""
    if roles.id is None:
        raise SchemaError("the log has no id column to join labels on; set its id role first")
    source, columns = _label_source(store, labels)
    file = labels.paths[0] if len(labels.paths) == 1 else labels.name
    id_column = on or _matching_id_column(store, log, roles.id, source, columns, file, cancel)
    if id_column not in columns:
        raise InputError(f"has no column '{id_column}'; its columns: " + ", ".join(columns), file=file)
    label_column, arrival = _label_and_arrival(lambda: profile(store, labels), columns, id_column, file)
    table = store.new_name("labels")
    store.execute(_deduplicated(source, id_column, label_column, arrival, table), cancel)
    _spell_like_log(store, log, roles.label or roles.prediction, table, cancel)
    target = _joined_label_column(store, log, roles.label, label_column, table, cancel)
    view = store.new_name("ds")
    store.execute(_joined_view(log, roles.id, target, table, view, arrival is not None), cancel)
    joined = _described(store, log, view, labels.report)
    report = _report(store, log, roles.id, table, target, file, id_column, label_column, arrival,
                     labels.report.skipped, cancel)
    roles = labelled_roles(roles, target, joined)
    said = tuple(report.sentences() + coverage_sentences(coverage_by_age(Scope(store, joined, roles))))
    joined = Dataset(joined.name, joined.view, joined.paths, joined.format, joined.columns, joined.row_count,
                     LoadReport(joined.report.skipped, joined.report.warnings + said))
    return joined, roles, report


TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
"""How a yes/no answer is spelled: a CSV reader takes ``yes``/``no`` for booleans."""


def _spell_like_log(store: Store, log: Dataset, outcome: str | None, table: str, cancel: CancelToken) -> None:
    """Labels read as booleans (DuckDB reads a CSV's ``yes``/``no`` as true/false) spelled as
    the log spells the same answer, in its label or prediction column (``yes``/``no`` text),
    so that a label and a prediction of one request compare equal."""
    if outcome is None or not log.column(outcome).dtype.upper().startswith("VARCHAR"):
        return
    if store.scalar(f"SELECT typeof(label) FROM {ident(table)} WHERE label IS NOT NULL LIMIT 1", cancel) != "BOOLEAN":
        return
    spelled = [v for (v,) in store.rows(f"SELECT DISTINCT {ident(outcome)} FROM {ident(log.view)} "
                                        f"WHERE {ident(outcome)} IS NOT NULL LIMIT 3", cancel)]
    yes = [v for v in spelled if v.strip().lower() in TRUE_WORDS]
    no = [v for v in spelled if v.strip().lower() in FALSE_WORDS]
    if len(spelled) != 2 or len(yes) != 1 or len(no) != 1:
        return
    store.execute(f"ALTER TABLE {ident(table)} ALTER label TYPE VARCHAR USING "
                  f"CASE WHEN label THEN {literal(yes[0])} WHEN NOT label THEN {literal(no[0])} END", cancel)


def _joined_label_column(store: Store, log: Dataset, log_label: str | None, label_column: str, table: str,
                         cancel: CancelToken) -> str:
    """The log column the joined labels fill: the one named like the labels file's label (the
    same thing under the same name), else the log's label when its values are label values
    (empty, or all among the joined labels' values: the labels that had already come), else a
    new column under the labels file's name. A log's label found by name alone may be an input
    (``y``, a width in mm): its values are no label values, and it is never overwritten."""
    if label_column in log.column_names or log_label is None:
        return label_column
    key = "coalesce(CAST(TRY_CAST({0} AS DOUBLE) AS VARCHAR), lower(CAST({0} AS VARCHAR)))"
    foreign = store.scalar(
        f"SELECT count(*) FROM (SELECT DISTINCT {key.format(ident(log_label))} AS v FROM {ident(log.view)} "
        f"WHERE {ident(log_label)} IS NOT NULL) AS l WHERE v NOT IN (SELECT {key.format('label')} FROM {ident(table)} "
        f"WHERE label IS NOT NULL)", cancel)
    return log_label if foreign == 0 else label_column


def labelled_roles(roles: RoleMap, label: str, dataset: Dataset) -> RoleMap:
    """``roles`` with the joined label as the label and its arrival time set aside."""
    roles = roles.with_role(label, Role.LABEL)
    return roles.with_role(ARRIVED, Role.IGNORED) if ARRIVED in dataset.column_names else roles


def _label_source(store: Store, labels: Dataset) -> tuple[str, list[str]]:
    """A SELECT over the labels file, and its columns; SageMaker ground truth is unpacked."""
    names = labels.column_names
    if not GROUND_TRUTH_COLUMNS <= set(names):
        return f"SELECT * FROM {ident(labels.view)}", names
    data = "\"groundTruthData\".\"data\""
    text = (f"CASE WHEN upper(\"groundTruthData\".\"encoding\") = 'BASE64' THEN try(decode(from_base64({data}))) "
            f"ELSE CAST({data} AS VARCHAR) END")
    numeric = store.scalar(f"SELECT count({text}) = count(TRY_CAST({text} AS DOUBLE)) FROM {ident(labels.view)}")
    value = f"TRY_CAST({text} AS DOUBLE)" if numeric else text
    return (f"SELECT CAST(\"eventMetadata\".\"eventId\" AS VARCHAR) AS \"eventId\", {value} AS label, "
            f"{ident(ROW_ID)} FROM {ident(labels.view)}"), GROUND_TRUTH_UNPACKED


def _matching_id_column(
    store: Store, log: Dataset, log_id: str, source: str, columns: list[str], file: str, cancel: CancelToken
) -> str:
    """The labels column whose values match most of the log's ids (as text; a tie goes to the
    first column). One statement: the sample's columns stacked as (column, value) pairs meet
    the log's distinct ids in one join, where a join per column read the log once per column
    (on a cluster, a full shuffle of the ids each). Only the log's ids among the sample's values
    are made distinct: the sample's few values are looked up in each row (on Spark a broadcast
    semi-join), where the distinct ids of every row were shuffled and grouped first (at 100M
    rows on a local Spark server, 246 server CPU-s before, 27-35 after; performance log,
    h16sparkchecks). Both named parts are materialised, so the values looked up are the ones
    counted."""
    stacked = " UNION ALL ".join(f"SELECT {index} AS k, CAST({ident(column)} AS VARCHAR) AS v FROM s"
                                 for index, column in enumerate(columns))
    key = f"CAST({ident(log_id)} AS VARCHAR)"
    ids = f"(SELECT DISTINCT {key} AS id FROM {ident(log.view)} WHERE {key} IN (SELECT v FROM c))"
    hits = dict(store.rows(f"WITH s AS MATERIALIZED (SELECT * FROM ({source}) LIMIT {ID_MATCH_SAMPLE}), "
                           f"c AS MATERIALIZED ({stacked}) "
                           f"SELECT c.k, count(*) FROM c JOIN {ids} AS l ON c.v = l.id GROUP BY c.k", cancel))
    best, best_hits = None, 0
    for index, column in enumerate(columns):
        if hits.get(index, 0) > best_hits:
            best, best_hits = column, hits[index]
    if best is None:
        raise InputError(f"no column holds the log's request ids (column '{log_id}'); name the labels' id column "
                         "with --on", file=file)
    return best


def _label_and_arrival(
    profiles: Callable[[], list], columns: list[str], id_column: str, file: str
) -> tuple[str, str | None]:
    """The label column (by role detection on the labels' ``profiles()``, else the one column
    left) and the arrival time."""
    if columns == GROUND_TRUTH_UNPACKED:
        return "label", None
    detected = detect_roles(profiles())
    arrival = detected.timestamp if detected.timestamp != id_column else None
    label = detected.label or detected.prediction
    if label in (None, id_column, arrival):
        rest = [c for c in columns if c not in (id_column, arrival)]
        if len(rest) != 1:
            raise InputError("cannot tell which column holds the label among " + ", ".join(rest)
                             + "; name it 'label'", file=file)
        label = rest[0]
    return label, arrival


def _deduplicated(source: str, id_column: str, label: str, arrival: str | None, table: str) -> str:
    order = (f"{ident(arrival)} DESC NULLS LAST, " if arrival else "") + f"{ident(ROW_ID)} DESC"
    when = ident(arrival) if arrival else "NULL"
    return (
        f"CREATE TABLE {ident(table)} AS SELECT id, label, arrived, copies, versions FROM ("
        f"SELECT CAST({ident(id_column)} AS VARCHAR) AS id, {ident(label)} AS label, {when} AS arrived, "
        f"row_number() OVER (PARTITION BY CAST({ident(id_column)} AS VARCHAR) ORDER BY {order}) AS pick, "
        f"count(*) OVER (PARTITION BY CAST({ident(id_column)} AS VARCHAR)) AS copies, "
        f"count(DISTINCT {ident(label)}) OVER (PARTITION BY CAST({ident(id_column)} AS VARCHAR)) AS versions "
        f"FROM ({source}) WHERE {ident(id_column)} IS NOT NULL) WHERE pick = 1"
    )


def _joined_view(log: Dataset, log_id: str, target: str, table: str, view: str, has_arrival: bool) -> str:
    """The log's columns by name (``log.* REPLACE`` is DuckDB's alone), the label in its place."""
    shown = [f"coalesce(lab.label, log.{ident(name)}) AS {ident(name)}" if name == target else f"log.{ident(name)}"
             for name in (ROW_ID, *log.column_names)]
    if target not in log.column_names:
        shown.append(f"lab.label AS {ident(target)}")
    if has_arrival and ARRIVED not in log.column_names:
        shown.append(f"lab.arrived AS {ident(ARRIVED)}")
    return (f"CREATE VIEW {ident(view)} AS SELECT {', '.join(shown)} FROM {ident(log.view)} AS log "
            f"LEFT JOIN {ident(table)} AS lab ON CAST(log.{ident(log_id)} AS VARCHAR) = lab.id")


def _described(store: Store, log: Dataset, view: str, labels_report: LoadReport) -> Dataset:
    columns = tuple(Column(name, dtype) for name, dtype, *_ in store.rows(f"DESCRIBE {ident(view)}")
                    if name != ROW_ID)
    return Dataset(log.name, view, log.paths, log.format, columns, log.row_count,
                   LoadReport(log.report.skipped + labels_report.skipped,
                              log.report.warnings + labels_report.warnings))


def _report(
    store: Store, log: Dataset, log_id: str, table: str, target: str, file: str, id_column: str,
    label_column: str, arrival: str | None, skipped: tuple[SkippedRow, ...], cancel: CancelToken,
) -> LabelJoin:
    """The join's counts in one join of the labels with the log's rows counted per id: a
    labelled prediction is a row whose id got a label, else (the label joined into the log's
    own column) a row that had one; a count over the joined view read the log a second time."""
    had = f"count({ident(target)})" if target in log.column_names else "0"
    key = f"CAST({ident(log_id)} AS VARCHAR)"
    ids = f"(SELECT {key} AS id, count(*) AS n, {had} AS m FROM {ident(log.view)} GROUP BY {key})"
    labels, unknown, unknown_examples, repeated, conflicting, repeated_examples, labelled = store.rows(
        f"SELECT sum(copies), count(*) FILTER (WHERE l.n IS NULL), "
        f"list(lab.id ORDER BY lab.id) FILTER (WHERE l.n IS NULL)[1:{EXAMPLES}], "
        f"count(*) FILTER (WHERE copies > 1), count(*) FILTER (WHERE versions > 1), "
        f"list(lab.id ORDER BY lab.id) FILTER (WHERE copies > 1)[1:{EXAMPLES}], "
        f"sum(CASE WHEN lab.label IS NOT NULL THEN l.n ELSE l.m END) "
        f"FROM {ident(table)} AS lab FULL JOIN {ids} AS l ON lab.id = l.id", cancel)[0]
    return LabelJoin(file, id_column, label_column, arrival, int(labels or 0), int(labelled or 0), int(unknown),
                     tuple(unknown_examples or ()), int(repeated), int(conflicting), tuple(repeated_examples or ()),
                     tuple(skipped))


def coverage_by_age(scope: Scope) -> dict[str, Any] | None:
    """Share of predictions labelled, among those older than 1, 3, 7 and 30 days, and how long
    labels took to arrive when their arrival time is known.

    Ages are measured from the newest prediction in the log, so the numbers describe the log
    itself, not the day it is opened.
    """
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    if roles.label is None or roles.timestamp is None:
        return None
    view, label = ident(dataset.view), ident(roles.label)
    ts = _utc(roles.timestamp, dataset.column(roles.timestamp).dtype)
    newest = store.scalar(f"SELECT max({ts}) FROM {view}")
    if newest is None:
        return None
    parts = []
    for days in COVERAGE_AGES_DAYS:  # the newest time as a literal: a subquery per age read the view again
        older = f"{ts} <= {literal(newest)} - INTERVAL {days} DAY"
        parts.append(f"count(*) FILTER (WHERE {older}), count({label}) FILTER (WHERE {older})")
    delayed = ARRIVED in dataset.column_names
    if delayed:  # the delay is NULL where no arrival is known, and quantiles skip NULLs
        delay = f"(epoch({_utc(ARRIVED, dataset.column(ARRIVED).dtype)}) - epoch({ts})) / 3600"
        parts.append(f"quantile_cont({delay}, 0.5), quantile_cont({delay}, 0.9)")
    counts = store.rows(f"SELECT {', '.join(parts)} FROM {view}")[0]
    ages = []
    for index, days in enumerate(COVERAGE_AGES_DAYS):
        rows, labelled = int(counts[2 * index]), int(counts[2 * index + 1])
        ages.append({"older_than_days": days, "predictions": rows, "labelled": labelled,
                     "share": labelled / rows if rows else None})
    result: dict[str, Any] = {"as_of": str(newest), "by_age": ages}
    if delayed:
        median, p90 = counts[2 * len(COVERAGE_AGES_DAYS):]
        result["delay_hours"] = {"median": median, "p90": p90}
    return result


def _utc(column: str, dtype: str) -> str:
    """A timestamp column as a UTC TIMESTAMP: zoned ones converted, naive ones taken as UTC."""
    if dtype.upper().startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {ident(column)})"
    return f"CAST({ident(column)} AS TIMESTAMP)"


def coverage_sentences(coverage: dict[str, Any] | None) -> list[str]:
    """"labels for predictions older than 3 days: 98%" lines for the text report."""
    if not coverage:
        return []
    return [f"labels for predictions older than {age['older_than_days']} day(s): {age['share']:.0%} "
            f"({age['labelled']:,} of {age['predictions']:,})" for age in coverage["by_age"] if age["predictions"]]
