"""The metrics panel: versions in the card order in every slice, each with its colour, card name
and 95% intervals."""

import re

import pytest
from scipy import stats

from analysis.metrics.per_version import METRICS, overall_metrics
from analysis.query import Sql, ident
from analysis.scope import Scope
from analysis.slices import Compare, Range, Slice
from analysis.workspace.version_cards import VersionCard
from app.commands import SaveVersionCard, SetSlice
from tests.views.layout_check import headers_cut
from views.panels.metrics import MetricsPanel
from views.widgets.palette import version_colour


def headers(panel):
    """The column titles as read, each on one line (a long one is wrapped onto several lines,
    at spaces or after a version string's "-")."""
    return [re.sub(r"(?<=[-_/])\n", "", panel.table.horizontalHeaderItem(c).text()).replace("\n", " ")
            for c in range(panel.table.columnCount())]


def header_colour(panel, column):
    image = panel.table.horizontalHeaderItem(column).icon().pixmap(12, 12).toImage()
    return image.pixelColor(6, 6).name()


def late_start_slice(session):
    """A slice in which the first version's rows start a week after the second's first row, so
    ordering by first appearance within the slice would put the second version first."""
    opened = session.active
    first, second = session.version_order()
    column = opened.roles.model_version
    since = session.store.scalar(Sql(f"SELECT MIN({ident(opened.roles.timestamp)}) + INTERVAL 7 DAY FROM "
                                     f"{ident(opened.dataset.view)} WHERE {ident(column)} = ?", (second,)))
    return Slice(Compare(column, "=", second) | (Compare(column, "=", first) & Range(opened.roles.timestamp, since, None)))


def test_columns_keep_the_card_order_where_the_slice_would_order_them_otherwise(window_demo_panel):
    panel = window_demo_panel(MetricsPanel)
    session = panel.session
    first, second = session.version_order()
    assert [r.version for r in panel.results] == [first, second]
    session.run(SetSlice(late_start_slice(session)))
    natural = overall_metrics(Scope(session.store, session.active.dataset, session.active.roles, session.condition()),
                              with_auc=False)
    assert [r.version for r in natural] == [second, first]  # the case is real: the slice's own order differs
    assert [r.version for r in panel.results] == [first, second]
    assert headers(panel) == [first, second]


def test_a_version_has_its_colour_in_a_slice_holding_it_alone(window_demo_panel):
    panel = window_demo_panel(MetricsPanel)
    session = panel.session
    first, second = session.version_order()
    whole = header_colour(panel, 1)
    assert whole == version_colour(session, second).name() != version_colour(session, first).name()
    session.run(SetSlice(Slice(Compare(session.active.roles.model_version, "=", second))))
    assert [r.version for r in panel.results] == [second]
    assert header_colour(panel, 0) == whole


def test_a_renamed_card_heads_its_column_whole_with_the_raw_string_in_the_tooltip(window_demo_panel, qtbot):
    panel = window_demo_panel(MetricsPanel, size=(420, 600))
    session = panel.session
    first, second = session.version_order()
    long_name = "challenger (boosted trees), shadow traffic only"
    session.run(SaveVersionCard(VersionCard(second, name=long_name)))
    header = panel.table.horizontalHeader()
    qtbot.waitUntil(lambda: headers_cut(header) == [])  # refitted once the header has laid out
    item = panel.table.horizontalHeaderItem(1)
    assert headers(panel)[1] == long_name and "\n" in item.text()  # wrapped, not elided
    assert second in item.toolTip() and long_name in item.toolTip()
    assert panel.copy_text().splitlines()[0].split("\t")[2] == long_name


@pytest.mark.parametrize("renamed", [None, "challenger (boosted trees) retrained on October's data, shadow traffic"])
def test_at_1280x720_every_version_heads_its_column_whole(qtbot, qsettings, window_demo_files, renamed):
    """The demo's card names, and a long one, read whole in the window's metrics dock at
    1280x720 (they were elided to "incumbent (l…")."""
    from tests.views.helpers import close_window, make_window, open_demo, settle

    window = make_window(qtbot, qsettings, size=(1280, 720))
    try:
        open_demo(qtbot, window, window_demo_files)
        session, panel = window.session, window.metrics_panel
        if renamed:
            session.run(SaveVersionCard(VersionCard(session.version_order()[1], name=renamed)))
            settle(qtbot, window)
        names = [session.version_name(version) for version in session.version_order()]
        header = panel.table.horizontalHeader()
        qtbot.waitUntil(lambda: headers_cut(header) == [])  # refitted once the header has laid out
        assert headers(panel) == names
    finally:
        window.close()
        close_window(window)


def test_every_share_shows_its_wilson_interval_and_every_mean_its_t_interval(window_demo_panel):
    panel = window_demo_panel(MetricsPanel)
    session = panel.session
    frame = session.store.df(Sql(f"SELECT model_version, is_fraud, prediction, score FROM "
                                 f"{ident(session.active.dataset.view)}"))
    for version, rows in frame.groupby("model_version"):
        labelled = rows.dropna(subset=["is_fraud"])
        correct = int((labelled.is_fraud == labelled.prediction).sum())
        wilson = stats.binomtest(correct, len(labelled)).proportion_ci(method="wilson")
        assert panel.interval_text(METRICS["accuracy"].display, version) == f"[{wilson.low:.4f}, {wilson.high:.4f}]"
        scores = rows.score.dropna()
        t = stats.ttest_1samp(scores, 0).confidence_interval()
        assert panel.interval_text(METRICS["mean_score"].display, version) == f"[{t.low:.4f}, {t.high:.4f}]"
        assert panel.interval_text(METRICS["f1"].display, version) == ""
        assert float(panel.cell_text(METRICS["accuracy"].display, version)) == pytest.approx(correct / len(labelled),
                                                                                             abs=5e-5)


def test_a_metric_on_few_rows_is_greyed_and_says_why(window_demo_panel):
    panel = window_demo_panel(MetricsPanel)
    session = panel.session
    first, _ = session.version_order()
    view = ident(session.active.dataset.view)
    ids = session.store.rows(Sql(f"SELECT request_id FROM {view} WHERE model_version = ? AND is_fraud IS NOT NULL "
                                 "ORDER BY request_id LIMIT 12", (first,)))
    from analysis.slices import InSet
    session.run(SetSlice(Slice(InSet("request_id", tuple(str(r[0]) for r in ids)))))
    rows = [panel.table.verticalHeaderItem(r).text() for r in range(panel.table.rowCount())]
    item = panel.table.item(rows.index(METRICS["accuracy"].display), 0)
    assert "few rows" in item.toolTip()
    assert item.foreground().color().name() != panel.table.item(0, 0).foreground().color().name()


def test_the_slice_in_the_header_names_versions_by_their_cards(window_demo_panel):
    panel = window_demo_panel(MetricsPanel)
    session = panel.session
    _, second = session.version_order()
    session.run(SetSlice(Slice(Compare(session.active.roles.model_version, "=", second))))
    assert second in panel.caption.text()
    session.run(SaveVersionCard(VersionCard(second, name="challenger")))
    assert "model_version = 'challenger'" in panel.caption.text() and second not in panel.caption.text()
