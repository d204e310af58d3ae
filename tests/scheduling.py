"""How ``pytest -n 2 --dist loadfile`` shares the test files between its workers.

xdist's file scheduling gives each worker whole files, so a file's module fixtures are built
once, and hands the next file to whichever worker runs out first. Two things it cannot know
are added here:

- Files that share a costly session fixture run on one worker, so it is built once per run
  and not once per worker: every file under ``tests/spark/`` talks to the local Spark Connect
  server, whose JVM costs more CPU to start than most test files cost to run; the files under
  ``tests/realdata/`` read one corpus (7 CPU-s to build) and the same checks of its logs. (The
  queue's grouping, intake and CLI tests, which read the same checks of the demo months, were
  one unit for a while; in that order a Qt test on the same worker crashed, twice in two runs,
  so they are separate files again until the leak behind it is found.)
- What each unit costs. xdist orders files by their number of tests, but one test on the 200k
  demo costs more than fifty on a small frame. The units are handed out heaviest first, by the
  seconds :data:`WEIGHTS_FILE` records (longest-processing-time order): the last units handed
  out are the small ones, so the two workers end together instead of one idling while the
  other finishes a heavy file it took last. A file missing from the table (new since it was
  measured) weighs the median of the known files.

Refresh the table after a change to the suite's cost: run
``pytest -q -n 2 --dist loadfile -p tests.cpu_time > cpu.log`` and ``python -m tests.cpu_weights cpu.log``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from xdist.scheduler import LoadFileScheduling

SHARED_SESSION_UNITS: dict[str, tuple[str, ...]] = {
    "tests/spark/": ("tests/spark/",),
    "tests/realdata/": ("tests/realdata/",),
}
"""Units of work whose files need one session resource, by name: each holds folders (ending in
``/``) and files; a file in none of them is a unit of its own."""


def _member(path: str, members: tuple[str, ...]) -> bool:
    return any(path.startswith(m) if m.endswith("/") else path == m for m in members)


def unit_of(path: str) -> str:
    """The unit a test file is scheduled in: its shared unit's name, else the file itself."""
    return next((name for name, members in SHARED_SESSION_UNITS.items() if _member(path, members)), path)


WEIGHTS_FILE = Path(__file__).with_name("cpu_weights.json")
"""Seconds each test file (or shared unit) keeps a worker busy, measured by ``tests/cpu_time.py``."""


def load_weights(path: Path = WEIGHTS_FILE) -> dict[str, float]:
    """The weight table; empty (every unit weighs the same) when the file is missing or unreadable,
    since a scheduling hint must never stop the suite from running."""
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text())["seconds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def unit_weight(unit: str, weights: dict[str, float], default: float) -> float:
    """A unit's seconds: its own entry, else the sum of its files' entries (a shared unit measured
    file by file), else ``default``."""
    if unit in weights:
        return weights[unit]
    members = SHARED_SESSION_UNITS.get(unit, (unit,) if unit.endswith("/") else ())
    inside = [seconds for path, seconds in weights.items() if _member(path, members)]
    return sum(inside) if inside else default


def heaviest_first(units: list[str], weights: dict[str, float]) -> list[str]:
    """``units`` in longest-processing-time order; ties (and an empty table) keep the given order."""
    default = statistics.median(weights.values()) if weights else 1.0
    return sorted(units, key=lambda unit: -unit_weight(unit, weights, default))


class SharedSessionFileScheduling(LoadFileScheduling):
    """File scheduling where each unit of :data:`SHARED_SESSION_UNITS` is one unit, and units
    are handed out heaviest first by :data:`WEIGHTS_FILE`."""

    weights: dict[str, float] | None = None
    """The table to use; None reads :data:`WEIGHTS_FILE` at the first assignment."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(super()._split_scope(nodeid))

    def remove_node(self, node) -> str | None:
        """Take a worker out; when it crashed, hand its unfinished tests out again, less the one
        it crashed in, which is reported failed and marked done here (xdist's file scheduling,
        3.8, hands that test out again, to crash the next worker too)."""
        workload = self.assigned_work.pop(node)
        unfinished = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
        if not unfinished:
            return None
        crashed = unfinished[0]
        for unit in workload.values():
            if crashed in unit:
                unit[crashed] = True
        self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed

    def _reschedule(self, node) -> None:
        """xdist's, then more units until the node holds at least two pending tests. A worker runs
        a test only once it holds the next one too (or is told to shut down), and xdist gives a
        node one unit per call: a replacement worker handed the one-test rest of a crashed
        worker's file, with other files still queued, waited forever, and so did the run (the
        suite hung so after a segfault in a Qt test). ``tests/test_scheduling.py`` runs that case."""
        super()._reschedule(node)
        while not node.shutting_down and self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            self._assign_work_unit(node)

    def _assign_work_unit(self, node) -> None:
        if not getattr(self, "_ordered", False):
            weights = load_weights() if self.weights is None else self.weights
            for unit in heaviest_first(list(self.workqueue), weights):
                self.workqueue.move_to_end(unit)
            self._ordered = True
        super()._assign_work_unit(node)
