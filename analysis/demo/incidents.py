"""The six bugs injected into the demo data, and the ground-truth manifest entries for them.

Each incident changes what a model sees or learns, never the truth it is judged against: a
nulled or swapped column reaches the model while the label still follows the true values, so
errors rise for real. The manifest entries are computed from the rows as written (counts,
first and last affected timestamps, error rates inside and outside), so they hold on the data.

(a) null burst, (b) swapped columns, (c) training label noise, (d) a subpopulation the new
version never saw in training, (e) gradual drift of customers' usual spend, (f) labels not
arrived yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from analysis.demo.traffic import DAYS, epoch_seconds, iso
from analysis.demo.world import CLIENTS, DEVICE_TYPES, MERCHANT_CATEGORIES, REGIONS, Columns

NULL_BURST_REGION = "EU-West"
NULL_BURST_COLUMN = "merchant_risk"
NULL_BURST_START = datetime(2026, 10, 12, 8)
NULL_BURST_END = datetime(2026, 10, 12, 14)

SWAP_CLIENT = "stark-pay"
SWAP_COLUMNS = ("amount", "distance_from_home_km")
SWAP_START = datetime(2026, 10, 18)

NOISY_CATEGORY = "electronics"
NOISY_SOURCE = "batch-2026-09-15"
NOISE_SHARE_OF_CATEGORY = 0.06

UNSEEN_DEVICE = "kiosk"

DRIFT_COLUMN = "avg_amount_30d"
DRIFT_PER_DAY = 0.01

LABEL_DELAY_DAYS = 3
LATE_LABEL_SHARE = 0.015


def spend_growth(day: int, incidents: bool) -> float:
    """(e) customers' usual spend grows 1% a day (the population really changes)."""
    return 1.0 + DRIFT_PER_DAY * day if incidents else 1.0


def corrupt_inputs(served: Columns, seconds: np.ndarray) -> dict[str, np.ndarray]:
    """(a) and (b): break the features a model receives, in place; the affected requests."""
    nulled = (
        (served["region"] == REGIONS.index(NULL_BURST_REGION))
        & (seconds >= epoch_seconds(NULL_BURST_START))
        & (seconds < epoch_seconds(NULL_BURST_END))
    )
    served[NULL_BURST_COLUMN] = np.where(nulled, np.nan, served[NULL_BURST_COLUMN])
    swapped = (served["client"] == CLIENTS.index(SWAP_CLIENT)) & (
        seconds >= epoch_seconds(SWAP_START)
    )
    first, second = SWAP_COLUMNS
    served[first], served[second] = (
        np.where(swapped, served[second], served[first]),
        np.where(swapped, served[first], served[second]),
    )
    return {"a": nulled, "b": swapped}


def missing_labels(rng: np.random.Generator, day: int, n: int, incidents: bool) -> np.ndarray:
    """(f) labels not arrived: all of the last days, a few scattered older ones."""
    if not incidents:
        return np.zeros(n, dtype=bool)
    if day >= DAYS - LABEL_DELAY_DAYS:
        return np.ones(n, dtype=bool)
    return rng.random(n) < LATE_LABEL_SHARE


def flip_training_labels(
    rng: np.random.Generator, categories: np.ndarray, sources: np.ndarray,
    source_names: tuple[str, ...], labels: np.ndarray,
) -> np.ndarray:
    """(c) flip labels of one category, all from one bad batch; returns the flipped rows."""
    in_category = categories == MERCHANT_CATEGORIES.index(NOISY_CATEGORY)
    candidates = np.flatnonzero(in_category & (sources == source_names.index(NOISY_SOURCE)))
    count = min(len(candidates), round(NOISE_SHARE_OF_CATEGORY * in_category.sum()))
    flipped = np.sort(rng.choice(candidates, size=count, replace=False))
    labels[flipped] = 1 - labels[flipped]
    return flipped


def rows_for_new_model(devices: np.ndarray, incidents: bool) -> np.ndarray:
    """(d) the new version's training pipeline dropped every kiosk transaction."""
    if not incidents:
        return np.ones(len(devices), dtype=bool)
    return devices != DEVICE_TYPES.index(UNSEEN_DEVICE)


@dataclass
class _Outcomes:
    """Error count and log loss of one version on a set of labelled rows."""

    labelled: int = 0
    errors: int = 0
    log_loss_sum: float = 0.0

    def add(self, labels: np.ndarray, scores: np.ndarray, predictions: np.ndarray) -> None:
        clipped = np.clip(scores, 1e-15, 1 - 1e-15)
        self.labelled += len(labels)
        self.errors += int((predictions != labels).sum())
        losses = -np.where(labels == 1, np.log(clipped), np.log1p(-clipped))
        self.log_loss_sum += float(losses.sum())

    def summary(self) -> dict[str, Any]:
        if not self.labelled:
            return {"labelled_rows": 0, "error_rate": None, "log_loss": None}
        return {
            "labelled_rows": self.labelled,
            "error_rate": round(self.errors / self.labelled, 5),
            "log_loss": round(self.log_loss_sum / self.labelled, 5),
        }


@dataclass
class _AffectedRows:
    """Rows one incident touched in the log, and how each version did inside and outside."""

    rows: int = 0
    first: int | None = None
    last: int | None = None
    outcomes: dict[tuple[str, bool], _Outcomes] = field(default_factory=dict)

    def note(self, hit_seconds: np.ndarray) -> None:
        """Count affected rows (their times, in log order)."""
        if len(hit_seconds):
            self.rows += len(hit_seconds)
            self.first = int(hit_seconds[0]) if self.first is None else self.first
            self.last = int(hit_seconds[-1])

    def add(self, mask: np.ndarray, seconds: np.ndarray, version_of_row: np.ndarray,
            labels: np.ndarray, labelled: np.ndarray, scores: np.ndarray,
            predictions: np.ndarray, versions: tuple[str, ...]) -> None:
        self.note(seconds[mask])
        for code, version in enumerate(versions):
            for inside in (True, False):
                rows = labelled & (version_of_row == code) & (mask == inside)
                outcome = self.outcomes.setdefault((version, inside), _Outcomes())
                outcome.add(labels[rows], scores[rows], predictions[rows])

    def effect(self) -> dict[str, dict[str, Any]]:
        return {
            version: {
                "inside": outcome.summary(),
                "outside": self.outcomes[(version, False)].summary(),
            }
            for (version, inside), outcome in self.outcomes.items() if inside
        }


class IncidentTally:
    """Accumulates, chunk by chunk of the written log, the facts the manifest reports."""

    def __init__(self, versions: tuple[str, ...]) -> None:
        self._versions = versions
        self._affected = {key: _AffectedRows() for key in ("a", "b", "d")}
        self._log = _AffectedRows()
        self._drift_sums = np.zeros(DAYS)
        self._drift_counts = np.zeros(DAYS)
        self._delayed = _AffectedRows()
        self._older_unlabelled = 0

    def add(self, rows: Columns, masks: dict[str, np.ndarray], day_of_row: np.ndarray,
            delayed_from: int) -> None:
        """Count one chunk. ``rows`` holds the logged columns (categories as codes) plus
        ``seconds``, ``version_code`` and ``labelled``; ``masks`` the incident rows."""
        seconds, labelled = rows["seconds"], rows["labelled"]
        self._log.note(seconds)
        masks = {**masks, "d": rows["device_type"] == DEVICE_TYPES.index(UNSEEN_DEVICE)}
        for key, affected in self._affected.items():
            affected.add(masks[key], seconds, rows["version_code"], rows["is_fraud"], labelled,
                         rows["score"], rows["prediction"], self._versions)
        self._drift_sums += np.bincount(day_of_row, rows[DRIFT_COLUMN], minlength=DAYS)
        self._drift_counts += np.bincount(day_of_row, minlength=DAYS)
        delayed = seconds >= delayed_from
        unlabelled = ~labelled
        self._delayed.note(seconds[unlabelled & delayed])
        self._older_unlabelled += int((unlabelled & ~delayed).sum())

    def manifest_entries(self, flipped_row_ids: np.ndarray, category_rows: int,
                         excluded_training_rows: int) -> list[dict[str, Any]]:
        """The six incidents as the manifest lists them, from what was counted."""
        old, new = self._versions
        return [
            self._null_burst(),
            self._swap(),
            _incident(
                "c", "label_noise", "training",
                f"{len(flipped_row_ids)} training labels of merchant category '{NOISY_CATEGORY}', "
                f"all from batch '{NOISY_SOURCE}', were flipped before both versions trained.",
                ["is_fraud"],
                f"merchant_category = '{NOISY_CATEGORY}' AND source = '{NOISY_SOURCE}'",
                None, [old, new], len(flipped_row_ids),
                category=NOISY_CATEGORY, source=NOISY_SOURCE,
                share_of_category=round(len(flipped_row_ids) / max(category_rows, 1), 4),
                flipped_row_ids=[int(i) for i in flipped_row_ids],
            ),
            _incident(
                "d", "weak_subpopulation", "log",
                f"The new version never saw a '{UNSEEN_DEVICE}' transaction in training, so it "
                "underrates kiosk fraud and is worse than the old version there while better "
                "overall.",
                ["device_type"], f"device_type = '{UNSEEN_DEVICE}'", None, [new],
                self._affected["d"].rows,
                training_rows_excluded=excluded_training_rows,
                effect=self._affected["d"].effect(),
            ),
            self._drift(),
            self._label_delay(),
        ]

    def _null_burst(self) -> dict[str, Any]:
        burst = self._affected["a"]
        return _incident(
            "a", "null_burst", "log",
            f"A feature pipeline failure sent '{NULL_BURST_COLUMN}' as NULL for every "
            f"{NULL_BURST_REGION} request for {_hours(NULL_BURST_START, NULL_BURST_END)} hours; "
            "the models imputed it and missed fraud.",
            [NULL_BURST_COLUMN],
            _within(f"region = '{NULL_BURST_REGION}'", burst.first, burst.last),
            _window(burst.first, burst.last), list(self._versions), burst.rows,
            effect=burst.effect(),
        )

    def _swap(self) -> dict[str, Any]:
        swap = self._affected["b"]
        first, second = SWAP_COLUMNS
        predicate = f"client = '{SWAP_CLIENT}'"
        if swap.first is not None:
            predicate += f" AND timestamp >= '{_sql_time(swap.first)}'"
        return _incident(
            "b", "swapped_columns", "log",
            f"Client '{SWAP_CLIENT}' sends '{first}' and '{second}' swapped from "
            f"{SWAP_START:%Y-%m-%d} on.",
            list(SWAP_COLUMNS), predicate, _window(swap.first, swap.last),
            list(self._versions), swap.rows, effect=swap.effect(),
        )

    def _drift(self) -> dict[str, Any]:
        days = np.flatnonzero(self._drift_counts)
        means = self._drift_sums[days] / self._drift_counts[days]
        slope = np.polyfit(days, means / means[0], 1)[0] if len(days) > 1 else 0.0
        return _incident(
            "e", "gradual_drift", "log",
            f"Customers' usual spend ('{DRIFT_COLUMN}') grows about "
            f"{DRIFT_PER_DAY:.0%} a day over the whole log, for everyone.",
            [DRIFT_COLUMN], None, _window(self._log.first, self._log.last),
            list(self._versions), int(self._drift_counts.sum()),
            first_day_mean=round(float(means[0]), 3) if len(days) else None,
            last_day_mean=round(float(means[-1]), 3) if len(days) else None,
            relative_change_per_day=round(float(slope), 5),
        )

    def _label_delay(self) -> dict[str, Any]:
        delayed = self._delayed
        predicate = None if delayed.first is None else f"timestamp >= '{_sql_time(delayed.first)}'"
        return _incident(
            "f", "label_delay", "log",
            f"Labels of the last {LABEL_DELAY_DAYS} days have not arrived (NULL), and "
            f"about {LATE_LABEL_SHARE:.1%} of older ones are still missing.",
            ["is_fraud"], predicate, _window(delayed.first, delayed.last),
            list(self._versions), delayed.rows,
            older_unlabelled_rows=self._older_unlabelled,
        )


def _incident(id_: str, kind: str, dataset: str, description: str, columns: list[str],
              predicate: str | None, window: list[str] | None, versions: list[str],
              rows_affected: int, **details: Any) -> dict[str, Any]:
    return {
        "id": id_, "kind": kind, "dataset": dataset, "description": description,
        "columns": columns, "predicate": predicate, "window": window, "versions": versions,
        "rows_affected": rows_affected, **details,
    }


def _sql_time(seconds: int) -> str:
    return iso(seconds).replace("T", " ")


def _window(first: int | None, last: int | None) -> list[str] | None:
    return None if first is None or last is None else [iso(first), iso(last)]


def _within(predicate: str, first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return predicate
    return f"{predicate} AND timestamp >= '{_sql_time(first)}' AND timestamp <= '{_sql_time(last)}'"


def _hours(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 3600)
