"""A comparison's verdict as the record the workspace keeps, so the weekly review's report can
list the period's comparisons (which versions, the verdict, the judged metric's difference with
its interval, the flips, the worst regressed slice) without rerunning them.

The record is cut from the full report (:func:`analysis.compare.report.compare_report`): only
what the report shows, a few hundred bytes, never rows.
"""

from __future__ import annotations

from typing import Any

from analysis.compare.regressed_slices import ALPHA


def verdict_record(report: dict[str, Any]) -> dict[str, Any]:
    """The verdict of a finished comparison ``report``: the judged metric's entry, the flips,
    the significantly regressed slices (worst first) and the summary sentence."""
    judged = next(m for m in report["overall"] if m["metric"] == report["metric"])
    regressed = [s for s in report["regressed_slices"] if s["significant"]]
    return {
        "base": report["base"], "candidate": report["candidate"], "metric": report["metric"],
        "verdict": verdict_word(judged), "paired": report["paired"], "rows": report["rows"],
        "difference": {key: judged[key] for key in ("base", "candidate", "diff", "ci", "p_value", "method")},
        "flips": report["flips"],
        "regressed_slices": len(regressed),
        "worst_slice": {key: regressed[0][key] for key in ("predicate", "rows", "diff", "ci", "p_adjusted")}
        if regressed else None,
        "summary": report["summary"],
    }


def verdict_word(judged: dict[str, Any]) -> str:
    """"better", "worse" or "not significantly different": the candidate on the judged metric,
    at the level the summary sentence uses."""
    if judged["diff"] is None or judged["p_value"] is None or judged["p_value"] >= ALPHA:
        return "not significantly different"
    improved = judged["diff"] > 0 if judged["higher_is_better"] else judged["diff"] < 0
    return "better" if improved else "worse"
