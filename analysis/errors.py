"""Errors that carry what went wrong and where, so every surface can say it plainly.

The window shows ``str(error)`` in its notification area; the CLI prints it on one line and
exits 2. Neither shows a traceback for these.
"""

from __future__ import annotations


class SleuthError(Exception):
    """A problem the user can act on, with the file, row and column it concerns."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{': '.join([', '.join(where), self.message]) if where else self.message}"


class InputError(SleuthError):
    """A file, folder or glob that cannot be read as a log or snapshot."""


class SchemaError(SleuthError):
    """Data that was read but does not fit what an analysis needs (missing role, bad type)."""
