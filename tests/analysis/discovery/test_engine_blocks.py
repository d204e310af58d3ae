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
