"""Sleuth's passes on a local Spark Connect server: time per pass, rows moved, client peak memory.

Issue #19 asks that only aggregates and table pages cross from the cluster, so that the
client's peak memory stays under 1 GB whatever the table's size. This measures it on the
benchmark log (``common.ensure_log``: N rows x 30 columns, Parquet; or with ``--folder`` the
100M-row log of ``workstation_100m.py`` in ten Parquet parts) read by a local Spark
Connect server (pyspark's own, ``local[2]``, started here as ``tests/spark`` starts it). The
client is this process: Sleuth's Spark store, no DuckDB view of the log. Per pass it records
the wall time, the server's CPU time (its process group's, from /proc: less swayed by the
machine's other work), the rows Spark sent back (counted where every result arrives,
``SparkResult.arrow``) and this process's peak resident memory after it (the server's JVM is
another process, not counted there). Passes:

* **open**: register the table, count it, detect roles (50,000 rows profiled by DuckDB here);
* **metrics**: every metric per version but ROC AUC, then **auc** (one triple per labelled
  row comes back: the one pass that moves rows, refused above ``MAX_RESULT_ROWS``);
* **over time**: accuracy per version per time bucket;
* **breakdown**: error rate by one numeric feature in quantile bins;
* **discovery**: failing slices of v1 over 24 features, level 3 (engine passes);
* **pages**: the first table page sorted by score, the next, the previous, and a jump to the
  middle (keyset pagination);
* **labels join**: a labels file (each labelled request's label, arriving an hour later; made
  here by DuckDB from the log) read by Spark and joined on the cluster;
* **checks: reference**, **checks: share** and **checks: findings**: the checks' reference
  profile of the log's first 20% of time; the log's share pulled as ``check --engine`` pulls it
  (whole requests by the hash a local check uses, about ``--share-rows`` rows); then the check
  itself, as ``check --engine`` runs it: the per-column counts per (day, group) cell of the whole
  log on the cluster, the distribution tests' histograms, row scans, triage and the labels'
  arrival on the share, on this machine;
* **sample**: a 100,000-row uniform sample pulled for the passes that need rows.

Run: ``.venv/bin/python tests/bench/bench_spark.py [--rows 10000000 | --folder DIR] [--skip discovery ...]
[--statements] [--scratch DIR] [--driver-memory 2g]`` (``--folder`` reads the 100M-row log of ``workstation_100m.py``, ten Parquet
parts, writing it there first when the folder does not hold all of them, and never writes
anything else there; ``--statements`` prints each statement with its time and the server's CPU as it ends, so a
pass stopped midway still shows what it finished, and each pass's totals per kind; ``--scratch``
keeps the labels file and the sample in DIR, the labels reused by a later run on the same log,
instead of the server's temporary folder; ``--skip``
leaves out a group of passes, to measure the others at a size where that group would not end in
the time at hand; the table lists it as skipped). Not run by ``make test``
(pytest skips this folder); it needs Java 17 and the ``spark`` extra.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import REPO, ensure_log, markdown_table, megabytes, peak_rss_mb
from workstation_100m import ROWS as FOLDER_ROWS, generate, part_paths
from analysis.engine import DEFAULT_SAMPLE_ROWS
from analysis.scope import Scope

CLIENT_BUDGET_MB = 1024
SAMPLE_ROWS = 100_000
PAGE_ROWS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--folder", type=Path,
                        help="read workstation_100m.py's 100M-row log, the Parquet parts in FOLDER (written "
                             "there first when incomplete, about 12 GB), instead of the one-file --rows log")
    parser.add_argument("--cores", type=int, default=2, help="local cores of the Spark server")
    parser.add_argument("--driver-memory", default="2g",
                        help="the server's heap (local mode: its only JVM); about 0.6 of it holds cached tables, "
                             "such as discovery's scratch table of codes")
    parser.add_argument("--skip", action="append", default=[], metavar="PASS",
                        help="leave out the passes whose group starts with PASS (e.g. 'discovery', 'checks', 'pages'), "
                             "to measure the others at a size where it would not finish in time; repeatable")
    parser.add_argument("--statements", action="store_true",
                        help="also list each pass's statements as they end (wall and server CPU), then how many of each kind")
    parser.add_argument("--share-rows", type=int, default=DEFAULT_SAMPLE_ROWS,
                        help="the checks' share size, as check --engine --sample-rows N pulls it (default %(default)s)")
    parser.add_argument("--scratch", type=Path,
                        help="folder for the labels file (kept and reused by later runs on the same log) and the "
                             "sample, instead of the server's temporary folder; never the log's --folder")
    args = parser.parse_args()
    parts, rows = log_parts(args.folder, args.rows)
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-spark-") as folder:
        scratch = scratch_folder(args.scratch, args.folder, Path(folder))
        from tests.spark.conftest import group_cpu_seconds, launch_server

        started = time.perf_counter()
        server = launch_server(Path(folder), cores=args.cores, driver_memory=args.driver_memory)
        try:
            url = server.url()
            print(f"server listening after {time.perf_counter() - started:.0f} s", flush=True)
            table = run_passes(url, parts, scratch, tuple(args.skip), args.statements,
                               lambda: group_cpu_seconds(server.process.pid), args.share_rows)
        finally:
            server.stop()
    size = sum(p.stat().st_size for p in parts) / 2**20
    print(f"\n{rows:,} rows x 30 columns ({size:,.0f} MB Parquet in {len(parts)} file(s)) on "
          f"local[{args.cores}], load average at the end of the run {os.getloadavg()[0]:.1f}\n")
    print(markdown_table(["pass", "time", "server CPU", "rows to the client", "client peak"], table))
    peak = peak_rss_mb()
    print(f"\nclient peak {megabytes(peak)}: {'within' if peak < CLIENT_BUDGET_MB else 'OVER'} the 1 GB budget")


def scratch_folder(scratch: Path | None, log_folder: Path | None, temporary: Path) -> Path:
    """Where the run writes its files: ``scratch`` (made if missing) or the temporary folder;
    refused when it is the log's folder, which other runs read and a file there would join."""
    if scratch is None:
        return temporary
    if log_folder is not None and scratch.resolve() == log_folder.resolve():
        raise SystemExit(f"--scratch {scratch} is the log's folder: name another one")
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch


def log_parts(folder: Path | None, rows: int) -> tuple[list[Path], int]:
    """The log's Parquet files and its rows: with ``folder``, the ten parts of the 100M-row log
    (the one the workstation benchmark opens, so both read the same rows; a single 12 GB file
    would be one write of hours under load), else the one cached ``rows``-row file."""
    if folder is None:
        return [ensure_log(rows)], rows
    if not all(p.exists() for p in part_paths(folder)):
        print(f"writing the {FOLDER_ROWS:,}-row log to {folder} took {generate(folder):.0f} s", flush=True)
    return part_paths(folder), FOLDER_ROWS


def run_passes(url: str, log: list[Path], folder: Path, skipped: tuple[str, ...] = (),
               statements: bool = False, server_cpu=lambda: 0.0,
               share_rows: int = DEFAULT_SAMPLE_ROWS) -> list[list[str]]:
    """Each pass once, in order, with its time, rows moved and the peak after it (but those
    whose name starts with one of ``skipped``, and the passes that read their result); with
    ``statements``, each pass's statements too (:func:`timed_statements`). ``server_cpu``: the
    server's CPU seconds so far, so that each pass's own is shown (less swayed than its wall
    time by what else the shared machine runs). ``share_rows``: the checks' share size."""
    import analysis.engine.spark_store as spark_store
    from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
    from analysis.engine.pages import open_keyset_table, page_after, page_at, page_before
    from analysis.engine.sample import pull_rows
    from app.cli_engine import RowPuller
    from analysis.engine.spark_log import join_spark_labels, load_spark_log
    from analysis.triage.reference_profile import profile_reference, reference_window
    from analysis.metrics.per_version import metric_over_time, overall_metrics
    from analysis.slicing.breakdown import breakdown_by
    from analysis.window import TableSpec

    moved = [0]
    original = spark_store.SparkResult.arrow

    def counted(result):
        if result._table is None:
            moved[0] += original(result).num_rows
        return original(result)

    spark_store.SparkResult.arrow = counted
    sent = timed_statements(spark_store, server_cpu) if statements else None
    store = spark_store.SparkStore(url)
    rows: list[list[str]] = []
    state: dict = {}

    def left_out(name: str) -> bool:
        return name.split(":")[0].startswith(skipped)  # a whole group ("pages", "checks"): its passes chain

    def timed(name: str, work, pulled=lambda result: 0) -> None:
        """``pulled``: rows a pass fetched past ``SparkResult`` (a sample comes as one Arrow table)."""
        if left_out(name):
            rows.append([name, "skipped", "", "", ""])
            return
        moved[0] = 0
        if sent is not None:
            sent.clear()
        started, cpu = time.perf_counter(), server_cpu()
        state[name] = work()
        moved[0] += pulled(state[name])
        rows.append([name, f"{time.perf_counter() - started:.1f} s", f"{server_cpu() - cpu:.1f} s", f"{moved[0]:,}",
                     megabytes(peak_rss_mb())])
        print(" | ".join(rows[-1]), flush=True)
        if sent is not None:
            print_statements(sent)

    try:
        timed("open", lambda: load_spark_log(store, [str(p) for p in log]))
        loaded = state["open"]
        dataset, roles = loaded.dataset, loaded.roles
        timed("metrics", lambda: overall_metrics(Scope(store, dataset, roles), with_auc=False))
        timed("auc", lambda: overall_metrics(Scope(store, dataset, roles)))
        timed("over time", lambda: metric_over_time(Scope(store, dataset, roles), "accuracy"))
        timed("breakdown", lambda: breakdown_by(Scope(store, dataset, roles), "f_num_00", "error_rate"))
        timed("discovery", lambda: failing_slices(Scope(store, dataset, roles), DiscoverySettings(version="v1")))
        spec = TableSpec(dataset.view, tuple(c.name for c in dataset.columns), None, (("score", False),))
        timed("pages: count", lambda: open_keyset_table(store, dataset, spec))
        table = state.get("pages: count")
        timed("pages: first", lambda: page_after(store, table, None, 0, PAGE_ROWS))
        first = state.get("pages: first")
        timed("pages: next", lambda: page_after(store, table, first.last, first.page.stop, PAGE_ROWS))
        second = state.get("pages: next")
        timed("pages: previous", lambda: page_before(store, table, second.first, second.page.start, PAGE_ROWS))
        timed("pages: jump to middle", lambda: page_at(store, table, table.row_count // 2, PAGE_ROWS))
        labels = None if left_out("labels join") else labels_file(log, folder)  # 90M labels at 100M rows: minutes
        timed("labels join", lambda: join_spark_labels(store, dataset, roles, [str(labels)]))
        timed("checks: reference", lambda: profile_reference(Scope(store, dataset, roles,
                                                                   reference_window(Scope(store, dataset, roles)))))
        timed("checks: share", lambda: RowPuller(store, str(folder), share_rows).share_of(dataset, roles),
              pulled=lambda shared: shared[0].rows)
        timed("checks: findings", lambda: checked_on_share(store, dataset, state["checks: reference"],
                                                           *state["checks: share"]))
        timed("sample", lambda: pull_rows(store, dataset, folder, SAMPLE_ROWS), pulled=lambda sample: sample.rows)
    finally:
        store.close()
    return rows


def timed_statements(spark_store, server_cpu) -> list[tuple[float, float, str]]:
    """Record each statement Sleuth sends (its text's start) with the wall time and the server's
    CPU seconds (``server_cpu``'s growth) from sending it to its last row, around
    ``SparkStore.job_cursor`` (one per statement; its text from ``SparkStore.result``, or
    ``frame`` for the sample's DataFrame); returns the record."""
    import contextlib

    sent: list[tuple[float, float, str]] = []
    cursor = spark_store.SparkStore.job_cursor
    current: list[str] = []

    def recorded(method):
        def framed(store, sql):
            current.append(getattr(sql, "text", sql))
            return method(store, sql)
        return framed

    @contextlib.contextmanager
    def timed_cursor(store, *args):
        current.clear()
        started, cpu = time.perf_counter(), server_cpu()
        with cursor(store, *args) as inner:
            yield inner
        sent.append((time.perf_counter() - started, server_cpu() - cpu, current[0] if current else "?"))
        seconds, cpu, text = sent[-1]
        print(f"    {seconds:7.1f} s {cpu:7.1f} CPU-s  {' '.join(text.split())[:100]}", flush=True)

    spark_store.SparkStore.result = recorded(spark_store.SparkStore.result)
    spark_store.SparkStore.frame = recorded(spark_store.SparkStore.frame)
    spark_store.SparkStore.job_cursor = timed_cursor
    return sent


def print_statements(sent: list[tuple[float, float, str]]) -> None:
    """The pass's statements grouped by their first 60 characters, the costliest first: how
    many, their wall time (the longest one's too) and the server's CPU seconds."""
    kinds: dict[str, list[tuple[float, float]]] = {}
    for seconds, cpu, text in sent:
        kinds.setdefault(" ".join(text.split())[:60], []).append((seconds, cpu))
    print(f"  {len(sent)} statements")
    for kind, times in sorted(kinds.items(), key=lambda item: -sum(t for t, _ in item[1])):
        walls = [t for t, _ in times]
        print(f"  {len(times):4d} x {sum(walls):7.1f} s (max {max(walls):.1f} s) {sum(c for _, c in times):7.1f} CPU-s  "
              f"{kind}")


def labels_file(log: list[Path], folder: Path) -> Path:
    """The log's labels as a separate file, as a review tool sends them: id, label, arrival.
    Named after the log's files and reused when there (90M labels take minutes to write at 100M
    rows); written under a temporary name and renamed, so an interrupted write is not reused."""
    import duckdb

    labels = folder / f"labels-{log[0].parent.name}-{log[0].stem}-{len(log)}.parquet"
    if labels.exists():
        return labels
    partial = labels.with_suffix(".partial")
    started = time.perf_counter()
    duckdb.execute(f"COPY (SELECT request_id AS request, label, timestamp + INTERVAL 1 HOUR AS arrived_at "
                   f"FROM read_parquet({[str(p) for p in log]!r}) WHERE label IS NOT NULL) "
                   f"TO '{partial}' (FORMAT parquet)")
    partial.rename(labels)
    print(f"wrote {labels} in {time.perf_counter() - started:.0f} s", flush=True)
    return labels


def checked_on_share(store, dataset, profile, pulled, share):
    """The check of the whole table against ``profile`` as ``check --engine`` runs it: its cells
    counted on the cluster, the rest on the ``pulled`` rows (the table's ``share``), opened by a
    DuckDB store of this process (the findings, not the client's other work, are kept)."""
    from analysis.data.open_log import load_log
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.triage.check_report import check_against

    local = Store(memory_limit=APP_MEMORY_LIMIT)
    try:
        loaded = load_log(local, [str(pulled.path)], check=False)
        return check_against(Scope(local, loaded.dataset, loaded.roles), profile,
                             counted=Scope(store, dataset, loaded.roles), pulled_share=share).findings
    finally:
        local.close()


if __name__ == "__main__":
    os.chdir(REPO)
    main()
