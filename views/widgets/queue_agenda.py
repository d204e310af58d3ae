"""The failure queue's groups in the review's agenda order, decided by the keyboard.

Each row is a group (why its failures belong together, how many, their share of all
failures, status, owner, cause tags, decision). With a group selected, the number keys toggle
the cause tags of the taxonomy in order, letters record a decision (c collect, g golden set,
r rule, l relabel, t retrain, f fix, n none), and Ctrl+Z / Ctrl+Shift+Z undo and redo. Every
change is a :class:`~analysis.queue.edits.QueueEdit` on a ``QUndoStack``, written to the
workspace when made.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from analysis.queue.edits import QueueEdit, apply, decide, revert, toggle_tag
from analysis.queue.failure_queue import FailureQueue

COLUMNS = ("Group", "Failures", "Share", "Status", "Owner", "Tags", "Decision")
DECISION_KEYS = {Qt.Key_C: "collect", Qt.Key_G: "golden", Qt.Key_R: "rule", Qt.Key_L: "relabel",
                 Qt.Key_T: "retrain", Qt.Key_F: "fix", Qt.Key_N: "none"}
TAG_KEYS = [getattr(Qt, f"Key_{n}") for n in range(1, 10)]


class _EditCommand(QUndoCommand):
    """A queue edit on Qt's undo stack: pushing applies it, undo reverts it, redo applies it again."""

    def __init__(self, queue: FailureQueue, edit: QueueEdit, done) -> None:
        super().__init__(edit.label)
        self._queue, self._edit, self._done = queue, edit, done

    def redo(self) -> None:
        apply(self._queue, self._edit)
        self._done()

    def undo(self) -> None:
        revert(self._queue, self._edit)
        self._done()


class QueuePanel(QWidget):
    sig_open_group = Signal(object)  # a Group: show its slice

    def __init__(self, queue: FailureQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.undo_stack = QUndoStack(self)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tree.itemActivated.connect(lambda item, _col: self.sig_open_group.emit(self.queue.group(self._id(item))))
        self.tree.installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.tree)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the groups, keeping the selected one selected."""
        selected = self.selected_group()
        total = self.queue.total_failures()
        groups = self.queue.agenda()
        self.tree.clear()
        for group in groups:
            share = group.failures / total if total else 0.0
            item = QTreeWidgetItem([group.title, f"{group.failures:,}", f"{100 * share:.1f}%", group.status,
                                    group.owner or "", ", ".join(group.tags), group.decision or ""])
            item.setData(0, Qt.UserRole, group.id)
            item.setToolTip(0, group.slice.name if group.slice else group.reason)
            self.tree.addTopLevelItem(item)
            if group.id == selected:
                self.tree.setCurrentItem(item)
        if self.tree.currentItem() is None and groups:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        tags = ", ".join(f"{i + 1} {tag}" for i, (tag, _) in enumerate(self.queue.taxonomy()[:9]))
        self.caption.setText(f"{len(groups)} groups, {total:,} failures. Tags: {tags}. Decide: c collect, "
                             "g golden, r rule, l relabel, t retrain, f fix, n none. Ctrl+Z undoes.")

    def selected_group(self) -> int | None:
        item = self.tree.currentItem()
        return self._id(item) if item is not None else None

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.tree and event.type() == event.Type.KeyPress and self._handle_key(event):
            return True
        return super().eventFilter(watched, event)

    def _handle_key(self, event) -> bool:
        if event.matches(QKeySequence.Undo):
            self.undo_stack.undo()
            return True
        if event.matches(QKeySequence.Redo):
            self.undo_stack.redo()
            return True
        group_id = self.selected_group()
        if group_id is None or event.modifiers() not in (Qt.NoModifier, Qt.KeypadModifier):
            return False
        if event.key() in DECISION_KEYS:
            self._push(decide(group_id, DECISION_KEYS[event.key()]))
            return True
        if event.key() in TAG_KEYS:
            self._toggle_tag(group_id, TAG_KEYS.index(event.key()))
            return True
        return False

    def _toggle_tag(self, group_id: int, index: int) -> None:
        taxonomy = [tag for tag, _ in self.queue.taxonomy()]
        if index < len(taxonomy):
            self._push(toggle_tag(self.queue, group_id, taxonomy[index]))

    def _push(self, edit: QueueEdit) -> None:
        self.undo_stack.push(_EditCommand(self.queue, edit, self.refresh))

    @staticmethod
    def _id(item: QTreeWidgetItem) -> int:
        return int(item.data(0, Qt.UserRole))


if __name__ == "__main__":  # preview: python -m views.widgets.queue_agenda WORKSPACE
    import sys

    from PySide6.QtWidgets import QApplication

    from analysis.workspace.workspace_file import Workspace

    app = QApplication(sys.argv)
    panel = QueuePanel(FailureQueue(Workspace.open(sys.argv[1])))
    panel.resize(1100, 500)
    panel.show()
    sys.exit(app.exec())
