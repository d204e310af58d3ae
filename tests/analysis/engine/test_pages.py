"""Keyset pages equal the numbered window's pages (:mod:`analysis.window`) on the same DuckDB rows.

The keyset functions write their SQL once; ``tests/spark`` runs them on Spark against these
same DuckDB pages. Here the table has everything that makes keyset paging go wrong: ties
(broken by the row id), nulls (last, in either direction), NaN, text keys and slices.
"""

import numpy as np
import pandas as pd
import pytest

import analysis.engine.pages as pages
from analysis.data.loading import open_dataset
from analysis.engine.pages import open_keyset_table, page_after, page_at, page_before
from analysis.query import Sql
from analysis.window import TableSpec, fetch_window, prepare_table, release_table
from tests.statements import recorded_statements

N_ROWS = 6_000
PAGE = 250
COLUMNS = ("request_id", "score", "version", "ts")


@pytest.fixture(scope="module")
def log_path(tmp_path_factory) -> str:
    rng = np.random.default_rng(11)
    score = rng.integers(0, 40, N_ROWS).astype(float)  # many ties
    score[rng.random(N_ROWS) < 0.05] = np.nan
    version = rng.choice(np.array(["v1", "v2", "v3"], dtype=object), N_ROWS)
    version[rng.random(N_ROWS) < 0.03] = None
    frame = pd.DataFrame({
        "request_id": np.arange(N_ROWS, dtype=np.int64) * 7 + 1,
        "score": score,
        "version": version,
        "ts": pd.Timestamp("2026-10-01") + pd.to_timedelta(rng.integers(0, 500, N_ROWS), unit="h"),
    })
    frame.loc[rng.random(N_ROWS) < 0.01, "score"] = None  # NULL besides NaN: pandas writes NaN as null
    path = tmp_path_factory.mktemp("pages") / "log.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


@pytest.fixture
def dataset(store, log_path):
    return open_dataset(store, [log_path])


SPECS = [
    ((("score", True),), None),
    ((("score", False), ("version", True)), None),
    ((("version", False), ("ts", True)), Sql("score > ?", (10.0,))),
    ((("ts", True),), Sql("version = ?", ("v2",))),
]


def _numbered_pages(store, spec, starts):
    window = prepare_table(store, spec)
    try:
        return window.row_count, {start: fetch_window(store, window, start, start + PAGE) for start in starts}
    finally:
        release_table(store, window)


@pytest.mark.parametrize("sort, condition", SPECS)
def test_paging_forward_and_back_gives_the_numbered_windows_pages(store, dataset, sort, condition):
    spec = TableSpec(dataset.view, COLUMNS, condition, sort)
    table = open_keyset_table(store, dataset, spec)
    starts = range(0, table.row_count, PAGE)
    count, expected = _numbered_pages(store, spec, starts)
    assert table.row_count == count

    forward, page = [], page_after(store, table, None, 0, PAGE)
    while len(page.page):
        forward.append(page)
        page = page_after(store, table, page.last, page.page.stop, PAGE)
    assert [p.page for p in forward] == [expected[start] for start in starts]

    backward, page = [], forward[-1]
    while page.page.start > 0:
        page = page_before(store, table, page.first, page.page.start, PAGE)
        backward.append(page)
    assert [p.page for p in backward] == [expected[start] for start in reversed(starts[:-1])]


@pytest.mark.parametrize("sort, condition", SPECS)
def test_jumping_to_a_row_gives_the_numbered_windows_page(store, dataset, sort, condition, monkeypatch):
    """Small limits, so that finding a far row takes several rounds of selection."""
    monkeypatch.setattr(pages, "READ_AHEAD_ROWS", 40)
    monkeypatch.setattr(pages, "PIVOT_SAMPLE_ROWS", 200)
    spec = TableSpec(dataset.view, COLUMNS, condition, sort)
    table = open_keyset_table(store, dataset, spec)
    starts = sorted({0, 39, 41, table.row_count // 3, table.row_count - PAGE // 2, table.row_count,
                     *np.random.default_rng(5).integers(0, table.row_count, 6).tolist()})
    _, expected = _numbered_pages(store, spec, {*starts, *(start + PAGE for start in starts),
                                                *(max(0, start - PAGE) for start in starts)})
    for start in starts:
        jumped = page_at(store, table, start, PAGE)
        assert jumped.page == expected[start] if start < table.row_count else not len(jumped.page), start
        if len(jumped.page):  # and paging on from there, either way, continues the same order
            after = page_after(store, table, jumped.last, jumped.page.stop, PAGE).page
            assert after == expected[start + PAGE] if start + PAGE < table.row_count else not len(after)
            if start:
                before, above = page_before(store, table, jumped.first, start, PAGE).page, max(0, start - PAGE)
                assert before.start == above
                assert (before.row_ids, before.text) == (expected[above].row_ids[:start - above],
                                                         expected[above].text[:start - above])


def test_no_statement_uses_offset_or_numbers_the_rows(store, dataset, monkeypatch):
    """What makes keyset pages scale on a cluster: no OFFSET, no row_number() over the table,
    and a jump to the middle reads at most READ_AHEAD_ROWS rows past its target."""
    monkeypatch.setattr(pages, "READ_AHEAD_ROWS", 40)
    monkeypatch.setattr(pages, "PIVOT_SAMPLE_ROWS", 200)
    statements = recorded_statements(store, monkeypatch, methods=("rows",))
    table = open_keyset_table(store, dataset, TableSpec(dataset.view, COLUMNS, None, (("score", True),)))
    page_at(store, table, N_ROWS // 2, PAGE)
    assert statements and not any("OFFSET" in s.upper() or "ROW_NUMBER" in s.upper() for s in statements)
    assert statements.returned[-1] <= 40 + PAGE


@pytest.mark.parametrize("sort, condition", SPECS)
def test_find_on_keyset_pages_finds_what_the_numbered_window_finds(store, dataset, sort, condition):
    """From several rows, forward and back, wrapping at either end: the same position as
    :func:`analysis.window.find_row` over the numbered window, or None for text no row holds."""
    from analysis.window import containing, find_row

    spec = TableSpec(dataset.view, COLUMNS, condition, sort)
    table = open_keyset_table(store, dataset, spec)
    window = prepare_table(store, spec)
    try:
        for text, column in (("77", "request_id"), ("v3", None), ("no such value", None)):
            match = containing((column,) if column else COLUMNS, text)
            for after in (-1, 0, table.row_count // 3, table.row_count - 1):
                for forward in (True, False):
                    bookmark = None
                    if after >= 0:
                        row = fetch_window(store, window, after, after + 1)
                        bookmark = pages.bookmark_of(table, row.row_ids[0], row.raw[0])
                    found = pages.find_beyond(store, table, match, bookmark, forward)
                    assert found == find_row(store, window, text, column, after, forward), (text, after, forward)
    finally:
        release_table(store, window)
