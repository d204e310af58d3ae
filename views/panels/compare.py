"""Compare two model versions: is the candidate better, for whom is it worse, which rows broke?

The first line is the answer in words ("better overall but clearly worse on …"); below it
every metric with the difference, its 95% interval and p-value, the flips of paired rows,
and the slices where the candidate is worse, worst first. Everything follows the current
slice; a double-click on a regressed slice, or "Open negative flips", narrows to those rows.
"""

from __future__ import annotations


import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.compare.plots import compare_plots, score_region_rows
from analysis.compare.regressed_slices import SliceSettings
from analysis.compare.report import ReportSettings, run_comparison
from analysis.compare.flips import export_flips
from analysis.metrics.per_version import METRICS
from analysis.data.time import time_span
from analysis.report.formatting import count, escape_html, interval, number, p_value, percent, signed
from analysis.scope import Scope
from analysis.slices import Flip
from app.commands import KeepCompareVerdict
from app.state import Changes, Session
from app.tasks import HEAVY, TaskRunner

from views.panel import Panel, preview, pulled_note
from views.queue_intake import add_to_queue
from views.widgets import file_dialogs
from views.widgets.flow_layout import FlowLayout, labelled, together
from views.widgets.palette import version_colour
from views.widgets.plot_items import keep_in_plot

MIN_SIDE_WIDTH = 240
WORSE_TAB = "Where it is worse"
SLICE_TEXT_CHARS = 40
"""Characters of slice text a row shows on one line before it wraps: two predicates, about."""
OPEN_FLIPS_TIP = ("The candidate's rows that the base got right and the candidate wrong, as the slice "
                  "flip('base' -> 'candidate', negative) within the current one")
OVERALL_COLUMNS = ("Metric", "Base", "Candidate", "Difference", "95% interval", "p")
SLICE_COLUMNS = ("Slice", "From", "Rows", "Base", "Candidate", "Difference", "95% interval", "p (adj., BY)")
HELP = (
    "Paired (same request ids): accuracy by exact McNemar with Newcombe's interval; ROC AUC by DeLong; "
    "log loss and MAE by a paired normal interval; precision, recall, F1 and ECE by bootstrap. Unpaired: "
    "Fisher's exact test with Newcombe's hybrid interval, independent DeLong, Welch. Slices: "
    "Benjamini–Yekutieli adjusted, because slices overlap."
)


class ComparePanel(Panel):
    """Two versions (or one before and after a moment) side by side on the current slice."""

    title = "Compare versions"
    listens_to = frozenset({"active", "datasets", "roles", "cards", "slice"})
    sig_open_slice = Signal(object)  # a predicate: narrow the current slice to it

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.result = None
        self.compared_threshold: float | None = None  # the edited threshold of the shown result, if any
        self.versions: list[str] = []
        self.base_box = QComboBox()
        self.candidate_box = QComboBox()
        for box, tip in ((self.base_box, "Base: the version in production"),
                         (self.candidate_box, "Candidate: the version to promote")):
            box.setToolTip(tip)
            box.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.05)
        self.threshold.setToolTip("Decision threshold on the score (from the column roles by default)")
        self.split_box = QCheckBox("before/after")
        self.split_box.setToolTip("Compare the base's rows before a moment with the candidate's rows from then on "
                                  "(one version before and after a deploy or an incident); always unpaired")
        self.split_at = QDateTimeEdit()
        self.split_at.setCalendarPopup(True)
        self.split_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.split_at.setToolTip("The moment that splits the rows: the base's before it, the candidate's from it on")
        self.split_at.setEnabled(False)
        self.split_box.toggled.connect(self.split_at.setEnabled)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Compare the candidate with the base on the current slice")
        self.compare_button.clicked.connect(self.compare)
        self.summary = QLabel("Choose two versions and press Compare.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.pairing = QLabel()
        self.pairing.setWordWrap(True)
        self.pairing.setToolTip(HELP)
        self.overall = _table(OVERALL_COLUMNS)
        self.overall.setToolTip(HELP)
        self.flips = QLabel()
        self.flips.setWordWrap(True)
        self.flips.setToolTip("Labelled pairs: negative = base right, candidate wrong; positive = the reverse")
        self.open_flips = QPushButton("Open negative flips")
        self.open_flips.setToolTip(OPEN_FLIPS_TIP)
        self.open_flips.clicked.connect(self._open_negative_flips)
        self.queue_flips = QPushButton("Queue negative flips")
        self.queue_flips.setToolTip("Add the negative flips to the failure queue, as the candidate's failures")
        self.queue_flips.setEnabled(False)
        self.queue_flips.clicked.connect(  # enabled only while negative flips are shown
            lambda: add_to_queue(self, self._negative_flips(), what="the negative flips"))
        self.export_button = QPushButton("Export flips…")
        self.export_button.setToolTip("Write the negative flips (both versions' predictions) as CSV or Parquet")
        self.export_button.clicked.connect(self._export)
        self.plots = self._build_plots()
        self.slices = _table(SLICE_COLUMNS)
        self._wrap_slice_text()
        self.slices.itemDoubleClicked.connect(lambda item: self.open_regressed(item.row()))
        self.slices.setToolTip("Double-click a slice to narrow the current slice to it")
        self._layout_widgets()
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.compare_button

    def _layout_widgets(self) -> None:
        """The verdict and the pairing across the top; below them, side by side so both fit a
        short dock, the metrics (left) and the flips above the regressed slices and plots."""
        controls = QWidget()  # wraps where the dock is narrow: the versions' card names read whole
        row = FlowLayout(controls)
        for text, widget in (("Base", self.base_box), ("vs", self.candidate_box), ("threshold", self.threshold)):
            row.addWidget(labelled(text, widget))
        row.addWidget(together(self.split_box, self.split_at))
        row.addWidget(self.compare_button)
        # The flips and their buttons span the panel: beside the metrics, at 1280x720, the
        # buttons were cut to "en negative f" and the slices had a third of the height.
        flips_row = QHBoxLayout()
        flips_row.addWidget(self.flips, 1)
        flips_row.addWidget(self.open_flips)
        flips_row.addWidget(self.queue_flips)
        flips_row.addWidget(self.export_button)
        lower = QTabWidget()
        lower.addTab(self.slices, WORSE_TAB)
        lower.addTab(self.plots, "Calibration, confusion, scores")
        lower.setTabToolTip(0, "Slices where the candidate is worse than the base, worst first")
        self.lower_tabs = lower
        for side in (self.overall, lower):
            side.setMinimumWidth(MIN_SIDE_WIDTH)  # not the plots' size hint: switching tabs keeps the split
        self.split = QSplitter(Qt.Horizontal)
        self.split.addWidget(self.overall)
        self.split.addWidget(lower)
        self.split.setStretchFactor(1, 1)
        self.split.setChildrenCollapsible(False)
        lower.insertTab(0, self.overall, "Metrics")  # until a result shows both fit side by side
        lower.setCurrentIndex(0)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(self.summary)
        content_layout.addWidget(self.pairing)
        content_layout.addLayout(flips_row)
        content_layout.addWidget(self.split, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(controls)  # outside the empty state: Before/after stays at hand for one version
        layout.addWidget(self.with_empty_state(content), 1)
        self._show_flips(None)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        """The metrics beside the slices only when both tables fit at their needed widths;
        otherwise the metrics are the first tab beside the slices, so the slice table always
        has the panel's width: beside the metrics at 1280x720 (and at 1600x1000) its slice
        column got ~110 px and the slice read "merchant_risk > 0.3 A…". Before a result the
        arrangement stays as it is: the metrics' widths are known once they are shown."""
        if self.overall.rowCount() == 0:
            return
        beside = self.width() >= _needed_width(self.overall) + self._slices_needed_width()
        if beside == (self.split.indexOf(self.overall) >= 0):
            return
        if beside:
            self.lower_tabs.removeTab(self.lower_tabs.indexOf(self.overall))
            self.split.insertWidget(0, self.overall)
            self.overall.show()
            self._fit_metrics()
        else:
            self.lower_tabs.insertTab(0, self.overall, "Metrics")
            self.lower_tabs.setCurrentIndex(0)

    def _slices_needed_width(self) -> int:
        """The slice table's numbers at their content width and its slice text at
        :data:`SLICE_TEXT_CHARS` characters (longer slices wrap onto a second line)."""
        header = self.slices.horizontalHeader()
        numbers = sum(max(self.slices.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(1, header.count()))
        text = self.slices.fontMetrics().averageCharWidth() * SLICE_TEXT_CHARS
        return numbers + text + _frame_width(self.slices)

    def _build_plots(self) -> QWidget:
        """Reliability diagram of both versions, their confusion matrices, score vs score."""
        self.reliability = pg.PlotWidget()
        self.reliability.setBackground("w")
        self.reliability.setLabel("bottom", "mean score in bin")
        self.reliability.setLabel("left", "observed")
        self.reliability.setXRange(0, 1)
        self.reliability.setYRange(0, 1)
        self.reliability.setToolTip("Reliability: a calibrated model follows the diagonal")
        self.density = pg.PlotWidget()
        self.density.setBackground("w")
        self.density.setLabel("bottom", "base score")
        self.density.setLabel("left", "candidate score")
        self.density.setToolTip("Paired requests: candidate score against base score (log of the count). "
                                "Drag the box, then 'Open region' to slice to those requests")
        self.region = pg.RectROI([0.5, 0.0], [0.5, 0.3], pen=pg.mkPen("#E69F00", width=2))
        keep_in_plot(self.density, self.region)
        self.region.hide()  # until paired scores are drawn
        self.open_region_button = QPushButton("Open region")
        self.open_region_button.setToolTip("The requests inside the box as the current slice (candidate rows)")
        self.open_region_button.clicked.connect(self.open_region)
        self.confusion = {side: _table(()) for side in ("base", "candidate")}
        confusion_box = QWidget()
        row = QHBoxLayout(confusion_box)
        row.setContentsMargins(0, 0, 0, 0)
        for side, table in self.confusion.items():
            column = QVBoxLayout()
            label = QLabel(side)
            self.confusion_titles = getattr(self, "confusion_titles", {})
            self.confusion_titles[side] = label
            column.addWidget(label)
            column.addWidget(table)
            row.addLayout(column)
        # The two plots side by side over the two confusion matrices: three columns left each
        # plot a third of a half-panel, too narrow for its axis labels on a projector.
        box = QWidget()
        layout = QGridLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        density_box = QWidget()
        density_layout = QVBoxLayout(density_box)
        density_layout.setContentsMargins(0, 0, 0, 0)
        density_layout.addWidget(self.density, 1)
        density_layout.addWidget(self.open_region_button)
        layout.addWidget(self.reliability, 0, 0)
        layout.addWidget(density_box, 0, 1)
        layout.addWidget(confusion_box, 1, 0, 1, 2)
        layout.setRowStretch(0, 3)
        layout.setRowStretch(1, 1)
        return box

    def _show_plots(self, plots) -> None:
        self.plot_data = plots
        self.reliability.clear()
        self.reliability.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.DashLine))
        for side, version in (("base", self.base_box.currentData()), ("candidate", self.candidate_box.currentData())):
            rows = plots.reliability[plots.reliability.side == side]
            colour = version_colour(self.session, version)
            # One version before and after a deploy has one colour: the candidate side is dashed.
            style = Qt.DashLine if side == "candidate" else Qt.SolidLine
            self.reliability.plot(rows.confidence.to_numpy(float), rows.observed.to_numpy(float),
                                  pen=pg.mkPen(colour, width=2, style=style), symbol="o", symbolSize=5,
                                  symbolBrush=colour, name=f"{side}: {self.session.version_name(version)}")
            self._fill_confusion(side, version, plots.confusion[plots.confusion.side == side])
        self.density.clear()
        if plots.density is not None:
            image = pg.ImageItem(np.log1p(plots.density))
            image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
            image.setRect(0, 0, 1, 1)
            self.density.addItem(image)
            self.density.plot([0, 1], [0, 1], pen=pg.mkPen("w", style=Qt.DashLine))
        keep_in_plot(self.density, self.region)  # the clear took it out: back in, over the image
        self.region.setVisible(plots.density is not None)
        self.open_region_button.setEnabled(plots.density is not None)

    def open_region(self) -> None:
        """Slice to the paired requests inside the box on the score plot."""
        if self.result is None or not self.result.pairing.paired:
            return
        x, y = self.region.pos()
        width, height = self.region.size()
        self.select_score_region((x, x + width), (y, y + height))

    def select_score_region(self, base_range: tuple[float, float], candidate_range: tuple[float, float]) -> None:
        opened = self.session.active
        self.run_job("region", score_region_rows,
                     Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()),
                     self.result.pairing, base_range, candidate_range, label="Selecting requests",
                     on_done=self.sig_open_slice.emit)

    def _fill_confusion(self, side: str, version, frame) -> None:
        classes = sorted(set(frame.actual) | set(frame.predicted))
        table = self.confusion[side]
        table.setRowCount(len(classes))
        table.setColumnCount(len(classes))
        table.setHorizontalHeaderLabels([f"pred {c}" for c in classes])
        table.setVerticalHeaderLabels([f"actual {c}" for c in classes])
        table.verticalHeader().setVisible(True)
        counts = {(r.actual, r.predicted): r.rows for r in frame.itertuples()}
        for i, actual in enumerate(classes):
            for j, predicted in enumerate(classes):
                item = QTableWidgetItem(f"{counts.get((actual, predicted), 0):,}")
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                table.setItem(i, j, item)
        self.confusion_titles[side].setText(f"{side}: {self.session.version_name(version)}")

    def refresh(self, changes: Changes) -> None:
        if changes.touches(("active", "datasets", "roles")):
            self.result = None
            opened = self.session.active
            self.compare_button.setEnabled(False)
            if opened is not None:
                self.threshold.setValue(opened.roles.threshold)
            missing = self._missing_input()
            if missing:
                self._fill_versions([])
                self.show_empty(missing)
            else:
                self.show_empty("Reading the log's model versions…")
                self.split_box.setEnabled(opened.roles.timestamp is not None)  # before the versions: one alone needs it
                self._fill_versions(self.session.version_order())  # the session's one list; a cards change brings it
                if opened.roles.timestamp is not None:
                    self.run_job("span", time_span, Scope(self.session.store, opened.dataset, opened.roles),
                                 on_done=self._set_split_range)
        if changes.cards and not self._missing_input():
            self._fill_versions(self.session.version_order())
        if changes.slice and self.result is not None:
            self.summary.setText("<i>The slice changed: press Compare to compare on it.</i> "
                                 + self.summary.text())

    def _missing_input(self) -> str:
        """Why no comparison can be made on the active dataset ("" when one can)."""
        opened = self.session.active
        if opened is None:
            return ("Open a prediction log with two model versions (or one version and a time column) to "
                    "compare them: metrics with intervals, flips and the slices where one is worse.")
        if opened.kind != "log":
            return (f"{escape_html(opened.name)} is a training snapshot: comparing versions reads a "
                    "prediction log (choose one in the data sidebar).")
        if opened.roles.model_version is None or not opened.roles.has_outcome:
            return ("Comparing needs a prediction log with a model version, a label and a prediction or "
                    "score (Data > Column roles).")
        return ""

    def _fill_versions(self, versions: list[str]) -> None:
        self.versions = list(versions)
        for box, default in ((self.base_box, -2), (self.candidate_box, -1)):
            chosen = box.currentData()
            box.blockSignals(True)
            box.clear()
            for version in versions:
                box.addItem(self.session.version_name(version), version)
                box.setItemData(box.count() - 1, f"model_version = {version}", Qt.ToolTipRole)
            index = box.findData(chosen)
            if index < 0 and len(versions) >= 2:
                index = len(versions) + default  # the two most recent versions
            box.setCurrentIndex(max(index, 0))
            box.blockSignals(False)
        self.compare_button.setEnabled(len(versions) >= 2 or (len(versions) == 1 and self.split_box.isEnabled()))
        if self.result is None and versions:
            self._show_idle()

    def _show_idle(self) -> None:
        """What the panel says before a comparison, from the versions it lists now: the text
        is rewritten whenever they change, so it never describes an earlier state. One
        version alone is an empty state, unless a time column lets it be compared with itself."""
        if len(self.versions) >= 2:
            self.summary.setText(f"This log has {len(self.versions)} model versions. Choose the base and the "
                                 "candidate and press Compare.")
            self.show_content()
            return
        name = escape_html(self.session.version_name(self.versions[0]))
        if self.split_box.isEnabled():
            self.show_empty(f"This log has one model version ({name}): there is no other version to compare it "
                            "with. Tick Before/after above to compare it before and after a moment.")
        else:
            self.show_empty(f"This log has one model version ({name}) and no time column: there is nothing "
                            "to compare it with (open a log with another version, or map a timestamp in "
                            "Data > Column roles to compare it before and after a moment).")

    def _set_split_range(self, span) -> None:
        """Bound the before/after moment by the log's time span; start it in the middle."""
        if span is None:
            return
        first, last = span
        self.split_at.setDateTimeRange(first, last)
        if not self.split_box.isChecked():
            self.split_at.setDateTime(first + (last - first) / 2)

    def compare(self) -> None:
        opened = self.session.active
        base, candidate = self.base_box.currentData(), self.candidate_box.currentData()
        if opened is None or base is None or candidate is None:
            return
        split_at = self.split_at.dateTime().toPython() if self.split_box.isChecked() else None
        if base == candidate and split_at is None:
            self.summary.setText("Choose two different versions, or tick Before/after to compare one version "
                                 "before and after a moment.")
            self.show_content()
            return
        self.summary.setText("comparing…")
        self.show_content()
        threshold = self.threshold.value() if self.threshold.value() != opened.roles.threshold else None
        self.compared_threshold = threshold
        self.run_job("compare", run_comparison,
                     Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()), base,
                     candidate, ReportSettings(
                         slices=SliceSettings(saved=tuple(self.session.saved_slices.values())), threshold=threshold,
                         split_at=split_at,
                         version_names={version: self.session.version_name(version) for version in self.versions}),
                     lane=HEAVY, label="Comparing versions", on_partial=self._show_report, on_done=self._show)

    def _show_report(self, result) -> None:
        """Fill the panel from a comparison: the verdict that arrives first (every metric but
        ROC AUC, the flips; slices still coming) or the whole report."""
        self.result = result
        report = result.report
        self.summary.setText(f"<b>{escape_html(report['summary'])}</b>")
        self.pairing.setText(escape_html(report["pairing"] + pulled_note(self.session)))
        self._fill_overall(report)
        self._show_flips(report["flips"])
        self._fill_slices(report["regressed_slices"], complete=report["complete"])

    def _show(self, result) -> None:
        self._show_report(result)
        opened = self.session.active
        self.session.run(KeepCompareVerdict(opened.name, result.report))
        self.run_job("plots", compare_plots,
                     Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()),
                     result.pairing, lane=HEAVY, on_done=self._show_plots)
        self.rendered()

    def _fill_overall(self, report: dict) -> None:
        self.overall.setRowCount(len(report["overall"]))
        for row, m in enumerate(report["overall"]):
            info = METRICS.get(m["metric"])
            cells = [info.display if info else m["metric"], number(m["base"]), number(m["candidate"]),
                     signed(m["diff"]), interval(*m["ci"], with_sign=True), p_value(m["p_value"])]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"Method: {m.get('method', '')}")
                if col > 0:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.overall.setItem(row, col, item)
        self.overall.resizeColumnsToContents()
        self._fit_metrics()
        self._arrange()

    def _fit_metrics(self) -> None:
        """Beside the slices, give the metric table the width of its columns; the slices take the rest."""
        if self.split.indexOf(self.overall) < 0:
            return
        needed = _needed_width(self.overall)
        total = max(sum(self.split.sizes()), needed + 1)
        self.split.setSizes([needed, total - needed])

    def _show_flips(self, flips: dict | None) -> None:
        has = flips is not None and self.result is not None and self.result.flips is not None
        self.open_flips.setEnabled(has and self.result.flips.negative > 0 and self.compared_threshold is None)
        self.open_flips.setToolTip(OPEN_FLIPS_TIP if self.compared_threshold is None else
                                   "These flips were counted at an edited threshold; the slice language reads the "
                                   "threshold of the column roles, so set it there (Data > Column roles) to open them")
        self.queue_flips.setEnabled(self.open_flips.isEnabled())
        self.export_button.setEnabled(has)
        if flips is None:
            self.flips.setText("Flips are counted when both versions scored the same requests (paired)."
                               if self.result is not None else "")
            return
        total = sum(flips[k] for k in ("both_right", "negative", "positive", "both_wrong")) or 1
        self.flips.setText(
            f"Flips: <b>{count(flips['negative'])}</b> negative ({percent(flips['negative'] / total, 2)}) · "
            f"{count(flips['positive'])} positive ({percent(flips['positive'] / total, 2)}) · "
            f"{count(flips['both_wrong'])} both wrong · "
            f"{count(flips['both_right'])} both right · McNemar p {p_value(flips['mcnemar_p'])}")

    def _fill_slices(self, rows: list[dict], complete: bool) -> None:
        self.slices.setRowCount(len(rows))
        for row, s in enumerate(rows):
            cells = [s["predicate"], s["source"], count(s['rows']), number(s["base"]), number(s["candidate"]),
                     signed(s["diff"]), interval(*s["ci"], with_sign=True), p_value(s["p_adjusted"])]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col >= 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if not s.get("significant"):
                    item.setForeground(Qt.gray)
                item.setToolTip(s["predicate"])
                self.slices.setItem(row, col, item)
        # Beside the Metrics tab, the tab's title says whether there is anything to read in it.
        significant = sum(bool(s.get("significant")) for s in rows)
        self.lower_tabs.setTabText(self.lower_tabs.indexOf(self.slices),
                                   f"{WORSE_TAB} ({significant})" if complete else f"{WORSE_TAB} (testing…)")
        self._arrange()

    def _wrap_slice_text(self) -> None:
        """The slice column takes the room the numbers leave and wraps its text (rows grow to
        fit it); the numbers keep their content width, so the answer is read, not hovered."""
        header = self.slices.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.slices.setWordWrap(True)
        self.slices.setTextElideMode(Qt.ElideNone)
        self.slices.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)

    def open_regressed(self, row: int) -> None:
        if self.result is not None and 0 <= row < len(self.result.slices):
            self.sig_open_slice.emit(self.result.slices[row].predicate)

    def _open_negative_flips(self) -> None:
        """Narrow the slice to the negative flips as a predicate (a semi-join on the request id),
        so every panel shows them and the bar reads what they are."""
        if self.result is not None and self.result.flips is not None and self.result.flips.negative:
            self.sig_open_slice.emit(self._negative_flips())

    def _negative_flips(self) -> Flip:
        """The compared pair's negative flips as a slice-language leaf."""
        pairing = self.result.pairing
        return Flip(pairing.base.version, pairing.candidate.version, "negative")

    def _export(self) -> None:
        if self.result is None or self.result.flips is None:
            return
        path = file_dialogs.save_file(self, "Export negative flips", "negative_flips.csv",
                                      "CSV (*.csv);;Parquet (*.parquet)")
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """Write the negative flips to ``path`` (CSV, or Parquet for a .parquet name)."""
        opened = self.session.active
        kind = "parquet" if path.endswith(".parquet") else "csv"
        self.run_job("export", export_flips,
                     Scope(self.session.store, opened.dataset, opened.roles, self.session.condition()),
                     self.result.pairing, path, format=kind, label="Exporting flips",
                     on_done=lambda n: self.flips.setText(self.flips.text() + f"<br>Wrote {n:,} rows to "
                                                                                     f"{escape_html(path)}."))


def _frame_width(table: QTableWidget) -> int:
    """What a table adds around its columns: both frames and a vertical scroll bar."""
    return table.frameWidth() * 2 + table.verticalScrollBar().sizeHint().width()


def _needed_width(table: QTableWidget) -> int:
    """The width that shows every column of ``table`` at its current size."""
    return table.horizontalHeader().length() + _frame_width(table)


def _table(columns) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    return table


if __name__ == "__main__":
    preview(ComparePanel)
