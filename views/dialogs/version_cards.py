"""Edit version cards: give each model version a name and say what it is and what it serves.

The raw version string stays visible (the list's tooltip and the form's title), so nobody
loses track of which log value a name stands for.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from analysis.workspace.version_cards import VersionCard

FIELDS = (
    ("name", "Name", "How the team calls it, e.g. fallback, new-customers model"),
    ("serves", "Serves", "The traffic it serves, as a slice, e.g. segment = 'new' (empty: all)"),
    ("training_snapshot", "Training snapshot", "The snapshot it was trained on (a file path)"),
    ("model_file", "Model file", "The model file (skops preferred)"),
)


class VersionCardsDialog(QDialog):
    """One card per version; ``cards()`` gives the edited cards after ``exec()``."""

    def __init__(self, versions: list[str], cards: dict[str, VersionCard], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Version cards")
        self.resize(760, 460)
        self._cards = {v: cards.get(v, VersionCard(v)) for v in versions}
        self._current: str | None = None
        self.list = QListWidget()
        self.list.setMaximumWidth(260)
        for version in versions:
            item = QListWidgetItem(self._cards[version].display_name)
            item.setData(Qt.UserRole, version)
            item.setToolTip(f"model_version = {version}")
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._switch)
        self.title = QLabel()
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        form.addRow(self.title)
        for key, label, tip in FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(tip)
            edit.setToolTip(tip)
            self.edits[key] = edit
            form.addRow(label, edit)
        self.description = QPlainTextEdit()
        self.description.setPlaceholderText("What this version is and how it differs")
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Anything the team should remember")
        form.addRow("Description", self.description)
        form.addRow("Notes", self.notes)
        right = QWidget()
        right.setLayout(form)
        body = QHBoxLayout()
        body.addWidget(self.list)
        body.addWidget(right, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(buttons)
        if versions:
            self.list.setCurrentRow(0)

    def _switch(self, current: QListWidgetItem | None, _previous) -> None:
        self._keep_form()
        self._current = current.data(Qt.UserRole) if current else None
        card = self._cards.get(self._current) if self._current else None
        if card is None:
            return
        self.title.setText(f"<b>{card.version}</b>")
        for key, edit in self.edits.items():
            edit.setText(getattr(card, key))
        self.description.setPlainText(card.description)
        self.notes.setPlainText(card.notes)

    def _keep_form(self) -> None:
        if self._current is None:
            return
        values = {key: edit.text().strip() for key, edit in self.edits.items()}
        card = replace(self._cards[self._current], **values, description=self.description.toPlainText().strip(),
                       notes=self.notes.toPlainText().strip())
        self._cards[self._current] = card
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.UserRole) == self._current:
                self.list.item(row).setText(card.display_name)

    def select(self, version: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.UserRole) == version:
                self.list.setCurrentRow(row)

    def cards(self) -> list[VersionCard]:
        self._keep_form()
        return list(self._cards.values())
