"""What people decided about a finding: dismissed, snoozed, expected or confirmed.

Most alerts are false alarms, and an alert that keeps coming back after someone said "this
is expected" teaches people to ignore alerts. A :class:`Decision` is keyed by the finding's
stable :attr:`analysis.triage.ranking.Finding.key` (kind, columns, group; never the time), so the same
problem found next week meets the decision taken this week. The workspace stores decisions;
this module only reads them, so they stay plain JSON-serialisable values.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from analysis.triage.ranking import Finding, ranked

ACTIONS = ("dismissed", "snoozed", "expected", "confirmed")
SILENCING = frozenset({"dismissed", "expected"})


@dataclass(frozen=True)
class Decision:
    """One person's decision on a finding key; ``until`` bounds a snooze."""

    check_key: str
    action: str
    note: str = ""
    until: _dt.datetime | None = None
    decided_at: _dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown decision {self.action!r}; use one of {', '.join(ACTIONS)}")
        if self.action == "snoozed" and self.until is None:
            raise ValueError("a snooze needs the time it ends")

    def silences(self, now: _dt.datetime) -> bool:
        if self.action in SILENCING:
            return True
        return self.action == "snoozed" and self.until is not None and now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_key": self.check_key,
            "action": self.action,
            "note": self.note,
            "until": None if self.until is None else self.until.isoformat(),
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        until, decided = data.get("until"), data.get("decided_at")
        return cls(
            check_key=str(data["check_key"]),
            action=str(data["action"]),
            note=str(data.get("note") or ""),
            until=None if until is None else _dt.datetime.fromisoformat(until),
            decided_at=None if decided is None else _dt.datetime.fromisoformat(decided),
        )


@dataclass(frozen=True)
class DecisionHistory:
    """How often a finding key was confirmed or dismissed, shown beside the finding."""

    confirmed: int
    dismissed: int
    expected: int
    snoozed: int
    decisions: tuple[Decision, ...]


def latest(decisions: Iterable[Decision], key: str) -> Decision | None:
    """The most recent decision on ``key`` (the last given when times are missing)."""
    mine = [d for d in decisions if d.check_key == key]
    if not mine:
        return None
    return max(enumerate(mine), key=lambda pair: (pair[1].decided_at or _dt.datetime.min, pair[0]))[1]


def apply_decisions(
    findings: Sequence[Finding], decisions: Sequence[Decision], now: _dt.datetime | None = None
) -> list[Finding]:
    """Findings with decisions applied: a dismissed, expected or still-snoozed finding is kept
    (it is still true) but lowered to ``info`` and marked with the decision."""
    now = now or _dt.datetime.now()
    applied = []
    for finding in findings:
        decision = latest(decisions, finding.key)
        if decision is None:
            applied.append(finding)
        elif decision.silences(now):
            applied.append(replace(finding, severity="info", decision=decision.action))
        else:
            applied.append(replace(finding, decision=decision.action))
    return ranked(applied)


def history(decisions: Iterable[Decision], key: str) -> DecisionHistory:
    mine = tuple(sorted(
        (d for d in decisions if d.check_key == key), key=lambda d: d.decided_at or _dt.datetime.min
    ))
    counts = {action: sum(d.action == action for d in mine) for action in ACTIONS}
    return DecisionHistory(
        counts["confirmed"], counts["dismissed"], counts["expected"], counts["snoozed"], mine
    )
