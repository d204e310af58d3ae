"""The review report as PDF: Qt lays out the report's Markdown (QTextDocument) and prints it
(QPdfWriter), so a PDF needs no other engine. Lives in ``app`` because ``analysis`` is Qt-free."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument


def write_pdf(markdown: str, path: Path) -> None:
    """Write ``markdown`` to ``path`` as an A4 PDF (works without a display: offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a report needs no screen
    app = QGuiApplication.instance() or QGuiApplication(["sleuth-report"])  # noqa: F841 - must exist
    writer = QPdfWriter(str(path))
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait, QMarginsF(15, 15, 15, 15),
                                     QPageLayout.Millimeter))
    writer.setResolution(144)
    document = QTextDocument()
    document.setMarkdown(markdown)
    document.print_(writer)
