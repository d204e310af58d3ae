"""Slice discovery as engine passes (what runs on Spark) finds the in-memory search's slices.

:func:`analysis.discovery.sliceline.find_slices_on_engine` keeps codes and errors in a scratch
table and reads only GROUP BY results; run on a DuckDB store it must give exactly what the
in-memory search gives on the same rows, for 0/1 errors (Fisher's test) and for continuous
ones (Welch's test from moments). ``tests/spark`` runs the same pass on Spark.
"""

import dataclasses

import pytest

from analysis.data.open_log import load_log
from analysis.discovery.failing_slices import row_error_sql
from analysis.discovery.sliceline import searched_slices
from analysis.store import Store
from tests.statements import recorded_statements


@pytest.fixture(scope="module")
def demo(demo_files):
    store = Store(memory_limit="2GB")
    yield store, load_log(store, [str(demo_files.log)], check=False)
    store.close()


def assert_same_slices(on_engine, in_memory):
    assert len(on_engine) == len(in_memory) > 0
    for engine_slice, memory_slice in zip(on_engine, in_memory):
        for field in dataclasses.fields(memory_slice):
            mine, theirs = getattr(engine_slice, field.name), getattr(memory_slice, field.name)
            assert mine == (pytest.approx(theirs, rel=1e-9, abs=1e-300) if isinstance(theirs, float) else theirs), \
                field.name


@pytest.mark.parametrize("error", ["misclass", "logloss"])
def test_engine_passes_find_the_in_memory_searchs_slices(demo, error, monkeypatch):
    store, loaded = demo
    columns = [loaded.dataset.column(name) for name in loaded.roles.features]
    error_sql = row_error_sql(loaded.dataset, loaded.roles, error)
    in_memory = searched_slices(store, loaded.dataset.view, columns, error_sql, k=20).slices

    monkeypatch.setattr(store, "engine", "remote")  # what a SparkStore says: its rows stay where they are
    pulled = recorded_statements(store, monkeypatch, methods=("rows",))
    monkeypatch.setattr(store, "numpy", lambda *a, **k: pytest.fail("the engine pass read rows into numpy"))
    # a misclassification is 0 or 1, which the engine's scratch table keeps as TINYINT
    on_engine = searched_slices(store, loaded.dataset.view, columns, error_sql, k=20,
                                zero_one_error=error == "misclass").slices

    assert_same_slices(on_engine, in_memory)
    assert max(pulled.returned) < loaded.dataset.row_count / 20  # aggregates, not rows
    # the reported slices' tests read their moments in one statement, not one per slice (each a
    # Spark request with its fixed cost)
    assert sum("var_samp" in statement for statement in pulled) == 1
    assert not store.rows("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'sleuth_slice_codes%'")
