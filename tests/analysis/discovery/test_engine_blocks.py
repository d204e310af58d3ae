"""Discovery on an engine counts blocks of features, not one grouping set per combination.

A GROUP BY GROUPING SETS expands each row once per set, so the rows the engine hashes for a
level are the table's rows times the sets it is asked for. Gathering a level's combinations
into blocks (each block's table counted once, its combinations summed from it here) must ask
for far fewer sets than combinations, every combination inside exactly the block it is summed
from, and still give the in-memory search's slices (``test_sliceline_on_engine.py``).
"""

import itertools
import re

import numpy as np

from analysis.data.open_log import load_log
from analysis.discovery.failing_slices import row_error_sql
from analysis.discovery import sliceline
from analysis.discovery.sliceline import _engine_blocks, searched_slices
from analysis.store import Store
from tests.statements import recorded_statements


def test_blocks_hold_every_combination_within_their_cells():
    cards = np.full(20, 6)
    pairs = list(itertools.combinations(range(20), 2))
    blocks = _engine_blocks(pairs, cards, 6**5)

    assert sorted(c for _, inside in blocks for c in inside) == sorted(pairs)
    for block, inside in blocks:
        assert np.prod(cards[block]) <= 6**5
        assert all(set(c) <= set(block) for c in inside)
    assert len(blocks) < len(pairs) / 5  # five-feature blocks hold ten pairs each


def test_a_combination_larger_than_the_budget_is_its_own_block():
    cards = np.array([50, 50, 3, 3])
    blocks = _engine_blocks([(0, 1), (2, 3)], cards, 100)
    assert [block for block, _ in blocks] == [[0, 1], [2, 3]]


def test_engine_statements_ask_for_fewer_sets_than_combinations(demo_files, monkeypatch):
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    columns = [loaded.dataset.column(name) for name in loaded.roles.features]
    error_sql = row_error_sql(loaded.dataset, loaded.roles, "misclass")
    counted: list[int] = []
    original_count = sliceline._EngineSearch._count_cells
    monkeypatch.setattr(sliceline._EngineSearch, "_count_cells",
                        lambda self, combinations: counted.append(len(combinations)) or original_count(self, combinations))
    monkeypatch.setattr(store, "engine", "remote")
    statements = recorded_statements(store, monkeypatch, methods=("rows",))
    found = searched_slices(store, loaded.dataset.view, columns, error_sql, k=20).slices
    store.close()
    sets = [len(re.findall(r"\((?:\"c\d+\"(?:, )?)+\)", text.split("GROUPING SETS", 1)[1]))
            for text in statements if "GROUPING SETS" in text]

    assert found and sum(counted) > 0
    assert sum(sets) < sum(counted) + len(columns)  # singles and combinations: fewer sets than either
    assert sum(sets) * 2 < sum(counted)


def test_a_small_tables_combinations_share_statements_and_bring_back_their_supported_cells(window_demo_files,
                                                                                          monkeypatch):
    """On 20,000 rows most level-3 combinations' cells alone filled a statement's one result row
    per 32 rows of the table (40 statements for 86 combinations); only their cells of
    ``min_support`` rows need come back (the walk evaluates no other), so several share one, each
    result still under that bound, and the slices are the in-memory search's."""
    from tests.analysis.discovery.test_sliceline_on_engine import assert_same_slices

    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(window_demo_files.log)], check=False)
    columns = [loaded.dataset.column(name) for name in loaded.roles.features]
    error_sql = row_error_sql(loaded.dataset, loaded.roles, "misclass")
    in_memory = searched_slices(store, loaded.dataset.view, columns, error_sql, k=20).slices
    levels: list[tuple[list[tuple[int, ...]], list[tuple[str, int]]]] = []  # each level's combinations, statements
    original_count = sliceline._EngineSearch._count_cells

    def count_cells(self, combinations):
        first = len(statements)
        cells = original_count(self, combinations)
        levels.append((combinations, list(zip(statements[first:], statements.returned[first:]))))
        return cells

    monkeypatch.setattr(sliceline._EngineSearch, "_count_cells", count_cells)
    monkeypatch.setattr(store, "engine", "remote")
    statements = recorded_statements(store, monkeypatch, methods=("rows",))
    on_engine = searched_slices(store, loaded.dataset.view, columns, error_sql, k=20, zero_one_error=True).slices
    store.close()
    level_3, sent = levels[-1]

    assert_same_slices(on_engine, in_memory)
    assert len(level_3) > 20 and all(len(combination) == 3 for combination in level_3)
    assert len(sent) * 3 < len(level_3)  # before: 40 statements for its 86 combinations
    assert sum("HAVING count(*) >= " in text for text, _ in sent) * 2 > len(sent)
    counts = [returned for text, returned in zip(statements, statements.returned) if "GROUPING SETS" in text]
    assert max(counts) <= loaded.dataset.row_count // sliceline.ROWS_PER_RESULT_CELL
