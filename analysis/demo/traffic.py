"""When requests arrive in the demo log and which model versions score them.

The log covers :data:`DAYS` days from :data:`LOG_START` (UTC). Traffic follows each region's
local day (quiet nights, lunch and evening peaks), dips at weekends and grows slowly. The old
version serves every request at first; from :data:`SHADOW_START_DAY` the new version shadows most
requests (the same ``request_id`` scored twice, so versions can be compared pairwise), and from
:data:`CANARY_START_DAY` a share of requests goes to the new version only.

Each day is drawn from its own random stream, so the log does not depend on how days are
grouped into chunks for writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from analysis.demo.world import DIURNAL, REGION_SHARES, REGION_UTC_OFFSET_HOURS

LOG_START = datetime(2026, 10, 1)
DAYS = 30
SHADOW_START_DAY = 7
SHADOW_SHARE = 0.75
CANARY_START_DAY = 21
CANARY_SHARE = 0.10

SERVED_BY_OLD, SERVED_BY_NEW, SERVED_BY_BOTH = 0, 1, 2
SECONDS_PER_DAY = 86_400
_EPOCH = datetime(1970, 1, 1)


def day_start(day: int) -> datetime:
    return LOG_START + timedelta(days=day)


def epoch_seconds(moment: datetime) -> int:
    """Seconds since 1970 of a naive UTC datetime: the log's time axis."""
    return int((moment - _EPOCH).total_seconds())


def iso(seconds: int) -> str:
    """ISO 8601 text (to the second, UTC) of a point on the log's time axis."""
    return (_EPOCH + timedelta(seconds=int(seconds))).isoformat(timespec="seconds")


def rows_per_day(total_rows: int) -> np.ndarray:
    """Split ``total_rows`` exactly over the days: weekends dip, traffic grows 0.4% a day."""
    days = np.arange(DAYS)
    weekday = np.array([day_start(int(d)).weekday() for d in days])
    weight = np.where(weekday >= 5, 0.85, 1.0) * (1 + 0.004 * days)
    share = total_rows * weight / weight.sum()
    rows = np.floor(share).astype(np.int64)
    remainder_order = np.argsort(-(share - rows), kind="stable")
    rows[remainder_order[: total_rows - rows.sum()]] += 1
    return rows


@dataclass(frozen=True)
class Requests:
    """The requests of one day, in time order: when, where, and which versions scored them."""

    seconds: np.ndarray  # epoch seconds (UTC)
    regions: np.ndarray  # region codes
    local_hours: np.ndarray
    routes: np.ndarray  # SERVED_BY_OLD / SERVED_BY_NEW / SERVED_BY_BOTH

    def __len__(self) -> int:
        return len(self.seconds)


def _routes(rng: np.random.Generator, day: int, n: int) -> np.ndarray:
    routes = np.full(n, SERVED_BY_OLD, dtype=np.int8)
    if day < SHADOW_START_DAY:
        return routes
    draw = rng.random(n)
    routes[draw < SHADOW_SHARE] = SERVED_BY_BOTH
    if day >= CANARY_START_DAY:
        routes[draw >= 1 - CANARY_SHARE] = SERVED_BY_NEW
    return routes


def sample_requests(rng: np.random.Generator, day: int, rows: int) -> Requests:
    """Requests of ``day`` that make exactly ``rows`` log rows (a shadowed request makes two)."""
    routes = _routes(rng, day, rows)
    rows_made = np.cumsum(np.where(routes == SERVED_BY_BOTH, 2, 1))
    kept = int(np.searchsorted(rows_made, rows, side="right"))
    made = int(rows_made[kept - 1]) if kept else 0
    if made < rows:
        routes[kept] = SERVED_BY_OLD  # one row short: the next request is served once
        kept += 1
    routes = routes[:kept]

    offsets = np.asarray(REGION_UTC_OFFSET_HOURS)
    utc_hours = np.arange(24)
    local = (utc_hours[None, :] + offsets[:, None]) % 24
    cell_weight = np.asarray(REGION_SHARES)[:, None] * DIURNAL[local]
    cells = rng.choice(cell_weight.size, size=kept, p=(cell_weight / cell_weight.sum()).ravel())
    regions, hours = np.divmod(cells, 24)
    seconds = (
        epoch_seconds(day_start(day)) + hours * 3600 + rng.integers(0, 3600, size=kept)
    )
    order = np.argsort(seconds, kind="stable")
    return Requests(
        seconds=seconds[order],
        regions=regions[order].astype(np.int8),
        local_hours=local[regions, hours][order],
        routes=routes,
    )


def expand_to_rows(routes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each log row: the index of its request, and whether the new version scored it.

    A request served by both versions gives two adjacent rows, old version first.
    """
    counts = np.where(routes == SERVED_BY_BOTH, 2, 1)
    request_index = np.repeat(np.arange(len(routes)), counts)
    first_row = np.repeat(np.cumsum(counts) - counts, counts)
    is_second = np.arange(len(request_index)) - first_row == 1
    is_new = is_second | (routes[request_index] == SERVED_BY_NEW)
    return request_index, is_new


def request_ids(numbers: np.ndarray, digits: int = 8) -> pa.Array:
    """``req-00000001``-style ids built byte-wise (string formatting of 10M ints is slow)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    digits = max(digits, len(str(int(numbers.max())))) if len(numbers) else digits
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    chars = np.empty((len(numbers), 4 + digits), dtype=np.uint8)
    chars[:, :4] = np.frombuffer(b"req-", dtype=np.uint8)
    chars[:, 4:] = (numbers[:, None] // powers) % 10 + ord("0")
    fixed = chars.view(f"S{4 + digits}").ravel()
    return pa.array(fixed, type=pa.binary()).cast(pa.string())
