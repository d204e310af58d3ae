"""Test configuration shared by every test: no screen, the PySide6 binding, one Store."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402

from analysis.store import Store  # noqa: E402


@pytest.fixture
def store():
    """A fresh in-memory DuckDB store, closed after the test."""
    s = Store(memory_limit="2GB")
    yield s
    s.close()
