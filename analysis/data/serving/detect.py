"""Which serving system wrote these files, judged by their records' content, never their names.

The first records of the first file (JSON lines) or its column names (Parquet) are matched
against each vendor's documented signature; files that match none are an ordinary table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.data.serving import bentoml, databricks, kserve, sagemaker, vertex_azure
from analysis.data.serving.raw import first_records


@dataclass(frozen=True)
class Shape:
    """A capture format: its short name (the dataset's format), its title for the load report,
    how to recognise one record (or a Parquet file's columns as a record of nulls), and the
    query that turns raw records into requests (:mod:`.unpack`)."""

    name: str
    title: str
    matches: Callable[[dict], bool]
    requests_sql: Callable[[str], str]


SHAPES = (
    Shape("sagemaker-capture", sagemaker.TITLE, sagemaker.is_capture, sagemaker.requests_sql),
    Shape("kserve-payload", kserve.TITLE, kserve.is_event, kserve.requests_sql),
    Shape("databricks-inference", databricks.TITLE, databricks.is_inference_row, databricks.requests_sql),
    Shape("vertex-request-response", vertex_azure.VERTEX_TITLE, vertex_azure.is_vertex_row, vertex_azure.vertex_requests_sql),
    Shape("azureml-data-collector", vertex_azure.AZURE_TITLE, vertex_azure.is_azure_event, vertex_azure.azure_requests_sql),
    Shape(bentoml.NAME, bentoml.TITLE, bentoml.is_schema, bentoml.requests_sql),
)

SAMPLED_FILES = 50
"""Files whose first records are read to recognise the shape (a BentoML monitor's schema file
sorts after its data files)."""


def detect_shape(paths: Sequence[Path], is_parquet: bool) -> Shape | None:
    """The capture format of ``paths``, or None for a plain table."""
    for path in paths[:SAMPLED_FILES]:
        for record in _sample_records(path, is_parquet):
            for shape in SHAPES:
                if shape.matches(record):
                    return shape
    return None


def shape_of_columns(names: Sequence[str]) -> Shape | None:
    """The capture format of a table with these columns (a lakehouse table's own names, which
    its files do not hold under column mapping), or None."""
    record = {name: None for name in names}
    return next((shape for shape in SHAPES if shape.matches(record)), None)


def _sample_records(path: Path, is_parquet: bool) -> list[dict]:
    """The first records of a file; none when it cannot be read (its loader then says why)."""
    try:
        if is_parquet:
            return [{name: None for name in pq.read_schema(path).names}]
        lines = list(first_records(path))
    except (OSError, EOFError, pa.ArrowException):
        return []
    records = []
    for line in lines:
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):  # not a record here: the loader names the problem
            continue
        if isinstance(value, dict):
            records.append(value)
    return records
