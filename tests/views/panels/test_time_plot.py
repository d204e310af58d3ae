"""The time plot: versions keep their colour and card name, curves carry interval bands, thin
buckets are marked, the axes say what and when (with the year), and the legend is off the data."""

import numpy as np
import pandas as pd
import pyqtgraph as pg
import pytest
from scipy import stats

from analysis.slices import Compare, Slice
from analysis.workspace.version_cards import VersionCard
from app.commands import SaveVersionCard, SetSlice
from views.panels.time_plot import TimePlotPanel


def pen_colour(curve):
    return curve.opts["pen"].color().name()


def test_a_version_keeps_its_colour_in_a_slice_holding_it_alone(window_demo_panel):
    panel = window_demo_panel(TimePlotPanel)
    session = panel.session
    first, second = session.version_order()
    whole = {version: pen_colour(panel.curves[version]) for version in (first, second)}
    assert whole[first] != whole[second]
    session.run(SetSlice(Slice(Compare(session.active.roles.model_version, "=", second))))
    assert set(panel.curves) == {second}
    assert pen_colour(panel.curves[second]) == whole[second]


def test_the_legend_names_cards_in_the_card_order_above_the_plot(window_demo_panel):
    panel = window_demo_panel(TimePlotPanel)
    session = panel.session
    first, second = session.version_order()
    session.run(SaveVersionCard(VersionCard(first, name="incumbent")))
    assert panel.legend_names == ["incumbent", second]
    assert "incumbent" in panel.legend.text() and first not in panel.legend.text()
    legend_bottom = panel.legend.mapTo(panel, panel.legend.rect().bottomLeft()).y()
    plot_top = panel.plot.mapTo(panel, panel.plot.rect().topLeft()).y()
    assert legend_bottom <= plot_top  # a row of its own, never over the curves


def test_axes_say_the_metric_and_the_dates_with_their_year(window_demo_panel):
    panel = window_demo_panel(TimePlotPanel)
    assert panel.plot.getAxis("left").labelText == "Accuracy"
    bottom = panel.plot.getAxis("bottom").labelText
    assert "Time (UTC)" in bottom and "2026" in bottom and "Oct" in bottom


def test_bands_are_the_wilson_intervals_and_thin_buckets_are_hollow(window_demo_panel, window_demo_files):
    panel = window_demo_panel(TimePlotPanel)
    session = panel.session
    log = pd.read_parquet(window_demo_files.log)
    high_amount = float(log["amount"].quantile(0.99))  # a thin slice: a handful of rows per bucket
    session.run(SetSlice(Slice(Compare("amount", ">", high_amount))))
    rows = log[log["amount"] > high_amount].dropna(subset=["is_fraud"])
    rows = rows.assign(bucket=rows["timestamp"].dt.floor(pd.Timedelta(seconds=panel.series.bucket.seconds)))
    frame = panel.series.frame
    for (version, bucket), part in rows.groupby(["model_version", "bucket"]):
        shown = frame[(frame["version"] == version) & (frame["bucket_start"] == bucket)].iloc[0]
        correct = int((part["is_fraud"] == part["prediction"]).sum())
        wilson = stats.binomtest(correct, len(part)).proportion_ci(method="wilson")
        assert (shown["low"], shown["high"]) == pytest.approx((wilson.low, wilson.high), rel=1e-9)
        assert shown["few"] == (min(correct, len(part) - correct) < 10)
    bands = [item for item in panel.plot.getPlotItem().items if isinstance(item, pg.FillBetweenItem)]
    frame_x = frame["bucket_start"].astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
    (x_low, x_high), _ = panel.plot.getPlotItem().getViewBox().childrenBounds()
    assert frame_x.min() - 86400 < x_low and x_high < frame_x.max() + 86400  # auto-range holds the data, not 1970
    drawn_low = np.concatenate([band.curves[0].yData for band in bands])
    drawn_high = np.concatenate([band.curves[1].yData for band in bands])
    assert len(drawn_low) > 0
    spans = [band.path().boundingRect() for band in bands]
    assert all(span.height() > 0 and span.left() >= frame_x.min() - 1 for span in spans)  # drawn, where the data is
    assert np.isin(drawn_low, frame["low"].to_numpy(float)).all()
    assert np.isin(drawn_high, frame["high"].to_numpy(float)).all()
    few = frame[frame["few"] & frame["value"].notna()]
    assert len(few) > 0
    assert sum(len(points) for points in panel.few_row_points.values()) == len(few)


def test_the_time_band_stays_in_its_plot_and_shows_while_selecting(window_demo_panel, qtbot):
    """The band is in the plot from the start (an item no scene holds is left to Python's
    collector, which crashed the suite on PySide6 6.11, see views/widgets/plot_items.py),
    shown only while *Select time range* is on, and kept through redraws; dragging it asks for
    its time range as the slice."""
    from PySide6.QtCore import Qt

    panel = window_demo_panel(TimePlotPanel)
    in_plot = lambda: panel.region.scene() is panel.plot.scene()  # noqa: E731
    assert in_plot() and not panel.region.isVisible()
    qtbot.mouseClick(panel.range_button, Qt.LeftButton)
    assert in_plot() and panel.region.isVisible()
    panel.metric_box.setCurrentIndex((panel.metric_box.currentIndex() + 1) % panel.metric_box.count())  # a redraw
    assert in_plot() and panel.region.isVisible()
    with qtbot.waitSignal(panel.sig_time_range, timeout=1000) as asked:
        panel.region.sigRegionChangeFinished.emit(panel.region)
    start, end = panel.region.getRegion()
    assert [t.timestamp() for t in asked.args] == [float(int(start)), float(int(end))]
    qtbot.mouseClick(panel.range_button, Qt.LeftButton)
    assert in_plot() and not panel.region.isVisible()
