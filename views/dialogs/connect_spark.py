"""File > Connect to Spark…: which table of which Spark cluster to pull, and how many rows.

The window works on one local DuckDB store, so a log on Spark is pulled: at most the rows
asked for, a uniform sample when the table (or the filter's part of it) has more. The URL may
carry a token (``sc://HOST:443/;token=...``); it serves the pull and is never written: the
settings remember the URL without its parameters, the table, the rows and the filter.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QSpinBox

from analysis.engine import DEFAULT_SAMPLE_ROWS
from analysis.workspace.workspace_file import SparkSource

MAX_PULLED_ROWS = 2_000_000_000
"""The spin box's ceiling (Qt's is a 32-bit int); the client's memory limits a pull long before."""


class ConnectSparkDialog(QDialog):
    """``url()`` (with its token) and ``source()`` (without) after ``exec()``; OK refuses a URL
    that is not a Spark Connect one, in one sentence under the fields."""

    def __init__(self, settings: QSettings, parent=None, offered: SparkSource | None = None,
                 note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to Spark")
        self.setMinimumWidth(620)
        self._settings = settings
        remembered = offered or _remembered(settings)
        self.url_edit = QLineEdit(remembered.url if remembered else "")
        self.url_edit.setPlaceholderText("sc://HOST:15002, or sc://HOST:443/;token=…;x-databricks-cluster-id=… "
                                         "(the token is never saved)")
        self.table_edit = QLineEdit(remembered.table if remembered else "")
        self.table_edit.setPlaceholderText("catalog.schema.table, or a path the cluster reads")
        self.rows_spin = QSpinBox()
        self.rows_spin.setRange(1, MAX_PULLED_ROWS)
        self.rows_spin.setSingleStep(100_000)
        self.rows_spin.setGroupSeparatorShown(True)
        self.rows_spin.setValue(remembered.rows if remembered else DEFAULT_SAMPLE_ROWS)
        self.rows_spin.setToolTip("All the rows when the table has no more; else a uniform random sample of this many")
        self.where_edit = QLineEdit((remembered.where or "") if remembered else "")
        self.where_edit.setPlaceholderText("optional filter, e.g. region = 'EU-West' AND amount > 100")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        form = QFormLayout(self)
        if note:
            intro = QLabel(note)
            intro.setWordWrap(True)
            form.addRow(intro)
        form.addRow("Spark Connect &URL", self.url_edit)
        form.addRow("&Table or path", self.table_edit)
        form.addRow("&Rows to pull", self.rows_spin)
        form.addRow("&Filter", self.where_edit)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("&Pull")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.url_edit.textChanged.connect(self._update_ok)
        self.table_edit.textChanged.connect(self._update_ok)
        self._update_ok()
        self.adjustSize()  # tall enough for the wrapped note and sentence

    def url(self) -> str:
        """The URL as typed, token included: for the pull only."""
        return self.url_edit.text().strip()

    def source(self) -> SparkSource:
        """What is pulled, as the settings and the workspace keep it (no token)."""
        from analysis.engine.spark_store import public_url  # SQLGlot and the engine load on first use

        return SparkSource(public_url(self.url()), self.table_edit.text().strip(), self.rows_spin.value(),
                           self.where_edit.text().strip() or None)

    def accept(self) -> None:
        """Refuse a URL that is not Spark Connect's here, before a job tries it; remember the rest."""
        from analysis.engine.spark_store import URL_PATTERN, public_url

        if not URL_PATTERN.match(self.url()):
            self.error.setText(f"{public_url(self.url())!r} is not a Spark Connect URL: write "
                               f"sc://HOST:PORT (15002 by default), or sc://HOST:443/;token=… for Databricks.")
            self.error.show()
            self.url_edit.setFocus()
            return
        _remember(self._settings, self.source())
        super().accept()

    def _update_ok(self) -> None:
        self.error.hide()
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(bool(self.url() and self.table_edit.text().strip()))


def _remember(settings: QSettings, source: SparkSource) -> None:
    for key, value in source.to_dict().items():
        settings.setValue(f"spark/{key}", value if value is not None else "")


def _remembered(settings: QSettings) -> SparkSource | None:
    """The last source pulled, if the settings (a file anyone can edit) hold a readable one."""
    from analysis.errors import SchemaError

    document = {key: settings.value(f"spark/{key}") for key in ("url", "table", "where")}
    try:
        document["rows"] = int(settings.value("spark/rows"))
        return SparkSource.from_dict(document) if document["url"] else None
    except (SchemaError, TypeError, ValueError):
        return None
