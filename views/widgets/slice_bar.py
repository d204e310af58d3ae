"""The slice bar: the current slice as text, typed or built by pointing, with history.

Whatever sets the slice (typing here, a double-click on a breakdown group, a time range in
the plot, a discovered slice) shows up here as readable text, so the user always sees what
the table, metrics and plots are restricted to. The bar only emits intents; the window
turns them into commands.

While typing, a list offers what can come at the cursor (:mod:`analysis.slicing.completion`):
columns, the values of a text column (read once per column on the runner, never here), the
ML leaves and the saved slices. Tab takes the highlighted offer (the first when none is),
Down and Up move through them, Return takes a highlighted one or else applies the filter, Esc
closes the list; Down opens it when it is closed.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QCompleter,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from analysis.slices import Everything, to_text
from analysis.slicing.completion import Completion, category_values, resolvable_leaves, suggest
from analysis.slicing.parser import SliceParseError, parse_slice
from analysis.workspace.version_cards import with_card_names
from app.state import Changes, Session
from app.tasks import TaskRunner
from views.widgets.shortcut import shortcut

PLACEHOLDER = "Filter rows, e.g.  region = 'EU-West' AND amount > 500   (Enter to apply, Ctrl+L to focus)"
SYNTAX_TIP = (
    "Conditions on columns: region = 'EU-West', amount BETWEEN 10 AND 20, merchant_category IN ('a', 'b'), "
    "score IS NULL, prediction <> label; joined with AND, OR, NOT and parentheses.\n"
    "Conditions on what a row means (from the column roles): wrong, correct, unlabelled, "
    "flip('v1' -> 'v2', negative) (the requests v1 got right and v2 wrong; positive: the reverse).\n"
    "A model version may be written by its card's name: model_version = 'incumbent', flip('incumbent' -> 'challenger')."
)

LIST_KEYS = (Qt.Key_Escape, Qt.Key_Tab, Qt.Key_Return, Qt.Key_Enter)
"""Keys that act on the list of offers while it is open."""


class SliceBar(QWidget):
    sig_apply_text = Signal(str)
    sig_back = Signal()
    sig_forward = Signal()
    sig_save = Signal(str)
    sig_open_saved = Signal(str)
    sig_delete_saved = Signal(str)
    sig_build = Signal()

    def __init__(self, session: Session, tasks: TaskRunner | None = None, parent: QWidget | None = None) -> None:
        """``tasks`` reads the columns' values to offer; without a runner only names are offered."""
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self._values: dict[str, list] = {}  # the active dataset's column values read so far
        self._leaves: list = []  # the role leaves the active dataset can resolve
        self._completion = Completion(0, ())
        self.back = _tool("◀", "Previous slice (Alt+Left)", self.sig_back.emit)
        self.forward = _tool("▶", "Next slice (Alt+Right)", self.sig_forward.emit)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setClearButtonEnabled(True)
        self.edit.returnPressed.connect(lambda: self.sig_apply_text.emit(self.edit.text()))
        self.edit.textEdited.connect(lambda _t: self.error.setVisible(False))
        self.offers = QStandardItemModel(self)
        self.completer = QCompleter(self.offers, self)
        self.completer.setCompletionMode(QCompleter.UnfilteredPopupCompletion)
        self.completer.setWidget(self.edit)
        self.completer.activated[QModelIndex].connect(self._take)
        self.completer.popup().installEventFilter(self)  # after the completer's own filter: runs first
        self.edit.installEventFilter(self)
        self.edit.textEdited.connect(lambda _t: self.offer())
        self.clear = _tool("All rows", "Clear the slice: show every row", lambda: self.sig_apply_text.emit(""))
        self.build = _tool("Build…", "Build a filter by choosing columns and values", self.sig_build.emit)
        self.save = _tool("Save…", "Save the current slice in the workspace under a name", self._ask_save)
        self.saved = QToolButton()
        self.saved.setText("Saved slices")
        self.saved.setToolTip("Open a saved slice")
        self.saved.setPopupMode(QToolButton.InstantPopup)
        self.saved_menu = QMenu(self)
        self.saved.setMenu(self.saved_menu)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b3261e;")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        self.note = QLabel()
        self.note.setStyleSheet("color: #8a5300;")
        self.note.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.back)
        row.addWidget(self.forward)
        caption = QLabel("Slice:")
        caption.setToolTip(SYNTAX_TIP)
        row.addWidget(caption)
        row.addWidget(self.edit, 1)
        for button in (self.clear, self.build, self.save, self.saved):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addWidget(self.note)
        shortcut(QKeySequence("Alt+Left"), self, self.sig_back.emit, context=Qt.WindowShortcut)
        shortcut(QKeySequence("Alt+Right"), self, self.sig_forward.emit, context=Qt.WindowShortcut)
        session.changed.connect(self.refresh)
        self.refresh(Changes(slice=True, saved_slices=True))

    def refresh(self, changes: Changes) -> None:
        if changes.active or changes.datasets or changes.roles or changes.cards:
            self._values.clear()
            opened = self.session.active
            self._leaves = (resolvable_leaves(opened.dataset, opened.roles, self.session.version_order())
                            if opened is not None and opened.kind == "log" else [])
        if changes.slice or changes.active or changes.datasets or changes.roles or changes.cards:
            current = self.session.current_slice
            raw = "" if current.predicate is Everything else to_text(current.predicate)
            self.edit.setText(self._shown_text())
            self.edit.setToolTip(f"{current.name}: {raw}" if current.name else raw)
            self.error.setVisible(False)
            self.back.setEnabled(bool(self.session.slice_back))
            self.forward.setEnabled(bool(self.session.slice_forward))
            self.save.setEnabled(current.predicate is not Everything)
            self._show_note()
        if changes.saved_slices:
            self._fill_saved()

    def _shown_text(self) -> str:
        """The current slice as the bar shows it: versions by their card names (the tooltip
        keeps the raw strings). A name is shown only when the text reads back as the same
        slice, so Return on the shown text applies exactly what is applied now."""
        current, opened = self.session.current_slice.predicate, self.session.active
        if current is Everything:
            return ""
        raw = to_text(current)
        if opened is None or opened.roles.model_version is None:
            return raw
        named = to_text(with_card_names(current, opened.roles.model_version, self.session.version_cards))
        if named == raw:
            return raw
        types = {c.name: c.dtype for c in opened.dataset.columns}
        try:
            reads_back = parse_slice(named, types, versions=self.session.version_names()) == current
        except SliceParseError:
            reads_back = False
        return named if reads_back else raw

    def _show_note(self) -> None:
        missing = self.session.missing_slice_columns()
        unresolved = self.session.unresolved_slice_leaf()
        if self.session.active is not None and missing:
            self.note.setText(f"This slice is not applied here: {self.session.active.name} has no column "
                              + ", ".join(f"'{m}'" for m in missing) + ".")
        elif unresolved:
            self.note.setText(f"This slice is not applied here: {unresolved}.")
        self.note.setVisible(bool(missing or unresolved) and self.session.active is not None)

    def _fill_saved(self) -> None:
        self.saved_menu.clear()
        names = sorted(self.session.saved_slices)
        for name in names:
            action = self.saved_menu.addAction(name, lambda n=name: self.sig_open_saved.emit(n))
            action.setToolTip(to_text(self.session.saved_slices[name].predicate))
        if names:
            delete = self.saved_menu.addMenu("Delete")
            for name in names:
                delete.addAction(name, lambda n=name: self.sig_delete_saved.emit(n))
        self.saved.setEnabled(bool(names))
        self.saved.setText(f"Saved slices ({len(names)})" if names else "Saved slices")

    # --- offers while typing ------------------------------------------------------------------

    def offer(self) -> None:
        """List what can come at the cursor, or close the list when nothing can."""
        opened = self.session.active
        popup = self.completer.popup()
        if opened is None:
            popup.hide()
            return
        saved = {name: to_text(s.predicate) for name, s in sorted(self.session.saved_slices.items())}
        self._completion = suggest(self.edit.text(), self.edit.cursorPosition(), opened.dataset.column_names,
                                   self._values, self._leaves, saved)
        column = self._completion.values_of
        if column is not None and column not in self._values:
            self._read_values(column)
        self.offers.clear()
        for suggestion in self._completion.suggestions:
            item = QStandardItem(suggestion.label)
            item.setData(suggestion.text, Qt.UserRole)
            item.setToolTip(f"{suggestion.kind}: {suggestion.text}")
            self.offers.appendRow(item)
        if self.offers.rowCount():
            self.completer.complete()
        else:
            popup.hide()

    def _read_values(self, column: str) -> None:
        """Read ``column``'s values on the runner once; offer them if the cursor still asks."""
        if self.tasks is None:
            return
        opened = self.session.active
        self._values[column] = []  # asked: not asked again while it runs

        def arrived(values: list) -> None:
            if self.session.active is not opened:
                return
            self._values[column] = values
            if self.edit.hasFocus() and self._completion.values_of == column:
                self.offer()

        self.tasks.submit(category_values, self.session.store, opened.dataset, column, key=f"slice-bar-values:{column}",
                          on_result=arrived, on_cancelled=lambda: self._values.pop(column, None))

    def _take(self, index) -> None:
        """Put the offer at ``index`` in place of the word being typed."""
        inserted = index.data(Qt.UserRole)
        text, cursor, start = self.edit.text(), self.edit.cursorPosition(), self._completion.start
        self.edit.setText(text[:start] + inserted + text[cursor:])
        self.edit.setCursorPosition(start + len(inserted))
        self.completer.popup().hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        popup = self.completer.popup()
        if event.type() == QEvent.ShortcutOverride and popup.isVisible() and event.key() in LIST_KEYS:
            event.accept()  # the open list's key, not the window's shortcut (Esc cancels jobs)
            return True
        if event.type() != QEvent.KeyPress:
            return super().eventFilter(watched, event)
        key = event.key()
        if watched is self.edit and key == Qt.Key_Down and not popup.isVisible():
            self.offer()
            return True
        if watched is not popup or not popup.isVisible():
            return super().eventFilter(watched, event)
        # Highlighted is selected: the list keeps a current row the person has not chosen.
        chosen = popup.selectionModel().selectedIndexes()
        if key == Qt.Key_Escape:
            popup.hide()
            return True
        if key == Qt.Key_Tab:
            self._take(chosen[0] if chosen else self.offers.index(0, 0))
            return True
        if key in (Qt.Key_Return, Qt.Key_Enter):
            if chosen:
                self._take(chosen[0])
            else:  # nothing highlighted: Return applies the filter as typed
                popup.hide()
                QApplication.sendEvent(self.edit, event)
            return True
        return super().eventFilter(watched, event)

    def show_error(self, message: str, position: int | None) -> None:
        """Say what is wrong with the typed filter and put the cursor where it went wrong."""
        self.error.setText(message)
        self.error.setVisible(True)
        if position is not None:
            self.edit.setFocus()
            self.edit.setSelection(position, 1)

    def typed_text(self) -> str:
        """The filter as typed in the bar (applied or not)."""
        return self.edit.text().strip()

    def focus(self) -> None:
        self.edit.setFocus()
        self.edit.selectAll()

    def _ask_save(self) -> None:
        current = self.session.current_slice
        name, ok = QInputDialog.getText(self, "Save slice", "Name of this slice:", text=current.name)
        if ok and name.strip():
            self.sig_save.emit(name.strip())


def _tool(text: str, tip: str, slot) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
