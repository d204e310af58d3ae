"""File dialogs that start in the folder used last, by any of them, kept across restarts.

Someone who opened a log from ``~/incidents/0412`` looks for its labels file, its training
snapshot and the workspace to save there too, today and after a restart. Every file dialog of
the window goes through these functions, so the folder is one preference (``last_dir`` in
QSettings), not one per dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

LAST_FOLDER_KEY = "last_dir"

_settings: QSettings | None = None


def keep_folder_in(settings: QSettings) -> None:
    """Keep the last folder in ``settings``: the window's own (tests pass a scratch file, so
    they never read or change the person's preferences)."""
    global _settings
    _settings = settings


def last_folder() -> str:
    """The folder the next dialog starts in: the last one used, else the home folder."""
    folder = Path(str(_current().value(LAST_FOLDER_KEY, str(Path.home()))))
    return str(folder if folder.is_dir() else Path.home())


def remember_folder(path: str) -> None:
    """Remember the folder of ``path`` (a file, one about to be written, or a folder itself)."""
    chosen = Path(path)
    _current().setValue(LAST_FOLDER_KEY, str(chosen if chosen.is_dir() else chosen.parent))


def open_file(parent: QWidget | None, title: str, file_filter: str) -> str:
    """One existing file, or "" when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, title, last_folder(), file_filter)
    return _remembered(path)


def open_files(parent: QWidget | None, title: str, file_filter: str) -> list[str]:
    """Several existing files, or [] when cancelled."""
    paths, _ = QFileDialog.getOpenFileNames(parent, title, last_folder(), file_filter)
    if paths:
        remember_folder(paths[0])
    return list(paths)


def open_folder(parent: QWidget | None, title: str) -> str:
    """An existing folder, or "" when cancelled."""
    return _remembered(QFileDialog.getExistingDirectory(parent, title, last_folder()))


def save_file(parent: QWidget | None, title: str, suggested_name: str, file_filter: str) -> str:
    """A file name to write (the dialog asks before replacing), or "" when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(Path(last_folder()) / suggested_name), file_filter)
    return _remembered(path)


def _remembered(path: str) -> str:
    if path:
        remember_folder(path)
    return path


def _current() -> QSettings:
    return _settings if _settings is not None else QSettings()
