"""The labels join reads the log a fixed number of times, however many columns the labels
file has: on a cluster each read of the log's ids is a full scan and shuffle (issue #19), and
finding the id column used to join the log's ids once per labels column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data.labels import join_label_table
from analysis.data.loading import close_dataset, open_dataset
from analysis.data.open_log import load_log
from tests.statements import recorded_statements

ROWS = 300


def _files(folder, decoys: int):
    """A log; labels for 80% of its requests (ids written as numbers), with ``decoys`` columns
    of numbers, the first of which holds some of the log's ids too (a partial match)."""
    rng = np.random.default_rng(19)
    ids = np.arange(500_000, 500_000 + ROWS)
    log = pd.DataFrame({"request_id": ids.astype(str), "score": rng.uniform(size=ROWS).round(3),
                        "timestamp": pd.Timestamp("2026-11-01") + pd.to_timedelta(np.arange(ROWS), unit="h")})
    labelled = rng.permutation(ids)[:int(ROWS * 0.8)]
    labels = pd.DataFrame({f"decoy_{i}": rng.integers(0, 10**6, len(labelled)) for i in range(decoys)})
    labels["decoy_0"] = np.where(np.arange(len(labelled)) % 3 == 0, labelled, labels["decoy_0"])
    labels.insert(decoys // 2, "request", labelled)
    labels["label"] = rng.integers(0, 2, len(labelled))
    log.to_parquet(folder / "log.parquet")
    labels.to_parquet(folder / f"labels_{decoys}.parquet")
    return folder / "log.parquet", folder / f"labels_{decoys}.parquet", labels


def _join_counting_log_reads(store, log_path, labels_path):
    """The join's report and how many of its statements read the log's view."""
    loaded = load_log(store, [str(log_path)], check=False)
    labels = open_dataset(store, [str(labels_path)])
    seen = recorded_statements(store)
    start = len(seen)
    try:
        _, _, report = join_label_table(store, loaded.dataset, loaded.roles, labels)
    finally:
        close_dataset(store, labels)
    return report, sum(f'"{loaded.dataset.view}"' in sql for sql in seen[start:])


@pytest.mark.parametrize("decoys", [1, 9])
def test_id_column_found_among_decoys_and_counts_are_pandas(store, tmp_path, decoys):
    log_path, labels_path, labels = _files(tmp_path, decoys)
    report, _ = _join_counting_log_reads(store, log_path, labels_path)
    assert report.id_column == "request" and report.label_column == "label"
    log = pd.read_parquet(log_path)
    merged = log.merge(labels.assign(request_id=labels.request.astype(str)), on="request_id", how="left")
    assert (report.labels, report.labelled_predictions, report.unknown_ids) == (
        len(labels), int(merged.label.notna().sum()), 0)


def test_log_reads_do_not_grow_with_the_labels_columns(store, tmp_path):
    _, few_path, _ = _files(tmp_path, 1)
    log_path, many_path, _ = _files(tmp_path, 9)
    _, few = _join_counting_log_reads(store, log_path, few_path)
    _, many = _join_counting_log_reads(store, log_path, many_path)
    assert many == few
