"""Version-aware grouping on a paired log with two planted truths that fail equally often under
the new version: a regression (v2 wrong where v1, on the same request, is right) and a weakness
both versions share (the same requests wrong under both). By v2's own errors the two cannot be
told apart; by v1's outcome on the same requests they are grouped apart, and the regression's
group says so, naming both versions (tests/realdata/test_queue_grouping.py: Computers)."""

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.data.open_log import load_log
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import intake_log
from analysis.queue.regressions import regression_text
from analysis.queue.report import render_markdown, report_document
from analysis.scope import Scope
from analysis.slices import to_sql
from analysis.store import Store
from analysis.workspace.workspace_file import Workspace

REQUESTS = 6000
PLANTED_ERROR = 0.55
"""Both planted slices fail this often under v2: its own errors cannot split them."""
NOISE = 0.04


def write_paired_log(path) -> pd.DataFrame:
    """v1 and v2 score the same requests. Of those over 200, kiosk ones: v2 wrong on 55%, v1
    right on all (the regression); web ones: the same 55% wrong under both (shared). Under v2
    every request over 200 fails as often, so ``segment`` sharpens none of v2's failing slices.
    Every other request: each version wrong on 4%, independently."""
    rng = np.random.default_rng(16)
    segment = rng.choice(["kiosk", "web"], size=REQUESTS)
    amount = rng.gamma(2.0, 120.0, size=REQUESTS).round(2)
    label = rng.integers(0, 2, size=REQUESTS)
    regressed = (segment == "kiosk") & (amount > 200)
    shared = (segment == "web") & (amount > 200)
    hard = rng.random(REQUESTS) < PLANTED_ERROR
    stamps = pd.Timestamp("2026-10-01") + pd.to_timedelta(np.arange(REQUESTS) * 7, unit="min")
    frames = []
    for version in ("v1", "v2"):
        wrong = np.where(shared, hard, rng.random(REQUESTS) < NOISE)
        wrong = np.where(regressed, hard if version == "v2" else False, wrong)
        frames.append(pd.DataFrame({"request_id": [f"r{i}" for i in range(REQUESTS)], "timestamp": stamps,
                                    "model_version": version, "segment": segment, "amount": amount,
                                    "label": label, "prediction": np.where(wrong, 1 - label, label)}))
    log = pd.concat(frames, ignore_index=True)
    log.to_parquet(path)
    return log


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paired")
    log = write_paired_log(folder / "log.parquet")
    store = Store(memory_limit="1GB")
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    workspace = Workspace.open(folder / "review.sleuth")
    queue = FailureQueue(workspace, user="tester")
    intake_log(queue, Scope(store, loaded.dataset, loaded.roles))
    items = queue.items()
    wrong = log.assign(wrong=log["label"] != log["prediction"]).pivot(index="request_id", columns="model_version",
                                                                      values="wrong")
    v2 = items[items["version"] == "v2"].set_index("row_key")
    rows = log[log["model_version"] == "v2"].set_index("request_id").loc[v2.index]
    v2 = v2.assign(regressed=((rows["segment"] == "kiosk") & (rows["amount"] > 200)).to_numpy(),
                   shared=((rows["segment"] == "web") & (rows["amount"] > 200)).to_numpy(), v1_wrong=wrong.loc[v2.index, "v1"].to_numpy())
    yield queue, log, v2
    workspace.close()
    store.close()


def _best_group(v2: pd.DataFrame, truth: pd.Series) -> tuple[int, float, float]:
    """The group holding most of the truth's failures: its id, purity and recall."""
    by_group = truth.groupby(v2["group_id"]).agg(["sum", "count"])
    best = int(by_group["sum"].idxmax())
    return best, by_group.loc[best, "sum"] / by_group.loc[best, "count"], truth[v2["group_id"] == best].sum() / truth.sum()


def test_the_regression_and_the_shared_weakness_are_grouped_apart(grouped):
    queue, _, v2 = grouped
    regression, purity, recall = _best_group(v2, v2["regressed"])
    assert purity >= 0.9 and recall >= 0.8, (queue.group(regression).title, purity, recall)
    shared, shared_purity, shared_recall = _best_group(v2, v2["shared"])
    assert shared_purity >= 0.9 and shared_recall >= 0.8, (queue.group(shared).title, shared_purity, shared_recall)
    assert regression != shared
    assert queue.group(regression).reason == "regression" and queue.group(shared).reason != "regression"
    assert not v2.loc[v2["group_id"] == regression, "v1_wrong"].any()  # no failure v1 shares is the regression's


def test_the_regression_group_names_both_versions_and_its_flips(grouped):
    """Its title and evidence name the version that fails and the one that was right; its flips
    and McNemar p-value are those of its slice's requests, counted with pandas and scipy."""
    queue, log, _ = grouped
    group = next(g for g in queue.groups() if g.reason == "regression")
    assert group.title.endswith(": fails under v2, right under v1") and group.version == "v2"
    found = group.evidence["regression"]
    where = to_sql(group.slice.predicate)
    con = duckdb.connect()
    con.register("log", log)
    inside = con.execute(f"SELECT * FROM log WHERE {where.text}", list(where.params)).df()
    con.close()
    wrong = inside.assign(wrong=inside["label"] != inside["prediction"]).pivot(
        index="request_id", columns="model_version", values="wrong")
    negative, positive = int((wrong["v2"] & ~wrong["v1"]).sum()), int((wrong["v1"] & ~wrong["v2"]).sum())
    assert (found["negative"], found["positive"]) == (negative, positive) and negative > positive
    assert found["p_value"] == pytest.approx(stats.binomtest(positive, negative + positive, 0.5).pvalue, rel=1e-9)
    sentence = regression_text(found)
    assert f"{negative:,} fail under v2 that v1 got right and {positive:,} the reverse" in sentence
    assert f"Regression: {sentence}" in render_markdown(report_document(queue))
