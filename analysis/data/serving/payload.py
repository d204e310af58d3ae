"""SQL that reads the request and response bodies serving systems share, whatever the vendor.

A request body names its rows in one of a few documented forms (TF Serving / KServe V1
``instances``, MLflow ``dataframe_split`` / ``dataframe_records`` / ``inputs``, the Open
Inference Protocol's ``inputs`` tensors, Seldon's ``data.ndarray`` with ``data.names``, a bare
list or object); a response holds ``predictions``, OIP ``outputs`` tensors, Seldon's
``data.ndarray``, a list or one value. :func:`input_rows` turns any
of them into a JSON array of row objects (feature name -> value), :func:`output_rows` into a
JSON array with one output per row, so :mod:`.unpack` needs to know no vendor.

Every function takes and returns a SQL expression over a JSON value; none embeds user text.
"""

from __future__ import annotations

FEATURE_PREFIX = "feature_"
"""Name of an unnamed input column: ``feature_0``, ``feature_1``... in payload order."""


def _has(json: str, key: str) -> str:
    return f"json_exists({json}, '$.{key}')"


def _is_tensor_list(json: str) -> str:
    """The Open Inference Protocol's tensors: a list of {name, shape, datatype, data}."""
    return (f"(json_type({json}) = 'ARRAY' AND json_type({json}, '$[0]') = 'OBJECT' "
            f"AND json_exists({json}, '$[0].datatype') AND json_exists({json}, '$[0].data'))")


def _tensor_width(tensor: str) -> str:
    """Values per row of a tensor: the product of its shape after the batch dimension."""
    return (f"coalesce(CAST(list_product(list_transform(json_extract({tensor}, '$.shape[*]')[2:], "
            f"lambda s: CAST(s AS DOUBLE))) AS BIGINT), 1)")


def _tensor_rows(tensors: str) -> str:
    """OIP tensors -> one object per row; a tensor of shape [n, k] gives columns name_0..name_{k-1}."""
    width = _tensor_width("t")
    return (
        f"to_json(list_transform(range(CAST(json_extract({tensors}, '$[0].shape[0]') AS BIGINT)), lambda i: "
        f"map_from_entries(flatten(list_transform(json_extract({tensors}, '$[*]'), lambda t: "
        f"list_transform(range({width}), lambda j: struct_pack("
        f"k := (t->>'$.name') || CASE WHEN {width} > 1 THEN '_' || j ELSE '' END, "
        f"v := json_extract(t, '$.data')->(CAST(i * {width} + j AS BIGINT)))))))))"
    )


def _tensor_outputs(tensors: str) -> str:
    """OIP output tensors -> one output per row: a value, a list (one tensor of width k), or an
    object by tensor name when there are several tensors."""
    width = _tensor_width("t")
    single = (
        f"to_json(list_transform(range(CAST(json_extract({tensors}, '$[0].shape[0]') AS BIGINT)), lambda i: "
        f"list_transform(json_extract({tensors}, '$[*]')[1:1], lambda t: CASE WHEN {width} = 1 "
        f"THEN json_extract(t, '$.data')->(CAST(i AS BIGINT)) "
        f"ELSE to_json(json_extract(t, '$.data[*]')[i * {width} + 1 : (i + 1) * {width}]) END)[1]))"
    )
    return f"CASE WHEN json_array_length({tensors}) = 1 THEN {single} ELSE {_tensor_rows(tensors)} END"


def _columns_to_rows(columns: str) -> str:
    """MLflow's columnar ``inputs`` ({"a": [1, 2], "b": [3, 4]}) -> row objects."""
    return (
        f"to_json(list_transform(range(CAST(json_array_length({columns}, '$.\"' || json_keys({columns})[1] || '\"') AS BIGINT)), lambda i: "
        f"map_from_entries(list_transform(json_keys({columns}), lambda k: struct_pack(k := k, "
        f"v := json_extract({columns}, '$.\"' || replace(k, '\"', '\\\"') || '\"')->(CAST(i AS BIGINT)))))))"
    )


def _named(rows: str, names: str | None = None) -> str:
    """Turn list rows into objects (names from ``names``, a JSON list, else feature_<j>);
    object rows are kept, but SageMaker's ``{"features": [...]}`` record (its documented JSON
    and JSON lines form for built-in algorithms) is the list it holds, as its CSV form is;
    a bare value becomes feature_0."""
    name = f"coalesce(json_extract_string({names}, '$[*]')[j + 1], '{FEATURE_PREFIX}' || j)" if names else \
        f"'{FEATURE_PREFIX}' || j"
    features = "json_extract(r, '$.features')"
    return (
        f"to_json(list_transform(json_extract({rows}, '$[*]'), lambda r: CASE "
        f"WHEN json_type(r) = 'OBJECT' AND json_keys(r) = ['features'] AND json_type({features}) = 'ARRAY' "
        f"THEN {_list_row(features, name)} "
        f"WHEN json_type(r) = 'OBJECT' THEN r "
        f"WHEN json_type(r) = 'ARRAY' THEN {_list_row('r', name)} "
        f"ELSE to_json(map_from_entries([struct_pack(k := '{FEATURE_PREFIX}0', v := r)])) END))"
    )


def _list_row(values: str, name: str) -> str:
    """One row given as a list of values -> an object, value ``j`` named by ``name`` (over ``j``)."""
    return (f"to_json(map_from_entries(list_transform(range(CAST(json_array_length({values}) AS BIGINT)), "
            f"lambda j: struct_pack(k := {name}, v := {values}->(CAST(j AS BIGINT))))))")


def _as_list(json: str) -> str:
    """A list of rows stays; one row (an object, or a list of plain values) becomes a list of one."""
    return (f"CASE WHEN json_type({json}) = 'ARRAY' AND (json_array_length({json}) = 0 "
            f"OR json_type({json}, '$[0]') IN ('ARRAY', 'OBJECT')) THEN {json} ELSE json_array({json}) END")


def input_rows(body: str) -> str:
    """A request body -> JSON array of row objects, or NULL when it has none of the known forms."""
    inputs = f"json_extract({body}, '$.inputs')"
    split = f"json_extract({body}, '$.dataframe_split')"
    ndarray = f"json_extract({body}, '$.data.ndarray')"
    return (
        f"CASE "
        f"WHEN {_has(body, 'data.ndarray')} THEN {_named(_as_list(ndarray), f'json_extract({body}, {chr(39)}$.data.names{chr(39)})')} "
        f"WHEN {_has(body, 'dataframe_split')} THEN {_named(f'json_extract({split}, {chr(39)}$.data{chr(39)})', f'json_extract({split}, {chr(39)}$.columns{chr(39)})')} "
        f"WHEN {_has(body, 'dataframe_records')} THEN {_named(f'json_extract({body}, {chr(39)}$.dataframe_records{chr(39)})')} "
        f"WHEN {_has(body, 'instances')} THEN {_named(_as_list(f'json_extract({body}, {chr(39)}$.instances{chr(39)})'))} "
        f"WHEN {_has(body, 'inputs')} AND {_is_tensor_list(inputs)} THEN {_tensor_rows(inputs)} "
        f"WHEN {_has(body, 'inputs')} AND json_type({inputs}) = 'OBJECT' THEN {_columns_to_rows(inputs)} "
        f"WHEN {_has(body, 'inputs')} THEN {_named(_as_list(inputs))} "
        f"WHEN json_type({body}) IN ('ARRAY', 'OBJECT') THEN {_named(_as_list(body))} "
        f"END"
    )


def output_rows(body: str) -> str:
    """A response body -> JSON array with one output (value, list or object) per row."""
    outputs = f"json_extract({body}, '$.outputs')"
    predictions = f"json_extract({body}, '$.predictions')"
    return (
        f"CASE "
        f"WHEN {_has(body, 'predictions')} THEN CASE WHEN json_type({predictions}) = 'ARRAY' THEN {predictions} "
        f"ELSE json_array({predictions}) END "
        f"WHEN {_has(body, 'data.ndarray')} THEN {one_value_rows(f'json_extract({body}, {chr(39)}$.data.ndarray{chr(39)})')} "
        f"WHEN {_has(body, 'outputs')} AND {_is_tensor_list(outputs)} THEN {_tensor_outputs(outputs)} "
        f"WHEN {_has(body, 'outputs')} THEN {outputs} "
        f"WHEN json_type({body}) = 'ARRAY' THEN {body} "
        f"WHEN {body} IS NOT NULL THEN json_array({body}) "
        f"END"
    )


def one_value_rows(rows: str) -> str:
    """Rows of outputs: a row holding one value becomes that value; longer rows (class scores) stay lists."""
    return (f"to_json(list_transform(json_extract({rows}, '$[*]'), lambda r: "
            f"CASE WHEN json_type(r) = 'ARRAY' AND json_array_length(r) = 1 THEN r->0 ELSE r END))")


def csv_rows(text: str) -> str:
    """A CSV payload (one record per line, no header, as SageMaker's built-in algorithms take it)
    -> JSON array of row objects feature_0, feature_1..."""
    return _named(csv_values(text))


def csv_values(text: str) -> str:
    """A CSV payload -> JSON array of lists of numbers (text where a value is not a number)."""
    return (
        f"to_json(list_transform(list_filter(string_split(replace(trim({text}), chr(13), ''), chr(10)), "
        f"lambda line: trim(line) <> ''), lambda line: list_transform(string_split(line, ','), "
        f"lambda v: coalesce(to_json(TRY_CAST(trim(v) AS DOUBLE)), to_json(trim(v))))))"
    )
