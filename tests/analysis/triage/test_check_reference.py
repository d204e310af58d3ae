"""The window's check: the reference the user chose, the current slice, and what the workspace keeps."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from analysis.data.open_log import load_log
from analysis.scope import Scope
from analysis.slices import Compare
from analysis.triage.check_report import Reference, check_dataset, finding_from_dict, finding_to_dict


@pytest.fixture(scope="module")
def demo(demo_files):
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    log = load_log(store, [str(demo_files.log)], name="predictions", check=False)
    training = load_log(store, [str(demo_files.training)], name="training", check=False)
    yield store, log, training
    store.close()


@pytest.fixture(scope="module")
def window_demo(window_demo_files):
    """The 20k demo's log: its EU-West slice holds the stark-pay swap seen through several
    merchant categories, as the 200k one's does (the other tests need the 200k rows: on 20k the
    swap is not found against the rows before the 10th, nor in stark-pay's slice of the snapshot)."""
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    yield store, load_log(store, [str(window_demo_files.log)], name="predictions", check=False)
    store.close()


def test_against_the_training_snapshot_in_one_slice(demo):
    """The snapshot is profiled on the same slice's rows; the swap of that client is found,
    counted in the slice, and each finding reads back from its workspace JSON unchanged."""
    store, log, training = demo
    where = Compare("client", "=", "stark-pay")
    run = check_dataset(Scope(store, log.dataset, log.roles), reference=Reference("snapshot", snapshot="training"),
                        snapshot=(training.dataset, training.roles), where=where)
    assert run.reference == "the training snapshot training (rows where client = 'stark-pay')"
    assert run.choice == {"kind": "snapshot", "before": None, "snapshot": "training", "since": None}
    assert run.profile_json is None  # a slice's profile is not the log's
    swap = next(f for f in run.findings if f.kind == "swap")
    assert swap.window[0].date() == dt.date(2026, 10, 18)
    assert swap.rows <= store.scalar(f"SELECT COUNT(*) FROM \"{log.dataset.view}\" WHERE client = 'stark-pay'")
    for finding in run.findings:
        again = finding_from_dict(json.loads(json.dumps(finding_to_dict(finding))))
        assert (again.key, again.window, again.slice, again.rows, again.sentence) == \
            (finding.key, finding.window, finding.slice, finding.rows, finding.sentence)


def test_a_sliced_check_lists_each_problem_once(window_demo):
    """In a region's slice the stark-pay swap is seen through every merchant category there;
    it is one finding, and no two findings are the same problem (kind, columns, group) over
    nested windows, i.e. the same rows."""
    store, log = window_demo
    run = check_dataset(Scope(store, log.dataset, log.roles), where=Compare("region", "=", "EU-West"))
    swaps = [f for f in run.findings if f.kind == "swap"]
    assert [(set(f.columns), f.group) for f in swaps] == [({"amount", "distance_from_home_km"},
                                                           (("client", "stark-pay"),))]
    assert swaps[0].window[0].date() == dt.date(2026, 10, 18)
    assert len(swaps[0].symptoms) > 1  # what the merged copies saw is kept
    for i, finding in enumerate(run.findings):
        for other in run.findings[i + 1:]:
            if finding.key == other.key:
                (a0, a1), (b0, b1) = finding.window, other.window
                assert not (a0 <= b0 and b1 <= a1) and not (b0 <= a0 and a1 <= b1), (finding.key, a0, a1, b0, b1)


def test_the_log_before_a_moment_is_the_reference_and_is_named(demo):
    store, log, _ = demo
    reference = Reference("before", before=dt.datetime(2026, 10, 10))
    run = check_dataset(Scope(store, log.dataset, log.roles), reference=reference)
    assert run.reference == "the log before 2026-10-10 00:00"
    assert Reference.from_dict(run.choice) == reference
    kinds = {f.kind for f in run.findings}
    assert {"swap", "null_burst"} <= kinds  # both after the 10th, both against the rows before it


def test_a_reference_this_version_does_not_know_is_the_default():
    assert Reference.from_dict({"kind": "tomorrow"}) == Reference()


def test_a_cancelled_check_stops_while_profiling_the_reference(demo, monkeypatch):
    """A user's job preempts the checks on open through their token: the first step, profiling
    the reference, stops too instead of running to its end before the checks look."""
    import analysis.triage.check_report as check_report
    from analysis.progress import CancelToken, Cancelled

    store, log, _ = demo
    reached = []
    monkeypatch.setattr(check_report, "check_against", lambda *a, **k: reached.append(True) or check_report.Checked([]))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        check_dataset(Scope(store, log.dataset, log.roles), cancel=token)
    assert reached == []
