"""File > Connect to Spark…: the dialog, the pull as a job, the sentence, the workspace's record.

No Spark server here: the pull is replaced at its seam (``app.spark_pull.pull_table``) by one
that writes the first rows of the demo log, as the real one writes its sample. The pull against
a real server is tested once in ``tests/spark/test_connect_window.py``.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from analysis.engine.sample import Sample
from analysis.engine.spark_store import public_url
from analysis.progress import Cancelled
from views.dialogs.connect_spark import ConnectSparkDialog
from tests.views.helpers import close_window, make_window, not_blank, open_demo, settle

TOKEN = "dapi-s3cr3t-token"
URL = f"sc://db.example.com:443/;token={TOKEN};x-databricks-cluster-id=0123"
TABLE = "main.ml.fraud_inference"


class FakePull:
    """``pull_table`` without a cluster: ``max_rows`` evenly spaced rows of a local log, recorded."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.calls: list[tuple] = []

    def __call__(self, url, table, folder, max_rows, where=None, cancel=None, progress=None) -> Sample:
        self.calls.append((url, table, max_rows, where))
        rows = pq.read_table(self.log)
        path = Path(folder) / f"pull_{len(self.calls)}" / "rows.parquet"
        path.parent.mkdir(parents=True)
        step = max(1, rows.num_rows // max_rows)
        pq.write_table(rows.take(list(range(0, rows.num_rows, step))[:max_rows]), path)
        return Sample(path, min(max_rows, rows.num_rows), rows.num_rows, public_url(url), where)


@pytest.fixture
def fake_pull(monkeypatch, window_demo_files):
    pull = FakePull(window_demo_files.log)
    monkeypatch.setattr("app.spark_pull.pull_table", pull)
    return pull


def fill(qtbot, dialog: ConnectSparkDialog, url: str, table: str, rows: int | None = None, where: str = "") -> None:
    """Type into the dialog as a person does: the fields in order, the rows over the default."""
    for edit, text in ((dialog.url_edit, url), (dialog.table_edit, table), (dialog.where_edit, where)):
        edit.selectAll()
        qtbot.keyClick(edit, Qt.Key_Delete)
        qtbot.keyClicks(edit, text)
    if rows is not None:
        dialog.rows_spin.lineEdit().selectAll()
        qtbot.keyClicks(dialog.rows_spin, str(rows))


def click_pull(qtbot, dialog: ConnectSparkDialog) -> None:
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.Ok), Qt.LeftButton)


def answer_with(qtbot, monkeypatch, url: str, table: str, rows: int | None = None, where: str = "",
                seen: list | None = None) -> None:
    """Every Connect dialog the window opens is filled and its Pull button clicked;
    ``seen`` gets what each one showed before typing (url, table, rows, where, note shown)."""

    def exec_(dialog: ConnectSparkDialog) -> int:
        dialog.show()
        if seen is not None:
            seen.append((dialog.url(), dialog.table_edit.text(), dialog.rows_spin.value(), dialog.where_edit.text()))
        fill(qtbot, dialog, url, table, rows, where)
        click_pull(qtbot, dialog)
        return dialog.result()

    monkeypatch.setattr(ConnectSparkDialog, "exec", exec_)


def test_the_dialog_remembers_url_table_and_rows_but_never_the_token(qtbot, qsettings):
    from analysis.engine import DEFAULT_SAMPLE_ROWS

    dialog = ConnectSparkDialog(qsettings)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.rows_spin.value() == DEFAULT_SAMPLE_ROWS
    fill(qtbot, dialog, URL, TABLE, 250_000, "region = 'EU-West'")
    click_pull(qtbot, dialog)

    assert dialog.result() == QDialog.Accepted
    assert dialog.url() == URL  # the pull gets the token
    source = dialog.source()
    assert (source.url, source.table, source.rows, source.where) == (
        "sc://db.example.com:443", TABLE, 250_000, "region = 'EU-West'")
    qsettings.sync()
    assert TOKEN not in Path(qsettings.fileName()).read_text()

    again = ConnectSparkDialog(qsettings)
    qtbot.addWidget(again)
    assert (again.url(), again.table_edit.text(), again.rows_spin.value(), again.where_edit.text()) == (
        "sc://db.example.com:443", TABLE, 250_000, "region = 'EU-West'")


def test_a_bad_url_is_one_sentence_and_the_dialog_stays_open(qtbot, qsettings):
    dialog = ConnectSparkDialog(qsettings)
    qtbot.addWidget(dialog)
    dialog.show()
    fill(qtbot, dialog, "http://spark-host:15002/;token=abc", "")
    assert not dialog.buttons.button(QDialogButtonBox.Ok).isEnabled()  # no table named yet
    qtbot.keyClicks(dialog.table_edit, TABLE)
    click_pull(qtbot, dialog)

    assert dialog.isVisible() and dialog.result() != QDialog.Accepted
    assert dialog.error.isVisible()
    assert dialog.error.text().startswith("'http://spark-host:15002' is not a Spark Connect URL: write sc://HOST:PORT")
    assert "abc" not in dialog.error.text()
    assert qsettings.value("spark/url") is None  # nothing is remembered from a refused dialog
    qtbot.keyClicks(dialog.url_edit, "x")
    assert not dialog.error.isVisible()  # typing again clears the sentence


def test_file_connect_to_spark_opens_the_pulled_rows_and_every_header_says_so(app_window, qtbot, window_demo_files,
                                                                            fake_pull, monkeypatch):
    open_demo(qtbot, app_window, window_demo_files)
    answer_with(qtbot, monkeypatch, URL, TABLE, 5_000)
    app_window.actions_by_id["connect_spark"].trigger()
    settle(qtbot, app_window)

    assert fake_pull.calls == [(URL, TABLE, 5_000, None)]
    opened = app_window.session.active
    assert opened.name == TABLE and opened.dataset.row_count == 5_000
    assert len(app_window.session.datasets) == 2  # the demo stays open beside it
    of_rows = pq.read_metadata(window_demo_files.log).num_rows
    sentence = f"computed on a 5,000-row sample of {of_rows:,} rows on sc://db.example.com:443"
    assert sentence in app_window.metrics_panel.caption.text()
    assert sentence in app_window.row_count_label.text()
    assert sentence in app_window.time_panel.caption.text()
    for dock in (app_window.breakdown_dock, app_window.discovery_dock):
        dock.raise_()
        settle(qtbot, app_window)
    assert sentence in app_window.breakdown_panel.caption.text()
    assert sentence in app_window.discovery_panel.caption.text()
    app_window.compare_dock.raise_()
    qtbot.mouseClick(app_window.compare_panel.compare_button, Qt.LeftButton)
    settle(qtbot, app_window)
    assert sentence in app_window.compare_panel.pairing.text()
    app_window.findings_dock.raise_()
    qtbot.mouseClick(app_window.findings_panel.run_button, Qt.LeftButton)
    settle(qtbot, app_window, timeout=120000)
    assert sentence in app_window.findings_panel.caption.text()
    app_window.metrics_dock.raise_()
    app_window.time_dock.raise_()
    assert not_blank(app_window.metrics_panel) and not_blank(app_window.time_panel)  # the pulled rows drawn


def test_a_server_that_is_down_is_one_sentence_and_the_open_log_stays(app_window, qtbot, window_demo_files,
                                                                      monkeypatch):
    """No mock: the real pull finds nothing listening at the URL's port."""
    pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[spark]') is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = open_demo(qtbot, app_window, window_demo_files)
    answer_with(qtbot, monkeypatch, f"sc://127.0.0.1:{port}/;token={TOKEN}", TABLE)
    app_window.actions_by_id["connect_spark"].trigger()
    settle(qtbot, app_window)

    assert app_window.session.active_name == demo.name and len(app_window.session.datasets) == 1
    messages = app_window.notifications.messages()
    assert len(messages) == 1
    assert messages[0].startswith(f"Could not pull {TABLE}: cannot reach the Spark Connect server at "
                                  f"sc://127.0.0.1:{port}")
    assert TOKEN not in messages[0] and "\n" not in messages[0]


def test_cancel_stops_the_pull_and_the_open_log_stays(qtbot, qsettings, window_demo_files, monkeypatch):
    """The pull gets the job's cancel token (the real one interrupts the cluster's statements
    with it); Edit > Cancel running jobs cancels it and nothing opens."""
    started, stopped = threading.Event(), threading.Event()

    def blocking_pull(url, table, folder, max_rows, where=None, cancel=None, progress=None):
        started.set()
        cancel.on_cancel(stopped.set)
        assert stopped.wait(timeout=30), "the pull was never cancelled"
        raise Cancelled()

    monkeypatch.setattr("app.spark_pull.pull_table", blocking_pull)
    window = make_window(qtbot, qsettings, threaded=True)
    try:
        demo = open_demo(qtbot, window, window_demo_files)
        answer_with(qtbot, monkeypatch, URL, TABLE)
        window.actions_by_id["connect_spark"].trigger()
        qtbot.waitUntil(started.is_set, timeout=10000)
        assert any(task.label == f"Pulling {TABLE} from sc://db.example.com:443" for task in window.tasks.running())
        window.actions_by_id["cancel_jobs"].trigger()  # Edit > Cancel running jobs (Esc)
        settle(qtbot, window)
        assert stopped.is_set()
        assert window.session.active_name == demo.name and len(window.session.datasets) == 1
        assert window.notifications.messages() == []
    finally:
        close_window(window)


def test_a_workspace_keeps_the_source_and_offers_to_pull_again(app_window, qtbot, qsettings, window_demo_files,
                                                              fake_pull, monkeypatch, tmp_path):
    answer_with(qtbot, monkeypatch, URL, TABLE, 5_000, "amount > 10")
    app_window.actions_by_id["connect_spark"].trigger()
    settle(qtbot, app_window)
    path = tmp_path / "pulled.sleuth"
    assert app_window.controller.save_workspace_as(path)
    app_window.close()
    assert TOKEN.encode() not in path.read_bytes()

    again = make_window(qtbot, qsettings)
    try:
        other_token_url = "sc://db.example.com:443/;token=fresh-token"
        seen: list = []
        answer_with(qtbot, monkeypatch, other_token_url, TABLE, 5_000, "amount > 10", seen)
        again.controller.open_workspace(path)
        settle(qtbot, again)
        settle(qtbot, again)  # the offer comes once the workspace is open
        assert seen == [("sc://db.example.com:443", TABLE, 5_000, "amount > 10")]  # prefilled, no token
        assert fake_pull.calls[-1] == (other_token_url, TABLE, 5_000, "amount > 10")
        assert again.session.active.name == TABLE and again.session.active.dataset.row_count == 5_000
        assert again.session.active.pulled.source.url == "sc://db.example.com:443"
    finally:
        close_window(again)


def test_labels_joined_to_a_pulled_log_are_joined_again_after_the_next_pull(app_window, qtbot, qsettings,
                                                                           window_demo_files, fake_pull, monkeypatch,
                                                                           tmp_path):
    """The labelled log is registered by its Spark source and its labels file, never by the
    temporary sample, and keeps saying it is a sample."""
    import pandas as pd

    answer_with(qtbot, monkeypatch, URL, TABLE, 5_000)
    app_window.actions_by_id["connect_spark"].trigger()
    settle(qtbot, app_window)
    pulled = pd.read_parquet(app_window.session.active.dataset.paths[0])
    labels = tmp_path / "late_labels.csv"
    pulled[["request_id", "is_fraud"]].rename(columns={"is_fraud": "chargeback"}).to_csv(labels, index=False)
    app_window.controller.join_labels(TABLE, str(labels))
    settle(qtbot, app_window)
    joined = app_window.session.active
    assert joined.name == f"{TABLE} + labels" and joined.pulled == app_window.session.datasets[TABLE].pulled
    path = tmp_path / "joined.sleuth"
    assert app_window.controller.save_workspace_as(path)
    app_window.close()

    again = make_window(qtbot, qsettings)
    try:
        answer_with(qtbot, monkeypatch, URL, TABLE, 5_000)
        again.controller.open_workspace(path)
        settle(qtbot, again)
        settle(qtbot, again)
        reopened = again.session.datasets[f"{TABLE} + labels"]
        assert reopened.labels == (str(labels),) and reopened.pulled is not None
        assert reopened.dataset.row_count == 5_000
        assert reopened.dataset.report == joined.dataset.report  # the same join on the same pull, said the same
        assert any("late_labels.csv" in sentence for sentence in reopened.dataset.report.warnings)
    finally:
        close_window(again)


def test_a_registration_without_rows_or_a_readable_source_is_one_sentence(app_window, qtbot, tmp_path, monkeypatch):
    from analysis.query import Sql
    from analysis.workspace.workspace_file import DatasetEntry, Workspace

    path = tmp_path / "edited.sleuth"
    workspace = Workspace.open(path)
    workspace.save_dataset(DatasetEntry("pulled", (), "parquet", None))
    workspace.edit([Sql("INSERT INTO spark_pulls VALUES ('pulled', '{\"url\": 3}', NULL)")])
    workspace.close()
    offered = []
    monkeypatch.setattr(ConnectSparkDialog, "exec", lambda dialog: offered.append(dialog) or 0)
    assert app_window.controller.open_workspace(path)
    settle(qtbot, app_window)
    assert offered == [] and app_window.session.datasets == {}
    assert app_window.notifications.messages() == [
        "pulled: the workspace does not say where its rows are (the registration is kept)"]
