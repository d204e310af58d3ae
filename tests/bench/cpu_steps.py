"""CPU seconds of the open's and the metrics' steps, for this tree or another checkout.

On a machine shared with other work, wall time grows with the load while the CPU a process
uses barely moves, so a change is judged by CPU taken in turns with the code before it:

* ``split PARTS`` cuts the cached 10M-row log into PARTS Parquet files (a many-file log, as
  the 100M workstation log is ten files), into ``SLEUTH_BENCH_CACHE/parts-PARTS``;
* ``open GLOB``: ``load_log`` (no checks) and the table's first page, with the CPU of this
  process and of its children (the file probe's child) and of ``profile_columns`` (roles);
* ``auc LOG``: ``overall_metrics`` with ROC AUC, the CPU until the metrics and until AUC (the
  process's, and the calling thread's own: ``*_own_cpu_s``), after the load's own
  (``load_cpu_s``, with the file probe's child: the rest of the path from opening to AUC);
* ``compare LOG``: ``run_comparison`` of v1 and v2 on the shadow log (``bench_compare.py``
  builds it), the CPU until the verdict and until the whole report;
* ``verdict LOG``: ``load_log`` of the shadow log and ``run_comparison`` until its verdict is
  handed over, the whole of what ``bench_compare.py`` times as the verdict, in CPU: this
  process's and its children's (the file probe) from before the load (``verdict_cpu_s``),
  and the load's share (``load_cpu_s``); the rest of the report is not computed;
* ``loss LOG``: the sum and count of the binary log loss's per-row expression alone over
  the log (its share of the metrics pass, which the pass's own CPU spread hides);
* ``checks LOG``: ``bench_checks.py``'s route (reference profile of the first 10% of time,
  checks, triage), the CPU of the three and the wall time of each stage.

``--tree DIR`` imports ``analysis`` from DIR (a ``git archive main | tar -x -C DIR`` copy) to
measure the code before a change. Each run is one process and prints one JSON line; run the
trees in turns, three times each, and compare the medians:
``for i in 1 2 3; do for t in /tmp/main .; do .venv/bin/python tests/bench/cpu_steps.py --tree $t open 'DIR/*.parquet'; done; done``
Run it from a folder outside both trees (``cd /tmp``, the paths absolute): a tree whose probe
child is started without ``-P`` imports the working directory's ``analysis`` in that child.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import sys
import time
from pathlib import Path


def _cpu() -> tuple[float, float]:
    """(this process, its finished children) user + system CPU seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def split(parts: int) -> None:
    import duckdb
    from common import CACHE_DIR, DEFAULT_ROWS, ensure_log

    source, folder = ensure_log(), CACHE_DIR / f"parts-{parts}"
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    size = DEFAULT_ROWS // parts
    for k in range(parts):
        con.execute(f"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet('{source}', file_row_number=true) "
                    f"WHERE file_row_number >= {k * size} AND file_row_number < {(k + 1) * size} "
                    f"ORDER BY file_row_number) TO '{folder / f'part-{k:02d}.parquet'}' (FORMAT parquet)")
    print(folder)


def open_steps(pattern: str) -> dict:
    import analysis.data.open_log as open_log
    from analysis.data.open_log import load_log
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.window import TableSpec, fetch_window, prepare_table

    profiled = {}
    profile_columns = open_log.profile_columns

    def timed_profile(*args, **kwargs):
        started = _cpu()[0]
        try:
            return profile_columns(*args, **kwargs)
        finally:
            profiled["profile_columns_cpu_s"] = _cpu()[0] - started

    open_log.profile_columns = timed_profile
    store = Store(memory_limit=APP_MEMORY_LIMIT)  # as the window runs it
    own, children = _cpu()
    loaded = load_log(store, sorted(glob.glob(pattern)), check=False)
    loaded_own, loaded_children = _cpu()
    window = prepare_table(store, TableSpec(loaded.dataset.view, tuple(loaded.dataset.column_names)))
    assert len(fetch_window(store, window, 0, 200)) == 200
    return {"load_cpu_s": loaded_own - own, "probe_child_cpu_s": loaded_children - children,
            "page_cpu_s": _cpu()[0] - loaded_own, **profiled, "label": loaded.roles.label}


def auc_steps(log: str) -> dict:
    from analysis.data.open_log import load_log
    from analysis.metrics.per_version import overall_metrics
    from analysis.scope import Scope
    from analysis.store import Store

    opened = sum(_cpu())
    store = Store()  # as bench_open's headless route runs it
    loaded = load_log(store, [log], check=False)
    marks, started, own = {"load_cpu_s": sum(_cpu()) - opened}, time.process_time(), time.thread_time()

    def shown(_results) -> None:
        marks["metrics_cpu_s"] = time.process_time() - started
        marks["metrics_own_cpu_s"] = time.thread_time() - own

    results = overall_metrics(Scope(store, loaded.dataset, loaded.roles), partial=shown)
    # "own": the calling thread's CPU alone (the job's thread in the window), the chain that
    # AUC's wall time follows when DuckDB's workers and the counting thread keep up beside it
    return {**marks, "auc_cpu_s": time.process_time() - started, "auc_own_cpu_s": time.thread_time() - own,
            "auc": {r.version: r.metrics["roc_auc"] for r in results}}


def compare_steps(log: str) -> dict:
    from analysis.compare.report import run_comparison
    from analysis.data.open_log import load_log
    from analysis.scope import Scope
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)  # as `sleuth compare` runs it
    loaded = load_log(store, [log], check=False)
    marks, started = {}, time.process_time()
    report = run_comparison(Scope(store, loaded.dataset, loaded.roles), "v1", "v2",
                            partial=lambda _verdict: marks.setdefault("verdict_cpu_s", time.process_time() - started)).report
    return {**marks, "report_cpu_s": time.process_time() - started, "flips": report["flips"]["negative"],
            "top_slice": report["regressed_slices"][0]["predicate"] if report["regressed_slices"] else ""}


class _Verdict(Exception):
    """Raised by the verdict step's ``partial`` to stop the comparison once the verdict is in."""


def verdict_steps(log: str) -> dict:
    from analysis.compare.report import run_comparison
    from analysis.data.open_log import load_log
    from analysis.scope import Scope
    from analysis.store import APP_MEMORY_LIMIT, Store

    def stop(result) -> None:
        raise _Verdict(result.report["flips"]["negative"])

    started = sum(_cpu())
    store = Store(memory_limit=APP_MEMORY_LIMIT)  # as `sleuth compare` runs it
    loaded = load_log(store, [log], check=False)
    loaded_at = sum(_cpu())
    try:
        run_comparison(Scope(store, loaded.dataset, loaded.roles), "v1", "v2", partial=stop)
    except _Verdict as verdict:
        return {"verdict_cpu_s": sum(_cpu()) - started, "load_cpu_s": loaded_at - started,
                "flips": verdict.args[0]}
    raise AssertionError("run_comparison did not hand over a verdict")


def loss_steps(log: str) -> dict:
    from analysis.data.open_log import load_log
    from analysis.metrics.outcomes import outcomes
    from analysis.query import ident
    from analysis.store import Store

    store = Store()
    loaded = load_log(store, [log], check=False)
    loss = outcomes(loaded.roles, loaded.dataset.columns).log_loss
    started = time.process_time()
    total, rows = store.rows(f"SELECT sum({loss}), count({loss}) FROM {ident(loaded.dataset.view)}")[0]
    return {"loss_cpu_s": time.process_time() - started, "loss_sum": total, "loss_rows": rows}


def checks_steps(log: str) -> dict:
    from bench_checks import sleuth

    return sleuth(Path(log))


STEPS = {"open": open_steps, "auc": auc_steps, "compare": compare_steps, "checks": checks_steps, "loss": loss_steps,
         "verdict": verdict_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("step", choices=("split", *STEPS))
    parser.add_argument("target", help="PARTS for split, a glob for open, a log for auc, loss, compare, verdict and checks")
    args = parser.parse_args()
    # the tree's own benchmark routes when it has them (``checks`` runs bench_checks' route, whose
    # calls change with the code), and ``analysis`` bound to the tree now: the bench modules'
    # ``common`` puts its checkout first on the path, so a later first import of ``analysis``
    # read this checkout's code whatever the tree (every tree measured the same code)
    bench = args.tree.resolve() / "tests" / "bench"
    sys.path[:0] = [str(args.tree.resolve()), str(bench if (bench / "bench_checks.py").exists()
                                                  else Path(__file__).resolve().parent)]
    import analysis
    assert Path(analysis.__file__).resolve().parents[1] == args.tree.resolve(), analysis.__file__
    if args.step == "split":
        split(int(args.target))
        return
    result = STEPS[args.step](args.target)
    print(json.dumps({"tree": str(args.tree), **{k: round(v, 3) if isinstance(v, float) else v
                                                  for k, v in result.items()}}))


if __name__ == "__main__":
    main()
