"""Static charts for reports, as small SVG documents written here: no window, no plotting library.

A report must render where there is no display (cron, CI) and stay one self-contained file, so
its charts are SVG text the HTML inlines as data URIs and the PDF writer rasterises. Three
shapes cover what the review reads: bars (failures per group, status changes), a rate over
time with its 95% band, and rates with their intervals side by side (a slice in two versions).
Every chart carries its numbers twice for readers who cannot see it: a sentence (the image's
alt text) and a table the report prints next to it. Every mark has a ``<title>`` with its value.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape
from typing import Sequence

from analysis.report.formatting import percent

WIDTH = 560
LABEL_WIDTH = 220
ROW_HEIGHT = 22
TOP = 28
FONT = 'font-family="sans-serif" font-size="12"'
LABEL_CHARACTERS = 34
BAR_COLOUR, BAND_COLOUR, LINE_COLOUR = "#4a78b5", "#c6dbef", "#08519c"


@dataclass(frozen=True)
class Chart:
    """One chart: its SVG text, a sentence saying what it shows, and its numbers as a table."""

    name: str
    svg: str
    alt: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def bar_chart(name: str, title: str, bars: Sequence[tuple[str, float]], header: tuple[str, str]) -> Chart:
    """Horizontal bars, one per (label, count), longest scale at the largest count."""
    largest = max((value for _, value in bars), default=0) or 1
    span = WIDTH - LABEL_WIDTH - 60
    marks = []
    for i, (label, value) in enumerate(bars):
        y = TOP + i * ROW_HEIGHT
        marks.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(_short(label))}</text>'
                     f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{value / largest * span:.2f}" height="{ROW_HEIGHT - 6}" '
                     f'fill="{BAR_COLOUR}" data-value="{value:g}"><title>{escape(label)}: {value:g}</title></rect>'
                     f'<text x="{LABEL_WIDTH + value / largest * span + 4:.2f}" y="{y + 15}">{value:g}</text>')
    alt = f"{title}: " + "; ".join(f"{label} {value:g}" for label, value in bars) if bars else f"{title}: none"
    return Chart(name, _svg(title, TOP + len(bars) * ROW_HEIGHT + 8, "".join(marks)), alt, header,
                 tuple((label, f"{value:g}") for label, value in bars))


def rate_over_time_chart(name: str, title: str, series: Sequence[dict]) -> Chart:
    """A rate per time bucket (``start``, ``error_rate``, ``ci``) as a line over its 95% band."""
    top = max(point["ci"][1] for point in series) or 1.0
    height, left, right = 150, 48, WIDTH - 12
    step = (right - left) / max(len(series) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(value: float) -> float:
        return TOP + height - value / top * height

    band = [f"{x(i):.2f},{y(p['ci'][1]):.2f}" for i, p in enumerate(series)] + \
        [f"{x(i):.2f},{y(p['ci'][0]):.2f}" for i, p in reversed(list(enumerate(series)))]
    line = [f"{x(i):.2f},{y(p['error_rate']):.2f}" for i, p in enumerate(series)]
    when = bucket_labels([p["start"] for p in series])
    marks = [_axis(left, right, TOP, height, top),
             f'<polygon points="{" ".join(band)}" fill="{BAND_COLOUR}"/>',
             f'<polyline points="{" ".join(line)}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2"/>']
    marks += [f'<circle cx="{x(i):.2f}" cy="{y(p["error_rate"]):.2f}" r="3" fill="{LINE_COLOUR}" '
              f'data-value="{p["error_rate"]:.6g}"><title>{when[i]}: {percent(p["error_rate"])} '
              f'[{percent(p["ci"][0])}–{percent(p["ci"][1])}]</title></circle>' for i, p in enumerate(series)]
    marks.append(f'<text x="{left}" y="{TOP + height + 16}">{when[0]}</text>'
                 f'<text x="{right}" y="{TOP + height + 16}" text-anchor="end">{when[-1]}</text>')
    rows = tuple((moment, percent(p["error_rate"]), f"{percent(p['ci'][0])} – {percent(p['ci'][1])}",
                  f"{p['rows']:,}") for moment, p in zip(when, series))
    alt = (f"{title}: from {percent(series[0]['error_rate'])} at {when[0]} "
           f"to {percent(series[-1]['error_rate'])} at {when[-1]}, over {len(series)} buckets")
    return Chart(name, _svg(title, TOP + height + 24, "".join(marks)), alt,
                 ("from", "error rate", "95% interval", "labelled rows"), rows)


def interval_chart(name: str, title: str, rates: Sequence[tuple[str, float, float, float, int]]) -> Chart:
    """Rates side by side, each (label, rate, low, high, rows) a dot on its 95% interval."""
    top = max(high for *_, high, _ in rates) or 1.0
    left, right = LABEL_WIDTH, WIDTH - 60
    axis_y = TOP + len(rates) * ROW_HEIGHT + 4

    def x(value: float) -> float:
        return left + value / top * (right - left)

    marks = []
    for i, (label, rate, low, high, _) in enumerate(rates):
        y = TOP + i * ROW_HEIGHT + ROW_HEIGHT / 2
        marks.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{escape(_short(label))}</text>'
                     f'<line x1="{x(low):.2f}" x2="{x(high):.2f}" y1="{y}" y2="{y}" stroke="{LINE_COLOUR}" '
                     f'stroke-width="2" data-low="{low:.6g}" data-high="{high:.6g}"/>'
                     f'<circle cx="{x(rate):.2f}" cy="{y}" r="5" fill="{LINE_COLOUR}" data-value="{rate:.6g}">'
                     f'<title>{escape(label)}: {percent(rate)} [{percent(low)}–{percent(high)}]</title></circle>'
                     f'<text x="{x(high) + 6:.2f}" y="{y + 4}">{percent(rate)}</text>')
    marks.append(f'<line x1="{left}" x2="{right}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>'
                 f'<text x="{left}" y="{axis_y + 14}">0%</text>'
                 f'<text x="{right}" y="{axis_y + 14}" text-anchor="end">{percent(top)}</text>')
    alt = f"{title}: " + "; ".join(f"{label} {percent(rate)} (95% interval {percent(low)} to {percent(high)})"
                                   for label, rate, low, high, _ in rates)
    rows = tuple((label, percent(rate), f"{percent(low)} – {percent(high)}", f"{n:,}")
                 for label, rate, low, high, n in rates)
    return Chart(name, _svg(title, axis_y + 22, "".join(marks)), alt,
                 ("version", "error rate", "95% interval", "labelled rows"), rows)


def _axis(left: float, right: float, top_y: float, height: float, top: float) -> str:
    """The y axis of a rate: a baseline at 0 and a gridline at the top value, labelled."""
    return (f'<line x1="{left}" x2="{right}" y1="{top_y + height}" y2="{top_y + height}" stroke="#999"/>'
            f'<line x1="{left}" x2="{right}" y1="{top_y}" y2="{top_y}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{top_y + height + 4}" text-anchor="end">0%</text>'
            f'<text x="{left - 4}" y="{top_y + 4}" text-anchor="end">{percent(top, 0)}</text>')


def _svg(title: str, height: float, marks: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" {FONT}><rect width="100%" height="100%" fill="white"/>'
            f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>{marks}</svg>')


def bucket_labels(starts: Sequence[str]) -> list[str]:
    """ISO bucket starts as dates, with the time of day when any bucket starts within a day."""
    with_time = any(start[11:16] not in ("", "00:00") for start in starts)
    return [start[:16].replace("T", " ") if with_time else start[:10] for start in starts]


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARACTERS else label[:LABEL_CHARACTERS - 1] + "…"
