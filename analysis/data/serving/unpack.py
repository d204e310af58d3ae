"""Requests -> one row per prediction: id, timestamp, model version, features, outputs.

Every vendor module describes its records as *requests* (see :data:`REQUEST_COLUMNS`); this
module checks them (a request whose rows cannot be read, or whose outputs do not match its
rows one to one, is skipped and named by file and record; a failed request is counted and
shown, never scored), unnests each request's rows next to its outputs, and gives every
feature and output its own typed column, all in DuckDB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from analysis.data.column_names import normalize
from analysis.data.roles import LABEL_NAMES
from analysis.dataset import SkippedRow
from analysis.query import ident, literal

REQUEST_COLUMNS = ("file", "record", "request_id", "event_time", "model_version", "status", "rows", "outputs",
                   "problem")
"""What a vendor query returns per request: where it was read (file, record = line or row number),
its id, time and model version, the HTTP status when logged, the input rows (JSON array of
objects, see :func:`payload.input_rows`), the outputs (JSON array, one per row; NULL when the
response was not captured) and a problem (text) when the record cannot be read."""

ID, TIME, VERSION = "request_id", "timestamp", "model_version"
SCORE, PREDICTION, CLASS_SCORE_PREFIX, PREDICTED_PREFIX = "score", "prediction", "p_", "predicted_"
BATCH_SEPARATOR = ":"
"""A request that holds several rows gives each the id ``<request id>:<position>`` (from 0)."""

SCALAR_TYPES = {"DOUBLE", "UBIGINT", "BIGINT", "VARCHAR", "BOOLEAN"}
NUMBER_TYPES = ("DOUBLE", "UBIGINT", "BIGINT")
FAILED = "NOT (status BETWEEN 200 AND 299)"
EXAMPLES = 3


@dataclass
class Unpacked:
    """What unpacking learnt: records skipped (with why) and sentences for the load report."""

    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def unpack_requests(cur: duckdb.DuckDBPyConnection, requests_sql: str, target: str, title: str) -> Unpacked:
    """Create ``target`` with one row per prediction from the vendor query ``requests_sql``."""
    requests, flat = f"{target}_requests", f"{target}_flat"
    cur.execute(f"CREATE TABLE {ident(requests)} AS SELECT {', '.join(REQUEST_COLUMNS)}, {_problem()} AS why "
                f"FROM ({requests_sql}) AS r")
    try:
        result = Unpacked(skipped=_skipped(cur, requests))
        result.notes += _failed_note(cur, requests) + _unanswered_note(cur, requests)
        cur.execute(
            f"CREATE TABLE {ident(flat)} AS SELECT r.*, i AS item, json_array_length(rows) AS batch, "
            f"rows->(CAST(i AS BIGINT)) AS features, outputs->(CAST(i AS BIGINT)) AS output "
            f"FROM {ident(requests)} AS r, range(CAST(json_array_length(rows) AS BIGINT)) AS pos(i) "
            f"WHERE why IS NULL AND (status IS NULL OR NOT ({FAILED}))"
        )
        result.notes += _one_output_shape(cur, flat)
        _create_predictions(cur, flat, target)
        result.notes.insert(0, _summary(cur, requests, target, title))
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {ident(flat)}")
        cur.execute(f"DROP TABLE IF EXISTS {ident(requests)}")
    return result


def _problem() -> str:
    return (
        "CASE WHEN problem IS NOT NULL THEN problem "
        f"WHEN status IS NOT NULL AND {FAILED} THEN NULL "
        "WHEN rows IS NULL OR json_type(rows) <> 'ARRAY' THEN 'the request holds no input rows in a known form "
        "(instances, inputs, dataframe_split, dataframe_records, CSV or a JSON object)' "
        "WHEN json_array_length(rows) = 0 THEN 'the request holds no input rows (an empty batch)' "
        "WHEN outputs IS NOT NULL AND json_array_length(outputs) <> json_array_length(rows) THEN "
        "'the request holds ' || json_array_length(rows) || ' row(s) but the response ' || "
        "json_array_length(outputs) || ' output(s)' END"
    )


def _skipped(cur: duckdb.DuckDBPyConnection, requests: str) -> list[SkippedRow]:
    rows = cur.execute(f"SELECT file, record, why FROM {ident(requests)} WHERE why IS NOT NULL "
                       f"ORDER BY file, record").fetchall()
    return [SkippedRow(file, int(record) if record is not None else None, why) for file, record, why in rows]


def _failed_note(cur: duckdb.DuckDBPyConnection, requests: str) -> list[str]:
    count, statuses, examples = cur.execute(
        f"SELECT count(*), list(DISTINCT status ORDER BY status), "
        f"list(file || ' record ' || record ORDER BY file, record)[1:{EXAMPLES}] "
        f"FROM {ident(requests)} WHERE status IS NOT NULL AND {FAILED}"
    ).fetchone()
    if not count:
        return []
    codes = ", ".join(str(s) for s in statuses)
    return [f"{count:,} failed request(s) (status {codes}) are not scored, e.g. {'; '.join(examples)}"]


def _unanswered_note(cur: duckdb.DuckDBPyConnection, requests: str) -> list[str]:
    """Name the requests whose response was never logged (a response event lost, a capture of
    inputs only): their rows load, with no score or prediction, which a reader should know."""
    count, examples = cur.execute(
        f"SELECT count(*), list(file || ' record ' || record ORDER BY file, record)[1:{EXAMPLES}] "
        f"FROM {ident(requests)} WHERE why IS NULL AND outputs IS NULL AND (status IS NULL OR NOT ({FAILED}))"
    ).fetchone()
    if not count:
        return []
    return [f"{count:,} request(s) have no logged response, so their rows have no score or prediction, "
            f"e.g. {'; '.join(examples)}"]


def _summary(cur: duckdb.DuckDBPyConnection, requests: str, target: str, title: str) -> str:
    total = cur.execute(f"SELECT count(*) FROM {ident(requests)}").fetchone()[0]
    predictions = cur.execute(f"SELECT count(*) FROM {ident(target)}").fetchone()[0]
    return f"read as {title}: {total:,} logged request(s) unpacked into {predictions:,} prediction row(s)"


def _create_predictions(cur: duckdb.DuckDBPyConnection, flat: str, target: str) -> None:
    features_shape, outputs_shape = cur.execute(
        f"SELECT json_group_structure(features), json_group_structure(output) FROM {ident(flat)}"
    ).fetchone()
    features = _object_fields(features_shape)
    taken = {ID, TIME, VERSION}
    columns = [
        f"CASE WHEN batch > 1 THEN request_id || '{BATCH_SEPARATOR}' || item ELSE request_id END AS {ident(ID)}",
        f"event_time AS {ident(TIME)}",
        f"model_version AS {ident(VERSION)}",
    ]
    for name in features:
        column = _free_name(name, taken, "input_")
        columns.append(f"struct_extract(f, {literal(name)}) AS {ident(column)}")
    columns += _output_columns(cur, flat, outputs_shape, taken)
    transform = f"json_transform(features, {literal(json.dumps(features))})" if features else "NULL"
    output_transform = _output_transform(outputs_shape)
    cur.execute(
        f"CREATE TABLE {ident(target)} AS SELECT {', '.join(columns)} FROM "
        f"(SELECT *, {transform} AS f, {output_transform} AS o FROM {ident(flat)}) "
        f"ORDER BY file, record, item"
    )


def _one_output_shape(cur: duckdb.DuckDBPyConnection, flat: str) -> list[str]:
    """Give every output one shape when some are objects and some plain numbers.

    One endpoint can answer in several content types: SageMaker's built-in algorithms write
    ``{"predictions": [{"score": 0.4, "predicted_label": 0}]}`` for JSON and a bare ``0.4``
    for CSV, and a capture folder keeps both. A number is then the object field it stands for:
    the objects' only numeric field of its kind (the one holding probabilities, when the
    numbers are probabilities), else the field named as the number alone would be (``score``
    for probabilities, ``prediction`` otherwise). Any other output (text, a list, a value of
    another type) cannot be read as that field: it is left empty, counted and named by file
    and record, never turned into text that hides every score of the log."""
    numbers = ", ".join(f"'{kind}'" for kind in NUMBER_TYPES)
    objects, plain = cur.execute(
        f"SELECT count(*) FILTER (WHERE json_type(output) = 'OBJECT'), "
        f"count(*) FILTER (WHERE json_type(output) IN ({numbers})) FROM {ident(flat)}").fetchone()
    if not objects or not plain:
        return []
    fields = _object_fields(cur.execute(f"SELECT json_group_structure(output) FROM {ident(flat)} "
                                        f"WHERE json_type(output) = 'OBJECT'").fetchone()[0])
    is_number = f"json_type(output) IN ({numbers})"
    probability = _probabilities(cur, flat, "output", is_number)
    numeric = [name for name, kind in fields.items() if kind in NUMBER_TYPES and (not probability or _probabilities(
        cur, flat, f"json_extract(output, {literal('$.' + json.dumps(name))})", "json_type(output) = 'OBJECT'"))]
    field = numeric[0] if len(numeric) == 1 else SCORE if probability else PREDICTION
    unreadable = f"output IS NOT NULL AND json_type(output) NOT IN ('OBJECT', {numbers})"
    count, examples = cur.execute(
        f"SELECT count(*), list(file || ' record ' || record ORDER BY file, record, item)[1:{EXAMPLES}] "
        f"FROM {ident(flat)} WHERE {unreadable}").fetchone()
    cur.execute(f"UPDATE {ident(flat)} SET output = CASE WHEN json_type(output) = 'OBJECT' THEN output "
                f"WHEN json_type(output) IN ({numbers}) THEN json_object({literal(field)}, output) END")
    said = [f"{plain:,} output(s) given as a plain number and {objects:,} as an object were read into one "
            f"column '{field}'"]
    if count:
        said.append(f"{count:,} output(s) are neither a number nor an object and are left empty, e.g. "
                    + "; ".join(examples))
    return said


def _object_fields(shape: str | None) -> dict[str, object]:
    """Field -> type of a JSON structure that is an object; all-null fields and fields of mixed
    types become text (the loader then reports a mostly numeric text column)."""
    parsed = json.loads(shape) if shape else None
    if not isinstance(parsed, dict):
        return {}
    return {name: ("VARCHAR" if kind in ("NULL", "JSON") else kind) for name, kind in parsed.items()}


def _free_name(name: str, taken: set[str], prefix: str) -> str:
    column = name if name not in taken else prefix + name
    taken.add(column)
    return column


def _output_transform(shape: str | None) -> str:
    parsed = json.loads(shape) if shape else None
    if isinstance(parsed, dict):
        return f"json_transform(output, {literal(json.dumps(_object_fields(shape)))})"
    if isinstance(parsed, list) and parsed and parsed[0] in SCALAR_TYPES - {"VARCHAR", "BOOLEAN"}:
        return "CAST(json_extract(output, '$[*]') AS DOUBLE[])"
    if parsed in SCALAR_TYPES:
        return f"json_transform(output, {literal(json.dumps(parsed))})"
    return "CAST(output AS VARCHAR)"


def _output_columns(cur: duckdb.DuckDBPyConnection, flat: str, shape: str | None, taken: set[str]) -> list[str]:
    """One output value -> ``score`` (a probability) or ``prediction``; a list of numbers -> one
    score per class ``p_0..p_k``; an object -> its fields; anything else -> ``prediction`` as text."""
    parsed = json.loads(shape) if shape else None
    if parsed is None or parsed == "NULL":
        return []
    if isinstance(parsed, dict):
        return [f"struct_extract(o, {literal(name)}) AS {ident(_free_name(_output_name(name), taken, 'output_'))}"
                for name in _object_fields(shape)]
    if isinstance(parsed, list) and parsed and parsed[0] in SCALAR_TYPES - {"VARCHAR", "BOOLEAN"}:
        width = cur.execute(f"SELECT max(len(CAST(json_extract(output, '$[*]') AS DOUBLE[]))) FROM {ident(flat)}").fetchone()[0]
        return [f"o[{k + 1}] AS {ident(_free_name(f'{CLASS_SCORE_PREFIX}{k}', taken, 'output_'))}"
                for k in range(int(width or 0))]
    name = SCORE if parsed in {"DOUBLE"} and _probabilities(cur, flat) else PREDICTION
    return [f"o AS {ident(_free_name(name, taken, 'output_'))}"]


def _output_name(name: str) -> str:
    """An output field named like ground truth (``label``, ``target``...) is what the model
    predicted, so it is shown as ``predicted_<name>`` and never taken for the label."""
    return f"{PREDICTED_PREFIX}{name}" if normalize(name) in LABEL_NAMES else name


def _probabilities(cur: duckdb.DuckDBPyConnection, flat: str, value: str = "output", which: str = "TRUE") -> bool:
    """True when every ``value`` (an output, or a field of it; of the rows ``which`` selects)
    is a number in [0, 1] and some are fractions: a probability."""
    low, high, fractions = cur.execute(
        f"SELECT min(v), max(v), count(*) FILTER (WHERE v <> round(v)) FROM "
        f"(SELECT TRY_CAST({value} AS DOUBLE) AS v FROM {ident(flat)} WHERE {which})"
    ).fetchone()
    return low is not None and low >= 0 and high <= 1 and fractions > 0
