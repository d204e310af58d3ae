"""DuckDB SQL as Spark SQL: the one place where a construct needs a per-engine form.

Every analysis writes its SQL once, in DuckDB's dialect, through :mod:`analysis.query`.
To run it on Spark, the fragment's parameters are inlined as literals (Spark Connect's
positional parameters do not reach inside the views Sleuth creates) and SQLGlot transpiles
the statement. SQLGlot knows most of the two dialects; what it cannot map, or maps to a
function Spark lacks, is rewritten here on the parsed tree, so no analysis carries a branch
per engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark

from analysis.errors import SleuthError
from analysis.query import Sql, inline, literal

BUCKET_ORIGIN = int(dt.datetime(2000, 1, 3, tzinfo=dt.timezone.utc).timestamp())
"""DuckDB's ``time_bucket`` aligns sub-month widths on Monday 2000-01-03 (UTC epoch seconds)."""

SECONDS_OF_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
MONTHS_OF_UNIT = {"month": 1, "year": 12}
TRUNCATION_OF_MONTHS = {1: "MONTH", 3: "QUARTER", 12: "YEAR"}
"""Month-based widths DuckDB aligns on 2000-01-01, which is what Spark's truncations give."""


UNBOUNDED_HISTOGRAM = "no Spark form for a histogram of values not listed in its filter"

LIST_VALUED = (exp.ArrayDistinct, exp.ArrayAgg, exp.Array)


class SparkSql(Spark):
    """SQLGlot's Spark dialect, writing what Spark's parser takes where SQLGlot's does not:
    a sample's seed is ``TABLESAMPLE (p PERCENT) REPEATABLE (seed)`` (SQLGlot writes ``SEED``,
    which Spark refuses). Sleuth's own passes sample by row-id hash instead
    (:mod:`analysis.engine.row_sample`), so both engines keep the same rows."""

    class Generator(Spark.Generator):
        TABLESAMPLE_SEED_KEYWORD = "REPEATABLE"


def to_spark(sql: Sql | str, scalars: Callable[[list[str]], list] | None = None) -> str:
    """The Spark SQL text of one DuckDB statement, parameters inlined.

    Spark refuses a scalar subquery inside an aggregate (it counts as non-deterministic there),
    so with ``scalars`` (which runs Spark queries together and returns the one value of each)
    each such uncorrelated subquery is evaluated first and its value inlined as a literal.
    """
    text = inline(sql) if isinstance(sql, Sql) else sql
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise SleuthError(f"this query has no Spark form yet ({str(exc).splitlines()[0]})") from None
    if scalars is not None:
        _inline_aggregated_subqueries(tree, scalars)
    if isinstance(tree, exp.Create) and tree.expression is not None:
        return _cached_view(tree)
    if isinstance(tree, exp.Drop):
        return f"DROP VIEW IF EXISTS {tree.find(exp.Table).sql(dialect='spark')}"
    if isinstance(tree, exp.Select) and tree.args.get("group") and tree.args.get("order") and tree.find(exp.Window):
        tree = _sorted_outside(tree)
    return tree.transform(_spark_form).sql(dialect=SparkSql)


DIGEST_BITS = 128
"""An MD5 digest's size: its 32 hex digits compare as text in the order of the numbers they write."""


def md5_share_condition(key: str, salt: str, every: int) -> str:
    """About one id in ``every`` (``key``, an SQL expression), chosen by the MD5 of its text and
    ``salt`` lying below ``2^128 / every``, compared as lowercase hex text of equal length:
    the form of a check's share on Spark (:func:`analysis.triage.share.share_condition`), whose
    ``hash`` differs from DuckDB's. Written in DuckDB's SQL, which both engines run as written
    (SQLGlot gives Spark the same ``MD5``, cast and concatenation) and evaluate alike for ids
    that are text or integers, so a DuckDB store reads the very rows Spark's share holds
    (``tests/spark/test_spark_share.py``). DuckDB's own checks keep its ``hash``: MD5 there cost
    about 20 CPU-s more per 100M rows (of 115-130). A missing id is hashed as empty text."""
    bound = f"{-(-2 ** DIGEST_BITS // every):032x}"
    return f"md5(coalesce(CAST({key} AS VARCHAR), '') || {literal(salt)}) < {literal(bound)}"


def _sorted_outside(select: exp.Select) -> exp.Select:
    """A grouped SELECT with a window function, sorted and limited: Spark cannot sort such a
    query by an aggregate, so the sort keys become columns of it and the sort happens outside."""
    inner = select.copy()
    order, limit = inner.args["order"], inner.args.get("limit")
    inner.set("order", None)
    inner.set("limit", None)
    shown = [f"_sleuth_c{i}" for i in range(len(inner.expressions))]
    keys = [f"_sleuth_o{i}" for i in range(len(order.expressions))]
    inner.set("expressions", [exp.alias_(e.unalias().copy() if isinstance(e, exp.Alias) else e.copy(), n)
                              for e, n in zip(inner.expressions, shown)]
              + [exp.alias_(o.this.copy(), n) for o, n in zip(order.expressions, keys)])
    outer = exp.select(*[exp.alias_(exp.column(n), _output_name(e, n), quoted=True)
                         for e, n in zip(select.expressions, shown)])
    outer = outer.from_(inner.subquery("_sleuth_sorted"))
    outer = outer.order_by(*[exp.Ordered(this=exp.column(n), desc=o.args.get("desc"),
                                         nulls_first=o.args.get("nulls_first")) for o, n in zip(order.expressions, keys)])
    if limit is not None:
        outer.set("limit", limit.copy())
    return outer


def _output_name(projection: exp.Expression, fallback: str) -> str:
    return projection.alias_or_name or fallback


def _inline_aggregated_subqueries(tree: exp.Expression, scalars: Callable[[list[str]], list]) -> None:
    """Each subquery inside an aggregate replaced by its value: the distinct ones asked for in
    one call (the labels' coverage counts repeat the newest arrival's subquery once per age)."""
    inside = [subquery for subquery in tree.find_all(exp.Subquery)
              if subquery.find_ancestor(exp.Filter, exp.AggFunc) is not None]
    texts = [subquery.this.transform(_spark_form).sql(dialect=SparkSql) for subquery in inside]
    if not texts:
        return
    distinct = list(dict.fromkeys(texts))
    value_of = dict(zip(distinct, scalars(distinct)))
    for subquery, text in zip(inside, texts):
        subquery.replace(sqlglot.parse_one(literal(value_of[text]), read="duckdb"))


def _cached_view(create: exp.Create) -> str:
    """``CREATE [TEMP] TABLE t AS SELECT``: Sleuth's scratch tables are session-scoped, so on
    Spark they are cached temporary views (never a table written into the user's catalog),
    cached lazily: the first statement that reads one fills the cache as it runs, where an eager
    cache ran a job of its own to fill it and the first reader then scanned it again."""
    body = create.expression.transform(_spark_form).sql(dialect=SparkSql)
    name = create.this.sql(dialect=SparkSql)
    if create.kind == "VIEW":
        return f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {body}"
    return f"CACHE LAZY TABLE {name} AS {body}"


def _spark_form(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        # DuckDB's [NOT] MATERIALIZED hint (it keeps DuckDB from buffering a CTE read twice) has
        # no Spark form: Spark plans the CTE itself
        node.set("materialized", None)
        return node
    if isinstance(node, exp.Grouping) and len(node.expressions) > 1:
        # DuckDB's GROUPING(a, b, ...) is the bitmask of the set's ungrouped columns; Spark's
        # GROUPING takes one column and names the bitmask GROUPING_ID (same bit order)
        return exp.Anonymous(this="GROUPING_ID", expressions=node.expressions)
    if isinstance(node, exp.DateBin):
        return _time_bucket(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        return _utc_timestamp(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite":
        value = _spark_text(node.expressions[0])
        return sqlglot.parse_one(f"(NOT ISNAN({value}) AND ABS({value}) <> CAST('Infinity' AS DOUBLE))", read=SparkSql)
    if isinstance(node, exp.ApproxTopK):
        return _top_values(node)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.Anonymous) and node.this.name.lower() == "histogram":
        return _counts_of_listed_values(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "histogram":
        raise SleuthError(UNBOUNDED_HISTOGRAM)
    if isinstance(node, exp.Length) and isinstance(node.this, exp.ArrayDistinct) and isinstance(node.this.this, exp.ArrayAgg):
        # DuckDB counts distinct values fastest as len(list_distinct(list(x))); Spark as COUNT(DISTINCT x)
        return exp.Count(this=exp.Distinct(expressions=[node.this.this.this]))
    if isinstance(node, exp.Length) and isinstance(node.this, LIST_VALUED):
        return exp.ArraySize(this=node.this)  # DuckDB's len() of a list; Spark's length() is text's
    if isinstance(node, (exp.PercentileCont, exp.PercentileDisc)):
        return _quantiles(node)
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Count) and isinstance(node.this.this, exp.Distinct):
        return _distinct_count_over(node)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        return _list_slice(node)
    if _ordered_list(node) is not None and not isinstance(node.parent, exp.Filter):
        return _sorted_list(node)
    if isinstance(node, exp.TimeToUnix):
        return sqlglot.parse_one(f"(UNIX_MICROS({_spark_text(node.this)}) / 1e6)", read=SparkSql)
    return node


def _spark_text(node: exp.Expression) -> str:
    """A rewritten construct's argument in Spark's SQL, itself rewritten first (an isfinite()
    inside a log loss inside the discovery's isfinite() filter)."""
    return node.transform(_spark_form).sql(dialect=SparkSql)


def _utc_timestamp(node: exp.Anonymous) -> exp.Expression:
    """``timezone('UTC', x)`` (DuckDB: the instant as naive UTC time). The Spark session runs in
    UTC (see :mod:`analysis.engine.spark_store`), so a Spark TIMESTAMP already is that time."""
    zone, value = node.expressions
    if not (isinstance(zone, exp.Literal) and zone.this.upper() == "UTC"):
        raise SleuthError(f"no Spark form for the time zone {zone.sql()}")
    inner = value.this if isinstance(value, exp.Cast) else value
    return exp.Cast(this=inner, to=exp.DataType.build("TIMESTAMP"))


def _time_bucket(node: exp.DateBin) -> exp.Expression:
    """``time_bucket(INTERVAL w, ts)`` with DuckDB's alignment, in functions Spark has."""
    count, unit = _interval(node.this)
    ts = node.expression.transform(_spark_form).sql(dialect=SparkSql)
    if unit in SECONDS_OF_UNIT:
        width = count * SECONDS_OF_UNIT[unit]
        text = (f"TIMESTAMP_SECONDS(FLOOR((UNIX_SECONDS({ts}) - {BUCKET_ORIGIN}) / {width}) * {width} "
                f"+ {BUCKET_ORIGIN})")
    else:
        months = count * MONTHS_OF_UNIT[unit]
        if months not in TRUNCATION_OF_MONTHS:
            raise SleuthError(f"no Spark form for a time bucket of {months} months")
        text = f"DATE_TRUNC('{TRUNCATION_OF_MONTHS[months]}', {ts})"
    return sqlglot.parse_one(text, read=SparkSql)


def _interval(node: exp.Expression) -> tuple[int, str]:
    """(count, unit) of ``CAST('6 hours' AS INTERVAL)`` or ``INTERVAL '6' HOUR``."""
    if isinstance(node, exp.Cast):
        node = node.this
    if isinstance(node, exp.Interval):
        text = f"{node.this.name} {node.unit.name if node.unit else ''}"
    else:
        text = node.name
    number, _, unit = text.strip().partition(" ")
    unit = unit.strip().lower().rstrip("s")
    if unit not in SECONDS_OF_UNIT and unit not in MONTHS_OF_UNIT:
        raise SleuthError(f"no Spark form for a time bucket of {text!r}")
    return int(number), unit


def _top_values(node: exp.ApproxTopK) -> exp.Expression:
    """``approx_top_k(x, k)``, DuckDB's list of the k most frequent values: Spark's returns
    (item, count) pairs and counts null as a value, so its form keeps the non-null items."""
    value = _spark_text(node.this)
    k = node.expression.sql(dialect=SparkSql)
    return sqlglot.parse_one(f"TRANSFORM(APPROX_TOP_K({value}, {k}) FILTER (WHERE {value} IS NOT NULL), "
                             f"e -> e.item)", read=SparkSql)


def _counts_of_listed_values(node: exp.Filter) -> exp.Expression:
    """``histogram(x) FILTER (WHERE x IN (a, b, ...))``, DuckDB's map of each listed value
    present to its count: Spark has no value-count aggregate, so its form counts each listed
    value (a handful of sums, in bounded memory) and keeps those present. A histogram of
    unlisted values has no bounded Spark form and is refused in one sentence."""
    value, condition = node.this.expressions[0], node.expression.this
    if not (isinstance(condition, exp.In) and condition.this == value and condition.expressions):
        raise SleuthError(UNBOUNDED_HISTOGRAM)
    text = _spark_text(value)
    pairs = []
    for listed in condition.expressions:
        key = _spark_text(listed)
        pairs.append(f"{key}, COUNT_IF({text} = {key})")
    return sqlglot.parse_one(f"MAP_FILTER(MAP({', '.join(pairs)}), (k, n) -> n > 0)", read=SparkSql)


def _distinct_count_over(window: exp.Window) -> exp.Expression:
    """``count(DISTINCT x) OVER (...)``: Spark has no distinct window aggregate, so its form is
    the size of the window's set of values (which, like the count, leaves nulls out)."""
    values = window.this.this.expressions
    if len(values) != 1:
        raise SleuthError("no Spark form for a distinct count of several columns over a window")
    collected = window.copy()
    collected.set("this", exp.Anonymous(this="COLLECT_SET", expressions=[values[0].copy()]))
    return exp.ArraySize(this=collected.transform(_spark_form))


def _list_slice(bracket: exp.Bracket) -> exp.Expression:
    """DuckDB's ``list[a:b]`` (1-based, both ends included) as Spark's ``SLICE(list, a, length)``."""
    bounds = bracket.expressions[0]
    if not (isinstance(bounds.this, exp.Literal) and isinstance(bounds.expression, exp.Literal)):
        raise SleuthError("no Spark form for a list slice whose bounds are not numbers")
    start, stop = int(bounds.this.name), int(bounds.expression.name)
    return exp.Anonymous(this="SLICE", expressions=[_spark_list(bracket.this), exp.Literal.number(start),
                                                    exp.Literal.number(max(stop - start + 1, 0))])


def _spark_list(node: exp.Expression) -> exp.Expression:
    """A list-valued argument rewritten, an ordered ``list()`` (perhaps filtered) sorted."""
    return _sorted_list(node) if _ordered_list(node) is not None else node.transform(_spark_form)


def _ordered_list(node: exp.Expression) -> exp.Ordered | None:
    """The sort key of ``list(x ORDER BY x)``, perhaps under ``FILTER (WHERE ...)``; None for
    anything else."""
    aggregate = node.this if isinstance(node, exp.Filter) else node
    if not (isinstance(aggregate, exp.ArrayAgg) and isinstance(aggregate.this, exp.Order)):
        return None
    return aggregate.this.expressions[0] if len(aggregate.this.expressions) == 1 else None


def _sorted_list(node: exp.Expression) -> exp.Expression:
    """``list(x ORDER BY x)``: Spark's ``collect_list`` keeps no order, so its form is the list
    sorted after collecting (both leave nulls out here: Spark's list has none to place). A list
    ordered by another key has no such form and is refused in one sentence."""
    key = _ordered_list(node)
    aggregate = node.this if isinstance(node, exp.Filter) else node
    value = aggregate.this.this
    if key.this != value:
        raise SleuthError(f"no Spark form for a list ordered by another column ({key.this.sql()})")
    collected = node.copy()
    inner = collected.this if isinstance(collected, exp.Filter) else collected
    inner.set("this", value.copy())
    return exp.Anonymous(this="SORT_ARRAY", expressions=[collected.transform(_spark_form),
                                                         exp.Boolean(this=not key.args.get("desc"))])


def _quantiles(node: exp.PercentileCont | exp.PercentileDisc) -> exp.Expression:
    """DuckDB's ``quantile_cont(x, q)`` / ``quantile_disc(x, q)``, ``q`` one fraction or a list.

    Spark's ``percentile`` interpolates as ``quantile_cont`` does and takes a list; its
    discrete one is the ordered-set ``percentile_disc(q) WITHIN GROUP``, one fraction at a time.
    """
    value = node.this.transform(_spark_form)
    fractions = node.expression
    listed = isinstance(fractions, exp.Array)
    each = fractions.expressions if listed else [fractions]
    if isinstance(node, exp.PercentileCont):
        return exp.Anonymous(this="PERCENTILE", expressions=[value, fractions.copy()])
    # built as nodes: SQLGlot would write a parsed PERCENTILE_DISC as Spark's approximate one
    parts = [exp.WithinGroup(this=exp.Anonymous(this="PERCENTILE_DISC", expressions=[q.copy()]),
                             expression=exp.Order(expressions=[exp.Ordered(this=value.copy())])) for q in each]
    return exp.Array(expressions=parts) if listed else parts[0]
