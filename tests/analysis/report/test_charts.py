"""The report's SVG charts draw the numbers they are given: bar lengths in proportion to the
counts, dots and whiskers where the rates and interval bounds fall on the axis, a line through
each bucket's rate; the alt sentence and table carry the same numbers; labels are escaped."""

from xml.etree import ElementTree

import pytest

from analysis.report.charts import LABEL_WIDTH, WIDTH, bar_chart, interval_chart, rate_over_time_chart

SVG = "{http://www.w3.org/2000/svg}"


def _marks(chart, tag):
    return ElementTree.fromstring(chart.svg).iter(SVG + tag)


def test_bars_are_as_long_as_their_counts():
    bars = [("2. kiosk <web> & co", 348), ("1. unexplained", 149), ("3. other", 0)]
    chart = bar_chart("failures", "Failures per group", bars, ("group", "failures"))
    rects = [r for r in _marks(chart, "rect") if r.get("data-value") is not None]
    widths = [float(r.get("width")) for r in rects]
    assert [float(r.get("data-value")) for r in rects] == [348, 149, 0]
    assert widths[1] / widths[0] == pytest.approx(149 / 348, abs=1e-3) and widths[2] == 0
    assert [r.find(SVG + "title").text for r in rects][0] == "2. kiosk <web> & co: 348"
    assert chart.rows == (("2. kiosk <web> & co", "348"), ("1. unexplained", "149"), ("3. other", "0"))
    assert "2. kiosk <web> & co 348; 1. unexplained 149" in chart.alt


def test_intervals_sit_where_their_rates_fall_on_the_axis():
    rates = [("v1", 0.099, 0.080, 0.122, 766), ("v2", 0.464, 0.429, 0.500, 750)]
    chart = interval_chart("versions", "Error rate by version", rates)
    dots, whiskers = list(_marks(chart, "circle")), [w for w in _marks(chart, "line") if w.get("data-low")]
    left, right, top = LABEL_WIDTH, WIDTH - 60, 0.500

    def value(x):
        return (float(x) - left) / (right - left) * top

    assert [value(d.get("cx")) for d in dots] == pytest.approx([0.099, 0.464], abs=1e-4)
    assert [(value(w.get("x1")), value(w.get("x2"))) for w in whiskers] == [
        pytest.approx((0.080, 0.122), abs=1e-4), pytest.approx((0.429, 0.500), abs=1e-4)]
    assert chart.rows[1] == ("v2", "46.4%", "42.9% – 50.0%", "750")
    assert "v1 9.9% (95% interval 8.0% to 12.2%)" in chart.alt


def test_the_line_goes_through_each_bucket_and_its_band_holds_the_interval():
    series = [{"start": f"2026-11-0{i + 1}T00:00:00", "rows": 50, "error_rate": rate, "ci": [rate - 0.05, rate + 0.1]}
              for i, rate in enumerate([0.1, 0.3, 0.2])]
    chart = rate_over_time_chart("time", "Error rate over time", series)
    line = next(_marks(chart, "polyline")).get("points").split()
    ys = [float(point.split(",")[1]) for point in line]
    baseline = max(float(l.get("y1")) for l in _marks(chart, "line"))
    heights = [baseline - y for y in ys]
    assert [h / heights[1] for h in heights] == pytest.approx([1 / 3, 1, 2 / 3], abs=1e-3)
    assert chart.rows[0] == ("2026-11-01", "10.0%", "5.0% – 20.0%", "50")
    assert "from 10.0% at 2026-11-01 to 20.0% at 2026-11-03, over 3 buckets" in chart.alt


def test_buckets_within_a_day_keep_their_time():
    series = [{"start": f"2026-11-01T{h:02d}:00:00", "rows": 5, "error_rate": 0.2, "ci": [0.1, 0.4]} for h in (0, 6)]
    assert [row[0] for row in rate_over_time_chart("t", "t", series).rows] == ["2026-11-01 00:00", "2026-11-01 06:00"]
