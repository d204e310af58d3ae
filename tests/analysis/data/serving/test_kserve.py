"""KServe payload logs, written as KServe's "Inference Logger" documents them
(https://kserve.github.io/website/docs/model-serving/predictive-inference/logger/basic-logger):
structured CloudEvents of type ``org.kubeflow.serving.inference.request`` / ``.response`` that
share one ``id``, with the ``inferenceservicename`` extension; V1 bodies (``instances`` /
``predictions``) and V2 Open Inference Protocol bodies (``inputs`` / ``outputs`` tensors with
name, shape, datatype, data; ``model_version`` in the response)."""

from __future__ import annotations

import base64
import json

import numpy as np

from tests.analysis.data.serving.conftest import load, skipped_lines


def event(kind, event_id, time, data, **extra) -> str:
    record = {"specversion": "1.0", "id": event_id, "type": f"org.kubeflow.serving.inference.{kind}",
              "source": "http://localhost:9081/", "time": time, "datacontenttype": "application/json",
              "inferenceservicename": "fraud", "namespace": "default", "component": "predictor", "endpoint": ""}
    record.update(extra)
    if data is not None:
        record["data"] = data
    return json.dumps(record)


def stamp(truth, i):
    return truth.timestamp[i].strftime("%Y-%m-%dT%H:%M:%SZ")


def v2_lines(truth, rows, version):
    """One V2 request for ``rows``: a [n, 2] FP64 tensor and a [n] BYTES tensor; one [n, 2]
    probability output (class 0, class 1)."""
    first = rows[0]
    request = {"inputs": [
        {"name": "numeric", "shape": [len(rows), 2], "datatype": "FP64",
         "data": [v for i in rows for v in (float(truth.age[i]), float(truth.income[i]))]},
        {"name": "city", "shape": [len(rows)], "datatype": "BYTES", "data": [truth.city[i] for i in rows]},
    ]}
    response = {"model_name": "fraud", "model_version": version, "id": truth.request_id[first], "outputs": [
        {"name": "proba", "shape": [len(rows), 2], "datatype": "FP64",
         "data": [v for i in rows for v in (1 - float(truth.score[i]), float(truth.score[i]))]}]}
    return [event("request", truth.request_id[first], stamp(truth, first), request),
            event("response", truth.request_id[first], stamp(truth, first), response)]


def test_v1_and_v2_requests_pair_with_their_responses(store, truth, tmp_path):
    lines = []
    for i in range(6):   # V1, responses logged before requests for half of them (order is not guaranteed)
        request = event("request", truth.request_id[i], stamp(truth, i),
                        {"instances": [[int(truth.age[i]), float(truth.income[i])]]})
        response = event("response", truth.request_id[i], stamp(truth, i), {"predictions": [float(truth.score[i])]})
        lines += [request, response] if i % 2 else [response, request]
    path = tmp_path / "v1.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert loaded.dataset.format == "kserve-payload"
    assert list(frame.request_id) == list(truth.request_id[:6])
    np.testing.assert_allclose(frame.feature_0, truth.age[:6])
    np.testing.assert_allclose(frame.score, truth.score[:6])
    assert (frame.model_version == "fraud").all()


def test_v2_tensors_batches_and_mixed_versions(store, truth, tmp_path):
    lines = v2_lines(truth, [0, 1, 2], "1") + v2_lines(truth, [3], "2")
    path = tmp_path / "v2.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert list(frame.request_id) == ["req-000:0", "req-000:1", "req-000:2", "req-003"]
    np.testing.assert_allclose(frame.numeric_0, truth.age[:4])
    np.testing.assert_allclose(frame.numeric_1, truth.income[:4])
    assert list(frame.city) == list(truth.city[:4])
    np.testing.assert_allclose(frame.p_1, truth.score[:4])
    assert list(frame.model_version) == ["1", "1", "1", "2"]
    assert set(loaded.roles.scores) <= {"p_0", "p_1"} and loaded.roles.scores


def test_unpaired_and_duplicate_events_are_named_and_base64_data_is_read(store, truth, tmp_path):
    body = base64.b64encode(json.dumps({"instances": [[1, 2]]}).encode()).decode()
    lines = [
        event("request", "a", "2026-11-22T08:00:00Z", None, data_base64=body),
        event("response", "a", "2026-11-22T08:00:00Z", {"predictions": [0]}),
        event("response", "orphan", "2026-11-22T08:01:00Z", {"predictions": [1]}),   # line 3
        event("request", "twice", "2026-11-22T08:02:00Z", {"instances": [[3, 4]]}),  # line 4
        event("request", "twice", "2026-11-22T08:02:01Z", {"instances": [[5, 6]]}),  # line 5
        event("request", "no-answer", "2026-11-22T08:03:00Z", {"instances": [[7, 8]]}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert skipped_lines(loaded) == [3, 4, 5]
    reasons = [s.reason for s in loaded.dataset.report.skipped]
    assert "no input event" in reasons[0] and "the id 'twice' is logged by 2 events" in reasons[1]
    assert list(frame.request_id) == ["a", "no-answer"]
    assert list(frame.feature_0) == [1, 7]
    assert frame.prediction[0] == 0 and frame.prediction.isna().tolist() == [False, True]


def test_seldon_ndarray_events_with_names(store, truth, tmp_path):
    """Seldon Core's request logger (docs.seldon.io, "Payload Logging"): CloudEvents of type
    io.seldon.serving.inference.request/response, bodies in Seldon's protocol
    ({"data": {"names": [...], "ndarray": [[...]]}})."""
    lines = []
    for i in range(3):
        base = {"specversion": "1.0", "id": truth.request_id[i], "source": "seldon", "time": stamp(truth, i)}
        lines.append(json.dumps(base | {"type": "io.seldon.serving.inference.request", "data": {
            "data": {"names": ["age", "income"], "ndarray": [[int(truth.age[i]), float(truth.income[i])]]}}}))
        lines.append(json.dumps(base | {"type": "io.seldon.serving.inference.response", "data": {
            "data": {"names": ["t:0", "t:1"], "ndarray": [[1 - float(truth.score[i]), float(truth.score[i])]]},
            "meta": {}}}))
    path = tmp_path / "seldon.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert loaded.dataset.format == "kserve-payload"
    np.testing.assert_array_equal(frame.age, truth.age[:3])
    np.testing.assert_allclose(frame.income, truth.income[:3])
    np.testing.assert_allclose(frame.p_1, truth.score[:3])
