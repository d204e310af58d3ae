"""Small badge icons for column roles, drawn at run time so no image files need shipping."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from analysis.data.roles import Role

BADGES = {
    Role.ID: ("#", "#6b7280"),
    Role.TIMESTAMP: ("T", "#0e7490"),
    Role.MODEL_VERSION: ("V", "#7c3aed"),
    Role.LABEL: ("Y", "#15803d"),
    Role.PREDICTION: ("P", "#b45309"),
    Role.SCORE: ("S", "#c2410c"),
}

ROLE_TOOLTIPS = {
    Role.ID: "id: joins late labels and links rows",
    Role.TIMESTAMP: "timestamp: the time axis",
    Role.MODEL_VERSION: "model version: one curve and one metrics column per value",
    Role.LABEL: "label: the ground truth (empty = not arrived yet)",
    Role.PREDICTION: "prediction: the model's answer",
    Role.SCORE: "score: the model's probability",
    Role.FEATURE: "feature: a model input",
    Role.IGNORED: "ignored",
}


@lru_cache(maxsize=None)
def role_icon(role: Role) -> QIcon:
    """A round badge with a letter, or an empty icon for features and ignored columns."""
    if role not in BADGES:
        return QIcon()
    letter, colour = BADGES[role]
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(Qt.NoPen)
    painter.drawEllipse(QRectF(1, 1, 30, 30))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(19)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(QRectF(0, 0, 32, 32), Qt.AlignCenter, letter)
    painter.end()
    return QIcon(pixmap)
