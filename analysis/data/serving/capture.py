"""Open capture files of one recognised shape as a table of one row per prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from analysis.data.serving.detect import Shape
from analysis.data.serving.raw import LakeRows, load_raw
from analysis.data.serving.unpack import Unpacked, unpack_requests
from analysis.progress import CancelToken, Progress
from analysis.query import ident
from analysis.store import Store


def open_capture(
    store: Store, table: str, paths: Sequence[Path], is_parquet: bool, shape: Shape,
    progress: Progress, cancel: CancelToken, lake: LakeRows | None = None,
) -> Unpacked:
    """Create ``table`` from ``paths`` (or a lakehouse table's rows); return the records skipped
    and the load report's notes."""
    raw = f"{table}_raw"
    with store.job_cursor(cancel) as cur:
        progress(0.0, f"reading {shape.title} records")
        skipped = load_raw(cur, raw, paths, is_parquet, cancel, lake)
        try:
            progress(0.5, f"unpacking {shape.title} requests")
            result = unpack_requests(cur, shape.requests_sql(ident(raw)), table, shape.title)
        finally:
            cur.execute(f"DROP TABLE IF EXISTS {ident(raw)}")
    result.skipped = sorted(skipped + result.skipped, key=lambda s: (s.file, s.line or 0))
    return result
