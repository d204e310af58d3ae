"""File > Connect to Spark… against the local Spark Connect server (this folder's conftest).

One test: the window pulls a filtered sample of the demo log through the dialog's path and works on it.
The dialog, cancel, a server that is down and the workspace's record are tested without a
server in ``tests/views/dialogs/test_connect_spark.py``.
"""

from __future__ import annotations

import pytest

from analysis.query import ident
from analysis.report.formatting import escape_html
from tests.views.dialogs.test_connect_spark import answer_with
from tests.views.helpers import close_window, make_window, settle

pytestmark = pytest.mark.slow

DEMO_ROWS = 5_000
PULLED_ROWS = 2_000
FILTER = "amount > 20"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A small demo log, generated while the server's JVM starts (it is asked for before ``spark_url``)."""
    from analysis.demo.generate import generate_demo

    return generate_demo(tmp_path_factory.mktemp("connect-demo"), rows=DEMO_ROWS, seed=7)


def test_the_window_pulls_a_sample_of_the_demo_and_says_so(small_demo, spark_url, qtbot, qsettings, monkeypatch):
    import pandas as pd

    matching = int((pd.read_parquet(small_demo.log)["amount"] > 20).sum())
    assert PULLED_ROWS < matching < DEMO_ROWS
    window = make_window(qtbot, qsettings)
    try:
        answer_with(qtbot, monkeypatch, spark_url, str(small_demo.log), PULLED_ROWS, FILTER)
        window.actions_by_id["connect_spark"].trigger()
        settle(qtbot, window, timeout=120_000)

        opened = window.session.active
        assert opened is not None, window.notifications.messages()
        assert opened.dataset.row_count == PULLED_ROWS
        assert opened.roles.label == "is_fraud" and opened.roles.model_version == "model_version"
        sentence = f"computed on a {PULLED_ROWS:,}-row sample of {matching:,} rows matching {FILTER} on {spark_url}"
        assert opened.pulled.sentence == sentence
        assert escape_html(sentence) in window.metrics_panel.caption.text()  # rich text: the filter's ">" escaped
        assert sum(result.rows for result in window.metrics_panel.results) == PULLED_ROWS  # metrics on the pull
        assert window.session.store.scalar(f"SELECT min(amount) FROM {ident(opened.dataset.view)}") > 20
    finally:
        close_window(window)
