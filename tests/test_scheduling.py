"""The suite's xdist scheduler (``tests/scheduling.py``): the Spark files go to one worker as one
unit, and units are handed out heaviest first by the measured weight table, so both workers end
together."""

import json
from types import SimpleNamespace

import pytest

from tests.cpu_weights import main as write_weights
from tests.cpu_weights import parse_cpu_section
from tests.scheduling import SharedSessionFileScheduling, heaviest_first, load_weights


class Worker:
    """What the scheduler asks of an xdist worker: take test indices, shut down."""

    def __init__(self, name):
        self.gateway = SimpleNamespace(id=name)
        self.sent = []
        self.shutting_down = False

    def send_runtest_some(self, indices):
        self.sent.extend(indices)

    def shutdown(self):
        self.shutting_down = True


def _quiet(*_):
    """xdist's scheduler log, silenced (it prints a line per test reported)."""


def _scheduler(collection, weights):
    config = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=True))
    scheduler = SharedSessionFileScheduling(config, SimpleNamespace(loadscopesched=_quiet, loadfilesched=_quiet))
    scheduler.weights = weights
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    return scheduler, workers


def scheduled(collection, weights=None):
    """The test ids each of two workers is sent at the start of a run."""
    _, workers = _scheduler(collection, {} if weights is None else weights)
    return [[collection[i] for i in worker.sent] for worker in workers]


def run(collection, seconds, weights):
    """Play a run on two simulated workers: each test takes ``seconds[test id]``, each worker
    runs what it was sent in order and reports every test done, as xdist's controller does.
    Returns each worker's end time and the files it ran."""
    scheduler, workers = _scheduler(collection, weights)
    clock = {worker: 0.0 for worker in workers}
    done = {worker: 0 for worker in workers}
    files = {worker: [] for worker in workers}
    while any(done[w] < len(w.sent) for w in workers):
        # the next test to finish, in time: what it finishing makes the scheduler do happens then
        worker = min((w for w in workers if done[w] < len(w.sent)),
                     key=lambda w: clock[w] + seconds[collection[w.sent[done[w]]]])
        index = worker.sent[done[worker]]
        done[worker] += 1
        clock[worker] += seconds[collection[index]]
        path = collection[index].split("::")[0]
        if path not in files[worker]:
            files[worker].append(path)
        scheduler.mark_test_complete(worker, index)
    return [clock[w] for w in workers], [files[w] for w in workers]


def _file(path, tests, seconds):
    """A test file whose first test builds a module fixture costing nearly all its seconds."""
    ids = [f"{path}::test_{i}" for i in range(tests)]
    return ids, {test: (seconds - 0.01 * (tests - 1) if i == 0 else 0.01) for i, test in enumerate(ids)}


def test_the_spark_files_go_to_one_worker_as_one_unit():
    big = [f"tests/views/test_big.py::test_{i}" for i in range(6)]
    other = [f"tests/app/test_other.py::test_{i}" for i in range(4)]
    spark = ["tests/spark/test_connect_window.py::test_window", "tests/spark/test_spark_engine.py::test_a",
             "tests/spark/test_spark_engine.py::test_b"]
    weights = {"tests/spark/": 90.0, "tests/views/test_big.py": 10.0, "tests/app/test_other.py": 5.0}
    first, second = scheduled(big + other + spark, weights)
    assert first[:3] == spark  # one unit, the heaviest, handed out first
    assert not set(spark) & set(second)
    assert second[:6] == big


def test_the_real_data_files_are_one_unit_weighed_as_their_files_sum():
    """The corpus and its checks are built once per worker that asks: both files on one worker,
    handed out by the sum of their files' seconds (60 here, above the 50 of the other file)."""
    corpus = ["tests/realdata/test_corpus.py::test_a", "tests/realdata/test_corpus.py::test_b"]
    grouping = ["tests/realdata/test_queue_grouping.py::test_c"]
    other = [f"tests/views/test_big.py::test_{i}" for i in range(6)]
    weights = {"tests/realdata/test_corpus.py": 35.0, "tests/realdata/test_queue_grouping.py": 25.0,
               "tests/views/test_big.py": 50.0}
    first, second = scheduled(other + corpus + grouping, weights)
    assert first == corpus + grouping and second == other


def test_units_go_out_by_weight_not_by_number_of_tests():
    """A file of two tests on the large demo outweighs one of forty on a small frame."""
    many = [f"tests/views/test_many.py::test_{i}" for i in range(40)]
    heavy = ["tests/app/test_heavy.py::test_a", "tests/app/test_heavy.py::test_b"]
    weights = {"tests/views/test_many.py": 3.0, "tests/app/test_heavy.py": 100.0}
    first, _ = scheduled(many + heavy, weights)
    assert first[:2] == heavy
    assert scheduled(many + heavy)[0][:40] == many  # without weights: xdist's order, most tests first


def test_a_folder_without_an_entry_weighs_its_files_and_an_unknown_file_the_median():
    weights = {"tests/spark/test_a.py": 30.0, "tests/spark/test_b.py": 30.0, "tests/x.py": 50.0,
               "tests/y.py": 10.0, "tests/z.py": 1.0}
    assert heaviest_first(["tests/new.py", "tests/y.py", "tests/spark/", "tests/x.py"], weights) == \
        ["tests/spark/", "tests/x.py", "tests/new.py", "tests/y.py"]  # spark 60; new the median, 30


def test_the_heavy_file_collected_last_no_longer_ends_the_run_alone():
    """xdist's own order (most tests first) hands the heaviest file out last, and one worker
    runs it while the other has long finished; by weight, the two workers end within the last
    unit either was handed (the list-scheduling bound), and the run ends sooner."""
    units = [("tests/views/test_many_small.py", 30, 20.0), ("tests/app/test_mid.py", 12, 30.0),
             ("tests/analysis/test_more.py", 10, 25.0), ("tests/views/test_few.py", 8, 15.0),
             ("tests/app/test_cli_heavy.py", 3, 90.0)]
    collection, seconds = [], {}
    for path, tests, cost in units:
        ids, times = _file(path, tests, cost)
        collection += ids
        seconds |= times
    weights = {path: cost for path, _, cost in units}
    (ends_unweighted, _) = run(collection, seconds, {})
    ends, files = run(collection, seconds, weights)
    later = max(range(2), key=lambda w: ends[w])
    assert abs(ends[0] - ends[1]) <= weights[files[later][-1]]
    assert max(ends) < max(ends_unweighted)
    assert sum(ends) == pytest.approx(sum(ends_unweighted))  # the same tests ran, only their order changed


def test_the_table_is_written_from_the_plugins_section_with_the_spark_folder_set_by_hand(tmp_path):
    log = tmp_path / "cpu.log"
    log.write_text("....\n==== CPU seconds by file (total 131 s) ====\n   108.2  tests/app/test_cli_queue.py\n"
                   "    20.5  tests/spark/test_spark_engine.py\n     2.3  tests/test_scheduling.py\n"
                   "==== slowest 60 durations ====\n12.0s call tests/app/test_cli_queue.py::test_x\n")
    assert parse_cpu_section(log.read_text()) == {"tests/app/test_cli_queue.py": 108.2,
                                                  "tests/spark/test_spark_engine.py": 20.5,
                                                  "tests/test_scheduling.py": 2.3}
    out = tmp_path / "weights.json"
    assert write_weights([str(log), "--set", "tests/spark/=150", "--out", str(out)]) == 0
    assert load_weights(out) == {"tests/spark/": 150.0, "tests/app/test_cli_queue.py": 108.2,
                                 "tests/test_scheduling.py": 2.3}
    assert list(json.loads(out.read_text())["seconds"])[0] == "tests/spark/"  # heaviest first


def test_a_missing_or_broken_table_weighs_every_unit_the_same(tmp_path):
    assert load_weights(tmp_path / "absent.json") == {}
    (tmp_path / "broken.json").write_text("{not json")
    assert load_weights(tmp_path / "broken.json") == {}


def test_the_committed_table_weighs_the_spark_folder_as_one_unit():
    """The scheduler reads the committed table, where the Spark folder's wall seconds (its JVM is
    outside the plugin's figures) are set as one unit, not as its files' CPU."""
    weights = load_weights()
    assert weights and "tests/spark/" in weights
    assert not [path for path in weights if path.startswith("tests/spark/") and path != "tests/spark/"]


def test_a_worker_that_crashes_fails_its_test_and_the_run_goes_on(tmp_path):
    """A test that kills its worker (a segfault, as a crash in Qt does) is reported failed, the
    rest of its file and the other files run on the replacement worker, and the run ends. With
    xdist's own file scheduling (3.8) it handed the crashed test out again and then waited
    forever; here the timeout would stop it and fail the test."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n\n\n"
        "def pytest_xdist_make_scheduler(config, log):\n"
        "    from tests.scheduling import SharedSessionFileScheduling\n"
        "    return SharedSessionFileScheduling(config, log)\n")
    for file in range(4):
        tests = "".join(f"\n\ndef test_{n}():\n    time.sleep(0.05)\n" + ("    ctypes.string_at(0)\n" if (file, n) == (1, 2) else "")
                        for n in range(4))
        (tmp_path / f"test_file{file}.py").write_text("import ctypes\nimport time\n" + tests)
    ended = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert "1 failed, 15 passed" in ended.stdout, ended.stdout[-2000:]
    assert "test_file1.py::test_2" in ended.stdout
