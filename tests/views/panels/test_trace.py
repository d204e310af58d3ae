"""The Trace panel: a failed demo prediction traced to its training rows, cached, compared, trusted."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

import analysis.trace.influence as influence_module
import analysis.trace.tracer as trace_module
import views.meeting as meeting_module
import views.panels.trace as trace_panel_module
from analysis.demo.models import NEW_VERSION, OLD_VERSION
from analysis.trace.model_files import load_model
from analysis.query import Sql, ident
from analysis.slices import Slice, to_text
from analysis.slicing.parser import parse_slice
from analysis.trace.suspects import influence_by_source
from analysis.trace.tracer import FailuresTrace, TraceSettings, TrainingFiles, trace_prediction
from analysis.workspace.version_cards import VersionCard
from app.commands import SaveVersionCard, SelectRow, SetSlice
from app.state import Session
from tests.views.helpers import open_demo, open_log, settle
from views.panels.trace import TracePanel


def _cards(session, window_demo_files, models=None):
    models = models or window_demo_files.models
    for version in (OLD_VERSION, NEW_VERSION):
        session.run(SaveVersionCard(VersionCard(
            version, training_snapshot=str(window_demo_files.training), model_file=str(models[version]))))


def _failed_positions(window_demo_files, version, count):
    log = pd.read_parquet(window_demo_files.log)
    served = log[(log["model_version"] == version) & log["is_fraud"].notna()]
    failed = served[served["prediction"] != served["is_fraud"]]
    return [(int(position), str(failed.loc[position, "request_id"])) for position in failed.index[:count]]


@pytest.fixture
def panel(qtbot, sync_tasks, window_demo_files, window_demo_influence):
    """The Trace panel alone on the 20k demo log, with that demo's models and training snapshot,
    its jobs run inline: what these tests check (a trace equal to the CLI's, its cache, its
    slices, its refusals, the bad batch named) holds at a tenth of the full demo's rows. Its
    models' preparations are the session's (``window_demo_influence``)."""
    session = Session(influence=window_demo_influence)
    open_log(session, window_demo_files.log)
    trace_panel = TracePanel(session, sync_tasks)
    qtbot.addWidget(trace_panel)
    trace_panel.resize(1300, 800)
    trace_panel.show()
    yield trace_panel
    session.close()


def _select(session, row):
    session.run(SelectRow(row))


def test_trace_equals_the_cli_and_the_window_prepares_each_model_once(qtbot, panel, window_demo_files, store,
                                                                     sync_tasks, tmp_path, monkeypatch):
    """The panel traces two rows of one model, then meeting mode shows a failure of the same
    model: the Session's one influence cache holds the preparation, made once for the window
    (issue 12: the panel and the meeting each kept a cache and prepared the model again)."""
    assert panel.empty_message() == "Click a row of the table to trace it."
    session = panel.session
    session.influence = trace_module.InfluenceCache()  # a new window's: its preparations are counted
    _cards(session, window_demo_files)
    prepared = []
    original = trace_module._prepare
    monkeypatch.setattr(trace_module, "_prepare", lambda *a, **k: prepared.append(1) or original(*a, **k))
    (first, first_id), (second, second_id) = _failed_positions(window_demo_files, NEW_VERSION, 2)

    _select(panel.session, first)
    assert panel.trace is not None, panel.empty_message()
    files = TrainingFiles([str(window_demo_files.training)], window_demo_files.models[NEW_VERSION])
    expected = trace_prediction(store, files, [str(window_demo_files.log)], first_id,
                                TraceSettings(version=NEW_VERSION))
    assert str(panel.trace.request_id) == first_id and panel.trace.correct is False
    assert panel.trace.method == expected["method"] and not panel.trace.surrogate
    for mine, theirs in ((panel.trace.harmful, expected["harmful"]), (panel.trace.helpful, expected["helpful"])):
        assert [r.row_id for r in mine] == [r["row_id"] for r in theirs]
        assert [r.score for r in mine] == pytest.approx([r["score"] for r in theirs], rel=1e-6)
        assert [r.label for r in mine] == [r["label"] for r in theirs]
        assert [r.context["source"] for r in mine] == [r["source"] for r in theirs]
    assert panel.harmful.rowCount() == len(expected["harmful"]) == 20
    assert panel.harmful.item(0, 1).text() == str(expected["harmful"][0]["row_id"])
    assert panel.harmful.item(0, 0).data(trace_panel_module.SCORE_ROLE) == pytest.approx(1.0)
    assert expected["method"] in panel.caption.text()

    assert trace_module.InfluenceCache.key(files.snapshot_paths, files.model_path) in session.influence

    _select(panel.session, second)
    assert str(panel.trace.request_id) == second_id
    assert prepared == [1]

    meeting = _meeting_on(session, sync_tasks, first, first_id, tmp_path)
    qtbot.addWidget(meeting)
    meeting.show()
    qtbot.keyClick(meeting, Qt.Key_Right)  # the group's first failure: the row the panel traced first
    assert "pushed the model" in meeting.training_caption.text(), meeting.training_caption.text()
    shown = [meeting.training.item(r, 0).text() for r in range(meeting.training.rowCount())]
    assert shown == [f"{row['score']:+.3g}" for row in expected["harmful"][:meeting_module.TRAINING_ROWS_SHOWN]]
    assert prepared == [1]
    meeting.close()


def _meeting_on(session, tasks, position, request, tmp_path):
    """Meeting mode on ``session``'s log with one queued group: the new version's failure at
    ``position`` (request ``request``), which the view traces through that version's card."""
    from analysis.queue.failure_queue import FailureQueue
    from analysis.workspace.workspace_file import Workspace
    from app.commands import AttachWorkspace
    from tests.views.test_meeting import _group

    session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    queue = FailureQueue(session.workspace)
    items = pd.DataFrame({"row_key": [request], "row_number": [position], "version": [NEW_VERSION],
                          "label": ["1"], "prediction": ["0"], "loss": [2.0], "observed_at": [pd.NaT]})
    with queue.edit():
        _group(queue, "one failure", "new", None, {}, 1, items, session.active.name)
    return meeting_module.MeetingView(session, tasks, ["ana"])


def test_a_training_row_is_compared_with_the_query_row(qtbot, panel, window_demo_files, monkeypatch):
    _cards(panel.session, window_demo_files)
    (row, _), = _failed_positions(window_demo_files, OLD_VERSION, 1)
    _select(panel.session, row)
    assert panel.trace is not None, panel.empty_message()
    panel.harmful.selectRow(0)
    traced = panel.trace.harmful[0]
    differing = [f for f in panel.trace.features if panel.trace.query_values[f] != traced.values[f]]
    assert differing and len(differing) < len(panel.trace.features)
    assert panel.differing_features() == differing
    assert panel.comparison.rowCount() == len(panel.trace.features)

    panel.tabs.setCurrentIndex(1)
    preparations = []
    real = influence_module.prepare_influence
    monkeypatch.setattr(influence_module, "prepare_influence", lambda *a, **k: preparations.append(1) or real(*a, **k))
    panel.find_suspects()
    assert preparations == []  # the ranking reads the model's self-influence from the trace's preparation
    assert panel.suspects.rowCount() == 50
    assert "batch-2026-09-15" in panel.suspects_summary.text()
    assert "concentrate" in panel.suspects_summary.text()


def test_a_pickle_model_is_not_loaded_when_refused(qtbot, panel, window_demo_files, tmp_path, monkeypatch):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(load_model(window_demo_files.models[OLD_VERSION]).estimator))
    _cards(panel.session, window_demo_files, {OLD_VERSION: pickled, NEW_VERSION: pickled})
    asked, loaded = [], []
    monkeypatch.setattr(trace_panel_module, "confirm_trust", lambda parent, path, types: asked.append(types) or False)
    monkeypatch.setattr(trace_module, "load_model", lambda *a, **k: loaded.append(a))
    (row, _), = _failed_positions(window_demo_files, OLD_VERSION, 1)
    _select(panel.session, row)
    assert len(asked) == 1 and any("sklearn" in t for t in asked[0])
    assert loaded == [] and panel.trace is None
    assert "not opened" in panel.empty_message()


def test_empty_states_name_what_is_missing(qtbot, panel, window_demo_files, sync_tasks):
    empty = TracePanel(Session(), sync_tasks)
    qtbot.addWidget(empty)
    empty.show()
    assert "Open a prediction log" in empty.empty_message()
    empty.session.close()

    log = pd.read_parquet(window_demo_files.log, columns=["is_fraud"])
    unlabelled = int(log.index[log["is_fraud"].isna()][0])
    _select(panel.session, unlabelled)
    assert "No training snapshot is known" in panel.empty_message() and "Choose snapshot" in panel.empty_message()
    assert panel.harmful.isVisibleTo(panel) is False  # the message stands in place of empty lists
    _cards(panel.session, window_demo_files)
    assert "no label yet" in panel.empty_message()


def test_training_and_query_rows_open_as_slices(qtbot, app_window, window_demo_files, window_demo_influence):
    open_demo(qtbot, app_window, window_demo_files)
    _cards(app_window.session, window_demo_files)
    app_window.session.influence = window_demo_influence
    panel = app_window.trace_panel
    app_window.trace_dock.show()
    app_window.trace_dock.raise_()
    log_name = app_window.session.active_name
    (row, request_id), = _failed_positions(window_demo_files, NEW_VERSION, 1)
    _select(panel.session, row)
    assert panel.trace is not None, panel.empty_message()
    traced = panel.trace.harmful[1]
    panel.harmful.selectRow(1)
    qtbot.mouseClick(panel.open_training_button, Qt.LeftButton)
    settle(qtbot, app_window)
    session = app_window.session
    opened = session.active
    assert opened.kind == "training" and list(opened.dataset.paths) == [str(window_demo_files.training)]
    assert to_text(session.current_slice.predicate) == f"row_id = {traced.row_id}"
    shown = session.store.rows(Sql(f"SELECT row_id, is_fraud FROM {ident(opened.dataset.view)} "
                                   f"WHERE {session.condition().text}", session.condition().params))
    assert shown == [(traced.row_id, traced.label)]
    assert panel.trace is not None  # the trace that led here stays on screen

    qtbot.mouseClick(panel.open_query_button, Qt.LeftButton)
    settle(qtbot, app_window)
    assert session.active_name == log_name
    assert to_text(session.current_slice.predicate) == (f"request_id = '{request_id}' AND "
                                                        f"model_version = '{NEW_VERSION}'")
    assert session.store.rows(Sql(f"SELECT {ident('_sleuth_row')} FROM {ident(session.active.dataset.view)} "
                                  f"WHERE {session.condition().text}", session.condition().params)) == [(row,)]


def test_the_failures_of_the_slice_name_the_bad_batch(qtbot, panel, window_demo_files):
    incident = json.loads(window_demo_files.manifest.read_text())["incidents"]
    flipped = next(i for i in incident if i["id"] == "c")
    _cards(panel.session, window_demo_files)
    types = {c.name: c.dtype for c in panel.session.active.dataset.columns}
    panel.session.run(SetSlice(Slice(parse_slice(f"merchant_category = '{flipped['category']}' AND prediction = 1 "
                                                 f"AND model_version = '{NEW_VERSION}'", types))))
    panel.tabs.setCurrentIndex(2)
    qtbot.mouseClick(panel.failures_button, Qt.LeftButton)
    assert panel.failures is not None, panel.failures_summary.text()
    summary = panel.failures_summary.text()
    assert f"source = {flipped['source']} holds" in summary and "beyond chance (adjusted p" in summary
    assert f"all {panel.failures.failures:,} of its failed predictions" in summary
    assert panel.failure_rows.rowCount() == 20
    assert panel.failure_sources.item(0, 1).text() == flipped["source"]

    panel.failure_rows.selectRow(0)
    with qtbot.waitSignal(panel.sig_open_training_rows) as opened:
        qtbot.mouseClick(panel.open_training_button, Qt.LeftButton)
    paths, predicate, _ = opened.args
    assert paths == [str(window_demo_files.training)]
    assert to_text(predicate) == f"row_id = {panel.failures.harmful[0].row_id}"


def test_a_card_whose_model_file_is_missing_gets_a_sentence(qtbot, panel, window_demo_files, tmp_path):
    """The random walk's bug: the trace raised on the GUI thread and stuck at "Tracing row N…"."""
    gone = tmp_path / "moved.skops"
    _cards(panel.session, window_demo_files, models={OLD_VERSION: gone, NEW_VERSION: gone})
    row, _ = _failed_positions(window_demo_files, NEW_VERSION, 1)[0]
    _select(panel.session, row)
    assert "Could not open the model file" in panel.empty_message() and "moved.skops" in panel.empty_message()
    assert "Tracing row" not in panel.empty_message()


def test_the_failures_headline_claims_no_concentration_where_chance_explains_it():
    """Influence spread evenly over batches of different sizes: the largest share is named, with
    its p-value, but no concentration is claimed, and it is the table's top row."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"batch": rng.choice(["small", "large"], p=[0.2, 0.8], size=3_000)})
    by_source = influence_by_source(frame, rng.normal(size=3_000), ("batch",))
    traced = FailuresTrace(version="v", failures=10, traced=10, cap=10, method="test", surrogate=False,
                           harmful=[], helpful=[], by_source=by_source)
    sentence = trace_panel_module._standout_sentence(traced)
    top = trace_panel_module._strongest_first(by_source).iloc[0]
    assert sentence.startswith("No source, batch or date holds more")
    assert f"batch = {top['value']} holds" in sentence


def test_a_trace_on_rows_pulled_from_spark_says_it_ran_on_a_sample(qtbot, sync_tasks, window_demo_files,
                                                                   window_demo_influence):
    """The log is a pull from Spark: the row trace's and the failures' headers say what of the
    table they were computed on, as every other panel's header does (the filter's "<" shown as typed)."""
    from dataclasses import replace

    from analysis.data.open_log import load_log
    from analysis.engine.sample import Sample
    from analysis.workspace.workspace_file import SparkSource
    from app.commands import AddDataset
    from app.state import OpenDataset, PulledLog

    session = Session(influence=window_demo_influence)
    loaded = load_log(session.store, [str(window_demo_files.log)], check=False)
    sample = Sample(window_demo_files.log, loaded.dataset.row_count, 3_200_000_000, "sc://cluster:15002",
                    "amount < 900")
    pulled = PulledLog(SparkSource("sc://cluster:15002", "main.ml.fraud", loaded.dataset.row_count, sample.where),
                       sample.sentence())
    session.run(AddDataset(OpenDataset(loaded.dataset, loaded.roles, "log", loaded.issues, pulled=pulled),
                           persist=False))
    panel = TracePanel(session, sync_tasks)
    qtbot.addWidget(panel)
    panel.show()
    try:
        _cards(session, window_demo_files)
        row, _ = _failed_positions(window_demo_files, NEW_VERSION, 1)[0]
        _select(session, row)
        assert panel.trace is not None, panel.empty_message()
        sentence = f"computed on a {loaded.dataset.row_count:,}-row sample of 3,200,000,000 rows matching amount < 900"
        assert sentence in panel.caption.text() and panel.trace.method in panel.caption.text()

        session.run(SetSlice(Slice(parse_slice(f"model_version = '{NEW_VERSION}'",
                                               {c.name: c.dtype for c in loaded.dataset.columns}))))
        qtbot.mouseClick(panel.failures_button, Qt.LeftButton)
        assert panel.failures is not None, panel.failures_summary.text()
        assert sentence in panel.failures_summary.text()

        session.run(AddDataset(replace(session.active, dataset=replace(loaded.dataset, name="local copy"),
                                       pulled=None), persist=False))
        _select(session, row)
        assert panel.trace is not None and "sample" not in panel.caption.text()  # a local file's header: no note
    finally:
        session.close()
