"""The review report as PDF: Qt lays out the report's Markdown (QTextDocument) and prints it
(QPdfWriter), so a PDF needs no other engine. The report's charts are SVG (drawn without a
window in ``analysis/report/charts.py``); Qt rasterises each into an image resource the
Markdown's image links name. Lives in ``app`` because ``analysis`` is Qt-free."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from PySide6.QtCore import QByteArray, QMarginsF, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtSvg import QSvgRenderer

CHART_SCALE = 3
"""Chart pixels per SVG unit: sharp when printed, the chart's size on the page unchanged."""


def write_pdf(markdown: str, path: Path, images: Mapping[str, str] | None = None) -> None:
    """Write ``markdown`` to ``path`` as an A4 PDF (works without a display: offscreen); an
    image link in it whose target is a key of ``images`` shows that SVG text."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a report needs no screen
    app = QGuiApplication.instance() or QGuiApplication(["sleuth-report"])  # noqa: F841 - must exist
    writer = QPdfWriter(str(path))
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait, QMarginsF(15, 15, 15, 15),
                                     QPageLayout.Millimeter))
    writer.setResolution(144)
    document = QTextDocument()
    document.setMarkdown(markdown)  # clears the resources: images are added after it
    for name, svg in (images or {}).items():
        document.addResource(QTextDocument.ImageResource, QUrl(name), svg_image(svg))
    document.print_(writer)


def svg_image(svg: str, scale: int = CHART_SCALE) -> QImage:
    """``svg`` drawn on white at ``scale`` pixels per unit (its device pixel ratio, so a layout
    gives it the SVG's own size)."""
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    image = QImage(renderer.defaultSize() * scale, QImage.Format_ARGB32)
    image.fill(Qt.white)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.setDevicePixelRatio(scale)
    return image
