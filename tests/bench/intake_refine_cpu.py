"""CPU seconds of the 200k-row demo's slice-only intake (``find_failures`` without findings) and
of the refinement of its slices' cuts within it, and a JSON of its groups and their evidence.

Run it in turns for this tree and another checkout's ``analysis`` (``PYTHONPATH=OTHER``) and
compare the JSONs byte for byte: the same groups and evidence, and the CPU each costs::

    python tests/bench/intake_refine_cpu.py DEMO_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import analysis.queue.grouping as grouping
from analysis.data.open_log import load_log
from analysis.demo.generate import generate_demo
from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.intake import find_failures
from analysis.scope import Scope
from analysis.store import Store


def _timed_refinement(spent: dict) -> None:
    """Count the CPU of grouping's refinement call, whichever name this tree gives it."""
    for name in ("refine_cuts", "refine_each"):
        if hasattr(grouping, name):
            inner = getattr(grouping, name)

            def timed(*args, _inner=inner, **kwargs):
                start = time.process_time()
                try:
                    return _inner(*args, **kwargs)
                finally:
                    spent["refine"] += time.process_time() - start
            setattr(grouping, name, timed)


def main(demo_dir: Path, out: Path) -> None:
    done = demo_dir / "done"
    if not done.exists():
        demo_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(str(generate_demo(demo_dir, rows=200_000, seed=7).log))
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [done.read_text()], check=False)
    spent = {"refine": 0.0}
    _timed_refinement(spent)
    start = time.process_time()
    found = find_failures(Scope(store, loaded.dataset, loaded.roles), discoveries=DiscoveryCache())
    cpu = time.process_time() - start
    groups = [{"key": g.key, "rows": list(g.rows), "evidence": g.evidence} for g in found.grouped]
    out.write_text(json.dumps(groups, default=str, indent=1, sort_keys=True))
    print(f"intake {cpu:.2f} CPU-s, refinement {spent['refine']:.2f} CPU-s, {len(groups)} groups")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
