"""CPU seconds per test file, summed over setup, call and teardown: ``pytest -p tests.cpu_time``.

Wall times (``--durations``) swing with whatever else the shared machine runs; CPU time does
not, so this is the figure to compare before and after a change to the suite's cost. A test's
figure counts its process's threads and the child processes it waited for (a CLI subprocess),
not a server's grandchild killed in its own process group (the Spark Connect server's JVM);
fixtures shared by a module or a session are counted to the first test that builds them. Works with and without xdist: each worker
attaches the figure to its reports and the controller sums them.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict

import pytest

PROPERTY = "cpu_seconds"


def _cpu_now() -> float:
    """This process's CPU time (all threads) plus that of its reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item.stash[_START] = _cpu_now()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "teardown" and _START in item.stash:
        report.user_properties.append((PROPERTY, _cpu_now() - item.stash[_START]))


_START = pytest.StashKey[float]()
_BY_FILE: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name == PROPERTY:
                _BY_FILE[report.nodeid.split("::", 1)[0]] += value


def pytest_terminal_summary(terminalreporter, config):
    if config.pluginmanager.hasplugin("xdist") and hasattr(config, "workerinput"):
        return  # a worker: the controller prints the sums
    if not _BY_FILE:
        return
    total = sum(_BY_FILE.values())
    terminalreporter.section(f"CPU seconds by file (total {total:.0f} s)")
    for path, seconds in sorted(_BY_FILE.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
