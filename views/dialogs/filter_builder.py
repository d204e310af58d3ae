"""Point-and-click filter builder: pick a column, an operator and a value; get slice text.

The dialog writes slice text (never SQL); the window parses it like typed text, so a built
filter and a typed one are checked by the same parser and give the same errors.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from analysis.dataset import Column
from analysis.slices import name_text, quote_text

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "BETWEEN", "IS NULL", "IS NOT NULL")
NO_VALUE = ("IS NULL", "IS NOT NULL")


class FilterBuilder(QDialog):
    """Conditions joined with AND; ``text()`` is the slice text they make."""

    def __init__(self, columns: Sequence[Column], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Build a filter")
        self.resize(640, 240)
        self._columns = list(columns)
        self.rows: list[tuple[QComboBox, QComboBox, QLineEdit]] = []
        self.grid = QGridLayout()
        for col, title in enumerate(("Column", "Operator", "Value (IN: a, b, c · BETWEEN: low, high)")):
            self.grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
        add = QPushButton("Add condition")
        add.clicked.connect(self.add_condition)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Rows matching every condition are kept (AND), together with the current slice."))
        layout.addLayout(self.grid)
        layout.addWidget(add)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.add_condition()

    def add_condition(self) -> None:
        column = QComboBox()
        for c in self._columns:
            column.addItem(f"{c.name}  ({c.dtype.lower()})", c.name)
        operator = QComboBox()
        operator.addItems(OPERATORS)
        value = QLineEdit()
        operator.currentTextChanged.connect(lambda op, v=value: v.setEnabled(op not in NO_VALUE))
        row = len(self.rows) + 1
        self.grid.addWidget(column, row, 0)
        self.grid.addWidget(operator, row, 1)
        self.grid.addWidget(value, row, 2)
        self.rows.append((column, operator, value))

    def set_condition(self, index: int, column: str, operator: str, value: str = "") -> None:
        """Fill condition ``index`` as a user would (for tests and for prefilled dialogs)."""
        column_box, operator_box, value_edit = self.rows[index]
        column_box.setCurrentIndex(column_box.findData(column))
        operator_box.setCurrentText(operator)
        value_edit.setText(value)

    def text(self) -> str:
        parts = [self._condition_text(*row) for row in self.rows]
        return " AND ".join(p for p in parts if p)

    def _condition_text(self, column_box: QComboBox, operator_box: QComboBox, value_edit: QLineEdit) -> str:
        name = column_box.currentData()
        op = operator_box.currentText()
        dtype = next(c.dtype for c in self._columns if c.name == name).upper()
        if op in NO_VALUE:
            return f"{name_text(name)} {op}"
        raw = value_edit.text().strip()
        if not raw:
            return ""
        values = [_literal(v.strip(), dtype) for v in raw.split(",")] if op in ("IN", "NOT IN", "BETWEEN") else [
            _literal(raw, dtype)]
        if op in ("IN", "NOT IN"):
            return f"{name_text(name)} {op} ({', '.join(values)})"
        if op == "BETWEEN":
            low, high = (values + values)[:2]
            return f"{name_text(name)} BETWEEN {low} AND {high}"
        return f"{name_text(name)} {op} {values[0]}"


def _literal(text: str, dtype: str) -> str:
    """Booleans as TRUE/FALSE; everything else quoted (the parser converts numbers and dates)."""
    if dtype == "BOOLEAN" and text.lower() in ("true", "false"):
        return text.upper()
    return quote_text(text)
