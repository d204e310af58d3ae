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


@pytest.fixture(scope="session", autouse=True)
def corpus_probed_together(corpus, probe_each_file_once):
    """Every corpus file read once by one probe child (:mod:`analysis.data.probe`), not by a
    child per file: the tests open 40 files, and each child costs a Python start and a DuckDB
    import (0.2 CPU-s), about a tenth of the folder's CPU. The child reads the first file's rows
    and the footers of the rest, as it does for one log of many files; the probe's own tests
    (tests/analysis/data/test_bad_input.py) read rows of damaged files. A file not in the
    corpus, or changed since, is probed at its open as before (``probe_each_file_once``)."""
    import analysis.data.loading as loading
    from analysis.data.probe import probe_files

    files = sorted(path for folder, _ in corpus.values() for path in folder.glob("*.parquet"))
    probe_files(files, "parquet")
    probed = {_file_state(path) for path in files}
    probe_at_open = loading.probe_files

    def probe_unless_probed(paths, file_format, **kwargs):
        if file_format != "parquet" or any(_file_state(path) not in probed for path in paths):
            probe_at_open(paths, file_format, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "probe_files", probe_unless_probed)
        yield


def _file_state(path) -> tuple[str, int, int]:
    """A file as the probe read it: where it is, its size and its modification time."""
    state = Path(path).resolve().stat()
    return str(Path(path).resolve()), state.st_size, state.st_mtime_ns


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
