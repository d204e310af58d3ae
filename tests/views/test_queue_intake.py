"""Adding failures to the queue from the window's places: the table's selection and the current
slice queue exactly the failures among those rows (checked against the rows the table shows and
pandas), adding them twice duplicates nothing, and without a workspace the window says why."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from analysis.queue.discoveries import DiscoveryCache
from analysis.queue.failure_queue import FailureQueue
from analysis.scope import Scope
from analysis.slices import InSet, Slice
from analysis.workspace.workspace_file import Workspace
from app.commands import AttachWorkspace, SetSlice
from app.state import Session
from tests.views.helpers import keep_check, open_log
from views.panels.queue import QueuePanel
from views.meeting import evidence_html
from views.panels.table import TablePanel


@pytest.fixture
def log(tmp_path):
    rng = np.random.default_rng(5)
    rows = 3000
    segment = rng.choice(["kiosk", "web", "mobile"], size=rows)
    label = rng.integers(0, 2, size=rows)
    wrong = rng.random(rows) < np.where(segment == "kiosk", 0.5, 0.1)
    frame = pd.DataFrame({"request_id": [f"q{i}" for i in range(rows)],
                          "timestamp": [dt.datetime(2026, 11, 1) + dt.timedelta(minutes=3 * i) for i in range(rows)],
                          "model_version": "v1", "segment": segment, "amount": rng.gamma(2.0, 40.0, size=rows),
                          "label": label, "prediction": np.where(wrong, 1 - label, label)})
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    return path, frame


@pytest.fixture(scope="module")
def discoveries():
    """The failing slices the module's intakes searched, shared by their Sessions as one window's
    Session keeps them: the tests queue the same rows (the small log's, the linear version's
    week) again and again, and the search is most of an intake's CPU."""
    return DiscoveryCache()


def _session(log, tmp_path, discoveries, workspace=True):
    session = Session(discoveries=discoveries)
    open_log(session, log[0])
    if workspace:
        session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    return session


def _show(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    return panel


def _queued_ids(session):
    return set(FailureQueue(session.workspace).items()["row_key"])


def test_the_tables_selection_queues_its_failures_once(qtbot, sync_tasks, log, discoveries, tmp_path):
    session = _session(log, tmp_path, discoveries)
    table = _show(qtbot, TablePanel(session, sync_tasks))
    qtbot.waitUntil(lambda: table.model.row_id(0) is not None)
    columns = [table.model.headerData(c, Qt.Horizontal) for c in range(table.model.columnCount())]
    shown = [{name: table.model.raw_value(r, c) for c, name in enumerate(columns)} for r in range(40)]
    table.view.setFocus()
    table.view.setCurrentIndex(table.model.index(0, 0))
    for _ in range(39):
        qtbot.keyClick(table.view, Qt.Key_Down, Qt.ShiftModifier)
    table.queue_action.trigger()
    expected = {row["request_id"] for row in shown if row["label"] != row["prediction"]}
    assert expected and _queued_ids(session) == expected
    table.queue_action.trigger()
    queue = FailureQueue(session.workspace)
    assert queue.item_count() == len(expected)
    assert (queue.intakes()[-1]["added"], queue.intakes()[-1]["duplicates"]) == (0, len(expected))
    session.close()


def test_the_queue_panel_queues_the_current_slices_failures(qtbot, sync_tasks, log, discoveries, tmp_path):
    session = _session(log, tmp_path, discoveries)
    panel = _show(qtbot, QueuePanel(session, sync_tasks))
    assert "Nothing queued yet" in panel.last_intake.whole_text()
    session.run(SetSlice(Slice(InSet("segment", ("kiosk",)), name="kiosk")))
    panel.add_slice_button.click()
    frame = log[1]
    expected = set(frame[(frame["segment"] == "kiosk") & (frame["label"] != frame["prediction"])]["request_id"])
    assert _queued_ids(session) == expected
    assert panel.agenda.tree.topLevelItemCount() >= 1
    assert f"{len(expected):,} failures, 0 already queued" in panel.last_intake.whole_text()
    session.close()


def test_the_window_queues_failures_a_sampled_intake_only_counted_without_counting_them_again(
        qtbot, sync_tasks, log, discoveries, tmp_path):
    """Issue 16: after ``queue add --sample 5`` counted most failures without queueing them, the
    window's intake of the same rows queues them all and every count stays that of the log."""
    from analysis.queue.intake import intake_log

    session = _session(log, tmp_path, discoveries)
    opened, frame = session.active, log[1]
    failures = int((frame["label"] != frame["prediction"]).sum())
    sampled = intake_log(FailureQueue(session.workspace), Scope(session.store, opened.dataset, opened.roles),
                         sample=5, discoveries=session.discoveries)
    counts = {g.id: g.failures for g in FailureQueue(session.workspace).groups()}
    assert sampled.counted > 0 and sum(counts.values()) == failures
    panel = _show(qtbot, QueuePanel(session, sync_tasks))
    panel.add_slice_button.click()
    queue = FailureQueue(session.workspace)
    assert queue.item_count() == queue.total_failures() == failures
    assert {g.id: g.failures for g in queue.groups()} == counts
    assert _queued_ids(session) == set(frame[frame["label"] != frame["prediction"]]["request_id"])
    session.close()


def test_without_a_workspace_adding_says_why(qtbot, sync_tasks, log, discoveries, tmp_path):
    session = _session(log, tmp_path, discoveries, workspace=False)
    errors = []
    sync_tasks.sig_error.connect(lambda _task, text: errors.append(text))
    table = _show(qtbot, TablePanel(session, sync_tasks))
    qtbot.waitUntil(lambda: table.model.row_id(0) is not None)
    table.view.setCurrentIndex(table.model.index(0, 0))
    assert table.view.selectionModel().selectedIndexes()
    table.queue_action.trigger()
    assert len(errors) == 1 and "workspace" in errors[0] and "Traceback" not in errors[0]
    session.close()


def test_a_findings_rows_queue_exactly_their_failures_once(app_window, qtbot, demo_files, demo_check, tmp_path):
    """The failures among the swap finding's rows (one item per request and version) are queued,
    checked with pandas on the rows the finding's slice selects. (Grouping them *by the finding* needs rows outside it to test
    against; within its own rows it groups them by failing slice: open in #16.) The findings
    panel shows the session's check of the log, kept as the window keeps a check it ran (the
    panel's own check is tested in tests/views/panels/test_findings.py)."""
    from analysis.query import Sql, ident
    from analysis.slices import to_sql
    from tests.views.helpers import open_demo, settle

    opened = open_demo(qtbot, app_window, demo_files)
    assert app_window.controller.save_workspace_as(tmp_path / "oncall.sleuth")
    keep_check(app_window.session, demo_check)
    app_window.findings_dock.raise_()  # a panel behind another refreshes when it comes to the front
    settle(qtbot, app_window)
    panel = app_window.findings_panel
    swap = next(i for i, f in enumerate(panel.shown) if f.kind == "swap")
    panel.tree.setCurrentItem(panel.tree.topLevelItem(swap))
    qtbot.mouseClick(panel.buttons["queue"], Qt.LeftButton)
    settle(qtbot, app_window, timeout=300000)
    where = to_sql(panel.shown[swap].slice)
    in_finding = app_window.session.store.df(Sql(
        f"SELECT request_id FROM {ident(opened.dataset.view)} WHERE {where.text}", where.params))["request_id"]
    log = pd.read_parquet(demo_files.log)
    rows = log[log["request_id"].isin(set(in_finding))]
    failed = rows[rows["is_fraud"].notna() & (rows["prediction"] != rows["is_fraud"])]
    expected = set(zip(failed["request_id"], failed["model_version"]))  # a shadow request fails per version
    items = FailureQueue(app_window.session.workspace).items()
    assert expected and set(zip(items["row_key"], items["version"])) == expected and len(items) == len(expected)
    qtbot.mouseClick(panel.buttons["queue"], Qt.LeftButton)
    settle(qtbot, app_window, timeout=300000)
    assert FailureQueue(app_window.session.workspace).item_count() == len(expected)


def test_a_traced_row_is_queued(qtbot, sync_tasks, window_demo_files, window_demo_check, window_demo_influence,
                                tmp_path):
    from analysis.demo.models import NEW_VERSION
    from app.commands import SelectRow
    from tests.views.panels.test_trace import _cards, _failed_positions
    from views.panels.trace import TracePanel

    session = Session(influence=window_demo_influence)
    open_log(session, window_demo_files.log)
    session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    keep_check(session, window_demo_check)
    panel = _show(qtbot, TracePanel(session, sync_tasks))
    _cards(session, window_demo_files)
    (position, request), = _failed_positions(window_demo_files, NEW_VERSION, 1)
    session.run(SelectRow(position))
    assert panel.trace is not None, panel.caption.text()
    qtbot.mouseClick(panel.queue_button, Qt.LeftButton)
    items = FailureQueue(session.workspace).items()
    assert list(zip(items["row_key"], items["version"])) == [(request, NEW_VERSION)]
    session.close()


def test_compares_negative_flips_are_queued_as_the_candidates_failures(qtbot, sync_tasks, window_demo_files,
                                                                        window_demo_check, tmp_path):
    from views.panels.compare import ComparePanel

    session = Session()
    open_log(session, window_demo_files.log)
    session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    keep_check(session, window_demo_check)
    panel = _show(qtbot, ComparePanel(session, sync_tasks))
    qtbot.mouseClick(panel.compare_button, Qt.LeftButton)
    old, new = panel.base_box.currentData(), panel.candidate_box.currentData()
    qtbot.mouseClick(panel.queue_flips, Qt.LeftButton)
    log = pd.read_parquet(window_demo_files.log)
    pairs = log[log.model_version == old].merge(log[log.model_version == new], on="request_id").dropna(
        subset=["is_fraud_x"])
    flipped = pairs[(pairs.prediction_x == pairs.is_fraud_x) & (pairs.prediction_y != pairs.is_fraud_x)]
    items = FailureQueue(panel.session.workspace).items()
    assert len(flipped) and set(items["row_key"]) == set(flipped["request_id"]) and set(items["version"]) == {new}
    assert len(items) == len(flipped)
    session.close()


LINEAR = "fraud-lr-2026.09"
"""The demo version whose model loads without trust (a linear pipeline)."""


@pytest.fixture(scope="module")
def influence():
    """The linear model's influence, prepared once for the module's traced intakes, as one
    window's Session keeps it (seconds of CPU at each test before)."""
    from analysis.trace.tracer import InfluenceCache

    return InfluenceCache()


@pytest.fixture
def traced_week(demo_files, demo_check, discoveries, influence, tmp_path):
    """The demo log in a session with a workspace that keeps its check (intake groups by its
    findings without checking the month again; checking first is the last test's), the linear
    version's card naming its training snapshot and model (what the trace panel's "Choose
    snapshot/model" writes), and the current slice that version's first full week of October
    (~1,000 failures: more than intake traces). Its caches of failing slices and influence are
    the module's."""
    from analysis.slices import Range
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard

    session = Session(discoveries=discoveries, influence=influence)
    open_log(session, demo_files.log)
    session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    keep_check(session, demo_check)
    session.run(SaveVersionCard(VersionCard(LINEAR, training_snapshot=str(demo_files.training),
                                            model_file=str(demo_files.models[LINEAR]))))
    week = InSet("model_version", (LINEAR,)) & Range("timestamp", dt.datetime(2026, 10, 5), dt.datetime(2026, 10, 12))
    session.run(SetSlice(Slice(week, name="the linear version's week")))
    yield session
    session.close()


def _agenda_titles(panel):
    return [panel.agenda.tree.topLevelItem(i).text(0) for i in range(panel.agenda.tree.topLevelItemCount())]


def test_intake_groups_the_failures_under_the_blamed_batch_whose_count_follows_later_intakes(
        qtbot, sync_tasks, traced_week, demo_files):
    """The current slice's failures queued from the panel are traced through the card's snapshot
    and model: the batch whose labels the manifest says were flipped heads a group, the sample
    traced is said, and the progress of the blame is reported chunk by chunk. Then a person
    renames the batch group; the next week's intake adds its blamed failures to it: the title
    stays theirs, and the count the agenda shows is the group's failures now (every failure is
    an item here, the window's intake keeps them all). One test, so that the week is queued and
    blamed once (seconds of CPU each time)."""
    import json

    from analysis.queue.edits import SetGroupFields
    from analysis.slices import Range
    from analysis.trace.tracer import InfluenceCache
    from app.queue_commands import EditQueue

    incident = next(i for i in json.loads(demo_files.manifest.read_text())["incidents"] if i["kind"] == "label_noise")
    progress = []
    sync_tasks.sig_progress.connect(lambda task: progress.append(task.message))
    panel = _show(qtbot, QueuePanel(traced_week, sync_tasks))
    panel.add_slice_button.click()
    title = f"blamed training batch source = {incident['source']} ({LINEAR})"
    assert title in _agenda_titles(panel), _agenda_titles(panel)
    queue = FailureQueue(traced_week.workspace)
    group = next(g for g in queue.groups() if g.title == title)
    failures = sum(g.failures for g in queue.groups())
    assert group.evidence["blamed_batch"]["traced_failures"] == 500 < failures
    assert f"traced 500 of {failures:,} failures" in panel.last_intake.whole_text()
    assert f"traced 500 of {failures:,} failures" in evidence_html(group, failures, str)  # what meeting mode shows
    assert any(m.startswith("Blaming training batches") for m in progress), progress

    batch = max((g for g in queue.groups() if g.reason == "batch"), key=lambda g: g.failures)
    traced_week.run(EditQueue(SetGroupFields(batch.id, {"title": "flipped electronics labels"}, label="Rename")))
    next_week = InSet("model_version", (LINEAR,)) & Range("timestamp", dt.datetime(2026, 10, 12),
                                                          dt.datetime(2026, 10, 19))
    traced_week.run(SetSlice(Slice(next_week, name="the next week")))
    panel.add_slice_button.click()
    # the intakes prepared the model's influence in the Session's cache (shared by the module's Sessions)
    assert InfluenceCache.key([str(demo_files.training)], str(demo_files.models[LINEAR])) in traced_week.influence
    later = queue.group(batch.id)
    assert later.title == "flipped electronics labels"
    assert later.failures == later.items == len(queue.items(batch.id)) > batch.failures
    row = _agenda_titles(panel).index("flipped electronics labels")
    assert panel.agenda.tree.topLevelItem(row).text(1) == f"{later.failures:,}"


def test_cancelling_during_blame_leaves_the_queue_as_it_was(qtbot, sync_tasks, traced_week):
    """Esc while failures are being blamed: nothing is written, the queue stays empty."""
    panel = _show(qtbot, QueuePanel(traced_week, sync_tasks))
    blaming = []

    def cancel_when_blaming(task):
        if task.message.startswith("Blaming training batches"):
            blaming.append(task.message)
            task.cancel()

    sync_tasks.sig_progress.connect(cancel_when_blaming)
    panel.add_slice_button.click()
    assert blaming and panel.job_cancelled("add to queue")
    queue = FailureQueue(traced_week.workspace)
    assert queue.item_count() == 0 and not queue.groups() and not queue.intakes()
    assert "Nothing queued yet" in panel.last_intake.whole_text()


def test_a_model_needing_trust_is_traced_only_once_trusted_in_the_trace_panel(qtbot, sync_tasks, traced_week,
                                                                              demo_files, tmp_path):
    """The linear version's card names a pickle of its model: intake neither opens it nor asks
    (clicks that queue expect no question), groups that version without blame and says why;
    once the person trusted the file (the trace panel's question), the next intake blames."""
    import json
    import pickle

    from analysis.slices import Range
    from analysis.trace.model_files import load_model
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard, TrustModel

    incident = next(i for i in json.loads(demo_files.manifest.read_text())["incidents"] if i["kind"] == "label_noise")
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(load_model(demo_files.models[LINEAR]).estimator))
    traced_week.run(SaveVersionCard(VersionCard(LINEAR, training_snapshot=str(demo_files.training),
                                                model_file=str(model))))
    panel = _show(qtbot, QueuePanel(traced_week, sync_tasks))
    panel.add_slice_button.click()
    queue = FailureQueue(traced_week.workspace)
    assert queue.item_count() > 0 and not [g for g in queue.groups() if g.reason == "batch"]
    assert f"version {LINEAR}: failures not traced to training batches: {model}" in panel.last_intake.whole_text()
    assert "explicit trust" in panel.last_intake.whole_text()
    traced_week.run(TrustModel(str(model)))
    next_week = InSet("model_version", (LINEAR,)) & Range("timestamp", dt.datetime(2026, 10, 12),
                                                          dt.datetime(2026, 10, 19))
    traced_week.run(SetSlice(Slice(next_week, name="the next week")))
    panel.add_slice_button.click()
    assert f"blamed training batch source = {incident['source']} ({LINEAR})" in _agenda_titles(panel)


def test_the_first_intake_of_a_log_with_no_check_kept_groups_the_swap_by_its_finding(qtbot, sync_tasks, demo_files,
                                                                                      demo_check, tmp_path,
                                                                                      monkeypatch):
    """Issue 16's swap split, on the window's default path: a log opened without its checks, a
    new workspace, and "add the current slice" in the queue panel. The intake runs the checks
    first and keeps them (the findings panel shows them), so the swapped client's failures are
    one pure finding group, not the two failing slices discovery alone would give. The check
    the intake runs is the session's check of the same log, run the same way (the check's own
    findings are tested in tests/analysis/triage): seconds of CPU not spent twice."""
    import json

    import app.queue_commands
    from tests.analysis.queue.test_grouping import _purity_and_recall
    from tests.app.run_cli import ReusedCheck

    checker = ReusedCheck(demo_files, demo_check)
    monkeypatch.setattr(app.queue_commands, "check_dataset", checker)
    session = Session()
    open_log(session, demo_files.log)
    session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
    session.run(SetSlice(Slice(InSet("model_version", (LINEAR,)), name="the linear version")))
    assert not session.workspace.findings(session.active.name)[1]
    panel = _show(qtbot, QueuePanel(session, sync_tasks))
    panel.add_slice_button.click()
    assert checker.reused == 1  # no check kept: the log was checked first
    incidents = {i["id"]: i for i in json.loads(demo_files.manifest.read_text())["incidents"]}
    group, purity, recall = _purity_and_recall(FailureQueue(session.workspace), demo_files, incidents, "b", LINEAR)
    assert group.reason == "finding" and "swap" in group.title, group.title
    assert purity >= 0.9 and recall >= 0.8, (purity, recall)
    assert group.title in _agenda_titles(panel)
    assert any(f.kind == "swap" for f in session.findings)
    assert any(f["kind"] == "swap" for f in session.workspace.findings(session.active.name)[1])
    session.close()


def test_intake_traces_through_the_training_files_the_trace_panel_reads(window_demo_files):
    """A label and id chosen for the training snapshot in the roles dialog are read by the
    intake's blame as by the trace panel and the meeting: the same key in the Session's
    influence cache (one preparation of the model for the window, issue 12), under the label
    the person chose rather than the one the names suggest."""
    from dataclasses import replace

    from analysis.data.roles import Role
    from analysis.demo.models import NEW_VERSION
    from analysis.trace.tracer import InfluenceCache
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard, SetRoles
    from app.queue_commands import session_traces

    session = Session()
    log = open_log(session, window_demo_files.log)
    snapshot = open_log(session, window_demo_files.training, kind="training")
    chosen = replace(snapshot.roles.with_role("is_fraud", Role.LABEL).with_role("row_id", Role.ID),
                     chosen=("label", "id"))
    session.run(SetRoles(snapshot.name, chosen))
    model = str(window_demo_files.models[NEW_VERSION])
    session.run(SaveVersionCard(VersionCard(NEW_VERSION, training_snapshot=str(window_demo_files.training),
                                            model_file=model)))
    traced = session_traces(session, log.name)[NEW_VERSION]
    named = session.chosen_snapshot_roles(str(window_demo_files.training))
    assert named == {Role.LABEL: "is_fraud", Role.ID: "row_id"} and traced.roles == named
    panel_key = InfluenceCache.key([str(window_demo_files.training)], model, named)  # as the panel keys its trace
    assert InfluenceCache.key(traced.snapshot_paths, traced.model_path, traced.roles) == panel_key
    session.close()
