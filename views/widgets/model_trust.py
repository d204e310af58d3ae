"""The question asked before a model file that can run code is opened: shared by the trace
panel (tracing a row) and the queue's intake (grouping failures by blamed training batch), so
a person sees one wording wherever Sleuth wants to unpickle a file.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm_trust(parent: QWidget, path: str, types: list[str]) -> bool:
    """Ask whether to open a model file that may run code; True only on "Trust this file"."""
    listed = "\n".join(f"• {t}" for t in types) or "• (a pickle names its types only as it runs)"
    box = QMessageBox(QMessageBox.Warning, "Trust this model file?",
                      f"{path}\n\nOpening this file can run code: unpickling runs whatever code the "
                      f"file names. It uses types Sleuth does not allow by itself:\n{listed}\n\n"
                      "Open it only if you trust where it came from.", parent=parent)
    trust = box.addButton("Trust this file", QMessageBox.AcceptRole)
    box.addButton("Don't open", QMessageBox.RejectRole)
    box.exec()
    return box.clickedButton() is trust
