"""What decisions hand over: the data request, the relabel list (the suspect labels of the
training batch trace blames, on a planted bad batch) and the ticket."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from analysis.data.open_log import load_log
from analysis.queue.blame import attach_blame, blame_text
from analysis.queue.exports import data_request, data_request_csv, relabel_request, ticket_markdown
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.report import render_markdown, report_document
from analysis.report.formatting import p_value
from analysis.scope import Scope
from analysis.errors import InputError
from analysis.slices import InSet, Slice
from analysis.trace.tracer import TrainingFiles
from analysis.workspace.workspace_file import Workspace
from tests.analysis.trace.test_batch_blame import _rows

BAD_BATCH = "batch-3"
NOISY = "d"


def _planted(folder, store, flip: bool):
    """A snapshot of four batches (batch-3 with most of shop d's negatives labelled positive
    when ``flip``), the linear model trained on it saved as a skops file, and a log from the
    clean distribution scored by that model, opened; a queue with the group of shop d's
    failures. Returns (queue, group, loaded log, training files, flipped training row ids)."""
    rng = np.random.default_rng(3)
    train = _rows(rng, 4000)
    train.insert(0, "id", np.arange(len(train)))
    train["source"] = np.repeat([f"batch-{i}" for i in range(4)], 1000)
    flipped = (train["source"] == BAD_BATCH) & (train["shop"] == NOISY) & (train["label"] == 0) \
        & (rng.random(len(train)) < (0.6 if flip else 0.0))
    train.loc[flipped, "label"] = 1
    features = ["x1", "x2", "shop"]
    model = make_pipeline(ColumnTransformer([("shop", OneHotEncoder(), ["shop"])], remainder="passthrough"),
                          LogisticRegression()).fit(train[features], train["label"])
    log = _rows(rng, 3000)
    log.insert(0, "request_id", [f"r{i}" for i in range(len(log))])
    log.insert(1, "timestamp", [dt.datetime(2026, 11, 1) + dt.timedelta(minutes=i) for i in range(len(log))])
    log["prediction"] = model.predict(log[features])
    train.to_parquet(folder / "train.parquet")
    log.to_parquet(folder / "log.parquet")
    skops.io.dump(model, folder / "model.skops")
    loaded = load_log(store, [str(folder / "log.parquet")], check=False)
    queue = FailureQueue(Workspace.open(folder / "w.sleuth"))
    with queue.edit():
        group_id = queue.new_group(f"slice:None:shop = '{NOISY}'", "slice", f"shop = '{NOISY}'", loaded.dataset.name,
                                   None, Slice(InSet("shop", (NOISY,)), name=f"shop = '{NOISY}'"),
                                   {"rows": 10, "error_rate": 0.5})
    source = TrainingFiles((str(folder / "train.parquet"),), str(folder / "model.skops"))
    return queue, queue.group(group_id), loaded, source, set(train["id"][flipped].tolist())


@pytest.fixture
def planted(tmp_path, store):
    """Shop d's failures caused by batch-3's flipped labels (the model learnt them)."""
    queue, group, loaded, source, flipped = _planted(tmp_path, store, flip=True)
    yield queue, group, loaded, source, flipped
    queue.workspace.close()


@pytest.fixture
def clean(tmp_path, store):
    """The same snapshot without the flips: shop d's failures are the model's own, no batch's."""
    queue, group, loaded, source, _ = _planted(tmp_path, store, flip=False)
    yield queue, group, loaded, source
    queue.workspace.close()


@pytest.mark.slow
def test_relabel_blames_the_bad_batch_and_lists_its_flipped_labels(planted, store):
    queue, group, loaded, source, flipped = planted
    request = relabel_request(Scope(store, loaded.dataset, loaded.roles), group, source.snapshot_paths,
                              source.model_path)
    assert (request["blamed"]["column"], request["blamed"]["value"]) == ("source", BAD_BATCH)
    listed = [s["row_id"] for s in request["suspects"]]
    assert listed, request
    precision = len(set(listed) & flipped) / len(listed)
    base_rate = len(flipped) / 1000  # flipped labels among the batch's 1,000 rows
    assert precision > 2 * base_rate, (precision, base_rate)


def test_relabel_of_a_batch_group_lists_the_flipped_labels_of_its_own_batch(planted, store):
    """A group intake formed by blamed batch has no slice to trace: its relabel list is the
    suspect labels of the batch its evidence names."""
    queue, _, loaded, source, flipped = planted
    with queue.edit():
        group_id = queue.new_group(f"batch:None:source={BAD_BATCH}", "batch", f"blamed training batch source = "
                                   f"{BAD_BATCH}", loaded.dataset.name, None, None,
                                   {"blamed_batch": {"column": "source", "value": BAD_BATCH, "traced_failures": 40}})
    request = relabel_request(Scope(store, loaded.dataset, loaded.roles), queue.group(group_id),
                              source.snapshot_paths, source.model_path)
    assert (request["blamed"]["value"], request["blamed"]["traced_failures"]) == (BAD_BATCH, 40)
    listed = [s["row_id"] for s in request["suspects"]]
    assert listed and len(set(listed) & flipped) / len(listed) > 2 * len(flipped) / 1000, request


def _refit_test(folder, loaded_frame: pd.DataFrame) -> tuple[list[int], list[int], np.ndarray]:
    """Per batch, scikit-learn's refit without it on shop d's log rows: the failures it fixes,
    the correct predictions it breaks, and the BH-adjusted one-sided McNemar p-values (scipy)."""
    train = pd.read_parquet(folder / "train.parquet")
    rows = loaded_frame[loaded_frame["shop"] == NOISY]
    right = (rows["prediction"] == rows["label"]).to_numpy()
    fixes, breaks = [], []
    for batch in sorted(train["source"].unique()):
        kept = train["source"] != batch
        refit = make_pipeline(ColumnTransformer([("shop", OneHotEncoder(), ["shop"])], remainder="passthrough"),
                              LogisticRegression(tol=1e-10, max_iter=10_000))
        refit.fit(train.loc[kept, ["x1", "x2", "shop"]], train.loc[kept, "label"])
        fixed = refit.predict(rows[["x1", "x2", "shop"]]) == rows["label"].to_numpy()
        fixes.append(int((fixed & ~right).sum()))
        breaks.append(int((~fixed & right).sum()))
    raw = [stats.binomtest(f, f + b, 0.5, alternative="greater").pvalue for f, b in zip(fixes, breaks)]
    return fixes, breaks, stats.false_discovery_control(raw)


def test_a_groups_blamed_batch_is_the_one_whose_removal_fixes_its_failures_and_the_report_says_so(
        planted, store, tmp_path):
    """The group's blame is the batch-removal test on its slice: the failures scikit-learn's
    refit without the batch fixes against the correct predictions it breaks, McNemar with BH
    over the four batches (scipy); the flipped batch is the only significant one. The evidence,
    the report and the meeting read the same sentence."""
    queue, group, loaded, source, _ = planted
    blamed = attach_blame(queue, Scope(store, loaded.dataset, loaded.roles), [group.id], source)
    assert [(b["column"], b["value"]) for b in blamed] == [("source", BAD_BATCH)]
    kept = queue.group(group.id).evidence["blamed_batch"]
    fixes, breaks, adjusted = _refit_test(tmp_path, pd.read_parquet(tmp_path / "log.parquet"))
    bad = int(BAD_BATCH[-1])
    assert (kept["fixes"], kept["breaks"]) == (fixes[bad], breaks[bad])
    assert kept["p_value"] == pytest.approx(adjusted[bad], rel=1e-9)
    assert [i for i, p in enumerate(adjusted) if p < 0.05] == [bad]
    assert kept["harmful_share"] > kept["row_share"] == 0.25
    sentence = blame_text(kept)
    assert sentence.startswith(f"Blamed training batch: source = {BAD_BATCH}")
    assert f"without it {fixes[bad]:,} failures would be right and {breaks[bad]:,} correct predictions wrong, " \
           f"p {p_value(kept['p_value'])}" in sentence
    assert sentence in render_markdown(report_document(queue))


def test_failures_no_batch_causes_blame_no_batch(clean, store, tmp_path):
    """The same model trained without the flips: its failures in shop d are its own. No
    batch's removal fixes significantly more of them than it breaks (the refits agree), so the
    evidence and the report say that no training batch is blamed, and a relabel list is refused
    with that sentence rather than made of the closest batch's rows."""
    queue, group, loaded, source = clean
    blamed = attach_blame(queue, Scope(store, loaded.dataset, loaded.roles), [group.id], source)
    _, _, adjusted = _refit_test(tmp_path, pd.read_parquet(tmp_path / "log.parquet"))
    assert all(p >= 0.05 for p in adjusted)
    kept = queue.group(group.id).evidence["blamed_batch"]
    assert [b["value"] for b in blamed] == [None] and kept["value"] is None and kept["p_value"] >= 0.05
    sentence = blame_text(kept)
    assert sentence.startswith("No training batch is blamed: removing none of the 4 source values")
    assert sentence in render_markdown(report_document(queue))
    with pytest.raises(InputError, match="No training batch is blamed"):
        relabel_request(Scope(store, loaded.dataset, loaded.roles), queue.group(group.id), source.snapshot_paths,
                        source.model_path)


def test_data_request_and_ticket_carry_the_evidence(planted):
    queue, group, *_ = planted
    request = data_request(queue, group)
    assert request["predicate"] == f"shop = '{NOISY}'" and request["error_rate"] == 0.5
    assert data_request_csv(request).splitlines()[0].startswith("predicate,")
    ticket = ticket_markdown(queue, group)
    assert f"`shop = '{NOISY}'`" in ticket and "50.0%" in ticket
