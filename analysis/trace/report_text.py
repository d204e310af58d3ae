"""``sleuth trace`` and ``sleuth suspects`` reports as readable text."""

from __future__ import annotations

from analysis.report.formatting import count, number, p_value, percent, significant


def report_text(command: str, report: dict) -> str:
    """A ``trace`` or ``suspects`` report as text for a terminal or a CI log."""
    lines = [f"method: {report['method']}" + (" (surrogate model fitted by Sleuth)" if report.get("surrogate") else "")]
    if report.get("label_note"):
        lines.append(report["label_note"])
    if command == "trace":
        if "query" in report:
            q = report["query"]
            lines.append(f"prediction {q['row_id']}: predicted {q['prediction']}, label {q['label']}")
        else:
            lines.append(f"{count(report['traced'])} of the {count(report['failures'])} failed predictions of "
                         f"version {report['version']} in {report['slice']} (the worst, at most {count(report['cap'])})")
        for title, rows in (("most harmful training rows", report["harmful"]),
                            ("most helpful training rows", report["helpful"])):
            lines += ["", title + ":"] + [
                "  " + "  ".join(f"{k} {v}" if k != "score" else f"score {significant(v, 4, with_sign=True)}"
                            for k, v in row.items())
                for row in rows]
        if "by_source" in report:
            lines += ["", "harmful influence by source (share of all harmful influence):"] + [
                f"  {b['column']} = {b['value']}: {percent(b['harmful_share'])} from {count(b['rows'])} rows"
                for b in report["by_source"]]
        return "\n".join(lines)
    lines += ["", "suspect labels (most likely wrong first):"] + [
        f"  row {s['row_id']}: label {s['label']}, suggested {s['suggested_label']}, score {number(s['score'], 3)}"
        for s in report["suspects"]]
    concentrated = [b for b in report["by_source"] if b.get("p_value") is not None and b["p_value"] < 0.05]
    if concentrated:
        lines += ["", "disputed labels concentrate in:"] + [
            f"  {b['column']} = {b['value']}: {count(b['disputed'])} of {count(b['rows'])} labels disputed "
            f"(lift {number(b['lift'], 2)}, p {p_value(b['p_value'])})" for b in concentrated]
    return "\n".join(lines)
