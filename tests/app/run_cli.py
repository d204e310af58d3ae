"""Running Sleuth's command line as a user or a cron job does (a fresh process, no screen), or
in the test's own process where a fresh process is not what the test is about."""

import contextlib
import io
import os
import subprocess
import sys


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


def sleuth_in_process(*args, check=False, discoveries=None):
    """The same command through ``app.cli.main`` in this process, its output captured as
    :func:`sleuth` captures it: the same exit code, stdout and stderr, without the seconds a
    fresh interpreter spends importing DuckDB, pandas and scikit-learn. Not for a PDF report
    or a window: those create the process's one Qt application, which the GUI tests need.
    ``discoveries`` is handed to ``main``: tests that queue the same log in several commands
    share one, as a long-lived caller would."""
    from app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args], discoveries=discoveries)
        except SystemExit as exit_:  # argparse's usage errors (2) and --help (0)
            code = exit_.code
    result = subprocess.CompletedProcess(["sleuth", *map(str, args)], code, out.getvalue(), err.getvalue())
    if check:
        assert result.returncode == 0, result.stderr
    return result
