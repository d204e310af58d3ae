"""The main window: docks, menus and the wiring between panels, the Session and the runner.

This is the only file that knows every panel. Panels never talk to each other; they watch the
Session and emit intents, which are connected here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QDataStream, QIODevice, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from analysis.data.open_log import LogOptions
from analysis.metrics.per_version import model_versions
from analysis.report.formatting import escape_html
from analysis.scope import Scope
from analysis.slicing.parser import SliceParseError
from analysis.slices import Range, Slice
from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import DatasetEntry, with_workspace_suffix
from views.panels.breakdown import BreakdownPanel
from views.panels.compare import ComparePanel
from views.panels.data_sidebar import DataSidebar
from views.panels.failing_slices import DiscoveryPanel
from views.dialogs.connect_spark import ConnectSparkDialog
from views.dialogs.filter_builder import FilterBuilder
from views.panels.findings import FindingsPanel
from views.panels.metrics import MetricsPanel
from views.widgets import file_dialogs
from views.widgets.header_elision import elide_headers
from views.widgets.notifications import NotificationArea
from views.dialogs.join_labels import JoinLabelsDialog
from views.dialogs.roles import RolesDialog
from views.widgets.slice_bar import SliceBar
from views.panels.table import TablePanel
from views.widgets.task_status import TaskStatus
from views.widgets.zoom import apply_zoom, next_zoom
from views.panels.time_plot import TimePlotPanel
from views.panels.trace import TracePanel
from views.dialogs.version_cards import VersionCardsDialog
from views.panel import Panel, narrow_slice

from app.actions import ACTIONS
from app.commands import (
    Decide,
    DeleteSlice,
    SaveSlice,
    SaveVersionCard,
    SetFindings,
    SetSlice,
    SliceBack,
    SliceForward,
)
from app.controller import AppController
from app.panel_layout import PanelMaximiser
from app.queue_wiring import add_queue_dock, start_meeting_mode
from app.state import Changes, Session
from app.tasks import TaskRunner

DATA_FILTER = "Data files (*.parquet *.pq *.csv *.tsv *.txt *.jsonl *.ndjson *.json *.arrow *.feather *.ipc *.duckdb *.db);;All files (*)"
WORKSPACE_FILTER = "Sleuth workspace (*.sleuth)"
RECENT_LIMIT = 10
LAYOUT_VERSION = 7
"""Bumped whenever the docks change, so a saved layout of older docks is not restored."""
PREFERRED_SIZE = QSize(1440, 900)
"""The first size where the screen has room for it: the table, two docks side by side and the plot."""
GEOMETRY_MAGIC = 0x1D9D0CB
"""What ``QWidget.saveGeometry`` writes first, before the saved frame rectangle."""


class MainWindow(QMainWindow):
    def __init__(self, session: Session, tasks: TaskRunner, controller: AppController,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.tasks = tasks
        self.controller = controller
        self.settings = settings or QSettings()
        file_dialogs.keep_folder_in(self.settings)
        self.setWindowTitle("Sleuth")
        self._fit_first_size()
        self.setAcceptDrops(True)
        self.notifications = NotificationArea()
        self.slice_bar = SliceBar(session, tasks)
        self.table_panel = TablePanel(session, tasks)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.notifications)
        column.addWidget(self.slice_bar)
        column.addWidget(self.table_panel, 1)
        self.setCentralWidget(central)
        self.docks: list[QDockWidget] = []  # in View-menu order; _dock appends
        self.sidebar = DataSidebar(session, tasks)
        self.metrics_panel = MetricsPanel(session, tasks)
        self.time_panel = TimePlotPanel(session, tasks)
        self.data_dock = self._dock(self.sidebar, Qt.LeftDockWidgetArea)
        self.metrics_dock = self._dock(self.metrics_panel, Qt.TopDockWidgetArea)
        self.time_dock = self._dock(self.time_panel, Qt.TopDockWidgetArea)
        self.splitDockWidget(self.metrics_dock, self.time_dock, Qt.Horizontal)
        self.breakdown_panel = BreakdownPanel(session, tasks)
        self.breakdown_dock = self._dock(self.breakdown_panel, Qt.TopDockWidgetArea)
        self.tabifyDockWidget(self.time_dock, self.breakdown_dock)
        self.discovery_panel = DiscoveryPanel(session, tasks)
        self.discovery_dock = self._dock(self.discovery_panel, Qt.TopDockWidgetArea)
        self.tabifyDockWidget(self.breakdown_dock, self.discovery_dock)
        self.compare_panel = ComparePanel(session, tasks)
        self.compare_dock = self._dock(self.compare_panel, Qt.TopDockWidgetArea)
        self.tabifyDockWidget(self.discovery_dock, self.compare_dock)
        self.trace_panel = TracePanel(session, tasks)
        self.trace_dock = self._dock(self.trace_panel, Qt.TopDockWidgetArea)
        self.tabifyDockWidget(self.compare_dock, self.trace_dock)
        self.findings_panel = FindingsPanel(session, tasks)
        self.findings_dock = self._dock(self.findings_panel, Qt.TopDockWidgetArea)
        self.tabifyDockWidget(self.trace_dock, self.findings_dock)
        add_queue_dock(self)
        self.time_dock.raise_()
        self.resizeDocks([self.data_dock], [270], Qt.Horizontal)
        self.resizeDocks([self.metrics_dock, self.time_dock], [520, 900], Qt.Horizontal)
        self.resizeDocks([self.metrics_dock], [380], Qt.Vertical)
        self.default_layout = self.saveState(LAYOUT_VERSION)
        self.maximiser = PanelMaximiser(self, self.docks, LAYOUT_VERSION)
        self.base_font = QApplication.font()
        self.zoom = 1.0
        self.row_count_label = QLabel()
        self.statusBar().addWidget(self.row_count_label, 1)
        self.statusBar().addPermanentWidget(TaskStatus(tasks))
        self.actions_by_id: dict[str, QAction] = {}
        self._build_menus()
        self.sidebar.sig_edit_roles.connect(self.edit_roles)
        self.time_panel.sig_time_range.connect(self.select_time_range)
        for panel in (self.breakdown_panel, self.compare_panel):
            panel.sig_open_slice.connect(lambda predicate: narrow_slice(session, predicate))
        self.discovery_panel.sig_open_slice.connect(lambda predicate: session.run(SetSlice(Slice(predicate))))
        self.trace_panel.sig_open_training_rows.connect(controller.open_rows)
        self.trace_panel.sig_open_log_rows.connect(controller.show_rows)
        self.findings_panel.sig_checked.connect(
            lambda run: session.run(SetFindings(run.findings, run.dataset.name, run.profile_json, run.reference,
                                                run.choice)))
        self.findings_panel.check_on_open = self.settings.value("checks/on_open", True, type=bool)
        self.findings_panel.sig_open_finding.connect(self.open_finding)
        self.findings_panel.sig_decide.connect(lambda decision: session.run(Decide(decision)))
        self.sidebar.sig_close_dataset.connect(controller.close_dataset)
        controller.message.connect(self.notifications.show_message)
        controller.pull_offered.connect(self._offer_pull_later)
        self._connect_slice_bar()
        tasks.sig_error.connect(self._show_task_error)
        session.changed.connect(self.refresh)
        elide_headers(self)
        self._restore_settings()
        self.refresh(Changes(datasets=True, active=True, workspace=True))

    def _connect_slice_bar(self) -> None:
        bar, session = self.slice_bar, self.session
        bar.sig_apply_text.connect(self.apply_filter)
        bar.sig_back.connect(lambda: session.run(SliceBack()))
        bar.sig_forward.connect(lambda: session.run(SliceForward()))
        bar.sig_save.connect(lambda name: session.run(SaveSlice(Slice(session.current_slice.predicate, name))))
        bar.sig_open_saved.connect(lambda name: session.run(SetSlice(session.saved_slices[name])))
        bar.sig_delete_saved.connect(lambda name: session.run(DeleteSlice(name)))
        bar.sig_build.connect(self.build_filter)

    def apply_filter(self, text: str) -> None:
        try:
            self.controller.apply_filter(text)
        except SliceParseError as exc:
            self.slice_bar.show_error(str(exc), exc.position)

    def open_finding(self, finding) -> None:
        """The finding's rows and time window become the current slice; every panel follows."""
        name = f"{finding.kind}: {', '.join(finding.columns)}"
        self.session.run(SetSlice(Slice(finding.slice, name)))

    def select_time_range(self, start, end) -> None:
        opened = self.session.active
        if opened is not None and opened.roles.timestamp:
            narrow_slice(self.session, Range(opened.roles.timestamp, start, end))

    def build_filter(self) -> None:
        opened = self.session.active
        if opened is None:
            return
        dialog = FilterBuilder(opened.dataset.columns, self)
        if dialog.exec():
            current = self.slice_bar.typed_text()
            added = dialog.text()
            self.apply_filter(f"({current}) AND {added}" if current and added else added or current)

    def _dock(self, panel: Panel, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(panel.title, self)
        dock.setObjectName(panel.title.replace(" ", "_") + "_dock")
        dock.setWidget(panel)
        dock.setFocusPolicy(Qt.ClickFocus)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable
                         | QDockWidget.DockWidgetFloatable)
        dock.visibilityChanged.connect(panel.set_in_front)  # a tab behind another waits until chosen
        self.addDockWidget(area, dock)
        self.docks.append(dock)
        return dock

    def _build_menus(self) -> None:
        handlers = {
            "open": self.choose_files, "open_folder": self.choose_folder, "connect_spark": self.connect_spark,
            "open_workspace": self.choose_workspace, "save_workspace_as": self.choose_save_workspace,
            "close_dataset": self.close_active, "quit": self.close,
            "undo": self.undo, "redo": self.redo, "copy": self.table_panel.copy_selection,
            "find": self.table_panel.show_find, "filter": self.slice_bar.focus, "cancel_jobs": self.tasks.cancel_all,
            "roles": lambda: self.edit_roles(self.session.active_name),
            "version_cards": self.edit_version_cards,
            "join_labels": self.choose_labels,
            "show_data": lambda: self._focus(self.data_dock),
            "show_table": lambda: self.table_panel.focus_widget().setFocus(),
            "show_metrics": lambda: self._focus(self.metrics_dock),
            "show_time": lambda: self._focus(self.time_dock),
            "show_breakdown": lambda: self._focus(self.breakdown_dock),
            "show_discovery": lambda: self._focus(self.discovery_dock),
            "show_findings": lambda: self._focus(self.findings_dock),
            "show_compare": lambda: self._focus(self.compare_dock),
            "show_trace": lambda: self._focus(self.trace_dock),
            "show_queue": lambda: self._focus(self.queue_dock),
            "meeting": lambda: start_meeting_mode(self),
            "maximise_panel": lambda: self.maximiser.toggle(self.maximiser.dock_with_focus(self.focusWidget())),
            "zoom_in": lambda: self.set_zoom(next_zoom(self.zoom, 1)),
            "zoom_out": lambda: self.set_zoom(next_zoom(self.zoom, -1)),
            "zoom_reset": lambda: self.set_zoom(1.0),
            "reset_layout": self.reset_layout,
            "shortcuts": self.show_shortcuts, "about": self.show_about,
        }
        menus = {}
        for spec in ACTIONS:
            menu = menus.get(spec.menu) or menus.setdefault(spec.menu, self.menuBar().addMenu(spec.menu))
            if spec.separator_before:
                menu.addSeparator()
            action = QAction(spec.text, self)
            if spec.shortcut:
                action.setShortcut(QKeySequence(spec.shortcut))
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
            action.triggered.connect(lambda _checked=False, h=handlers[spec.id]: h())
            menu.addAction(action)
            self.actions_by_id[spec.id] = action
            if spec.id == "open_workspace":
                self.recent_menu = menu.addMenu("Open &recent")
        view_menu = menus["&View"]
        view_menu.addSeparator()
        for dock in self.docks:
            view_menu.addAction(dock.toggleViewAction())
        self._fill_recent_menu()

    def refresh(self, changes: Changes) -> None:
        opened = self.session.active
        if changes.active or changes.datasets or changes.workspace:
            workspace = self.session.workspace
            parts = ["Sleuth"]
            if opened:
                parts.insert(0, opened.name)
            if workspace:
                parts.insert(0 if not opened else 1, workspace.path.name)
            self.setWindowTitle(" — ".join(parts))
            self.row_count_label.setText(
                f"{opened.name}: {opened.dataset.row_count:,} rows · {opened.dataset.format} · "
                f"{len(opened.dataset.columns)} columns" + (f" · {opened.pulled.sentence}" if opened.pulled else "")
                if opened else "No data open"
            )
            self.actions_by_id["close_dataset"].setEnabled(opened is not None)
            self.actions_by_id["roles"].setEnabled(opened is not None)
            self.actions_by_id["join_labels"].setEnabled(opened is not None)
        if changes.workspace and self.session.workspace is not None:
            self._remember_recent(str(self.session.workspace.path))
        self.actions_by_id["undo"].setEnabled(self.session.can_undo)
        self.actions_by_id["redo"].setEnabled(self.session.can_redo)

    def open_paths(self, paths: list[str]) -> None:
        workspaces = [p for p in paths if p.endswith(".sleuth")]
        if workspaces:
            self.controller.open_workspace(workspaces[0])
            return
        for path in paths:
            self._remember_recent(path)
        self.controller.open_paths(paths)

    def choose_files(self) -> None:
        paths = file_dialogs.open_files(self, "Open prediction log", DATA_FILTER)
        if paths:
            self.open_paths(paths)

    def choose_folder(self) -> None:
        folder = file_dialogs.open_folder(self, "Open a folder of log files")
        if folder:
            self.open_paths([folder])

    def connect_spark(self) -> None:
        """File > Connect to Spark…: pull a table's rows (a sample when it has more) and open them as a log."""
        dialog = ConnectSparkDialog(self.settings, self)
        if dialog.exec():
            self.controller.pull_from_spark(dialog.url(), dialog.source())

    def _offer_pull_later(self, entry: DatasetEntry) -> None:
        """:meth:`offer_pull` once the event loop runs (a workspace's open shows the window first).
        A method, not a lambda, as the slot of the controller's and runner's signals: they
        outlive a closed window, and a lambda holding the window kept it and its plots alive."""
        deferred(lambda: self.offer_pull(entry))

    def _show_task_error(self, _task, text: str) -> None:
        """A job's failure, in the notification area (the runner's one sentence)."""
        self.notifications.show_message("error", text)

    def offer_pull(self, entry: DatasetEntry) -> None:
        """A reopened workspace's log that was pulled from Spark: its rows were a temporary
        sample, so offer to pull them again (the token, never kept, is typed again)."""
        source = entry.spark
        note = (f"<b>{escape_html(entry.name)}</b> was pulled from <code>{escape_html(source.table)}</code> on "
                f"{escape_html(source.url)}; the workspace "
                f"keeps where from, not the rows. Pull it again? (Add the token to the URL if the cluster needs one.)")
        dialog = ConnectSparkDialog(self.settings, self, offered=source, note=note)
        if dialog.exec():
            self.controller.pull_from_spark(dialog.url(), dialog.source(), name=entry.name, roles=entry.roles,
                                            options=LogOptions(labels=entry.labels, on=entry.labels_on))

    def choose_workspace(self) -> None:
        path = file_dialogs.open_file(self, "Open workspace", WORKSPACE_FILTER)
        if path:
            self.controller.open_workspace(path)

    def choose_save_workspace(self) -> None:
        path = file_dialogs.save_file(self, "Save workspace as", "", WORKSPACE_FILTER)
        if not path:
            return
        target = with_workspace_suffix(path)
        # The dialog asked about the name as typed; a name that gained ".sleuth" is asked here.
        if target != Path(path) and target.exists() and not self._confirm_replace(target):
            return
        if self.controller.save_workspace_as(target):
            self.notifications.show_message("info", f"Workspace saved to {target}; every later edit is saved at once.")

    def _confirm_replace(self, target: Path) -> bool:
        answer = QMessageBox.question(self, "Replace workspace?", f"{target.name} already exists. Replace it?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def close_active(self) -> None:
        if self.session.active_name:
            self.controller.close_dataset(self.session.active_name)

    def choose_labels(self) -> None:
        """Data > Join labels: name the labels file (and its id column); the join runs as a job."""
        name = self.session.active_name
        if name is None:
            return
        dialog = JoinLabelsDialog(name, DATA_FILTER, self)
        if dialog.exec():
            self.controller.join_labels(name, dialog.path(), dialog.id_column())

    def edit_roles(self, name: str | None) -> None:
        opened = self.session.datasets.get(name) if name else None
        if opened is None:
            return
        dialog = RolesDialog(opened.dataset, opened.roles, self, kind=opened.kind)
        if dialog.exec() and dialog.roles() != opened.roles:
            self.controller.set_roles(name, dialog.roles())

    def edit_version_cards(self) -> None:
        """Name the active log's versions; the dialog opens once the versions are listed."""
        opened = self.session.active
        if opened is None or opened.roles.model_version is None:
            self.notifications.show_message("info", "The active log has no model version column.")
            return
        self.tasks.submit(model_versions, Scope(self.session.store, opened.dataset, opened.roles),
                          key="version-cards", on_result=self._show_version_cards)

    def _show_version_cards(self, versions: list[str]) -> None:
        dialog = VersionCardsDialog(versions, self.session.version_cards, self)
        if not dialog.exec():
            return
        with self.session.batch():
            for card in dialog.cards():
                if card != self.session.version_cards.get(card.version, VersionCard(card.version)):
                    self.session.run(SaveVersionCard(card))

    def undo(self) -> None:
        label = self.session.undo()
        if label:
            self.statusBar().showMessage(f"Undone: {label}", 3000)

    def redo(self) -> None:
        label = self.session.redo()
        if label:
            self.statusBar().showMessage(f"Redone: {label}", 3000)

    def set_zoom(self, factor: float) -> None:
        """Scale every font of the window (plots too) by ``factor``; remembered for the next start."""
        self.zoom = factor
        apply_zoom(self.base_font, factor, self)
        self.settings.setValue("zoom", factor)

    def reset_layout(self) -> None:
        """Every dock back where it was at first start, shown (View > Reset layout)."""
        self.maximiser.restore()
        self.restoreState(self.default_layout, LAYOUT_VERSION)

    def _focus(self, dock: QDockWidget) -> None:
        self.maximiser.restore()
        dock.show()
        dock.raise_()
        target = dock.widget().focus_widget()
        # A panel showing its empty state hides that widget; the dock then takes the focus, so
        # the maximise key still knows which panel was brought forward.
        (target if target.isVisible() else dock).setFocus()

    def show_shortcuts(self) -> None:
        lines = [f"<tr><td><b>{a.shortcut}</b></td><td>{a.text.replace('&', '')}</td></tr>" for a in ACTIONS if a.shortcut]
        QMessageBox.information(self, "Keyboard shortcuts", "<table>" + "".join(lines) + "</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Sleuth", "<b>Sleuth</b><br>Debug ML models in production: "
                          "slice prediction logs, compare versions, find broken inputs.<br>Apache-2.0")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def _remember_recent(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        self.settings.setValue("recent", [path] + recent[: RECENT_LIMIT - 1])
        if path.endswith(".sleuth"):
            self.settings.setValue("last_workspace", path)
        self._fill_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            self.recent_menu.addAction(path, lambda p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _fit_first_size(self) -> None:
        """Open at the preferred size, or the screen's free area when that is smaller, frame
        included, centred in it: at 1440x900 a 1280x720 screen cut the slice bar's *Build…*, the
        time range and the plot's end."""
        available = _available_area()
        if available is None:
            self.resize(PREFERRED_SIZE)
            return
        self.create()  # the native window knows its frame's margins, so the frame fits too
        room = available.marginsRemoved(self.windowHandle().frameMargins())
        size = PREFERRED_SIZE.boundedTo(room.size())
        self.setGeometry(QRect(room.topLeft(), size).translated(
            (room.width() - size.width()) // 2, (room.height() - size.height()) // 2))

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray) and _fits_screen(_saved_frame(geometry)):
            self.restoreGeometry(geometry)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)
        zoom = _saved_zoom(self.settings.value("zoom", 1.0))
        if zoom != 1.0:
            self.set_zoom(zoom)

    def closeEvent(self, event) -> None:
        self.maximiser.restore()  # the layout kept is the arranged one, not one panel alone
        QApplication.setFont(self.base_font)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState(LAYOUT_VERSION))
        self.tasks.shutdown()
        self.controller.close_clusters()
        super().closeEvent(event)


def _available_area() -> QRect | None:
    """The primary screen's area free of panels and docks, None without a screen."""
    screen = QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else None


def _saved_frame(geometry: QByteArray) -> QRect | None:
    """The window frame kept by ``saveGeometry``, None when the bytes are not a saved geometry
    (settings are a file anyone can edit). Its layout opens with the magic number, two version
    numbers and the frame rectangle in every version Qt has written."""
    stream = QDataStream(geometry, QIODevice.ReadOnly)
    magic = stream.readUInt32()
    stream.readUInt16()
    stream.readUInt16()
    frame = QRect()
    stream >> frame
    return frame if magic == GEOMETRY_MAGIC and stream.status() == QDataStream.Ok and frame.isValid() else None


def _fits_screen(frame: QRect | None) -> bool:
    """Whether a saved frame lies inside today's screen: a geometry saved on a larger monitor would
    otherwise be squeezed and moved by Qt, at no size the user chose."""
    available = _available_area()
    return frame is not None and (available is None or available.contains(frame))


def _saved_zoom(value) -> float:
    """The zoom kept in the settings, as one of the zoom steps; 1.0 when unreadable (settings are
    a file anyone can edit)."""
    try:
        return next_zoom(float(value), 0)
    except (TypeError, ValueError):
        return 1.0


def deferred(callback) -> None:
    """Run ``callback`` once the event loop has started (so the window paints first)."""
    QTimer.singleShot(0, callback)
