"""The failure queue's grouping on real tables (see :mod:`tests.realdata.corpus`): each planted
problem that causes failures lands in one group, measured from each case's truth.

Truth per case: the input incidents of ``incident.parquet`` (each its period, columns and
subgroup) and the regressed slice of ``compare.parquet`` (the candidate's rows in it). Each log
is queued as ``sleuth queue add`` does: its input checks first (the base model says which
column is the label), then grouping by finding and failing slice. A planted problem *causes
failures* in a version when its rows fail significantly more often than the same requests in
``clean.parquet`` (the counterfactual: same rows, nothing planted): more rows turned wrong than
turned right, one-sided binomial (McNemar) test, Bonferroni over the case's problems and versions.
Of such a problem, the group holding most of its failures must be pure (>= 0.9 of its items are
the problem's rows) and hold >= 0.8 of the problem's failures (failures inside another planted
problem's rows count for that one), as on the demo (tests/analysis/queue/test_grouping.py).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from scipy import stats

from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import intake_log
from analysis.scope import Scope
from analysis.store import Store
from analysis.triage.check_report import run_check
from analysis.workspace.workspace_file import Workspace
from tests.realdata import test_corpus
from tests.realdata.corpus import CASES
from tests.realdata.test_corpus import files, served_by

corpus = test_corpus.corpus
"""The corpus, built once per session (the fixture of the corpus's own tests)."""

SIGNIFICANCE = 0.05
PURITY, RECALL = 0.9, 0.8

_BINS = ("discovery's numeric cut is a bin edge of the whole log, not the planted threshold, so the group "
         "misses the regressed rows between them (their failures go to other groups): ")
MISSED: dict[str, str] = {
    "benefits-regression": _BINS + "found age > 47 AND sex = 'female', planted age > 39; purity 1.0, recall 0.55",
    "doctor_contacts-regression": _BINS + "found age > 41.17 AND sex = 'female', planted at the 0.7 quantile; "
                                          "purity 1.0, recall 0.70",
    "movies-regression": _BINS + "found rating > 7.3 AND channel = 'branch', planted rating > 6.9; purity 1.0, "
                                 "recall 0.62",
    "hdma-regression": _BINS + "found dir > 0.38 AND single = 'yes', planted dir > 0.35; purity 1.0, recall 0.52",
    "computers-regression": _BINS + "found 2220.6 < price <= 2610.2 without cd = 'yes', planted cd = 'yes' AND "
                                    "price > 2220.6; purity 0.89, recall 0.51",
    "males-regression": "found industry = 'Manufacturing' alone, planted industry = 'Manufacturing' AND school "
                        "> median (no group of the refinement; why, fold or candidate list, not yet measured): "
                        "purity 0.28, recall 1.0",
}
"""Planted problems whose group is not yet pure or complete enough, and why (strict xfail, so a
fix shows). Measured with the gbm-60 candidate of ``compare.parquet``. No input incident of the
corpus causes failures by the test above: the boosted models take a null, a stuck value, a unit
change or a swap of one channel's period (about a hundred requests) without failing
significantly more often than on the same requests served clean, so those are skipped."""


def _problems(spec, truth) -> list[tuple[str, str, dict]]:
    """(log, id, truth) of every planted problem of a case: its incidents and its regression."""
    logs = ["incident"] * len(truth["incidents"]) + ["compare"]
    return list(zip(logs, _problem_ids(spec), truth["incidents"] + [truth["regression"]]))


def _problem_ids(spec) -> list[str]:
    return [f"{spec.name}-{i.kind}-{'-'.join(i.columns)}" for i in spec.incidents] + [f"{spec.name}-regression"]


PROBLEMS = [pytest.param(spec.name, index, id=problem,
                         marks=[pytest.mark.xfail(strict=True, reason=MISSED[problem])] if problem in MISSED else [])
            for spec in CASES for index, problem in enumerate(_problem_ids(spec))]


@pytest.fixture(scope="module")
def queued(corpus, tmp_path_factory):
    """A case's log queued (once per module) into its own workspace, on first use:
    ``queued(case, log)`` -> (the queue's items, the queue)."""
    store = Store(memory_limit="2GB")
    folder = tmp_path_factory.mktemp("queues")
    done, workspaces = {}, []

    def queue_of(name: str, log: str):
        if (name, log) not in done:
            _, truth, _, log_path, model = files(corpus, name, log)
            run = run_check(store, [log_path], model=served_by(model))
            workspace = Workspace.open(folder / f"{name}-{log}.sleuth")
            workspaces.append(workspace)
            queue = FailureQueue(workspace)
            intake_log(queue, Scope(store, run.dataset, run.roles), findings=run.findings)
            done[name, log] = (queue.items(), queue)
        return done[name, log]
    yield queue_of
    for workspace in workspaces:
        workspace.close()
    store.close()


def _rows_of(frame: pd.DataFrame, truth: dict, problem: dict, log: str) -> pd.Series:
    """Which rows of a log are inside a planted problem."""
    if log == "compare":
        (category, _, value), (number, _, threshold) = problem["predicates"]
        return ((frame[category].astype(str) == str(value)) & (frame[number] > threshold)
                & (frame["model_version"] == truth["candidate"]))
    time = frame[truth["time_column"]]
    if truth["time_column"] == "event_time":
        time = pd.to_datetime(time, unit="s")
    inside = (time >= dt.datetime.fromisoformat(problem["start"])) & (time < dt.datetime.fromisoformat(problem["end"]))
    if problem["group"]:
        column, value = problem["group"]
        inside &= frame[column].astype(str) == str(value)
    return inside


def _wrong(frame: pd.DataFrame, truth: dict) -> pd.Series:
    return frame["prediction"].astype(str) != frame[truth["target"]].astype(str)


@pytest.mark.parametrize("name, index", PROBLEMS)
def test_each_planted_problem_that_causes_failures_is_one_pure_group(corpus, queued, name, index):
    spec = next(s for s in CASES if s.name == name)
    folder, truth = corpus[name]
    problems = _problems(spec, truth)
    log, _, problem = problems[index]
    served = pd.read_parquet(folder / f"{log}.parquet")
    clean = pd.read_parquet(folder / "clean.parquet")
    assert (served["request_id"] == clean["request_id"]).all() and (served["model_version"] == clean["model_version"]).all()
    inside = _rows_of(served, truth, problem, log)
    elsewhere = pd.Series(False, index=served.index)
    for other_log, _, other in problems:
        if other is not problem and other_log == log:
            elsewhere |= _rows_of(served, truth, other, log)
    wrong, was_wrong = _wrong(served, truth), _wrong(clean, truth)
    items, queue = queued(name, log)
    key = served["request_id"].astype(str) + "@" + served["model_version"].astype(str)
    group_of = dict(zip(items["row_key"].astype(str) + "@" + items["version"].astype(str), items["group_id"]))
    served["group_id"] = key.map(group_of)
    tests = len(problems) * served["model_version"].nunique()
    checked = 0
    for version in sorted(served["model_version"].unique()):
        mine = inside & (served["model_version"] == version)
        turned, fixed = int((mine & wrong & ~was_wrong).sum()), int((mine & ~wrong & was_wrong).sum())
        if turned + fixed == 0 or stats.binomtest(turned, turned + fixed, 0.5, alternative="greater").pvalue \
                >= SIGNIFICANCE / tests:
            continue  # this problem causes no failures in this version
        checked += 1
        failed = served[wrong & (served["model_version"] == version)]
        assert failed["group_id"].notna().all()  # every failure is queued
        in_problem = inside[failed.index]
        by_group = in_problem.groupby(failed["group_id"]).agg(["sum", "count"])
        best = int(by_group["sum"].idxmax())
        purity = by_group.loc[best, "sum"] / by_group.loc[best, "count"]
        only_this = in_problem & ~elsewhere[failed.index]
        recall = (only_this & (failed["group_id"] == best)).sum() / only_this.sum()
        group = queue.group(best)
        assert purity >= PURITY and recall >= RECALL, (version, group.reason, group.title, round(purity, 3),
                                                        round(recall, 3), int(only_this.sum()))
    if not checked:
        pytest.skip(f"{problems[index][1]} causes no failures in any version (its rows fail as often as clean)")
