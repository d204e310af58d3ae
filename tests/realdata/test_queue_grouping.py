"""The failure queue's grouping on real tables (see :mod:`tests.realdata.corpus`): each planted
problem that causes failures lands in one group, measured from each case's truth.

**Problems.** The input incidents of ``incident.parquet`` (each its period, columns and
subgroup: its rows are the requests of its period and subgroup, one per version) and the
regressed slice of ``compare.parquet`` (the candidate's rows in it); each problem's rows are
checked against the manifest's count of them. Each log is queued as ``sleuth queue add``
does: its input checks first (the base model says which column is the label), then grouping
by finding and failing slice, a discovered slice's numeric cuts made precise
(:mod:`analysis.discovery.refine`).

**Truth: which problems cause failures.** A planted problem *causes failures* in a version
when its rows fail significantly more often than the same requests in ``clean.parquet`` (the
counterfactual: the same rows and models, nothing planted): of its rows whose outcome differs
between the two logs, more turned wrong than turned right, by the exact one-sided McNemar test
(a binomial test of the discordant pairs against a fair coin), Bonferroni over the case's
problems times its versions (every problem is tested in every version). A problem that causes
no failure in any version has nothing to group and is skipped, saying so, before its log is
queued (a session fixture queues each log once, on first use).

**Asserted.** Of a problem that causes failures, the group holding most of its failures must be
pure (>= 0.9 of its items are the problem's rows) and hold >= 0.8 of the problem's failures
(failures inside another planted problem's rows count for that one), as on the demo
(tests/analysis/queue/test_grouping.py). The regression's group is a *regression* group naming
both versions: the base scored the same requests, and its outcome on them is what splits the
planted slice from failures both versions share (:mod:`analysis.queue.regressions`).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from scipy import stats

from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import intake_log
from analysis.scope import Scope
from analysis.workspace.workspace_file import Workspace
from tests.realdata.corpus import CASES

SIGNIFICANCE = 0.05
PURITY, RECALL = 0.9, 0.8

MISSED: dict[str, str] = {}
"""Planted problems whose group is not yet pure or complete enough, and why (strict xfail, so a
fix shows). Measured with the gbm-60 candidate of ``compare.parquet``. Of the input incidents,
only Vietnam's unit change of ``educ`` causes failures by the test above (16 requests turned
wrong and 1 right in gbm-60, 13 and 2 in gbm-30); the boosted models take the others (a null,
a stuck value, a unit change or a swap of one channel's period, 26-81 requests) without failing
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


@pytest.fixture(scope="session")
def queued(checked_logs, tmp_path_factory):
    """A case's log queued (once per session) into its own workspace, on first use, with the
    findings of its check (``checked_logs``: the diagnoses read the same runs):
    ``queued(case, log)`` -> (the queue's items, the queue)."""
    folder = tmp_path_factory.mktemp("queues")
    done, workspaces = {}, []

    def queue_of(name: str, log: str):
        if (name, log) not in done:
            run, store = checked_logs(name, log)
            workspace = Workspace.open(folder / f"{name}-{log}.sleuth")
            workspaces.append(workspace)
            queue = FailureQueue(workspace)
            intake_log(queue, Scope(store, run.dataset, run.roles), findings=run.findings)
            done[name, log] = (queue.items(), queue)
        return done[name, log]
    yield queue_of
    for workspace in workspaces:
        workspace.close()


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
    versions = 1 if log == "compare" else served["model_version"].nunique()  # the regression is the candidate's
    assert inside.sum() == problem["requests"] * versions  # the truth's rows are the manifest's
    elsewhere = pd.Series(False, index=served.index)
    for other_log, _, other in problems:
        if other is not problem and other_log == log:
            elsewhere |= _rows_of(served, truth, other, log)
    wrong, was_wrong = _wrong(served, truth), _wrong(clean, truth)
    tests = len(problems) * served["model_version"].nunique()
    failing = [v for v in sorted(served["model_version"].unique())
               if _causes_failures(inside & (served["model_version"] == v), wrong, was_wrong, SIGNIFICANCE / tests)]
    if not failing:  # decided before queueing: a log none of whose problems fails is never queued
        pytest.skip(f"{problems[index][1]} causes no failures in any version (its rows fail as often as clean)")
    items, queue = queued(name, log)
    key = served["request_id"].astype(str) + "@" + served["model_version"].astype(str)
    group_of = dict(zip(items["row_key"].astype(str) + "@" + items["version"].astype(str), items["group_id"]))
    served["group_id"] = key.map(group_of)
    for version in failing:
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
        if log == "compare":  # the base scored the same requests: its outcome names the regression
            assert group.reason == "regression", group.title
            assert group.title.endswith(f"fails under {truth['candidate']}, right under {truth['base']}")


def _causes_failures(rows: pd.Series, wrong: pd.Series, was_wrong: pd.Series, level: float) -> bool:
    """Do these rows turn wrong significantly more often than right against the clean twin
    (exact one-sided McNemar: the discordant pairs against a fair coin)?"""
    turned, fixed = int((rows & wrong & ~was_wrong).sum()), int((rows & ~wrong & was_wrong).sum())
    return turned + fixed > 0 and stats.binomtest(turned, turned + fixed, 0.5, alternative="greater").pvalue < level
