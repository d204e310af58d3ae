"""The dataset/workspace sidebar: what is open, what each log is, and what is wrong with it.

Selecting a dataset makes it the active one; its roles, label coverage and the findings of the
log checks are listed underneath, so the mapping Sleuth guessed is always in view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from analysis.report.formatting import escape_html
from app.commands import SetActive
from app.state import Changes, Session
from app.tasks import TaskRunner
from views.panel import Panel, preview

SEVERITY_MARK = {"error": "⛔", "warning": "⚠", "info": "ℹ"}


class DataSidebar(Panel):
    """Lists open datasets; emits intents for the window to act on."""

    title = "Data"
    listens_to = frozenset({"workspace", "datasets", "active", "roles", "issues"})
    sig_edit_roles = Signal(str)
    sig_close_dataset = Signal(str)

    def __init__(self, session: Session, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.workspace_label = QLabel()
        self.workspace_label.setWordWrap(True)
        self.list = QListWidget()
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.roles_button = QPushButton("Column roles…")
        self.roles_button.setToolTip("Check or change which column is the label, score, version… (Ctrl+R)")
        self.roles_button.clicked.connect(self._edit_roles)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.details)
        lower_layout.addWidget(self.roles_button)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(lower)
        splitter.setSizes([140, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.workspace_label)
        layout.addWidget(self.with_empty_state(splitter), 1)
        self.follow_session()

    def focus_widget(self) -> QWidget:
        return self.list

    def refresh(self, changes: Changes) -> None:
        if changes.workspace:
            workspace = self.session.workspace
            self.workspace_label.setText(
                f"Workspace: <b>{workspace.path.name}</b>" if workspace else "Workspace: <i>not saved</i> (Ctrl+S)"
            )
            self.workspace_label.setToolTip(str(workspace.path) if workspace else "")
        if changes.datasets or changes.active:
            self._fill_list()
        if changes.datasets or changes.active or changes.roles or changes.issues:
            self._fill_details()
        self.rendered()

    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for name, opened in self.session.datasets.items():
            dataset = opened.dataset
            kind = "training snapshot" if opened.kind == "training" else opened.roles.task.value
            item = QListWidgetItem(f"{name}\n{dataset.row_count:,} rows · {dataset.format} · {kind}")
            item.setData(Qt.UserRole, name)
            item.setToolTip("\n".join(dataset.paths[:20]) + ("\n…" if len(dataset.paths) > 20 else ""))
            self.list.addItem(item)
            if name == self.session.active_name:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _fill_details(self) -> None:
        opened = self.session.active
        self.roles_button.setEnabled(opened is not None)
        if opened is None:
            self.show_empty("No data open. Open a prediction log or a training snapshot with "
                            "<b>File &gt; Open</b> (Ctrl+O), or drop its files on the window.")
            return
        self.show_content()
        roles, dataset = opened.roles, opened.dataset
        rows = [
            ("Task", roles.task.value + (f" (positive: {roles.positive_class})" if roles.positive_class else "")),
            ("Label", roles.label), ("Prediction", roles.prediction),
            ("Score", ", ".join(roles.scores) or None), ("Version", roles.model_version),
            ("Time", roles.timestamp), ("Id", roles.id), ("Features", f"{len(roles.features)} columns"),
        ]
        html = ["<table cellspacing=2>"]
        html += [f"<tr><td><b>{k}</b></td><td>{escape_html(v) if v else '<i>not set</i>'}</td></tr>" for k, v in rows]
        html.append("</table>")
        if dataset.report.skipped:
            html.append(f"<p><b>Skipped while loading</b> ({len(dataset.report.skipped)}):</p><ul>")
            html += [f"<li>{escape_html(s.file)} line {s.line}: {escape_html(s.reason)}</li>" for s in dataset.report.skipped[:20]]
            html.append("</ul>")
        notes = [("warning", w) for w in dataset.report.warnings]
        notes += [(issue.severity, issue.message) for issue in opened.issues]
        if notes:
            html.append("<p><b>Checks</b></p><ul>")
            html += [f"<li>{SEVERITY_MARK.get(level, '')} {escape_html(text)}</li>" for level, text in notes]
            html.append("</ul>")
        self.details.setHtml("".join(html))

    def _on_current(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None:
            self.session.run(SetActive(current.data(Qt.UserRole)))

    def _edit_roles(self) -> None:
        if self.session.active_name:
            self.sig_edit_roles.emit(self.session.active_name)

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        name = item.data(Qt.UserRole)
        menu = QMenu(self)
        menu.addAction("Column roles…", lambda: self.sig_edit_roles.emit(name))
        menu.addAction("Close", lambda: self.sig_close_dataset.emit(name))
        menu.exec(self.list.mapToGlobal(pos))


if __name__ == "__main__":
    preview(DataSidebar)
