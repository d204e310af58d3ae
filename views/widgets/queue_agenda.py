"""The failure queue's groups in the review's agenda order, edited by the keyboard.

Each row is a group: why its failures belong together, how many, their share of all failures,
the slice's error rate with its 95% interval, status, owner, cause tags, decision. With a group
selected, the number keys toggle the cause tags of the taxonomy in order, letters record a
decision (c collect, g golden set, r rule, l relabel, t retrain, f fix, n none), and
Ctrl+Z / Ctrl+Shift+Z ask for undo and redo. The widget changes nothing itself: it emits each
change as a :class:`~analysis.queue.edits.QueueEdit` (``sig_edit``), so whoever holds the undo
history (the window's Session, or a preview's plain loop) applies it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from analysis.queue.edits import decide, toggle_tag
from analysis.queue.failure_queue import FailureQueue, Group
from views.widgets.elided_label import ElidedLabel

COLUMNS = ("Group", "Failures", "Share", "Error rate (95% CI)", "Status", "Owner", "Tags", "Decision")
DECISION_KEYS = {Qt.Key_C: "collect", Qt.Key_G: "golden", Qt.Key_R: "rule", Qt.Key_L: "relabel",
                 Qt.Key_T: "retrain", Qt.Key_F: "fix", Qt.Key_N: "none"}
TAG_KEYS = [getattr(Qt, f"Key_{n}") for n in range(1, 10)]
DECISION_COLUMN = COLUMNS.index("Decision")


def error_rate_text(group: Group) -> str:
    """The group's slice error rate with its Wilson interval, as the agenda and meeting show it."""
    rate, ci = group.evidence.get("error_rate"), group.evidence.get("ci")
    if rate is None:
        return ""
    interval = f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]" if ci else ""
    return f"{100 * rate:.1f}%{interval}"


def key_help(queue: FailureQueue) -> str:
    """What the keys do, naming the taxonomy's first nine tags by their number."""
    tags = ", ".join(f"{i + 1} {tag}" for i, (tag, _) in enumerate(queue.taxonomy()[:9]))
    return (f"Tags: {tags}. Decide: c collect, g golden, r rule, l relabel, t retrain, f fix, n none. "
            "Ctrl+Z undoes.")


def fit_group_column(tree: QTreeWidget) -> None:
    """The first column (what the meeting reads: a group's title, a request id) takes the room
    the others leave; they are as wide as their contents, so every number and name in them
    reads whole. At 1280x720 the titles had ~18 characters beside columns 100 px wide each."""
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(QHeaderView.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.Stretch)


def _group_tip(group: Group) -> str:
    """The whole title, then the slice it stands for or why its failures are together."""
    detail = group.slice.name if group.slice else group.reason
    return group.title if not detail or detail == group.title else f"{group.title}\n{detail}"


class QueueAgenda(QWidget):
    sig_edit = Signal(object)  # a QueueEdit to apply
    sig_undo = Signal()
    sig_redo = Signal()
    sig_group_selected = Signal(object)  # the group id, or None
    sig_open_group = Signal(object)  # a Group: show its slice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue: FailureQueue | None = None
        self.editable = True
        self.caption = ElidedLabel()  # one line: rows of the agenda before the legend (whole in its tooltip)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        fit_group_column(self.tree)
        self.tree.itemActivated.connect(lambda item, _col: self.sig_open_group.emit(self.queue.group(self._id(item))))
        self.tree.currentItemChanged.connect(lambda *_: self.sig_group_selected.emit(self.selected_group()))
        self.tree.installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.tree)

    def show_queue(self, queue: FailureQueue | None, editable: bool = True) -> None:
        """Show ``queue`` (None: nothing); keys edit it only when ``editable``."""
        self.queue, self.editable = queue, editable
        self.refresh()

    def refresh(self) -> None:
        """Redraw the groups, keeping the selected one selected."""
        selected = self.selected_group()
        self.tree.blockSignals(True)
        self.tree.clear()
        groups = self.queue.agenda() if self.queue is not None else []
        total = self.queue.total_failures() if self.queue is not None else 0
        for group in groups:
            share = group.failures / total if total else 0.0
            item = QTreeWidgetItem([group.title, f"{group.failures:,}", f"{100 * share:.1f}%", error_rate_text(group),
                                    group.status, group.owner or "", ", ".join(group.tags), group.decision or ""])
            item.setData(0, Qt.UserRole, group.id)
            item.setToolTip(0, _group_tip(group))
            self.tree.addTopLevelItem(item)
            if group.id == selected:
                self.tree.setCurrentItem(item)
        if self.tree.currentItem() is None and groups:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.tree.blockSignals(False)
        summary = f"{len(groups)} groups, {total:,} failures."
        self.caption.setText(f"{summary} {key_help(self.queue)}" if self.queue is not None and self.editable
                             else summary)
        self.sig_group_selected.emit(self.selected_group())

    def selected_group(self) -> int | None:
        item = self.tree.currentItem()
        return self._id(item) if item is not None else None

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.tree and event.type() == event.Type.KeyPress and self._handle_key(event):
            return True
        return super().eventFilter(watched, event)

    def _handle_key(self, event) -> bool:
        if event.matches(QKeySequence.Undo):
            self.sig_undo.emit()
            return True
        if event.matches(QKeySequence.Redo):
            self.sig_redo.emit()
            return True
        group_id = self.selected_group()
        if (group_id is None or not self.editable or self.queue is None
                or event.modifiers() not in (Qt.NoModifier, Qt.KeypadModifier)):
            return False
        if event.key() in DECISION_KEYS:
            self.sig_edit.emit(decide(group_id, DECISION_KEYS[event.key()]))
            return True
        if event.key() in TAG_KEYS:
            taxonomy = [tag for tag, _ in self.queue.taxonomy()]
            index = TAG_KEYS.index(event.key())
            if index < len(taxonomy):
                self.sig_edit.emit(toggle_tag(self.queue, group_id, taxonomy[index]))
            return True
        return False

    @staticmethod
    def _id(item: QTreeWidgetItem) -> int:
        return int(item.data(0, Qt.UserRole))
