"""Column roles of a prediction log: which column is the id, the label, the score...

:class:`RoleMap` is the value the rest of Sleuth reads; :func:`detect_roles` proposes one from
names, types and values; the user edits it and the workspace saves it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from analysis.data.column_names import looks_like_time, normalize
from analysis.data.kept import KeptResults
from analysis.dataset import NUMERIC_TYPES as _NUMERIC_TYPES
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress
from analysis.query import ROW_ID, ident, literal
from analysis.scope import Scope
from analysis.window import rows_macro

if TYPE_CHECKING:
    from analysis.dataset import Column, Dataset
    from analysis.store import Store


class TaskType(str, Enum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Role(str, Enum):
    ID = "id"
    TIMESTAMP = "timestamp"
    MODEL_VERSION = "model_version"
    LABEL = "label"
    PREDICTION = "prediction"
    SCORE = "score"
    FEATURE = "feature"
    IGNORED = "ignored"


SINGLE_ROLES = (Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION, Role.LABEL, Role.PREDICTION)


@dataclass(frozen=True)
class RoleMap:
    """Which column plays which role. Every field names columns of the dataset's view.

    ``scores`` holds one column for a binary task (the positive class's probability) or one
    column per class for a multiclass task, with ``score_classes`` giving the class value
    (as text) of each. ``positive_class`` is the label value, as text, that counts as positive
    in a binary task. ``chosen`` lists the roles (their values) a person set by hand: the
    roles dialog records them, and they beat what a model file or the names would say.
    """

    id: str | None = None
    timestamp: str | None = None
    model_version: str | None = None
    label: str | None = None
    prediction: str | None = None
    scores: tuple[str, ...] = ()
    score_classes: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    task: TaskType = TaskType.BINARY
    positive_class: str | None = None
    threshold: float = 0.5
    chosen: tuple[str, ...] = ()

    def role_of(self, column: str) -> Role:
        for role in SINGLE_ROLES:
            if getattr(self, role.value) == column:
                return role
        if column in self.scores:
            return Role.SCORE
        if column in self.features:
            return Role.FEATURE
        return Role.IGNORED

    def with_role(self, column: str, role: Role) -> "RoleMap":
        """The same mapping with ``column`` moved to ``role`` (a single role's old holder
        becomes a feature, so no column silently disappears)."""
        cleared = self._without(column)
        if role in SINGLE_ROLES:
            previous = getattr(cleared, role.value)
            if previous is not None:
                cleared = replace(cleared, features=cleared.features + (previous,))
            return replace(cleared, **{role.value: column})
        if role is Role.SCORE:
            return replace(cleared, scores=cleared.scores + (column,))
        if role is Role.FEATURE:
            return replace(cleared, features=cleared.features + (column,))
        return replace(cleared, ignored=cleared.ignored + (column,))

    def _without(self, column: str) -> "RoleMap":
        changes: dict[str, Any] = {}
        for role in SINGLE_ROLES:
            if getattr(self, role.value) == column:
                changes[role.value] = None
        if column in self.scores:
            idx = self.scores.index(column)
            changes["scores"] = self.scores[:idx] + self.scores[idx + 1 :]
            if len(self.score_classes) == len(self.scores):
                changes["score_classes"] = self.score_classes[:idx] + self.score_classes[idx + 1 :]
        changes["features"] = tuple(c for c in self.features if c != column)
        changes["ignored"] = tuple(c for c in self.ignored if c != column)
        return replace(self, **changes)

    @property
    def has_outcome(self) -> bool:
        """True when metrics can be computed: a label and a prediction or score."""
        return self.label is not None and (self.prediction is not None or bool(self.scores))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task"] = self.task.value
        for key in ("scores", "score_classes", "features", "ignored", "chosen"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoleMap":
        known = {f for f in cls.__dataclass_fields__}
        clean = {k: v for k, v in data.items() if k in known}
        for key in ("scores", "score_classes", "features", "ignored", "chosen"):
            clean[key] = tuple(clean.get(key) or ())
        clean["task"] = TaskType(clean.get("task", "binary"))
        return cls(**clean)


# --- detection -------------------------------------------------------------------------
#
# Names decide first (real logs mostly say what a column is), types and values second
# (a score is a number in [0, 1]; a label with two values makes the task binary). Each
# role takes the best-ranked column that no earlier role took, so no column gets two roles.

PROFILE_VALUES_UP_TO = 20
"""Columns with at most this many distinct values get their value counts profiled."""

FREE_TEXT_UNIQUE_SHARE = 0.9
"""A text column whose values are at least this share distinct is not a feature."""

FEW_CLASSES = 20
"""An integral label with more distinct values than this is a regression target."""

ID_NAMES = frozenset(
    "id request_id prediction_id inference_id event_id transaction_id correlation_id correlationid "
    "client_request_id databricks_request_id record_id sample_id trace_id message_id log_id "
    "txn_id uuid".split()
)
MODEL_VERSION_NAMES = frozenset(
    "model_version version model model_name model_id model_tag model_variant variant "
    "deployment endpoint_variant model_version_id".split()
)
EXPLICIT_LABEL_NAMES = frozenset("label target".split())
"""Names that say "this is the label" in so many words: no other name outranks them."""
LABEL_NAMES = EXPLICIT_LABEL_NAMES | frozenset(
    "y_true y actual ground_truth groundtruth truth true_label outcome y_actual "
    "actual_label gt true_class true_value observed y_test".split()
)
PREDICTION_NAMES = frozenset(
    "prediction y_pred predicted_label pred predicted predicted_class yhat y_hat pred_label "
    "predicted_value prediction_label predicted_y y_predicted pred_class".split()
)
SCORE_NAMES = frozenset(
    "score proba probability prob confidence y_score y_proba y_prob pred_proba pred_prob "
    "prediction_score predicted_probability prediction_probability pred_score model_score "
    "risk_score positive_probability".split()
)
LABEL_AFFIXES = (("label_", "target_", "actual_", "true_", "y_true_"), ("_label", "_target", "_actual", "_true"))
PREDICTION_AFFIXES = (("pred_", "prediction_", "predicted_", "y_pred_"), ("_pred", "_prediction", "_predicted"))
SCORE_FAMILY_PREFIXES = ("probability_", "proba_", "prob_", "score_", "p_")
SCORE_FAMILY_SUFFIXES = ("_probability", "_proba", "_prob", "_score")
SCORE_WORDS = frozenset("score proba prob probability confidence".split())
POSITIVE_WORDS = frozenset(
    "1 1.0 true yes y positive pos fraud fraudulent default defaulted churn churned spam "
    "anomaly anomalous bad fail failed failure malicious attack click clicked".split()
)


@dataclass(frozen=True)
class ColumnProfile:
    """What a sample of one column looks like: enough to guess its role."""

    name: str
    dtype: str
    rows: int
    non_null: int
    distinct: int
    minimum: float | None = None
    maximum: float | None = None
    in_unit_interval: bool = False
    integral: bool = False
    value_counts: tuple[tuple[str, int], ...] = ()

    @property
    def null_fraction(self) -> float:
        return 1.0 - self.non_null / self.rows if self.rows else 0.0

    @property
    def unique_share(self) -> float:
        return self.distinct / self.non_null if self.non_null else 0.0

    @property
    def is_numeric(self) -> bool:
        return self.dtype.upper().split("(")[0] in _NUMERIC_TYPES

    @property
    def is_boolean(self) -> bool:
        return self.dtype.upper() == "BOOLEAN"

    @property
    def is_timestamp(self) -> bool:
        return self.dtype.upper().startswith("TIMESTAMP")

    @property
    def is_text(self) -> bool:
        return self.dtype.upper() == "VARCHAR"


PROFILE_BATCH_COLUMNS = 64
"""Columns profiled per query: one aggregate over thousands of columns runs DuckDB out of memory
(250 columns already did in 1.5 GB); logs with hundreds of features are normal."""
PROFILE_SAMPLE_ROWS = 50_000
"""The most rows the profile reads: the first ones of a log."""
PROFILE_CELLS = 5_000_000
PROFILE_MIN_ROWS = 1_000
"""The profile's sample is read once into a table of at most PROFILE_CELLS values (fewer rows for
a wide log, never fewer than PROFILE_MIN_ROWS), then profiled batch by batch from memory."""


def profile_columns(store: "Store", dataset: "Dataset", sample_rows: int = PROFILE_SAMPLE_ROWS,
                    progress: Progress = no_progress, cancel: CancelToken = NEVER_CANCELLED) -> list[ColumnProfile]:
    """Profile the first ``sample_rows`` rows of every column (ROW_ID excluded).

    A sample this process profiled before (the same columns, types and values: its
    :func:`_sample_key`) gets the profiles kept from then (:data:`KEPT_PROFILES`): the same log is
    opened again and again (a queue's intake, a reference, a window reopened), and its profile was
    the costliest step of an open."""
    columns = [c for c in dataset.columns if c.name != ROW_ID]
    if not columns:
        return []
    sample_rows = min(sample_rows, max(PROFILE_MIN_ROWS, PROFILE_CELLS // len(columns)))
    counted_rows = min(sample_rows, dataset.row_count)
    sample, key = _keyed_sample(store, dataset, columns, sample_rows, counted_rows, cancel)
    profiles = _kept.get(key)
    if profiles is None:
        table = store.new_name("profile_sample")
        store.execute(f"CREATE TABLE {ident(table)} AS {sample}")
        try:
            profiles = tuple(_profile_sample(store, ident(table), columns, progress, cancel, counted_rows))
        finally:
            store.execute(f"DROP TABLE IF EXISTS {ident(table)}")
        _kept.keep(key, profiles)
    return list(profiles)


def _keyed_sample(store: "Store", dataset: "Dataset", columns: list["Column"], sample_rows: int,
                  counted_rows: int, cancel: CancelToken) -> tuple[str, tuple]:
    """The query of the profile's sample (:func:`_first_rows_queries`: the first that holds
    ``counted_rows`` rows, else the last) and its key (:func:`_sample_key`), hashed over the
    query's rows as they are read: only a sample whose profile is not kept is copied into a
    table, which was most of a reopened log's profile (40 of 50 ms for the 200k-row demo)."""
    for sample in _first_rows_queries(store, dataset, sample_rows):
        key = _sample_key(store, f"({sample})", columns, counted_rows, cancel)
        if key[2] >= counted_rows:  # the rows it holds
            break
    return sample, key


KEPT_PROFILES = 64
"""Samples whose column profiles a process keeps, the least recently used dropped first (a few
kilobytes each, a wide log's a few hundred)."""

_kept = KeptResults(KEPT_PROFILES)


def _sample_key(store: "Store", sample: str, columns: list["Column"], sample_rows: int,
                cancel: CancelToken) -> tuple:
    """What the profile of the rows of ``sample`` (a table, or a query in parentheses) is a
    function of, so that a key equal to a kept one proves the same profile: the columns' names
    and types, ``sample_rows`` (which picks how distinct values are counted), the rows' count,
    the sum of the rows' hashes (one pass, the values' order aside, as the profile's) and the
    time zone the value counts' text is written in. Never the files' paths or times: a file
    rewritten within its time's resolution would keep its old profile. A float's sign joins its
    hash, since -0.0 hashes as 0.0 but its text differs; a nested value holding floats is
    hashed as its text for the same reason."""
    count, content, zone = store.rows(
        f"SELECT count(*), sum(hash({', '.join(_hashed(c) for c in columns)})), current_setting('TimeZone') "
        f"FROM {sample}", cancel)[0]
    return tuple((c.name, c.dtype) for c in columns), sample_rows, int(count), int(content or 0), zone


def _hashed(column: "Column") -> str:
    """What of ``column`` the sample's hash reads (see :func:`_sample_key`)."""
    q, dtype = ident(column.name), column.dtype.upper()
    if dtype in ("FLOAT", "DOUBLE"):
        return f"{q}, signbit({q})"
    if "FLOAT" in dtype or "DOUBLE" in dtype:
        return f"CAST({q} AS VARCHAR)"
    return q


def _first_rows_queries(store: "Store", dataset: "Dataset", rows: int) -> list[str]:
    """Queries of the log's first ``rows`` rows (by ``ROW_ID``), the profile's sample: the first
    one, unless it holds fewer rows than the log's first ``rows``, then the second.

    The bound is on ``ROW_ID`` (dense from 0) as well as a ``LIMIT``: a row-id range reaches a
    multi-file Parquet log's per-file readers, so DuckDB reads the first file's first row
    groups and proves the other files empty from their row numbers, where a bare ``LIMIT``
    over the files' ``UNION ALL`` starts every file's scan at once (ten files of 1M rows: 0.67 s
    of CPU for the sample against 0.06 s). The rows are the same ones the ``LIMIT`` took (the
    log's earliest), so the roles are judged on the same sample as before; what it costs is
    what it always cost, that a column first filled later in the log looks empty here. A view
    whose row ids are not dense (none is meant to be) still gets its sample from the ``LIMIT``.
    """
    view, bound = ident(dataset.view), int(rows)
    macro = rows_macro(store, dataset.view)
    if macro:  # the view's reader of a ROW_ID range (a lakehouse table with deleted rows: its ROW_ID reaches no file)
        return [f"SELECT * FROM {ident(macro)}(0, {bound})"]
    return [f"SELECT * FROM {view} WHERE {ident(ROW_ID)} < {bound} LIMIT {bound}",
            f"SELECT * FROM {view} LIMIT {bound}"]


PROFILE_QUERIES_AT_ONCE = 2
"""Queries a log of at most PROFILE_BATCH_COLUMNS columns is profiled in, side by side: the
sample (50,000 rows at most) is one DuckDB row group, which one thread scans, so one query kept
one core busy and left the other idle. At 30 columns (the 10M-row logs' open) one query took
0.30-0.33 CPU-s, two halves side by side 0.23-0.26 and about half the wall time. A wider log keeps
its batches of PROFILE_BATCH_COLUMNS one after another: never more columns aggregated at once."""


def _column_batches(columns: list["Column"]) -> tuple[list[list["Column"]], int]:
    """(the batches of columns the profile queries, how many run at once); see
    PROFILE_BATCH_COLUMNS and PROFILE_QUERIES_AT_ONCE."""
    if len(columns) > PROFILE_BATCH_COLUMNS:
        size, at_once = PROFILE_BATCH_COLUMNS, 1
    else:
        size, at_once = max(1, -(-len(columns) // PROFILE_QUERIES_AT_ONCE)), PROFILE_QUERIES_AT_ONCE
    return [columns[start:start + size] for start in range(0, len(columns), size)], at_once


def _profile_sample(store: "Store", sample: str, columns: list["Column"], progress: Progress,
                    cancel: CancelToken, sample_rows: int = PROFILE_SAMPLE_ROWS) -> list[ColumnProfile]:
    """Profile the sample table ``sample`` (``sample_rows`` rows at most: the rows it holds, which
    choose how distinct values are counted, :data:`COUNT_DISTINCT_FROM_ROWS`) in batches of
    columns (see :func:`_column_batches`)."""
    def profiled(batch: list["Column"]) -> tuple:
        cancel.raise_if_cancelled()
        parts = ", ".join(_profile_parts(c, sample_rows) for c in batch)
        return store.rows(f"SELECT count(*), {parts} FROM {sample}", cancel)[0]

    batches, at_once = _column_batches(columns)
    rows, values, start = 0, [], 0
    with ThreadPoolExecutor(at_once, thread_name_prefix="sleuth-profile") as pool:
        running = [pool.submit(profiled, batch) for batch in batches]
        try:
            for batch, result in zip(batches, running):
                progress(start / len(columns), f"Profiling columns {start + 1:,}-{start + len(batch):,} of {len(columns):,}")
                stats = result.result()
                start += len(batch)
                rows = stats[0]
                values += list(stats[1:])
        finally:
            for result in running:
                result.cancel()
    partial = []
    for column in columns:
        non_null, distinct, low, high, outside, fractional = values[:6]
        del values[:6]
        partial.append(
            ColumnProfile(
                name=column.name,
                dtype=column.dtype,
                rows=int(rows),
                non_null=int(non_null),
                distinct=int(distinct),
                minimum=None if low is None else float(low),
                maximum=None if high is None else float(high),
                in_unit_interval=bool(non_null) and outside == 0 and low is not None,
                integral=bool(non_null) and fractional == 0 and low is not None,
            )
        )
    counts = _value_counts(store, sample, [p for p in partial if 0 < p.distinct <= PROFILE_VALUES_UP_TO])
    return [replace(p, value_counts=counts.get(p.name, ())) for p in partial]


COUNT_DISTINCT_FROM_ROWS = 10_000
"""From this many sample rows, a column's distinct values are counted by ``count(DISTINCT)``,
below it by ``list_distinct`` (both exact, NaN, -0.0 and NULL alike). ``count(DISTINCT)`` has a
fixed cost per column (its own hash table, ~0.7 ms) and a small one per row; ``list_distinct``
almost none fixed and three times the per-row cost. 64 columns, CPU per query: 2,000 rows (a
wide log's sample) 13 ms listed against 47 ms counted; 50,000 rows (a 30-column log's, on the
path to the metrics at open) 262 ms listed against 121 ms counted."""


def _profile_parts(column: "Column", sample_rows: int = PROFILE_SAMPLE_ROWS) -> str:
    """One column's measures of the profile's query. The finite values are a CASE, not a FILTER
    per aggregate: DuckDB slices the whole batch's inputs once per filtered aggregate, so 64
    columns' 256 filters cost more than the rest of the query (0.15 CPU-s of 400 rows against
    0.06 as CASE; at 8 columns both cost the same: the filters' cost grows with filters times columns)."""
    q = ident(column.name)
    if column.is_numeric:
        as_double = f"CAST({q} AS DOUBLE)"
        finite = f"CASE WHEN isfinite({as_double}) THEN {as_double} END"
        numeric = (
            f"min({finite}), max({finite}), count(CASE WHEN NOT ({finite} BETWEEN 0 AND 1) THEN 1 END), "
            f"count(CASE WHEN {finite} <> round({finite}) THEN 1 END)"
        )
    else:
        numeric = "NULL, NULL, NULL, NULL"
    distinct = f"count(DISTINCT {q})" if sample_rows >= COUNT_DISTINCT_FROM_ROWS else f"coalesce(len(list_distinct(list({q}))), 0)"
    return f"count({q}), {distinct}, {numeric}"


def _value_counts(store: "Store", sample: str, profiles: list[ColumnProfile]) -> dict[str, tuple[tuple[str, int], ...]]:
    if not profiles:
        return {}
    parts = [
        f"SELECT {literal(p.name)} AS col, CAST({ident(p.name)} AS VARCHAR) AS value, count(*) AS n "
        f"FROM {sample} WHERE {ident(p.name)} IS NOT NULL GROUP BY ALL"
        for p in profiles
    ]
    counts: dict[str, list[tuple[str, int]]] = {}
    for col, value, n in store.rows(" UNION ALL ".join(parts) + " ORDER BY col, n DESC, value"):
        counts.setdefault(col, []).append((value, int(n)))
    return {col: tuple(pairs) for col, pairs in counts.items()}


def detect_roles(profiles: Sequence[ColumnProfile], fixed: Mapping[Role, str] | None = None) -> RoleMap:
    """Propose a role for every column of a log from its profile.

    ``fixed`` names columns whose role the user (``--label COL``...) or the model file already
    decided: they take that role first, and detection fills the other roles around them, so the
    task and the positive class follow the label the user named.
    """
    pool = [p for p in profiles if p.name != ROW_ID]
    fixed = dict(fixed or {})
    by_name = {p.name: p for p in pool}
    taken: set[str] = set(fixed.values())
    ignored: list[str] = []

    def pick(role: Role, rank: Callable[[ColumnProfile], float | None]) -> ColumnProfile | None:
        if role in fixed:
            return by_name[fixed[role]]
        ranked = [(r, i, p) for i, p in enumerate(pool) if p.name not in taken and (r := rank(p)) is not None]
        if not ranked:
            return None
        best = min(ranked, key=lambda item: (item[0], item[1]))[2]
        taken.add(best.name)
        return best

    timestamp = pick(Role.TIMESTAMP, _timestamp_rank)
    model_version = pick(Role.MODEL_VERSION, _model_version_rank)
    label = pick(Role.LABEL, label_name_rank) or _only_binary_flag(pool, taken)
    if Role.SCORE in fixed:
        scores, score_classes = (fixed[Role.SCORE],), ()
    else:
        scores, score_classes = _pick_scores(pool, taken, label)
    prediction = pick(Role.PREDICTION, _prediction_rank)
    identifier = pick(Role.ID, _id_rank)
    if (Role.PREDICTION not in fixed and prediction is not None and label is not None and not scores
            and _looks_like_probability(prediction, label)):
        scores, prediction = (prediction.name,), None
    for leftover in (p for p in pool if p.name not in taken):
        if _is_outcome_like(leftover) or _is_free_text(leftover):
            ignored.append(leftover.name)
            taken.add(leftover.name)
    task = infer_task(label, prediction, len(scores))
    outcome = label or prediction
    positive = positive_class(outcome) if task is TaskType.BINARY and outcome is not None else None
    if task is TaskType.BINARY and len(score_classes) == 2:
        keep = score_classes.index(positive) if positive in score_classes else 1
        ignored.append(scores[1 - keep])
        scores, score_classes = (scores[keep],), (score_classes[keep],)
    if task is not TaskType.MULTICLASS and len(scores) == 1:
        score_classes = ()
    return RoleMap(
        id=_name(identifier),
        timestamp=_name(timestamp),
        model_version=_name(model_version),
        label=_name(label),
        prediction=_name(prediction),
        scores=tuple(scores),
        score_classes=tuple(score_classes),
        features=tuple(p.name for p in pool if p.name not in taken),
        ignored=tuple(ignored),
        task=task,
        positive_class=positive,
    )


OVERRIDABLE_ROLES = (Role.LABEL, Role.ID, Role.TIMESTAMP, Role.MODEL_VERSION, Role.SCORE, Role.PREDICTION)
"""Roles a user can name a column for on the command line (``--label COL``...)."""


def role_problem(column: "Column", role: Role) -> str | None:
    """Why ``column`` cannot play ``role``, in a sentence, or None when it can.

    A score is a probability and a timestamp a time: every metric, bin and plot over them
    computes with numbers or times, so a text column there would make each of them fail.
    Labels, predictions, ids and versions may be text (class names, request ids, tags).
    """
    if role is Role.SCORE and not column.is_numeric:
        return (f"column '{column.name}' holds {column.dtype.lower()} values, and a score must be numbers "
                f"(the probability of the positive class)")
    if role is Role.TIMESTAMP and not column.is_temporal:
        return f"column '{column.name}' holds {column.dtype.lower()} values, not times, so it cannot be the timestamp"
    return None


def check_fixed_roles(fixed: Mapping[Role, str], columns: Sequence["Column"], file: str | None = None) -> None:
    """Refuse, in one sentence naming it, a column the user gave a role but the data lacks,
    one whose type cannot play it (:func:`role_problem`), or one column named for two roles."""
    from analysis.errors import SchemaError

    column_names = [c.name for c in columns]
    present = set(column_names)
    for role, column in fixed.items():
        if column not in present:
            shown = [c for c in column_names if c != ROW_ID]
            listed = ", ".join(shown[:20]) + (f" and {len(shown) - 20} more" if len(shown) > 20 else "")
            raise SchemaError(f"there is no column '{column}' to use as the {role.value.replace('_', ' ')} "
                              f"(the columns are {listed})", file=file)
        problem = role_problem(next(c for c in columns if c.name == column), role)
        if problem:
            raise SchemaError(problem, file=file)
    named = list(fixed.values())
    for column in named:
        if named.count(column) > 1:
            roles = " and ".join(r.value for r, c in fixed.items() if c == column)
            raise SchemaError(f"column '{column}' was named for two roles ({roles})", file=file)


def chosen_roles(roles: RoleMap, wanted: Sequence[Role] = SINGLE_ROLES) -> dict[Role, str]:
    """The ``wanted`` roles a person set by hand in ``roles``, as ``{Role: column}``: what a
    snapshot's saved mapping hands to :func:`detect_roles` as fixed roles."""
    found = {}
    for role in wanted:
        column = getattr(roles, role.value, None) if role in SINGLE_ROLES else None
        if role.value in roles.chosen and column is not None:
            found[role] = column
    return found


def with_fixed_role(roles: RoleMap, role: Role, column: str) -> RoleMap:
    """A saved mapping with the user's ``--score COL``/``--label COL``... applied on top: a named
    score replaces the score columns (the old ones are ignored, they would leak the answer)."""
    if role is not Role.SCORE:
        return roles.with_role(column, role)
    cleared = roles._without(column)
    return replace(cleared, scores=(column,), score_classes=(), ignored=cleared.ignored + cleared.scores)


def infer_task(label: ColumnProfile | None, prediction: ColumnProfile | None, score_count: int = 0) -> TaskType:
    """Binary, multiclass or regression, from the label (else the prediction, else the scores)."""
    if score_count >= 3:
        return TaskType.MULTICLASS
    outcome = label or prediction
    if outcome is None:
        return TaskType.BINARY
    if outcome.is_boolean or outcome.distinct <= 2:
        return TaskType.BINARY
    if outcome.is_numeric and (not outcome.integral or outcome.distinct > FEW_CLASSES):
        return TaskType.REGRESSION
    return TaskType.MULTICLASS


def positive_class(outcome: ColumnProfile) -> str | None:
    """The value (as DuckDB's ``CAST(x AS VARCHAR)`` renders it) that counts as positive.

    A value that says positive (1, true, yes, fraud, default...) wins; else the rarer one.
    A binary outcome has at most two values, so its value counts hold every value it has.
    """
    for value, _ in outcome.value_counts:
        if value.strip().lower() in POSITIVE_WORDS or _words(value) & POSITIVE_WORDS - {"1", "y"}:
            return value
    if len(outcome.value_counts) >= 2:
        return min(outcome.value_counts, key=lambda pair: (pair[1], pair[0]))[0]
    return None


def looks_like_score(name: str) -> bool:
    """True when the name says the column holds probabilities (``score``, ``p_fraud``,
    ``fraud_prob``): loading reads such a column as numbers even when a few cells are not."""
    word = normalize(name)
    return word in SCORE_NAMES or _has_affix(word, (SCORE_FAMILY_PREFIXES, SCORE_FAMILY_SUFFIXES))


def _name(profile: ColumnProfile | None) -> str | None:
    return profile.name if profile is not None else None


def _words(name: str) -> set[str]:
    return set(normalize(name).split("_"))


def _has_affix(word: str, affixes: tuple[tuple[str, ...], tuple[str, ...]]) -> bool:
    prefixes, suffixes = affixes
    return word.startswith(prefixes) or word.endswith(suffixes)


def _timestamp_rank(p: ColumnProfile) -> float | None:
    if p.is_timestamp:
        return 0 if looks_like_time(p.name) else 1
    if p.dtype.upper() == "DATE" and looks_like_time(p.name):
        return 2
    return None


def _model_version_rank(p: ColumnProfile) -> float | None:
    word = normalize(p.name)
    if p.is_text or p.is_numeric:
        if word in MODEL_VERSION_NAMES:
            return 0
        if word.endswith("_version") and p.unique_share < 0.5:
            return 1
    return None


def label_name_rank(p: ColumnProfile) -> float | None:
    """How surely the name says "label": 0 for ``label``/``target``, then other label names,
    then affixes (``label_x``, ``x_true``); None when the name does not say it."""
    word = normalize(p.name)
    if _words(p.name) & (SCORE_WORDS | {"pred", "prediction", "predicted"}):
        return None
    if word in EXPLICIT_LABEL_NAMES:
        return 0
    if word in LABEL_NAMES:
        return 1
    if _has_affix(word, LABEL_AFFIXES):
        return 2
    return None


def _only_binary_flag(pool: list[ColumnProfile], taken: set[str]) -> ColumnProfile | None:
    """An ``is_*`` column with two values is the label when it is the only such column."""
    flags = [
        p for p in pool
        if p.name not in taken and normalize(p.name).startswith("is_") and 0 < p.distinct <= 2
    ]
    if len(flags) != 1:
        return None
    taken.add(flags[0].name)
    return flags[0]


def _prediction_rank(p: ColumnProfile) -> float | None:
    word = normalize(p.name)
    if word in PREDICTION_NAMES:
        return 0
    if _has_affix(word, PREDICTION_AFFIXES) and not _words(p.name) & SCORE_WORDS:
        return 1
    return None


def _id_rank(p: ColumnProfile) -> float | None:
    word = normalize(p.name)
    if p.dtype.upper() in ("DOUBLE", "FLOAT", "REAL") or p.is_boolean:
        return None
    if word in ID_NAMES:
        return 0
    if (word.endswith("_id") or word in ("key", "guid")) and p.unique_share >= 0.3:
        return 1 + (1 - p.unique_share)
    return None


def _score_class(p: ColumnProfile) -> tuple[str, str] | None:
    """(family, class) for per-class probability columns such as ``p_cat`` or ``fraud_prob``."""
    if not (p.is_numeric and p.in_unit_interval):
        return None
    word = normalize(p.name)
    for prefix in SCORE_FAMILY_PREFIXES:
        if word.startswith(prefix) and len(word) > len(prefix):
            return prefix, word[len(prefix):]
    for suffix in SCORE_FAMILY_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return suffix, word[: -len(suffix)]
    return None


def _pick_scores(
    pool: list[ColumnProfile], taken: set[str], label: ColumnProfile | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One score column, or a family of per-class probabilities (``p_cat, p_dog, p_bird``).

    A family's class names come from the column names, spelled as the label spells them
    when the label has a matching value (``p_Cat`` with label value ``Cat``)."""
    free = [p for p in pool if p.name not in taken]
    exact = [p for p in free if normalize(p.name) in SCORE_NAMES and p.is_numeric]
    if exact:
        taken.add(exact[0].name)
        return (exact[0].name,), ()
    families: dict[str, list[tuple[ColumnProfile, str]]] = {}
    for p in free:
        if normalize(p.name) in PREDICTION_NAMES | LABEL_NAMES:
            continue
        found = _score_class(p)
        if found:
            families.setdefault(found[0], []).append((p, found[1]))
    if not families:
        return (), ()
    members = max(families.values(), key=len)
    spelled = {normalize(value): value for value, _ in (label.value_counts if label else ())}
    taken.update(p.name for p, _ in members)
    return tuple(p.name for p, _ in members), tuple(spelled.get(c, c) for _, c in members)


def _looks_like_probability(prediction: ColumnProfile, label: ColumnProfile) -> bool:
    """A "prediction" of fractions in [0, 1] next to a two-valued label is really a score."""
    return (
        prediction.is_numeric
        and prediction.in_unit_interval
        and not prediction.integral
        and (label.is_boolean or label.distinct <= 2)
    )


def _is_outcome_like(p: ColumnProfile) -> bool:
    """A second prediction or score column (wide logs): never a feature, it leaks the answer."""
    word = normalize(p.name)
    return (
        _prediction_rank(p) is not None
        or word in SCORE_NAMES
        or (_words(p.name) & SCORE_WORDS and p.is_numeric and p.in_unit_interval)
    )


def _is_free_text(p: ColumnProfile) -> bool:
    return p.is_text and p.non_null >= 20 and p.unique_share >= FREE_TEXT_UNIQUE_SHARE


# --- the label, told by what the model forecasts ------------------------------------------
#
# A log's label is often named after its domain (``churned``, ``union``, ``insurance``), so no
# name says it. What sets it apart from every other column is that the model was trained to
# forecast it: the score (else the prediction) forecasts the label better than the label's own
# base rate does, and forecasts a feature no better, usually worse (a feature's base rate is
# not the score's scale). That is a proper-score comparison with a test behind it.
#
# A log alone cannot always tell: on Ecdat's Benefits the model forecasts no column better than
# its base rate beyond chance (``ui`` included), and on Hdma it forecasts the target ``deny``
# and the input ``black`` alike, so both logs need ``--label`` when read without a model. The
# model file decides it (:mod:`analysis.data.model_label`, which ``check --model`` and
# ``compare --model`` apply to a log and ``trace`` and ``suspects`` to a snapshot): in both, the
# one column the model does not read, holding its classes, that its score ranks beyond chance.

LABEL_FORECAST_ALPHA = 0.05
"""Family-wise level of "the model forecasts this column", over every candidate and version."""

LABEL_FORECAST_SAMPLE = 50_000
"""Rows the forecast test reads: the first ones, as the profile does."""


def label_from_forecast(scope: Scope, profiles: Sequence[ColumnProfile],
                        cancel: CancelToken = NEVER_CANCELLED) -> str | None:
    """The column the model forecasts, when detection found no label by name: of the unnamed
    columns holding exactly the prediction's values, the one whose Brier score under the
    model's score (else its prediction) beats the Brier score of the column's own base rate
    beyond chance (one-sided z test of the per-row differences, in each version apart,
    Bonferroni over columns and versions). None when no column does (a model no better than
    a constant cannot tell its label from a feature) and when several do: a yes/no feature
    that nearly decides the score is forecast too, and the choice is then the user's."""
    store, dataset, roles = scope.store, scope.dataset, scope.roles
    from scipy import stats

    by_name = {p.name: p for p in profiles}
    outcome = by_name.get(roles.prediction) if roles.prediction else None
    if roles.label is not None or roles.positive_class is None or (outcome is None and len(roles.scores) != 1):
        return None
    values = {v for v, _ in outcome.value_counts} if outcome is not None else {roles.positive_class}
    candidates = [p for p in profiles if p.name in roles.features and 0 < p.distinct <= 2
                  and _forecastable(p, values, roles.positive_class)]
    if not candidates:
        return None
    positive = literal(roles.positive_class)
    forecast = (f"CAST({ident(roles.scores[0])} AS DOUBLE)" if len(roles.scores) == 1
                else f"CAST(CAST({ident(roles.prediction)} AS VARCHAR) = {positive} AS DOUBLE)")
    version = ident(roles.model_version) if roles.model_version else "NULL"
    hits = ", ".join(f"CAST(CAST({ident(p.name)} AS VARCHAR) = {positive} AS DOUBLE) AS c{i}"
                     for i, p in enumerate(candidates))
    gains = ", ".join(
        f"avg(power(c{i} - base{i}, 2) - power(c{i} - f, 2)), stddev_samp(power(c{i} - base{i}, 2) - power(c{i} - f, 2))"
        for i in range(len(candidates)))
    bases = ", ".join(f"avg(c{i}) OVER (PARTITION BY v) AS base{i}" for i in range(len(candidates)))
    sample = (f"SELECT {version} AS v, {forecast} AS f, {hits} FROM {ident(dataset.view)} "
              f"WHERE {forecast} IS NOT NULL LIMIT {LABEL_FORECAST_SAMPLE}")
    rows = store.rows(f"WITH s AS ({sample}), b AS (SELECT *, {bases} FROM s) "
                      f"SELECT count(*), {gains} FROM b GROUP BY v", cancel)
    critical = stats.norm.isf(LABEL_FORECAST_ALPHA / (len(candidates) * max(len(rows), 1)))
    forecast_columns = {p.name for n, *moments in rows
                        for p, mean, sd in zip(candidates, moments[::2], moments[1::2])
                        if mean is not None and sd and mean / sd * n ** 0.5 > critical}
    return forecast_columns.pop() if len(forecast_columns) == 1 else None


def _forecastable(p: ColumnProfile, values: set[str], positive: str) -> bool:
    """Two values, the positive class one of them, and the prediction's two when it has two."""
    own = {v for v, _ in p.value_counts}
    return len(own) == 2 and positive in own and (len(values) < 2 or own == values)
