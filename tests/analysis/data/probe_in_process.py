"""The file probe run in the test's own process, for the tests of how files are read.

Every open of a new file reads it first in a child process (:mod:`analysis.data.probe`): a
Python start and a DuckDB import, about 0.15 CPU-s, most of an open of a small file, and the
files-as-they-come and loading tests open about 80 fresh files. A module that imports
:func:`probe_in_process` runs the child's own reading (:func:`~analysis.data.probe.probe_each`)
in-process instead: each file is read, judged and refused in the same words; what it does
not exercise is the child's guards (a crash, the memory and time limits), which the probe's
own tests (test_bad_input.py) run in a real child. None of these modules' files crashes a
reader; a test that counts what this process reads asks for :func:`probe_in_child`.
"""

from __future__ import annotations

import json

import pytest

import analysis.data.probe as probe

_IN_A_CHILD = probe._run_child


@pytest.fixture(scope="module", autouse=True)
def probe_in_process():
    def read_here(request: str, paths, timeout: float, cancel) -> list:
        asked = json.loads(request)
        return list(probe.probe_each(asked["format"], asked["paths"]))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(probe, "_run_child", read_here)
        yield


@pytest.fixture
def probe_in_child(monkeypatch):
    """The probe in its child again, for one test: what the child reads is not this process's."""
    monkeypatch.setattr(probe, "_run_child", _IN_A_CHILD)
