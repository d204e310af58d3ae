"""Where does the GUI thread's time go while a person works on a log?

``bench_responsiveness.py`` says *how long* the event loop was blocked in each step; this script
says *where*. It runs that benchmark's window route under py-spy (a sampling profiler that
reads the process from outside, so it sees a thread that holds the interpreter lock in C code
too) with ``--gil``: only the thread holding the interpreter lock is sampled, so every sample
is time in which the GUI thread either ran itself or was kept waiting by a worker holding the
lock. It then prints, for the GUI thread and for the workers separately, the stacks that took
the most samples, keyed by their innermost frames in Sleuth's own code.

A stall is work on the GUI thread (painting, building a result's widgets, a query run inline)
or a worker holding the lock in Python (a pandas or numpy pass between two DuckDB calls).
Samples are counted, not timed: on a loaded machine (see ``uptime``) the scheduler adds gaps
no profile shows, so read the blocked times from ``bench_responsiveness.py`` on a quiet
machine and the places from here.

Run: ``.venv/bin/python tests/bench/profile_stalls.py [--rows 10000000] [--top 20]``
(needs ``py-spy``: ``.venv/bin/pip install py-spy``; the bench extra installs it).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SAMPLES_PER_SECOND = 100
PROJECT_FRAME = re.compile(r"\((app|views|analysis)/")
HERE = Path(__file__).resolve().parent


def profile(rows: int, raw_path: Path) -> None:
    """Run the responsiveness benchmark once under py-spy, writing raw collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--subprocesses", "--threads", "--gil", "--format", "raw",
               "-r", str(SAMPLES_PER_SECOND), "-o", str(raw_path), "--",
               sys.executable, str(HERE / "bench_responsiveness.py"), "--rows", str(rows), "--repeats", "1"]
    subprocess.run(command, check=True)


def hotspots(raw_path: Path) -> dict[str, collections.Counter]:
    """Samples per stack of the window's process, split into the GUI thread and the workers.

    A stack is keyed by its three innermost frames in Sleuth's code plus the leaf frame;
    samples spent importing modules are left out (they are start-up, not interaction).
    """
    found = {"GUI thread": collections.Counter(), "workers": collections.Counter()}
    for line in raw_path.read_text().splitlines():
        if "--child" not in line:
            continue
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        starts = [i for i, frame in enumerate(frames) if frame.startswith("thread")]
        if not starts:
            continue
        thread, frames = frames[starts[0]], frames[starts[0] + 1:]
        if any("_bootstrap" in frame for frame in frames):
            continue
        own = [frame for frame in frames if PROJECT_FRAME.search(frame)]
        key = " <- ".join(reversed(own[-3:])) or "(outside Sleuth's code)"
        key += f"  [leaf: {frames[-1] if frames else '?'}]"
        found["GUI thread" if "MainThread" in thread else "workers"][key] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        raw_path = Path(folder) / "stacks.txt"
        profile(args.rows, raw_path)
        for where, counter in hotspots(raw_path).items():
            total = sum(counter.values())
            print(f"\n### {where}: {total / SAMPLES_PER_SECOND:.2f} s holding the interpreter lock\n")
            for key, count in counter.most_common(args.top):
                print(f"- {count / SAMPLES_PER_SECOND * 1000:,.0f} ms  {key}")


if __name__ == "__main__":
    main()
