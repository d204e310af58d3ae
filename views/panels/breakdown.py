"""Breakdown: a metric per group of one column, with intervals, against the rest of the rows.

Numeric columns are cut at quantiles (or the user's edges), categories keep their top values
and "other", null is a group of its own. Bars carry 95% interval whiskers; a group that differs
from the rest beyond chance is drawn solid and starred in the table. Choosing a second column
turns the view into a heat map of the two. A double-click on a bar, a row or a cell narrows the
current slice to that group.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.slicing.breakdown import breakdown_by, crosstab_by
from analysis.metrics.per_version import METRICS, metrics_for
from analysis.report.formatting import escape_html, interval, number, p_value, percent, signed
from analysis.scope import Scope
from app.state import Changes, Session
from app.tasks import TaskRunner

from views.panel import Panel, preview, slice_shown
from views.widgets.fitting_edit import FittingLineEdit
from views.widgets.flow_layout import FlowLayout, labelled
from views.widgets.palette import version_colour

EACH_VERSION = "each version"
NO_SECOND = "— (bars)"
COMPACT_CHOICE = 16
"""Characters a box of the controls shows at most before eliding (the tooltip gives the whole
choice): the row of controls fits a 1280x720 window."""
TABLE_COLUMNS = ("Group", "Version", "Rows", "Share", "Value", "95% interval", "Rest", "Difference", "p (adj.)", "Sig.")
TABLE_TIPS = (
    "The group's rows (double-click to narrow the slice to it)", "Model version",
    "Rows in the group", "Share of the version's rows", "The metric on the group's rows",
    "95% interval: Wilson for rates, t for means; none for F1, AUC, ECE, R²",
    "The metric on the version's other rows", "Group minus rest",
    "p-value against the rest (z/Fisher for rates, Welch for means), Benjamini–Hochberg adjusted",
    "★ = differs from the rest beyond chance (adjusted p < 0.05)",
)
PREFERRED_METRIC = {"binary": "error_rate", "multiclass": "error_rate", "regression": "mae"}
MAX_CELL_LABELS = 400


class NumberItem(QTableWidgetItem):
    """A table cell shown as text but sorted by its number."""

    def __init__(self, text: str, number: float) -> None:
        super().__init__(text)
        self.setData(Qt.UserRole, number)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(Qt.UserRole), other.data(Qt.UserRole)
        if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)):
            return _sort_key(mine) < _sort_key(theirs)
        return super().__lt__(other)


class BreakdownPanel(Panel):
    """A metric per group of one column (bars) or of two (a heat map), per model version."""

    title = "Breakdown"
    listens_to = frozenset({"active", "datasets", "roles", "slice", "cards"})
    sig_open_slice = Signal(object)  # a slice predicate to narrow the current slice to

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.result = None
        self._build_controls()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.viewport().installEventFilter(self)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        for col, tip in enumerate(TABLE_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        # Sized to their contents (the table scrolls when the dock is narrower): stretching the
        # groups' column left it 45 px at 1280x720, and the groups' edges were cut.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemDoubleClicked.connect(self._row_double_clicked)
        self.table.setToolTip("Double-click a group to narrow the current slice to it")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.table)
        split.setSizes([300, 220])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.controls)
        layout.addWidget(self.caption)
        layout.addWidget(self.with_empty_state(split), 1)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.column_box

    def _build_controls(self) -> None:
        self.column_box = QComboBox()
        self.column_box.setProperty("tip", "Column whose groups are compared")
        self.second_box = QComboBox()
        self.second_box.setProperty("tip", "A second column gives a heat map of both")
        self.metric_box = QComboBox()
        self.version_box = QComboBox()
        self.bins = QSpinBox()
        self.bins.setRange(2, 20)
        self.bins.setValue(5)
        self.bins.setToolTip("Number of quantile bins for numeric columns (top values for categories)")
        self.edges = FittingLineEdit()  # its hint stays whole when the row is full (1280x720)
        self.edges.setPlaceholderText("e.g. 0, 50, 200")  # after "Bins": the tooltip says they are edges
        self.edges.setToolTip("Your own bin edges for a numeric column (comma-separated); empty = quantiles")
        for box in self._boxes():  # each as wide as the choice it shows; long ones elide
            box.currentIndexChanged.connect(lambda _i: self._request())
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
            box.currentIndexChanged.connect(lambda _i, b=box: _fit_choice(b))
        self.bins.valueChanged.connect(lambda _v: self._request())
        self.edges.editingFinished.connect(self._request)
        self.controls = QWidget()  # one row at 1600x1000; wraps where the dock is narrower (1280x720)
        row = FlowLayout(self.controls)
        for text, widgets in (("By", (self.column_box,)), ("and", (self.second_box,)), ("Metric", (self.metric_box,)),
                              ("Version", (self.version_box,)), ("Bins", (self.bins, self.edges))):
            row.addWidget(labelled(text, *widgets))

    def refresh(self, changes: Changes) -> None:
        if changes.touches(("active", "datasets", "roles")):
            self._fill_controls()
        elif changes.cards:
            self._fill_versions()
        if changes.touches(("active", "datasets", "roles", "slice")):
            self._request()

    def _fill_controls(self) -> None:
        opened = self.session.active
        boxes = (self.column_box, self.second_box, self.metric_box, self.version_box)
        for box in boxes:
            box.blockSignals(True)
        previous = (self.column_box.currentData(), self.metric_box.currentData())
        for box in boxes:
            box.clear()
        if opened is not None and opened.kind == "log":
            roles = opened.roles
            columns = list(roles.features) + [c for c in (roles.model_version, roles.timestamp) if c]
            self.second_box.addItem(NO_SECOND, None)
            for name in columns:
                self.column_box.addItem(name, name)
                self.second_box.addItem(name, name)
            for info in metrics_for(roles.task):
                self.metric_box.addItem(info.display, info.name)
            _select(self.column_box, previous[0])
            _select(self.metric_box, previous[1] if previous[1] else PREFERRED_METRIC[roles.task.value])
        for box in boxes:
            box.blockSignals(False)
        self._fill_versions()

    def _fill_versions(self) -> None:
        """Each version of the session's one list (read once when the log opened; a cards
        change brings it and any renamed card), keeping the chosen one."""
        opened = self.session.active
        chosen = self.version_box.currentData()
        self.version_box.blockSignals(True)
        self.version_box.clear()
        if opened is not None and opened.kind == "log":
            self.version_box.addItem(EACH_VERSION, None)
            if opened.roles.model_version:
                for version in self.session.version_order():
                    self.version_box.addItem(self.session.version_name(version), version)
            _select(self.version_box, chosen)
        self.version_box.blockSignals(False)
        for box in self._boxes():  # filled with signals blocked
            _fit_choice(box)

    def _boxes(self) -> tuple[QComboBox, ...]:
        return self.column_box, self.second_box, self.metric_box, self.version_box

    def _request(self) -> None:
        self.cancel_job("breakdown")
        opened = self.session.active
        column, metric = self.column_box.currentData(), self.metric_box.currentData()
        if opened is None or opened.kind != "log" or not opened.roles.has_outcome:
            self._show_empty("Open a prediction log with a label and a prediction or score to break its "
                             "metrics down by a column.")
            return
        if column is None or metric is None:
            self._show_empty("This log has no feature columns to break down by (Data > Column roles).")
            return
        if self.edges.text().strip() and not _is_ordered(opened.dataset, column):
            self.caption.setText(f"<span style='color:#b3261e'>Bin edges group a numeric or time column; "
                                 f"'{escape_html(column)}' is neither: clear the edges to group it by value."
                                 f"</span>")
            return
        edges = self._parse_edges(_is_temporal(opened.dataset, column))
        if edges is None:
            return
        second = self.second_box.currentData()
        scope = Scope(self.session.store, opened.dataset, opened.roles, self.session.condition())
        version = self.version_box.currentData()
        self.caption.setText("computing…")
        # kept by their inputs: a slice, column or setting shown before shows again at once
        if second and second != column:
            self.run_kept_job("breakdown", crosstab_by, scope, column, second, metric, version, self.bins.value(),
                              on_done=self._show_crosstab)
        else:
            self.run_kept_job("breakdown", breakdown_by, scope, column, metric, version, self.bins.value(),
                              tuple(edges), on_done=self._show_bars)

    def _parse_edges(self, temporal: bool) -> list | None:
        """The typed edges, sorted: numbers for a numeric column, dates or times (ISO) for a time
        column, whose values cannot be compared with numbers; None (and the caption says why)
        when they do not parse."""
        text = self.edges.text().strip()
        parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
        try:
            edges = sorted({dt.datetime.fromisoformat(part) if temporal else float(part) for part in parts})
        except ValueError:
            edges = None
        if temporal and edges is None:
            self.caption.setText(f"<span style='color:#b3261e'>Bin edges of a time column are dates or times "
                                 f"separated by commas, e.g. 2026-10-07, 2026-10-14 12:00: '{escape_html(text)}'</span>")
            return None
        if edges is None or not all(temporal or math.isfinite(edge) for edge in edges):  # inf, nan, 1e309 pass float()
            self.caption.setText(f"<span style='color:#b3261e'>Bin edges must be finite numbers separated by "
                                 f"commas: '{escape_html(text)}'</span>")
            return None
        return edges

    def _show_empty(self, message: str) -> None:
        self.result = None
        self.caption.setText("")
        self.show_empty(message)
        self.rendered()

    def _show_bars(self, result) -> None:
        self.result = result
        frame = result.frame
        if frame.empty:
            self._show_empty("No rows with the values this metric needs in the current slice.")
            return
        self.show_content()
        info = METRICS[result.metric]
        flagged = int(frame["significant"].sum())
        versions = self.session.in_card_order(dict.fromkeys(frame["version"]))
        legend = " ".join(f"<span style='color:{version_colour(self.session, _raw_version(v)).name()}'>■</span> "
                          f"{escape_html(self.session.version_name(_raw_version(v)))}"
                          for v in versions)
        self.caption.setText(
            f"<b>{escape_html(info.display)}</b> by <b>{escape_html(result.column)}</b> — {frame['label'].nunique()} groups; "
            f"{flagged} differ from the rest beyond chance (solid bars, ★). {legend}" + self._slice_note())
        self._draw_bars(frame, info)
        self._fill_table(frame)
        self._show_rest_columns(True)
        self.rendered()

    def _slice_note(self) -> str:
        return f" Rows: {slice_shown(self.session)}."

    def _draw_bars(self, frame, info) -> None:
        self.plot.clear()
        labels = list(dict.fromkeys(frame["label"]))
        versions = self.session.in_card_order(dict.fromkeys(frame["version"]))
        width = 0.8 / max(len(versions), 1)
        for index, version in enumerate(versions):
            rows = frame[frame["version"].isin([version]) if version is not None else frame["version"].isna()]
            x = np.array([labels.index(label) for label in rows["label"]], dtype=float)
            x += (index - (len(versions) - 1) / 2) * width
            values = rows["value"].to_numpy(float)
            colour = version_colour(self.session, _raw_version(version))
            faded = QColor(colour)
            faded.setAlpha(90)
            brushes = [colour if sig else faded for sig in rows["significant"]]
            bars = pg.BarGraphItem(x=x, height=np.nan_to_num(values), width=width * 0.9, brushes=brushes,
                                   pen=pg.mkPen(colour))
            self.plot.addItem(bars)
            low = np.nan_to_num(values - rows["ci_low"].to_numpy(float))
            high = np.nan_to_num(rows["ci_high"].to_numpy(float) - values)
            self.plot.addItem(pg.ErrorBarItem(x=x, y=np.nan_to_num(values), top=high, bottom=low, beam=width * 0.3,
                                              pen=pg.mkPen("#333", width=1)))
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(i, _short(label)) for i, label in enumerate(labels)]])
        self.plot.setLabel("left", info.display)
        self.plot.enableAutoRange()
        self._bar_labels = labels

    def _fill_table(self, frame) -> None:
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        self.table.clearContents()
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setRowCount(len(frame))
        for row, record in enumerate(frame.itertuples(index=False)):
            group = QTableWidgetItem(record.label)
            group.setData(Qt.UserRole, record.group_key)
            group.setToolTip(record.group_key)
            cells = [
                group,
                QTableWidgetItem(self.session.version_name(_raw_version(record.version))),
                NumberItem(f"{record.rows:,}", record.rows),
                NumberItem(percent(record.share), record.share),
                NumberItem(number(record.value), record.value),
                NumberItem(interval(record.ci_low, record.ci_high), record.ci_low),
                NumberItem(number(record.rest_value), record.rest_value),
                NumberItem(signed(record.diff), record.diff),
                NumberItem(p_value(record.p_adjusted), record.p_adjusted),
                QTableWidgetItem("★" if record.significant else ""),
            ]
            for col, item in enumerate(cells):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        # Sized to their contents (the table scrolls when the dock is narrower): stretching the
        # groups' column left it 45 px at 1280x720, and the groups' edges were cut.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

    def _show_crosstab(self, result) -> None:
        self.result = result
        frame = result.frame
        if frame.empty:
            self._show_empty("No rows with the values this metric needs in the current slice.")
            return
        self.show_content()
        first = frame["version"].iloc[0]
        one = frame[frame["version"].isin([first])] if first is not None else frame
        rows = [g for g in result.row_binning.groups if g.key in set(one["row_key"])]
        cols = [g for g in result.col_binning.groups if g.key in set(one["col_key"])]
        grid = np.full((len(cols), len(rows)), np.nan)
        for record in one.itertuples(index=False):
            grid[[c.key for c in cols].index(record.col_key), [r.key for r in rows].index(record.row_key)] = record.value
        info = METRICS[result.metric]
        version_note = "" if first is None or frame["version"].nunique() == 1 else \
            f" (version {escape_html(self.session.version_name(str(first)))}; pick a version to see another)"
        self.caption.setText(f"<b>{escape_html(info.display)}</b> by <b>{escape_html(result.row_binning.column)}</b> × "
                             f"<b>{escape_html(result.col_binning.column)}</b>{version_note}. Double-click a cell to "
                             f"narrow the slice to it." + self._slice_note())
        self._draw_heatmap(grid, rows, cols)
        self._cells = (rows, cols)
        self._fill_crosstab_table(one)
        self._show_rest_columns(False)
        self.rendered()

    def _draw_heatmap(self, grid: np.ndarray, rows, cols) -> None:
        self.plot.clear()
        image = pg.ImageItem(np.nan_to_num(grid.T, nan=np.nanmin(grid) if np.isfinite(grid).any() else 0))
        finite = grid[np.isfinite(grid)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        image.setLevels((low, high if high > low else low + 1e-9))
        self.plot.addItem(image)
        if grid.size <= MAX_CELL_LABELS:
            for c in range(len(cols)):
                for r in range(len(rows)):
                    if math.isfinite(grid[c, r]):
                        text = pg.TextItem(number(grid[c, r]), color="w" if grid[c, r] < (low + high) / 2 else "k",
                                           anchor=(0.5, 0.5))
                        text.setPos(r + 0.5, c + 0.5)
                        self.plot.addItem(text)
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, _short(g.label)) for i, g in enumerate(rows)]])
        self.plot.getAxis("left").setTicks([[(i + 0.5, _short(g.label)) for i, g in enumerate(cols)]])
        self.plot.setLabel("left", "")
        self.plot.setRange(xRange=(0, len(rows)), yRange=(0, len(cols)), padding=0)

    def _fill_crosstab_table(self, frame) -> None:
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        self.table.clearContents()
        self.table.setRowCount(len(frame))
        for row, record in enumerate(frame.itertuples(index=False)):
            group = QTableWidgetItem(f"{record.row_label} × {record.col_label}")
            group.setData(Qt.UserRole, (record.row_key, record.col_key))
            cells = [group, QTableWidgetItem(self.session.version_name(_raw_version(record.version))),
                     NumberItem(f"{record.rows:,}", record.rows),
                     NumberItem(percent(record.share), record.share), NumberItem(number(record.value), record.value),
                     NumberItem(interval(record.ci_low, record.ci_high), record.ci_low)]
            for col, item in enumerate(cells):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)

    def _show_rest_columns(self, shown: bool) -> None:
        for col in range(6, len(TABLE_COLUMNS)):
            self.table.setColumnHidden(col, not shown)

    def _row_double_clicked(self, item: QTableWidgetItem) -> None:
        key = self.table.item(item.row(), 0).data(Qt.UserRole)
        self.open_group(key)

    def open_group(self, key) -> None:
        """Narrow the slice to a group (a key) or a heat-map cell (a pair of keys)."""
        if self.result is None:
            return
        predicate = self.result.predicate_of(*key) if isinstance(key, tuple) else self.result.predicate_of(key)
        self.sig_open_slice.emit(predicate)

    def eventFilter(self, watched, event) -> bool:
        """Qt's own double-click event on the plot (pyqtgraph's click events lose doubles
        when an item holds the mouse grab)."""
        if watched is self.plot.viewport() and event.type() == QEvent.MouseButtonDblClick:
            self._plot_double_clicked(self.plot.mapToScene(event.position().toPoint()))
        return super().eventFilter(watched, event)

    def _plot_double_clicked(self, scene_point) -> None:
        if self.result is None:
            return
        point = self.plot.getPlotItem().vb.mapSceneToView(scene_point)
        if hasattr(self.result, "binning"):
            index = int(round(point.x()))
            if 0 <= index < len(self._bar_labels):
                label = self._bar_labels[index]
                self.open_group(next(g.key for g in self.result.binning.groups if g.label == label))
        else:
            rows, cols = self._cells
            r, c = int(math.floor(point.x())), int(math.floor(point.y()))
            if 0 <= r < len(rows) and 0 <= c < len(cols):
                self.open_group((rows[r].key, cols[c].key))


def _select(box: QComboBox, data) -> None:
    index = box.findData(data)
    if index >= 0:
        box.setCurrentIndex(index)


def _raw_version(version) -> str | None:
    return None if version is None or (isinstance(version, float) and math.isnan(version)) else str(version)


def _sort_key(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _fit_choice(box: QComboBox) -> None:
    """Size ``box`` to its current choice, at most :data:`COMPACT_CHOICE` characters; the
    tooltip gives the whole choice."""
    box.setMinimumContentsLength(min(len(box.currentText()), COMPACT_CHOICE))
    tip = box.property("tip")
    box.setToolTip(f"{tip}: {box.currentText()}" if tip else box.currentText())


def _is_temporal(dataset, column: str) -> bool:
    """Whether ``column`` holds times (its bin edges are then dates, not numbers)."""
    return column in dataset.column_names and dataset.column(column).is_temporal


def _is_ordered(dataset, column: str) -> bool:
    """Whether bin edges can cut ``column`` (numbers and times; values are grouped otherwise)."""
    return column in dataset.column_names and (dataset.column(column).is_numeric or _is_temporal(dataset, column))


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


if __name__ == "__main__":
    preview(BreakdownPanel)
