"""Status-bar widget for background jobs: what runs, how far it is, and a way to stop it."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.tasks import Task, TaskRunner


class TaskStatus(QWidget):
    """Shows the oldest running job that has a label; Cancel stops every labelled job."""

    def __init__(self, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.label, self.bar, self.cancel_button):
            layout.addWidget(widget)
        tasks.sig_started.connect(self._update)
        tasks.sig_progress.connect(self._update)
        tasks.sig_finished.connect(self._update)
        self._update()

    def visible_tasks(self) -> list[Task]:
        return [t for t in self._tasks.running() if t.label and not t.cancelled]

    def cancel(self) -> None:
        for task in self.visible_tasks():
            task.cancel()
        self._update()

    def _update(self, *_args) -> None:
        shown = self.visible_tasks()
        self.setVisible(bool(shown))
        if not shown:
            return
        task = shown[0]
        more = f" (+{len(shown) - 1} more)" if len(shown) > 1 else ""
        self.label.setText(f"{task.message or task.label}{more}")
        self.bar.setValue(int(task.fraction * 1000))
