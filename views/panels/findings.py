"""On call: what changed, where and since when — the ranked findings of the input checks.

Each finding is one sentence (column, subgroup, time window, effect on the model), ranked by
evidence that it broke predictions. Clicking one sets the current slice to its rows and time
window, so the table, metrics and breakdowns follow, and shows its column's histogram on
those rows over the same subgroup's before the window (both columns of a swap). A finding can
be confirmed, dismissed, marked expected or snoozed, with a note; the decision is kept and
reused next time.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.triage.check_report import check_dataset
from analysis.triage.decisions import Decision, apply_decisions, history
from analysis.triage.before_after import ColumnHistograms, FindingHistograms, finding_histograms, histogram_labels
from analysis.report.formatting import escape_html
from app.state import Changes, Session
from app.tasks import HEAVY, TaskRunner
from views.panel import Panel, preview
from views.queue_intake import add_to_queue

SEVERITY_COLOURS = {"alert": "#b3261e", "warning": "#8a5300", "info": "#1a4f8b"}
COLUMNS = ("Severity", "Rows", "Window", "History", "Finding")
SNOOZE = _dt.timedelta(days=1)
BASELINE_COLOUR = (0, 114, 178)  # Okabe-Ito blue: the rows before
FINDING_COLOUR = (213, 94, 0)  # Okabe-Ito vermillion: the finding's rows
MAX_HISTOGRAMS = 2  # a swap has two columns
PLOT_MIN_HEIGHT = 130  # below this the column name under the axis does not fit


class FindingsPanel(Panel):
    """The input checks' findings, ranked, with their rows, histograms and the team's decisions."""

    title = "Findings"
    listens_to = frozenset({"active", "datasets", "findings"})
    sig_open_finding = Signal(object)  # a Finding: narrow to its rows and window
    sig_decide = Signal(object)  # a Decision
    sig_checked = Signal(object)  # the CheckRun, for the window to keep in the Session

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.shown: list = []
        self.reference: str | None = None  # set once a check has run
        self.run_button = QPushButton("Check inputs")
        self.run_button.setToolTip("Profile the log's first 20% of time and check every column per time bucket "
                                   "and per source/client/region against it")
        self.run_button.clicked.connect(self.run_checks)
        self.caption = QLabel("Run the checks to see what changed, where and since when.")
        self.caption.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setMinimumHeight(80)
        self.tree.setWordWrap(True)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        for col in (0, 1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.before_after = BeforeAfterPlots()
        self.tree.itemActivated.connect(lambda item, _col: self._open(item))
        self.tree.itemClicked.connect(lambda item, _col: self._open(item))
        self.buttons = {}
        decide = QHBoxLayout()
        for action, text, tip in (
            ("confirmed", "Confirm", "This is a real problem"),
            ("dismissed", "Dismiss…", "Not a problem; it will not alert again"),
            ("expected", "Expected…", "A known, expected change; it will not alert again"),
            ("snoozed", "Snooze 1 day", "Hide the alert for a day"),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, a=action: self.decide(a))
            button.setEnabled(False)
            self.buttons[action] = button
            decide.addWidget(button)
        self.buttons["queue"] = QPushButton("Add its rows to the queue")
        self.buttons["queue"].clicked.connect(  # enabled only while a finding is chosen
            lambda: add_to_queue(self, self.current().slice, findings=(self.current(),), what="the finding's rows"))
        self.buttons["queue"].setEnabled(False)
        decide.addWidget(self.buttons["queue"])
        decide.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.before_after, 1)
        layout.addLayout(decide)
        self.tree.currentItemChanged.connect(self._on_current)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.tree

    def refresh(self, changes: Changes) -> None:
        if changes.touches(("active", "datasets")):
            self.cancel_job("check")
            self.run_button.setEnabled(self._can_check())
        if changes.findings:
            self._fill()

    def _can_check(self) -> bool:
        opened = self.session.active
        return opened is not None and opened.kind == "log" and opened.roles.timestamp is not None

    def run_checks(self) -> None:
        opened = self.session.active
        if not self._can_check():
            self.caption.setText("Open a prediction log with a timestamp column to check it.")
            return
        self.caption.setText("checking…")
        workspace = self.session.workspace
        saved = workspace.profile(opened.name) if workspace is not None else None
        self.run_job("check", check_dataset, self.session.store, opened.dataset, opened.roles, saved,
                     lane=HEAVY, label="Checking inputs", on_done=self._checked)

    def _checked(self, run) -> None:
        self.reference = run.reference
        self.sig_checked.emit(run)

    def _fill(self) -> None:
        findings = apply_decisions(self.session.findings, self.session.decisions)
        self.shown = list(findings)
        self.tree.clear()
        counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_COLOURS}
        if findings:
            self.caption.setText(f"{len(findings)} finding(s): {counts['alert']} alert, {counts['warning']} "
                                 f"warning, {counts['info']} info, against {self.reference or 'the reference'}. "
                                 "Click one to see its rows.")
        elif self.reference is not None:
            self.caption.setText(f"No finding: the inputs and outputs look like {self.reference}.")
        for finding in findings:
            item = QTreeWidgetItem([
                finding.severity + (f" ({finding.decision})" if finding.decision else ""),
                f"{finding.rows:,}",
                _window_text(finding.window),
                _history_text(history(self.session.decisions, finding.key)),
                finding.sentence,
            ])
            item.setForeground(0, QBrush(QColor(SEVERITY_COLOURS.get(finding.severity, "#000"))))
            item.setToolTip(4, finding.sentence)
            item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self._enable(False)
        self.rendered()

    def _on_current(self, current, _previous) -> None:
        self._enable(current is not None)
        finding = self.current()
        self.details.setText(f"<b>{finding.severity}</b>: {escape_html(finding.sentence)}" if finding else "")

    def _enable(self, on: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(on)

    def current(self):
        index = self.tree.indexOfTopLevelItem(self.tree.currentItem()) if self.tree.currentItem() else -1
        return self.shown[index] if 0 <= index < len(self.shown) else None

    def _open(self, item: QTreeWidgetItem) -> None:
        index = self.tree.indexOfTopLevelItem(item)
        if 0 <= index < len(self.shown):
            finding = self.shown[index]
            self.sig_open_finding.emit(finding)
            self._request_histograms(finding)

    def _request_histograms(self, finding) -> None:
        opened = self.session.active
        if opened is None:
            return
        self.run_job("histograms", finding_histograms, self.session.store, opened.dataset, opened.roles, finding,
                     label="Histograms of the finding's column", on_done=self.before_after.show_histograms)

    def decide(self, action: str, note: str | None = None) -> None:
        """Record a decision on the selected finding; asks for a note unless one is given."""
        finding = self.current()
        if finding is None:
            return
        if note is None and action in ("dismissed", "expected"):
            note, ok = QInputDialog.getText(self, "Note", f"Why is this {action}?")
            if not ok:
                return
        now = _dt.datetime.now()
        until = now + SNOOZE if action == "snoozed" else None
        self.sig_decide.emit(Decision(finding.key, action, note or "", until, now))


class BeforeAfterPlots(QWidget):
    """The histograms of a finding's columns: the same subgroup before the window (blue)
    under the finding's rows (vermillion), as shares of each part's values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histograms: FindingHistograms | None = None
        self.plots: list[pg.PlotWidget] = []
        self.items: dict[str, tuple[pg.GraphicsObject, pg.GraphicsObject]] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for _ in range(MAX_HISTOGRAMS):
            plot = pg.PlotWidget()
            plot.setBackground("w")
            plot.setMinimumHeight(PLOT_MIN_HEIGHT)
            plot.setMouseEnabled(x=False, y=False)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.addLegend(offset=(-10, 5), labelTextSize="8pt", labelTextColor="#222")
            plot.setLabel("bottom", "value")
            plot.setLabel("left", "share of values")
            plot.hide()
            self.plots.append(plot)
            layout.addWidget(plot, 1)
        self.hide()

    def show_histograms(self, histograms: FindingHistograms) -> None:
        self.histograms = histograms
        self.items = {}
        for plot, column in zip(self.plots, (*histograms.columns, *[None] * MAX_HISTOGRAMS)):
            plot.clear()
            plot.setVisible(column is not None)
            if column is not None:
                self._draw(plot, column, histograms.baseline)
        self.setVisible(bool(histograms.columns))

    def _draw(self, plot: pg.PlotWidget, column: ColumnHistograms, baseline: str) -> None:
        before_label, after_label = histogram_labels(column, baseline)
        if column.numeric:
            edges = np.asarray(column.edges)
            before = plot.plot(edges, column.baseline, stepMode="center", fillLevel=0,
                               brush=(*BASELINE_COLOUR, 70), pen=pg.mkPen(BASELINE_COLOUR, width=2), name=before_label)
            after = plot.plot(edges, column.finding, stepMode="center", fillLevel=0,
                              brush=(*FINDING_COLOUR, 70), pen=pg.mkPen(FINDING_COLOUR, width=2), name=after_label)
            plot.getAxis("bottom").setTicks(None)
        else:
            x = np.arange(len(column.categories), dtype=float)
            before = pg.BarGraphItem(x=x - 0.2, height=column.baseline, width=0.4, brush=(*BASELINE_COLOUR, 160),
                                     pen=pg.mkPen(BASELINE_COLOUR), name=before_label)
            after = pg.BarGraphItem(x=x + 0.2, height=column.finding, width=0.4, brush=(*FINDING_COLOUR, 160),
                                    pen=pg.mkPen(FINDING_COLOUR), name=after_label)
            plot.addItem(before)
            plot.addItem(after)
            plot.getAxis("bottom").setTicks([list(enumerate(column.categories))])
        plot.setLabel("bottom", column.column)
        self.items[column.column] = (before, after)


def _window_text(window) -> str:
    start, end = window
    if start is None and end is None:
        return "whole log"
    def moment(value) -> str:
        return value.strftime("%m-%d" if (value.hour, value.minute) == (0, 0) else "%m-%d %H:%M")

    if start is not None and end is not None and start.date() == end.date():
        return f"{start:%Y-%m-%d} {start:%H:%M}–{end:%H:%M}"
    return f"{moment(start) if start else '…'} → {moment(end) if end else '…'}"


def _history_text(past) -> str:
    parts = [f"{n} {name}" for name, n in (("confirmed", past.confirmed), ("dismissed", past.dismissed),
                                            ("expected", past.expected), ("snoozed", past.snoozed)) if n]
    return ", ".join(parts)


if __name__ == "__main__":
    preview(FindingsPanel)
