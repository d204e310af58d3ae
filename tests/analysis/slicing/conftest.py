"""Fixtures shared by the slicing tests."""

import json

import pytest

from analysis.data.open_log import load_log
from analysis.store import Store


@pytest.fixture(scope="module")
def demo(demo_files):
    """(store, dataset, roles, old version, new version) of the demo log, loaded once per module."""
    store = Store(memory_limit="2GB")
    loaded = load_log(store, [str(demo_files.log)], check=False)
    old, new = (v["version"] for v in json.loads(demo_files.manifest.read_text())["versions"])
    yield store, loaded.dataset, loaded.roles, old, new
    store.close()
