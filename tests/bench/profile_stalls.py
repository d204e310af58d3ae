"""Where does the GUI thread's time go while a person works on a log?

``bench_responsiveness.py`` says *how long* the event loop was blocked in each step; this script
says *where*. It runs that benchmark's window route under py-spy (a sampling profiler that
reads the process from outside, so it sees a thread that holds the interpreter lock in C code
too) with ``--gil``: only the thread holding the interpreter lock is sampled, so every sample
is time in which the GUI thread either ran itself or was kept waiting by a worker holding the
lock. It then prints, for the GUI thread and for the workers separately, the stacks that took
the most samples, keyed by their innermost frames in Sleuth's own code.

A stall is work on the GUI thread (painting, building a result's widgets, a query run inline)
or a worker holding the lock in Python (a pandas or numpy pass between two DuckDB calls).
Samples are counted, not timed: on a loaded machine (see ``uptime``) the scheduler adds gaps
no profile shows, so read the blocked times from ``bench_responsiveness.py`` on a quiet
machine and the places from here.

``--stalls`` answers the other question, *which* work blocks the loop for longer than the
budget: py-spy then samples every thread whether it runs or not (``--idle``), in time order
(speedscope format), and a stall is a run of consecutive samples of the GUI thread outside
the benchmark's idle sleep lasting at least ``--min-ms``. Each stall is listed with the step
it happened in, its length and the stack most of its samples show (a leaf in the
benchmark's ``processEvents`` line with nothing of Sleuth's below it is Qt's own C++ work,
painting or layout, which py-spy does not see into). On a loaded machine a thread that waits
for a core looks busy too: compare with ``uptime``.

``--watchdog`` tells the two apart, which py-spy cannot: it runs the benchmark's window in this
process with a watchdog thread that samples the GUI thread every few milliseconds (its CPU
clock, its state in ``/proc``, its Python stack). For each gap of the benchmark's heartbeat of
``--min-ms`` or more it prints the wall time, the CPU time the GUI thread itself spent in it
(its own work: painting, layout, Python), how many samples found it waiting (state S: the
interpreter lock or a lock of Qt's) and, of the samples in which it advanced, the stack most of
them show, and the workers busy meanwhile (their stacks, by samples). A stall with little CPU
is the machine's or the lock's, not the GUI thread's work.

Run: ``.venv/bin/python tests/bench/profile_stalls.py [--rows 10000000] [--top 20] [--stalls | --watchdog | --dumps | --jobs]``
(needs ``py-spy``: ``.venv/bin/pip install py-spy``; the bench extra installs it).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import gc
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

SAMPLES_PER_SECOND = 100
PROJECT_FRAME = re.compile(r"\((app|views|analysis)/")
HERE = Path(__file__).resolve().parent


def profile(rows: int, out_path: Path, in_time_order: bool = False) -> None:
    """Run the responsiveness benchmark once under py-spy: raw collapsed stacks of the thread
    holding the interpreter lock, or (``in_time_order``) every thread's samples in order."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    mode = ["--idle", "--format", "speedscope"] if in_time_order else ["--gil", "--format", "raw"]
    command = [py_spy, "record", "--subprocesses", "--threads", *mode,
               "-r", str(SAMPLES_PER_SECOND), "-o", str(out_path), "--",
               sys.executable, str(HERE / "bench_responsiveness.py"), "--rows", str(rows), "--repeats", "1"]
    subprocess.run(command, check=True)


def _idle_sleep_line() -> int:
    """The line of the benchmark's wait loop where the GUI thread sleeps between event passes."""
    sys.path.insert(0, str(HERE))
    from bench_responsiveness import _wait_idle

    lines, first = inspect.getsourcelines(_wait_idle)
    return first + next(i for i, line in enumerate(lines) if "time.sleep(" in line)


def _step_names() -> dict[str, str]:
    """The benchmark's step actions by function name (the open step is its lambda)."""
    sys.path.insert(0, str(HERE))
    import bench_responsiveness

    class Dummy:
        def __getattr__(self, name):
            return Dummy()

        def __call__(self, *args, **kwargs):
            return Dummy()

    steps = {"<lambda>": "open the log"}
    steps.update({action.__name__: name for name, action in bench_responsiveness._steps(Dummy())})
    return steps


def stalls(speedscope: dict, min_ms: float, idle_line: int, steps: dict[str, str]) -> list[dict]:
    """The GUI thread's runs of consecutive non-idle samples lasting ``min_ms`` or more: their
    step, start (seconds of samples from the first), length in ms and most sampled stack.

    The GUI thread is the profile whose samples run the benchmark's wait loop; a sample is idle
    when its leaf is the wait loop's sleep line."""
    frames = speedscope["shared"]["frames"]
    name = [f"{f['name']} ({_in_repository(f['file'])}:{f.get('line')})" for f in frames]
    waits = {i for i, f in enumerate(frames) if f["name"] == "_wait_idle"}
    gui = next((p for p in speedscope["profiles"] if any(waits & set(sample) for sample in p["samples"])), None)
    if gui is None:
        return []
    found: list[dict] = []
    run: list[list[int]] = []
    step = "before the first step"
    elapsed = 0.0
    for sample in gui["samples"]:
        actions = [frames[i]["name"] for i in sample if frames[i]["name"] in steps
                   and frames[i]["file"].endswith("bench_responsiveness.py")]
        step = steps[actions[-1]] if actions else step
        leaf = frames[sample[-1]] if sample else None
        idle = leaf is None or (leaf["name"] == "_wait_idle" and leaf.get("line") == idle_line)
        if not idle:
            run.append(sample)
        if idle and run:
            length_ms = len(run) * 1000.0 / SAMPLES_PER_SECOND
            if length_ms >= min_ms:
                found.append({"step": step, "at_s": elapsed - len(run) / SAMPLES_PER_SECOND,
                              "ms": length_ms, "stack": _run_stack(run, name)})
            run = []
        elapsed += 1.0 / SAMPLES_PER_SECOND
    if len(run) * 1000.0 / SAMPLES_PER_SECOND >= min_ms:  # a stall still running when the samples end
        found.append({"step": step, "at_s": elapsed - len(run) / SAMPLES_PER_SECOND,
                      "ms": len(run) * 1000.0 / SAMPLES_PER_SECOND, "stack": _run_stack(run, name)})
    return found


def _in_repository(file: str) -> str:
    """A frame's file relative to the repository root when it is in it (as the raw format gives it)."""
    path = Path(file)
    return str(path.relative_to(HERE.parents[1])) if path.is_relative_to(HERE.parents[1]) else file


def _run_stack(run: list[list[int]], name: list[str]) -> str:
    """The stack most samples of a stall show, keyed like :func:`hotspots` (three innermost
    frames of Sleuth's code, and the leaf)."""
    keys = collections.Counter()
    for sample in run:
        own = [name[i] for i in sample if PROJECT_FRAME.search(name[i])]
        keys[" <- ".join(reversed(own[-3:])) or "(outside Sleuth's code)"] += 1
    key, count = keys.most_common(1)[0]
    leaves = collections.Counter(name[sample[-1]] for sample in run)
    return f"{key}  [leaf: {leaves.most_common(1)[0][0]}; {count} of {len(run)} samples]"


def hotspots(raw_path: Path) -> dict[str, collections.Counter]:
    """Samples per stack of the window's process, split into the GUI thread and the workers.

    A stack is keyed by its three innermost frames in Sleuth's code plus the leaf frame;
    samples spent importing modules are left out (they are start-up, not interaction).
    """
    found = {"GUI thread": collections.Counter(), "workers": collections.Counter()}
    for line in raw_path.read_text().splitlines():
        if "--child" not in line:
            continue
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        starts = [i for i, frame in enumerate(frames) if frame.startswith("thread")]
        if not starts:
            continue
        thread, frames = frames[starts[0]], frames[starts[0] + 1:]
        if any("_bootstrap" in frame for frame in frames):
            continue
        own = [frame for frame in frames if PROJECT_FRAME.search(frame)]
        key = " <- ".join(reversed(own[-3:])) or "(outside Sleuth's code)"
        key += f"  [leaf: {frames[-1] if frames else '?'}]"
        found["GUI thread" if "MainThread" in thread else "workers"][key] += int(count)
    return found


class Watchdog(threading.Thread):
    """Samples a thread every ``period`` seconds: wall clock, its CPU clock, its scheduler state
    (R running or runnable, S waiting) and its innermost frames in Sleuth's code; and, beside
    it, where each worker (a ``sleuth-`` thread) is, so a gap names the work that ran meanwhile."""

    def __init__(self, thread: threading.Thread, period: float = 0.004) -> None:
        super().__init__(daemon=True)
        self.target, self.period = thread.ident, period
        self.clock = time.pthread_getcpuclockid(thread.ident)
        self.stat = Path(f"/proc/self/task/{thread.native_id}/stat")
        self.samples: list[tuple[float, float, str, str, dict[str, str]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.period):
            frames = sys._current_frames()
            state = self.stat.read_text().rsplit(")", 1)[1].split()[0]
            workers = {t.name: _stack_key(frames.get(t.ident)) for t in threading.enumerate()
                       if t.name.startswith("sleuth-") and not _idle_worker(frames.get(t.ident))}
            self.samples.append((time.perf_counter(), time.clock_gettime(self.clock), state,
                                 _stack_key(frames.get(self.target)), workers))


def _idle_worker(frame) -> bool:
    """A pool thread waiting for work or for its turn (its innermost frame is the pool's queue
    wait or a ``threading`` wait, as a job held back behind an ``ahead`` one)."""
    return frame is None or (frame.f_code.co_name in ("_worker", "wait")
                             and frame.f_code.co_filename.endswith(("concurrent/futures/thread.py", "threading.py")))


def _stack_key(frame) -> str:
    """Three innermost frames in Sleuth's code (or anywhere when none is) and the leaf."""
    if frame is None:
        return "?"
    stack = [f"{f.name} ({_in_repository(f.filename)}:{f.lineno})" for f in traceback.extract_stack(frame)]
    own = [name for name in stack if PROJECT_FRAME.search(name)] or stack[-3:]
    return " <- ".join(reversed(own[-3:])) + f"  [leaf: {stack[-1]}]"


def watchdog_stalls(rows: int, min_ms: float) -> list[dict]:
    """Run the benchmark's window route in this process under a :class:`Watchdog` and describe
    each heartbeat gap of ``min_ms`` or more: step, wall ms, the GUI thread's CPU ms in it,
    samples waiting (S) and the stack of most samples in which its CPU clock advanced."""
    sys.path.insert(0, str(HERE))
    import bench_responsiveness
    from common import ensure_log

    beats: list[tuple[float, float, int]] = []  # (wall, GUI CPU, step) at every beat
    names = ["open the log"] + [name for name, _ in bench_responsiveness._steps(_Anything())]

    class Heartbeat(bench_responsiveness.Heartbeat):
        takes = 0

        def _beat(self) -> None:
            super()._beat()
            beats.append((time.perf_counter(), time.thread_time(), (self.takes - 1) // 2))

        def take(self) -> list[float]:
            self.takes += 1  # the benchmark takes once before and once after each step
            return super().take()

    bench_responsiveness.Heartbeat = Heartbeat
    dog = Watchdog(threading.main_thread())
    dog.start()
    try:
        bench_responsiveness.sleuth_gui(ensure_log(rows))
    finally:
        dog.halt.set()
        dog.join()
    found = []
    for (start, cpu_start, _), (end, cpu_end, step) in zip(beats, beats[1:]):
        if (end - start) * 1000 < min_ms or step < 0:
            continue
        inside = [s for s in dog.samples if start <= s[0] <= end]
        running = collections.Counter(b[3] for a, b in zip(inside, inside[1:]) if b[1] > a[1])
        found.append({"step": names[min(step, len(names) - 1)], "ms": (end - start) * 1000,
                      "cpu_ms": (cpu_end - cpu_start) * 1000, "samples": len(inside),
                      "waiting": sum(s[2] == "S" for s in inside),
                      "stack": running.most_common(1)[0][0] if running else "(never ran)",
                      "workers": collections.Counter(f"{name}: {stack}" for s in inside
                                                     for name, stack in s[4].items()).most_common(2)})
    return found


def thread_dumps(rows: int, min_ms: float) -> list[dict]:
    """Run the benchmark's window route in this process and, during each heartbeat gap of
    ``min_ms`` or more, the Python stack of *every* thread as it was while the gap lasted.

    At every beat the GUI thread re-arms :func:`faulthandler.dump_traceback_later`: a C
    thread that needs no interpreter lock writes all threads' stacks every ``0.8 * min_ms``
    the next beat is late. So a worker that holds the lock in one long C call (a fetch into numpy,
    an Arrow conversion) is caught inside it, at the line that made the call, which a sampler
    in Python (:class:`Watchdog`) cannot see: it waits for the lock like the GUI thread. Each
    beat notes the dump file's length, which tells the dumps of one gap from the next.

    Reading frames without the lock is what faulthandler does for a crash, not a safe way to
    sample: a frame freed while it is read crashes the run (two of four 10M-row runs with a
    dump every 40 ms ended in a segmentation fault), so dumps are taken no more often than
    that; rerun when a run crashes (armed once and left repeating, it crashed every run).
    Re-arming costs stalls of its own: cancelling the last dump waits, holding the lock, for
    its thread to end, which on a loaded machine takes a while; so read the stacks and the
    collections of a gap here, and its length from ``bench_responsiveness.py``."""
    every_ms = 0.8 * min_ms
    sys.path.insert(0, str(HERE))
    import bench_responsiveness
    from common import ensure_log

    names = ["open the log"] + [name for name, _ in bench_responsiveness._steps(_Anything())]
    beats: list[tuple[float, float, int, int]] = []  # (wall, GUI CPU, step, dump file length) at every beat
    thread_names: dict[int, str] = {}  # noted at every step's start and end: the pools' threads end with the run
    with tempfile.TemporaryFile("w+") as out:

        class Heartbeat(bench_responsiveness.Heartbeat):
            takes = 0

            def _beat(self) -> None:
                super()._beat()
                beats.append((time.perf_counter(), time.thread_time(), (self.takes - 1) // 2,
                               os.fstat(out.fileno()).st_size))
                faulthandler.dump_traceback_later(every_ms / 1000, repeat=True, file=out)

            def take(self) -> list[float]:
                self.takes += 1  # the benchmark takes once before and once after each step
                thread_names.update((thread.ident, thread.name) for thread in threading.enumerate())
                return super().take()

        collections_seen: list[tuple[float, float, int, int]] = []  # (start, end, generation, objects collected)

        def garbage_collection(phase: str, info: dict) -> None:
            if phase == "start":
                collections_seen.append((time.perf_counter(), 0.0, info["generation"], 0))
            else:
                start, _, generation, _ = collections_seen[-1]
                collections_seen[-1] = (start, time.perf_counter(), generation, info["collected"])

        bench_responsiveness.Heartbeat = Heartbeat
        gc.callbacks.append(garbage_collection)
        sampler = _state_sampler(threading.main_thread().native_id)
        try:
            bench_responsiveness.sleuth_gui(ensure_log(rows))
        finally:
            faulthandler.cancel_dump_traceback_later()
            gc.callbacks.remove(garbage_collection)
            sampler.terminate()
            states = [(float(at), state) for at, state in (line.split() for line in sampler.communicate()[0].split("\n")
                                                           if line)]
        out.seek(0)
        text = out.read()
    found = []
    for (start, cpu_start, _, begin), (end, cpu_end, step, stop) in zip(beats, beats[1:]):
        if (end - start) * 1000 < min_ms or step < 0:
            continue
        dumps = [_busy_threads(dump, thread_names) for dump in text[begin:stop].split("Timeout (")[1:]]
        collected = [(1000 * (b - a), generation) for a, b, generation, _ in collections_seen
                     if b > start and a < end]
        inside = [state for at, state in states if start <= at <= end]
        found.append({"step": names[min(step, len(names) - 1)], "ms": (end - start) * 1000,
                      "cpu_ms": (cpu_end - cpu_start) * 1000, "dumps": dumps, "gc": collected,
                      "states": collections.Counter(inside)})
    return found


def _state_sampler(thread: int) -> subprocess.Popen:
    """A separate process that reads the GUI thread's scheduler state from ``/proc`` every
    few ms until terminated, then prints ``time state`` lines, a sleeping thread's state being
    where it sleeps (``wchan``). Being outside the interpreter it samples on through a worker's
    hold of the interpreter lock: asleep in a futex (waiting for that lock or another of Qt's)
    tells a stall of the lock from one of the scheduler (R: runnable, no core) or the
    benchmark's own idle sleep (``hrtimer_nanosleep``)."""
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit())\n"
        f"stat, rows = '/proc/{os.getpid()}/task/{thread}/stat', []\n"
        "try:\n"
        "    while True:\n"
        "        with open(stat) as f, open(stat[:-4] + 'wchan') as w:\n"
        "            state, waits = f.read().rsplit(')', 1)[1].split()[0], w.read().strip() or '-'\n"
        "        rows.append(f'{time.perf_counter()} {state if state != \"S\" else waits}')\n"
        "        time.sleep(0.003)\n"
        "finally:\n"
        "    print('\\n'.join(rows))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def job_timeline(rows: int) -> list[dict]:
    """Open the log as the benchmark's first step does and list every job the window ran until
    none runs: its label, lane, when it was submitted, started and ended (seconds from the
    open) and its CPU seconds (the worker thread's clock): what the open's "all jobs done" is."""
    sys.path.insert(0, str(HERE))
    import functools

    import bench_responsiveness
    from common import ensure_log

    from app.tasks import TaskRunner

    jobs: list[dict] = []
    opened = time.perf_counter()  # times are taken from here, then from the first job's submission
    submit = TaskRunner.submit

    def timed_submit(self, fn, *args, label: str = "", lane: str = "interactive", **kwargs):
        job = {"label": label or getattr(fn, "__name__", "?"), "lane": lane,
               "submitted": time.perf_counter() - opened}

        @functools.wraps(fn)
        def run(*a, **k):
            job["started"], cpu = time.perf_counter() - opened, time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                job["ended"], job["cpu"] = time.perf_counter() - opened, time.thread_time() - cpu

        jobs.append(job)
        return submit(self, run, *args, label=label, lane=lane, **kwargs)

    TaskRunner.submit = timed_submit
    bench_responsiveness._steps = lambda window: []
    bench_responsiveness.sleuth_gui(ensure_log(rows))
    first = min((job["submitted"] for job in jobs), default=0.0)  # the open's own job: the user's click
    return [{**job, **{k: job[k] - first for k in ("submitted", "started", "ended") if k in job}} for job in jobs]


IDLE_LEAVES = re.compile(r"in (wait|_worker|_wait_for_tstate_lock|get|_wait_idle|run)$")


def _busy_threads(dump: str, thread_names: dict[int, str]) -> dict[str, str]:
    """The threads of one faulthandler dump that are not parked, each with its stack keyed
    like :func:`_stack_key` (innermost frames first)."""
    busy = {}
    for block in re.split(r"\n(?=Thread 0x|Current thread 0x)", dump):
        head, *frames = block.strip().splitlines()
        match = re.search(r"0x([0-9a-f]+)", head)
        if match is None or not frames or "(most recent call first)" not in head:
            continue
        frames = [line.strip() for line in frames if line.strip().startswith("File ")]
        shown = [re.sub(r'File "(.*)", line (\d+) in (.*)', lambda m: f"{m[3]} ({_in_repository(m[1])}:{m[2]})", f)
                 for f in frames]
        name = thread_names.get(int(match[1], 16), match[1])
        parked = IDLE_LEAVES.search(frames[0]) and not PROJECT_FRAME.search(shown[0])
        if not shown or parked and name != "MainThread":
            continue
        own = [name for name in shown if PROJECT_FRAME.search(name)] or shown[:3]
        busy[name] = " <- ".join(own[:3]) + f"  [leaf: {shown[0]}]"
    return busy


class _Anything:
    """Stands in for the window when only the benchmark's step names are wanted."""

    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        return _Anything()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--stalls", action="store_true", help="list each stall of the GUI thread instead")
    parser.add_argument("--min-ms", type=float, default=100.0, help="shortest stall listed (with --stalls)")
    parser.add_argument("--watchdog", action="store_true",
                        help="list each stall with the GUI thread's own CPU time in it instead")
    parser.add_argument("--dumps", action="store_true",
                        help="list each stall with every busy thread's stack during it (faulthandler)")
    parser.add_argument("--jobs", action="store_true", help="list the jobs opening the log runs, with their times")
    args = parser.parse_args()
    if args.jobs:
        print("\n### Jobs of opening the log, seconds from the open\n")
        print("| job | lane | submitted | started | ended | CPU |\n|---|---|---|---|---|---|")
        for job in sorted(job_timeline(args.rows), key=lambda j: j.get("started", 1e9)):
            print(f"| {job['label']} | {job['lane']} | {job['submitted']:.2f} | {job.get('started', float('nan')):.2f} "
                  f"| {job.get('ended', float('nan')):.2f} | {job.get('cpu', float('nan')):.2f} |")
        return
    if args.dumps:
        found = thread_dumps(args.rows, args.min_ms)
        print(f"\n### Heartbeat gaps of {args.min_ms:.0f} ms or more: every busy thread's stack during them\n")
        for stall in found:
            collected = ", ".join(f"gen {g} {ms:,.0f} ms" for ms, g in stall["gc"] if ms >= 5)
            states = stall["states"]
            futex = sum(n for state, n in states.items() if "futex" in state)
            print(f"- {stall['step']}: {stall['ms']:,.0f} ms, GUI CPU {stall['cpu_ms']:,.0f} ms, GUI thread "
                  f"waiting for a lock in {futex} of {sum(states.values())} samples, runnable in {states['R']}"
                  + (f"; garbage collections: {collected}" if collected else ""))
            for i, dump in enumerate(stall["dumps"]):
                for thread, stack in dump.items():
                    print(f"    - dump {i + 1}, {thread}: {stack}")
        return
    if args.watchdog:
        found = watchdog_stalls(args.rows, args.min_ms)
        print(f"\n### Heartbeat gaps of {args.min_ms:.0f} ms or more, with the GUI thread's own CPU time\n")
        for stall in found:
            print(f"- {stall['step']}: {stall['ms']:,.0f} ms, GUI CPU {stall['cpu_ms']:,.0f} ms, waiting in "
                  f"{stall['waiting']} of {stall['samples']} samples; {stall['stack']}")
            for worker, seen in stall["workers"]:
                print(f"    - busy beside it in {seen} samples: {worker}")
        return
    if args.stalls:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "samples.json"
            profile(args.rows, path, in_time_order=True)
            found = stalls(json.loads(path.read_text()), args.min_ms, _idle_sleep_line(), _step_names())
        print(f"\n### GUI thread: {len(found)} stalls of {args.min_ms:.0f} ms or more\n")
        for stall in found:
            print(f"- {stall['step']}, at {stall['at_s']:.2f} s of samples: {stall['ms']:,.0f} ms  {stall['stack']}")
        return
    with tempfile.TemporaryDirectory() as folder:
        raw_path = Path(folder) / "stacks.txt"
        profile(args.rows, raw_path)
        for where, counter in hotspots(raw_path).items():
            total = sum(counter.values())
            print(f"\n### {where}: {total / SAMPLES_PER_SECOND:.2f} s holding the interpreter lock\n")
            for key, count in counter.most_common(args.top):
                print(f"- {count / SAMPLES_PER_SECOND * 1000:,.0f} ms  {key}")


if __name__ == "__main__":
    main()
