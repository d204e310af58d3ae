"""The real-data corpus (:mod:`tests.realdata.corpus`), one build per test session for every
test of this folder: written once into a session folder, read by the diagnoses' tests and the
queue's grouping tests alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.realdata.corpus import build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Each case's folder and manifest by case name, built once per test session (a fixture
    defined in one test module and imported by another is a second definition: each module
    built the corpus anew)."""
    folders = build_corpus(tmp_path_factory.mktemp("realdata"))
    return {folder.name: (folder, json.loads((folder / "manifest.json").read_text())) for folder in folders}
