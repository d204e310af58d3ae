"""On call: what changed, where and since when — the ranked findings of the input checks.

The checks run in the background as soon as a log becomes the active one (the last check's
findings, kept in the workspace, show meanwhile), and again on *Check inputs*, over the
current slice's rows. The reference they compare with is the user's choice (the log's first
20% of time, the log before a moment, or an open training snapshot), with an optional
*since* for the checked rows; it is named above the list and kept in the workspace per log,
so it never changes silently between runs. A run for a log the user has left is cancelled
and its result dropped.

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
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
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

from analysis.errors import SchemaError
from analysis.slices import Everything
from analysis.triage.check_report import DEFAULT_REFERENCE, Reference, check_dataset, finding_from_dict
from analysis.triage.share import Share, share_line
from analysis.triage.decisions import Decision, apply_decisions, history
from analysis.triage.before_after import ColumnHistograms, FindingHistograms, finding_histograms, histogram_labels
from analysis.report.formatting import escape_html, significant
from analysis.scope import Scope
from app.commands import SetFindings
from app.state import Changes, Session
from app.tasks import HEAVY, TaskRunner
from views.panel import Panel, preview, pulled_note
from views.queue_intake import add_to_queue

SEVERITY_COLOURS = {"alert": "#b3261e", "warning": "#8a5300", "info": "#1a4f8b"}
COLUMNS = ("Severity", "Rows", "Window", "History", "Finding")
SNOOZE = _dt.timedelta(days=1)
BASELINE_COLOUR = (0, 114, 178)  # Okabe-Ito blue: the rows before
FINDING_COLOUR = (213, 94, 0)  # Okabe-Ito vermillion: the finding's rows
MAX_HISTOGRAMS = 2  # a swap has two columns
PLOT_MIN_HEIGHT = 200  # the bars, their ticks and the column name under the axis stay legible


class FindingsPanel(Panel):
    """The input checks' findings, ranked, with their rows, histograms and the team's decisions."""

    title = "Findings"
    listens_to = frozenset({"active", "datasets", "roles", "findings"})
    sig_open_finding = Signal(object)  # a Finding: narrow to its rows and window
    sig_decide = Signal(object)  # a Decision
    sig_checked = Signal(object)  # the CheckRun, for the window to keep in the Session

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.shown: list = []
        self.checked_against: str | None = None  # the reference of the findings shown, in words
        self.checked_share: Share | None = None  # the share of a large log their row-level parts read
        self.check_on_open = True  # the window sets it from the preferences
        self._checked_on_open: set[str] = set()  # logs checked (or being checked) since they opened
        self._checking: str | None = None  # the log the running check is for
        self._last_runs: dict = {}  # each log's last CheckRun in this session
        self.run_button = QPushButton("Check inputs")
        self.run_button.setToolTip("Check every column of the current slice's rows per time bucket and per "
                                   "source/client/region against the reference")
        self.run_button.clicked.connect(lambda: self.run_checks())  # not background, whatever clicked passes
        self.reference_box = QComboBox()
        self.reference_box.setToolTip("What the checks compare with")
        self.before_edit = _date_edit("Reference: the log's rows before this moment")
        self.since_box = QCheckBox("since")
        self.since_box.setToolTip("Check only the rows from this moment on")
        self.since_edit = _date_edit("Check the rows from this moment on")
        self.reference_box.currentIndexChanged.connect(lambda _i: self._show_choice())
        self.since_box.toggled.connect(lambda _on: self._show_choice())
        self.before_edit.dateTimeChanged.connect(lambda _t: self._show_choice())
        self.since_edit.dateTimeChanged.connect(lambda _t: self._show_choice())
        self.reference_label = QLabel()
        self.reference_label.setWordWrap(True)
        self._auto_check = QTimer(self)  # owned: a log's background check starts once its command is done
        self._auto_check.setSingleShot(True)
        self._auto_check.timeout.connect(self._check_on_open)
        self.caption = QLabel("Run the checks to see what changed, where and since when.")
        self.caption.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        # Three rows at least: the selected finding and its neighbours, in the font of the day (zoom)
        self.tree.setMinimumHeight(self.tree.header().sizeHint().height() + 2 * self.tree.frameWidth()
                                   + 3 * (self.tree.fontMetrics().height() + 2))
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
        decide = QVBoxLayout()  # beside the plots: a row under them cost the plots their axes at 1280x720
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
        choice = QHBoxLayout()
        choice.addWidget(QLabel("Reference:"))
        choice.addWidget(self.reference_box)
        choice.addWidget(self.before_edit)
        choice.addWidget(self.since_box)
        choice.addWidget(self.since_edit)
        choice.addWidget(self.reference_label, 1)  # beside the choice it names, a line saved for the plots
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(choice)
        layout.addLayout(top)
        results = _WholeColumn()
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.tree, 1)
        results_layout.addWidget(self.details)
        finding_row = QHBoxLayout()
        finding_row.addWidget(self.before_after, 1)
        finding_row.addLayout(decide)
        finding_row.setAlignment(decide, Qt.AlignRight | Qt.AlignTop)  # button-wide, also with no plot beside
        results_layout.addLayout(finding_row, 1)
        layout.addWidget(self.with_empty_state(results), 1)
        self.tree.currentItemChanged.connect(self._on_current)
        self.session.changed.connect(self._follow_active)  # hidden or not: checks run in the background
        self._fill_choices()
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.tree

    def refresh(self, changes: Changes) -> None:
        if changes.touches(("active", "datasets", "roles")):
            self.run_button.setEnabled(self._can_check())
            missing = self._missing()
            if missing:
                self.show_empty(missing)
            else:
                self.show_content()
        if changes.findings:
            self._fill()

    def _can_check(self) -> bool:
        return not self._missing()

    def _missing(self) -> str:
        """What the active dataset lacks for the checks, as a sentence; empty when nothing does."""
        opened = self.session.active
        if opened is None:
            return ("No data open. Open a prediction log (File > Open, Ctrl+O): Check inputs then ranks "
                    "what changed in its inputs and outputs, since when and for whom.")
        name = escape_html(opened.name)
        if opened.kind != "log":
            return (f"{name} is a training snapshot, the reference of a check rather than a log to check: "
                    "open a prediction log and choose the snapshot as its reference.")
        if opened.roles.timestamp is None:
            return (f"{name} has no timestamp column, so nothing tells its rows before from its rows after: "
                    "set one in Data > Column roles (Ctrl+R).")
        return ""

    # --- the reference and the checked window -----------------------------------------------

    def _fill_choices(self) -> None:
        """The reference choices: the log's start, the log before a moment, each open snapshot."""
        current = self.reference()
        self.reference_box.blockSignals(True)
        self.reference_box.clear()
        self.reference_box.addItem(DEFAULT_REFERENCE.describe(), DEFAULT_REFERENCE)
        self.reference_box.addItem("the log before…", Reference("before"))
        for name, opened in self.session.datasets.items():
            if opened.kind == "training":
                snapshot = Reference("snapshot", snapshot=name)
                self.reference_box.addItem(snapshot.describe(), snapshot)
        self.reference_box.blockSignals(False)
        self._select(current)

    def _select(self, reference: Reference) -> None:
        for index in range(self.reference_box.count()):
            item = self.reference_box.itemData(index)
            if (item.kind, item.snapshot) == (reference.kind, reference.snapshot):
                self.reference_box.setCurrentIndex(index)
        if reference.before is not None:
            self.before_edit.setDateTime(reference.before)
        self._show_choice()

    def reference(self) -> Reference:
        """The reference chosen in the controls."""
        chosen = self.reference_box.currentData() or DEFAULT_REFERENCE
        if chosen.kind == "before":
            return Reference("before", before=self.before_edit.dateTime().toPython())
        return chosen

    def since(self) -> _dt.datetime | None:
        return self.since_edit.dateTime().toPython() if self.since_box.isChecked() else None

    def _show_choice(self) -> None:
        self.before_edit.setVisible((self.reference_box.currentData() or DEFAULT_REFERENCE).kind == "before")
        self.since_edit.setEnabled(self.since_box.isChecked())
        since = self.since()
        self.reference_label.setText(f"Checking {'rows since ' + f'{since:%Y-%m-%d %H:%M}' if since else 'every row'} "
                                     f"against {self.reference().describe()}.")

    def _restore_choice(self, name: str) -> None:
        """The reference and since the workspace kept for ``name`` (the default without one)."""
        self._fill_choices()
        workspace = self.session.workspace
        document = workspace.check_reference(name) if workspace is not None else None
        self._select(Reference.from_dict(document) if document else DEFAULT_REFERENCE)
        since = document.get("since") if document else None
        self.since_box.setChecked(bool(since))
        if since:
            self.since_edit.setDateTime(_dt.datetime.fromisoformat(since))

    # --- running ------------------------------------------------------------------------------

    def _follow_active(self, changes: Changes) -> None:
        """A log that becomes active gets its kept findings and its check in the background; a
        check of a log the user has left is cancelled."""
        if not changes.touches(("active", "datasets")):
            return
        opened = self.session.active
        if self._checking is not None and (opened is None or opened.name != self._checking):
            self.cancel_job("check")
            self._checked_on_open.discard(self._checking)  # checked again when the user comes back
            self._checking = None
        if changes.datasets:
            self._fill_choices()
        if changes.active and self._can_check():
            self._auto_check.start(0)

    def _check_on_open(self) -> None:
        """Show the active log's last findings (this session's, else the workspace's) with
        their reference, and check it in the background once after it opens when the
        preference says so."""
        opened = self.session.active
        if not self._can_check():
            return
        self._restore_choice(opened.name)
        self._show_kept(opened)
        if self.check_on_open and opened.name not in self._checked_on_open:
            self._checked_on_open.add(opened.name)
            self.run_checks(background=True)

    def _show_kept(self, opened) -> None:
        last = self._last_runs.get(opened.name)
        if last is not None:
            self.checked_against, self.checked_share = last.reference, last.share
            self.session.run(SetFindings(last.findings))
            return
        workspace = self.session.workspace
        reference, documents = workspace.findings(opened.name) if workspace is not None else (None, [])
        kept = []
        for document in documents:
            try:
                kept.append(finding_from_dict(document))
            except (KeyError, ValueError, TypeError, SchemaError):
                continue  # a record this version cannot read is skipped, never fatal
        self.checked_against, self.checked_share = reference, None
        self.session.run(SetFindings(tuple(kept)))

    def run_checks(self, background: bool = False) -> None:
        """Check the active log's inputs. ``background``: the check on open, which the user did
        not ask for, so a heavy job the user starts pauses it and it resumes afterwards (the
        *Check inputs* button is the user's own and is never paused)."""
        opened = self.session.active
        if not self._can_check():
            self.caption.setText("Open a prediction log with a timestamp column to check it.")
            return
        reference, since = self.reference(), self.since()
        where = self.session.current_slice.predicate if self.session.slice_applies() else Everything
        snapshot = None
        if reference.kind == "snapshot":
            other = self.session.datasets.get(reference.snapshot)
            if other is None:
                self.caption.setText(f"The training snapshot {reference.snapshot} is not open; open it or "
                                     "choose another reference.")
                return
            snapshot = (other.dataset, other.roles)
        checking = f"checking against {reference.describe()}…"
        self.caption.setText(checking)
        self._checking = opened.name
        self.run_job("check", check_dataset, Scope(self.session.store, opened.dataset, opened.roles),
                     self._saved_profile(opened.name, reference, where), reference, snapshot, since, where,
                     lane=HEAVY, after_interactive=True, label="Checking inputs", on_done=self._checked,
                     on_cancelled=lambda: self.caption.setText("Check cancelled."), background=background,
                     on_paused=lambda label: self.caption.setText(_paused_text(label)),
                     on_resumed=lambda: self.caption.setText(checking))

    def _saved_profile(self, name: str, reference: Reference, where) -> str | None:
        """The workspace's profile of ``name``, when it was made for this reference of all rows."""
        workspace = self.session.workspace
        if workspace is None or where is not Everything:
            return None
        document = workspace.check_reference(name)
        same = Reference.from_dict(document) == reference if document else reference == DEFAULT_REFERENCE
        return workspace.profile(name) if same else None

    def _checked(self, run) -> None:
        active = self.session.active
        self._checking = None
        if active is None or active.name != run.dataset.name:
            return  # the user has left that log: its findings are not this one's
        self.checked_against, self.checked_share = run.reference, run.share
        self._last_runs[run.dataset.name] = run
        self.sig_checked.emit(run)

    def _fill(self) -> None:
        selected = self.current()
        findings = apply_decisions(self.session.findings, self.session.decisions)
        self.shown = list(findings)
        self.tree.clear()
        counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_COLOURS}
        if findings:
            self.caption.setText(f"{len(findings)} finding(s): {counts['alert']} alert, {counts['warning']} "
                                 f"warning, {counts['info']} info, against {self.checked_against or 'the reference'}"
                                 f"{pulled_note(self.session)}{self._share_note()}. Click one to see its rows.")
        elif self.checked_against is not None:
            self.caption.setText(f"No finding: the inputs and outputs look like {self.checked_against}"
                                 f"{pulled_note(self.session)}{self._share_note()}.")
        elif not self.job_running("check"):
            self.caption.setText("Not checked yet: Check inputs compares the rows with the reference.")
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
        keys = [f.key for f in findings]
        if selected is not None and selected.key in keys:  # a decision keeps its finding (and histograms) shown
            self.tree.setCurrentItem(self.tree.topLevelItem(keys.index(selected.key)))
        else:
            self._enable(False)
        self.rendered()

    def _share_note(self) -> str:
        """"; row scans, ...: computed on a 10,000,000-row share of ..." when the findings shown
        read a share of the log, so their row counts do not pass for the whole log's."""
        return f"; {share_line(self.checked_share)}" if self.checked_share is not None else ""

    def _on_current(self, current, _previous) -> None:
        self._enable(current is not None)
        finding = self.current()
        self.details.setText(f"<b>{finding.severity}</b>: {escape_html(finding.sentence)}" if finding else "")
        if finding is None:
            self.before_after.clear()
        else:
            self._request_histograms(finding)

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

    def _request_histograms(self, finding) -> None:
        opened = self.session.active
        if opened is None:
            return
        self.run_job("histograms", finding_histograms, Scope(self.session.store, opened.dataset, opened.roles),
                     finding, label="Histograms of the finding's column", on_done=self.before_after.show_histograms)

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
    beside the finding's rows (vermillion), as shares of each part's rows, missing values
    as a bar of their own (for a null burst they are the whole story). The legend is a row
    above each plot, never over the bars. A share axis turns logarithmic when a non-empty bar
    would be under a pixel tall on a linear one (a skewed column's tail would vanish)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histograms: FindingHistograms | None = None
        self.plots: list[pg.PlotWidget] = []
        self.legends: list[QLabel] = []
        self.log_scale: dict[str, bool] = {}
        self.items: dict[str, tuple[pg.GraphicsObject, pg.GraphicsObject]] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.hide()

    def _build_plots(self) -> None:
        """Make the plots when the first finding is shown, not with the window: hidden until
        then, they take no room, and a window whose findings nobody opens never pays for them
        (two plot widgets, ~30 ms of the window's ~240 ms start)."""
        layout = self.layout()
        for _ in range(MAX_HISTOGRAMS):
            legend = QLabel()
            legend.setWordWrap(True)
            plot = pg.PlotWidget()
            plot.setBackground("w")
            plot.setMinimumHeight(PLOT_MIN_HEIGHT)
            plot.setMouseEnabled(x=False, y=False)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.setLabel("bottom", "value")
            column = QVBoxLayout()
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            column.addWidget(legend)
            column.addWidget(plot, 1)
            holder = QWidget()
            holder.setLayout(column)
            holder.hide()
            self.plots.append(plot)
            self.legends.append(legend)
            layout.addWidget(holder, 1)

    def minimumSizeHint(self) -> QSize:
        """Room for each shown plot at its legible height under its legend's lines at today's width:
        a minimum counted at one legend line let two wrapped legends push the plots' axes under the
        decision buttons at 1280x720."""
        hint = super().minimumSizeHint()
        if not self.plots:
            return hint
        legends = [legend.heightForWidth(legend.width()) for legend in self.legends if legend.isVisibleTo(self)]
        spacing = max(self.plots[0].parentWidget().layout().spacing(), 0)
        return QSize(hint.width(), max([hint.height(), *(h + spacing + PLOT_MIN_HEIGHT for h in legends)]))

    def show_histograms(self, histograms: FindingHistograms) -> None:
        if not self.plots:
            self._build_plots()
        self.histograms = histograms
        self.items = {}
        self.log_scale = {}
        for plot, legend, column in zip(self.plots, self.legends, (*histograms.columns, *[None] * MAX_HISTOGRAMS)):
            plot.clear()
            plot.parentWidget().setVisible(column is not None)
            if column is not None:
                legend.setText(self._legend(column, histograms.baseline))
                self._draw(plot, column)
        self.setVisible(bool(histograms.columns))
        self.updateGeometry()

    def drawn_shares(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bar centres and the shares the two bar sets show (read back from the drawn bars)."""
        shares = []
        for bar in self.items[column]:
            height, y0 = np.asarray(bar.opts["height"], float), float(bar.opts["y0"])
            shares.append(np.where(height > 0, 10.0 ** (y0 + height), 0.0) if self.log_scale[column] else height)
        before, after = (np.asarray(bar.opts["x"], float) for bar in self.items[column])
        return (before + after) / 2, shares[0], shares[1]

    def clear(self) -> None:
        """Show nothing (no finding is selected), rather than the histograms of another one."""
        self.histograms = None
        self.items = {}
        self.hide()

    @staticmethod
    def _legend(column: ColumnHistograms, baseline: str) -> str:
        before_label, after_label = histogram_labels(column, baseline)
        swatch = "<span style='color:rgb({},{},{})'>■</span>"
        # The column is named under the axis: the legend is the two colours, on one line where it fits.
        return (f"{swatch.format(*BASELINE_COLOUR)} {escape_html(before_label)}"
                f" &nbsp; {swatch.format(*FINDING_COLOUR)} {escape_html(after_label)}")

    def _draw(self, plot: pg.PlotWidget, column: ColumnHistograms) -> None:
        before = np.append(column.baseline * (1 - column.baseline_missing), column.baseline_missing)
        after = np.append(column.finding * (1 - column.finding_missing), column.finding_missing)
        if not (before[-1] or after[-1]):  # no missing value on either side: no bar for them
            before, after = before[:-1], after[:-1]
        x, width, ticks = _bar_positions(column, len(before))
        log = _needs_log_scale(np.concatenate([before, after]), max(plot.height(), PLOT_MIN_HEIGHT))
        floor = _log_floor(np.concatenate([before, after])) if log else 0.0
        bars = []
        for offset, shares, colour in ((-0.25, before, BASELINE_COLOUR), (0.25, after, FINDING_COLOUR)):
            heights = np.where(shares > 0, np.log10(np.where(shares > 0, shares, 1.0)) - floor, 0.0) if log else shares
            bar = pg.BarGraphItem(x=x + offset * width, y0=floor, height=heights, width=width * 0.5,
                                  brush=(*colour, 170), pen=pg.mkPen(colour))
            plot.addItem(bar)
            bars.append(bar)
        plot.getAxis("bottom").setTicks([ticks])
        left = plot.getAxis("left")
        if log:
            left.setTicks([[(k, f"{10.0 ** k:g}") for k in range(int(np.ceil(floor)), 1)]])
            plot.setLabel("left", "share of rows (log scale)")
        else:
            left.setTicks(None)
            plot.setLabel("left", "share of rows")
        plot.setLabel("bottom", column.column)
        plot.enableAutoRange()
        self.log_scale[column.column] = log
        self.items[column.column] = (bars[0], bars[1])


class _WholeColumn(QWidget):
    """A column of widgets whose minimum height is what its shown widgets need at its width, with
    wrapped text counted in the lines it takes there: Qt counts a wrapped label at one line, so
    the dock could be squeezed until the plots ran under the buttons."""

    def minimumSizeHint(self) -> QSize:
        layout = self.layout()
        hint = super().minimumSizeHint()
        items = [layout.itemAt(i) for i in range(layout.count())]
        shown = [item for item in items if item.widget() is None or item.widget().isVisibleTo(self)]
        heights = [_needed_height(item, self.width()) for item in shown]
        height = sum(heights) + max(layout.spacing(), 0) * (len(shown) - 1)
        margins = layout.contentsMargins()
        return QSize(hint.width(), max(hint.height(), height + margins.top() + margins.bottom()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()  # wrapped text takes another number of lines at another width


def _needed_height(item, width: int) -> int:
    """The least height of a layout item at ``width``: a wrapped label's lines, else its minimum."""
    widget = item.widget()
    if isinstance(widget, QLabel) and widget.wordWrap() and widget.text():
        return widget.heightForWidth(width)
    return max(item.minimumSize().height(), widget.minimumSizeHint().height() if widget is not None else 0)


def _bar_positions(column: ColumnHistograms, bars: int) -> tuple[np.ndarray, float, list]:
    """Bar centres, their width and the axis ticks: bins (or categories), then "missing"."""
    if column.numeric:
        edges = np.asarray(column.edges)
        width = float(edges[1] - edges[0])
        centres = (edges[:-1] + edges[1:]) / 2
        ticks = [(float(v), significant(v, 3)) for v in edges[:-1:len(edges) // 4]]  # the right end would meet "missing"
    else:
        width = 1.0
        centres = np.arange(len(column.categories), dtype=float)
        ticks = [(float(i), _short(c)) for i, c in enumerate(column.categories)]
    if bars > len(centres):
        missing = float(centres[-1] + 1.5 * width) if len(centres) else 0.0
        centres = np.append(centres, missing)
        ticks.append((missing, "missing"))
    return centres, width, ticks


def _needs_log_scale(shares: np.ndarray, pixels: int) -> bool:
    """True when a non-empty bar would be under one pixel tall on a linear axis of ``pixels``."""
    present = shares[shares > 0]
    return len(present) > 1 and present.min() < present.max() / pixels


def _log_floor(shares: np.ndarray) -> float:
    """Where log-scale bars start: half a decade below the smallest non-empty share."""
    return float(np.floor(np.log10(shares[shares > 0].min())) - 0.5)


def _paused_text(label: str) -> str:
    """The status line while the user's job ``label`` (e.g. "Sorting the table") runs first."""
    what = label[:1].lower() + label[1:] if label else "your request"
    return f"Checks paused for {what}; they resume when it is done."


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _date_edit(tip: str) -> QDateTimeEdit:
    edit = QDateTimeEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    edit.setToolTip(tip)
    return edit


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
