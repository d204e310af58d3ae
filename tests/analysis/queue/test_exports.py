"""What decisions hand over: the data request, the relabel list (the suspect labels of the
training batch trace blames, on a planted bad batch) and the ticket."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.queue.blame import attach_blame
from analysis.queue.exports import data_request, data_request_csv, relabel_request, ticket_markdown
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.report import render_markdown, report_document
from analysis.report.formatting import p_value
from analysis.scope import Scope
from analysis.slices import Compare, Slice
from analysis.workspace.workspace_file import Workspace

BAD_BATCH = "batch-3"


@pytest.fixture
def planted(tmp_path, store):
    """A snapshot whose batch-3 has every label flipped where x2 > 1, and a log whose model
    learnt those labels: half its predictions there are wrong."""
    rng = np.random.default_rng(3)
    n = 2000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    source = np.array([f"batch-{i % 4}" for i in range(n)])
    label = (x1 > 0).astype(int)
    flipped = (source == BAD_BATCH) & (x2 > 1)
    label[flipped] = 1 - label[flipped]
    pd.DataFrame({"id": np.arange(n), "x1": x1, "x2": x2, "source": source, "label": label}).to_parquet(
        tmp_path / "train.parquet")
    m = 3000
    y1, y2 = rng.normal(size=m), rng.normal(size=m)
    truth = (y1 > 0).astype(int)
    wrong = (y2 > 1) & (rng.random(m) < 0.5) | (rng.random(m) < 0.03)
    prediction = np.where(wrong, 1 - truth, truth)
    pd.DataFrame({"request_id": [f"r{i}" for i in range(m)],
                  "timestamp": [dt.datetime(2026, 11, 1) + dt.timedelta(minutes=i) for i in range(m)],
                  "x1": y1, "x2": y2, "label": truth, "prediction": prediction,
                  "score": np.where(prediction == 1, 0.9, 0.1)}).to_parquet(tmp_path / "log.parquet")
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False)
    workspace = Workspace.open(tmp_path / "w.sleuth")
    queue = FailureQueue(workspace)
    with queue.edit():
        group_id = queue.new_group("slice:None:x2 > 1", "slice", "x2 > 1", loaded.dataset.name, None,
                                   Slice(Compare("x2", ">", 1.0), name="x2 > 1"), {"rows": 10, "error_rate": 0.5})
    yield queue, queue.group(group_id), loaded, tmp_path, set(np.flatnonzero(flipped).tolist())
    workspace.close()


@pytest.mark.slow
def test_relabel_blames_the_bad_batch_and_lists_its_flipped_labels(planted, store):
    queue, group, loaded, folder, flipped = planted
    request = relabel_request(Scope(store, loaded.dataset, loaded.roles), group, [str(folder / "train.parquet")])
    assert (request["blamed"]["column"], request["blamed"]["value"]) == ("source", BAD_BATCH)
    listed = [s["row_id"] for s in request["suspects"]]
    assert listed, request
    precision = len(set(listed) & flipped) / len(listed)
    base_rate = len(flipped) / 500  # flipped labels among the batch's 500 rows
    assert precision > 2 * base_rate, (precision, base_rate)


def test_relabel_of_a_batch_group_lists_the_flipped_labels_of_its_own_batch(planted, store):
    """A group intake formed by blamed batch has no slice to trace: its relabel list is the
    suspect labels of the batch its evidence names."""
    queue, _, loaded, folder, flipped = planted
    with queue.edit():
        group_id = queue.new_group(f"batch:None:source={BAD_BATCH}", "batch", f"blamed training batch source = "
                                   f"{BAD_BATCH}", loaded.dataset.name, None, None,
                                   {"blamed_batch": {"column": "source", "value": BAD_BATCH, "traced_failures": 40}})
    request = relabel_request(Scope(store, loaded.dataset, loaded.roles), queue.group(group_id),
                              [str(folder / "train.parquet")])
    assert (request["blamed"]["value"], request["blamed"]["traced_failures"]) == (BAD_BATCH, 40)
    listed = [s["row_id"] for s in request["suspects"]]
    assert listed and len(set(listed) & flipped) / len(listed) > 2 * len(flipped) / 500, request


def test_the_group_keeps_the_batch_trace_blames_and_the_report_shows_it(planted, store):
    queue, group, loaded, folder, _ = planted
    blamed = attach_blame(queue, Scope(store, loaded.dataset, loaded.roles), [group.id],
                          [str(folder / "train.parquet")])
    assert [(b["column"], b["value"]) for b in blamed] == [("source", BAD_BATCH)]
    kept = queue.group(group.id).evidence["blamed_batch"]
    assert kept["value"] == BAD_BATCH and kept["harmful_share"] > kept["row_share"] == 0.25
    assert kept["p_value"] < 0.05
    markdown = render_markdown(report_document(queue))
    assert f"source = {BAD_BATCH}" in markdown and f"concentration p {p_value(kept['p_value'])}" in markdown


def test_data_request_and_ticket_carry_the_evidence(planted):
    queue, group, *_ = planted
    request = data_request(queue, group)
    assert request["predicate"] == "x2 > 1" and request["error_rate"] == 0.5
    assert data_request_csv(request).splitlines()[0].startswith("predicate,")
    ticket = ticket_markdown(queue, group)
    assert "`x2 > 1`" in ticket and "50.0%" in ticket
