"""The failure queue's vocabulary: statuses, decisions and the seed taxonomy of causes.

Its tables are entries of the workspace's one registry (:mod:`analysis.workspace.schema`), so
every workspace has them and opening one never runs anything stored in it.
"""

from __future__ import annotations

STATUSES = ("new", "triaged", "decided", "awaiting verification", "verified", "regressed", "won't fix",
            "duplicate")
DECISIONS = ("golden", "rule", "collect", "relabel", "retrain", "fix", "none")
SEED_TAXONOMY = (
    ("data error", None), ("swap", "data error"), ("units", "data error"), ("nulls", "data error"),
    ("schema", "data error"), ("drift", None), ("label error", None), ("under-represented slice", None),
    ("new class", None), ("pipeline bug", None), ("ambiguous", None),
)
