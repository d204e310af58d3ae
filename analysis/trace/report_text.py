"""``sleuth trace`` and ``sleuth suspects`` reports as readable text."""

from __future__ import annotations


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
            lines.append(f"{report['traced']:,} of the {report['failures']:,} failed predictions of version "
                         f"{report['version']} in {report['slice']} (the worst, at most {report['cap']:,})")
        for title, rows in (("most harmful training rows", report["harmful"]),
                            ("most helpful training rows", report["helpful"])):
            lines += ["", title + ":"] + [
                "  " + "  ".join(f"{k} {v}" if k != "score" else f"score {v:+.4g}" for k, v in row.items())
                for row in rows]
        if "by_source" in report:
            lines += ["", "harmful influence by source (share of all harmful influence):"] + [
                f"  {b['column']} = {b['value']}: {b['harmful_share']:.1%} from {b['rows']:,} rows"
                for b in report["by_source"]]
        return "\n".join(lines)
    lines += ["", "suspect labels (most likely wrong first):"] + [
        f"  row {s['row_id']}: label {s['label']}, suggested {s['suggested_label']}, score {s['score']:.3f}"
        for s in report["suspects"]]
    concentrated = [b for b in report["by_source"] if b.get("p_value") is not None and b["p_value"] < 0.05]
    if concentrated:
        lines += ["", "suspects concentrate in:"] + [
            f"  {b['column']} = {b['value']}: {b['suspects']:,} suspects of {b['rows']:,} rows "
            f"(lift {b['lift']:.2f}, p {b['p_value']:.2g})" for b in concentrated]
    return "\n".join(lines)
