"""Opening logs and workspaces: the jobs behind File > Open, drag-and-drop and the CLI.

Loading runs on the heavy lane; the result becomes a command on the GUI thread. Reopening a
workspace never reads heavy files synchronously at start-up: each registration is loaded as
its own job, so the window is up at once and a missing file only costs that one dataset.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from psygnal import Signal

from analysis.dataset import Dataset
from analysis.errors import InputError
from analysis.intake import LoadedLog, load_log, recheck
from analysis.loading import close_dataset
from analysis.log_checks import Severity
from analysis.roles import RoleMap
from analysis.workspace import Workspace

from .commands import AddDataset, AttachWorkspace, RemoveDataset, SetIssues, SetRoles
from .state import OpenDataset, Session
from .tasks import HEAVY, TaskRunner


class AppController:
    """Turns "open this" into jobs and commands; reports problems through ``message``."""

    message = Signal(str, str)  # level ("error", "warning", "info"), text

    def __init__(self, session: Session, tasks: TaskRunner) -> None:
        self.session = session
        self.tasks = tasks

    def open_paths(self, specs: Sequence[str], name: str | None = None, kind: str = "log",
                   roles: RoleMap | None = None, persist: bool = True) -> None:
        """Load files/folders/globs as one dataset in the background."""
        specs = [str(s) for s in specs]
        if not specs:
            return
        wanted = name or _default_name(specs)
        label = f"Opening {wanted}"
        self.tasks.submit(
            load_log, self.session.store, specs, name=wanted, roles=roles, check=False,
            lane=HEAVY, label=label,
            on_result=lambda loaded: self._add(loaded, kind, persist),
            on_error=lambda exc: self.message.emit("error", f"Could not open {', '.join(specs)}: {exc}"),
        )

    def _add(self, loaded: LoadedLog, kind: str, persist: bool) -> None:
        dataset = loaded.dataset
        unique = self.session.unique_name(dataset.name)
        if unique != dataset.name:
            dataset = _renamed(dataset, unique)
        self.session.run(AddDataset(OpenDataset(dataset, loaded.roles, kind, loaded.issues), persist=persist))
        if not dataset.report.clean:
            self.message.emit("warning", f"{dataset.name}: {dataset.report.summary()}")
        self._check(dataset.name)

    def _check(self, name: str) -> None:
        """Run the log checks in the background; their findings land in the sidebar."""
        opened = self.session.datasets[name]
        self.tasks.submit(
            recheck, self.session.store, opened.dataset, opened.roles, key=f"recheck:{name}",
            label=f"Checking {name}", lane=HEAVY,
            on_result=lambda issues: self._checked(name, issues),
        )

    def _checked(self, name: str, issues: tuple) -> None:
        self.session.run(SetIssues(name, issues))
        errors = [i.message for i in issues if i.severity is Severity.ERROR]
        if errors:
            self.message.emit("error", f"{name}: {errors[0]}" + (f" (+{len(errors) - 1} more in the sidebar)" if len(errors) > 1 else ""))

    def close_dataset(self, name: str) -> None:
        opened = self.session.datasets.get(name)
        if opened is None:
            return
        self.session.run(RemoveDataset(name))
        self.session.clear_history()  # the view is dropped; undoing would point at nothing
        close_dataset(self.session.store, opened.dataset)

    def set_roles(self, name: str, roles: RoleMap) -> None:
        """Apply new roles at once, then re-run the log checks in the background."""
        self.session.run(SetRoles(name, roles))
        self._check(name)

    def open_workspace(self, path: str | Path, on_opened: Callable[[], None] | None = None) -> bool:
        """Close what is open, open ``path`` and load its datasets; False if it cannot be opened."""
        try:
            workspace = Workspace.open(path)
        except InputError as exc:
            self.message.emit("error", str(exc))
            return False
        for name in list(self.session.datasets):
            self.close_dataset(name)
        self.session.run(AttachWorkspace(workspace))
        for entry in workspace.datasets():
            missing = [p for p in entry.paths if not _exists(p)]
            if missing:
                self.message.emit("error", f"{entry.name}: file not found: {missing[0]} (the registration is kept)")
                continue
            self.open_paths(list(entry.paths), name=entry.name, kind=entry.kind, roles=entry.roles, persist=False)
        if on_opened is not None:
            on_opened()
        return True

    def save_workspace_as(self, path: str | Path) -> bool:
        """Start a new workspace file holding everything open now."""
        path = Path(path)
        if path.suffix != ".sleuth":
            path = path.with_suffix(".sleuth")
        if path.exists():
            path.unlink()
        try:
            workspace = Workspace.open(path)
        except InputError as exc:
            self.message.emit("error", str(exc))
            return False
        self.session.run(AttachWorkspace(workspace))
        return True


def _default_name(specs: Sequence[str]) -> str:
    first = Path(specs[0])
    if len(specs) == 1 and "*" not in specs[0]:
        return first.stem if first.suffix else first.name
    return first.parent.name or first.stem


def _exists(path: str) -> bool:
    return any(ch in path for ch in "*?[") or Path(path).exists()


def _renamed(dataset: Dataset, name: str) -> Dataset:
    return replace(dataset, name=name)
