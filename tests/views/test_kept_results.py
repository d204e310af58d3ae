"""The jobs the window runs per action: the metrics, metric over time and breakdown of rows already
computed are shown again without reading the log (the Session's ``KeptResults``), and as
computed afresh; other rows, and a log opened again, are read again."""

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from analysis.data.roles import Role
from analysis.metrics.per_version import metric_series, overall_metrics
from analysis.scope import Scope
from tests.views.helpers import open_demo, settle

AGGREGATES = ("MetricsPanel", "TimePlotPanel", "BreakdownPanel")
EVERY_AGGREGATE = ["BreakdownPanel:breakdown", "MetricsPanel:metrics", "TimePlotPanel:series"]


def aggregate_jobs(window) -> list[str]:
    """Names the jobs the metrics, time-plot and breakdown panels start from now on (``Panel:job``)."""
    started = []

    def seen(task) -> None:
        panel = (task.key or "").split("@")[0]
        if panel in AGGREGATES:
            started.append(f"{panel}:{task.key.rsplit(':', 1)[1]}")
    window.tasks.sig_started.connect(seen)
    return started


def assert_shows_all_rows_as_computed_now(window) -> None:
    opened = window.session.active
    scope = Scope(window.session.store, opened.dataset, opened.roles)
    shown = {r.version: r for r in window.metrics_panel.results}
    fresh = {r.version: r for r in overall_metrics(scope)}
    assert shown.keys() == fresh.keys()
    for version, result in fresh.items():  # DuckDB's parallel sums may differ in the last digits
        assert (shown[version].rows, shown[version].labelled) == (result.rows, result.labelled)
        assert shown[version].metrics == pytest.approx(result.metrics, rel=1e-9)
    series = window.time_panel.series
    fresh_series = metric_series(scope, series.metric)
    assert series.bucket == fresh_series.bucket
    pd.testing.assert_frame_equal(series.frame, fresh_series.frame, rtol=1e-9)


def test_rows_shown_before_are_shown_again_without_a_job(app_window, qtbot, window_demo_files):
    window = app_window
    opened = open_demo(qtbot, window, window_demo_files)
    window.addDockWidget(Qt.BottomDockWidgetArea, window.breakdown_dock)  # out of the time plot's tabs:
    settle(qtbot, window)  # both shown, both follow every change
    settle(qtbot, window)
    started = aggregate_jobs(window)

    window.controller.open_paths([str(window_demo_files.training)], name="snapshot", kind="training",
                                 activate=False)  # another dataset beside: the rows shown are the same
    settle(qtbot, window)
    assert "snapshot" in window.session.datasets and started == []

    window.apply_filter("region = 'EU-West'")  # rows not seen yet: read
    settle(qtbot, window)
    assert sorted(started) == EVERY_AGGREGATE
    assert sum(r.rows for r in window.metrics_panel.results) < opened.dataset.row_count

    started.clear()
    window.apply_filter("")  # all rows again
    settle(qtbot, window)
    assert started == []
    assert_shows_all_rows_as_computed_now(window)

    window.controller.set_roles(opened.name, opened.roles.with_role("model_version", Role.FEATURE))
    settle(qtbot, window)
    assert sorted(started) == EVERY_AGGREGATE  # other roles: read
    assert [r.version for r in window.metrics_panel.results] == [None]
    started.clear()
    window.undo()
    settle(qtbot, window)
    assert started == [] and len(window.metrics_panel.results) == 2
    assert_shows_all_rows_as_computed_now(window)


def test_a_log_opened_again_is_read_again(app_window, qtbot, window_demo_files):
    window = app_window
    open_demo(qtbot, window, window_demo_files)
    window.controller.close_dataset(window.session.active_name)
    settle(qtbot, window)
    started = aggregate_jobs(window)
    open_demo(qtbot, window, window_demo_files)  # a new view of the file: what it holds now
    assert sorted(started) == ["MetricsPanel:metrics", "TimePlotPanel:series"]
    assert_shows_all_rows_as_computed_now(window)
