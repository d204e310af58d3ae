"""The column-roles dialog: see the mapping Sleuth detected and correct it.

One combo box per column; choosing a single role (label, id...) for a column hands that role
over from the column that had it, which becomes a feature, so no column silently vanishes.
The roles a person sets are recorded in the mapping (``RoleMap.chosen``): for a training
snapshot, the label and id set here are the ones ``trace`` and ``suspects`` use, over what the
model file or the names would say.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from analysis.dataset import Dataset
from analysis.data.roles import SINGLE_ROLES, Role, RoleMap, TaskType, role_problem

ROLE_LABELS = {
    Role.ID: "id",
    Role.TIMESTAMP: "timestamp",
    Role.MODEL_VERSION: "model version",
    Role.LABEL: "label",
    Role.PREDICTION: "prediction",
    Role.SCORE: "score / probability",
    Role.FEATURE: "feature",
    Role.IGNORED: "ignored",
}


HINTS = {
    "log": "Sleuth guessed these roles from names, types and values. Correct any that are wrong; "
           "the choice is saved in the workspace.",
    "training": "A training snapshot: Sleuth reads its label from the model file when there is one, else "
                "from the names. A label or id set here is used by trace and suspects instead, and is saved "
                "in the workspace.",
}


class RolesDialog(QDialog):
    """Edit a :class:`RoleMap`; ``roles()`` gives the result after ``exec()``."""

    def __init__(self, dataset: Dataset, roles: RoleMap, parent=None, kind: str = "log") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Column roles — {dataset.name}")
        self.resize(560, 560)
        self._dataset = dataset
        self._roles = roles
        self._chosen = set(roles.chosen)
        self.table = QTableWidget(len(dataset.columns), 3)
        self.table.setHorizontalHeaderLabels(["Column", "Type", "Role"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.combos: dict[str, QComboBox] = {}
        for row, column in enumerate(dataset.columns):
            self.table.setItem(row, 0, _readonly(column.name))
            self.table.setItem(row, 1, _readonly(column.dtype))
            combo = QComboBox()
            for role, text in ROLE_LABELS.items():
                combo.addItem(text, role)
            combo.currentIndexChanged.connect(lambda _i, name=column.name: self._on_role(name))
            self.table.setCellWidget(row, 2, combo)
            self.combos[column.name] = combo
        self.task_box = QComboBox()
        for task in TaskType:
            self.task_box.addItem(task.value, task)
        self.positive = QLineEdit()
        self.positive.setPlaceholderText("label value counted as positive, e.g. 1 or fraud")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(3)
        self.threshold.setToolTip("Decision threshold on the score when the log has no prediction column")
        form = QFormLayout()
        form.addRow("Task", self.task_box)
        form.addRow("Positive class", self.positive)
        form.addRow("Threshold", self.threshold)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        hint = QLabel(HINTS.get(kind, HINTS["log"]))
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        self.refusal = QLabel()
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet("color: palette(highlight); font-weight: bold")
        self.refusal.hide()
        layout.addWidget(self.refusal)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._show(roles)

    def _show(self, roles: RoleMap) -> None:
        self._roles = roles
        for name, combo in self.combos.items():
            combo.blockSignals(True)
            combo.setCurrentIndex(list(ROLE_LABELS).index(roles.role_of(name)))
            combo.blockSignals(False)
        self.task_box.setCurrentIndex(list(TaskType).index(roles.task))
        self.positive.setText(roles.positive_class or "")
        self.threshold.setValue(roles.threshold)

    def _on_role(self, column: str) -> None:
        """Apply a choice, or refuse it here in a sentence when the column's type cannot play
        the role: applied, it would make every panel's query fail (raw SQL errors, a panel left
        computing) instead of one clear line where the choice was made."""
        role = Role(self.combos[column].currentData())  # Qt hands str-enums back as plain text
        problem = role_problem(self._dataset.column(column), role)
        self.refusal.setText(problem or "")
        self.refusal.setVisible(bool(problem))
        if problem:
            self._show(self._roles)
            return
        if role in SINGLE_ROLES:
            self._chosen.add(role.value)
        self._show(self.roles().with_role(column, role))

    def set_role(self, column: str, role: Role) -> None:
        """Choose a role as a user would with the combo box (used by tests and shortcuts)."""
        self.combos[column].setCurrentIndex(list(ROLE_LABELS).index(role))

    def roles(self) -> RoleMap:
        positive = self.positive.text().strip() or None
        return replace(self._roles, task=TaskType(self.task_box.currentData()), positive_class=positive,
                       threshold=float(self.threshold.value()), chosen=tuple(sorted(self._chosen)))


def _readonly(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
    return item
