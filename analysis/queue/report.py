"""The review's report, modelled on a postmortem: impact, cause, detection, action items with
owners; then per group its impact, evidence (the slice's error over time), decision, owner and
follow-up; the comparisons run in the period with their verdicts; and the decisions taken on
check findings in the period.

:func:`report_document` gathers it as plain data; :func:`render_html` (Jinja2, self-contained:
charts are inline SVG images) and :func:`render_markdown` (for a tracker) render it. The PDF is
drawn by Qt from the Markdown, outside this Qt-free package (``app/report_pdf.py``).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections import Counter
from typing import Any

import jinja2

from analysis.queue.failure_queue import FailureQueue, Group
from analysis.report.formatting import interval, number, p_value, signed

CHART_WIDTH, CHART_HEIGHT = 480, 140


def report_document(queue: FailureQueue, since: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, for groups with activity since ``since`` (all without)."""
    total = queue.total_failures()
    groups = [g for g in queue.groups() if since is None or _active_since(g, since)]
    decided = [g for g in groups if g.decision]
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
        "comparisons": queue.workspace.compare_verdicts(since),
        "findings": [d for d in queue.workspace.decisions()
                     if since is None or _dt.datetime.fromisoformat(str(d.get("decided_at") or "1970-01-01")) >= since],
    }


def render_html(document: dict[str, Any]) -> str:
    return _environment(autoescape=True).from_string(HTML_TEMPLATE).render(doc=document)


def render_markdown(document: dict[str, Any]) -> str:
    return _environment(autoescape=False).from_string(MARKDOWN_TEMPLATE).render(doc=document)


def _group_section(queue: FailureQueue, group: Group, total: int) -> dict[str, Any]:
    evidence = group.evidence
    return {**group.to_dict(total), "notes": queue.notes(group.id), "chart": _chart(evidence.get("series", [])),
            "error_rate": evidence.get("error_rate"), "ci": evidence.get("ci"), "rows": evidence.get("rows")}


def _active_since(group: Group, since: _dt.datetime) -> bool:
    moments = [group.created_at, group.decided_at]
    if group.followup:
        moments.append(_dt.datetime.fromisoformat(group.followup["measured_at"]))
    return any(m is not None and m >= since for m in moments)


def _intake_line(intake: dict[str, Any]) -> str:
    return (f"{intake['made_at']:%Y-%m-%d %H:%M}: {intake['added']} failures queued from {intake['dataset']} "
            f"({intake['duplicates']} already queued)")


def _chart(series: list[dict[str, Any]]) -> str | None:
    """The slice's error rate per time bucket with its 95% band, as an inline SVG image (data URI)."""
    if len(series) < 2:
        return None
    top = max(point["ci"][1] for point in series) or 1.0
    step = CHART_WIDTH / (len(series) - 1)

    def xy(i: int, value: float) -> str:
        return f"{i * step:.1f},{CHART_HEIGHT - value / top * (CHART_HEIGHT - 10):.1f}"

    band = [xy(i, p["ci"][1]) for i, p in enumerate(series)] + \
        [xy(i, p["ci"][0]) for i, p in reversed(list(enumerate(series)))]
    line = [xy(i, p["error_rate"]) for i, p in enumerate(series)]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT + 16}">'
           f'<polygon points="{" ".join(band)}" fill="#c6dbef"/>'
           f'<polyline points="{" ".join(line)}" fill="none" stroke="#08519c" stroke-width="2"/>'
           f'<text x="0" y="{CHART_HEIGHT + 14}" font-size="11">{series[0]["start"][:10]}</text>'
           f'<text x="{CHART_WIDTH}" y="{CHART_HEIGHT + 14}" font-size="11" text-anchor="end">'
           f'{series[-1]["start"][:10]}</text>'
           f'<text x="2" y="12" font-size="11">error {100 * top:.0f}%</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    env.filters["number"] = number
    env.filters["signed"] = signed
    env.filters["p"] = p_value
    env.filters["interval"] = lambda ci: interval(*ci, with_sign=True)
    return env


HTML_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Failure review: {{ doc.workspace }}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em}section{border-top:1px solid #999;margin-top:1.5em}</style>
</head><body>
<h1>Failure review: {{ doc.workspace }}</h1>
<p>Generated {{ doc.generated_at }}{% if doc.since %}, covering activity since {{ doc.since }}{% endif %}.</p>
<h2>Impact</h2>
<p>{{ doc.impact.failures }} failures in {{ doc.impact.groups }} groups ({{ doc.impact.queued }} queued items).</p>
<h2>Cause</h2>
{% if doc.causes %}<ul>{% for tag, n in doc.causes %}<li>{{ tag }}: {{ n }} group(s)</li>{% endfor %}</ul>
{% else %}<p>No cause tagged yet.</p>{% endif %}
<h2>Detection</h2>
<ul>{% for line in doc.detection %}<li>{{ line }}</li>{% else %}<li>No intake in the period.</li>{% endfor %}</ul>
<h2>Action items</h2>
<table><tr><th>group</th><th>decision</th><th>owner</th><th>status</th></tr>
{% for a in doc.actions %}<tr><td>{{ a.title }}</td><td>{{ a.decision }}</td><td>{{ a.owner }}</td><td>{{ a.status }}</td></tr>
{% else %}<tr><td colspan="4">No decision yet.</td></tr>{% endfor %}</table>
<h2>Groups</h2>
{% for g in doc.groups %}<section><h3>{{ g.id }}. {{ g.title }}</h3>
<p>{{ g.impact.failures }} failures ({{ g.impact.share | pct }} of all); slice error rate {{ g.error_rate | pct }}
{% if g.ci %}(95% CI {{ g.ci[0] | pct }} to {{ g.ci[1] | pct }}){% endif %} over {{ g.rows }} labelled rows.
Status: {{ g.status }}; owner: {{ g.owner or "unassigned" }}; tags: {{ g.tags | join(", ") or "-" }}.</p>
{% if g.blamed_batch %}<p>Blamed training batch: {{ g.blamed_batch.column }} = {{ g.blamed_batch.value }}
({{ g.blamed_batch.harmful_share | pct }} of the harmful influence, {{ g.blamed_batch.row_share | pct }} of the rows{% if g.blamed_batch.p_value is defined %}, concentration p {{ g.blamed_batch.p_value | p }}{% endif %}).</p>{% endif %}
{% if g.chart %}<img alt="error rate over time of {{ g.title }}" src="{{ g.chart }}">{% endif %}
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

MARKDOWN_TEMPLATE = """# Failure review: {{ doc.workspace }}

Generated {{ doc.generated_at }}{% if doc.since %}, covering activity since {{ doc.since }}{% endif %}.

## Impact

{{ doc.impact.failures }} failures in {{ doc.impact.groups }} groups ({{ doc.impact.queued }} queued items).

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
| {{ a.title }} | {{ a.decision }} | {{ a.owner }} | {{ a.status }} |
{% endfor %}

## Groups
{% for g in doc.groups %}

### {{ g.id }}. {{ g.title }}

- Impact: {{ g.impact.failures }} failures ({{ g.impact.share | pct }} of all); slice error rate {{ g.error_rate | pct }}{% if g.ci %} (95% CI {{ g.ci[0] | pct }} to {{ g.ci[1] | pct }}){% endif %} over {{ g.rows }} labelled rows
- Status: {{ g.status }}; owner: {{ g.owner or "unassigned" }}; tags: {{ g.tags | join(", ") or "-" }}
- Decision: {{ g.decision or "none yet" }}{% if g.rationale %} ({{ g.rationale }}){% endif %}
{% if g.blamed_batch %}
- Blamed training batch: {{ g.blamed_batch.column }} = {{ g.blamed_batch.value }} ({{ g.blamed_batch.harmful_share | pct }} of the harmful influence, {{ g.blamed_batch.row_share | pct }} of the rows{% if g.blamed_batch.p_value is defined %}, concentration p {{ g.blamed_batch.p_value | p }}{% endif %})
{% endif %}

{% if g.followup %}
- Follow-up on {{ g.followup.dataset }}: {{ g.followup.status }}; error {{ g.followup.before.error_rate | pct }} to {{ g.followup.after.error_rate | pct }} (p = {{ "%.3g" | format(g.followup.p_value) }})
{% endif %}
{% for n in g.notes %}
- Note ({{ n.who }}): {{ n.text }}
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
