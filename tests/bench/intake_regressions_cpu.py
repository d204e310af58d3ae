"""CPU seconds of the 200k-row demo's intake without findings (``find_failures``) with and
without its regression groups (:mod:`analysis.queue.regressions`), in alternating turns of one
process each, and their medians and spread: what version-aware grouping costs per intake::

    python tests/bench/intake_regressions_cpu.py DEMO_DIR [TURNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def one_turn(log: str, with_regressions: bool) -> float:
    """One intake's CPU seconds in this process (a fresh one per turn: no warm cache is shared)."""
    import analysis.queue.grouping as grouping
    from analysis.data.open_log import load_log
    from analysis.queue.intake import find_failures
    from analysis.scope import Scope
    from analysis.store import Store

    if not with_regressions:
        grouping.regressions = lambda *args, **kwargs: []
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [log], check=False)
    start = time.process_time()
    find_failures(Scope(store, loaded.dataset, loaded.roles))
    return time.process_time() - start


def main(demo_dir: Path, turns: int) -> None:
    from analysis.demo.generate import generate_demo

    done = demo_dir / "done"
    if not done.exists():
        demo_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(str(generate_demo(demo_dir, rows=200_000, seed=7).log))
    spent: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(turns):
        for with_regressions in (False, True):
            run = subprocess.run([sys.executable, __file__, "--turn", done.read_text().strip(), str(with_regressions)],
                                 capture_output=True, text=True, check=True)
            spent[with_regressions].append(float(run.stdout.split()[-1]))
    for with_regressions, seconds in spent.items():
        print(f"{'with' if with_regressions else 'without'} regressions: median {statistics.median(seconds):.2f} "
              f"CPU-s (min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} turns)")


if __name__ == "__main__":
    if sys.argv[1] == "--turn":
        print(one_turn(sys.argv[2], sys.argv[3] == "True"))
    else:
        main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3)
