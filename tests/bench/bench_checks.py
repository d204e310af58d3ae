"""The full input/output check of the 10M-row log against a reference of its first 10% of time
(1M rows): ``profile_reference`` then ``run_checks``, time and peak memory of a fresh process."""

from __future__ import annotations

import time
from pathlib import Path

from common import ensure_log, megabytes, parse_args, repeat_route, run_child_if_asked, seconds

REFERENCE_SHARE = 0.1


def sleuth(log: Path) -> dict:
    from analysis.checks import run_checks
    from analysis.intake import load_log
    from analysis.metrics import time_span, timestamp_expr
    from analysis.profile import profile_reference
    from analysis.query import Sql
    from analysis.store import Store

    store = Store()
    loaded = load_log(store, [str(log)], check=False)
    dataset, roles = loaded.dataset, loaded.roles
    first, last = time_span(store, dataset, roles)
    window = Sql(f"{timestamp_expr(dataset, roles)} < ?", (first + (last - first) * REFERENCE_SHARE,))
    started = time.perf_counter()
    profile = profile_reference(store, dataset, roles, window)
    profiled = time.perf_counter()
    symptoms = run_checks(store, dataset, roles, profile)
    done = time.perf_counter()
    return {"reference_rows": profile.rows, "profile_s": profiled - started, "checks_s": done - profiled,
            "total_s": done - started, "symptoms": len(symptoms)}


if __name__ == "__main__" and not run_child_if_asked({"sleuth": sleuth}):
    args = parse_args(__doc__)
    result = repeat_route(__file__, "sleuth", ensure_log(args.rows), args.repeats)
    print(f"reference rows {result['reference_rows']:,}; profile {seconds(result['profile_s'])}, "
          f"checks {seconds(result['checks_s'])}, total {seconds(result['total_s'])}, "
          f"peak memory {megabytes(result['peak_rss_mb'])}, {result['symptoms']} symptom(s)")
