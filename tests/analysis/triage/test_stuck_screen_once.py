"""The stuck screen reads the log once (issue #17): its sample is kept in one materialised CTE
and read twice, for the units' most frequent values and for how often each unit holds them;
two scans of the log cost 3.7 CPU-s of a 10M-row log's checks, one 2.7. The screen's outcome
is unchanged: a value stuck for one source is still a candidate."""

from __future__ import annotations

from analysis.data.open_log import load_log
from analysis.data.time import time_span
from analysis.query import Sql, ident
from analysis.scope import Scope
from analysis.triage import row_scan
from analysis.triage.localisation import scan_unit
from analysis.triage.reference_profile import profile_reference, reference_window
from tests.analysis.triage.test_row_scan import LARGE_ROWS, large_log_with_a_stuck_source
from tests.statements import recorded_statements


def test_the_stuck_screen_reads_the_log_once_and_keeps_the_stuck_value(store, tmp_path, monkeypatch):
    frame, _, median = large_log_with_a_stuck_source(12, 13)
    monkeypatch.setattr(row_scan, "STUCK_SCREEN_ROWS", LARGE_ROWS // 10)
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    log = load_log(store, [str(path)], check=False)
    whole = Scope(store, log.dataset, log.roles)
    profile = profile_reference(whole.with_condition(reference_window(whole)))
    seen = recorded_statements(store)
    defects, repeating = row_scan.candidate_defects(whole, profile.columns, Sql("TRUE"), scan_unit(*time_span(whole)))
    screens = [s for s in seen if "approx_top_k" in s]
    assert len(screens) == 1
    assert screens[0].count(ident(log.dataset.view)) == 1
    assert "% 10 = 0" in screens[0]
    assert "benefit" in repeating
    assert median in [d.evidence["value"] for d in defects if d.kind == "stuck" and d.column == "benefit"]
