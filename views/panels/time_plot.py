"""A metric over time, one curve per model version: "since when" at a glance.

The time bucket is chosen from the data's span (minutes for an incident log, days for a
month), aggregated in DuckDB, so the plot draws a few hundred points whatever the log size.
Each curve carries its 95% interval as a band, and a point measured on few rows is hollow
(the rule is ``analysis.metrics.per_version.FEW_SUCCESSES`` / ``FEW_ROWS``), so a dip in a
thin hour is not read as an incident. The legend is a row above the plot, never over data.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from analysis.metrics.estimated_performance import ESTIMATED_ACCURACY, estimated_accuracy_series
from analysis.metrics.per_version import FEW_ROWS, FEW_SUCCESSES, METRICS, metric_series, metrics_for
from analysis.report.formatting import escape_html
from analysis.data.roles import TaskType
from analysis.scope import Scope
from analysis.triage.label_arrival import LABELS_STOPPED
from app.state import Changes, Session
from app.tasks import TaskRunner

from views.panel import Panel, preview, slice_shown
from views.widgets.palette import version_colour
from views.widgets.plot_items import keep_in_plot

FINDING_COLOURS = {"alert": (179, 38, 30, 45), "warning": (230, 159, 0, 40)}
ESTIMATED_LABEL = "Estimated accuracy (from scores)"
ESTIMATED_TIP = ("Confidence-based estimate (as NannyML's CBPE): each row counts as correct with the probability its "
                 "calibrated score gives. Usable before labels arrive; only as good as the model's calibration.")
PREFERRED = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mae"}
BAND_ALPHA = 45
KEY_TIP = (f"Band: the 95% interval of each point. Hollow point: measured on few rows (a share with fewer than "
           f"{FEW_SUCCESSES} successes or failures, any other metric on fewer than {FEW_ROWS} rows), too few "
           "to read as a stable estimate.")


class TimePlotPanel(Panel):
    """Metric per time bucket and version; the metric is chosen in the combo box."""

    title = "Metric over time"
    listens_to = frozenset({"active", "roles", "datasets", "slice", "cards", "findings"})
    sig_time_range = Signal(object, object)  # start, end as naive UTC datetimes

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.markers: list[pg.LinearRegionItem] = []
        self.series = None
        self.metric_box = QComboBox()
        self.metric_box.setToolTip("Metric to plot over time")
        self.metric_box.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.metric_box.currentIndexChanged.connect(lambda _i: self._request())
        self.caption = QLabel()
        self.range_button = QToolButton()
        self.range_button.setText("Select time range")
        self.range_button.setCheckable(True)
        self.range_button.setToolTip("Drag the shaded band's edges; the slice becomes the rows in that time range")
        self.range_button.toggled.connect(self._toggle_region)
        self.region = pg.LinearRegionItem(brush=(0, 114, 178, 40))
        self.region.sigRegionChangeFinished.connect(self._region_changed)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self._keep_items()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setLabel("bottom", "Time (UTC)")
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setToolTip(KEY_TIP)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.few_row_points: dict[str, np.ndarray] = {}  # per version: the times of its hollow points
        self.legend_names: list[str] = []
        self.labels_note = QLabel()  # "no labels since ...", from the checks' finding
        self.labels_note.setWordWrap(True)
        self.labels_note.setStyleSheet("color: #8a5300;")
        self.estimate_button = QToolButton()
        self.estimate_button.setText("Show estimated accuracy")
        self.estimate_button.setToolTip(ESTIMATED_TIP)
        self.estimate_button.clicked.connect(
            lambda: self.metric_box.setCurrentIndex(self.metric_box.findData(ESTIMATED_ACCURACY)))
        note = QHBoxLayout()
        note.addWidget(self.labels_note, 1)
        note.addWidget(self.estimate_button)
        top = QHBoxLayout()
        top.addWidget(QLabel("Metric:"))
        top.addWidget(self.metric_box)
        top.addWidget(self.caption, 1)
        top.addWidget(self.range_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addLayout(note)
        layout.addWidget(self.with_empty_state(self.plot), 1)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.plot

    def refresh(self, changes: Changes) -> None:
        if changes.findings and self.series is not None:
            self._mark_findings()
        self._say_where_labels_stopped()
        data_changed = changes.touches(("active", "roles", "datasets", "slice"))
        if changes.cards and self.series is not None and not data_changed:
            self._draw(self.series, "")
            return
        if not data_changed:
            return
        self._fill_metric_box()
        self._request()

    def _fill_metric_box(self) -> None:
        opened = self.session.active
        task = opened.roles.task.value if opened else "binary"
        current = self.metric_box.currentData()
        names = [info.name for info in metrics_for(opened.roles.task)] if opened else []
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        for name in names:
            self.metric_box.addItem(METRICS[name].display, name)
        if opened is not None and opened.roles.task is not TaskType.REGRESSION and opened.roles.scores:
            self.metric_box.addItem(ESTIMATED_LABEL, ESTIMATED_ACCURACY)
            names.append(ESTIMATED_ACCURACY)
            self.metric_box.setItemData(self.metric_box.count() - 1, ESTIMATED_TIP, Qt.ToolTipRole)
        wanted = current if current in names else PREFERRED.get(task)
        if wanted in names:
            self.metric_box.setCurrentIndex(names.index(wanted))
        self.metric_box.blockSignals(False)

    def _request(self) -> None:
        self.cancel_job("series")
        opened = self.session.active
        metric = self.metric_box.currentData()
        if opened is None or opened.kind != "log" or metric is None:
            self._draw(None, "Open a prediction log to see metrics over time.")
            return
        if opened.roles.timestamp is None:
            self._draw(None, "No timestamp column is set, so there is no time axis (Data > Column roles).")
            return
        self.caption.setText("computing…")
        if metric == ESTIMATED_ACCURACY:
            self.run_kept_job("series", estimated_accuracy_series,
                              Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()),
                              on_done=lambda series: self._draw(series, ""))
            return
        self.run_kept_job("series", metric_series,
                          Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()), metric,
                          on_done=lambda series: self._draw(series, ""))

    def _draw(self, series, message: str) -> None:
        self.series = series
        self.plot.clear()
        self._keep_items()
        self.curves = {}
        self.few_row_points = {}
        self.legend_names = []
        self.legend.setText("")
        if series is None or series.bucket is None or len(series.frame) == 0:
            self.caption.setText("")
            self.show_empty(message or "No rows with both a timestamp and the values this metric needs.")
            self.rendered()
            return
        self.show_content()
        frame = series.frame
        estimate = series.metric == ESTIMATED_ACCURACY
        self.caption.setText(f"per {series.bucket.label}, {slice_shown(self.session)}" + (" — an ESTIMATE from the scores, not labels"
                                                             if estimate else ""))
        groups = {_raw(version): rows for version, rows in frame.groupby("version", sort=False, dropna=False)}
        for raw in self.session.in_card_order(groups):
            self._draw_version(raw, groups[raw], estimate)
        self.legend.setText(self._legend_html(list(groups), estimate))
        self._mark_findings()
        self._say_where_labels_stopped()
        self.plot.setLabel("left", ESTIMATED_LABEL if estimate else METRICS[series.metric].display)
        self.plot.setLabel("bottom", f"Time (UTC), {_span_text(frame['bucket_start'])}")
        self.plot.enableAutoRange()
        self.region.setVisible(self.range_button.isChecked())
        self.rendered()

    def _draw_version(self, raw: str | None, rows, estimate: bool) -> None:
        """One version's curve, its interval band, filled points and hollow few-row points."""
        colour = version_colour(self.session, raw)
        x = _epoch_seconds(rows["bucket_start"])
        y = rows["value"].to_numpy(dtype=float)
        if "low" in rows:
            band = QColor(colour)
            band.setAlpha(BAND_ALPHA)
            low, high = rows["low"].to_numpy(float), rows["high"].to_numpy(float)
            for part in _finite_runs(low, high):
                self.plot.addItem(pg.FillBetweenItem(pg.PlotCurveItem(x[part], low[part]),
                                                     pg.PlotCurveItem(x[part], high[part]), brush=band, pen=None))
        few = rows["few"].to_numpy(dtype=bool) if "few" in rows else np.zeros(len(rows), dtype=bool)
        pen = pg.mkPen(colour, width=2, style=Qt.DashLine if estimate else Qt.SolidLine)
        curve = self.plot.plot(x, y, pen=pen, connect="finite")
        solid, hollow = ~few & np.isfinite(y), few & np.isfinite(y)
        self.plot.addItem(pg.ScatterPlotItem(x[solid], y[solid], symbol="o", size=5, brush=colour, pen=None))
        if hollow.any():
            self.plot.addItem(pg.ScatterPlotItem(x[hollow], y[hollow], symbol="o", size=8, brush="w",
                                                 pen=pg.mkPen(colour, width=1.5)))
        self.curves[raw or "all rows"] = curve
        self.few_row_points[raw or "all rows"] = x[hollow]

    def _legend_html(self, versions: list, estimate: bool) -> str:
        """The legend as a row of coloured names above the plot, in the card order."""
        self.legend_names = [self.session.version_name(v) for v in self.session.in_card_order(versions)]
        entries = " &nbsp; ".join(
            f"<span style='color:{version_colour(self.session, v).name()}'>{'┅' if estimate else '━'}</span> "
            f"{escape_html(self.session.version_name(v))}" for v in self.session.in_card_order(versions))
        key = "" if estimate else " &nbsp; <span style='color:#666'>band: 95% interval · ○ few rows</span>"
        return entries + key

    def _say_where_labels_stopped(self) -> None:
        """Where the checks found that labels stopped arriving, the metric is blind after that
        moment: say so, and offer the accuracy estimated from the scores instead."""
        stopped = next((f for f in self.session.findings if f.kind == LABELS_STOPPED), None)
        self.labels_note.setText(f"{stopped.sentence[0].upper()}{stopped.sentence[1:]}; a metric from labels "
                                 "says nothing about them." if stopped else "")
        self.labels_note.setVisible(stopped is not None)
        self.estimate_button.setVisible(stopped is not None and self.metric_box.findData(ESTIMATED_ACCURACY) >= 0
                                        and self.metric_box.currentData() != ESTIMATED_ACCURACY)

    def _keep_items(self) -> None:
        """Put the time band and the shaded windows back after a clear of the plot, hidden until
        used: items kept across redraws stay in their plot (see :mod:`views.widgets.plot_items`)."""
        for item in (self.region, *self.markers):
            keep_in_plot(self.plot, item)
            item.hide()

    def _mark_findings(self) -> None:
        """Shade the time windows of the alerts and warnings from the last input check, in bands
        reused from draw to draw."""
        windows = [(finding, start, end) for finding in self.session.findings for start, end in [finding.window]
                   if finding.severity in FINDING_COLOURS and start is not None and end is not None]
        while len(self.markers) < len(windows):
            marker = pg.LinearRegionItem(movable=False)
            marker.setZValue(-10)
            keep_in_plot(self.plot, marker)
            self.markers.append(marker)
        for marker in self.markers[len(windows):]:
            marker.hide()
        for marker, (finding, start, end) in zip(self.markers, windows):
            marker.setRegion((start.replace(tzinfo=timezone.utc).timestamp(),
                              end.replace(tzinfo=timezone.utc).timestamp()))
            marker.setBrush(FINDING_COLOURS[finding.severity])
            marker.setToolTip(finding.sentence)
            marker.show()

    def _toggle_region(self, on: bool) -> None:
        if on:
            (x0, x1), _ = self.plot.viewRange()
            self.region.blockSignals(True)
            self.region.setRegion((x0 + (x1 - x0) * 0.4, x0 + (x1 - x0) * 0.6))
            self.region.blockSignals(False)
        self.region.setVisible(on)

    def _region_changed(self) -> None:
        start, end = self.region.getRegion()
        self.select_time_range(datetime.fromtimestamp(start, timezone.utc).replace(tzinfo=None),
                               datetime.fromtimestamp(end, timezone.utc).replace(tzinfo=None))

    def select_time_range(self, start: datetime, end: datetime) -> None:
        """Ask for the rows between ``start`` and ``end`` (naive UTC) as the slice."""
        self.sig_time_range.emit(start.replace(microsecond=0), end.replace(microsecond=0))


def _raw(version) -> str | None:
    return None if version is None or (isinstance(version, float) and math.isnan(version)) else str(version)


def _finite_runs(low: np.ndarray, high: np.ndarray) -> list[slice]:
    """The runs of consecutive points where both bounds exist: one band each, so a gap in
    the data is a gap in the band rather than a fill across it."""
    finite = np.isfinite(low) & np.isfinite(high)
    edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(int), 0]))
    return [slice(start, stop) for start, stop in zip(edges[::2], edges[1::2]) if stop - start > 1]


def _span_text(starts) -> str:
    """The plotted dates with their year, e.g. "1 Oct – 31 Oct 2026" or "28 Dec 2025 – 3 Jan 2026"."""
    first, last = (stamp.tz_convert("UTC") if stamp.tzinfo else stamp for stamp in (starts.min(), starts.max()))
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def _epoch_seconds(values) -> np.ndarray:
    stamps = values.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
    return stamps.astype("datetime64[ns]").astype("int64").to_numpy() / 1e9


if __name__ == "__main__":
    preview(TimePlotPanel)
