"""The Findings header of a check whose row-level parts read a share of a large log says so."""

from tests.views.helpers import open_demo
from tests.views.panels.test_findings import run_checks


def test_a_check_on_a_share_says_so_in_the_header(app_window, qtbot, window_demo_files, monkeypatch):
    """A log beyond the share size (here the 20k demo, the share size lowered to 10,000 rows)
    is checked on a share of its requests, and the Findings header says so in the CLI's words."""
    import views.panels.findings as findings
    from analysis.triage.check_report import check_dataset

    monkeypatch.setattr(findings, "check_dataset", lambda *a, **k: check_dataset(*a, **k, share_rows=10_000))
    open_demo(qtbot, app_window, window_demo_files)
    panel = run_checks(qtbot, app_window)
    share = panel._last_runs[app_window.session.active.name].share
    assert share is not None and share.of_rows == 20_000 and share.every == 2
    assert (f"distribution tests, row scans, localisation, examples and the findings' row counts: computed on a "
            f"{share.rows:,}-row share of 20,000 rows (1 in 2 requests, by a hash of request_id)") in panel.caption.text()
