"""The review's report, modelled on a postmortem: impact, cause, detection, action items with
owners; then per group its impact, evidence (the slice's error over time), decision, owner and
follow-up; the comparisons run in the period with their verdicts; and the decisions taken on
check findings in the period.

Charts (:mod:`analysis.report.charts`): failures per group, the status changes of the period,
and per group its slice's error rate over time and, when the slice was compared with the
version before (:mod:`analysis.queue.group_evidence`), both versions' error rates with their
intervals. Each comes with its numbers as a table, so the Markdown carries them too.

:func:`report_document` gathers it as plain data; :func:`render_html` (Jinja2, self-contained:
charts are inline SVG images) and :func:`render_markdown` (for a tracker) render it. The PDF is
drawn by Qt from the Markdown with the charts as images (:func:`chart_images`), outside this
Qt-free package (``app/report_pdf.py``).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from typing import Any

import jinja2

from analysis.queue.blame import blame_text
from analysis.queue.failure_queue import FailureQueue, Group, HistoryEntry
from analysis.queue.group_evidence import comparison_name, comparison_verdict
from analysis.queue.regressions import regression_text
from analysis.report.charts import Chart, bar_chart, interval_chart, rate_over_time_chart
from analysis.report.formatting import interval, number, p_value, percent, signed

TABLE_ROWS = 12
"""Rows of a chart's table the Markdown prints; a longer one (a slice over many time buckets)
is left to its chart and sentence there, and folded away in the HTML."""

CREATED = "found"
"""Where a group comes from in the status flow: found by grouping, it enters as ``new``."""


def report_document(queue: FailureQueue, since: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, for groups with activity since ``since`` (all without)."""
    total = queue.total_failures()
    groups = [g for g in queue.groups() if since is None or _active_since(g, since)]
    decided = [g for g in groups if g.decision]
    history = [h for h in queue.history() if since is None or h.at >= since]
    return {
        "workspace": queue.workspace.path.name,
        "generated_at": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "since": since.strftime("%Y-%m-%d %H:%M") if since else None,
        "impact": {"failures": total, "groups": len(groups), "queued": queue.item_count()},
        "causes": Counter(tag for g in groups for tag in g.tags).most_common(),
        "detection": [_intake_line(i) for i in queue.intakes()
                      if since is None or i["made_at"] >= since],
        "actions": [{"group": g.id, "title": g.title, "decision": g.decision, "owner": g.owner or "unassigned",
                     "status": g.status} for g in decided],
        "groups": [_group_section(queue, g, total) for g in groups],
        "failures_chart": bar_chart("failures_per_group", "Failures per group",
                                    [(f"{g.id}. {g.title}", g.failures) for g in groups], ("group", "failures")),
        "status_chart": bar_chart("status_flow", "Status changes", [(f"{before} → {after}", n) for (before, after), n
                                                                  in status_flow(history).items()],
                                  ("change", "groups")),
        "comparisons": queue.workspace.compare_verdicts(since),
        "findings": [d for d in queue.workspace.decisions()
                     if since is None or _dt.datetime.fromisoformat(str(d.get("decided_at") or "1970-01-01")) >= since],
    }


def render_html(document: dict[str, Any]) -> str:
    return _environment(autoescape=True).from_string(HTML_TEMPLATE).render(doc=document, table_rows=TABLE_ROWS)


def render_markdown(document: dict[str, Any], images: bool = False) -> str:
    """The report as Markdown; with ``images``, each chart also as an image named by its chart
    name (what the PDF writer resolves with :func:`chart_images`), else its table alone."""
    return _environment(autoescape=False).from_string(MARKDOWN_TEMPLATE).render(doc=document, images=images,
                                                                                 table_rows=TABLE_ROWS)


def charts(document: dict[str, Any]) -> list[Chart]:
    """Every chart the report draws (one without values is a sentence instead), in its order."""
    found = [document["failures_chart"], document["status_chart"]] + [c for g in document["groups"] for c in g["charts"]]
    return [chart for chart in found if chart.rows]


def chart_images(document: dict[str, Any]) -> dict[str, str]:
    """Each chart's SVG text by the name :func:`render_markdown` gives its image."""
    return {chart.name: chart.svg for chart in charts(document)}


def status_flow(history: list[HistoryEntry]) -> Counter:
    """How many times groups moved from one status to another (a found group enters as new),
    in the order the moves first happened; undoing a move is a move back."""
    moves: Counter = Counter()
    for entry in history:
        if not entry.target.startswith("group "):
            continue
        if entry.what == "found by grouping":
            moves[(CREATED, "new")] += 1
        elif isinstance(entry.before, dict) and isinstance(entry.after, dict) and "status" in entry.after:
            before, after = entry.before.get("status"), entry.after["status"]
            if before != after:
                moves[(before, after)] += 1
    return moves


def _group_section(queue: FailureQueue, group: Group, total: int) -> dict[str, Any]:
    evidence = group.evidence
    return {**group.to_dict(total), "notes": queue.notes(group.id), "charts": _group_charts(group),
            "error_rate": evidence.get("error_rate"), "ci": evidence.get("ci"), "rows": evidence.get("rows"),
            "versions_text": versions_sentence(evidence["versions"]) if evidence.get("versions") else None,
            "regression_text": regression_text(evidence["regression"]) if evidence.get("regression") else None}


def versions_sentence(compared: dict[str, Any]) -> str:
    """The slice against the version it was compared with, in one sentence with both rates and the test."""
    base, candidate = compared["versions"]
    return (f"Against {compared['base']}, {comparison_name(compared)}, the slice {comparison_verdict(compared)}: "
            f"error rate "
            f"{percent(base['error_rate'])} in {base['version']}, {percent(candidate['error_rate'])} in "
            f"{candidate['version']}, difference {signed(compared['diff'])} {interval(*compared['ci'], with_sign=True)}, "
            f"p {p_value(compared['p_value'])} ({compared['method']})")


def _group_charts(group: Group) -> list[Chart]:
    """The slice's error over time (two buckets or more), and the slice in both versions when compared."""
    found = []
    series = group.evidence.get("series") or []
    if len(series) >= 2:
        found.append(rate_over_time_chart(f"group{group.id}_error_over_time", "Error rate over time",
                                          series))
    compared = group.evidence.get("versions")
    if compared and all(v["rows"] for v in compared["versions"]):
        found.append(interval_chart(f"group{group.id}_versions", "Error rate of the slice by version",
                                    [(v["version"], v["error_rate"], *v["ci"], v["rows"]) for v in compared["versions"]]))
    return found


def _active_since(group: Group, since: _dt.datetime) -> bool:
    moments = [group.created_at, group.decided_at]
    if group.followup:
        moments.append(_dt.datetime.fromisoformat(group.followup["measured_at"]))
    return any(m is not None and m >= since for m in moments)


def _intake_line(intake: dict[str, Any]) -> str:
    return (f"{intake['made_at']:%Y-%m-%d %H:%M}: {intake['added']} failures queued from {intake['dataset']} "
            f"({intake['duplicates']} already queued)")


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    env.filters["number"] = number
    env.filters["signed"] = signed
    env.filters["p"] = p_value
    env.filters["blame"] = blame_text
    env.filters["interval"] = lambda ci: interval(*ci, with_sign=True)
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    return env


HTML_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Failure review: {{ doc.workspace }}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em}section{border-top:1px solid #999;margin-top:1.5em}
figure{margin:1em 0}figure table{font-size:85%;margin-top:.3em}</style>
</head><body>
{% macro figure(chart) %}{% if not chart.rows %}<p>{{ chart.alt }}.</p>{% else %}<figure id="{{ chart.name }}"><img alt="{{ chart.alt }}" src="{{ chart.data_uri }}">
{% if chart.rows | length > table_rows %}<details><summary>The {{ chart.rows | length }} values</summary>{% endif %}
<table><tr>{% for h in chart.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in chart.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% if chart.rows | length > table_rows %}</details>{% endif %}</figure>{% endif %}
{% endmacro %}

<h1>Failure review: {{ doc.workspace }}</h1>
<p>Generated {{ doc.generated_at }}{% if doc.since %}, covering activity since {{ doc.since }}{% endif %}.</p>
<h2>Impact</h2>
<p>{{ doc.impact.failures }} failures in {{ doc.impact.groups }} groups ({{ doc.impact.queued }} queued items).</p>
{{ figure(doc.failures_chart) }}
<h2>Cause</h2>
{% if doc.causes %}<ul>{% for tag, n in doc.causes %}<li>{{ tag }}: {{ n }} group(s)</li>{% endfor %}</ul>
{% else %}<p>No cause tagged yet.</p>{% endif %}
<h2>Detection</h2>
<ul>{% for line in doc.detection %}<li>{{ line }}</li>{% else %}<li>No intake in the period.</li>{% endfor %}</ul>
<h2>Action items</h2>
<table><tr><th>group</th><th>decision</th><th>owner</th><th>status</th></tr>
{% for a in doc.actions %}<tr><td>{{ a.title }}</td><td>{{ a.decision }}</td><td>{{ a.owner }}</td><td>{{ a.status }}</td></tr>
{% else %}<tr><td colspan="4">No decision yet.</td></tr>{% endfor %}</table>
<h3>Status flow</h3>
{{ figure(doc.status_chart) }}
<h2>Groups</h2>
{% for g in doc.groups %}<section><h3>{{ g.id }}. {{ g.title }}</h3>
<p>{{ g.impact.failures }} failures ({{ g.impact.share | pct }} of all); slice error rate {{ g.error_rate | pct }}
{% if g.ci %}(95% CI {{ g.ci[0] | pct }} to {{ g.ci[1] | pct }}){% endif %} over {{ g.rows }} labelled rows.
Status: {{ g.status }}; owner: {{ g.owner or "unassigned" }}; tags: {{ g.tags | join(", ") or "-" }}.</p>
{% if g.blamed_batch %}<p>{{ g.blamed_batch | blame }}</p>{% endif %}
{% if g.regression_text %}<p>Regression: {{ g.regression_text }}.</p>{% endif %}
{% if g.versions_text %}<p>{{ g.versions_text }}.</p>{% endif %}
{% for chart in g.charts %}{{ figure(chart) }}{% endfor %}
<p>Decision: {{ g.decision or "none yet" }}{% if g.rationale %} ({{ g.rationale }}){% endif %}.</p>
{% if g.followup %}<p>Follow-up on {{ g.followup.dataset }}: {{ g.followup.status }}; error {{ g.followup.before.error_rate | pct }}
to {{ g.followup.after.error_rate | pct }} (p = {{ "%.3g" | format(g.followup.p_value) }}, {{ g.followup.method }}).</p>{% endif %}
{% for n in g.notes %}<p><em>{{ n.who }}, {{ n.at }}:</em> {{ n.text }}</p>{% endfor %}
</section>{% endfor %}
<h2>Comparisons</h2>
<table><tr><th>when</th><th>candidate vs base</th><th>verdict</th><th>metric difference (95% interval)</th><th>flips</th></tr>
{% for c in doc.comparisons %}<tr><td>{{ c.compared_at.strftime("%Y-%m-%d %H:%M") }}</td><td>{{ c.candidate }} vs {{ c.base }}{% if c.dataset %} on {{ c.dataset }}{% endif %}</td>
<td>{{ c.verdict }}{% if c.worst_slice %}; worse on {{ c.worst_slice.predicate }} ({{ c.worst_slice.diff | signed }}){% endif %}</td>
<td>{{ c.metric }} {{ c.difference.diff | signed }} {{ c.difference.ci | interval }}, p {{ c.difference.p_value | p }}</td>
<td>{% if c.flips %}{{ c.flips.negative }} negative, {{ c.flips.positive }} positive (McNemar p {{ c.flips.mcnemar_p | p }}){% else %}unpaired{% endif %}</td></tr>
{% else %}<tr><td colspan="5">No comparison in the period.</td></tr>{% endfor %}</table>
<h2>Check findings decided</h2>
<ul>{% for f in doc.findings %}<li>{{ f.check_key }}: {{ f.action }}{% if f.note %} ({{ f.note }}){% endif %}</li>
{% else %}<li>None recorded.</li>{% endfor %}</ul>
</body></html>
"""

MARKDOWN_TEMPLATE = """{% macro chart(c) %}
{% if not c.rows %}
{{ c.alt }}.

{% else %}
{% if images %}
![{{ c.alt | cell }}]({{ c.name }})

{% endif %}
*{{ c.alt }}*

{% if c.rows | length <= table_rows %}
| {{ c.header | join(" | ") }} |
|{% for h in c.header %}---|{% endfor %}

{% for row in c.rows %}
| {% for v in row %}{{ v | cell }} | {% endfor %}

{% endfor %}
{% endif %}
{% endif %}

{% endmacro %}
# Failure review: {{ doc.workspace }}

Generated {{ doc.generated_at }}{% if doc.since %}, covering activity since {{ doc.since }}{% endif %}.

## Impact

{{ doc.impact.failures }} failures in {{ doc.impact.groups }} groups ({{ doc.impact.queued }} queued items).

{{ chart(doc.failures_chart) }}
## Cause

{% for tag, n in doc.causes %}
- {{ tag }}: {{ n }} group(s)
{% else %}
No cause tagged yet.
{% endfor %}

## Detection

{% for line in doc.detection %}
- {{ line }}
{% else %}
No intake in the period.
{% endfor %}

## Action items

| group | decision | owner | status |
|---|---|---|---|
{% for a in doc.actions %}
| {{ a.title | cell }} | {{ a.decision }} | {{ a.owner | cell }} | {{ a.status }} |
{% endfor %}

### Status flow

{{ chart(doc.status_chart) }}

## Groups
{% for g in doc.groups %}

### {{ g.id }}. {{ g.title }}

- Impact: {{ g.impact.failures }} failures ({{ g.impact.share | pct }} of all); slice error rate {{ g.error_rate | pct }}{% if g.ci %} (95% CI {{ g.ci[0] | pct }} to {{ g.ci[1] | pct }}){% endif %} over {{ g.rows }} labelled rows
- Status: {{ g.status }}; owner: {{ g.owner or "unassigned" }}; tags: {{ g.tags | join(", ") or "-" }}
- Decision: {{ g.decision or "none yet" }}{% if g.rationale %} ({{ g.rationale }}){% endif %}
{% if g.blamed_batch %}
- {{ g.blamed_batch | blame }}
{% endif %}

{% if g.regression_text %}
- Regression: {{ g.regression_text }}
{% endif %}
{% if g.versions_text %}
- {{ g.versions_text }}
{% endif %}
{% if g.followup %}
- Follow-up on {{ g.followup.dataset }}: {{ g.followup.status }}; error {{ g.followup.before.error_rate | pct }} to {{ g.followup.after.error_rate | pct }} (p = {{ "%.3g" | format(g.followup.p_value) }})
{% endif %}
{% for n in g.notes %}
- Note ({{ n.who }}): {{ n.text }}
{% endfor %}

{% for c in g.charts %}
{{ chart(c) }}
{% endfor %}
{% endfor %}

## Comparisons

{% for c in doc.comparisons %}
- {{ c.compared_at.strftime("%Y-%m-%d %H:%M") }}: {{ c.candidate }} vs {{ c.base }}{% if c.dataset %} on {{ c.dataset }}{% endif %}: **{{ c.verdict }}**; {{ c.metric }} {{ c.difference.diff | signed }} {{ c.difference.ci | interval }}, p {{ c.difference.p_value | p }}; {% if c.flips %}flips {{ c.flips.negative }} negative, {{ c.flips.positive }} positive (McNemar p {{ c.flips.mcnemar_p | p }}){% else %}unpaired{% endif %}{% if c.worst_slice %}; worse on {{ c.worst_slice.predicate }} ({{ c.worst_slice.diff | signed }}){% endif %}

{% else %}
No comparison in the period.
{% endfor %}

## Check findings decided

{% for f in doc.findings %}
- {{ f.check_key }}: {{ f.action }}{% if f.note %} ({{ f.note }}){% endif %}
{% else %}
None recorded.
{% endfor %}
"""
