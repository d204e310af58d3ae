"""Running Sleuth's command line as a user or a cron job does: a fresh process, no screen."""

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
