"""Write ``tests/cpu_weights.json`` (the scheduler's weight table) from a run's CPU figures.

``python -m tests.cpu_weights LOG [--set UNIT=SECONDS ...]`` reads the "CPU seconds by file"
section that ``pytest -p tests.cpu_time`` prints into LOG. ``--set`` gives a unit the plugin
cannot measure: the Spark folder's server runs in a JVM outside the worker's process, so its
weight is the wall seconds the folder kept its worker busy (``--durations`` of its tests), or its
files' CPU plus the server's, which the server writes to ``server-cpu.txt`` in the run's
``spark0`` folder (``tests/spark/conftest.py``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tests.scheduling import WEIGHTS_FILE

_SECTION = re.compile(r"CPU seconds by file \(total ([\d.]+) s\)")
_ROW = re.compile(r"^\s*([\d.]+)\s+(\S+\.py)\s*$")


def parse_cpu_section(text: str) -> dict[str, float]:
    """File -> CPU seconds from the plugin's section of a pytest log (the last one, if several)."""
    starts = [m.end() for m in _SECTION.finditer(text)]
    if not starts:
        raise ValueError("no 'CPU seconds by file' section: run pytest with -p tests.cpu_time")
    seconds = {}
    for line in text[starts[-1]:].splitlines()[1:]:
        row = _ROW.match(line)
        if not row:
            break
        seconds[row.group(2)] = float(row.group(1))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="UNIT=SECONDS")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = parser.parse_args(argv)
    seconds = parse_cpu_section(args.log.read_text(errors="replace"))
    by_hand = {}
    for item in args.set:
        unit, value = item.split("=", 1)
        by_hand[unit] = float(value)
        seconds = {path: s for path, s in seconds.items() if not path.startswith(unit)} | {unit: float(value)}
    table = {"measured_by": "pytest -q -n 2 --dist loadfile -p tests.cpu_time (CPU seconds per file)",
             "set_by_hand": by_hand,
             "seconds": {path: round(s, 1) for path, s in sorted(seconds.items(), key=lambda kv: -kv[1])}}
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(seconds)} units, {sum(seconds.values()):.0f} s, written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
