"""Benchmark: Sleuth's input check against Evidently's DataDriftPreset on the same data.

The data: the bench log's first ``--each`` rows (default 1M, the first 10% of its 30 days)
as the reference and its last ``--each`` rows as the current data, written once to the bench
cache as two Parquet files. Both routes compare the same 28 columns: every column but the
request id and the timestamp (model version, label, score, prediction and 24 features).

Sleuth route: ``run_check(store, [current], CheckSettings(reference=[reference]))``, which is what
``sleuth check CURRENT --reference REFERENCE`` runs: load both files, profile the reference,
check every column per day and per group, triage. Evidently route: ``pandas.read_parquet``
of both files, then ``Report([DataDriftPreset()]).run(current, reference)`` (a drift test per
column: Wasserstein distance for numbers, Jensen-Shannon for categories, above 1,000 rows).
Each route runs in a fresh process (median of ``--repeats``); the table gives time from the
first read to the result, and peak RSS.

Evidently needs pandas < 3, so it runs in a virtualenv of its own, never in the project's
``.venv``: ``~/.cache/sleuth-bench/evidently-venv`` (under ``SLEUTH_BENCH_CACHE`` when set),
created on first use with ``python3 -m venv`` and then
``pip install evidently "pandas<3" pyarrow``. Delete that folder to reinstall; the table's
note names the Evidently version it ran.

Run: ``.venv/bin/python tests/bench/bench_evidently.py [--each 1000000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = str(Path(__file__).resolve())

EVIDENTLY_RESULT = "EVIDENTLY-RESULT "
"""Marks the Evidently child's result line. That child runs in Evidently's own virtualenv,
which has no DuckDB, so it cannot import ``common`` (whose protocol the Sleuth route uses)."""

COMPARED_OUT = ("request_id", "timestamp")
"""Columns neither route compares: Sleuth skips the id and the timestamp when profiling."""


def evidently_route(folder: Path) -> dict:
    """Runs inside Evidently's virtualenv: read both files, run the preset."""
    import evidently
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet").drop(columns=list(COMPARED_OUT))
    current = pd.read_parquet(folder / "current.parquet").drop(columns=list(COMPARED_OUT))
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    drifted = next(m["value"]["count"] for m in snapshot.dict()["metrics"]
                   if m["metric_name"].startswith("DriftedColumnsCount"))
    return {"seconds": seconds, "columns": reference.shape[1], "drifted_columns": int(drifted),
            "version": evidently.__version__}


def sleuth_route(folder: Path) -> dict:
    from analysis.triage.check_report import CheckSettings, run_check
    from analysis.store import Store
    from analysis.store import APP_MEMORY_LIMIT as DUCKDB_MEMORY_LIMIT

    started = time.perf_counter()
    store = Store(memory_limit=DUCKDB_MEMORY_LIMIT)  # as `sleuth check` runs it
    run = run_check(store, [str(folder / "current.parquet")],
                    CheckSettings(reference=[str(folder / "reference.parquet")]))
    return {"seconds": time.perf_counter() - started, "findings": len(run.findings),
            "alerts": sum(f.severity == "alert" for f in run.findings)}


def pair_folder(rows: int, each: int) -> Path:
    """The cached reference / current pair: the log's first and last ``each`` rows."""
    import duckdb

    from common import CACHE_DIR, ensure_log

    log = ensure_log(rows)
    folder = CACHE_DIR / f"drift-pair-{rows}-{each}"
    if (folder / "current.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        for name, where in (("reference", f"file_row_number < {each}"),
                            ("current", f"file_row_number >= {rows - each}")):
            partial = folder / f"{name}.partial"
            con.execute(f"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet(?, file_row_number = true) "
                        f"WHERE {where} ORDER BY file_row_number) TO '{partial}' (FORMAT parquet)", [str(log)])
            partial.rename(folder / f"{name}.parquet")
    finally:
        con.close()
    return folder


def evidently_python() -> Path:
    """Python of Evidently's own virtualenv, created and installed on first use."""
    from common import CACHE_DIR

    venv = CACHE_DIR / "evidently-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (Evidently, pandas < 3, pyarrow)", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "evidently", "pandas<3", "pyarrow"], check=True)
    return python


def run_evidently(folder: Path, repeats: int) -> dict:
    """The Evidently route in fresh processes of its virtualenv: the median of every number."""
    python = evidently_python()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([str(python), SCRIPT, "--child", "evidently", str(folder)],
                              capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(EVIDENTLY_RESULT)]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"Evidently route failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result = json.loads(lines[-1][len(EVIDENTLY_RESULT):])
        result["process_s"] = time.perf_counter() - started
        runs.append(result)
    return {key: statistics.median(run[key] for run in runs) if isinstance(value, (int, float)) else value
            for key, value in runs[0].items()}


def parse_args() -> argparse.Namespace:
    from common import DEFAULT_ROWS, REPEATS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"bench log rows (default {DEFAULT_ROWS:,})")
    parser.add_argument("--each", type=int, default=1_000_000, help="rows of the reference and of the current data")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs per route (default {REPEATS})")
    return parser.parse_args()


def main() -> None:
    from common import machine_note, markdown_table, megabytes, ratio, repeat_route, seconds

    args = parse_args()
    each = min(args.each, args.rows // 2)
    folder = pair_folder(args.rows, each)
    sleuth = repeat_route(SCRIPT, "sleuth", folder, args.repeats)
    evidently = run_evidently(folder, args.repeats)
    print(machine_note(args.rows, args.repeats) + f"; {each:,} reference rows vs {each:,} current rows, "
          f"{evidently['columns']} columns; Evidently {evidently['version']}")
    print(markdown_table(
        ["route", "time", "peak RSS"],
        [["Sleuth check --reference (profile, checks per day and group, triage)", seconds(sleuth["seconds"]),
          megabytes(sleuth["peak_rss_mb"])],
         ["Evidently DataDriftPreset (read_parquet, Report.run)", seconds(evidently["seconds"]),
          megabytes(evidently["peak_rss_mb"])],
         ["ratio Evidently / Sleuth", ratio(evidently["seconds"], sleuth["seconds"]),
          ratio(evidently["peak_rss_mb"], sleuth["peak_rss_mb"])]],
    ))
    print(f"Sleuth: {sleuth['findings']} finding(s), {sleuth['alerts']} alert(s); "
          f"Evidently: {evidently['drifted_columns']} drifted column(s) of {evidently['columns']}")


if __name__ == "__main__":
    if sys.argv[1:3] == ["--child", "evidently"]:
        result = evidently_route(Path(sys.argv[3]))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(EVIDENTLY_RESULT + json.dumps(result), flush=True)
    else:
        from common import run_child_if_asked

        if not run_child_if_asked({"sleuth": sleuth_route}):
            main()
