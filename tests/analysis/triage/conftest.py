"""Fixtures shared by the input checks' tests."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def no_probe_of_written_logs():
    """Open the logs these tests write without probing them in a child process first.

    Every test here writes its own log with pandas and opens it, so the session's rule (probe a
    file once, skip only its repeats: tests/conftest.py) probed about 130 new files a run, 0.2
    CPU-s each for the child's Python start and DuckDB import: a fifth of the folder's CPU. The
    probe guards against files a DuckDB crashes on, which pandas does not write; its own tests
    (tests/analysis/data/test_bad_input.py) and every other folder still run it. Module-scoped,
    so the probe is back for the next folder's tests in the same worker."""
    import analysis.data.loading as loading

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "probe_files", lambda paths, file_format, **kwargs: None)
        yield
