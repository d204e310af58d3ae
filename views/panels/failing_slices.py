"""The "Failing slices" panel: where does the model fail, found automatically.

The engineer picks what counts as an error (misclassification, log loss, absolute error, or
two versions disagreeing), which version to judge, and how deep to search; **Find slices**
runs SliceLine discovery (:func:`analysis.discovery.failing_slices.failing_slices`) over the current
slice on the heavy lane, with progress and Cancel in the status bar. Discovery can take
seconds, so changing a setting never starts it: the engineer asks. A slice or dataset change
marks the shown results as stale instead of clearing them, so the list being discussed stays
on screen until the next run. Each result opens as the current slice through
:attr:`DiscoveryPanel.sig_open_slice`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.discovery.sliceline import DiscoveredSlice
from analysis.discovery.failing_slices import ERROR_KINDS, DiscoverySettings, failing_slices
from analysis.metrics.per_version import overall_metrics
from analysis.data.roles import RoleMap, TaskType
from analysis.slices import EditMode, Everything, Slice, combine, to_text
from analysis.workspace.version_cards import with_card_names
from analysis.report.formatting import escape_html, number, p_value, percent, significant
from analysis.scope import Scope
from app.state import Changes, OpenDataset, Session
from app.tasks import HEAVY, TaskRunner
from views.panel import Panel, preview, pulled_note
from views.widgets.shortcut import shortcut

ALL_VERSIONS = "all versions"
RUN_LABEL = "Finding failing slices"
RATE_KINDS = frozenset({"misclass", "disagree"})
"""Errors that are 0 or 1 per row: their mean is a rate and reads best as a percentage."""

OVERALL_METRIC = {"misclass": "error_rate", "logloss": "log_loss", "abs": "mae"}
"""The overall metric that is the mean of each error kind over the same rows, for the summary."""

ERROR_WORDS = {"misclass": "error", "logloss": "mean log loss", "abs": "mean absolute error",
               "disagree": "the versions disagree on"}

COLUMNS = ("Rank", "Slice", "Rows", "Error", "95% interval", "p (adjusted)", "Score")
COLUMN_TIPS = (
    "Order by SliceLine score, the worst slice first.",
    "The rows where every condition holds. Numeric features are cut into quantile bins and "
    "categorical ones into their most frequent values; a slice has at most one condition per feature.",
    "Rows of the slice with a known error (labelled, with a valid prediction or score).",
    "Mean error of the slice's rows: the error rate for misclassification and disagreement, "
    "the mean loss for log loss and absolute error.",
    "95% interval of the slice's error: Wilson score interval for a 0/1 error, "
    "Student t interval for a continuous one.",
    "One-sided test that the slice's error is higher than the rest's (Fisher's exact test for a 0/1 "
    "error, Welch's t-test otherwise), adjusted for multiple comparisons with Benjamini–Yekutieli "
    "over every slice the search evaluated.",
    "SliceLine score (Sagadeeva & Boehm, 2021): α·(slice error / average error − 1) − "
    "(1 − α)·(rows / slice rows − 1). Higher means worse relative to the slice's size.",
)


@dataclass(frozen=True)
class _Run:
    """What one search was asked: the settings, over which dataset, roles and slice."""

    dataset: str
    roles: RoleMap
    slice: Slice
    applied: bool
    settings: DiscoverySettings


class _SortableItem(QTableWidgetItem):
    """A cell shown as formatted text but sorted by its number (or text) in ``Qt.UserRole``."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.data(Qt.UserRole) < other.data(Qt.UserRole)


def _opened(run: _Run, result: DiscoveredSlice):
    """The slice a result opens as: the searched slice narrowed to it. Narrowing the current slice
    instead kept the previously opened result's conditions, so a second result opened as the
    two together, and the list turned "Stale"."""
    searched = run.slice.predicate if run.applied else Everything
    return combine(searched, result.to_slice().predicate, EditMode.NARROW)


class DiscoveryPanel(Panel):
    """Settings, a Find button and the ranked failing slices of the active log."""

    title = "Failing slices"
    listens_to = frozenset({"active", "roles", "datasets", "slice", "cards"})
    sig_open_slice = Signal(object)  # the Predicate to show: the searched slice narrowed to the chosen result

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.results: list[DiscoveredSlice] = []
        self.versions: list[str] = []
        self._shown_run: _Run | None = None
        self._problem = ""
        self._overall: tuple[_Run, float | None] | None = None
        self._build_controls()
        self._build_results()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._controls)
        layout.addWidget(self.caption)
        layout.addWidget(self.summary)
        layout.addWidget(self.with_empty_state(self.table), 1)
        shortcut(QKeySequence("Ctrl+Return"), self, self.find_slices, context=Qt.WidgetWithChildrenShortcut)
        shortcut(QKeySequence("Ctrl+Enter"), self, self.find_slices, context=Qt.WidgetWithChildrenShortcut)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.find_button

    def _build_controls(self) -> None:
        self.error_box = QComboBox()
        self.error_box.setToolTip("What counts as the model's error on a row")
        self.error_box.currentIndexChanged.connect(lambda _i: self._update_version_boxes())
        self.version_box = QComboBox()
        self.version_box.setToolTip("Judge the predictions of this model version only")
        self.version_box.currentIndexChanged.connect(lambda _i: self._update_version_boxes())
        self.other_label = QLabel("against")
        self.other_version_box = QComboBox()
        self.other_version_box.setToolTip("The version whose predictions for the same requests are compared")
        for box in (self.error_box, self.version_box, self.other_version_box):
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
        self.level_spin = _spin(1, 3, 3, "Most conditions ANDed in one slice")
        self.support_spin = _spin(0, 1_000_000, 0, "Fewest rows a slice may have; auto = 1% of the rows, at least 32")
        self.support_spin.setSpecialValueText("auto")
        self.support_spin.setSingleStep(50)
        self.k_spin = _spin(1, 100, 10, "How many slices to list")
        self.alpha_spin = QDoubleSpinBox()
        self.alpha_spin.setRange(0.5, 0.99)
        self.alpha_spin.setSingleStep(0.01)
        self.alpha_spin.setValue(DiscoverySettings().alpha)
        self.alpha_spin.setToolTip("SliceLine's α: weight of a slice's error against its size; "
                                   "lower values favour larger slices")
        self.significant_box = QCheckBox("Only significant")
        self.significant_box.setChecked(True)
        self.significant_box.setToolTip("List only slices whose error beats the rest beyond chance "
                                        "(adjusted p < 0.05)")
        self.find_button = QPushButton("Find slices")
        self.find_button.setDefault(True)
        self.find_button.setToolTip("Search the current slice for the subpopulations with the worst error "
                                    "(Ctrl+Return)")
        self.find_button.clicked.connect(self.find_slices)
        what = QHBoxLayout()
        what.addWidget(QLabel("Error:"))
        what.addWidget(self.error_box, 2)
        what.addWidget(QLabel("Version:"))
        what.addWidget(self.version_box, 2)
        what.addWidget(self.other_label)
        what.addWidget(self.other_version_box, 2)
        what.addWidget(self.find_button)
        depth = QHBoxLayout()
        for label, widget in (("Conditions:", self.level_spin), ("Min rows:", self.support_spin),
                              ("α:", self.alpha_spin), ("Top:", self.k_spin)):
            depth.addWidget(QLabel(label))
            depth.addWidget(widget)
        depth.addWidget(self.significant_box)
        depth.addStretch(1)
        self._controls = QVBoxLayout()
        self._controls.setContentsMargins(0, 0, 0, 0)
        self._controls.addLayout(what)
        self._controls.addLayout(depth)

    def _build_results(self) -> None:
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        for key in (Qt.Key_Return, Qt.Key_Enter):
            shortcut(QKeySequence(key), self.table, self._open_current, context=Qt.WidgetShortcut)
        shortcut(QKeySequence.Copy, self.table, self.copy_table, context=Qt.WidgetShortcut)
        for column, (title, tip) in enumerate(zip(COLUMNS, COLUMN_TIPS)):
            header = QTableWidgetItem(title)
            header.setToolTip(tip)
            self.table.setHorizontalHeaderItem(column, header)
        self._wrap_slice_text()
        self.table.setSortingEnabled(True)

    def _wrap_slice_text(self) -> None:
        """The slice column takes the room the numbers leave and wraps its text (rows grow to
        fit it), as compare's slice table does: at 1280x720 one line gave it ~290 px and a
        three-condition slice read "merchant_risk > 0.3 AND customer_age_day…", whole only in
        the tooltip. The numbers keep their content width, so every result is read, not hovered."""
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideNone)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)

    # --- state -----------------------------------------------------------------------------

    def refresh(self, changes: Changes) -> None:
        """Follow the active log: its error kinds and versions; mark shown results stale."""
        new_log = changes.touches(("active", "roles", "datasets"))
        if new_log or changes.cards:
            self._take_versions()
        if changes.cards and not new_log and self._shown_run is not None:
            self._fill_table()  # the shown result, with the cards' names
            self._update_summary()
        self._update_caption()

    def _take_versions(self) -> None:
        """Take the log's versions from the session's one list (read once when the log
        opened, and again after a role edit); the chosen version survives when still listed."""
        opened = self._usable_log()
        has_versions = opened is not None and opened.roles.model_version is not None
        self.versions = list(self.session.version_order()) if has_versions else []
        self._fill_error_box(opened)
        self._fill_version_boxes()

    def _usable_log(self) -> OpenDataset | None:
        """The active dataset when discovery can run on it; the caption says why not otherwise."""
        opened = self.session.active
        if opened is None or opened.kind != "log" or not self._error_kinds(opened):
            return None
        return opened

    def _error_kinds(self, opened: OpenDataset) -> list[str]:
        roles = opened.roles
        if not roles.has_outcome:
            return []
        kinds = []
        if roles.task is TaskType.REGRESSION:
            kinds.append("abs")
        else:
            kinds.append("misclass")
            if roles.scores:
                kinds.append("logloss")
        if len(self.versions) >= 2 and roles.id and roles.model_version:
            kinds.append("disagree")
        return kinds

    def _fill_error_box(self, opened: OpenDataset | None) -> None:
        current = self.error_box.currentData()
        kinds = self._error_kinds(opened) if opened is not None else []
        self.error_box.blockSignals(True)
        self.error_box.clear()
        for kind in kinds:
            self.error_box.addItem(ERROR_KINDS[kind], kind)
        if current in kinds:
            self.error_box.setCurrentIndex(kinds.index(current))
        self.error_box.blockSignals(False)
        self._update_version_boxes()

    def _fill_version_boxes(self) -> None:
        chosen, other = self.version_box.currentData(), self.other_version_box.currentData()
        for box, choices in ((self.version_box, [None] + self.versions), (self.other_version_box, self.versions)):
            box.blockSignals(True)
            box.clear()
            for version in choices:
                box.addItem(ALL_VERSIONS if version is None else self.session.version_name(version), version)
            box.blockSignals(False)
        if chosen in self.versions:
            self.version_box.setCurrentIndex(self.versions.index(chosen) + 1)
        if other in self.versions:
            self.other_version_box.setCurrentIndex(self.versions.index(other))
        self._update_version_boxes()

    def _update_version_boxes(self) -> None:
        """Disagreement compares two versions: show "against" and make the pair distinct."""
        disagree = self.error_box.currentData() == "disagree"
        self.other_label.setVisible(disagree)
        self.other_version_box.setVisible(disagree)
        self.version_box.setEnabled(bool(self.versions))
        if not disagree or len(self.versions) < 2:
            return
        if self.version_box.currentData() is None:
            self.version_box.setCurrentIndex(len(self.versions))
        if self.other_version_box.currentData() in (None, self.version_box.currentData()):
            chosen = self.version_box.currentData()
            self.other_version_box.setCurrentIndex(next(i for i, v in enumerate(self.versions) if v != chosen))

    def settings(self) -> DiscoverySettings:
        """The search the controls describe."""
        disagree = self.error_box.currentData() == "disagree"
        return DiscoverySettings(
            error=self.error_box.currentData() or "misclass",
            version=self.version_box.currentData(),
            other_version=self.other_version_box.currentData() if disagree else None,
            k=self.k_spin.value(),
            max_level=self.level_spin.value(),
            min_support=self.support_spin.value() or None,
            alpha=round(self.alpha_spin.value(), 4),
            significant_only=self.significant_box.isChecked(),
        )

    @property
    def stale(self) -> bool:
        """True when the shown results were found on another dataset or slice than the current.

        Opening one of the results narrows the slice to it; the list still describes the
        search's slice, so browsing its results does not make it stale."""
        run = self._shown_run
        if run is None:
            return False
        current = self._current_run(run.settings)
        if current is None or replace(current, slice=run.slice, applied=run.applied) != run:
            return True
        return current.slice.predicate not in self._slices_of_results(run)

    def _slices_of_results(self, run: _Run) -> list:
        """The search's slice and each slice that opening a shown result makes current."""
        return [run.slice.predicate] + [_opened(run, result) for result in self.results]

    @property
    def running(self) -> bool:
        return self.job_running("search")

    def _current_run(self, settings: DiscoverySettings) -> _Run | None:
        opened = self.session.active
        if opened is None:
            return None
        return _Run(opened.name, opened.roles, self.session.current_slice, self.session.slice_applies(), settings)

    # --- running ---------------------------------------------------------------------------

    def find_slices(self) -> None:
        """Start the search on the heavy lane; a newer search replaces a running one."""
        opened = self._usable_log()
        if opened is None:
            self._update_caption()
            return
        settings = self.settings()
        run = self._current_run(settings)
        condition = self.session.condition()
        self._problem = ""
        self.run_job("search", failing_slices, Scope(self.session.store, opened.dataset, opened.roles, condition),
                     settings, lane=HEAVY, label=RUN_LABEL, on_done=lambda found: self._show(run, found),
                     on_error=self._search_failed, on_cancelled=self._search_cancelled)
        if settings.error in OVERALL_METRIC:
            self._request_overall(opened, settings, condition, run)
        self._update_caption()

    def _request_overall(self, opened: OpenDataset, settings: DiscoverySettings, condition, run: _Run) -> None:
        """The mean error over all searched rows, for "26.3% vs 2.5% overall" in the summary."""
        roles = opened.roles if settings.version else replace(opened.roles, model_version=None)
        metric = OVERALL_METRIC[settings.error]

        def keep(metrics: list) -> None:
            values = [m.metrics.get(metric) for m in metrics if m.version == settings.version]
            self._overall = (run, values[0] if values else None)
            self._update_summary()

        self.run_job("overall", overall_metrics, Scope(self.session.store, opened.dataset, roles, condition),
                     with_auc=False, with_calibration=False, on_done=keep)

    def _search_cancelled(self) -> None:
        if self.job_cancelled("search"):  # the latest search, not one a newer search replaced
            self._problem = "The search was cancelled."
            self._update_caption()

    def _search_failed(self, _error: BaseException) -> None:
        """The window shows the message; the caption only points there."""
        self._problem = "The last search failed; see the message."
        self._update_caption()

    def _show(self, run: _Run, found: list[DiscoveredSlice]) -> None:
        self._shown_run = run
        self.results = list(found)
        self._fill_table()
        self._update_caption()
        self._update_summary()
        self.rendered()

    # --- rendering -------------------------------------------------------------------------

    def _fill_table(self) -> None:
        kind = self._shown_run.settings.error
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(len(self.results))
        for row, result in enumerate(self.results):
            cells = (
                (str(row + 1), row + 1),
                (self._named(result), result.text),
                (f"{result.size:,}", result.size),
                (_error_text(kind, result.error_rate), result.error_rate),
                (f"{_error_text(kind, result.ci_low)} – {_error_text(kind, result.ci_high)}", result.ci_low),
                (p_value(result.p_adjusted), result.p_adjusted),
                (number(result.score, 3), result.score),
            )
            for column, (text, key) in enumerate(cells):
                item = _SortableItem(text)
                item.setData(Qt.UserRole, key)
                if column != 1:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                else:
                    item.setToolTip(f"{result.text}\n(the slice as applied and copied; versions by their raw string)")
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, Qt.AscendingOrder)
        error_title = {"misclass": "Error rate", "disagree": "Disagree rate"}.get(kind, "Mean error")
        self.table.horizontalHeaderItem(3).setText(error_title)
        if self.results:
            self.show_content()
            return
        hint = ("Lower Min rows or untick “Only significant” to see weaker candidates."
                if self._shown_run.settings.significant_only else "Lower Min rows to search smaller slices.")
        self.show_empty(f"No slice has an error clearly above the rest. {hint}")

    def _update_caption(self) -> None:
        missing = self._missing(self.session.active)
        self.find_button.setEnabled(not missing)
        if missing and self._shown_run is None:
            self.caption.setText("")
            self.summary.setText("")
            self.show_empty(missing)
            return
        where = self._where()
        parts = []
        if self.running:
            parts.append(f"Searching {where}…")
        elif self._problem:
            parts.append(self._problem)
        if self._shown_run is not None:
            found = f"{len(self.results)} slice{'s' if len(self.results) != 1 else ''}"
            shown_where = self._where(self._shown_run)
            if self.stale:
                parts.append(f"<b>Stale:</b> these {found} were found in {shown_where}; "
                             f"the rows are now {where}. Find slices again to update.")
            elif not self.running:
                parts.append(f"{found} found in {shown_where}, {self._describe(self._shown_run.settings)}.")
        elif not self.running and not self._problem and not missing:
            parts.append(f"Searches {where}. Choose the error and press Find slices (Ctrl+Return).")
            self.show_empty("No search yet. Discovery lists the subpopulations where the model's error "
                             "is highest for their size.")
        self.caption.setText(" ".join(parts))

    def _missing(self, opened: OpenDataset | None) -> str:
        """What the active dataset lacks for discovery, as a sentence; empty when nothing does."""
        if opened is None:
            return "Open a prediction log to find the slices where the model fails (Ctrl+O)."
        if opened.kind != "log":
            return (f"{opened.name} is a training snapshot; failing slices are found in a prediction log. "
                    "Make a log the active dataset.")
        if not self._error_kinds(opened):
            return (f"{opened.name}: no label and prediction/score columns are set, so there is no error "
                    "to search. Set them in Data > Column roles (Ctrl+R).")
        return ""

    def _where(self, run: _Run | None = None) -> str:
        if run is None:
            opened = self.session.active
            predicate = self.session.current_slice if self.session.slice_applies() else Slice(Everything)
            name = opened.name if opened else ""
        else:
            predicate = run.slice if run.applied else Slice(Everything)
            name = run.dataset
        pulled = escape_html(pulled_note(self.session, name))
        if predicate.predicate is Everything:
            return f"all rows of <b>{escape_html(name)}</b>{pulled}"
        return (f"<b>{escape_html(name)}</b> within slice "
                f"<code>{escape_html(predicate.name or to_text(predicate.predicate))}</code>{pulled}")

    def _describe(self, settings: DiscoverySettings) -> str:
        error = ERROR_KINDS[settings.error]
        name = self.session.version_name
        if settings.error == "disagree":
            return f"{error}: {escape_html(name(settings.version))} vs {escape_html(name(settings.other_version))}"
        return f"{error}, {escape_html(name(settings.version)) if settings.version else ALL_VERSIONS}"

    def _named(self, result: DiscoveredSlice) -> str:
        """The result's slice as shown: versions by their card names (the raw text is the tooltip)."""
        column = self._shown_run.roles.model_version if self._shown_run is not None else None
        raw = result.to_slice().predicate
        named = with_card_names(raw, column, self.session.version_cards)
        return result.text if named == raw else to_text(named)

    def _update_summary(self) -> None:
        if self._shown_run is None or not self.results:
            self.summary.setText("")
            return
        kind, top = self._shown_run.settings.error, self.results[0]
        line = f"Worst: <code>{escape_html(self._named(top))}</code> — {top.size:,} rows, "
        if kind == "disagree":
            line += f"{ERROR_WORDS[kind]} {_error_text(kind, top.error_rate)} of them"
        else:
            line += f"{ERROR_WORDS[kind]} {_error_text(kind, top.error_rate)}"
            overall = self._overall[1] if self._overall and self._overall[0] == self._shown_run else None
            if overall is not None and not math.isnan(overall):
                line += f" vs {_error_text(kind, overall)} overall"
        self.summary.setText(line)

    # --- opening and copying ---------------------------------------------------------------

    def result_at(self, row: int) -> DiscoveredSlice:
        """The result shown in table row ``row`` (whatever the sort order)."""
        return self.results[self.table.item(row, 0).data(Qt.UserRole) - 1]

    def open_row(self, row: int) -> None:
        """Ask for the result in ``row`` as the current slice."""
        if 0 <= row < self.table.rowCount() and self.table.item(row, 0) is not None and self._shown_run:
            self.sig_open_slice.emit(_opened(self._shown_run, self.result_at(row)))

    def _open_current(self) -> None:
        self.open_row(self.table.currentRow())

    def _context_menu(self, position) -> None:
        row = self.table.rowAt(position.y())
        menu = QMenu(self)
        if row >= 0:
            menu.addAction("Open as slice", lambda: self.open_row(row))
            menu.addAction("Copy slice text", lambda: QApplication.clipboard().setText(self.result_at(row).text))
        menu.addAction("Copy table", self.copy_table).setEnabled(self.table.rowCount() > 0)
        menu.exec(self.table.viewport().mapToGlobal(position))

    def table_text(self) -> str:
        """The table as tab-separated text, in the order shown."""
        header = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        lines = ["\t".join(header)]
        for row in range(self.table.rowCount()):
            lines.append("\t".join(self.table.item(row, c).text() for c in range(self.table.columnCount())))
        return "\n".join(lines)

    def copy_table(self) -> None:
        QApplication.clipboard().setText(self.table_text())


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _error_text(kind: str, value: float) -> str:
    return percent(value) if kind in RATE_KINDS else significant(value)


if __name__ == "__main__":
    preview(DiscoveryPanel)
