"""Run every ``bench_*.py`` of this folder, one after another, and print their tables.

Each benchmark runs as its own process (and starts its routes in processes of their own),
so one benchmark's memory never weighs on the next. Arguments are passed to every script
(``--rows 1000000 --repeats 1`` for a quick look). A benchmark that fails is reported and
the others still run; the exit status says whether all of them succeeded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    """Every benchmark script here, in name order (others add theirs to this folder)."""
    return sorted(HERE.glob("bench_*.py"))


def main(arguments: list[str]) -> int:
    failed = []
    for script in benchmarks():
        print(f"<!-- {script.name} -->", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script), *arguments], cwd=HERE.parents[1])
        print(f"\n<!-- {script.name}: {time.perf_counter() - started:.0f} s -->\n", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
