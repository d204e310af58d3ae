"""Fetch one screen of table rows at random scroll positions of a 10M-row log.

Tables, each prepared once and then read at the same 50 random positions (as fractions of
its length), 200 rows a page: the plain log, the log sorted by ``score`` (a double, every
value distinct) and by ``merchant_category`` (a text column of 20 values, ties broken by row),
and the slice ``label = 1``. Each sorted log is read twice: its first pages, from the head
that ``prepare_table`` copies (what the window serves while its sorted copy is built; the
positions are drawn within the head's ``HEAD_ROWS`` rows, as pages past it wait for the
copy), and at every position from its sorted copy (``copy_sorted_rows``, built in the
background; its prepare time includes the copy). The notebook's sorted frame, read at the
same positions, stands for both. Sleuth's page is ``fetch_window`` (DuckDB query plus the display
formatting of every cell); the notebook's is ``DataFrame.iloc`` on a frame already in memory
(no formatting), after a ``read_parquet`` whose time is reported too, as are the sort and the
filter that make its sorted and sliced frames.

Budget (DESIGN.md): one screen of rows at any scroll position of 10M rows in < 50 ms.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from common import (
    Clock,
    budget_verdict,
    ensure_log,
    load_range,
    machine_note,
    markdown_table,
    median_spread,
    medians,
    megabytes,
    millis,
    parse_args,
    percentile,
    ratio,
    run_child_if_asked,
    runs_in_turns,
    seconds,
)

PAGE_ROWS = 200
POSITIONS = 50
SEED = 20260101
BUDGET_MS = 50.0
SORT_COLUMNS = ("score", "merchant_category")
FROM_COPY = ", from its copy"
FROM_HEAD = ", first pages before its copy"
TABLES = ("plain", *(f"sorted by {c}{copy}" for c in SORT_COLUMNS for copy in (FROM_HEAD, FROM_COPY)), "label = 1")


def scroll_fractions() -> list[float]:
    """The same random scroll positions for every route and table."""
    draw = random.Random(SEED)
    return [draw.random() for _ in range(POSITIONS)]


def page_starts(row_count: int) -> list[int]:
    return [int(f * max(row_count - PAGE_ROWS, 0)) for f in scroll_fractions()]


def head_rows() -> int:
    from analysis.window import HEAD_ROWS

    return HEAD_ROWS


def summarise(name: str, prepare_s: float, fetch_s: list[float]) -> dict:
    """Per table: prepare seconds, and the median and p95 page time in ms."""
    ms = [s * 1000 for s in fetch_s]
    return {f"{name}|prepare_s": prepare_s, f"{name}|median_ms": percentile(ms, 0.5),
            f"{name}|p95_ms": percentile(ms, 0.95)}


def sleuth(log: Path) -> dict:
    from analysis.data.open_log import load_log
    from analysis.query import Sql, ident
    from analysis.store import Store
    from analysis.window import TableSpec, copy_sorted_rows, fetch_window, prepare_table

    clock = Clock()
    store = Store()
    dataset = load_log(store, [str(log)], check=False).dataset
    result = {"load_s": clock.mark("loaded")}
    columns = tuple(dataset.column_names)
    specs = {
        "plain": TableSpec(dataset.view, columns),
        **{f"sorted by {c}": TableSpec(dataset.view, columns, sort=((c, False),)) for c in SORT_COLUMNS},
        "label = 1": TableSpec(dataset.view, columns, condition=Sql(f"{ident('label')} = ?", (1,))),
    }
    def pages(window, rows: int) -> list[float]:
        times = []
        for start in page_starts(rows):
            started = time.perf_counter()
            page = fetch_window(store, window, start, start + PAGE_ROWS)
            times.append(time.perf_counter() - started)
            assert len(page) == PAGE_ROWS
        return times

    for name, spec in specs.items():
        started = time.perf_counter()
        window = prepare_table(store, spec)
        prepare_s = time.perf_counter() - started
        if not spec.sort:
            result.update(summarise(name, prepare_s, pages(window, window.row_count)))
            continue
        result.update(summarise(name + FROM_HEAD, prepare_s, pages(window, window.head_count)))
        started = time.perf_counter()
        copied = copy_sorted_rows(store, window)
        copy_s = time.perf_counter() - started
        result.update(summarise(name + FROM_COPY, prepare_s + copy_s, pages(copied, copied.row_count)))
    return result


def notebook(log: Path) -> dict:
    import pandas as pd

    clock = Clock()
    frame = pd.read_parquet(log)
    result = {"load_s": clock.mark("loaded")}
    makers = {
        "plain": lambda: frame,
        **{f"sorted by {c}": lambda c=c: frame.sort_values(c, ascending=False, na_position="last", kind="stable")
           for c in SORT_COLUMNS},
        "label = 1": lambda: frame[frame["label"] == 1],
    }
    for name, make in makers.items():
        started = time.perf_counter()
        table = make()
        prepare_s = time.perf_counter() - started
        sorted_ = name.startswith("sorted by ")
        for suffix, rows in ((FROM_HEAD, head_rows()), (FROM_COPY, len(table))) if sorted_ else (("", len(table)),):
            times = []
            for start in page_starts(min(rows, len(table))):
                started = time.perf_counter()
                page = table.iloc[start:start + PAGE_ROWS]
                times.append(time.perf_counter() - started)
                assert len(page) == PAGE_ROWS
            result.update(summarise(name + suffix, prepare_s, times))
        del table
    return result


ROUTES = {"sleuth": sleuth, "notebook": notebook}


def _cells(runs: list[dict], table: str) -> list[str]:
    return [median_spread(runs, f"{table}|prepare_s", seconds), median_spread(runs, f"{table}|median_ms", millis),
            median_spread(runs, f"{table}|p95_ms", millis)]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    log = ensure_log(args.rows)
    runs = runs_in_turns(__file__, tuple(ROUTES), log, args.repeats)
    sleuth_result, book = medians(runs["sleuth"]), medians(runs["notebook"])
    rows = [
        [name, *_cells(runs["sleuth"], name), *_cells(runs["notebook"], name),
         ratio(book[f"{name}|median_ms"], sleuth_result[f"{name}|median_ms"]),
         budget_verdict(runs["sleuth"], f"{name}|median_ms", BUDGET_MS)]
        for name in TABLES
    ]
    print(f"### Table windows: {POSITIONS} random scroll positions, {PAGE_ROWS}-row pages\n\n"
          f"{machine_note(args.rows, args.repeats)}; Sleuth runs under {load_range(runs['sleuth'])}, "
          f"pandas under {load_range(runs['notebook'])}\n")
    print(markdown_table(["table", "Sleuth prepare", "Sleuth page median", "Sleuth page p95",
                          "pandas prepare", "pandas iloc median", "pandas iloc p95",
                          "ratio pandas / Sleuth (page median)", f"page median < {BUDGET_MS:.0f} ms, every run"], rows))
    print(f"\nOpening before the first page: Sleuth `load_log` {median_spread(runs['sleuth'], 'load_s', seconds)} "
          f"(peak {median_spread(runs['sleuth'], 'peak_rss_mb', megabytes)}), pandas `read_parquet` "
          f"{median_spread(runs['notebook'], 'load_s', seconds)} "
          f"(peak {median_spread(runs['notebook'], 'peak_rss_mb', megabytes)}).")


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
