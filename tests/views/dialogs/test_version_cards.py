"""Version cards: a name shown everywhere instead of the raw version, kept in the workspace."""

from PySide6.QtCore import Qt

from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import Workspace
from app.commands import SaveVersionCard
from tests.views.helpers import close_window, make_window, open_demo, settle


def test_card_name_replaces_the_raw_version_and_survives_reopening(app_window, qtbot, window_demo_files, tmp_path,
                                                                  qsettings):
    open_demo(qtbot, app_window, window_demo_files)
    path = tmp_path / "cards.sleuth"
    app_window.controller.save_workspace_as(path)
    raw = app_window.metrics_panel.results[0].version
    app_window.session.run(SaveVersionCard(VersionCard(raw, name="fallback", serves="region = 'EU-West'")))
    settle(qtbot, app_window)

    header = app_window.metrics_panel.table.horizontalHeaderItem(0)
    assert header.text() == "fallback"
    assert raw in header.toolTip()
    legend_names = app_window.time_panel.legend_names
    assert "fallback" in legend_names and raw not in legend_names
    app_window.close()

    again = make_window(qtbot, qsettings)
    again.controller.open_workspace(path)
    settle(qtbot, again)
    assert again.session.version_cards[raw].name == "fallback"
    assert again.metrics_panel.table.horizontalHeaderItem(0).text() == "fallback"
    close_window(again)


def test_dialog_edits_cards(app_window, qtbot, window_demo_files, monkeypatch):
    from views.dialogs.version_cards import VersionCardsDialog

    open_demo(qtbot, app_window, window_demo_files)
    versions = [r.version for r in app_window.metrics_panel.results]

    def fill(dialog):
        dialog.select(versions[1])
        dialog.edits["name"].setText("challenger")
        dialog.notes.setPlainText("promote after the kiosk fix")
        return True

    monkeypatch.setattr(VersionCardsDialog, "exec", fill)
    qtbot.keyClick(app_window, Qt.Key_K, Qt.ControlModifier)
    settle(qtbot, app_window)
    card = app_window.session.version_cards[versions[1]]
    assert (card.name, card.notes) == ("challenger", "promote after the kiosk fix")
    assert versions[0] not in app_window.session.version_cards  # untouched cards are not written
    app_window.session.undo()
    assert app_window.session.version_name(versions[1]) == versions[1]


def test_demo_workspace_names_its_versions(window_demo_files, tmp_path):
    from analysis.demo.workspace import ensure_demo_workspace

    import shutil

    out = tmp_path / "demo"
    shutil.copytree(window_demo_files.log.parent, out)
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    path = ensure_demo_workspace(out, rows=manifest["rows"], seed=manifest["seed"])
    cards = Workspace.open(path).version_cards()
    assert {c.display_name for c in cards.values()} == {"incumbent (logistic)", "challenger (boosted trees)"}


def test_the_table_shows_a_versions_card_name_and_keeps_the_raw_string_in_the_tooltip(app_window, qtbot,
        window_demo_files):
    open_demo(qtbot, app_window, window_demo_files)
    model = app_window.table_panel.model
    column = model.column_names().index("model_version")
    model.data(model.index(0, column))  # the first read asks for the page
    settle(qtbot, app_window)
    raws = [model.raw_value(row, column) for row in range(50)]
    renamed = raws[0]
    app_window.session.run(SaveVersionCard(VersionCard(renamed, name="fallback")))
    for row, raw in enumerate(raws):
        index = model.index(row, column)
        assert model.data(index) == ("fallback" if raw == renamed else raw)
        assert model.data(index, Qt.ToolTipRole) == raw
