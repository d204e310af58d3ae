"""The failure queue of the open workspace: its groups with their impact, and what the review
decides about them.

The agenda (:mod:`views.widgets.queue_agenda`) lists the groups, largest impact first, with
their status, owner, cause tags and decision; the list under it holds the selected group's
failures. Every change (keys in the agenda, the buttons: owner, status, decision with its
rationale, note, merge, split, move) is an :class:`~app.queue_commands.EditQueue` run by the
Session, so it is in the workspace when made and Edit > Undo takes it back. A workspace open
in another Sleuth is shown read-only, with a banner that says so.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis.errors import InputError
from analysis.queue.edits import AddNote, MergeGroups, MoveItems, QueueEdit, SetGroupFields, SplitGroup, decide
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.schema import DECISIONS, STATUSES
from app.queue_commands import EditQueue
from app.state import Changes
from views.panel import Panel, preview
from views.queue_intake import add_to_queue
from views.widgets.elided_label import ElidedLabel
from views.widgets.queue_agenda import QueueAgenda

ITEM_COLUMNS = ("Request", "Version", "Label", "Prediction", "Loss", "Observed")
BANNER_STYLE = "background: #fff3cd; color: #664d03; padding: 6px; border: 1px solid #ffe69c;"
ERROR_STYLE = "background: #f8d7da; color: #58151c; padding: 6px; border: 1px solid #f1aeb5;"
SCOPE_SHOWN = 90
"""Characters of an intake's row condition shown in the panel (a row list can be long)."""


class QueuePanel(Panel):
    """Groups of failures with their impact; status, owner, tags, decision, notes; merge, split, move."""

    listens_to = frozenset({"workspace", "queue"})
    title = "Failure queue"

    sig_open_slice = Signal(object)  # the group's slice predicate

    def __init__(self, session, tasks, parent: QWidget | None = None) -> None:
        super().__init__(session, tasks, parent)
        self.queue: FailureQueue | None = None
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.agenda = QueueAgenda()
        self.agenda.sig_edit.connect(self.run_edit)
        self.agenda.sig_undo.connect(self.session.undo)
        self.agenda.sig_redo.connect(self.session.redo)
        self.agenda.sig_group_selected.connect(self._show_items)
        self.agenda.sig_open_group.connect(lambda group: group.slice and self.sig_open_slice.emit(group.slice.predicate))
        self.items = QTreeWidget()
        self.items.setColumnCount(len(ITEM_COLUMNS))
        self.items.setHeaderLabels(ITEM_COLUMNS)
        self.items.setRootIsDecorated(False)
        self.items.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.items.header().setSectionResizeMode(QHeaderView.ResizeToContents)  # versions, times read whole
        self.buttons = {name: QPushButton(text) for name, text in (
            ("owner", "Owner…"), ("status", "Status…"), ("decide", "Decide…"), ("note", "Note…"),
            ("merge", "Merge into…"), ("split", "Split off selected…"), ("move", "Move selected to…"))}
        for name, button in self.buttons.items():
            button.clicked.connect(getattr(self, f"ask_{name}"))
        self.add_slice_button = QPushButton("Add failures of the current slice")
        self.add_slice_button.setToolTip("Queue every failed prediction of the current slice of the active log, grouped")
        self.add_slice_button.clicked.connect(lambda: add_to_queue(self, None, what="the current slice"))
        self.last_intake = ElidedLabel()  # one line: the agenda keeps the dock's rows (whole note in the tooltip)
        intake = QHBoxLayout()
        intake.addWidget(self.add_slice_button)
        intake.addWidget(self.last_intake, 1)
        row = QHBoxLayout()
        for button in self.buttons.values():
            row.addWidget(button)
        row.addStretch(1)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.agenda)
        splitter.addWidget(self.items)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 100])  # scaled to the dock: three quarters of a short dock for the groups
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(intake)
        column.addLayout(row)
        column.addWidget(splitter, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.with_empty_state(content), 1)
        self.follow_session()

    def refresh(self, changes: Changes) -> None:
        workspace = self.session.workspace
        if workspace is None:
            self.queue = None
            self.agenda.show_queue(None)
            self._say(None)
            self.show_empty("The failure queue lives in a workspace. Save one (File > Save workspace as…) "
                            "or open one, then queue failures from the table, a slice, compare or trace.")
            return
        self.queue = FailureQueue(workspace)
        editable = self.queue.read_only_reason is None
        self.agenda.show_queue(self.queue, editable)
        for button in (*self.buttons.values(), self.add_slice_button):
            button.setEnabled(editable)
        self.last_intake.setText(_intake_text(self.queue.intakes(), self.queue.last_intake_notes()))
        self._say(None if editable else f"Read-only: this workspace is {self.queue.read_only_reason}. "
                                        "Nothing you do here changes it.", BANNER_STYLE)
        self.show_content()
        self.rendered()

    def focus_widget(self) -> QWidget:
        return self.agenda.tree

    # --- edits -------------------------------------------------------------------------------

    def run_edit(self, edit: QueueEdit) -> bool:
        """Run one edit through the Session (undoable, in the workspace); a refusal is shown."""
        try:
            self.session.run(EditQueue(edit))
        except InputError as exc:
            self._say(str(exc), ERROR_STYLE)
            return False
        return True

    def selected_items(self) -> list[str]:
        return [item.data(0, Qt.UserRole) for item in self.items.selectedItems()]

    def ask_owner(self) -> None:
        group_id = self.agenda.selected_group()
        if group_id is None:
            return
        current = self.queue.group(group_id).owner or ""
        name, ok = QInputDialog.getText(self, "Owner", "Who takes this group?", text=current)
        if ok:
            self.run_edit(SetGroupFields(group_id, {"owner": name.strip() or None}, label=f"Owner: {name.strip()}"))

    def ask_status(self) -> None:
        group_id = self.agenda.selected_group()
        if group_id is None:
            return
        status, ok = QInputDialog.getItem(self, "Status", "Status of the group:", list(STATUSES),
                                          STATUSES.index(self.queue.group(group_id).status), False)
        if ok:
            self.run_edit(SetGroupFields(group_id, {"status": status}, label=f"Status: {status}"))

    def ask_decide(self) -> None:
        group_id = self.agenda.selected_group()
        if group_id is None:
            return
        decision, ok = QInputDialog.getItem(self, "Decide", "What to do about this group:", list(DECISIONS), 0, False)
        if not ok:
            return
        rationale, ok = QInputDialog.getText(self, "Decide", "Why (the rationale, kept with the decision):")
        if ok:
            self.run_edit(decide(group_id, decision, rationale.strip() or None))

    def ask_note(self) -> None:
        group_id = self.agenda.selected_group()
        if group_id is None:
            return
        text, ok = QInputDialog.getMultiLineText(self, "Note", "Note on this group:")
        if ok and text.strip():
            self.run_edit(AddNote(group_id, text.strip()))

    def ask_merge(self) -> None:
        group_id = self.agenda.selected_group()
        target = self._ask_group("Merge into", "Merge the selected group into:", exclude=group_id)
        if group_id is not None and target is not None:
            self.run_edit(MergeGroups(group_id, target))

    def ask_split(self) -> None:
        keys = self.selected_items()
        if not keys:
            self._say("Select the failures to split off in the list under the groups first.", ERROR_STYLE)
            return
        title, ok = QInputDialog.getText(self, "Split off", f"Title of the new group of {len(keys)} failures:")
        if ok and title.strip():
            self.run_edit(SplitGroup(keys, title.strip()))

    def ask_move(self) -> None:
        keys = self.selected_items()
        if not keys:
            self._say("Select the failures to move in the list under the groups first.", ERROR_STYLE)
            return
        target = self._ask_group("Move to", f"Move {len(keys)} failures to:", exclude=self.agenda.selected_group())
        if target is not None:
            self.run_edit(MoveItems(keys, target))

    def _ask_group(self, title: str, prompt: str, exclude: int | None) -> int | None:
        """A group chosen by its title (with its number, as titles may repeat)."""
        choices = {f"#{g.id} {g.title}": g.id for g in self.queue.groups() if g.id != exclude}
        if not choices:
            return None
        chosen, ok = QInputDialog.getItem(self, title, prompt, list(choices), 0, False)
        return choices[chosen] if ok else None

    # --- drawing -----------------------------------------------------------------------------

    def _show_items(self, group_id: int | None) -> None:
        self.items.clear()
        if self.queue is None or group_id is None:
            return
        frame = self.queue.items(group_id)
        for row in frame.itertuples(index=False):
            loss = "" if row.loss is None or row.loss != row.loss else f"{row.loss:.3f}"
            observed = "" if row.observed_at is None or str(row.observed_at) == "NaT" else str(row.observed_at)
            item = QTreeWidgetItem([str(row.row_key), str(row.version or ""), str(row.label), str(row.prediction),
                                    loss, observed])
            item.setData(0, Qt.UserRole, row.item_key)
            self.items.addTopLevelItem(item)

    def _say(self, text: str | None, style: str = BANNER_STYLE) -> None:
        """The banner: read-only, or why the last edit was refused; hidden when there is nothing."""
        self.banner.setVisible(bool(text))
        self.banner.setText(text or "")
        self.banner.setStyleSheet(style)


def _intake_text(intakes: list[dict], notes: list[str]) -> str:
    """The last intake, so a person who just added failures sees what happened to them (with
    its notes: a version traced in part, or not at all)."""
    if not intakes:
        return "Nothing queued yet."
    last = intakes[-1]
    condition = last["condition"] or ""
    scope = condition if len(condition) <= SCOPE_SHOWN else condition[:SCOPE_SHOWN] + "…"
    return (f"Last added {last['made_at']:%H:%M}: {last['added']:,} failures, {last['duplicates']:,} already queued "
            f"({scope}).") + "".join(f" Note: {note}." for note in notes)


if __name__ == "__main__":
    preview(QueuePanel)
