"""Overall metrics per model version: the first numbers an on-call engineer reads.

Rows are metrics, columns are versions in the card order (the same in every slice), so two
versions read side by side. Counts and label coverage come first: a metric over 3% of rows
with labels is not the same claim as over 95%. Each metric shows its 95% interval under it,
and one measured on few rows is greyed: a number without its uncertainty invites a wrong call.
"""

from __future__ import annotations


from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from analysis.metrics.per_version import FEW_ROWS, FEW_SUCCESSES, METRICS, PROPORTIONS, overall_metrics
from analysis.report.formatting import MISSING, count, escape_html, interval, number, percent
from analysis.scope import Scope
from app.state import Changes, Session
from app.tasks import TaskRunner
from views.panel import Panel, preview, slice_shown
from views.widgets.header_elision import WrappedTitles
from views.widgets.palette import version_swatch
from views.widgets.shortcut import shortcut

COUNT_ROWS = ("Rows", "Labelled", "Label coverage", "Invalid scores")
INTERVAL_NOTE = "under each metric: its 95% interval; grey: measured on few rows"
FEW_GREY = QColor("#8a8a8a")


class MetricsPanel(Panel):
    """Table of overall metrics for the active dataset, one column per model version."""

    title = "Metrics"
    listens_to = frozenset({"active", "roles", "datasets", "slice", "cards"})

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.results: list = []
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.horizontalHeader().setTextElideMode(Qt.ElideRight)
        self.table.horizontalHeader().setMinimumSectionSize(60)
        self.titles = WrappedTitles(self.table.horizontalHeader())  # card names read whole, on two lines if need be
        self.table.setAlternatingRowColors(True)
        copy = QToolButton()
        copy.setText("Copy")
        copy.setToolTip("Copy the metrics as tab-separated text (Ctrl+C)")
        copy.clicked.connect(self.copy)
        shortcut(QKeySequence.Copy, self.table, self.copy, context=Qt.WidgetShortcut)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.with_empty_state(self.table))
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.table

    def refresh(self, changes: Changes) -> None:
        if not changes.touches(("active", "roles", "datasets", "slice")):
            opened = self.session.active
            if self.results and opened is not None:  # a card renamed, or the card order arrived: same numbers
                self._show(self.results, self._caption(opened, self.session))
            return
        self.cancel_job("metrics")
        opened = self.session.active
        if opened is None or opened.kind != "log":
            self._show_nothing("Open a prediction log to see its metrics (Ctrl+O).")
            return
        if not opened.roles.has_outcome:
            self._show_nothing(f"{opened.name}: no label and prediction/score columns are set, so there are "
                               "no metrics. Set them in Data > Column roles (Ctrl+R).")
            return
        self.caption.setText(f"{opened.name}: computing…")
        caption = self._caption(opened, self.session)
        # ROC AUC takes a pass over the scores after the aggregation that gives the other
        # metrics: one job shows those as soon as they are counted, then AUC, reading the
        # log twice in all (two jobs read it three times, and competed with each other).
        # ``ahead``: the other panels' aggregates (the time plot's series) wait for it. Kept:
        # rows shown before (all rows again after a filter) show at once, without a read.
        self.run_kept_job(
            "metrics", overall_metrics, Scope(self.session.store, opened.dataset, opened.roles,
                                              self.session.condition()),
            on_partial=lambda results: self._show(results, caption + " · ROC AUC computing…"),
            on_done=lambda results: self._show(results, caption), ahead=True,
        )

    @staticmethod
    def _caption(opened, session: Session) -> str:
        return (f"<b>{escape_html(opened.name)}</b> — {opened.roles.task.value} task, {slice_shown(session)}; "
                f"{INTERVAL_NOTE}")

    def _show_nothing(self, message: str) -> None:
        self._show([], "")
        self.show_empty(message)

    def _show(self, results: list, caption: str) -> None:
        self.show_content()
        order = self.session.in_card_order(r.version for r in results)
        self.results = sorted(results, key=lambda r: order.index(r.version))
        results = self.results
        self.caption.setText(caption)
        names = [m for m in METRICS if results and any(m in r.metrics for r in results)]
        self.table.clear()
        self.table.setColumnCount(len(results))
        self.table.setRowCount(len(COUNT_ROWS) + len(names) if results else 0)
        self._label_versions()
        self.table.setVerticalHeaderLabels(list(COUNT_ROWS) + [METRICS[m].display for m in names])
        for col, result in enumerate(results):
            counts = (count(result.rows), count(result.labelled), percent(result.label_coverage),
                      count(result.invalid_scores))
            for row, text in enumerate(counts):
                self._set(row, col, text)
            for offset, name in enumerate(names):
                self._set_metric(len(COUNT_ROWS) + offset, col, result, name)
        self.rendered()

    def _label_versions(self) -> None:
        """Column headers show each version's card name beside its colour, whole (wrapped onto
        more lines when the column is narrow); the tooltip has the raw version string."""
        names = [self.session.version_name(result.version) for result in self.results]
        for col, (result, name) in enumerate(zip(self.results, names)):
            item = QTableWidgetItem(name)
            if result.version is not None:
                item.setIcon(version_swatch(self.session, result.version))
                item.setToolTip(f"{name}\nmodel_version = {result.version}")
            self.table.setHorizontalHeaderItem(col, item)
        self.titles.set_titles(names)

    def _set_metric(self, row: int, col: int, result, name: str) -> None:
        """The value with its interval under it; grey, and saying why, when on few rows."""
        value = number(result.metrics.get(name))
        bounds = result.intervals.get(name)
        text = value if bounds is None else f"{value}\n{interval(*bounds)}"
        tooltip = _tooltip(METRICS[name]) + ("; 95% interval: " + interval(*bounds) if bounds else
                                              "; no closed-form interval for this metric")
        few = name in result.few_rows and value != MISSING
        if few:
            tooltip += "; " + _few_rows_reason(name)
        item = self._set(row, col, text, tooltip)
        item.setData(Qt.UserRole, value)
        if few:
            item.setForeground(FEW_GREY)

    def _set(self, row: int, col: int, text: str, tooltip: str = "") -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        if tooltip:
            item.setToolTip(tooltip)
        self.table.setItem(row, col, item)
        return item

    def cell_text(self, row_label: str, version: str | None) -> str:
        """The value shown for one metric (by its display label) and version, without its interval."""
        item = self._item(row_label, version)
        return item.data(Qt.UserRole) or item.text()

    def interval_text(self, row_label: str, version: str | None) -> str:
        """The interval shown under one metric's value ("" when the metric has none)."""
        lines = self._item(row_label, version).text().split("\n")
        return lines[1] if len(lines) > 1 else ""

    def _item(self, row_label: str, version: str | None) -> QTableWidgetItem:
        rows = [self.table.verticalHeaderItem(r).text() for r in range(self.table.rowCount())]
        cols = [r.version for r in self.results]
        return self.table.item(rows.index(row_label), cols.index(version))

    def copy_text(self) -> str:
        header = ["metric"] + [self.titles.title(c) for c in range(self.table.columnCount())]
        lines = ["\t".join(header)]
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c).text().replace("\n", " ") if self.table.item(r, c) else ""
                     for c in range(self.table.columnCount())]
            lines.append("\t".join([self.table.verticalHeaderItem(r).text()] + cells))
        return "\n".join(lines)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.copy_text())


def _few_rows_reason(name: str) -> str:
    if name in PROPORTIONS:
        return (f"few rows: fewer than {FEW_SUCCESSES} successes or failures, too few for the share "
                "to be read as a stable estimate")
    return f"few rows: fewer than {FEW_ROWS} rows behind it, too few for it to be read as a stable estimate"


def _tooltip(info) -> str:
    direction = "higher is better" if info.higher_is_better else "lower is better"
    rows = "over rows with a label" if info.needs_label else "over all rows, labels not needed"
    return f"{info.display}: {direction}; {rows}"


if __name__ == "__main__":
    preview(MetricsPanel)
