"""``sleuth open LOG --label COL ...``: the roles named on the command line reach the window's
log, and the workspace keeps them (issue #13: every command that reads a log takes role overrides)."""

import numpy as np
import pandas as pd

from analysis.data.roles import Role
from app.cli import build_parser
from app.cli_roles import named_roles
from tests.views.helpers import close_window, make_window, settle


def _readmissions(tmp_path):
    """A log whose names mislead detection: ``y`` (a width) looks like the label, the real
    label is ``readmitted``, the prediction ``guess`` and the id ``ref``."""
    rng = np.random.default_rng(3)
    pd.DataFrame({"ref": [f"r{i}" for i in range(60)], "y": rng.normal(60, 5, 60),
                  "readmitted": rng.integers(0, 2, 60), "guess": rng.integers(0, 2, 60)}).to_csv(
        tmp_path / "log.csv", index=False)
    return str(tmp_path / "log.csv")


def test_open_parses_the_role_flags():
    args = build_parser().parse_args(["open", "log.csv", "--label", "readmitted", "--id", "ref",
                                      "--prediction", "guess"])
    assert named_roles(args) == {Role.LABEL: "readmitted", Role.ID: "ref", Role.PREDICTION: "guess"}


def test_the_named_roles_are_the_logs_roles_and_the_workspace_keeps_them(app_window, qtbot, qsettings, tmp_path):
    path = _readmissions(tmp_path)
    app_window.controller.open_paths([path])
    settle(qtbot, app_window)
    assert app_window.session.active.roles.label != "readmitted"  # detection alone is misled
    app_window.controller.close_dataset(app_window.session.active.dataset.name)
    settle(qtbot, app_window)

    workspace = tmp_path / "roles.sleuth"
    assert app_window.controller.save_workspace_as(workspace)
    app_window.controller.open_paths([path], fixed={Role.LABEL: "readmitted", Role.ID: "ref",
                                                    Role.PREDICTION: "guess"})
    settle(qtbot, app_window)
    roles = app_window.session.active.roles
    assert (roles.label, roles.id, roles.prediction) == ("readmitted", "ref", "guess")
    assert "y" in roles.features

    again = make_window(qtbot, qsettings)
    try:
        again.controller.open_workspace(str(workspace))
        settle(qtbot, again)
        kept = again.session.active.roles
        assert (kept.label, kept.id, kept.prediction) == ("readmitted", "ref", "guess")
    finally:
        close_window(again)
