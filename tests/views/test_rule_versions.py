"""A workspace's rule sets open as derived versions in the window, beside the logged ones."""

import json

from analysis.data.open_log import load_log
from analysis.rules.rule_set import Route, Rule
from analysis.rules.rule_store import add_rule
from analysis.slices import Slice
from analysis.slicing.parser import parse_slice
from analysis.workspace.workspace_file import DatasetEntry, Workspace
from tests.views.helpers import settle


def test_the_latest_rule_set_is_a_version_in_the_metrics(app_window, qtbot, demo_files, tmp_path, store):
    manifest = json.loads(demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["kind"] == "weak_subpopulation")
    weak = incident["versions"][0]
    other = next(v["version"] for v in manifest["versions"] if v["version"] != weak)
    loaded = load_log(store, [str(demo_files.log)], name="predictions", check=False)
    columns = {c.name: c.dtype for c in loaded.dataset.columns}
    path = tmp_path / "rules.sleuth"
    workspace = Workspace.open(path)
    workspace.save_dataset(DatasetEntry("predictions", loaded.dataset.paths, loaded.dataset.format, loaded.roles))
    add_rule(workspace, weak, Rule(Slice(parse_slice("amount > 2000", columns)), Route(other)))
    add_rule(workspace, weak, Rule(Slice(parse_slice(incident["predicate"], columns)), Route(other)))
    workspace.close()

    app_window.controller.open_workspace(path)
    settle(qtbot, app_window)
    results = {r.version: r for r in app_window.metrics_panel.results}
    assert set(results) == {weak, other, f"{weak}+rules"}
    assert results[f"{weak}+rules"].rows == results[weak].rows
    assert results[f"{weak}+rules"].metrics["accuracy"] > results[weak].metrics["accuracy"]
