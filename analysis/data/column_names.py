"""Column names as words, so ``createdAt``, ``created_at`` and ``Created-At`` read alike.

Loading (which integer columns may be epoch timestamps) and role detection (which column is
the label) both judge columns by name; they share this one normaliser.
"""

from __future__ import annotations

import re

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")

TIME_NAMES = frozenset(
    "ts timestamp time datetime date_time event_time event_timestamp created_at created "
    "inference_time request_time prediction_time predicted_at scored_at score_time "
    "logged_at log_time received_at timestamp_ms timestamp_s time_ms epoch epoch_ms".split()
)
TIME_SUFFIXES = ("_time", "_ts", "_at", "_timestamp", "_ms", "_datetime", "_epoch")


def normalize(name: str) -> str:
    """``requestId`` -> ``request_id``; ``Model Version`` -> ``model_version``."""
    spaced = _CAMEL_BOUNDARY.sub("_", name.strip())
    return _NON_WORD.sub("_", spaced.lower()).strip("_")


def looks_like_time(name: str) -> bool:
    """True for names such as ``ts``, ``event_time``, ``createdAt``, ``timestamp_ms``."""
    word = normalize(name)
    return word in TIME_NAMES or word.endswith(TIME_SUFFIXES) or word.startswith("timestamp")
