"""The current slice in the window: typed, built, picked on the time axis, saved, reopened."""

import datetime as dt

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from analysis.metrics.per_version import METRICS
from analysis.slices import AllRows, Compare, Range
from tests.views.helpers import close_shared_window, close_window, make_window, open_demo, settle, shared_window


@pytest.fixture(scope="module")
def demo_window(qapp, tmp_path_factory, window_demo_files):
    """One window on the demo for the tests that only type, click and read slices: building a
    window and opening the demo was about a second of CPU per test. The tests that change what
    a slice is read against (roles, version cards, a workspace) open their own (``app_window``)."""
    from PySide6.QtWidgets import QApplication

    window = shared_window(tmp_path_factory)
    window.open_paths([str(window_demo_files.log)])
    QApplication.processEvents()
    assert window.session.active is not None, window.notifications.messages()
    yield window
    close_shared_window(window)


@pytest.fixture
def opened(demo_window, qtbot):
    """The shared window as a test finds it after ``open_demo``: every row ("All rows" clicked),
    no error in the bar, the table at its first row, the default tab (the time plot) raised."""
    demo_window.time_dock.raise_()
    qtbot.mouseClick(demo_window.slice_bar.clear, Qt.LeftButton)
    settle(qtbot, demo_window)
    demo_window.table_panel.view.verticalScrollBar().setValue(0)
    assert demo_window.session.current_slice.predicate == AllRows()
    assert demo_window.table_panel.model.rowCount() == demo_window.session.active.dataset.row_count
    return demo_window


def type_filter(qtbot, window, text):
    edit = window.slice_bar.edit
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key_Return)
    settle(qtbot, window)


def test_typed_filter_restricts_table_and_metrics(opened, qtbot, window_demo_files):
    frame = pd.read_parquet(window_demo_files.log)
    type_filter(qtbot, opened, "region = 'EU-West' AND amount > 100")
    expected = frame[(frame.region == "EU-West") & (frame.amount > 100)]

    assert opened.table_panel.model.rowCount() == len(expected)
    shown = {r.version: r for r in opened.metrics_panel.results}
    for version, rows in expected.groupby("model_version"):
        labelled = rows.dropna(subset=["is_fraud"])
        accuracy = (labelled.is_fraud == labelled.prediction).mean()
        assert shown[version].rows == len(rows)
        assert float(opened.metrics_panel.cell_text(METRICS["accuracy"].display, version)) == pytest.approx(
            accuracy, abs=5e-5)
    assert "slice" in opened.metrics_panel.caption.text()


def test_a_column_width_the_person_set_survives_a_new_slice(opened, qtbot, window_demo_files):
    header = opened.table_panel.view.horizontalHeader()
    header.resizeSection(1, 333)
    type_filter(qtbot, opened, "region = 'EU-West'")
    assert opened.table_panel.model.rowCount() < opened.session.active.dataset.row_count
    assert header.sectionSize(1) == 333


def test_a_new_slice_starts_the_table_at_its_first_row(opened, qtbot, window_demo_files):
    bar = opened.table_panel.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    settle(qtbot, opened)
    type_filter(qtbot, opened, "region = 'EU-West'")
    assert bar.value() == 0
    assert opened.table_panel.view.rowAt(0) == 0


def test_a_bad_filter_says_where_and_keeps_the_text(opened, qtbot, window_demo_files):
    type_filter(qtbot, opened, "regoin = 'EU-West'")
    assert opened.slice_bar.error.isVisible()
    assert "did you mean 'region'" in opened.slice_bar.error.text()
    assert opened.slice_bar.edit.text() == "regoin = 'EU-West'"  # nothing typed is lost
    assert opened.table_panel.model.rowCount() == len(pd.read_parquet(window_demo_files.log))


def test_back_and_forward_walk_the_slice_history(opened, qtbot, window_demo_files):
    type_filter(qtbot, opened, "client = 'stark-pay'")
    type_filter(qtbot, opened, "device_type = 'kiosk'")
    qtbot.keyClick(opened, Qt.Key_Left, Qt.AltModifier)
    settle(qtbot, opened)
    assert opened.slice_bar.edit.text() == "client = 'stark-pay'"
    qtbot.keyClick(opened, Qt.Key_Right, Qt.AltModifier)
    settle(qtbot, opened)
    assert opened.slice_bar.edit.text() == "device_type = 'kiosk'"


def test_time_range_from_the_plot_becomes_the_slice(opened, qtbot, window_demo_files):
    start, end = dt.datetime(2026, 10, 12, 8), dt.datetime(2026, 10, 12, 14)
    opened.time_panel.select_time_range(start, end)
    settle(qtbot, opened)
    assert opened.session.current_slice.predicate == Range("timestamp", start, end)
    frame = pd.read_parquet(window_demo_files.log)
    inside = frame[(frame.timestamp >= start) & (frame.timestamp < end)]
    assert opened.table_panel.model.rowCount() == len(inside)
    # a second range replaces the first instead of intersecting with it
    opened.time_panel.select_time_range(start - dt.timedelta(days=1), end - dt.timedelta(days=1))
    settle(qtbot, opened)
    assert opened.session.current_slice.predicate == Range("timestamp", start - dt.timedelta(days=1),
                                                               end - dt.timedelta(days=1))


def test_filter_builder_adds_a_condition(opened, qtbot, window_demo_files, monkeypatch):
    from views.dialogs import filter_builder


    def fake_exec(dialog):
        dialog.set_condition(0, "merchant_risk", "IS NULL")
        return True

    monkeypatch.setattr(filter_builder.FilterBuilder, "exec", fake_exec)
    opened.build_filter()
    settle(qtbot, opened)
    frame = pd.read_parquet(window_demo_files.log)
    assert opened.slice_bar.edit.text() == "merchant_risk IS NULL"
    assert opened.table_panel.model.rowCount() == frame.merchant_risk.isna().sum()


def test_saved_slice_survives_reopening_the_workspace(app_window, qtbot, window_demo_files, tmp_path, qsettings):
    open_demo(qtbot, app_window, window_demo_files)
    path = tmp_path / "review.sleuth"
    assert app_window.controller.save_workspace_as(path)
    type_filter(qtbot, app_window, "device_type = 'kiosk'")
    app_window.slice_bar.sig_save.emit("kiosks")
    assert "kiosks" in app_window.session.saved_slices
    app_window.close()

    again = make_window(qtbot, qsettings)
    again.controller.open_workspace(path)
    settle(qtbot, again)
    assert set(again.session.saved_slices) == {"kiosks"}
    assert again.slice_bar.edit.text() == "device_type = 'kiosk'"  # the current slice came back too
    frame = pd.read_parquet(window_demo_files.log)
    assert again.table_panel.model.rowCount() == (frame.device_type == "kiosk").sum()
    close_window(again)


def test_return_in_the_bar_applies_the_typed_text_after_a_failing_slice_was_selected(opened, qtbot,
        window_demo_files):
    """Selecting a discovered slice (its tab then hidden) must not hijack Return in the bar."""
    opened.discovery_dock.raise_()
    discovery = opened.discovery_panel
    qtbot.mouseClick(discovery.find_button, Qt.LeftButton)
    settle(qtbot, opened)
    assert discovery.table.rowCount() > 0
    discovery.table.setFocus()
    discovery.table.selectRow(0)
    opened.time_dock.raise_()

    opened.slice_bar.edit.setFocus()
    type_filter(qtbot, opened, "region = 'EU-West'")

    assert opened.session.current_slice.predicate == Compare("region", "=", "EU-West")
    assert opened.slice_bar.edit.text() == "region = 'EU-West'"
    frame = pd.read_parquet(window_demo_files.log, columns=["region"])
    assert opened.table_panel.model.rowCount() == int((frame.region == "EU-West").sum())
    for panel in (opened.metrics_panel, opened.time_panel):
        assert "<code>region = 'EU-West'</code>" in panel.caption.text(), (panel.title, panel.caption.text())
    for dock in (opened.breakdown_dock, opened.discovery_dock):  # behind a tab: follows once chosen
        dock.raise_()
        settle(qtbot, opened)
        panel = dock.widget()
        assert "<code>region = 'EU-West'</code>" in panel.caption.text(), (panel.title, panel.caption.text())


def test_outcome_leaves_typed_in_the_bar_and_a_leaf_the_roles_cannot_resolve(app_window, qtbot, window_demo_files):
    """``wrong`` in the bar restricts every panel to the wrong predictions; once no label column
    is mapped, the bar says why the slice is not applied and refuses a new leaf in a sentence."""
    from dataclasses import replace

    from app.commands import SetRoles

    opened = open_demo(qtbot, app_window, window_demo_files)
    frame = pd.read_parquet(window_demo_files.log)
    type_filter(qtbot, app_window, "wrong AND region = 'EU-West'")
    labelled = frame.dropna(subset=["is_fraud"])
    expected = labelled[(labelled.prediction != labelled.is_fraud) & (labelled.region == "EU-West")]
    assert app_window.table_panel.model.rowCount() == len(expected) > 0
    shown = {r.version: r.rows for r in app_window.metrics_panel.results}
    assert shown == expected.groupby("model_version").size().to_dict()

    app_window.session.run(SetRoles(opened.name, replace(opened.roles, label=None)))
    settle(qtbot, app_window)
    note = app_window.slice_bar.note
    assert note.isVisibleTo(app_window) and "needs the label column" in note.text()
    assert app_window.table_panel.model.rowCount() == len(frame)  # not applied, not failing

    type_filter(qtbot, app_window, "unlabelled")
    error = app_window.slice_bar.error
    assert error.isVisibleTo(app_window) and "'unlabelled' needs the label column" in error.text()
    assert app_window.slice_bar.edit.text() == "unlabelled"


def test_a_flip_naming_an_unknown_version_is_refused_in_the_bar(opened, qtbot, window_demo_files):
    versions = list(pd.read_parquet(window_demo_files.log, columns=["model_version"]).model_version.unique())
    typed = f"flip('{versions[0]}' -> 'v9-nowhere', negative)"
    type_filter(qtbot, opened, typed)
    error = opened.slice_bar.error
    assert error.isVisibleTo(opened)
    assert "'v9-nowhere'" in error.text() and all(f"'{v}'" in error.text() for v in versions)
    assert opened.slice_bar.edit.text() == typed  # nothing typed is lost
    assert opened.table_panel.model.rowCount() == \
        len(pd.read_parquet(window_demo_files.log, columns=["request_id"]))


def test_zoom_scales_the_tables_rows_and_column_widths_and_actual_size_restores_them(opened, qtbot,
        window_demo_files):
    from PySide6.QtWidgets import QApplication

    view = opened.table_panel.view
    header = view.horizontalHeader()
    header.resizeSection(1, 333)  # a width the person set keeps its proportion
    before = [header.sectionSize(c) for c in range(header.count())]
    row_height = view.verticalHeader().defaultSectionSize()
    base = QApplication.font().pointSizeF()
    try:
        qtbot.keyClick(opened, Qt.Key_Equal, Qt.ControlModifier)
        qtbot.keyClick(opened, Qt.Key_Equal, Qt.ControlModifier)
        QApplication.processEvents()
        assert QApplication.font().pointSizeF() == pytest.approx(base * 1.3)
        after = [header.sectionSize(c) for c in range(header.count())]
        assert after == [pytest.approx(w * 1.3, abs=2) for w in before]
        assert view.verticalHeader().defaultSectionSize() == round(row_height * 1.3)
        assert view.verticalHeader().defaultSectionSize() >= view.fontMetrics().height()
        for column in range(header.count()):  # the header's text still fits its column
            title = opened.table_panel.model.headerData(column, Qt.Horizontal)
            assert header.sectionSize(column) >= min(view.fontMetrics().horizontalAdvance(title), 260 * 1.3)
    finally:
        qtbot.keyClick(opened, Qt.Key_0, Qt.ControlModifier)
        QApplication.processEvents()
    assert [header.sectionSize(c) for c in range(header.count())] == [pytest.approx(w, abs=2) for w in before]
    assert view.verticalHeader().defaultSectionSize() == row_height


def _offers(bar):
    return [bar.offers.item(row).data(Qt.UserRole) for row in range(bar.offers.rowCount())]


def test_the_bar_offers_columns_values_leaves_and_saved_slices_and_tab_takes_one(opened, qtbot, window_demo_files):
    """Typed as a person does: a column's start and Tab, a value's start and Tab, Down to a
    second value and Return, an ML leaf, a saved slice; Return with nothing highlighted applies."""
    from app.commands import SaveSlice
    from analysis.slices import Slice

    frame = pd.read_parquet(window_demo_files.log)
    bar = opened.slice_bar
    edit, popup = bar.edit, bar.completer.popup()
    edit.setFocus()
    edit.clear()

    qtbot.keyClicks(edit, "regi")
    assert popup.isVisible() and _offers(bar) == ["region"]
    qtbot.keyClick(popup, Qt.Key_Tab)
    assert edit.text() == "region" and not popup.isVisible()

    qtbot.keyClicks(edit, " = 'EU")
    settle(qtbot, opened)  # the region's values are read once, on the runner
    regions = frame.region.value_counts()
    expected = [f"'{v}'" for v in regions.index if v.startswith("EU")]
    assert popup.isVisible() and _offers(bar) == expected  # most frequent first
    qtbot.keyClick(popup, Qt.Key_Down)
    qtbot.keyClick(popup, Qt.Key_Down)
    qtbot.keyClick(popup, Qt.Key_Return)  # takes the highlighted second value, applies nothing yet
    assert edit.text() == f"region = {expected[1]}"
    assert opened.table_panel.model.rowCount() == len(frame)

    qtbot.keyClicks(edit, " AND wro")
    assert _offers(bar) == ["wrong"]
    qtbot.keyClick(popup, Qt.Key_Tab)
    qtbot.keyClicks(edit, " AND NOT fl")
    versions = list(dict.fromkeys(frame.sort_values("timestamp").model_version))
    assert f"flip('{versions[0]}' -> '{versions[1]}', negative)" in _offers(bar)
    qtbot.keyClick(popup, Qt.Key_Escape)
    assert not popup.isVisible()
    edit.setText(edit.text()[:-len(" AND NOT fl")])
    qtbot.keyClick(edit, Qt.Key_Return)
    settle(qtbot, opened)
    value = expected[1].strip("'")
    labelled = frame.dropna(subset=["is_fraud"])
    wrong = labelled[(labelled.region == value) & (labelled.prediction != labelled.is_fraud)]
    assert opened.table_panel.model.rowCount() == len(wrong) > 0

    opened.session.run(SaveSlice(Slice(Compare("device_type", "=", "kiosk"), "kiosks")))
    edit.clear()
    qtbot.keyClicks(edit, "kio")
    assert _offers(bar) == ["(device_type = 'kiosk')"]
    qtbot.keyClick(popup, Qt.Key_Tab)
    assert edit.text() == "(device_type = 'kiosk')"

    qtbot.keyClicks(edit, " AND client = ")
    settle(qtbot, opened)
    assert popup.isVisible() and len(_offers(bar)) == frame.client.nunique()
    qtbot.keyClicks(edit, "'stark-pay'")
    assert not popup.isVisible()  # a finished value: nothing more to offer
    qtbot.keyClick(edit, Qt.Key_Return)
    settle(qtbot, opened)
    assert not bar.error.isVisible(), bar.error.text()
    assert opened.table_panel.model.rowCount() == ((frame.device_type == "kiosk") & (frame.client == "stark-pay")).sum()


def test_a_column_with_too_many_values_offers_none_and_down_opens_the_list(opened, qtbot, window_demo_files):
    bar = opened.slice_bar
    bar.edit.setFocus()
    qtbot.keyClicks(bar.edit, "request_id = ")
    settle(qtbot, opened)
    assert _offers(bar) == [] and not bar.completer.popup().isVisible()
    bar.edit.clear()
    qtbot.keyClick(bar.edit, Qt.Key_Down)
    assert bar.completer.popup().isVisible() and "region" in _offers(bar) and "wrong" in _offers(bar)
    qtbot.keyClick(bar.completer.popup(), Qt.Key_Escape)
    assert not bar.completer.popup().isVisible()
    qtbot.keyClicks(bar.edit, "regoin")  # no offer matches: nothing listed
    assert not bar.completer.popup().isVisible()
    bar.edit.clear()
    qtbot.keyClicks(bar.edit, "regi")
    assert bar.completer.popup().isVisible()
    qtbot.keyClick(bar.completer.popup(), Qt.Key_Return)  # nothing highlighted: the typed text is applied
    assert not bar.completer.popup().isVisible()
    assert bar.error.isVisible() and bar.edit.text() == "regi"


def _name_versions(qtbot, window, **names):
    """Give the log's versions (oldest first, as ``old`` and ``new``) card names, as the
    version cards dialog does; returns their raw strings."""
    from analysis.workspace.version_cards import VersionCard
    from app.commands import SaveVersionCard

    old, new = window.session.version_order()
    for version, name in zip((old, new), (names["old"], names["new"])):
        window.session.run(SaveVersionCard(VersionCard(version, name=name)))
    settle(qtbot, window)
    return old, new


def test_a_version_typed_by_its_card_name_selects_its_rows(app_window, qtbot, window_demo_files):
    """Failing slices shows ``model_version IN ('incumbent (logistic)')``: typed (or pasted) into
    the bar, it selects that version's rows, and the slice holds the raw version string."""
    from analysis.slices import InSet

    open_demo(qtbot, app_window, window_demo_files)
    old, _new = _name_versions(qtbot, app_window, old="incumbent (logistic)", new="challenger")
    typed = "model_version IN ('incumbent (logistic)') AND region = 'EU-West'"
    type_filter(qtbot, app_window, typed)

    bar = app_window.slice_bar
    assert not bar.error.isVisible(), bar.error.text()
    frame = pd.read_parquet(window_demo_files.log, columns=["model_version", "region"])
    expected = int(((frame.model_version == old) & (frame.region == "EU-West")).sum())
    assert app_window.table_panel.model.rowCount() == expected > 0
    applied = app_window.session.current_slice.predicate
    assert applied == InSet("model_version", (old,)) & Compare("region", "=", "EU-West")
    assert bar.edit.text() == typed and old in bar.edit.toolTip()

    type_filter(qtbot, app_window, "model_version = 'incumbent'")
    assert bar.error.isVisible() and "no model version 'incumbent'" in bar.error.text()
    assert f"'{old}' (card: 'incumbent (logistic)')" in bar.error.text()
    assert app_window.table_panel.model.rowCount() == expected  # the slice before stays applied


def test_open_negative_flips_reads_by_card_names_in_the_bar_and_applies_the_same_slice(app_window, qtbot,
        window_demo_files):
    from analysis.slices import Flip

    open_demo(qtbot, app_window, window_demo_files)
    old, new = _name_versions(qtbot, app_window, old="incumbent (logistic)", new="challenger")
    panel = app_window.compare_panel
    app_window.compare_dock.raise_()
    qtbot.mouseClick(panel.compare_button, Qt.LeftButton)
    settle(qtbot, app_window)
    qtbot.mouseClick(panel.open_flips, Qt.LeftButton)
    settle(qtbot, app_window)

    bar = app_window.slice_bar
    assert app_window.session.current_slice.predicate == Flip(old, new, "negative")
    assert bar.edit.text() == "flip('incumbent (logistic)' -> 'challenger', negative)"
    assert f"flip('{old}' -> '{new}', negative)" in bar.edit.toolTip()
    flips = app_window.table_panel.model.rowCount()
    log = pd.read_parquet(window_demo_files.log, columns=["request_id", "model_version", "prediction", "is_fraud"])
    pairs = log[log.model_version == new].merge(log[log.model_version == old], on="request_id", suffixes=("_c", "_b"))
    label = pairs.is_fraud_c.fillna(pairs.is_fraud_b)
    assert flips == int((label.notna() & (pairs.prediction_b == label) & (pairs.prediction_c != label)).sum()) > 0

    bar.edit.setFocus()
    qtbot.keyClick(bar.edit, Qt.Key_Return)  # the shown text, applied again, is the same slice
    settle(qtbot, app_window)
    assert not bar.error.isVisible(), bar.error.text()
    assert app_window.session.current_slice.predicate == Flip(old, new, "negative")
    assert app_window.table_panel.model.rowCount() == flips


def test_a_columns_values_are_read_off_the_gui_thread_while_typing_goes_on(qtbot, qsettings, window_demo_files,
                                                                           monkeypatch):
    """The offers' values come from a query on the runner: the GUI thread never waits for it,
    and the values are offered when they arrive if the cursor still asks for them."""
    import functools
    import threading

    from views.widgets import slice_bar

    release, threads = threading.Event(), []
    read = slice_bar.category_values

    @functools.wraps(read)  # the runner passes what the read's signature takes
    def slow_read(*args, **kwargs):
        threads.append(threading.current_thread())
        assert release.wait(30)
        return read(*args, **kwargs)

    monkeypatch.setattr(slice_bar, "category_values", slow_read)
    window = make_window(qtbot, qsettings, threaded=True)
    try:
        open_demo(qtbot, window, window_demo_files)
        bar = window.slice_bar
        window.activateWindow()
        bar.edit.setFocus()
        qtbot.waitUntil(bar.edit.hasFocus)  # the values are offered to a bar still being typed in
        qtbot.keyClicks(bar.edit, "region = ")
        qtbot.waitUntil(lambda: bool(threads))
        assert threads[0] is not threading.main_thread()
        qtbot.keyClicks(bar.edit, "'")  # the window takes keys while the read waits
        assert bar.edit.text() == "region = '" and window.tasks.running()
        release.set()
        settle(qtbot, window)
        regions = pd.read_parquet(window_demo_files.log).region.value_counts()
        assert _offers(bar) == [f"'{value}'" for value in regions.index]
    finally:
        release.set()
        window.close()
        close_window(window)
