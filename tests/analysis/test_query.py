"""The query layer's inlining writes values as inert literals, never as SQL."""

import datetime as dt

import pytest

from analysis.query import Sql, inline
from analysis.slices import to_sql
from analysis.slicing.parser import parse_slice


def test_inline_gives_the_same_rows_as_parameters(store):
    store.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a?''b', 1, DATE '2026-10-01'), ('x', 2, NULL)) "
                  "AS v(\"wh?y\", n, d)")
    text = "\"wh?y\" = 'a?''b' OR n IN (2, 3) OR d >= '2026-09-30'"
    fragment = to_sql(parse_slice(text, {"wh?y": "VARCHAR", "n": "INTEGER", "d": "DATE"}))
    with_params = store.rows(Sql(f"SELECT n FROM t WHERE {fragment.text} ORDER BY n", fragment.params))
    inlined = inline(fragment)
    assert "?" not in inlined.replace('"wh?y"', "").replace("'a?''b'", "")
    assert store.rows(f"SELECT n FROM t WHERE {inlined} ORDER BY n") == with_params == [(1,), (2,)]


def test_inline_keeps_hostile_text_inert(store):
    store.execute("CREATE TABLE u AS SELECT 'x' AS s")
    hostile = "x'; DROP TABLE u; --"
    assert store.rows(f"SELECT COUNT(*) FROM u WHERE {inline(Sql('s = ?', (hostile,)))}") == [(0,)]
    assert store.rows("SELECT COUNT(*) FROM u") == [(1,)]
    assert inline(Sql("? < ?", (dt.datetime(2026, 1, 2, 3, 4), 1.5))) == "TIMESTAMP '2026-01-02 03:04:00' < 1.5"


@pytest.mark.parametrize("fragment", [Sql("a = ? AND b = ?", (1,)), Sql("a = ?", (1, 2))])
def test_inline_refuses_a_count_mismatch(fragment):
    with pytest.raises(ValueError, match="placeholders"):
        inline(fragment)


def test_an_aware_timestamp_literal_means_the_instant_a_parameter_means(store):
    store.execute("CREATE TABLE z AS SELECT * FROM (VALUES (TIMESTAMPTZ '2026-10-14 00:30:00+00'), "
                  "(TIMESTAMPTZ '2026-10-13 23:30:00+00')) AS v(ts)")
    at = dt.datetime(2026, 10, 14, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    fragment = Sql("ts >= ?", (at,))
    assert store.rows(f"SELECT COUNT(*) FROM z WHERE {inline(fragment)}") == store.rows(
        Sql(f"SELECT COUNT(*) FROM z WHERE {fragment.text}", fragment.params)) == [(1,)]
