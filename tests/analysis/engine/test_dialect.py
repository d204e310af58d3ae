"""DuckDB SQL turned into Spark SQL stays safe: values stay values, names stay names.

The Spark form of each construct is checked for its numbers against DuckDB in tests/spark;
these checks need no Spark, so they also run in CI's headless pass.
"""

import sqlglot
from sqlglot import exp

from analysis.engine.dialect import to_spark
from analysis.query import Sql, ident, inline


def test_a_parameter_stays_one_literal_whatever_it_holds():
    text = "x' OR 1=1 -- \\' \"; DROP TABLE t"
    spark = to_spark(Sql(f"SELECT count(*) FROM {ident('log')} WHERE {ident('region')} = ?", (text,)))
    where = sqlglot.parse_one(spark, read="spark").find(exp.Where)
    literals = list(where.find_all(exp.Literal))
    assert [lit.this for lit in literals] == [text]  # Spark reads the escapes back to the same text


def test_a_strange_column_name_stays_one_identifier():
    name = 'a`b "c" d'
    spark = to_spark(Sql(f"SELECT {ident(name)} FROM {ident('log')}"))
    column = sqlglot.parse_one(spark, read="spark").find(exp.Column)
    assert column.name == name


def test_scratch_tables_become_cached_views_and_are_dropped_as_views():
    assert to_spark('CREATE TABLE "s_1" AS SELECT * FROM "log" LIMIT 5').startswith("CACHE LAZY TABLE `s_1` AS SELECT")
    assert to_spark('DROP TABLE IF EXISTS "s_1"') == "DROP VIEW IF EXISTS `s_1`"


def test_an_aggregated_subquery_is_evaluated_first():
    asked = []

    def scalars(queries):
        asked.append(queries)
        return [41]

    spark = to_spark("SELECT count(*) FILTER (WHERE x <= (SELECT max(x) FROM t) - 1) FROM t", scalars)
    assert asked == [["SELECT MAX(x) FROM t"]]
    assert "SELECT" not in spark.split("FROM t")[0].replace("SELECT COUNT", "")
    assert "41 - 1" in spark


def test_aggregated_subqueries_are_evaluated_together_and_each_once():
    """The labels' coverage counts repeat one subquery per age: one call asks for each distinct
    subquery once, and every copy gets its own subquery's value."""
    asked = []
    value_of = {"SELECT MAX(x) FROM t": 41, "SELECT MIN(y) FROM t": 7}

    def scalars(queries):
        asked.append(queries)
        return [value_of[query] for query in queries]

    spark = to_spark("SELECT count(*) FILTER (WHERE x <= (SELECT max(x) FROM t) - 1), "
                     "count(*) FILTER (WHERE x <= (SELECT max(x) FROM t) - 2), "
                     "count(*) FILTER (WHERE y >= (SELECT min(y) FROM t)) FROM t", scalars)
    assert len(asked) == 1 and sorted(asked[0]) == sorted(value_of)
    assert "41 - 1" in spark and "41 - 2" in spark and ">= 7" in spark
    assert "MAX(" not in spark and "MIN(" not in spark


def test_duckdbs_materialization_hint_has_no_spark_form():
    """ROC AUC's query marks its CTEs NOT MATERIALIZED for DuckDB; Spark's parser refuses the words."""
    spark = to_spark("WITH a AS NOT MATERIALIZED (SELECT 1 AS x), b AS MATERIALIZED (SELECT x FROM a) SELECT * FROM b")
    assert "MATERIALIZED" not in spark
    assert sqlglot.parse_one(spark, read="spark").find(exp.CTE) is not None


def test_a_list_parameter_becomes_an_array_not_a_string(store):
    """ROC AUC passes the bins to rank exactly as one list parameter of list_contains: inlined
    for Spark it must stay a list (DuckDB's answer with the inlined list equals the parameter's)."""
    spark = to_spark(Sql("SELECT * FROM t WHERE list_contains(?, c)", ([760, 1147],)))
    array = sqlglot.parse_one(spark, read="spark").find(exp.Array)
    assert array is not None and [int(e.this) for e in array.expressions] == [760, 1147]
    query = Sql("SELECT list_contains(?, 3), list_contains(?, 4)", ([1, 3], (1, 3)))
    assert store.rows(Sql(inline(query))) == store.rows(query) == [(True, False)]


def test_a_seeded_sample_is_written_as_spark_parses_it():
    """The binning's quantiles sample a table above 200,000 rows with a seed: Spark's parser
    takes REPEATABLE (seed), not SQLGlot's SEED (seed) (the 1M-row benchmark found it)."""
    spark = to_spark("SELECT quantile_cont(x, [0.2, 0.4]) FROM (SELECT x FROM t) USING SAMPLE 20.000000% (system, 7)")
    assert spark.endswith("TABLESAMPLE (20.000000 PERCENT) REPEATABLE (7)")
    assert " SEED " not in spark


def test_a_grouping_bitmask_of_several_columns_is_spark_grouping_id(store):
    """Discovery's cells tell their grouping set by DuckDB's GROUPING(a, b, c); Spark's GROUPING
    takes one column and calls the bitmask GROUPING_ID (same bit order: the last column lowest)."""
    query = ("SELECT GROUPING(a, b, c) AS g, count(*) AS n FROM (SELECT 1 AS a, 2 AS b, 3 AS c) AS t "
             "GROUP BY GROUPING SETS ((a, b), (a, c)) ORDER BY g")
    spark = to_spark(query)
    assert "GROUPING_ID(a, b, c)" in spark and "GROUPING(" not in spark
    assert store.rows(query) == [(1, 1), (2, 1)]  # (a, b) leaves c ungrouped: bit 0
    assert to_spark("SELECT GROUPING(a) FROM t GROUP BY ROLLUP (a)").startswith("SELECT GROUPING(a)")


def test_a_rewritten_construct_inside_another_is_rewritten_too():
    """Discovery keeps rows whose log loss is finite, and the log loss guards its own terms with
    isfinite: both must become Spark's form (Spark has no ISFINITE)."""
    spark = to_spark("SELECT count(*) FROM t WHERE isfinite(CASE WHEN isfinite(s) THEN -ln(s) END)")
    assert "ISFINITE" not in spark.upper()
    assert spark.upper().count("ISNAN(") == 3  # the outer form names its argument (holding the inner) twice


def test_a_construct_without_a_bounded_spark_form_is_refused_in_one_sentence():
    """A histogram of every value, or a list ordered by another column, has no Spark form that
    keeps DuckDB's answer in bounded memory: each is one sentence, not a wrong number."""
    import pytest

    from analysis.errors import SleuthError

    for text, words in (("SELECT histogram(x) FROM t", "histogram of values not listed"),
                        ("SELECT list(x ORDER BY y) FROM t", "list ordered by another column")):
        with pytest.raises(SleuthError, match=words) as caught:
            to_spark(text)
        assert "\n" not in str(caught.value)


def test_a_histogram_of_listed_values_counts_only_those_values():
    spark = to_spark(Sql("SELECT histogram(x) FILTER (WHERE x IN (?, ?)) FROM t", (1.5, 2.0)))
    counted = sqlglot.parse_one(spark, read="spark")
    assert [str(node.this.sql("spark")) for node in counted.find_all(exp.CountIf)] == ["x = 1.5", "x = 2.0"]
    assert "histogram" not in spark.lower()
