"""The suite's xdist scheduler (``tests/scheduling.py``) gives the Spark files to one worker, first."""

from types import SimpleNamespace

from tests.scheduling import SharedSessionFileScheduling


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


def scheduled(collection):
    """The test ids each of two workers is sent at the start of a run."""
    config = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=True))
    scheduler = SharedSessionFileScheduling(config)
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    return [[collection[i] for i in worker.sent] for worker in workers]


def test_the_spark_files_go_to_one_worker_before_larger_files():
    big = [f"tests/views/test_big.py::test_{i}" for i in range(6)]
    other = [f"tests/app/test_other.py::test_{i}" for i in range(4)]
    spark = ["tests/spark/test_connect_window.py::test_window", "tests/spark/test_spark_engine.py::test_a",
             "tests/spark/test_spark_engine.py::test_b"]
    first, second = scheduled(big + other + spark)
    assert first[:3] == spark  # one unit, handed out before the files with more tests
    assert not set(spark) & set(second)
    assert second[:6] == big  # other files stay whole, larger first
