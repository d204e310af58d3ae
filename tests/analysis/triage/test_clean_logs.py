"""A clean log raises nothing at any size, and a log with planted incidents raises alarms only
on what was planted: the distribution checks' evidence is tested, with multiple-comparison
control, not only measured (see :func:`analysis.triage.checks.significant_only`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.triage.check_report import CheckSettings, run_check

CLEAN_ROWS = 20_000


@pytest.fixture(scope="module")
def clean_log(tmp_path_factory):
    """The demo generator's log with no incident planted, at 20,000 rows (where the checks once
    raised seven shifts of one day in one group, none of them real)."""
    from analysis.demo.generate import generate_demo

    return generate_demo(tmp_path_factory.mktemp("clean-small"), rows=CLEAN_ROWS, seed=7, incidents=False).log


@pytest.mark.parametrize("share", [0.25, 1.0], ids=["5k", "20k"])
def test_a_clean_log_raises_no_finding(store, tmp_path, clean_log, share):
    """At 5,000 rows (a random quarter of the 20,000) and 20,000 rows (the log as generated);
    the 200,000-row twin is ``test_checks.test_clean_demo_raises_nothing``, the real tables'
    clean twins ``tests/realdata``."""
    path = clean_log
    if share < 1.0:
        path = tmp_path / "clean.parquet"
        pd.read_parquet(clean_log).sample(frac=share, random_state=3).sort_values("timestamp").to_parquet(path, index=False)
    run = run_check(store, [str(path)], CheckSettings())
    assert not run.findings, [f.sentence for f in run.findings]


def test_the_small_demos_alarms_are_its_planted_incidents(store, window_demo_files):
    """The 20,000-row demo with its incidents: the EU-West null burst and stark-pay's swapped
    columns are alarms, and every alarm names a column an incident was planted in (the
    unplanted ``hour`` shift once raised was a warning)."""
    manifest = json.loads(window_demo_files.manifest.read_text())
    planted = {c for incident in manifest["incidents"] for c in incident["columns"]}
    run = run_check(store, [str(window_demo_files.log)], CheckSettings())
    alarms = [f for f in run.findings if f.severity in ("alert", "warning")]
    assert all(set(f.columns) & planted for f in alarms), [f.sentence for f in alarms]
    named = {(f.columns, f.group) for f in alarms}
    assert (("merchant_risk",), (("region", "EU-West"),)) in named
    assert any(set(columns) & {"amount", "distance_from_home_km"} and group == (("client", "stark-pay"),)
               for columns, group in named)
