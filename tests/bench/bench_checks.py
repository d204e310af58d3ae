"""The full input/output check of the 10M-row log against a reference of its first 10% of time
(1M rows): ``profile_reference``, ``run_checks`` and ``triage``, time and peak memory of a fresh
process. Budget: under 15 s and under 2 GB.

Besides wall time per stage, the route reports the CPU seconds it used (all DuckDB threads), in
all and per stage (``profile_cpu_s``, ``checks_cpu_s``, ``triage_cpu_s``):
on a machine shared with other work, wall time grows with the load while CPU time barely
moves, so CPU time is the figure to compare between runs taken at different loads.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import (
    budget_verdict, ensure_log, load_range, machine_note, median_spread, medians, megabytes, parse_args,
    run_child_if_asked, runs_in_turns, seconds,
)
from analysis.scope import Scope

REFERENCE_SHARE = 0.1
BUDGET_S = 15.0
MEMORY_BUDGET_MB = 2048


def sleuth(log: Path) -> dict:
    from analysis.triage.checks import run_checks
    from analysis.data.open_log import load_log
    from analysis.data.time import time_span, timestamp_expr
    from analysis.triage.reference_profile import profile_reference
    from analysis.query import Sql
    from analysis.store import Store
    from analysis.triage.ranking import triage
    from analysis.triage.row_scan import FirstRows

    store = Store()
    loaded = load_log(store, [str(log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    first, last = time_span(Scope(store, dataset, roles))
    window = Sql(f"{timestamp_expr(dataset, roles)} < ?", (first + (last - first) * REFERENCE_SHARE,))
    started, cpu = time.perf_counter(), time.process_time()
    profile = profile_reference(Scope(store, dataset, roles, window))
    profiled, profiled_cpu = time.perf_counter(), time.process_time()
    with FirstRows(Scope(store, dataset, roles)) as first_rows:  # as sleuth check shares it
        symptoms = run_checks(Scope(store, dataset, roles), profile, first_rows=first_rows)
        checked, checked_cpu = time.perf_counter(), time.process_time()
        findings = triage(Scope(store, dataset, roles), symptoms, profile=profile, first_rows=first_rows)
        done = time.perf_counter()
    return {"reference_rows": profile.rows, "profile_s": profiled - started, "checks_s": checked - profiled,
            "triage_s": done - checked, "total_s": done - started, "cpu_s": time.process_time() - cpu,
            "profile_cpu_s": profiled_cpu - cpu, "checks_cpu_s": checked_cpu - profiled_cpu,
            "triage_cpu_s": time.process_time() - checked_cpu, "symptoms": len(symptoms), "findings": len(findings)}


if __name__ == "__main__" and not run_child_if_asked({"sleuth": sleuth}):
    args = parse_args(__doc__)
    runs = runs_in_turns(__file__, ("sleuth",), ensure_log(args.rows), args.repeats)["sleuth"]
    result = medians(runs)
    print(machine_note(args.rows, args.repeats))
    print(f"reference rows {result['reference_rows']:,.0f}; profile {seconds(result['profile_s'])}, "
          f"checks {seconds(result['checks_s'])}, triage {seconds(result['triage_s'])}, "
          f"total {median_spread(runs, 'total_s', seconds)} (CPU {median_spread(runs, 'cpu_s', seconds)}), "
          f"peak memory {median_spread(runs, 'peak_rss_mb', megabytes)}; "
          f"{result['symptoms']:.0f} symptom(s), {result['findings']:.0f} finding(s); {load_range(runs)}")
    print(f"Budgets, judged on every run: total < {BUDGET_S:.0f} s: {budget_verdict(runs, 'total_s', BUDGET_S)}; "
          f"peak < {MEMORY_BUDGET_MB} MB: {budget_verdict(runs, 'peak_rss_mb', MEMORY_BUDGET_MB)}.")
