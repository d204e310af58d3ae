"""Cells leaving Sleuth for a spreadsheet: formulas neutralised (OWASP CSV injection), numbers
kept, a selection copied exactly, every row of it."""

import csv

import pandas as pd
import pytest

from analysis.report.cell_text import neutralise, neutralised_sql, selection_text
from analysis.query import ROW_ID, Sql, literal
from analysis.window import TableSpec, prepare_table

PAYLOADS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@HYPERLINK(\"http://evil\",\"x\")", "\t=1+1", "\r=1+1", "=1"]
KEPT = ["-1.5", "+3e2", "42", ".5", "plain text", "", "a=b", "O'Brien", "x-1"]


@pytest.mark.parametrize("text", PAYLOADS)
def test_formula_like_cells_get_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", KEPT)
def test_numbers_and_plain_text_are_kept(text):
    assert neutralise(text) == text


def test_duckdb_and_python_apply_the_same_rule(store):
    cells = PAYLOADS + KEPT + ["-", "+", "@", "-1e", "1-2", "--1", " =1"]
    values = ", ".join(f"({literal(c)})" for c in cells)
    store.execute(f"CREATE TABLE cells AS SELECT * FROM (VALUES {values}) AS t(text)")
    rendered = store.rows(f"SELECT text, {neutralised_sql('text')} FROM cells")
    assert {text: out for text, out in rendered} == {c: neutralise(c) for c in cells}


@pytest.fixture
def log(store, tmp_path):
    frame = pd.DataFrame({"score": [i / 4 for i in range(6000)],
                          "name": [PAYLOADS[i % len(PAYLOADS)] if i % 3 == 0 else f"row {i}" for i in range(6000)]})
    frame[ROW_ID] = range(len(frame))
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    store.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet({literal(str(path))})")
    return frame


def test_select_all_copies_every_row_exactly_with_formulas_neutralised(store, log):
    window = prepare_table(store, TableSpec("log", ("score", "name")))
    text = selection_text(store, window, [(0, len(log) - 1, 0, 1)])
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    assert rows[0] == ["score", "name"] and len(rows) == len(log) + 1
    assert [float(r[0]) for r in rows[1:]] == log.score.tolist()
    assert [r[1] for r in rows[1:]] == [neutralise(n).replace("\t", " ").replace("\r", " ") for n in log.name]
    assert all(not r[1].startswith(("=", "+", "-", "@")) for r in rows[1:])


def test_a_sorted_slice_copies_the_rows_shown(store, log):
    window = prepare_table(store, TableSpec("log", ("score", "name"), condition=Sql("score >= 1000"),
                                            sort=(("score", False),)))
    text = selection_text(store, window, [(0, 2, 0, 0), (4, 4, 1, 1)])
    assert text == "score\tname\n1499.75\t\n1499.5\t\n1499.25\t\n\trow 5995\n"
