"""Opening a log reads it as few times as what is on screen needs: the version list once for
every panel, the metrics and ROC AUC in one job, and nothing for a panel behind another tab
until its tab is chosen (on two cores every extra scan delays the numbers shown)."""

import pytest

from analysis.store import Store
from tests.statements import RUNS, recorded_statements
from tests.views.helpers import open_demo, settle


@pytest.fixture
def reads_of_the_log(monkeypatch):
    """Every statement the store runs, as text; ``of(view)`` keeps those that read the view
    (the table's pages, read by row position, are not scans of the log)."""
    statements = recorded_statements(Store, monkeypatch, methods=RUNS)

    class Reads:
        def of(self, view: str) -> list[str]:
            return [s for s in statements if f'"{view}"' in s and "ROW_ID" not in s.split("WHERE")[-1]]

        def clear(self) -> None:
            statements.clear()

    return Reads()


VERSION_LIST = "GROUP BY v ORDER BY"  # model_versions: each version once, by first appearance
METRIC_PASS = "SELECT version, y_true, y_pred, calibration_bin"  # the metrics' aggregation by version


def test_opening_a_log_reads_it_for_the_panels_on_screen_only(app_window, qtbot, demo_files, reads_of_the_log):
    opened = open_demo(qtbot, app_window, demo_files)
    view = opened.dataset.view
    at_open = reads_of_the_log.of(view)
    assert len([s for s in at_open if VERSION_LIST in s]) == 1, at_open  # one list, in the session, for every panel
    assert len([s for s in at_open if s.startswith(METRIC_PASS)]) == 1, at_open  # metrics, then AUC, in one job
    results = app_window.metrics_panel.results
    assert len(results) == 2 and all(r.metrics["roc_auc"] is not None for r in results)  # on screen: filled
    assert app_window.time_panel.series is not None
    assert app_window.compare_panel.base_box.count() == 0  # behind its tab: nothing asked yet
    assert app_window.breakdown_panel.result is None

    reads_of_the_log.clear()
    app_window.compare_dock.raise_()  # its tab chosen: it fills from the versions already listed
    settle(qtbot, app_window)
    assert app_window.compare_panel.base_box.count() == 2
    app_window.breakdown_dock.raise_()
    settle(qtbot, app_window)
    assert app_window.breakdown_panel.result is not None
    assert not [s for s in reads_of_the_log.of(view) if VERSION_LIST in s or s.startswith(METRIC_PASS)]
