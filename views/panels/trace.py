"""Trace a failed prediction: the training rows that pushed the model to it, and suspect labels.

Selecting a labelled row of the active log traces it on the heavy worker: the most harmful and
most helpful training rows, ranked with a score bar, each with its label, source and date.
Choosing one of them lays it next to the query row, differing features highlighted. The
snapshot and model come from the row's version card, or from files the user picks here. A
model file that could run code when opened is loaded only after the user trusts it.

"Trace the failures of the current slice" sums the influence over the slice's failed predictions
(the worst :data:`~analysis.trace.tracer.FAILURE_CAP`), and shows it per source, batch and date, so a
corrupted batch stands out. Any training row shown here opens as a slice of the snapshot, and
the query row as a slice of the log (``sig_open_training_rows`` / ``sig_open_log_rows``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from analysis.data.open_log import LoadedLog
from analysis.errors import SleuthError
from analysis.slices import RowIds
from analysis.trace.model_files import inspect_model
from analysis.trace.suspects import CONCENTRATION_ALPHA
from analysis.trace.tracer import (
    FAILURE_CAP,
    FailuresTrace,
    NoLabelYet,
    RowTrace,
    TraceSettings,
    TrainingFiles,
    busiest_failing_version,
    concentration_sentence,
    log_row_predicate,
    row_version,
    suspects_for,
    trace_failures,
    trace_log_row,
    training_row_predicate,
)
from analysis.report.formatting import count, is_missing, number, p_value, percent, significant
from analysis.scope import Scope
from analysis.workspace.version_cards import VersionCard
from app.commands import SaveVersionCard, TrustModel
from app.state import Changes, Session
from app.tasks import HEAVY, TaskRunner
from views.panel import Panel, preview, pulled_note
from views.queue_intake import add_to_queue
from views.widgets import file_dialogs

NO_LOG = ("Open a prediction log, then click one of its rows: its training rows that pushed the model to "
          "its answer are listed here, harmful and helpful.")
NO_SELECTION = "Click a row of the table to trace it."
INFLUENCE_COLUMNS = ("Score", "Training row", "Label", "Source", "Date")
SOURCE_COLUMN = INFLUENCE_COLUMNS.index("Source")
SCORE_WIDTH = 90
"""Pixels of the score column at least: room for its bar beside the number."""
SUSPECT_COLUMNS = ("Training row", "Label", "Suggested label", "Score")
SOURCE_COLUMNS = ("Column", "Value", "Rows", "Share of harmful influence", "p (adjusted)", "Summed score")
HARMFUL_COLOUR = QColor("#D55E00")
HELPFUL_COLOUR = QColor("#0072B2")
DIFFERENT_COLOUR = QColor("#FFE9A8")
SCORE_ROLE = Qt.UserRole + 1  # the bar's length, as a fraction of the list's strongest score


def confirm_trust(parent: QWidget, path: str, types: list[str]) -> bool:
    """Ask whether to open a model file that may run code; True only on "Trust this file"."""
    listed = "\n".join(f"• {t}" for t in types) or "• (a pickle names its types only as it runs)"
    box = QMessageBox(QMessageBox.Warning, "Trust this model file?",
                      f"{path}\n\nOpening this file can run code: unpickling runs whatever code the "
                      f"file names. It uses types Sleuth does not allow by itself:\n{listed}\n\n"
                      "Open it only if you trust where it came from.", parent=parent)
    trust = box.addButton("Trust this file", QMessageBox.AcceptRole)
    box.addButton("Don't open", QMessageBox.RejectRole)
    box.exec()
    return box.clickedButton() is trust


class ScoreBarDelegate(QStyledItemDelegate):
    """Paints a cell's score as a bar (its length from ``SCORE_ROLE``) behind the number."""

    def __init__(self, colour: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = colour

    def paint(self, painter: QPainter, option, index) -> None:
        fraction = index.data(SCORE_ROLE) or 0.0
        bar = QRect(option.rect.adjusted(2, 3, -2, -3))
        bar.setWidth(int(bar.width() * min(max(fraction, 0.0), 1.0)))
        painter.save()
        colour = QColor(self.colour)
        colour.setAlpha(110)
        painter.fillRect(bar, colour)
        painter.restore()
        super().paint(painter, option, index)


class TracePanel(Panel):
    """Influential training rows for the selected log row, and the snapshot's suspect labels.

    The snapshot and model of a version are its version card's (choosing one here edits the
    card); the model files the person trusted are the Session's, so every panel agrees. So are the
    models' influence preparations (:attr:`~app.state.Session.influence`): a model prepared here
    is not prepared again by the meeting or a queue intake, nor theirs here.
    """

    title = "Trace"
    listens_to = frozenset({"selection", "active", "cards"})
    sig_open_training_rows = Signal(list, object, str)  # snapshot paths, predicate, slice name
    sig_open_log_rows = Signal(str, object, str)  # dataset name, predicate, slice name

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.trace: RowTrace | None = None
        self.traced_name: str | None = None  # the dataset the shown trace's query row belongs to
        self.version: str | None = None  # the model version of the row (or failures) traced last
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.PlainText)  # a pulled sample's filter ("a <b") is never markup
        self.caption.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.query = QLabel()
        self.query.setWordWrap(True)
        self.sources = QLabel()
        self.sources.setWordWrap(True)
        self.snapshot_button = QPushButton("Choose snapshot…")
        self.snapshot_button.setToolTip("The training snapshot this version was trained on")
        self.snapshot_button.clicked.connect(lambda: self._choose("snapshot"))
        self.model_button = QPushButton("Choose model…")
        self.model_button.setToolTip("The version's model file (skops, pickle or joblib); without one "
                                     "Sleuth fits a surrogate on the snapshot")
        self.model_button.clicked.connect(lambda: self._choose("model"))
        self.harmful = _influence_table(HARMFUL_COLOUR, self)
        self.helpful = _influence_table(HELPFUL_COLOUR, self)
        for table in (self.harmful, self.helpful):
            table.itemSelectionChanged.connect(lambda t=table: self._training_row_chosen(t))
            table.viewport().setToolTip("Click a training row to compare it with the query row")
        self.comparison = _table(("Feature", "Query row", "Training row"))
        self.comparison_title = QLabel()
        self.comparison_title.setWordWrap(True)
        self.suspects_button = QPushButton("Find suspect labels")
        self.suspects_button.setToolTip("Rank the snapshot's rows by how likely their label is wrong "
                                        "(confident learning + self-influence); takes a while")
        self.suspects_button.clicked.connect(self.find_suspects)
        self.suspects_summary = QLabel("Training rows whose label is probably wrong, and where they come from.")
        self.suspects_summary.setWordWrap(True)
        self.suspects_summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.suspects = _table(SUSPECT_COLUMNS)
        self.suspect_report: dict[str, Any] | None = None
        self.suspects_snapshot = ""
        self.failures_button = QPushButton("Trace the failures of the current slice")
        self.failures_button.setToolTip(f"Sum the influence over the slice's failed predictions (the worst "
                                        f"{FAILURE_CAP:,}) and show which training rows and batches caused them")
        self.failures_button.clicked.connect(self.trace_slice_failures)
        self.failures_summary = QLabel(f"The training rows harmful to many failed predictions of the current "
                                       f"slice (at most the worst {FAILURE_CAP:,} are traced), and their batches.")
        self.failures_summary.setWordWrap(True)
        self.failures_summary.setTextFormat(Qt.PlainText)
        self.failures_summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.failures: FailuresTrace | None = None
        self.failures_snapshot = ""
        self.failures_of: str | None = None  # the dataset whose failures were traced last
        self.failure_rows = _influence_table(HARMFUL_COLOUR, self)
        self.failure_sources = _table(SOURCE_COLUMNS)
        self.open_training_button = QPushButton("Open training row")
        self.open_training_button.setToolTip("Show the chosen training row in the snapshot's table, as a slice")
        self.open_training_button.clicked.connect(self.open_training_row)
        self.open_query_button = QPushButton("Open query row")
        self.open_query_button.setToolTip("Show the traced log row in the log's table, as a slice")
        self.open_query_button.clicked.connect(self.open_query_row)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.setToolTip("Add the traced row to the failure queue")
        self.queue_button.clicked.connect(lambda: self.trace and add_to_queue(
            self, RowIds.of([self.trace.row_id]), what="the traced row", dataset=self.traced_name))
        for table in (self.harmful, self.helpful, self.failure_rows, self.suspects):
            table.doubleClicked.connect(self.open_training_row)
        self.tabs = QTabWidget()
        self._layout_widgets()
        self._show_sources()
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.tabs

    def _layout_widgets(self) -> None:
        files = QHBoxLayout()
        files.addWidget(self.sources, 1)
        files.addWidget(self.snapshot_button)
        files.addWidget(self.model_button)
        # Harmful and helpful side by side, the comparison under them only once a training row is
        # chosen: a dock at 1280x720 is short, and stacked tables showed three rows each.
        lists = QSplitter(Qt.Horizontal)
        for title, table in (("Harmful: removing these rows would most lower this prediction's loss",
                              self.harmful),
                             ("Helpful: these rows most supported the right answer", self.helpful)):
            lists.addWidget(_titled(title, table))
        self.comparison_box = _titled("", self.comparison)
        self.comparison_box.layout().insertWidget(0, self.comparison_title)
        self.comparison_box.hide()
        influence = QSplitter(Qt.Vertical)
        influence.addWidget(lists)
        influence.addWidget(self.comparison_box)
        influence = self.with_empty_state(influence)  # why a row's trace is not shown, in its place
        suspects = QWidget()
        suspects_layout = QVBoxLayout(suspects)
        button_row = QHBoxLayout()
        button_row.addWidget(self.suspects_button)
        button_row.addStretch(1)
        suspects_layout.addLayout(button_row)
        suspects_layout.addWidget(self.suspects_summary)
        suspects_layout.addWidget(self.suspects, 1)
        failures = QWidget()
        failures_layout = QVBoxLayout(failures)
        failures_button_row = QHBoxLayout()
        failures_button_row.addWidget(self.failures_button)
        failures_button_row.addStretch(1)
        failures_layout.addLayout(failures_button_row)
        failures_layout.addWidget(self.failures_summary)
        failure_split = QSplitter(Qt.Horizontal)
        failure_split.addWidget(_titled("Most harmful over the failures", self.failure_rows))
        failure_split.addWidget(_titled("Harmful influence by source, batch and date", self.failure_sources))
        failures_layout.addWidget(failure_split, 1)
        self.tabs.addTab(influence, "Influential rows")
        self.tabs.addTab(suspects, "Suspect labels")
        self.tabs.addTab(failures, "Failures of the slice")
        # The actions sit beside the tabs, not on a row of their own: a dock at 1280x720 is
        # short, and every row given to buttons is a row of training rows not shown.
        actions = QWidget()
        actions_row = QHBoxLayout(actions)
        actions_row.setContentsMargins(0, 0, 0, 0)
        for button in (self.open_query_button, self.queue_button, self.open_training_button):
            actions_row.addWidget(button)
        self.tabs.setCornerWidget(actions, Qt.TopRightCorner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.query)
        layout.addLayout(files)
        layout.addWidget(self.tabs, 1)

    # --- following the selection -------------------------------------------------------

    def refresh(self, changes: Changes) -> None:
        self._show_sources()
        self.start_trace()

    def start_trace(self) -> None:
        """Find the selected row's version (quick), then trace the row on the heavy worker."""
        opened, row = self.session.active, self.session.selected_row
        if opened is not None and opened.kind != "log":
            return  # a training snapshot opened from here: keep showing the trace that led to it
        self._clear_results()
        if opened is None or row is None:
            self.show_empty(NO_LOG if opened is None else NO_SELECTION)
            return
        self.show_empty(f"Tracing row {row}…")
        self.run_job("version", row_version, Scope(self.session.store, opened.dataset, opened.roles), row,
                     label="Finding the row's model version", on_done=lambda version: self._trace_with(row, version))

    def _trace_with(self, row: int, version: str | None) -> None:
        opened = self.session.active
        if opened is None or row != self.session.selected_row:
            return
        self.traced_name = opened.name
        self.version = version
        self._show_sources()
        snapshot, model = self._files()
        if not snapshot:
            self.show_empty(f"No training snapshot is known for version {self.session.version_name(version)}: "
                            "choose the one it was trained on with “Choose snapshot…” above (and its model with "
                            "“Choose model…”; without one Sleuth fits a surrogate on the snapshot).")
            return
        trust = self._trust(model, self.show_empty)
        if trust is None:
            return
        named = self.session.chosen_snapshot_roles(snapshot)
        cache = self.session.influence
        first = cache.key([snapshot], model or None, named) not in cache
        self.show_empty("Preparing influence (once per model and snapshot)…" if first else f"Tracing row {row}…")
        self.run_job("trace", trace_log_row, Scope(self.session.store, opened.dataset, opened.roles), row,
                     TrainingFiles([snapshot], model or None, trust, named), cache, lane=HEAVY,
                     label=f"Tracing row {row} to its training rows", on_done=self._show_trace,
                     on_error=self._show_error)

    def _trust(self, model: str, report: Callable[[str], None]) -> bool | None:
        """False when the file opens safely, True when the user trusts it, None when refused or
        unreadable (a card's model file that moved): ``report`` is then given why."""
        if not model:
            return False
        if model in self.session.trusted_models:
            return True
        try:
            info = inspect_model(model)
        except SleuthError as error:
            report(f"Could not open the model file: {error}")
            return None
        if not info.needs_trust:
            return False
        if confirm_trust(self, model, info.untrusted_types):
            self.session.run(TrustModel(model))
            return True
        report("The model file was not opened: you did not trust it. Choose another "
               "model, or trust this one, to trace the row.")
        return None

    def _card(self) -> VersionCard:
        return self.session.version_cards.get(str(self.version)) or VersionCard(str(self.version))

    def _files(self) -> tuple[str, str]:
        """The snapshot and model of the current version's card."""
        if self.version is None:
            return "", ""
        card = self._card()
        return card.training_snapshot, card.model_file

    def _choose(self, kind: str) -> None:
        if kind == "snapshot":
            path = file_dialogs.open_file(self, "Training snapshot",
                                          "Data (*.parquet *.csv *.jsonl *.arrow *.duckdb);;All files (*)")
        else:
            path = file_dialogs.open_file(self, "Model file",
                                          "Models (*.skops *.json *.ubj *.pkl *.pickle *.joblib);;All files (*)")
        if path:
            field = "training_snapshot" if kind == "snapshot" else "model_file"
            self.session.run(SaveVersionCard(replace(self._card(), **{field: path})))

    # --- showing a trace ------------------------------------------------------------------

    def _show_trace(self, trace: RowTrace) -> None:
        self.trace = trace
        method = f"Method: {trace.method}"
        if trace.surrogate:
            method += (" — SURROGATE: no model file was given, so these rows explain a model Sleuth "
                       "fitted on the snapshot, not the model in production")
        self.caption.setText(method + pulled_note(self.session, self.traced_name))
        self.show_content()
        verdict = {True: "correct", False: "wrong", None: "no prediction"}[trace.correct]
        self.query.setText(f"Query: row {trace.row_id}, id {trace.request_id}, version "
                           f"{self.session.version_name(trace.version)}: label {trace.label}, "
                           f"prediction {trace.prediction} ({verdict})")
        for table, rows in ((self.harmful, trace.harmful), (self.helpful, trace.helpful)):
            _fill_influence(table, rows)
        self.comparison_box.hide()  # until a training row is chosen
        self.rendered()

    def _show_error(self, error: BaseException) -> None:
        if isinstance(error, NoLabelYet):
            self.show_empty("This row has no label yet: there is no failure to trace until its ground truth "
                            "arrives.")
        else:
            self.show_empty(f"Could not trace this row: {error}")

    def _clear_results(self) -> None:
        self.trace = None
        self.caption.clear()
        self.query.clear()
        for table in (self.harmful, self.helpful, self.comparison):
            table.setRowCount(0)
        self.comparison_box.hide()

    def _training_row_chosen(self, table: QTableWidget) -> None:
        rows = table.selectionModel().selectedRows()
        if self.trace is None or not rows:
            return
        other = self.helpful if table is self.harmful else self.harmful
        other.blockSignals(True)
        other.clearSelection()
        other.blockSignals(False)
        traced = (self.trace.harmful if table is self.harmful else self.trace.helpful)[rows[0].row()]
        self.show_comparison(traced)

    def show_comparison(self, traced) -> None:
        """Query and training values side by side; rows whose values differ are highlighted."""
        assert self.trace is not None
        self.comparison_title.setText(f"Query {self.trace.request_id} vs training row {traced.row_id} "
                                      f"(label {traced.label}); differences highlighted")
        self.comparison_box.show()
        self.comparison.setRowCount(len(self.trace.features))
        for position, feature in enumerate(self.trace.features):
            query, training = self.trace.query_values[feature], traced.values[feature]
            cells = (feature, _text(query), _text(training))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if query != training:
                    item.setBackground(QBrush(DIFFERENT_COLOUR))
                    item.setToolTip("differs from the query row")
                self.comparison.setItem(position, column, item)
        self.comparison.resizeColumnsToContents()

    def differing_features(self) -> list[str]:
        """The features the side-by-side view highlights (for tests and screen readers)."""
        return [self.comparison.item(r, 0).text() for r in range(self.comparison.rowCount())
                if self.comparison.item(r, 0).toolTip()]

    # --- suspect labels ----------------------------------------------------------------------

    def find_suspects(self) -> None:
        snapshot, model = self._files()
        if not snapshot:
            self.suspects_summary.setText("Select a row first, or choose a training snapshot.")
            return
        trust = self._trust(model, self.suspects_summary.setText)
        if trust is None:
            return
        self.suspects_summary.setText("Ranking the snapshot's labels (several model fits)…")
        self.suspects_snapshot = snapshot
        training = TrainingFiles([snapshot], model or None, trust, self.session.chosen_snapshot_roles(snapshot))
        opened = self.session.active
        log = None if opened is None else LoadedLog(opened.dataset, opened.roles, ())
        self.run_job("suspects", suspects_for, self.session.store, training, 50, cache=self.session.influence,
                     log=log, lane=HEAVY, label="Finding suspect training labels", on_done=self._show_suspects,
                     on_error=lambda e: self.suspects_summary.setText(f"Could not rank labels: {e}"))

    def _show_suspects(self, report: dict[str, Any]) -> None:
        self.suspect_report = report
        surrogate = " (on a SURROGATE model fitted by Sleuth)" if report["surrogate"] else ""
        self.suspects_summary.setText(
            f"{report['flagged']:,} labels are probably wrong, by {report['method']}{surrogate}. "
            + concentration_sentence(report))
        self.suspects.setRowCount(len(report["suspects"]))
        for position, suspect in enumerate(report["suspects"]):
            cells = (suspect["row_id"], suspect["label"], suspect["suggested_label"], number(suspect['score'], 3))
            for column, value in enumerate(cells):
                self.suspects.setItem(position, column, QTableWidgetItem(_text(value)))
        self.suspects.resizeColumnsToContents()
        self.rendered()

    # --- the failures of the current slice -------------------------------------------------

    def trace_slice_failures(self) -> None:
        """Find the version with most failures in the slice (quick), then trace them together."""
        opened = self.session.active
        if opened is None or opened.kind != "log":
            self.failures_summary.setText("Open a prediction log first: its failed predictions are traced.")
            return
        condition = self.session.condition()
        self.failures_summary.setText("Finding the slice's failed predictions…")
        self.run_job("failures-version", busiest_failing_version,
                     Scope(self.session.store, opened.dataset, opened.roles, condition),
                     label="Counting the slice's failures",
                     on_done=lambda version: self._trace_failures_of(opened, condition, version),
                     on_error=self._show_failures_error)

    def _trace_failures_of(self, opened, condition, version: str | None) -> None:
        self.version = version
        self._show_sources()
        snapshot, model = self._files()
        if not snapshot:
            self.failures_summary.setText(f"No training snapshot is known for version "
                                          f"{self.session.version_name(version)}: choose one with "
                                          "“Choose snapshot…”.")
            return
        trust = self._trust(model, self.failures_summary.setText)
        if trust is None:
            return
        self.failures_snapshot = snapshot
        self.failures_of = opened.name
        self.failures_summary.setText(f"Tracing the slice's failed predictions of version "
                                      f"{self.session.version_name(version)} (at most the worst {FAILURE_CAP:,})…")
        training = TrainingFiles([snapshot], model or None, trust, self.session.chosen_snapshot_roles(snapshot))
        self.run_job("failures", trace_failures, Scope(self.session.store, opened.dataset, opened.roles, condition),
                     training, self.session.influence, TraceSettings(version=version), lane=HEAVY,
                     label="Tracing the slice's failures to their training rows", on_done=self._show_failures,
                     on_error=self._show_failures_error)

    def _show_failures(self, traced: FailuresTrace) -> None:
        self.failures = traced
        surrogate = " — on a SURROGATE model fitted by Sleuth" if traced.surrogate else ""
        capped = (f"the worst {traced.traced:,} of its {traced.failures:,} failed predictions (capped at "
                  f"{traced.cap:,})" if traced.traced < traced.failures
                  else f"all {traced.failures:,} of its failed predictions")
        self.failures_summary.setText(f"Version {self.session.version_name(traced.version)}: {capped}, "
                                      f"by {traced.method}{surrogate}{pulled_note(self.session, self.failures_of)}. "
                                      + _standout_sentence(traced))
        _fill_influence(self.failure_rows, traced.harmful)
        sources = _strongest_first(traced.by_source)
        self.failure_sources.setRowCount(len(sources))
        for position, record in enumerate(sources.itertuples(index=False)):
            cells = (record.column, record.value, count(record.rows), percent(record.harmful_share),
                     p_value(record.p_value), record.sum)
            for column, value in enumerate(cells):
                self.failure_sources.setItem(position, column, QTableWidgetItem(_text(value)))
        self.failure_sources.resizeColumnsToContents()
        self.rendered()

    def _show_failures_error(self, error: BaseException) -> None:
        self.failures_summary.setText(f"Could not trace the slice's failures: {error}")

    # --- opening rows as slices ----------------------------------------------------------------

    def open_training_row(self) -> None:
        """The training row chosen in the visible tab becomes a slice of the snapshot."""
        chosen = self._chosen_training_row()
        if chosen is None:
            self.caption.setText("Choose a training row first (in the list of the open tab).")
            return
        snapshot, predicate, row_id = chosen
        self.sig_open_training_rows.emit([snapshot], predicate, f"training row {row_id}")

    def open_query_row(self) -> None:
        """The traced log row becomes a slice of its log."""
        traced_log = self.session.datasets.get(self.traced_name) if self.traced_name else None
        if self.trace is None or traced_log is None:
            self.caption.setText("Trace a row first: then its query row can be opened as a slice.")
            return
        self.sig_open_log_rows.emit(traced_log.name, log_row_predicate(traced_log.roles, self.trace),
                                    f"traced request {self.trace.request_id}")

    def _chosen_training_row(self) -> tuple[str, Any, Any] | None:
        """(snapshot path, predicate, row id) of the training row selected in the visible tab."""
        tab = self.tabs.currentIndex()
        if tab == 0 and self.trace is not None:
            for table, rows in ((self.harmful, self.trace.harmful), (self.helpful, self.trace.helpful)):
                selected = table.selectionModel().selectedRows()
                if selected:
                    traced = rows[selected[0].row()]
                    return self._files()[0], traced.predicate, traced.row_id
        if tab == 1 and self.suspect_report is not None:
            selected = self.suspects.selectionModel().selectedRows()
            if selected:
                row_id = self.suspect_report["suspects"][selected[0].row()]["row_id"]
                return (self.suspects_snapshot,
                        training_row_predicate(self.suspect_report["id_column"], row_id), row_id)
        if tab == 2 and self.failures is not None:
            selected = self.failure_rows.selectionModel().selectedRows()
            if selected:
                traced = self.failures.harmful[selected[0].row()]
                return self.failures_snapshot, traced.predicate, traced.row_id
        return None

    def _show_sources(self) -> None:
        """The files by name on one line (a path would wrap in a narrow dock); the paths in the tooltip."""
        snapshot, model = self._files()
        self.sources.setText(f"Snapshot: {Path(snapshot).name if snapshot else 'none'} · Model: "
                             f"{Path(model).name if model else 'none (a surrogate is fitted)'}")
        self.sources.setToolTip(f"Snapshot: {snapshot or 'none'}\nModel: {model or 'none'}")


def _strongest_first(by_source):
    """The source values in the order shown: the most significant concentration first, then the
    largest share, so the headline and the table's top row are the same value."""
    return by_source.sort_values(["p_value", "harmful_share"], ascending=[True, False], kind="stable")


def _standout_sentence(traced: FailuresTrace) -> str:
    """The table's top source value; a concentration is claimed only when its share of the
    harmful influence is above its share of the rows beyond chance (adjusted p < 0.05)."""
    table = traced.by_source
    if table.empty:
        return "The snapshot has no source, batch or date column to group the influence by."
    top = _strongest_first(table).iloc[0]
    row_share = top["harmful_share"] / top["lift"] if top["lift"] else 0.0
    held = (f"{top['column']} = {_text(top['value'])} holds {percent(top['harmful_share'], 0)} of the harmful "
            f"influence with {percent(row_share, 0)} of the rows")
    if top["p_value"] < CONCENTRATION_ALPHA and top["lift"] > 1:
        return f"{held}: more than its share beyond chance (adjusted p {p_value(top['p_value'])})."
    return (f"No source, batch or date holds more of the harmful influence than its share of the rows "
            f"beyond chance; the largest: {held} (adjusted p {p_value(top['p_value'])}).")


def _fill_influence(table: QTableWidget, rows: list) -> None:
    strongest = max((abs(r.score) for r in rows), default=0.0) or 1.0
    table.blockSignals(True)
    table.setRowCount(len(rows))
    for position, traced in enumerate(rows):
        date = next((v for k, v in traced.context.items() if "date" in k), "")
        source = next((v for k, v in traced.context.items() if "date" not in k), "")
        cells = (significant(traced.score, 3, with_sign=True), traced.row_id, traced.label, source, date)
        for column, value in enumerate(cells):
            item = QTableWidgetItem(_text(value))
            if column == 0:
                item.setData(SCORE_ROLE, abs(traced.score) / strongest)
            if column == SOURCE_COLUMN:
                item.setToolTip(item.text())  # elided where the table is narrow
            table.setItem(position, column, item)
    table.resizeColumnsToContents()
    table.setColumnWidth(0, max(table.columnWidth(0), SCORE_WIDTH))
    table.blockSignals(False)


def _influence_table(colour: QColor, parent: QWidget) -> QTableWidget:
    """Columns as wide as their contents but the source, which takes the room left and elides
    (its whole text in the tooltip): a table half a dock wide reads without scrolling sideways."""
    table = _table(INFLUENCE_COLUMNS)
    table.setItemDelegateForColumn(0, ScoreBarDelegate(colour, parent))
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(SOURCE_COLUMN, QHeaderView.Stretch)
    header.setMinimumSectionSize(header.sectionSizeFromContents(SOURCE_COLUMN).width())
    return table


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)  # more rows in a short dock
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.resizeColumnsToContents()  # each header whole before any row (Qt's default 100 px elides "Suggested label")
    return table


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    if title:
        heading = QLabel(title)
        heading.setWordWrap(True)
        layout.addWidget(heading)
    layout.addWidget(widget)
    return box


def _text(value: Any) -> str:
    if is_missing(value) or isinstance(value, float):
        return significant(value, 4)
    return str(value).removesuffix("T00:00:00")


if __name__ == "__main__":
    preview(TracePanel)
