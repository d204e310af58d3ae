"""A 100M-row x 30-column log in Parquet files, as a workstation opens it (issue #17, point 5).

The log is the 10M-row benchmark log's shape (``common._log_sql``) made ten times longer: the
same 30 columns and 30 days, written by DuckDB as ten files of 10M rows (one whole log, rows
in time order across the files), about 12 GB. Generating it is part of the benchmark and runs
only when the folder holds no complete log (``--generate`` forces it). Not a ``bench_*.py``, so
neither ``make test`` nor ``make bench`` runs it: it writes 12 GB and takes minutes.

One fresh process, DuckDB capped at ``APP_MEMORY_LIMIT`` with its temp directory for spilling
(as the window and the CLI run it), goes through the budgets in turn and records the time of
each step, the process's CPU time in it (all threads: on a shared machine the wall time says
more about the others' load than about Sleuth), the load average as it ended, and the
process's peak resident memory after it:

* **table**: ``load_log`` (no checks) + ``prepare_table`` + the first page, < 2 s;
* **metrics**: every metric per version but ROC AUC, < 15 s (then ROC AUC, reported);
* **breakdown**: the error rate by one numeric feature in quantile bins, < 5 s;
* **discovery**: failing slices over the last tenth of the log's time (10M rows), 20 columns,
  level 3, < 15 s;
* **checks**: profile a 1M-row reference (the first hundredth of the time), check every
  column of the 100M rows against it and triage, as ``sleuth check`` does (the cells over
  every row, the row-level parts on a 10M-row share of the requests), < 60 s;
* peak memory < 2 GB throughout.

Run: ``.venv/bin/python tests/bench/workstation_100m.py [--folder /tmp/sleuth-bench-100m] [--repeats 1]``;
delete the folder when done (``--delete`` does it after the run). ``--only checks`` runs the
checks step alone (the log opened without timing, then the same step): the budget most
missed, measured without the ten minutes of the others when a change touches only it. To watch the steps as they end
(each prints its time and peak to stderr), run the route alone:
``.venv/bin/python tests/bench/workstation_100m.py --child sleuth /tmp/sleuth-bench-100m``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from common import (
    Clock, _log_sql, budget_verdict, load_range, markdown_table, median_spread, megabytes, peak_rss_mb,
    run_child_if_asked, runs_in_turns, seconds,
)
from analysis.scope import Scope

ROWS = 100_000_000
PARTS = 10
DEFAULT_FOLDER = Path("/tmp/sleuth-bench-100m")
DISCOVERY_SHARE = 0.1
DISCOVERY_COLUMNS = 20
REFERENCE_SHARE = 0.01
MEMORY_BUDGET_MB = 2048
BUDGETS_S = {"table": 2.0, "metrics": 15.0, "breakdown": 5.0, "discovery": 15.0, "checks": 60.0}
STEPS = ("table", "metrics", "auc", "breakdown", "discovery", "checks")


def part_paths(folder: Path) -> list[Path]:
    return [folder / f"part-{k:02d}.parquet" for k in range(PARTS)]


def generate(folder: Path) -> float:
    """Write the ten parts (each to a temporary name, renamed when whole); the seconds it took.

    Vectorised by DuckDB: each part is one ``COPY`` of rows ``[k * 10M, (k + 1) * 10M)`` of the
    100M-row log, with the memory limit and spill folder the benchmark itself runs under.
    """
    from analysis.store import APP_MEMORY_LIMIT

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(":memory:", config={"memory_limit": APP_MEMORY_LIMIT,
                                             "temp_directory": str(folder / "spill")})
    con.execute("SET enable_progress_bar = false")
    try:
        step = ROWS // PARTS
        for k, path in enumerate(part_paths(folder)):
            partial = path.with_suffix(".partial")
            con.execute(_log_sql(ROWS, partial, first=k * step, stop=(k + 1) * step))
            partial.rename(path)
            print(f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MB)", file=sys.stderr, flush=True)
    finally:
        con.close()
        shutil.rmtree(folder / "spill", ignore_errors=True)
    return time.perf_counter() - started


def sleuth(folder: Path) -> dict:
    from analysis.data.open_log import load_log
    from analysis.data.time import time_span, timestamp_expr
    from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
    from analysis.metrics.per_version import overall_metrics
    from analysis.query import Sql, ident
    from analysis.slicing.breakdown import breakdown_by
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.window import TableSpec, fetch_window, prepare_table

    result: dict = {}
    clock = Clock()

    cpu_at_start = [_cpu_seconds()]

    def done(step: str) -> None:
        result[f"{step}_s"] = clock.now()
        result[f"{step}_cpu_s"] = _cpu_seconds() - cpu_at_start[0]
        result[f"{step}_load"] = os.getloadavg()[0]
        result[f"{step}_peak_mb"] = peak_rss_mb()
        print(f"{step}: {seconds(result[f'{step}_s'])}, CPU {seconds(result[f'{step}_cpu_s'])}, "
              f"load {result[f'{step}_load']:.1f}, peak {megabytes(result[f'{step}_peak_mb'])}",
              file=sys.stderr, flush=True)  # a step that runs for minutes still leaves the earlier ones
        clock.start = time.perf_counter()
        cpu_at_start[0] = _cpu_seconds()

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, [str(p) for p in part_paths(folder)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    window = prepare_table(store, TableSpec(dataset.view, tuple(dataset.column_names)))
    assert len(fetch_window(store, window, 0, 200)) == 200
    result["rows"] = window.row_count
    done("table")
    overall_metrics(Scope(store, dataset, roles), with_auc=False)
    done("metrics")
    metrics = overall_metrics(Scope(store, dataset, roles), with_auc=True)
    result["auc"] = {m.version: m.metrics["roc_auc"] for m in metrics}
    done("auc")
    groups = breakdown_by(Scope(store, dataset, roles), "f_num_00")
    result["breakdown_groups"] = len(groups.frame)
    done("breakdown")
    first, last = time_span(Scope(store, dataset, roles))
    stamp = timestamp_expr(dataset, roles)
    recent = Sql(f"{stamp} >= ?", (last - (last - first) * DISCOVERY_SHARE,))
    result["discovery_rows"] = store.rows(Sql(f"SELECT count(*) FROM {ident(dataset.view)} WHERE {recent.text}",
                                              recent.params))[0][0]
    clock.start = time.perf_counter()
    cpu_at_start[0] = _cpu_seconds()
    narrowed = replace(roles, features=tuple(roles.features[:DISCOVERY_COLUMNS - 1]))  # + the version column
    found = failing_slices(Scope(store, dataset, narrowed, recent), DiscoverySettings())
    result["top_slice"] = found[0].text if found else ""
    done("discovery")
    _check(store, dataset, roles, first, last, result)
    done("checks")
    return result


def checks_only(folder: Path) -> dict:
    """The checks step of :func:`sleuth` alone: the log opened (untimed), then the same step."""
    from analysis.data.open_log import load_log
    from analysis.data.time import time_span
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, [str(p) for p in part_paths(folder)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    first, last = time_span(Scope(store, dataset, roles))
    result: dict = {"rows": dataset.row_count}
    started, cpu = time.perf_counter(), _cpu_seconds()
    _check(store, dataset, roles, first, last, result)
    result.update(checks_s=time.perf_counter() - started, checks_cpu_s=_cpu_seconds() - cpu,
                  checks_load=os.getloadavg()[0], checks_peak_mb=peak_rss_mb())
    return result


def _check(store, dataset, roles, first, last, result: dict) -> None:
    """Profile the reference (the first :data:`REFERENCE_SHARE` of the time) and check every row
    against it, as ``sleuth check`` does; what it found goes into ``result``."""
    from analysis.data.time import timestamp_expr
    from analysis.query import Sql
    from analysis.triage.check_report import check_against
    from analysis.triage.reference_profile import profile_reference

    reference = Sql(f"{timestamp_expr(dataset, roles)} < ?", (first + (last - first) * REFERENCE_SHARE,))
    profile = profile_reference(Scope(store, dataset, roles, reference))
    checked = check_against(Scope(store, dataset, roles), profile)  # as sleuth check runs it
    result["reference_rows"], result["findings"] = profile.rows, len(checked.findings)
    result["share"] = checked.share.sentence() if checked.share else "every row"


def _cpu_seconds() -> float:
    """CPU time of every thread of this process so far (DuckDB's workers included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


ROUTES = {"sleuth": sleuth, "checks": checks_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--generate", action="store_true", help="write the log even if the folder holds one")
    parser.add_argument("--delete", action="store_true", help="delete the folder after the run")
    parser.add_argument("--only", choices=("checks",), help="run only this step (the log opened untimed)")
    args = parser.parse_args()
    if args.generate or not all(p.exists() for p in part_paths(args.folder)):
        print(f"Generated the 100M-row log in {seconds(generate(args.folder))} "
              f"({sum(p.stat().st_size for p in part_paths(args.folder)) / 2**30:.1f} GB).")
    route = args.only or "sleuth"
    runs = runs_in_turns(__file__, (route,), args.folder, args.repeats)[route]
    steps = (args.only,) if args.only else STEPS
    rows = [[step, median_spread(runs, f"{step}_s", seconds),
             budget_verdict(runs, f"{step}_s", BUDGETS_S[step]) if step in BUDGETS_S else "—",
             median_spread(runs, f"{step}_cpu_s", seconds), median_spread(runs, f"{step}_load", lambda v: f"{v:.1f}"),
             median_spread(runs, f"{step}_peak_mb", megabytes),
             budget_verdict(runs, f"{step}_peak_mb", MEMORY_BUDGET_MB)] for step in steps]
    print(f"### {runs[0]['rows']:,} rows x 30 columns in {PARTS} Parquet files, {len(runs)} run(s), "
          f"{load_range(runs)}, duckdb {duckdb.__version__}\n")
    print(markdown_table(["step", "time", "time budget, every run", "CPU time", "load as it ended", "peak RSS after it",
                          f"memory < {MEMORY_BUDGET_MB} MB, every run"], rows))
    last = runs[-1]
    checks = (f"Checks: reference {last['reference_rows']:,} rows, {last['findings']} finding(s), row-level parts "
              f"{last['share']}.")
    print(f"\n{checks}" if args.only else
          f"\nDiscovery searched {last['discovery_rows']:,} rows; top slice: {last['top_slice']}. {checks} "
          f"Breakdown groups: {last['breakdown_groups']}. ROC AUC per version: {last['auc']}.")
    if args.delete:
        shutil.rmtree(args.folder)


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
