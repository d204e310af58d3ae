"""Sleuth's demo data: a month of card-fraud predictions with known, injected bugs.

:func:`generate_demo` writes a training snapshot, two models trained on it, a 30-day
prediction log in which both versions score overlapping traffic, and ``manifest.json``: the
ground truth of the six injected incidents (see :mod:`analysis.demo.incidents`). Sleuth's own
tests rediscover those incidents, so every effect is a real effect in the models' outputs.

The log is generated a day at a time with numpy, scored and written in chunks of about a
million rows, so ten million rows take bounded memory. Everything is drawn from random
streams seeded by ``seed`` (one per day of the log), so a seed always gives the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.demo.incidents import (
    LABEL_DELAY_DAYS,
    NOISY_CATEGORY,
    IncidentTally,
    corrupt_inputs,
    flip_training_labels,
    missing_labels,
    rows_for_new_model,
    spend_growth,
)
from analysis.demo.models import VERSION_CARDS, VERSIONS, fraud_scores, save_models, train_models
from analysis.demo.traffic import (
    DAYS,
    SERVED_BY_NEW,
    SERVED_BY_OLD,
    day_start,
    epoch_seconds,
    expand_to_rows,
    iso,
    request_ids,
    rows_per_day,
    sample_requests,
)
from analysis.demo.world import (
    CATEGORIES,
    FEATURES,
    MERCHANT_CATEGORIES,
    Columns,
    model_frame,
    sample_fraud,
    sample_local_hours,
    sample_regions,
    sample_transactions,
)
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled

LOG_FILE = "predictions.parquet"
TRAINING_FILE = "training.parquet"
MODELS_DIR = "models"
MANIFEST_FILE = "manifest.json"

THRESHOLD = 0.5
TRAINING_ROWS = 50_000
TRAINING_SOURCES = ("batch-2026-08-01", "batch-2026-08-15", "batch-2026-09-01", "batch-2026-09-15")
CHUNK_ROWS = 1_000_000
ROW_GROUP_ROWS = 122_880

_TRAINING_STREAM, _LOG_STREAM = 1, 2


@dataclass(frozen=True)
class DemoFiles:
    """Where :func:`generate_demo` wrote each file."""

    log: Path
    training: Path
    models: dict[str, Path]
    manifest: Path


def generate_demo(
    out_dir: str | Path,
    rows: int = 200_000,
    seed: int = 7,
    incidents: bool = True,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> DemoFiles:
    """Write the demo files into ``out_dir`` (created if missing); ``rows`` log rows in all.

    ``incidents=False`` writes the same schema with none of the injected bugs: no nulls, no
    swap, no drift, no label noise, every label present.
    """
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    progress(0.0, "Drawing the training snapshot")
    snapshot = _training_snapshot(seed, incidents)
    _write_training(snapshot, out / TRAINING_FILE)
    cancel.raise_if_cancelled()

    progress(0.05, "Training the two model versions")
    new_model_rows = rows_for_new_model(snapshot.columns["device_type"], incidents)
    models = train_models(model_frame(snapshot.columns), snapshot.labels, new_model_rows, seed)
    model_paths = save_models(models, out / MODELS_DIR)
    cancel.raise_if_cancelled()

    tally = IncidentTally(VERSIONS)
    _write_log(out / LOG_FILE, rows, seed, incidents, models, tally,
               scaled(progress, 0.3, 0.98), cancel)

    category_rows = int(
        (snapshot.columns["merchant_category"] == MERCHANT_CATEGORIES.index(NOISY_CATEGORY)).sum()
    )
    incident_list = (
        tally.manifest_entries(snapshot.flipped_row_ids, category_rows,
                               int((~new_model_rows).sum()))
        if incidents else []
    )
    training_rows = {VERSIONS[0]: TRAINING_ROWS, VERSIONS[1]: int(new_model_rows.sum())}
    manifest = _manifest(seed, rows, out, model_paths, training_rows, incident_list)
    manifest_path = out / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    progress(1.0, "Demo data ready")
    return DemoFiles(log=out / LOG_FILE, training=out / TRAINING_FILE, models=model_paths,
                     manifest=manifest_path)


@dataclass(frozen=True)
class _TrainingSnapshot:
    columns: Columns
    labels: np.ndarray
    sources: np.ndarray  # codes into TRAINING_SOURCES; rows of one batch are contiguous
    flipped_row_ids: np.ndarray


def _training_snapshot(seed: int, incidents: bool) -> _TrainingSnapshot:
    rng = np.random.default_rng([seed, _TRAINING_STREAM])
    n = TRAINING_ROWS
    sources = np.sort(rng.integers(0, len(TRAINING_SOURCES), size=n))
    columns = sample_transactions(rng, sample_regions(rng, n), sample_local_hours(rng, n))
    labels = sample_fraud(rng, columns)
    flipped = (
        flip_training_labels(rng, columns["merchant_category"], sources, TRAINING_SOURCES, labels)
        if incidents else np.empty(0, dtype=np.int64)
    )
    return _TrainingSnapshot(columns, labels, sources, flipped)


def _write_training(snapshot: _TrainingSnapshot, path: Path) -> None:
    batch_dates = [date.fromisoformat(name.removeprefix("batch-")) for name in TRAINING_SOURCES]
    codes = pa.array(snapshot.sources)
    table = pa.table({
        "row_id": pa.array(np.arange(len(snapshot.labels), dtype=np.int64)),
        **_feature_arrays(snapshot.columns),
        "is_fraud": pa.array(snapshot.labels),
        "source": pa.array(TRAINING_SOURCES, pa.string()).take(codes),
        "snapshot_date": pa.array(batch_dates, pa.date32()).take(codes),
    })
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)


@dataclass(frozen=True)
class _DayRequests:
    """One day's requests: what the models received, the truth, and the incident rows."""

    ids: np.ndarray
    seconds: np.ndarray
    days: np.ndarray
    routes: np.ndarray
    served: Columns
    labels: np.ndarray
    label_missing: np.ndarray
    masks: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


def _simulate_day(seed: int, day: int, rows: int, incidents: bool, first_id: int) -> _DayRequests:
    rng = np.random.default_rng([seed, _LOG_STREAM, day])
    requests = sample_requests(rng, day, rows)
    n = len(requests)
    true = sample_transactions(rng, requests.regions, requests.local_hours,
                               spend_growth(day, incidents))
    labels = sample_fraud(rng, true)
    label_missing = missing_labels(rng, day, n, incidents)
    served = dict(true)
    masks = (
        corrupt_inputs(served, requests.seconds)
        if incidents else {key: np.zeros(n, dtype=bool) for key in ("a", "b")}
    )
    return _DayRequests(
        ids=np.arange(first_id, first_id + n, dtype=np.int64),
        seconds=requests.seconds,
        days=np.full(n, day, dtype=np.int64),
        routes=requests.routes,
        served=served,
        labels=labels,
        label_missing=label_missing,
        masks=masks,
    )


def _concat(days: list[_DayRequests]) -> _DayRequests:
    def join(get: Any) -> np.ndarray:
        return np.concatenate([get(day) for day in days])

    first = days[0]
    return _DayRequests(
        ids=join(lambda d: d.ids),
        seconds=join(lambda d: d.seconds),
        days=join(lambda d: d.days),
        routes=join(lambda d: d.routes),
        served={name: join(lambda d, name=name: d.served[name]) for name in first.served},
        labels=join(lambda d: d.labels),
        label_missing=join(lambda d: d.label_missing),
        masks={key: join(lambda d, key=key: d.masks[key]) for key in first.masks},
    )


def _write_log(path: Path, rows: int, seed: int, incidents: bool, models: dict[str, Any],
               tally: IncidentTally, progress: Progress, cancel: CancelToken) -> None:
    """Simulate, score and write the log a chunk of days at a time, via a temporary file
    so that a cancelled run never leaves a truncated log behind."""
    partial = path.with_name(path.name + ".partial")
    daily_rows = rows_per_day(rows)
    pending: list[_DayRequests] = []
    pending_rows = 0
    next_id = 1
    writer: pq.ParquetWriter | None = None
    try:
        for day in range(DAYS):
            cancel.raise_if_cancelled()
            requests = _simulate_day(seed, day, int(daily_rows[day]), incidents, next_id)
            next_id += len(requests)
            pending.append(requests)
            pending_rows += int(daily_rows[day])
            if pending_rows >= CHUNK_ROWS or day == DAYS - 1:
                table = _log_table(_concat(pending), models, tally)
                writer = writer or pq.ParquetWriter(partial, table.schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                pending, pending_rows = [], 0
            progress((day + 1) / DAYS, f"Writing the prediction log: day {day + 1} of {DAYS}")
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    partial.replace(path)


def _log_table(requests: _DayRequests, models: dict[str, Any], tally: IncidentTally) -> pa.Table:
    """Score a chunk of requests with each version that served them, one row per pair."""
    scores = []
    for version, not_served_route in zip(VERSIONS, (SERVED_BY_NEW, SERVED_BY_OLD)):
        served_by = requests.routes != not_served_route
        version_scores = np.full(len(requests), np.nan)
        subset = {name: values[served_by] for name, values in requests.served.items()}
        version_scores[served_by] = fraud_scores(models[version], model_frame(subset))
        scores.append(version_scores)

    request_of_row, is_new = expand_to_rows(requests.routes)
    rows = {name: values[request_of_row] for name, values in requests.served.items()}
    rows["seconds"] = requests.seconds[request_of_row]
    rows["version_code"] = is_new.astype(np.int8)
    rows["score"] = np.where(is_new, scores[1][request_of_row], scores[0][request_of_row])
    rows["prediction"] = (rows["score"] >= THRESHOLD).astype(np.int8)
    rows["is_fraud"] = requests.labels[request_of_row]
    rows["labelled"] = ~requests.label_missing[request_of_row]
    masks = {key: mask[request_of_row] for key, mask in requests.masks.items()}
    delayed_from = epoch_seconds(day_start(DAYS - LABEL_DELAY_DAYS))
    tally.add(rows, masks, requests.days[request_of_row], delayed_from)

    return pa.table({
        "request_id": request_ids(requests.ids[request_of_row]),
        "timestamp": pa.array(rows["seconds"] * 1_000_000, pa.timestamp("us")),
        "model_version": pa.array(VERSIONS, pa.string()).take(pa.array(rows["version_code"])),
        **_feature_arrays(rows),
        "score": pa.array(rows["score"]),
        "prediction": pa.array(rows["prediction"]),
        "is_fraud": pa.array(rows["is_fraud"], mask=~rows["labelled"]),
    })


def _feature_arrays(columns: Columns) -> dict[str, pa.Array]:
    """Arrow columns of the features: category names, and NULL where a number is NaN."""
    arrays = {}
    for name in FEATURES:
        values = columns[name]
        if name in CATEGORIES:
            arrays[name] = pa.array(CATEGORIES[name], pa.string()).take(pa.array(values))
        elif values.dtype.kind == "f":
            arrays[name] = pa.array(values, mask=np.isnan(values))
        else:
            arrays[name] = pa.array(values)
    return arrays


def _manifest(seed: int, rows: int, out: Path, model_paths: dict[str, Path],
              training_rows: dict[str, int], incidents: list[dict[str, Any]]) -> dict[str, Any]:
    def relative(path: Path) -> str:
        return path.relative_to(out).as_posix()

    generated_at = day_start(DAYS) + timedelta(hours=6, seconds=seed % 86_400)
    return {
        "seed": seed,
        "rows": rows,
        "generated_at": iso(epoch_seconds(generated_at)) + "Z",
        "files": {
            "log": LOG_FILE,
            "training": TRAINING_FILE,
            "models": {version: relative(path) for version, path in model_paths.items()},
        },
        "log": {
            "start": iso(epoch_seconds(day_start(0))),
            "end": iso(epoch_seconds(day_start(DAYS))),
            "timezone": "UTC (timestamps stored without a zone)",
            "id": "request_id",
            "timestamp": "timestamp",
            "model_version": "model_version",
            "label": "is_fraud",
            "score": "score",
            "prediction": "prediction",
            "features": list(FEATURES),
        },
        "versions": [
            {"version": version, "model_file": relative(model_paths[version]),
             **VERSION_CARDS[version], "training_rows": training_rows[version]}
            for version in VERSIONS
        ],
        "threshold": THRESHOLD,
        "incidents": incidents,
    }
