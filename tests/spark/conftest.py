"""One local Spark Connect server for the Spark tests, started once per run.

The server is the one the ``pyspark`` package ships (``sbin/start-connect-server.sh``), run in
the foreground on a free port with one core (the machine's two are shared), so the tests talk
to it through the same ``sc://`` URL a cluster would have. It is the only JVM of a run: the test of
a killed server kills a relay process in front of it (``tests/spark/relay.py``). The tests skip
only when Java cannot be found: `make test` installs it where it is missing.

The server's settings are test settings, each chosen by its measured cost and none changing a
result: no web UI (nobody looks at it, and its HTTP server and listeners would take a port and
CPU), the warehouse and Derby's files in the run's temporary folder (:func:`launch_server`),
the planner's settings for many small statements (:func:`_small_data_settings`) and the JVM's
options for them (:data:`SMALL_DATA_JAVA_OPTIONS`: the JIT's first tier with a code cache that
holds it, the serial collector on a heap of fixed size, no verification of Spark's classes), with
no subexpression elimination and no INFO log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def group_cpu_seconds(group: int) -> float:
    """CPU seconds (user and system, with reaped children) of the live processes of a process
    group, from /proc: the Spark server's JVM is a grandchild in a session of its own, which
    ``tests/cpu_time.py`` cannot see, and it shares the machine's cores with the workers."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group:  # after the name: state, ppid, pgrp, ..., utime (11) to cstime (14)
            total += sum(int(value) for value in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class StartingServer:
    """A Spark Connect server process that may still be starting (the JVM takes about a minute)."""

    process: subprocess.Popen
    port: int
    log: Path

    def url(self) -> str:
        """The ``sc://`` URL once the server listens; a server that died or hangs fails the run."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"the Spark Connect server did not start:\n{tail}")
            time.sleep(0.5)
        return f"sc://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server, first writing its CPU seconds to ``server-cpu.txt`` next to its log."""
        if self.process.poll() is None:
            seconds = group_cpu_seconds(self.process.pid)
            self.log.with_name("server-cpu.txt").write_text(f"{seconds:.1f}\n")
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="session", autouse=True)
def spark_server(tmp_path_factory):
    """A local Spark Connect server, started first and without waiting for it: the session
    fixtures that build test data run while the JVM starts, and ``spark_url`` waits."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17, and no `java` is on PATH nor JAVA_HOME set "
                    "(make test installs openjdk-17-jre-headless where apt-get is available)")
    pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[spark]') is not installed")
    server = launch_server(tmp_path_factory.mktemp("spark"), cores=1, small_data=True)
    yield server
    server.stop()


def launch_server(work: Path, cores: int, driver_memory: str = "1g", small_data: bool = False) -> StartingServer:
    """Start pyspark's Spark Connect server in ``work`` (logs, warehouse) on a free port with
    ``cores`` local cores, without waiting for it (the benchmark starts it the same way; the
    tests with ``small_data``: :func:`_small_data_settings`)."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(work), "SPARK_PID_DIR": str(work),
           "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONNECT_MODE": "0"}
    env.pop("SPARK_REMOTE", None)
    with open(work / "server.log", "wb") as log:
        process = subprocess.Popen(
            ["bash", str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", f"local[{cores}]",
             "--driver-memory", driver_memory,
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
             "--conf", "spark.ui.enabled=false",
             *(_small_data_settings(cores) if small_data else ["--conf", "spark.sql.shuffle.partitions=2"]),
             "--conf", f"spark.sql.warehouse.dir={work / 'warehouse'}",
             "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={work}"
             + (f" {SMALL_DATA_JAVA_OPTIONS} -Xms{driver_memory}" if small_data else "")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return StartingServer(process, port, work / "server.log")


SMALL_DATA_JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m"
                           " -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote -XX:MetaspaceSize=256m")
"""The server JVM's options for the tests' small data: the JIT's first tier only (see
:func:`_small_data_settings`), and the serial garbage collector, which collects a 1 GB heap of
short-lived statements in one thread instead of G1's parallel and concurrent threads
competing for the machine's two cores: the server CPU of ``pytest tests/spark/test_engine_workspace_cli.py``
fell from 49.4 to 44.3 and from 50.7 to 47.2 s, its wall from 220 to 211 and 266 to 260 s (two
runs of each side by side, load average 11-20, 6 December 2026). Measured and not kept, for no
change in that server CPU (46.6 against 46.6, 46.5 against 46.5 s): ``spark.sql.ui.explainMode=simple``
(the plan text each statement's listener event carries) and no compression of broadcasts,
shuffles and spills (``spark.*.compress=false``). Neither changes a result: they choose how, not what.

A JVM limited to the first tier gets a 48 MB code cache (the default without the second
tier's compiler), which Spark's code outgrows within a minute of statements: the JIT's sweeper
then throws compiled methods away and they are compiled again (a Flight Recorder profile of
the slices, compare and labels-join tests: 45,075 compilations taking 22.9 s of 64.8 server
CPU-s, 28,075 methods reclaimed in 62 sweeps taking 10.4 s). With 256 MB (about the 240 MB the
default two-tier JVM reserves) the compiled code stays: those three tests' server CPU 57.8 -> 52.0 s
(side by side, load 22, 6 December 2026; the whole folder's figures in docs/performance-log.md).
Measured and not kept: the second tier (C2) back on, server CPU of the whole folder 132.4 ->
165.4 s (side by side, load 13-20).

No bytecode verification of the classes loaded from Spark's jars
(``-XX:-BytecodeVerificationRemote``, a diagnostic option, hence the unlock; the JDK's own classes
are not verified anyway): the server loads most of its classes in its first minute, and verifying
them cost about 2 of the 12 CPU-s to its first answers. A server's CPU from its launch to a first
log opened and counted fell from 12.2 and 12.3 s to 10.3 and 10.3 s (two pairs side by side, load
13-19, 7 December 2026), the whole folder's from 112.4 to 110.4 s (side by side, load 12-18). The
jars are the ones ``pip`` installed with pyspark; verification guards against malformed class
files, not a result.
The heap at its full size from the start (``-Xms``, the ``--driver-memory``: 1 GB) and a first
metaspace threshold above what Spark's classes take (``-XX:MetaspaceSize=256m``): a heap that
starts at a third of that and grows took two full collections to grow, and the classes' metadata
four more in the first minute, and its smaller young generation was collected twice as often.
The collector's own CPU (``-Xlog:gc+cpu``) over the folder fell from 5.2 s in 196 collections to
3.9 s in 115; with the verification above, the folder's server CPU 103.8 -> 100.2 s (side by
side, load 3-17, 7 December 2026).
Measured and not kept: ``spark.sql.constraintPropagation.enabled=false`` (34.0 against 33.6
server CPU-s for ``test_engine_workspace_cli.py``, side by side, load 17-19), and no Python
worker for the server's look-up of Python data sources (``PYSPARK_PYTHON`` naming no program:
9.0 and 10.1 against 9.3 and 10.2 s to a first log)."""


def _small_data_settings(cores: int) -> list[str]:
    """Settings for many small statements on a few cores, where each statement's fixed cost
    (planning, code generation, task scheduling) outweighs its rows: one shuffle partition per
    core, no adaptive re-planning, and expressions interpreted instead of compiled to Java
    (Janino compiling each statement's generated code cost more than running it on thousands of
    rows). With the JIT's first tier only (``-XX:TieredStopAtLevel=1``), the server's CPU for
    ``check --engine`` and ``info --engine`` on the 20,000-row demo fell from 120 to 76 s, for
    ``slices --engine`` from 73 to 44 s, and for its start from 10.4 to 5.6 s (one run of each
    setting, load average 16-18; the slices runs side by side). None of these changes a
    result: they choose how, not what. Not for the benchmark's millions of rows, where compiled
    code pays for itself.

    Two more from a Flight Recorder profile of the folder's server: interpreted expressions
    with subexpression elimination evaluate every expression through a Guava cache of the
    shared ones that is emptied for every input row (``SubExprEvaluationRuntime``: 8% of the
    server's Java samples pass through it, 1.6% in emptying it alone), dearer than evaluating
    a shared part twice; and the INFO log (43,000 lines a run, the statements' plans
    abbreviated into them; 1.8% of the samples in Log4j) is read by nobody: WARN keeps the
    errors a failed start shows. The folder's server CPU, side by side with the settings
    before: 142.6 -> 136.2 and 172.7 -> 161.3 s (load 13-22, 6 December 2026;
    docs/performance-log.md)."""
    settings = {"spark.sql.shuffle.partitions": cores, "spark.default.parallelism": cores,
                "spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
                "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.sql.subexpressionElimination.enabled": "false",
                "spark.log.level": "WARN"}
    return [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")]


@pytest.fixture(scope="session")
def spark_url(spark_server):
    """The ``sc://`` URL of the local Spark Connect server, stopped after the run."""
    return spark_server.url()


@pytest.fixture(scope="session")
def spark_store(spark_url):
    """Sleuth's store on the test server, shared by the module's tests."""
    from analysis.engine.spark_store import SparkStore

    store = SparkStore(spark_url)
    yield store
    store.close()


@pytest.fixture(scope="session")
def rows_demo(tmp_path_factory):
    """The small demo log (3,000 rows) whose cluster table the window's table pages over in
    ``test_cluster_table_rows.py`` and ``test_cluster_row_fetch.py``, generated while the
    server's JVM starts: once per run (under xdist the workers share the generation, as
    ``tests/conftest.py``'s demos do), where each module generated the same files and trained
    their models before."""
    from tests.conftest import _demo

    return _demo(tmp_path_factory, "cluster-rows-demo", rows=3_000, seed=11)


UNTOUCHED_COLUMNS = ["customer_age_days", "txn_count_24h", "hour", "merchant_category", "card_present"]
"""The demo's columns that no incident of its log touches (``merchant_category``'s is in the
training snapshot only)."""


@pytest.fixture(scope="session")
def narrow_demo_log(window_demo_files, tmp_path_factory) -> Path:
    """The 20,000-row demo log (the window tests' demo, so a run generates it once) without
    :data:`UNTOUCHED_COLUMNS`, for the passes whose statements grow with the columns: Spark plans
    the checks' category counts one UNION ALL part per pair of group columns (``check --engine``'s
    server CPU 67-73 s on the demo, 36 s on this log) and discovery's counts per combination of
    features (``slices --engine`` 42 -> 34 s, ``compare --engine``'s regressed slices 40 -> 33 s),
    while every incident of the log and its slices stay in it. Written while the JVM starts."""
    import pandas as pd

    path = tmp_path_factory.mktemp("narrow") / "predictions.parquet"
    pd.read_parquet(window_demo_files.log).drop(columns=UNTOUCHED_COLUMNS).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def info_on_both(narrow_demo_log, spark_url) -> tuple[dict, dict, list[str]]:
    """``info``'s JSON on the narrow demo log with ``--engine`` and without, run once for the
    tests that read it (each ``info --engine`` runs every log check on the server), and the
    statements the Spark side sent."""
    import json

    from analysis.engine.spark_store import SparkStore
    from tests.app.run_cli import sleuth_in_process
    from tests.statements import recorded_statements

    argv = ["info", narrow_demo_log]
    with pytest.MonkeyPatch.context() as patch:
        sent = recorded_statements(SparkStore, patch)
        on_spark = sleuth_in_process(*argv, "--engine", spark_url, check=True).stdout
    return json.loads(on_spark), json.loads(sleuth_in_process(*argv, check=True).stdout), list(sent)
