"""Data > Join labels: which labels file to join to the active log, and on which of its columns.

The id column may stay empty: the join then takes the labels column whose values match the
log's ids. The file is picked with the usual file dialog or typed.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from views.widgets import file_dialogs


class JoinLabelsDialog(QDialog):
    """``path()`` and ``id_column()`` after ``exec()``; OK stays disabled until a file is named."""

    def __init__(self, log_name: str, file_filter: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Join labels to {log_name}")
        self.resize(560, 140)
        self._filter = file_filter
        self.file = QLineEdit()
        self.file.setPlaceholderText("labels file, folder or glob (CSV, Parquet, JSON lines, SageMaker ground truth…)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(self.file)
        row_layout.addWidget(browse)
        self.on = QLineEdit()
        self.on.setPlaceholderText("empty: the column whose values match the log's ids")
        form = QFormLayout(self)
        form.addRow("Labels", row)
        form.addRow("Request id column", self.on)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.file.textChanged.connect(self._update_ok)
        self._update_ok()

    def path(self) -> str:
        return self.file.text().strip()

    def id_column(self) -> str | None:
        return self.on.text().strip() or None

    def _browse(self) -> None:
        path = file_dialogs.open_file(self, self.windowTitle(), self._filter)
        if path:
            self.file.setText(path)

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(bool(self.path()))
