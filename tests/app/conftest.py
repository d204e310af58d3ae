"""Fixtures the command line's test modules share."""

import json

import pytest


@pytest.fixture(scope="module")
def small_weak(window_demo_files):
    """The manifest's weak subpopulation (as the shared ``weak`` fixture reads it) on the 20k
    demo: its predicate, the version weak on it, the other version. The tests that read these
    rows run on a tenth of the month, which still shows the weak version's slice on top."""
    manifest = json.loads(window_demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["kind"] == "weak_subpopulation")
    weak_version = incident["versions"][0]
    other = next(v["version"] for v in manifest["versions"] if v["version"] != weak_version)
    return incident["predicate"], weak_version, other
