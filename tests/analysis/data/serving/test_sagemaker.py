"""SageMaker Data Capture files, written as documented in "Data capture"
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture): one JSON line per
invocation with ``captureData.endpointInput/endpointOutput`` {observedContentType, mode, data,
encoding} and ``eventMetadata`` {eventId, inferenceId, inferenceTime}, stored under
``<endpoint>/<variant>/yyyy/mm/dd/hh/`` (gzip allowed)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import numpy as np

from analysis.data.loading import open_dataset

from tests.analysis.data.serving.conftest import load, skipped_lines


def capture_line(event_id, time, input_side, output_side=None, inference_id=None) -> str:
    capture = {"endpointInput": input_side}
    if output_side is not None:
        capture["endpointOutput"] = output_side
    meta = {"eventId": event_id, "inferenceTime": time}
    if inference_id:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": capture, "eventMetadata": meta, "eventVersion": "0"})


def side(content_type, data, encoding, mode="INPUT") -> dict:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def write_capture(truth, folder):
    """Rows 0-3 as JSON requests, 4-7 as one CSV batch, 8-11 as base64 CSV, one per request."""
    lines = []
    stamp = lambda i: truth.timestamp[i].strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    for i in range(4):
        body = {"instances": [{"age": int(truth.age[i]), "income": float(truth.income[i]), "city": truth.city[i]}]}
        lines.append(capture_line(
            f"ev-{i}", stamp(i), side("application/json", json.dumps(body), "JSON"),
            side("application/json", json.dumps({"predictions": [float(truth.score[i])]}), "JSON", "OUTPUT"),
            inference_id=truth.request_id[i]))
    batch = "\n".join(f"{truth.age[i]},{truth.income[i]}" for i in range(4, 8))
    scores = "\n".join(str(truth.score[i]) for i in range(4, 8))
    lines.append(capture_line("batch-1", stamp(4), side("text/csv", batch, "CSV"),
                              side("text/csv; charset=utf-8", scores, "CSV", "OUTPUT")))
    for i in range(8, 12):
        payload = base64.b64encode(f"{truth.age[i]},{truth.income[i]}".encode()).decode()
        answer = base64.b64encode(str(truth.score[i]).encode()).decode()
        lines.append(capture_line(f"ev-{i}", stamp(i), side("text/csv", payload, "BASE64"),
                                  side("text/csv", answer, "BASE64", "OUTPUT"), inference_id=truth.request_id[i]))
    hour = folder / "fraud-endpoint" / "AllTraffic" / "2026" / "11" / "22" / "08"
    hour.mkdir(parents=True)
    (hour / "part-1.jsonl").write_text("\n".join(lines[:5]) + "\n")
    with gzip.open(hour / "part-2.jsonl.gz", "wt") as handle:
        handle.write("\n".join(lines[5:]) + "\n")
    return hour


def test_json_csv_base64_and_batch_payloads_unpack_to_one_row_per_prediction(store, truth, tmp_path):
    write_capture(truth, tmp_path)
    loaded, frame = load(store, tmp_path)
    assert loaded.dataset.format == "sagemaker-capture"
    assert "SageMaker Data Capture" in loaded.dataset.report.warnings[0]
    assert len(frame) == 12
    json_rows = frame.iloc[:4]
    assert list(json_rows.request_id) == list(truth.request_id[:4])
    assert list(json_rows.city) == list(truth.city[:4])
    assert list(frame.request_id[4:8]) == [f"batch-1:{k}" for k in range(4)]
    csv_rows = frame.iloc[4:]
    np.testing.assert_allclose(csv_rows.feature_0, truth.age[4:])
    np.testing.assert_allclose(csv_rows.feature_1, truth.income[4:])
    np.testing.assert_allclose(frame.score, truth.score)
    assert (frame.model_version == "AllTraffic").all()
    assert list(frame.timestamp.dt.tz_convert("UTC")[8:]) == list(truth.timestamp[8:])
    assert loaded.roles.id == "request_id" and loaded.roles.scores == ("score",)


def test_bad_records_are_named_by_line_and_the_rest_loads(store, truth, tmp_path):
    good = side("text/csv", "1,2", "CSV")
    lines = [
        capture_line("ok-1", "2026-11-22T08:00:00Z", good, side("text/csv", "0.3", "CSV", "OUTPUT")),
        "{\"captureData\": {\"endpointInput\": ",                                      # cut off mid-write
        capture_line("b64", "2026-11-22T08:01:00Z", side("text/csv", "%%%not-base64", "BASE64")),
        capture_line("json", "2026-11-22T08:02:00Z", side("application/json", "{\"instances\": [1,", "JSON")),
        capture_line("count", "2026-11-22T08:03:00Z", side("text/csv", "1,2\n3,4", "CSV"),
                     side("text/csv", "0.1", "CSV", "OUTPUT")),
        capture_line("input-only", "2026-11-22T08:04:00Z", good),                        # output not captured
    ]
    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded, frame = load(store, path)
    assert skipped_lines(loaded) == [2, 3, 4, 5]
    reasons = [s.reason for s in loaded.dataset.report.skipped]
    assert "malformed JSON" in reasons[0] and "base64" in reasons[1] and "not valid JSON" in reasons[2]
    assert "2 row(s) but the response 1 output(s)" in reasons[3]
    assert list(frame.request_id) == ["ok-1", "input-only"]
    assert frame.score.isna().tolist() == [False, True]


def test_json_outputs_with_fields_mixed_inputs_and_an_empty_batch(store, tmp_path):
    """A JSON response with fields ({"label", "probability"}, as SageMaker's built-in linear
    learner answers): the predicted label is never taken for the ground truth; an input of mixed
    types becomes text; an empty batch is named, not silently dropped."""
    def line(event_id, instances, predictions):
        return capture_line(event_id, "2026-11-22T08:00:00Z",
                            side("application/json", json.dumps({"instances": instances}), "JSON"),
                            side("application/json", json.dumps({"predictions": predictions}), "JSON", "OUTPUT"))

    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join([
        line("a", [{"plan": 1, "tenure": 3}], [{"label": 1, "probability": 0.81}]),
        line("b", [{"plan": "gold", "tenure": 5}], [{"label": 0, "probability": 0.12}]),
        line("c", [], []),
    ]) + "\n")
    loaded, frame = load(store, path)
    assert list(frame.predicted_label) == [1, 0] and list(frame.probability) == [0.81, 0.12]
    assert loaded.roles.label is None and loaded.roles.prediction == "predicted_label"
    assert list(frame.plan) == ["1", "gold"]
    assert [(s.line, s.reason) for s in loaded.dataset.report.skipped] == [
        (3, "the request holds no input rows (an empty batch)")]


def test_object_and_plain_number_responses_in_one_file_unpack_into_one_score(store, tmp_path):
    """One endpoint answering in the shapes AWS documents for its built-in algorithms: JSON
    (``{"predictions": [{"score": 0.4, "predicted_label": 0}]}``) and JSON lines
    (``{"score": 0.4, "predicted_label": 0}``) from "Linear learner response formats"
    (docs.aws.amazon.com/sagemaker/latest/dg/LL-in-formats.html), and the bare CSV number of the
    "Data capture" page's example line (``"data":"0.0254181120544672","encoding":"CSV"``). Every
    number is one score column, the predicted labels another; an output that is neither (an
    error text) is left empty and named by its line."""
    def line(event_id, content_type, data, encoding):
        return capture_line(event_id, f"2026-11-22T08:0{event_id[-1]}:00Z", side("text/csv", "69,0,153.7", "CSV"),
                            side(content_type, data, encoding, "OUTPUT"))

    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join([
        line("ev-1", "application/json", json.dumps({"predictions": [{"score": 0.4, "predicted_label": 0}]}), "JSON"),
        line("ev-2", "text/csv; charset=utf-8", "0.0254181120544672", "CSV"),
        line("ev-3", "application/jsonlines", json.dumps({"score": 0.93, "predicted_label": 1}), "JSON"),
        line("ev-4", "text/csv; charset=utf-8", base64.b64encode(b"0.61").decode(), "BASE64"),
        line("ev-5", "text/csv; charset=utf-8", "model error: timeout", "CSV"),
    ]) + "\n")
    loaded, frame = load(store, path)
    np.testing.assert_allclose(frame.score, [0.4, 0.0254181120544672, 0.93, 0.61, np.nan])
    assert frame.predicted_label.isna().tolist() == [False, True, False, True, True]
    assert frame.predicted_label[[0, 2]].tolist() == [0, 1]
    assert loaded.roles.scores == ("score",)
    notes = " ".join(loaded.dataset.report.warnings)
    assert "2 output(s) given as a plain number and 2 as an object were read into one column 'score'" in notes
    assert f"1 output(s) are neither a number nor an object and are left empty, e.g. {path} record 5" in notes


def test_a_truncated_gzip_capture_loads_its_whole_lines_in_one_sentence_naming_the_file(store, tmp_path):
    lines = [capture_line(f"a{i}", "2026-11-22T08:00:00Z", side("text/csv", "1,2", "CSV"),
                          side("text/csv", "0.5", "CSV", "OUTPUT")) for i in range(2000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "part.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    kept = zlib.decompressobj(31).decompress(whole[: len(whole) // 2]).count(b"\n")
    dataset = open_dataset(store, [str(tmp_path / "part.jsonl.gz")])
    assert dataset.row_count == kept and 0 < kept < 2000
    assert dataset.report.warnings[0] == (f"{tmp_path / 'part.jsonl.gz'} is cut after line {kept:,}: "
                                          "the rest of the file is skipped")


def test_jsonlines_payload_holds_several_records(store, tmp_path):
    """``application/jsonlines`` requests (one record per line, as SageMaker's batch and many
    built-in containers take them) and answers. The record ``{"features": [...]}`` is the JSON
    lines form of the SageMaker Developer Guide's "Common data formats for inference" (built-in
    algorithms): its values are the features, named as the same request's CSV form names them."""
    records = "\n".join(json.dumps({"features": [i, i * 2]}) for i in range(3))
    answers = "\n".join(json.dumps({"score": i / 10}) for i in range(3))
    path = tmp_path / "capture.jsonl"
    path.write_text(capture_line("jl", "2026-11-22T08:00:00Z", side("application/jsonlines", records, "JSON"),
                                 side("application/jsonlines", answers, "JSON", "OUTPUT")) + "\n")
    loaded, frame = load(store, path)
    assert list(frame.request_id) == ["jl:0", "jl:1", "jl:2"]
    assert list(frame.feature_0) == [0, 1, 2] and list(frame.feature_1) == [0, 2, 4]
    assert "features" not in frame.columns and list(frame.score) == [0.0, 0.1, 0.2]


def test_json_instances_with_features_records_unpack_like_csv(store, tmp_path):
    """``{"instances": [{"features": [...]}, ...]}``, the JSON request form of the same guide,
    next to a CSV request of the same endpoint: one set of columns feature_0, feature_1."""
    body = json.dumps({"instances": [{"features": [1.5, 16.0]}, {"features": [2.5, 8.0]}]})
    answers = json.dumps({"predictions": [{"score": 0.3}, {"score": 0.7}]})
    path = tmp_path / "capture.jsonl"
    path.write_text(
        capture_line("js", "2026-11-22T08:00:00Z", side("application/json", body, "JSON"),
                     side("application/json", answers, "JSON", "OUTPUT")) + "\n"
        + capture_line("cs", "2026-11-22T08:01:00Z", side("text/csv", "3.5,4.0", "CSV"),
                       side("application/json", json.dumps({"predictions": [{"score": 0.9}]}), "JSON", "OUTPUT")) + "\n")
    loaded, frame = load(store, path)
    assert list(frame.request_id) == ["js:0", "js:1", "cs"]
    assert list(frame.feature_0) == [1.5, 2.5, 3.5] and list(frame.feature_1) == [16.0, 8.0, 4.0]
    assert list(frame.score) == [0.3, 0.7, 0.9]
