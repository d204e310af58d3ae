"""Running Sleuth's command line as a user or a cron job does (a fresh process, no screen), or
in the test's own process where a fresh process is not what the test is about."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path


def sleuth(*args, timeout=300, home=None, check=False):
    """``python -m app.cli ARGS`` (each argument as text); ``home`` keeps the user's own
    preferences out of it; with ``check`` a non-zero exit fails the test, showing stderr."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if home is not None:
        env["XDG_CONFIG_HOME"] = str(home)  # the user's own preferences are never read or written
    result = subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def sleuth_in_process(*args, check=False, discoveries=None, checker=None):
    """The same command through ``app.cli.main`` in this process, its output captured as
    :func:`sleuth` captures it: the same exit code, stdout and stderr, without the seconds a
    fresh interpreter spends importing DuckDB, pandas and scikit-learn. A PDF report or a
    window takes the process's one Qt application: a test of one asks for ``qapp`` first, so
    that the command does not create it (the GUI tests need the session's).
    ``discoveries`` and ``checker`` are handed to ``main``: tests that queue the same log in
    several commands share one search and one check, as a long-lived caller would."""
    from app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args], discoveries=discoveries, checker=checker)
        except SystemExit as exit_:  # argparse's usage errors (2) and --help (0)
            code = exit_.code
    result = subprocess.CompletedProcess(["sleuth", *map(str, args)], code, out.getvalue(), err.getvalue())
    if check:
        assert result.returncode == 0, result.stderr
    return result


def sleuth_in_another_process(*commands, timeout=300):
    """Each of ``commands`` (a sequence of arguments) through :func:`sleuth_in_process`, one after
    the other, in one fresh process: for a test of what a second process sees of a file this
    one holds (its lock), which needs another process but not one per command; a fresh
    interpreter's start and imports (about 1.7 CPU-s) are paid once. The results are as
    :func:`sleuth_in_process` returns them, in order."""
    script = ("import json, sys\n"
              "from tests.app.run_cli import sleuth_in_process\n"
              "print(json.dumps([vars(sleuth_in_process(*command)) for command in json.load(sys.stdin)]))")
    ran = subprocess.run([sys.executable, "-c", script], input=json.dumps([[str(a) for a in c] for c in commands]),
                         capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[2],
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert ran.returncode == 0, ran.stderr
    return [subprocess.CompletedProcess(**result) for result in json.loads(ran.stdout)]


class ReusedCheck:
    """A stand-in for ``check_dataset`` (``queue add``'s ``checker``, the window intake's check)
    that returns ``checked``, the session's check of the demo ``files`` (tests/conftest.py's
    ``demo_check``), when the caller checks that log whole with no saved profile, as a new
    workspace's first intake does, and checks any other log itself: the tests of what the queue
    does with a check's findings need not pay seconds of CPU for the same check again.
    ``progress`` and ``cancel`` say how a check reports and stops, not what it finds, so they
    do not prevent the reuse. ``reused`` counts the times it stood in for the check."""

    def __init__(self, files, checked) -> None:
        self.paths, self.checked, self.reused = (str(files.log),), checked, 0

    def __call__(self, scope, saved_profile=None, progress=None, cancel=None, **options):
        if saved_profile is None and not options and scope.condition is None and scope.dataset.paths == self.paths:
            self.reused += 1
            return self.checked
        from analysis.triage.check_report import check_dataset

        reporting = {name: value for name, value in (("progress", progress), ("cancel", cancel)) if value is not None}
        return check_dataset(scope, saved_profile, **options, **reporting)
