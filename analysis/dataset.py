"""What a registered dataset is once loaded: a DuckDB view plus what we learnt reading it."""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.query import ROW_ID


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # DuckDB type name, e.g. DOUBLE, VARCHAR, TIMESTAMP WITH TIME ZONE

    @property
    def is_numeric(self) -> bool:
        base = self.dtype.upper().split("(")[0]
        return base in NUMERIC_TYPES

    @property
    def is_temporal(self) -> bool:
        return self.dtype.upper().startswith(("TIMESTAMP", "DATE", "TIME"))


NUMERIC_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT "
    "FLOAT DOUBLE REAL DECIMAL".split()
)


@dataclass(frozen=True)
class SkippedRow:
    """A line or row that was left out while loading, and why."""

    file: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class LoadReport:
    """What a load skipped or noticed; shown to the user next to the data."""

    skipped: tuple[SkippedRow, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.skipped and not self.warnings

    def summary(self) -> str:
        parts = []
        if self.skipped:
            parts.append(f"{len(self.skipped)} malformed row(s) skipped")
        parts.extend(self.warnings)
        return "; ".join(parts)


@dataclass(frozen=True)
class Dataset:
    """A log or snapshot registered as the DuckDB view ``view``.

    The view exposes the file's columns plus ``ROW_ID`` (a dense 0-based row number) that
    the table and row links use; ``columns`` lists only the file's own columns.
    """

    name: str
    view: str
    paths: tuple[str, ...]
    format: str
    columns: tuple[Column, ...]
    row_count: int
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    row_id = ROW_ID
