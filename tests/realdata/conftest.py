"""The real-data corpus (:mod:`tests.realdata.corpus`), one build per test session for every
test of this folder: written once into a session folder, read by the diagnoses' tests and the
queue's grouping tests alike, and each log's check run once for both. Under xdist the folder is
one unit on one worker (``tests/scheduling.py``), so the run builds and checks it once."""

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


@pytest.fixture(scope="session")
def checked_logs(corpus):
    """``sleuth check LOG --model BASE`` of a case's log (``clean``, ``incident``, ``compare``),
    run once per session on first use: ``checked_logs(name, log)`` -> (the check's run, the
    store its dataset stays open in, this fixture's; the diagnoses read its findings, the grouping
    tests queue its failures with them)."""
    from analysis.store import Store
    from analysis.triage.check_report import run_check
    from tests.realdata.test_corpus import files, served_by

    store = Store(memory_limit="2GB")
    runs = {}

    def checked(name: str, log: str):
        if (name, log) not in runs:
            _, _, _, log_path, model = files(corpus, name, log)
            runs[name, log] = run_check(store, [log_path], model=served_by(model))
        return runs[name, log], store

    yield checked
    store.close()
