"""A flow layout keeps a row of controls whole at any width: one row when there is room, more
rows (never a control cut or past the edge) when not, labels kept with their boxes."""

from PySide6.QtWidgets import QComboBox, QLineEdit, QVBoxLayout, QWidget

from tests.views.layout_check import overflowing
from views.widgets.flow_layout import FlowLayout, labelled


def _row(qtbot):
    window = QWidget()
    controls = QWidget()
    row = FlowLayout(controls)
    boxes = []
    for text in ("By", "and", "Metric", "Version"):
        box = QComboBox()
        box.addItem(f"a choice as long as {text}'s")
        boxes.append(box)
        row.addWidget(labelled(text, box))
    edges = QLineEdit()
    edges.setPlaceholderText("e.g. 0, 50, 200")
    row.addWidget(edges)
    column = QVBoxLayout(window)
    column.addWidget(controls)
    column.addStretch(1)
    qtbot.addWidget(window)
    window.show()
    return window, controls, boxes + [edges]


def _span(controls, widget) -> tuple[int, int]:
    top = widget.mapTo(controls, widget.rect().topLeft()).y()
    return top, top + widget.height()


def _rows(controls, widgets) -> int:
    """How many rows the widgets take: a widget starting below the current row's bottom starts another."""
    rows, bottom = 0, -1
    for top, end in sorted(_span(controls, widget) for widget in widgets):
        if top >= bottom:
            rows, bottom = rows + 1, end
    return rows


def test_one_row_when_wide_and_more_rows_with_nothing_cut_when_narrow(qtbot):
    window, controls, widgets = _row(qtbot)
    window.resize(controls.sizeHint().width() + 40, 200)
    qtbot.waitUntil(lambda: _rows(controls, widgets) == 1)
    assert overflowing(window) == []
    one_row = controls.height()
    window.resize(controls.sizeHint().width() // 2, 200)
    qtbot.waitUntil(lambda: _rows(controls, widgets) > 1)
    assert overflowing(window) == []
    assert controls.height() > one_row  # the panel gives the second row its height
    for box in widgets[:-1]:  # each label stays beside its box
        label = box.parentWidget().layout().itemAt(0).widget()
        assert label.buddy() is box and _rows(controls, [label, box]) == 1


def test_the_layout_is_never_narrower_than_its_widest_item(qtbot):
    window, controls, widgets = _row(qtbot)
    widest = max(widget.parentWidget().sizeHint().width() if widget.parentWidget() is not controls
                 else widget.minimumSizeHint().width() for widget in widgets)
    assert controls.minimumSizeHint().width() >= widest
    assert controls.minimumSizeHint().width() < controls.sizeHint().width() // 2
