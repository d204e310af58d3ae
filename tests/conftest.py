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


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    """A small demo data set (same generator as ``sleuth demo``), generated once per run."""
    from analysis.demo.generate import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo"), rows=200_000, seed=7)


@pytest.fixture
def qsettings(tmp_path):
    """QSettings in a temporary INI file, so tests never touch the user's preferences."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture(autouse=True)
def collect_garbage_between_tests():
    """Collect each test's Qt and DuckDB objects right after it, not all at interpreter exit."""
    yield
    import gc

    gc.collect()
