"""Meeting mode: the weekly failure review on a projector, driven by the keyboard.

The agenda is fixed when the meeting starts (the queue's order: groups whose action awaits its
check first, then by impact), so deciding a group does not reshuffle what is left. Each group
gets one evidence screen for its cause: its slice and error rate over time with 95% intervals;
whether the slice regressed (both versions' error rates with intervals and compare's test,
measured on a worker when the log is open and kept in the group's evidence); the check
finding's sentence and cells; the training batch trace blames; last week's follow-up measured
on the open log. Evidence that is missing says what to run to get it. Then up to :data:`~analysis.queue.meeting.EXAMPLES_PER_GROUP` of its failures one
per screen, each with the row's values and, when its version card names a training snapshot,
the training rows that most pushed the model to it (traced on a worker, through the Session's
influence cache: a model the trace panel or an intake prepared is not prepared again).

Keys: → / Space / PgDown next, ← / PgUp previous, 1–9 toggle a cause tag, c g r l t f n decide,
o owner, a note, Ctrl+Z / Ctrl+Shift+Z undo and redo, Esc end the meeting. Every change is a
Session command, in the workspace when made; decisions are recorded with the meeting.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.queue.blame import blame_text
from analysis.queue.edits import AddNote, SetGroupFields, apply, toggle_tag
from analysis.queue.failure_queue import Group
from analysis.queue.followup import followup_edit
from analysis.queue.group_evidence import (comparable, comparison_name, comparison_verdict, finding_cells,
                                           group_finding, keep_version_evidence, version_evidence)
from analysis.queue.meeting import (DecideInMeeting, agenda_screens, end_meeting, example_row, measure_awaiting,
                                    start_meeting)
from analysis.queue.regressions import regression_text
from analysis.report.charts import bucket_labels
from analysis.report.formatting import escape_html, p_value, percent
from analysis.scope import Scope
from analysis.slices import to_text
from analysis.trace.tracer import TrainingFiles, trace_log_row
from app.queue_commands import EditQueue, QueueChanged, session_queue
from app.state import Changes, Session
from app.tasks import HEAVY, TaskRunner
from views.widgets.queue_agenda import DECISION_KEYS, TAG_KEYS, error_rate_text
from views.widgets.zoom import next_zoom

NEXT_KEYS = (Qt.Key_Right, Qt.Key_Space, Qt.Key_PageDown)
ZOOM_KEYS = {Qt.Key_Equal: 1, Qt.Key_Plus: 1, Qt.Key_Minus: -1, Qt.Key_0: 0}
"""With Ctrl, as View > Zoom in the window: a step larger, a step smaller, actual size (0)."""
PREVIOUS_KEYS = (Qt.Key_Left, Qt.Key_PageUp)
TRAINING_ROWS_SHOWN = 5
TIME_TICKS = 4
"""Bucket labels on the time axis at most: more overlap at a projector's type size."""
PLOT_FONT_POINTS = 14
PLOT_MIN_HEIGHT = 100
"""Pixels the plot (or an example's tables) keeps when the text above takes the rest of the screen."""
PRESENTER_POINTS = {"text": 20, "title": 34, "status": 16}
"""The presenter layout's type sizes at zoom 1.0, in points: large enough for a projector."""


def presenter_style(zoom: float) -> str:
    """The meeting's style sheet with every type size scaled by ``zoom`` (View > Zoom's factor):
    a style sheet's sizes win over the application font, so the meeting scales its own."""
    text, title, status = (round(PRESENTER_POINTS[part] * zoom, 1) for part in ("text", "title", "status"))
    return (f"QWidget {{ font-size: {text}pt; }}\n"
            f"QLabel#meeting_title {{ font-size: {title}pt; font-weight: bold; }}\n"
            f"QLabel#meeting_status {{ font-size: {status}pt; color: #555; }}\n")


class MeetingView(QWidget):
    """The presenter layout of one meeting; raises ``InputError`` when no editable workspace is open."""

    def __init__(self, session: Session, tasks: TaskRunner, attendees: list[str],
                 parent: QWidget | None = None, zoom: float = 1.0) -> None:
        super().__init__(parent, Qt.Window)
        self.session, self.tasks = session, tasks
        self.zoom = zoom
        """View > Zoom's factor: the window's when the meeting opens, then Ctrl+= / Ctrl+- / Ctrl+0 here."""
        self.queue = session_queue(session)
        self.meeting = start_meeting(self.queue, attendees)
        self.screens = agenda_screens(self.queue)
        self.position = 0
        self.version_notes: dict[int, str] = {}
        """Why a group's slice could not be compared with the previous version, by group id."""
        self.comparing: set[int] = set()
        self.started = time.monotonic()
        self.setWindowTitle(f"Sleuth — review meeting ({', '.join(self.meeting.attendees)})")
        self.setFocusPolicy(Qt.StrongFocus)
        self.status = QLabel(objectName="meeting_status")
        self.title = QLabel(objectName="meeting_title")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.RichText)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.RichText)
        self.body.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.text_area = _text_area(self.body)
        self.plot = _rate_plot()
        self.values = _table(("Column", "Value"))
        self.finding_cells = _table(("Finding", "Value"))
        self.training = _table(("Influence", "Label", "Training row"))
        self.training_caption = QLabel()
        self.training_caption.setWordWrap(True)
        self.keys = QLabel("→ next  ← previous  1–9 tag  c g r l t f n decide  o owner  a note  "
                           "Ctrl+Z undo  Ctrl+= / Ctrl+- zoom  Esc end", objectName="meeting_status")
        self._layout()
        self.set_zoom(zoom)
        self.clock = QTimer(self)
        self.clock.timeout.connect(self._show_status)
        self.clock.start(1000)
        self.session.changed.connect(self._session_changed)
        self._measure_followups()
        self.show_screen()

    def _layout(self) -> None:
        example = QVBoxLayout()
        example.addWidget(self.training_caption)
        example.addWidget(self.training, 1)
        tables = QHBoxLayout()
        tables.addWidget(self.values, 1)
        tables.addLayout(example, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.title)
        evidence = QHBoxLayout()
        evidence.addWidget(self.plot, 1)
        evidence.addWidget(self.finding_cells, 1)
        layout.addWidget(self.text_area)
        layout.addLayout(evidence, 1)
        layout.addLayout(tables, 1)
        layout.addWidget(self.keys)

    def set_zoom(self, factor: float) -> None:
        """Scale the presenter's type and the plot's axes by ``factor``; the text area is fitted
        again, since larger type needs more lines."""
        self.zoom = factor
        self.setStyleSheet(presenter_style(factor))
        _set_plot_fonts(self.plot, factor)
        self.layout().activate()  # the title's new height, before the text is fitted below it
        self._fit_text()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_text()

    def _fit_text(self) -> None:
        """Give the screen's text the height its lines need, the plot or tables below what is left
        down to :data:`PLOT_MIN_HEIGHT`; past that (a long screen, a small window) the text
        scrolls instead of the plot vanishing: text is never covered, only scrolled."""
        width = self.text_area.width() - self.text_area.verticalScrollBar().sizeHint().width()
        needed = max(self.body.heightForWidth(max(width, 1)), 0)
        room = self.height() - self._height_around_text() - PLOT_MIN_HEIGHT
        self.text_area.setMaximumHeight(needed)
        self.text_area.setMinimumHeight(max(min(needed, room), 0))

    def _height_around_text(self) -> int:
        """The height of the status, title and keys lines with the layout's margins and spacing."""
        layout = self.layout()
        margins = layout.contentsMargins()
        lines = (self.status.sizeHint().height() + max(self.title.heightForWidth(self.title.width()), 0)
                 + self.keys.sizeHint().height())
        return margins.top() + margins.bottom() + 4 * layout.spacing() + lines

    # --- moving through the agenda -----------------------------------------------------------

    def current_group(self) -> Group | None:
        return self.queue.group(self.screens[self.position][0]) if self.screens else None

    def go(self, step: int) -> None:
        self.position = min(max(self.position + step, 0), max(len(self.screens) - 1, 0))
        self.show_screen()

    def show_screen(self) -> None:
        self._show_status()
        group = self.current_group()
        if group is None:
            self.title.setText("The queue is empty")
            self.body.setText("Nothing to review: queue failures from the table, a slice, compare or trace.")
            self._show_parts(plot=False, tables=False)
            self.finding_cells.setVisible(False)
            self._fit_text()
            return
        item = self.screens[self.position][1]
        if item is None:
            self._show_evidence(group)
        else:
            self._show_example(group, item)
        self._fit_text()

    def _show_status(self) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        groups = list(dict.fromkeys(group_id for group_id, _ in self.screens))
        where = (f"group {groups.index(self.screens[self.position][0]) + 1} of {len(groups)} · "
                 f"screen {self.position + 1} of {len(self.screens)}") if self.screens else "no groups"
        self.status.setText(f"{where} · {minutes:02d}:{seconds:02d} · {', '.join(self.meeting.attendees)}")

    def _show_parts(self, plot: bool, tables: bool) -> None:
        self.plot.setVisible(plot)
        for widget in (self.values, self.training, self.training_caption):
            widget.setVisible(tables)

    def _show_evidence(self, group: Group) -> None:
        self.title.setText(escape_html(group.title))
        finding = group_finding(self.queue, group)
        self.body.setText(evidence_html(group, self.queue.total_failures(), self.session.version_name,
                                        finding, self._versions_missing(group)))
        series = group.evidence.get("series") or []
        _draw_rates(self.plot, series)
        self._show_parts(plot=bool(series), tables=False)
        cells = finding_cells(finding) if finding else []
        _fill(self.finding_cells, cells)
        self.finding_cells.setVisible(bool(cells))
        self._compare_versions(group)

    def _versions_missing(self, group: Group) -> str | None:
        """What stands in for the version comparison of a group's slice while it is missing."""
        if not comparable(group) or "versions" in group.evidence:
            return None
        if group.id in self.version_notes:
            return self.version_notes[group.id]
        if group.dataset not in self.session.datasets:
            return (f"Open the log “{group.dataset}” to compare this slice with the version served before or alongside "
                    f"{self.session.version_name(group.version)}.")
        return "Comparing this slice with the version served before or alongside…"

    def _compare_versions(self, group: Group) -> None:
        """Measure the slice against the previous version on a worker, once per group and meeting."""
        opened = self.session.datasets.get(group.dataset)
        if (opened is None or not comparable(group) or "versions" in group.evidence
                or group.id in self.version_notes or group.id in self.comparing):
            return
        self.comparing.add(group.id)
        self.tasks.submit(version_evidence, Scope(self.session.store, opened.dataset, opened.roles),
                          group.slice.predicate, group.version, key=f"meeting@{id(self):x}:versions:{group.id}",
                          lane=HEAVY, label="Comparing the slice with the previous version",
                          on_result=lambda found, group_id=group.id: self._versions_measured(group_id, found),
                          on_error=lambda error, group_id=group.id: self._versions_failed(group_id, str(error)))

    def _versions_measured(self, group_id: int, found: dict[str, Any]) -> None:
        self.comparing.discard(group_id)
        keep_version_evidence(self.queue, self.queue.group(group_id), found)
        self.session.run(QueueChanged())

    def _versions_failed(self, group_id: int, reason: str) -> None:
        self.comparing.discard(group_id)
        self.version_notes[group_id] = f"Not compared with an earlier version: {reason}."
        self.show_screen()

    def _show_example(self, group: Group, item: dict[str, Any]) -> None:
        self.finding_cells.setVisible(False)
        shown = [i for g, i in self.screens if g == group.id and i is not None]
        self.title.setText(f"{escape_html(group.title)} — failure {shown.index(item) + 1} of {len(shown)}")
        loss = item.get("loss")
        self.body.setText(
            f"Request <b>{escape_html(str(item['row_key']))}</b>, version "
            f"{escape_html(self.session.version_name(item.get('version')))}: label <b>{escape_html(str(item['label']))}</b>, "
            f"predicted <b>{escape_html(str(item['prediction']))}</b>"
            + (f", loss {loss:.3f}" if loss is not None and loss == loss else ""))
        self._show_parts(plot=False, tables=True)
        _fill(self.values, [])
        _fill(self.training, [])
        opened = self.session.datasets.get(item["dataset"])
        if opened is None:
            self.training_caption.setText(f"Open the log “{escape_html(item['dataset'])}” to see this failure's "
                                          "values and the training rows behind it.")
            return
        key = f"meeting@{id(self):x}"
        self.tasks.submit(example_row, self.session.store, opened.dataset, int(item["row_number"]),
                          key=f"{key}:row", label="Reading the failure's row",
                          on_result=lambda values, at=self.position: self._show_values(at, values),
                          on_error=lambda error: self.training_caption.setText(str(error)))
        self._trace(item, opened, key)

    def _trace(self, item: dict[str, Any], opened, key: str) -> None:
        card = self.session.version_cards.get(str(item.get("version")))
        if card is None or not card.training_snapshot:
            self.training_caption.setText(f"No training snapshot is known for version "
                                          f"{escape_html(self.session.version_name(item.get('version')))}: name it in "
                                          "Data > Version cards to see the training rows behind this failure.")
            return
        self.training_caption.setText("Tracing the training rows behind this failure…")
        training = TrainingFiles([card.training_snapshot], card.model_file or None,
                                 card.model_file in self.session.trusted_models,
                                 self.session.chosen_snapshot_roles(card.training_snapshot))
        self.tasks.submit(trace_log_row, Scope(self.session.store, opened.dataset, opened.roles),
                          int(item["row_number"]), training, self.session.influence, key=f"{key}:trace", lane=HEAVY,
                          label="Tracing a failure to its training rows",
                          on_result=lambda trace, at=self.position: self._show_trace(at, trace),
                          on_error=lambda error: self.training_caption.setText(
                              f"Could not trace this failure: {error}"))

    def _show_values(self, at: int, values: dict[str, Any]) -> None:
        if at == self.position:
            _fill(self.values, [(column, value) for column, value in values.items()])

    def _show_trace(self, at: int, trace) -> None:
        if at != self.position:
            return
        surrogate = " (a surrogate model fitted on the snapshot)" if trace.surrogate else ""
        self.training_caption.setText(f"Training rows that pushed the model to this answer{surrogate}:")
        _fill(self.training, [(f"{row.score:+.3g}", row.label,
                               ", ".join(f"{k}={v}" for k, v in list(row.values.items())[:6]))
                              for row in trace.harmful[:TRAINING_ROWS_SHOWN]])

    # --- follow-up of last week's decisions ----------------------------------------------------

    def _measure_followups(self) -> None:
        """Measure the groups awaiting verification on the open log, on a worker; write the
        results (statuses) on the GUI thread, which owns the workspace."""
        opened = self.session.active
        if opened is None:
            return
        self.tasks.submit(measure_awaiting, Scope(self.session.store, opened.dataset, opened.roles),
                          self.queue.groups(), key=f"meeting@{id(self):x}:followup", lane=HEAVY,
                          label="Measuring last week's actions", on_result=self._followups_measured)

    def _followups_measured(self, measured: dict[int, dict[str, Any]]) -> None:
        for group_id, result in measured.items():
            apply(self.queue, followup_edit(group_id, result))
        if measured:
            self.session.run(QueueChanged())

    # --- edits -------------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self._handle_key(event):
            super().keyPressEvent(event)

    def _handle_key(self, event) -> bool:
        key, plain = event.key(), event.modifiers() in (Qt.NoModifier, Qt.KeypadModifier)
        if event.matches(QKeySequence.Undo):
            self.session.undo()
        elif event.matches(QKeySequence.Redo):
            self.session.redo()
        elif key in NEXT_KEYS:
            self.go(1)
        elif key in PREVIOUS_KEYS:
            self.go(-1)
        elif key == Qt.Key_Escape:
            self.close()
        elif event.modifiers() & Qt.ControlModifier and key in ZOOM_KEYS:
            self.set_zoom(1.0 if ZOOM_KEYS[key] == 0 else next_zoom(self.zoom, ZOOM_KEYS[key]))
        elif not plain or self.current_group() is None:
            return False
        elif key in DECISION_KEYS:
            self._run(DecideInMeeting(self.meeting.id, self.current_group().id, DECISION_KEYS[key]))
        elif key in TAG_KEYS:
            taxonomy = [tag for tag, _ in self.queue.taxonomy()]
            if TAG_KEYS.index(key) < len(taxonomy):
                self._run(toggle_tag(self.queue, self.current_group().id, taxonomy[TAG_KEYS.index(key)]))
        elif key == Qt.Key_O:
            self._ask_owner()
        elif key == Qt.Key_A:
            self._ask_note()
        else:
            return False
        return True

    def _ask_owner(self) -> None:
        group = self.current_group()
        name, ok = QInputDialog.getText(self, "Owner", f"Who takes “{group.title}”?", text=group.owner or "")
        if ok:
            self._run(SetGroupFields(group.id, {"owner": name.strip() or None}, label=f"Owner: {name.strip()}"))

    def _ask_note(self) -> None:
        group = self.current_group()
        text, ok = QInputDialog.getMultiLineText(self, "Note", f"Note on “{group.title}”:")
        if ok and text.strip():
            self._run(AddNote(group.id, text.strip()))

    def _run(self, edit) -> None:
        self.session.run(EditQueue(edit))

    def _session_changed(self, changes: Changes) -> None:
        if changes.queue and self.screens:
            self.show_screen()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """End the meeting once (its end time is recorded), however often the window is closed."""
        if self.clock.isActive():
            self.clock.stop()
            self.session.changed.disconnect(self._session_changed)
            if self.session.workspace is not None:
                end_meeting(self.queue, self.meeting)
        super().closeEvent(event)


def evidence_html(group: Group, total_failures: int, version_name: Callable[[str | None], str],
                  finding: dict[str, Any] | None = None, versions_missing: str | None = None) -> str:
    """What the room reads about a group's cause before its examples: impact, the slice and
    whether it regressed, the finding, the blamed batch, last week's follow-up and what was
    decided; where evidence is missing, what to run to get it."""
    share = group.failures / total_failures if total_failures else 0.0
    evidence = group.evidence
    lines = [f"<b>{group.failures:,}</b> failures ({100 * share:.0f}% of all), version "
             f"{escape_html(version_name(group.version))}"]
    rate = (f"error rate <b>{error_rate_text(group)}</b> over {evidence.get('rows', 0):,} rows"
            if evidence.get("error_rate") is not None else "")
    if group.slice is not None:
        where = f"Slice <code>{escape_html(group.slice.name or to_text(group.slice.predicate))}</code>"
        lines.append(f"{where}: {rate}" if rate else where)
    elif rate:
        lines.append(f"Its version's {rate}")
    if evidence.get("regression"):
        lines.append(f"<b>Regression</b>: {escape_html(regression_text(evidence['regression'], version_name))}")
    if evidence.get("versions"):
        lines.append(_versions_html(evidence["versions"], version_name))
    elif versions_missing:
        lines.append(f"<i>{escape_html(versions_missing)}</i>")
    if finding is not None:
        lines.append(f"Finding ({escape_html(finding['severity'])}): <b>{escape_html(finding['sentence'])}</b>")
    elif group.reason == "finding":
        lines.append(f"<i>Finding: {escape_html(group.title)}. Run the input checks on “{escape_html(group.dataset)}” "
                     "(Checks panel) to see its sentence and cells.</i>")
    lines.append(_blame_html(group))
    if group.followup:
        before, after = group.followup["before"], group.followup["after"]
        lines.append(f"Follow-up on {escape_html(group.followup['dataset'])}: <b>{escape_html(group.followup['status'])}</b>"
                     f" — error {100 * before['error_rate']:.1f}% → {100 * after['error_rate']:.1f}% "
                     f"(p = {group.followup['p_value']:.3g})")
    lines.append(f"Status <b>{escape_html(group.status)}</b> · owner {escape_html(group.owner or '—')} · "
                 f"tags {escape_html(', '.join(group.tags) or '—')} · decision {escape_html(group.decision or '—')}")
    return "<br>".join(line for line in lines if line)


def _versions_html(found: dict[str, Any], version_name: Callable[[str | None], str]) -> str:
    """The slice in both versions (error rate, 95% interval, labelled rows) and compare's test."""
    verdict = f"<b>{comparison_verdict(found)}</b>" if found["regressed"] else comparison_verdict(found)
    base, candidate = (f"{escape_html(version_name(v['version']))} <b>{percent(v['error_rate'])}</b> "
                       f"[{percent(v['ci'][0]) if v['ci'] else '—'}–{percent(v['ci'][1]) if v['ci'] else '—'}] "
                       f"of {v['rows']:,}" for v in found["versions"])
    diff = "—" if found["diff"] is None else f"{100 * found['diff']:+.1f} points"
    return (f"Against {escape_html(version_name(found['base']))}, {escape_html(comparison_name(found))}, "
            f"this slice {verdict} "
            f"({escape_html(found['method'].split(';')[0])}, p = {p_value(found['p_value'])}): "
            f"error rate {base} → {candidate} rows, {diff}")


def _blame_html(group: Group) -> str:
    """The training batch trace blames for the group's failures (or that none is), or how to
    trace them: the sentence the report prints too."""
    blamed = group.evidence.get("blamed_batch")
    if blamed:
        return escape_html(blame_text(blamed))
    if group.slice is None:
        return ""
    return ("<i>No training batch blamed yet: <code>sleuth queue add WORKSPACE LOG --train SNAPSHOT</code> traces "
            "these failures to the training batch behind them.</i>")


def _rate_plot() -> pg.PlotWidget:
    """An error-rate plot legible on a projector: dark on white, large ticks, percent."""
    plot = pg.PlotWidget(background="w")
    plot.setMinimumHeight(PLOT_MIN_HEIGHT)
    plot.setMouseEnabled(x=False, y=False)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen("#333"))
        axis.setTextPen(pg.mkPen("#222"))
        axis.enableAutoSIPrefix(False)
    _set_plot_fonts(plot, 1.0)
    return plot


def _set_plot_fonts(plot: pg.PlotWidget, zoom: float) -> None:
    """The plot's ticks and axis title at :data:`PLOT_FONT_POINTS` scaled by ``zoom``."""
    points = PLOT_FONT_POINTS * zoom
    font = QFont()
    font.setPointSizeF(points)
    for side in ("left", "bottom"):
        plot.getAxis(side).setTickFont(font)
    # short: the plot gives its height to the text above down to PLOT_MIN_HEIGHT, and a longer title is cut
    plot.setLabel("left", "error %", **{"font-size": f"{points:.1f}pt", "color": "#222"})


def _draw_rates(plot: pg.PlotWidget, series: list[dict[str, Any]]) -> None:
    """The error rate per time bucket (percent) with its 95% interval, a few bucket labels."""
    plot.clear()
    if not series:
        return
    x = np.arange(len(series), dtype=float)
    rates = np.array([100 * p["error_rate"] for p in series])
    plot.addItem(pg.ErrorBarItem(x=x, y=rates, top=np.array([100 * p["ci"][1] for p in series]) - rates,
                                 bottom=rates - np.array([100 * p["ci"][0] for p in series]), beam=0.2,
                                 pen=pg.mkPen("#999")))
    plot.plot(x, rates, pen=pg.mkPen("#c0392b", width=3), symbol="o", symbolBrush="#c0392b", symbolPen=None)
    labels = [label[:10] for label in bucket_labels([p["start"] for p in series])]  # days read at a glance
    every = max(1, -(-len(series) // TIME_TICKS))
    plot.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(0, len(series), every)]])
    plot.setYRange(0, max(100 * p["ci"][1] for p in series) * 1.05 or 1.0)


def _text_area(body: QLabel) -> QScrollArea:
    """The screen's text, scrolled when it is taller than its share of the screen (never cut)."""
    area = QScrollArea()
    area.setWidget(body)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the text wraps
    return area


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setFocusPolicy(Qt.NoFocus)
    return table


def _fill(table: QTableWidget, rows: list[tuple]) -> None:
    """Rows of text, each cell's whole text in its tooltip, rows as tall as their wrapped text."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            cell = QTableWidgetItem("" if value is None else str(value))
            cell.setToolTip(cell.text())
            table.setItem(r, c, cell)
    table.resizeRowsToContents()


if __name__ == "__main__":  # preview: python -m views.meeting WORKSPACE
    import sys

    from PySide6.QtWidgets import QApplication

    from analysis.workspace.workspace_file import Workspace
    from app.commands import AttachWorkspace

    app = QApplication(sys.argv)
    preview_session, preview_tasks = Session(), TaskRunner()
    preview_session.run(AttachWorkspace(Workspace.open(sys.argv[1])))
    view = MeetingView(preview_session, preview_tasks, sys.argv[2:])
    view.resize(1400, 900)
    view.show()
    code = app.exec()
    preview_tasks.shutdown()
    preview_session.close()
    sys.exit(code)
