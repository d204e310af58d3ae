"""Meeting mode driven by keys alone: last week's decided group comes first with its follow-up
measured on the open log, its evidence then its failures one per screen with the row's values;
number keys tag, letters decide (recorded with the meeting), Ctrl+Z undoes, arrows move, Esc
ends the meeting; everything is in the workspace when the key is pressed."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QWidget

from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import failures
from analysis.queue.meeting import meeting_decisions
from analysis.scope import Scope
from analysis.slices import InSet, Slice
from analysis.stats.intervals import wilson
from analysis.workspace.workspace_file import Workspace
from app.commands import AttachWorkspace
from app.state import Session
from tests.views.helpers import open_log
from tests.views.layout_check import cut_texts
from tests.views.test_window_tour import SMALL_SCREEN
from views.meeting import MeetingView


def _november_log(path):
    """Kiosk requests now fail 5% of the time (they failed 40% when the group was decided)."""
    rng = np.random.default_rng(3)
    rows = 2000
    segment = rng.choice(["kiosk", "web"], size=rows)
    label = rng.integers(0, 2, size=rows)
    wrong = rng.random(rows) < np.where(segment == "kiosk", 0.05, 0.3)
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)],
                  "timestamp": [dt.datetime(2026, 11, 1) + dt.timedelta(minutes=5 * i) for i in range(rows)],
                  "model_version": "v1", "segment": segment, "amount": rng.gamma(2.0, 50.0, size=rows).round(2),
                  "label": label, "prediction": np.where(wrong, 1 - label, label)}).to_parquet(path)
    return path


def _group(queue, title, status, slice_, evidence, failures_count, items, dataset):
    group_id = queue.new_group(f"manual:{title}", "manual", title, dataset, "v1", slice_, evidence)
    queue.add_count(group_id, dataset, failures_count)
    rows = items.assign(item_key=items["row_key"] + "@v1", dataset=dataset, group_id=group_id, pinned=False,
                        status="new", added_at=pd.Timestamp("2026-11-20"))
    queue.insert_items(rows[["item_key", "dataset", "row_key", "row_number", "version", "label", "prediction", "loss",
                             "observed_at", "group_id", "pinned", "status", "added_at"]])
    if status != "new":
        queue.write_group_fields(group_id, {"status": status, "decision": "collect"})
    return group_id


@pytest.fixture
def meeting(qtbot, sync_tasks, tmp_path):
    session = Session()
    opened = open_log(session, _november_log(tmp_path / "november.parquet"))
    found = failures(Scope(session.store, opened.dataset, opened.roles))
    kiosk_rows = found[found["row_key"].isin(
        pd.read_parquet(tmp_path / "november.parquet").query("segment == 'kiosk'")["request_id"])]
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    series = [{"start": "2026-10-01T00:00:00", "rows": 50, "errors": 20, "error_rate": 0.4, "ci": list(wilson(20, 50))},
              {"start": "2026-10-08T00:00:00", "rows": 50, "errors": 20, "error_rate": 0.4, "ci": list(wilson(20, 50))}]
    with queue.edit():
        kiosk = _group(queue, "kiosk failures", "awaiting verification", Slice(InSet("segment", ("kiosk",)),
                       name="segment = kiosk"), {"rows": 100, "errors": 40, "error_rate": 0.4,
                                                 "ci": list(wilson(40, 100)), "series": series,
                                                 "period_end": "2026-10-15T00:00:00"},
                       40, kiosk_rows.head(4), opened.name)
        big = _group(queue, "big group", "new", None, {}, 600, found[~found.index.isin(kiosk_rows.index)].head(2),
                     opened.name)
    session.run(AttachWorkspace(workspace))
    view = MeetingView(session, sync_tasks, ["ana", "bo"])
    qtbot.addWidget(view)
    view.resize(1400, 900)
    view.show()
    view.setFocus()
    yield view, kiosk, big, kiosk_rows
    session.close()


def _fresh(view, group_id):
    return FailureQueue(view.session.workspace).group(group_id)


def test_meeting_mode_by_keys_alone(meeting, qtbot, monkeypatch):
    view, kiosk, big, kiosk_rows = meeting
    assert "kiosk failures" in view.title.text() and "group 1 of 2" in view.status.text()
    assert "ana, bo" in view.status.text()
    assert _fresh(view, kiosk).status == "verified"  # measured on the open November log
    assert "verified" in view.body.text() and "40.0%" in view.body.text()
    assert view.plot.isVisible()

    qtbot.keyClick(view, Qt.Key_Right)
    assert "failure 1 of 4" in view.title.text()
    shown = {view.values.item(r, 0).text(): view.values.item(r, 1).text() for r in range(view.values.rowCount())}
    assert shown["segment"] == "kiosk" and shown["request_id"] in set(kiosk_rows["row_key"])
    assert "No training snapshot" in view.training_caption.text()

    qtbot.keyClick(view, Qt.Key_3)
    qtbot.keyClick(view, Qt.Key_G)
    group = _fresh(view, kiosk)
    assert group.tags == [FailureQueue(view.session.workspace).taxonomy()[2][0]] and group.decision == "golden"
    assert [d["decision"] for d in meeting_decisions(view.queue, view.meeting.id)] == ["golden"]
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier)
    assert _fresh(view, kiosk).decision == "collect" and meeting_decisions(view.queue, view.meeting.id) == []

    for _ in range(4):
        qtbot.keyClick(view, Qt.Key_Right)
    assert "big group" in view.title.text() and "group 2 of 2" in view.status.text()
    qtbot.keyClick(view, Qt.Key_R)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("bo", True)))
    qtbot.keyClick(view, Qt.Key_O)
    group = _fresh(view, big)
    assert (group.decision, group.owner, group.status) == ("rule", "bo", "decided")
    assert "decision rule" in view.body.text()
    qtbot.keyClick(view, Qt.Key_Left)
    assert "failure 4 of 4" in view.title.text()

    qtbot.keyClick(view, Qt.Key_Escape)
    ended = view.session.workspace.connection.execute("SELECT attendees, ended_at FROM queue_meetings").fetchall()
    assert ended[0][0] == '["ana", "bo"]' and ended[0][1] is not None


def test_an_example_shows_the_training_rows_trace_finds(qtbot, sync_tasks, window_demo_files, window_demo_influence,
                                                        tmp_path):
    """On the 20k demo: its training snapshot and models are the full demo's (the same seed). The
    view's model preparation is the session's, and the trace compared with is the tracer's
    through it (that this trace is the command line's, for the meeting too, is test_trace.py's
    first test, whose preparations are counted: a second one here was seconds of CPU)."""
    from analysis.demo.models import NEW_VERSION
    from analysis.trace.tracer import TrainingFiles, trace_log_row
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard

    session = Session(influence=window_demo_influence)
    opened = open_log(session, window_demo_files.log)
    session.run(SaveVersionCard(VersionCard(NEW_VERSION, training_snapshot=str(window_demo_files.training),
                                            model_file=str(window_demo_files.models[NEW_VERSION]))))
    log = pd.read_parquet(window_demo_files.log)
    served = log[(log["model_version"] == NEW_VERSION) & log["is_fraud"].notna()]
    position = int(served[served["prediction"] != served["is_fraud"]].index[0])
    request = str(log.loc[position, "request_id"])
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace)
    items = pd.DataFrame({"row_key": [request], "row_number": [position], "version": [NEW_VERSION],
                          "label": ["1"], "prediction": ["0"], "loss": [2.0], "observed_at": [pd.NaT]})
    with queue.edit():
        _group(queue, "one failure", "new", None, {}, 1, items.assign(version=NEW_VERSION), opened.name)
    session.run(AttachWorkspace(workspace))
    view = MeetingView(session, sync_tasks, ["ana"])
    qtbot.addWidget(view)
    view.show()
    qtbot.keyClick(view, Qt.Key_Right)
    source = TrainingFiles([str(window_demo_files.training)], window_demo_files.models[NEW_VERSION])
    traced = trace_log_row(Scope(session.store, opened.dataset, opened.roles), position, source, window_demo_influence)
    expected = traced.harmful[:5]
    assert str(traced.request_id) == request and traced.correct is False
    assert "pushed the model" in view.training_caption.text()
    assert [view.training.item(r, 0).text() for r in range(view.training.rowCount())] == [
        f"{row.score:+.3g}" for row in expected]
    assert [view.training.item(r, 1).text() for r in range(view.training.rowCount())] == [
        str(row.label) for row in expected]
    view.close()
    session.close()


def _to_evidence_of(view, qtbot, title_part):
    """Press → until the evidence screen of the group whose title contains ``title_part``."""
    for _ in range(len(view.screens)):
        if title_part in view.title.text() and view.screens[view.position][1] is None:
            return
        qtbot.keyClick(view, Qt.Key_Right)
    raise AssertionError(f"no evidence screen titled {title_part!r}: now {view.title.text()!r}")


@pytest.fixture
def regressed_review(tmp_path):
    """The planted kiosk regression of v2 queued by intake (grouping rediscovers the slice), a
    finding group whose finding a check kept, and a blamed batch traced for the kiosk group."""
    import datetime as _dt

    from analysis.queue.intake import intake_log
    from analysis.triage.check_report import finding_to_dict
    from analysis.triage.ranking import Finding
    from tests.analysis.queue.regressed_log import write_regressed_log

    log = write_regressed_log(tmp_path / "log.parquet")
    session = Session()
    opened = open_log(session, tmp_path / "log.parquet")
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    intake_log(queue, Scope(session.store, opened.dataset, opened.roles))
    kiosk = next(g for g in queue.groups() if g.reason == "slice" and g.version == "v2")
    finding = Finding(kind="null_burst", columns=("amount",), window=(_dt.datetime(2026, 11, 3), _dt.datetime(2026, 11, 4)),
                      group=(), slice=InSet("segment", ("web",)), rows=120, severity="alert", score=3.0, effect=1.2,
                      evidence={"null_rate": 0.8}, symptoms=(), sentence="amount is null in 80% of rows from Nov 3")
    workspace.save_findings(opened.name, "reference", [finding_to_dict(finding)])
    with queue.edit():
        queue.set_evidence(kiosk.id, {**kiosk.evidence, "blamed_batch": {
            "column": "source", "value": "batch-3", "harmful_share": 0.6, "row_share": 0.1, "p_value": 0.001}})
        found = queue.new_group(f"finding:v2:{finding.key}", "finding", "null burst of amount (v2)", opened.name, "v2",
                                Slice(finding.slice, name="segment = 'web'"), {"rows": 10, "error_rate": 0.1})
        queue.add_count(found, opened.name, 1)
    session.run(AttachWorkspace(workspace))
    yield session, log, kiosk, found
    session.close()


def test_the_evidence_screen_shows_the_regressed_slice_the_finding_and_the_blamed_batch(
        regressed_review, qtbot, sync_tasks):
    from scipy import stats

    from analysis.report.formatting import p_value, percent

    session, log, kiosk, finding_group = regressed_review
    view = MeetingView(session, sync_tasks, ["ana"])
    qtbot.addWidget(view)
    view.resize(*SMALL_SCREEN)
    view.show()
    view.setFocus()

    _to_evidence_of(view, qtbot, "kiosk")
    text = view.body.text()
    counts = []
    for version in ("v1", "v2"):
        rows = log[(log["segment"] == "kiosk") & (log["model_version"] == version)]
        errors = int((rows["label"] != rows["prediction"]).sum())
        counts.append((len(rows), errors))
        ci = stats.binomtest(errors, len(rows)).proportion_ci(method="wilson")
        assert f"{version} <b>{percent(errors / len(rows))}</b> [{percent(ci.low)}–{percent(ci.high)}] of {len(rows):,}" in text
    (n1, e1), (n2, e2) = counts
    fisher = stats.fisher_exact([[e2, n2 - e2], [e1, n1 - e1]]).pvalue
    assert f"this slice <b>regressed</b> (Fisher exact, p = {p_value(fisher)})" in text
    assert "source = batch-3" in text and "60% of the harmful influence" in text
    kept = FailureQueue(session.workspace).group(kiosk.id).evidence["versions"]
    assert kept["regressed"] and kept["versions"][1]["errors"] == e2  # in the workspace for the report

    fits_the_screen(view)
    qtbot.keyClick(view, Qt.Key_Right)
    assert "failure 1 of" in view.title.text()
    fits_the_screen(view)

    _to_evidence_of(view, qtbot, "null burst")
    assert "amount is null in 80% of rows from Nov 3" in view.body.text()
    table = view.finding_cells
    cells = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert table.isVisible() and cells["null rate"] == "0.8000" and cells["columns"] == "amount"
    assert "--train SNAPSHOT" in view.body.text()  # not traced: says what to run
    assert "not significantly worse" in view.body.text()  # web: v2 is no worse than v1
    fits_the_screen(view)
    view.close()


def fits_the_screen(view):
    """The screen shown fits a small projector: the window did not grow past it to make room
    for its text, and no one-line label or header is cut."""
    QApplication.processEvents()
    assert (view.width(), view.height()) == SMALL_SCREEN
    assert cut_texts(view) == []


def test_missing_evidence_says_what_to_run(qtbot, sync_tasks, tmp_path):
    """A slice group whose log is not open, never traced, whose finding no check kept."""
    session = Session()
    workspace = Workspace.open(tmp_path / "review.sleuth")
    queue = FailureQueue(workspace, user="ana")
    with queue.edit():
        kiosk = queue.new_group("slice:v2:kiosk", "slice", "kiosk (v2)", "october", "v2",
                                Slice(InSet("segment", ("kiosk",)), name="segment = kiosk"), {"rows": 10})
        queue.new_group("finding:v2:swap|a,b|*", "finding", "swap of a, b (v2)", "october", "v2", None, {})
    session.run(AttachWorkspace(workspace))
    view = MeetingView(session, sync_tasks, ["ana"])
    qtbot.addWidget(view)
    view.show()
    _to_evidence_of(view, qtbot, "kiosk")
    assert "Open the log “october” to compare this slice with the version served before or alongside v2." in view.body.text()
    assert "--train SNAPSHOT" in view.body.text()
    assert "versions" not in queue.group(kiosk).evidence
    _to_evidence_of(view, qtbot, "swap")
    assert "Run the input checks on “october”" in view.body.text() and not view.finding_cells.isVisible()
    view.close()
    session.close()


def test_the_window_tour_ends_in_meeting_mode_after_queueing_the_logs_failures(qtbot, qsettings, tmp_path):
    """What ``sleuth demo --screenshots`` photographs last: the queue panel's button queues the
    open log's failures (grouping finds the kiosk slice), then meeting mode opens at the
    window's size on the first group's evidence."""
    from app.window_tour import open_meeting_screen
    from tests.analysis.queue.regressed_log import write_regressed_log
    from tests.views.helpers import close_window, make_window, not_blank, settle

    write_regressed_log(tmp_path / "log.parquet")
    window = make_window(qtbot, qsettings)
    try:
        window.resize(*SMALL_SCREEN)
        window.open_paths([str(tmp_path / "log.parquet")])
        settle(qtbot, window)
        window.session.run(AttachWorkspace(Workspace.open(tmp_path / "review.sleuth")))
        view = open_meeting_screen(window, lambda: settle(qtbot, window))
        assert any(g.reason == "slice" and "kiosk" in g.title for g in view.queue.groups())
        assert (view.width(), view.height()) == SMALL_SCREEN and view.position == 0
        assert "group 1 of" in view.status.text() and not_blank(view)
        assert window.notifications.messages() == []
        view.close()
    finally:
        window.close()
        close_window(window)


@pytest.fixture(scope="module")
def demo_review_window(qapp, tmp_path_factory, demo_files, demo_check):
    """One window on the full demo's workspace with the log's failures queued, shared by the
    sizes the meeting screens are read at: each opens its own meeting at the window's size,
    and only the first pays for opening the workspace and queueing 200k rows' failures. The
    log's check is the session's (tests/conftest.py), kept as the window keeps a check it ran,
    so the intake groups by its findings without checking the month again."""
    from analysis.demo.workspace import ensure_demo_workspace
    from tests.views.helpers import close_shared_window, keep_check, shared_window

    workspace = ensure_demo_workspace(demo_files.log.parent, rows=200_000, seed=7)
    window = shared_window(tmp_path_factory, size=SMALL_SCREEN)
    assert window.controller.open_workspace(workspace)
    QApplication.processEvents()
    assert window.session.active.name == demo_check.dataset.name
    keep_check(window.session, demo_check)
    yield window
    close_shared_window(window)


@pytest.mark.parametrize("size", [SMALL_SCREEN, (1600, 1000)])
def test_the_demos_meeting_screens_show_their_text_whole(qtbot, demo_review_window, size):
    """What ``sleuth demo --screenshots`` photographs: the first group's evidence (its slice,
    both versions, the finding, the batch not yet blamed) and its first failure, at a small
    projector's size and a larger one: no text cut or covered by the plot below it, and the
    evidence reads whole without scrolling. The full demo, as photographed: the first group of its
    20k-row version has a shorter evidence screen, that fits even where the text is squeezed."""
    from app.window_tour import open_meeting_screen
    from tests.views.helpers import settle
    from tests.views.layout_check import overflowing

    window = demo_review_window
    window.resize(*size)
    settle(qtbot, window)
    view = open_meeting_screen(window, lambda: settle(qtbot, window, timeout=120000))
    try:
        assert view.screens[view.position][1] is None and "training batch" in view.body.text()
        assert (view.width(), view.height()) == size
        assert cut_texts(view) == [] and overflowing(view) == []
        assert not view.text_area.verticalScrollBar().isVisible()
        qtbot.keyClick(view, Qt.Key_Right)
        settle(qtbot, window)
        assert view.screens[view.position][1] is not None and view.values.isVisible()
        assert cut_texts(view) == [] and overflowing(view) == []
    finally:
        view.close()


def test_zoom_keys_scale_the_presenters_type_and_plot_and_keep_the_text_whole(meeting, qtbot):
    """Ctrl+= / Ctrl+- / Ctrl+0 in meeting mode scale its own type (its style sheet's sizes win
    over View > Zoom's application font) and the plot's axes; the evidence text still reads whole."""
    view, *_ = meeting
    title_points = view.title.font().pointSizeF()
    tick_points = view.plot.getAxis("left").style["tickFont"].pointSizeF()
    qtbot.keyClick(view, Qt.Key_Equal, Qt.ControlModifier)
    assert view.zoom > 1.0
    assert view.title.font().pointSizeF() == pytest.approx(title_points * view.zoom, abs=0.1)
    assert view.body.font().pointSizeF() > 20
    assert view.plot.getAxis("left").style["tickFont"].pointSizeF() == pytest.approx(tick_points * view.zoom)
    assert not cut_texts(view)
    qtbot.keyClick(view, Qt.Key_Minus, Qt.ControlModifier)
    qtbot.keyClick(view, Qt.Key_Minus, Qt.ControlModifier)
    assert view.zoom < 1.0 and view.title.font().pointSizeF() < title_points
    qtbot.keyClick(view, Qt.Key_0, Qt.ControlModifier)
    assert view.zoom == 1.0 and view.title.font().pointSizeF() == pytest.approx(title_points)


def test_meeting_mode_opens_at_the_windows_zoom(qtbot, qsettings, tmp_path, sync_tasks):
    """A meeting opened from a zoomed window starts at that zoom."""
    from app.queue_wiring import open_meeting

    class Window(QWidget):
        zoom = 1.5

    window = Window()
    qtbot.addWidget(window)
    window.session, window.tasks = Session(), sync_tasks
    workspace = Workspace.open(tmp_path / "review.sleuth")
    window.session.run(AttachWorkspace(workspace))
    view = open_meeting(window, ["ana"])
    qtbot.addWidget(view)
    assert view.zoom == 1.5 and view.title.font().pointSizeF() == pytest.approx(34 * 1.5)
    view.close()
    window.session.close()
