"""The table, the findings and the data sidebar say in words why they show nothing (no log, a
slice with no rows, a log the checks cannot read), and show their content again once there is
something to show."""

import numpy as np
import pandas as pd
import pytest

from analysis.slices import Compare, Slice
from app.commands import SetSlice
from app.state import Session
from tests.views.helpers import open_log
from views.panels.data_sidebar import DataSidebar
from views.panels.findings import FindingsPanel
from views.panels.table import TablePanel


def write_log(folder, with_time: bool = True):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(300)], "amount": rng.exponential(50, 300),
                          "label": rng.integers(0, 2, 300), "prediction": rng.integers(0, 2, 300)})
    if with_time:
        frame["timestamp"] = pd.Timestamp("2026-10-01") + pd.to_timedelta(np.arange(300), unit="h")
    path = folder / ("log.parquet" if with_time else "untimed.parquet")
    frame.to_parquet(path)
    return path


@pytest.fixture
def session():
    opened = Session()
    yield opened
    opened.close()


def build(qtbot, panel_class, session, tasks):
    panel = panel_class(session, tasks)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    return panel


def test_the_table_names_a_slice_without_rows_and_shows_the_rows_again_when_it_is_cleared(
        qtbot, sync_tasks, session, tmp_path):
    panel = build(qtbot, TablePanel, session, sync_tasks)
    assert "No data open" in panel.empty_message()
    open_log(session, write_log(tmp_path))
    assert panel.empty_message() == "" and panel.model.rowCount() == 300

    session.run(SetSlice(Slice(Compare("amount", ">", 5000))))
    message = panel.empty_message()
    assert message.startswith("No row of log is in the slice") and "amount &gt; 5000" in message, message
    assert "widen or clear" in message
    session.run(SetSlice(Slice(Compare("amount", ">", 0))))
    assert panel.empty_message() == "" and panel.model.rowCount() == 300


def test_findings_say_what_the_active_dataset_lacks_for_the_checks(qtbot, sync_tasks, session, tmp_path):
    panel = build(qtbot, FindingsPanel, session, sync_tasks)
    panel.check_on_open = False
    assert "No data open" in panel.empty_message() and not panel.run_button.isEnabled()
    open_log(session, write_log(tmp_path, with_time=False))
    assert "no timestamp column" in panel.empty_message() and "Column roles" in panel.empty_message()
    assert not panel.run_button.isEnabled()
    open_log(session, write_log(tmp_path), kind="training")
    assert "is a training snapshot" in panel.empty_message()
    open_log(session, write_log(tmp_path))
    assert panel.empty_message() == "" and panel.run_button.isEnabled()


def test_the_sidebar_says_how_to_open_data_until_a_log_is_open(qtbot, sync_tasks, session, tmp_path):
    panel = build(qtbot, DataSidebar, session, sync_tasks)
    assert "File &gt; Open" in panel.empty_message()
    open_log(session, write_log(tmp_path))
    assert panel.empty_message() == ""
    assert panel.list.count() == 1 and "300 rows" in panel.list.item(0).text()
