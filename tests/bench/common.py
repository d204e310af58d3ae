"""What every benchmark shares: the 10M-row test log, child processes, timing and tables.

Each route (Sleuth headless, Sleuth GUI, the notebook) runs in a fresh child process, so its
peak memory is its own and no route inherits another's caches; only the operating system's
file cache is shared, and it is warm for every route alike (the log is read once when made).
A benchmark script is its own child: ``bench_x.py --child ROUTE LOG`` runs one route and
prints one JSON line, which the parent collects, repeats and summarises.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import duckdb

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_ROWS = 10_000_000
REPEATS = 3
RESULT_MARK = "BENCH-RESULT "
CACHE_DIR = Path(os.environ.get("SLEUTH_BENCH_CACHE", Path.home() / ".cache" / "sleuth-bench"))
LOG_SCHEMA_VERSION = 1
"""Bumped when the generated log changes, so a cached file of the old shape is not reused."""

Route = Callable[[Path], dict]


# --- the test log -------------------------------------------------------------------------

def log_path(rows: int) -> Path:
    return CACHE_DIR / f"log-{rows}-v{LOG_SCHEMA_VERSION}.parquet"


def ensure_log(rows: int = DEFAULT_ROWS) -> Path:
    """The cached ``rows`` x 30 Parquet prediction log, written by DuckDB on first use.

    Written to a temporary name and renamed, so an interrupted build never leaves a truncated
    file that later runs would trust.
    """
    path = log_path(rows)
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute(_log_sql(rows, partial))
    finally:
        con.close()
    partial.rename(path)
    print(f"made {path} ({path.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return path


def _uniform(i: str, k: int) -> str:
    """A deterministic uniform [0, 1) draw for row ``i`` and stream ``k`` (random() is not
    reproducible across DuckDB's threads)."""
    return f"(hash({i}, {k}) % 1000003) / 1000003.0"


def _normal(i: str, k: int) -> str:
    """A standard normal draw (Box-Muller) from two uniform streams."""
    return f"(sqrt(-2 * ln(1 - {_uniform(i, k)})) * cos(2 * pi() * {_uniform(i, k + 1)}))"


def _log_sql(rows: int, target: Path, first: int = 0, stop: int | None = None) -> str:
    """COPY of a realistic binary-classification log in time order (logs are appended).

    The score is a logistic function of a few features, the label is drawn from it (so the
    model is calibrated and AUC is around 0.8), v2 takes a growing share of traffic over the
    30 days, and one label in ten is missing (not yet known). Rows ``first`` to ``stop`` of a
    ``rows``-row log, so a very large log can be written as several files of one whole.
    """
    numeric = ",\n".join(f"    {_normal('i', 10 + 2 * k)} * {k + 1} AS f_num_{k:02d}" for k in range(13))
    counts = ",\n".join(f"    CAST(floor(-ln(1 - {_uniform('i', 40 + k)}) * {3 * (k + 1)}) AS INTEGER) AS f_int_{k:02d}"
                        for k in range(6))
    seconds = 30 * 86400
    return f"""
COPY (
WITH base AS (
  SELECT i,
{numeric},
{counts},
    ['US','GB','DE','FR','IN','BR','JP','NG'][1 + CAST(floor({_uniform('i', 60)} * 8) AS INTEGER)] AS country,
    ['ios','android','web'][1 + CAST(floor({_uniform('i', 61)} * 3) AS INTEGER)] AS device,
    ['organic','ads','email','partner','referral'][1 + CAST(floor({_uniform('i', 62)} * 5) AS INTEGER)] AS channel,
    'mcc_' || CAST(CAST(floor({_uniform('i', 63)} * 20) AS INTEGER) AS VARCHAR) AS merchant_category,
    {_uniform('i', 64)} < 0.4 AS is_returning,
    {_uniform('i', 65)} AS u_version,
    {_uniform('i', 66)} AS u_label,
    {_uniform('i', 67)} AS u_missing
  FROM range({first}, {rows if stop is None else stop}) AS t(i)
),
scored AS (
  SELECT *,
    1 / (1 + exp(-(-1.2 + 0.9 * f_num_00 + 0.35 * f_num_01 - 0.2 * f_num_02
                   + 0.05 * f_int_00 + CASE WHEN is_returning THEN -0.5 ELSE 0.3 END))) AS p
  FROM base
)
SELECT
  printf('req-%012d', i) AS request_id,
  TIMESTAMP '2026-01-01' + to_seconds(CAST(i * {seconds} // {rows} AS BIGINT)) AS timestamp,
  CASE WHEN u_version < 0.2 + 0.6 * i / {rows} THEN 'v2' ELSE 'v1' END AS model_version,
  CASE WHEN u_missing < 0.1 THEN NULL ELSE CAST(u_label < p AS INTEGER) END AS label,
  p AS score,
  CAST(p >= 0.5 AS INTEGER) AS prediction,
  f_num_00, f_num_01, f_num_02, f_num_03, f_num_04, f_num_05, f_num_06,
  f_num_07, f_num_08, f_num_09, f_num_10, f_num_11, f_num_12,
  f_int_00, f_int_01, f_int_02, f_int_03, f_int_04, f_int_05,
  country, device, channel, merchant_category, is_returning
FROM scored ORDER BY i
) TO '{target}' (FORMAT parquet)
"""


# --- child processes ----------------------------------------------------------------------

def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak of this process's finished children (Sleuth's file probe)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_child_if_asked(routes: dict[str, Route]) -> bool:
    """Run one route when called as ``--child ROUTE LOG`` and print its result; else False."""
    if len(sys.argv) < 4 or sys.argv[1] != "--child":
        return False
    route, log = sys.argv[2], Path(sys.argv[3])
    result = routes[route](log)
    result["peak_rss_mb"] = peak_rss_mb()
    result["children_peak_rss_mb"] = children_peak_rss_mb()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return True


def run_route(script: str, route: str, log: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``route`` of ``script`` in a fresh Python process and return its result, adding
    ``process_s`` (the child's whole life: interpreter start, imports, work, exit)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, script, "--child", route, str(log)],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=REPO,
    )
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{Path(script).name} {route} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len(RESULT_MARK):])
    result["process_s"] = elapsed
    return result


def runs_in_turns(script: str, routes: Sequence[str], log: Path, repeats: int = REPEATS,
                  env: dict[str, str] | None = None) -> dict[str, list[dict]]:
    """Every run of each route, ``repeats`` times taking turns (a, b, a, b, ...), one process
    at a time; each run records ``load``, the 1-minute load average (``uptime``'s first figure)
    just before it started.

    On a shared machine the speed drifts by 2x within minutes; taking turns exposes every route
    to the same drift, so their ratio stays meaningful when the absolute times do not. Runs are
    sequential on purpose: two 10M-row pandas frames at once would measure the machine's memory
    pressure, not the route.
    """
    runs: dict[str, list[dict]] = {route: [] for route in routes}
    for _ in range(repeats):
        for route in routes:
            load = os.getloadavg()[0]
            runs[route].append({**run_route(script, route, log, env), "load": load})
    return runs


def repeat_route(script: str, route: str, log: Path, repeats: int = REPEATS,
                 env: dict[str, str] | None = None) -> dict:
    """The route run ``repeats`` times, one process after another: the median of every number."""
    return medians(runs_in_turns(script, (route,), log, repeats, env)[route])


def medians(runs: list[dict]) -> dict:
    """The median of every number over the runs; other values from the first run."""
    summary = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            summary[key] = statistics.median(run[key] for run in runs)
        else:
            summary[key] = value
    return summary


def median_spread(runs: list[dict], key: str, unit: Callable[[float], str]) -> str:
    """The median of ``key`` over the runs and, with more than one run, its range:
    ``1.23 s (1.10-1.40 s)``."""
    values = [run[key] for run in runs]
    text = unit(statistics.median(values))
    return text if len(values) < 2 else f"{text} ({unit(min(values))}–{unit(max(values))})"


def load_range(runs: Iterable[dict]) -> str:
    """The 1-minute load averages the runs started under: ``load 3.1-5.2``."""
    loads = [run["load"] for run in runs]
    low, high = min(loads), max(loads)
    return f"load {low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"load {low:.1f}–{high:.1f}"


def budget_verdict(runs: list[dict], key: str, budget: float) -> str:
    """"met" only when every run stays under the budget; otherwise the loads of the runs that
    missed it, so a miss on a busy machine reads as such."""
    missed = [run for run in runs if run[key] >= budget]
    if not missed:
        return f"met ({len(runs)} of {len(runs)} runs)"
    loads = ", ".join(f"{run['load']:.1f}" for run in missed)
    return f"missed under load {loads} ({len(missed)} of {len(runs)} runs)"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"log rows (default {DEFAULT_ROWS:,})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs per route (default {REPEATS})")
    return parser.parse_args()


# --- timing and reporting -----------------------------------------------------------------

class Clock:
    """Seconds since creation, and named marks: ``clock.mark("ready")``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: dict[str, float] = {}

    def now(self) -> float:
        return time.perf_counter() - self.start

    def mark(self, name: str) -> float:
        self.marks[name] = self.now()
        return self.marks[name]

    def mark_once(self, name: str) -> None:
        """Mark the first time something happens; later calls keep that first time."""
        if name not in self.marks:
            self.mark(name)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def millis(value: float) -> str:
    """Three significant digits below 100 ms, whole milliseconds above (no exponents)."""
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.3g} ms"


def megabytes(value: float) -> str:
    return f"{value:,.0f} MB"


def ratio(notebook: float, sleuth: float) -> str:
    """notebook / Sleuth: above 1 means Sleuth is faster (or smaller)."""
    if sleuth <= 0:
        return "n/a"
    value = notebook / sleuth
    return f"{value:.2g}x" if value >= 0.01 else f"1/{1 / value:,.0f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_note(rows: int, repeats: int) -> str:
    """One line saying where and how the figures were taken (load changes them)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{rows:,} rows, median (min–max) of {repeats} fresh processes per route taking turns, "
            f"{os.cpu_count()} cores, duckdb {duckdb.__version__}; load average (uptime) as this line was printed {load}")


def offscreen_window(settings_dir: str):
    """The app's main window as a benchmark drives it: offscreen, 1440x900, shown, DuckDB's
    share of memory as in the app, fresh settings in ``settings_dir``; (window, session, tasks)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings

    from analysis.store import APP_MEMORY_LIMIT, Store
    from app.controller import AppController
    from app.main_window import MainWindow
    from app.state import Session
    from app.tasks import TaskRunner

    settings = QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.IniFormat)
    session, tasks = Session(Store(memory_limit=APP_MEMORY_LIMIT)), TaskRunner()
    window = MainWindow(session, tasks, AppController(session, tasks), settings)
    window.resize(1440, 900)
    window.show()
    return window, session, tasks
