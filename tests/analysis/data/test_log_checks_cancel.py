"""Issue #17: the log checks (``check_log``, run again by ``recheck``) stop on their job's token
while a scan runs: cancelled from another thread mid-statement, the statement is interrupted,
no later check runs, no working table is left and the job's thread ends. And their progress
names each scan, which is what the status bar shows."""

from __future__ import annotations

import threading

import duckdb
import pytest

from analysis.data.log_sanity import check_log
from analysis.data.open_log import load_log, recheck
from analysis.progress import CancelToken, Cancelled
from analysis.query import ident
from analysis.scope import Scope
from analysis.store import Store
from tests.data.make_slow_checks_log import write_slow_checks_log

DUPLICATES = "ids in 'request_id' scored more than once"


@pytest.fixture(scope="module")
def slow_log(tmp_path_factory):
    return write_slow_checks_log(tmp_path_factory.mktemp("slow_checks") / "log.parquet")


@pytest.fixture
def one_thread_store():
    store = Store(memory_limit="1GB", threads=1)  # one DuckDB thread: every scan takes its time
    yield store
    store.close()


def tables(store) -> set[str]:
    return {name for (name,) in store.rows("SELECT table_name FROM duckdb_tables()")}


class CursorLog:
    """Records each cursor the store hands out (one per statement) and on which thread."""

    def __init__(self, store: Store) -> None:
        self.real, self.threads, self.opened = store.cursor, [], threading.Event()
        store.cursor = self

    def __call__(self):
        self.threads.append(threading.current_thread().name)
        self.opened.set()
        return self.real()


def test_a_cancel_from_another_thread_interrupts_the_scan_running_and_runs_no_later_check(slow_log,
                                                                                          one_thread_store):
    store = one_thread_store
    log = load_log(store, [str(slow_log)], check=False)
    assert (log.roles.id, log.roles.label, log.roles.scores) == ("request_id", "label", ("score",))
    before = tables(store)
    token, messages, outcome = CancelToken(), [], {}
    cursors = CursorLog(store)

    def progress(fraction, message=""):
        messages.append(message)
        if DUPLICATES in message:
            cursors.opened.clear()  # the next cursor is the duplicate-id scan's

    def run():
        try:
            outcome["issues"] = check_log(Scope(store, log.dataset, log.roles), progress, token)
        except BaseException as exc:  # noqa: BLE001 - looked at by the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="log-checks")
    worker.start()
    while not (messages and DUPLICATES in messages[-1] and cursors.opened.is_set()):
        assert worker.is_alive(), outcome
        cursors.opened.wait(0.01)
    threading.Event().wait(0.1)  # into the statement, which runs some tenths of a second
    token.cancel()
    worker.join(60)
    assert not worker.is_alive()  # no thread left behind
    assert "issues" not in outcome and isinstance(outcome.get("error"), Cancelled)
    assert isinstance(outcome["error"].__cause__, duckdb.InterruptException)  # stopped mid-statement
    assert cursors.threads.count("log-checks") == 2  # the score scan and the one stopped: not the label's
    assert not any(m.startswith("Checked") for m in messages)
    assert tables(store) == before
    assert store.scalar(f"SELECT count(*) FROM {ident(log.dataset.view)}") == 2_000_000  # the store still works


def test_recheck_of_a_cancelled_job_runs_no_statement(slow_log, store):
    log = load_log(store, [str(slow_log)], check=False)
    token = CancelToken()
    token.cancel()
    cursors = CursorLog(store)
    with pytest.raises(Cancelled):
        recheck(Scope(store, log.dataset, log.roles), cancel=token)
    assert cursors.threads == []


def test_recheck_says_which_scan_it_runs(slow_log, store):
    log = load_log(store, [str(slow_log)], check=False, name="traffic")
    said = []
    issues = recheck(Scope(store, log.dataset, log.roles), progress=lambda f, m="": said.append((f, m)))
    assert said == [
        (0.0, "Checking traffic: score column 'score' (NaN, outside [0, 1], missing)"),
        (1 / 3, f"Checking traffic: {DUPLICATES}"),
        (2 / 3, "Checking traffic: how many rows have a label in 'label'"),
        (1.0, "Checked traffic"),
    ]
    assert [i.column for i in issues] == ["score", "label"]  # logits outside [0, 1]; the label's coverage
