"""A small corpus of broken logs, generated rather than committed (binaries stay out of git).

``write_bad_inputs(folder)`` writes every case and returns {case: path}, the case being
the file name with ``_`` for the dot (``malformed_csv``); the tests call
it into a temporary folder. Run this file to write the corpus into ``tests/data/bad/`` for
trying the app by hand: ``python tests/data/make_bad_inputs.py``.
"""

from __future__ import annotations

import base64
import gzip
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MALFORMED_CSV = (
    "id,amount,label\n"
    "a1,10.5,0\n"
    "a2,11.0\n"  # line 3: a column missing
    "a3,12.5,1\n"
    "a4,13.0,0,extra\n"  # line 5: one column too many
    "a5,14.5,1\n"
)

MIXED_TYPES_CSV = "id,amount\n" + "".join(
    f"r{i},{'n/a' if i == 37 else i * 1.5}\n" for i in range(60)
)


def scored_log(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "request_id": [f"req-{i:04d}" for i in range(rows)],
            "model_version": ["v1"] * (rows // 2) + ["v2"] * (rows - rows // 2),
            "amount": rng.gamma(2.0, 50.0, rows).round(2),
            "score": rng.uniform(0, 1, rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def sagemaker_line(event_id: str, csv_in: str, csv_out: str | None, encoding: str = "CSV") -> str:
    """One SageMaker Data Capture line as "Data capture" documents it (CSV payloads)."""
    sides = {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": csv_in,
                               "encoding": encoding}}
    if csv_out is not None:
        sides["endpointOutput"] = {"observedContentType": "text/csv", "mode": "OUTPUT", "data": csv_out,
                                   "encoding": encoding}
    return json.dumps({"captureData": sides, "eventVersion": "0",
                       "eventMetadata": {"eventId": event_id, "inferenceTime": "2026-11-22T08:00:00Z"}})


def kserve_event(kind: str, event_id: str, data: dict) -> str:
    """One KServe payload-logger CloudEvent ("Inference Logger"), V1 body."""
    return json.dumps({"specversion": "1.0", "id": event_id, "type": f"org.kubeflow.serving.inference.{kind}",
                       "source": "http://localhost:9081/", "time": "2026-11-22T08:00:00Z",
                       "inferenceservicename": "fraud", "data": data})


def databricks_rows(statuses_and_requests: list[tuple[int, str]]) -> pa.Table:
    """Databricks inference-table rows ("Inference tables for monitoring and debugging models")."""
    return pa.Table.from_pylist([
        {"databricks_request_id": f"dbx-{i}", "timestamp_ms": 1_795_852_800_000 + i * 1000, "status_code": status,
         "request": request, "response": json.dumps({"predictions": [0.25]} if status == 200 else
                                                    {"error_code": "INTERNAL_ERROR", "message": "model crashed"}),
         "request_metadata": [("model_name", "fraud"), ("model_version", "3")]}
        for i, (status, request) in enumerate(statuses_and_requests)])


def write_capture_cases(folder: Path, path) -> None:
    """Capture logs as serving systems leave them when something went wrong."""
    good = sagemaker_line("ok-1", "1,2", "0.3")
    path("sagemaker_capture.jsonl").write_text("\n".join([
        good,
        good.replace("ok-1", "cut")[:70],                                  # line 2: cut off mid-write
        "[\"not\", \"a record\"]",                                         # line 3: JSON, not an object
        sagemaker_line("b64", "%%%not-base64", "0.4", "BASE64"),           # line 4: does not decode
        sagemaker_line("ok-2", "3,4", "0.6"),
    ]) + "\n")
    path("kserve_no_response.jsonl").write_text("\n".join([
        kserve_event("request", "a", {"instances": [[1, 2]]}),
        kserve_event("response", "a", {"predictions": [0.2]}),
        kserve_event("request", "lost", {"instances": [[3, 4]]}),         # line 3: its response never logged
    ]) + "\n")
    pq.write_table(databricks_rows([(200, json.dumps({"instances": [[1, 2]]})),
                                    (500, "{\"instances\": [[3,"),          # row 2: unparsable, and failed
                                    (200, json.dumps({"instances": [[5, 6]]}))]),
                   path("databricks_500.parquet"))
    (folder / "empty_capture" / "AllTraffic" / "2026" / "11" / "22" / "08").mkdir(parents=True, exist_ok=True)
    path("empty_capture")
    hour = path("cut_capture") / "AllTraffic" / "2026" / "11" / "22" / "08"  # a gzip cut off beside a whole one
    hour.mkdir(parents=True, exist_ok=True)
    (hour / "part-1.jsonl").write_text(good + "\n" + sagemaker_line("ok-2", "3,4", "0.6") + "\n")
    whole = gzip.compress(("\n".join(sagemaker_line(f"z{i}", f"{i},{i}", "0.5") for i in range(3000)) + "\n").encode())
    (hour / "part-2.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    alone = path("cut_alone") / "AllTraffic" / "2026" / "11" / "22" / "09"  # a capture log of one cut gzip
    alone.mkdir(parents=True, exist_ok=True)
    (alone / "part-0.jsonl.gz").write_bytes(whole[: len(whole) // 3])
    path("undecodable_base64.jsonl").write_text(sagemaker_line(
        "b", base64.b64encode(b"1,2").decode(), base64.b64encode(b"0.7").decode(), "BASE64") + "\n"
        + sagemaker_line("bad", "bm90IGJhc2U2NA=!", "0.1", "BASE64") + "\n")


def write_cut_gzip_cases(path) -> None:
    """CSV and JSON lines gzipped and cut off mid-stream (a copy interrupted): every line that
    ends before the cut loads, and one sentence says where the file ends."""
    rows = [(f"c{i}", round(i / 3000, 6), i % 2) for i in range(3000)]
    text = {"cut.csv.gz": "id,score,label\n" + "".join(f"{r},{s},{y}\n" for r, s, y in rows),
            "cut.jsonl.gz": "".join(json.dumps({"id": r, "score": s, "label": y}) + "\n" for r, s, y in rows)}
    for name, body in text.items():
        whole = gzip.compress(body.encode())
        path(name).write_bytes(whole[: len(whole) * 2 // 5])


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}

    def path(name: str) -> Path:
        cases[name.replace(".", "_")] = folder / name
        return folder / name

    path("empty.csv").write_bytes(b"")
    (folder / "no_data").mkdir(exist_ok=True)
    (folder / "no_data" / "README.md").write_text("not a log\n")
    cases["no_data"] = folder / "no_data"

    good = folder / "good.parquet"
    scored_log().to_parquet(good)
    path("truncated.parquet").write_bytes(good.read_bytes()[:-200])
    good.unlink()

    path("malformed.csv").write_text(MALFORMED_CSV)
    path("latin1.csv").write_bytes("id,city\n1,Montréal\n2,São Paulo\n3,Zürich\n".encode("latin-1"))
    path("mixed_types.csv").write_text(MIXED_TYPES_CSV)
    path("malformed.jsonl").write_text(
        '{"id": 1, "score": 0.2}\n{"id": 2, "score": \n{"id": 3, "score": 0.9}\n[1, 2]\n'
    )

    sqlite_path = path("sqlite.duckdb")
    with sqlite3.connect(sqlite_path) as con:
        con.execute("CREATE TABLE t (a INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    con.close()

    no_outcome = pd.DataFrame({"customer": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0]})
    no_outcome.to_parquet(path("no_outcome.parquet"))

    bad_scores = scored_log()
    bad_scores.loc[3, "score"] = np.nan
    bad_scores.loc[8, "score"] = np.inf
    bad_scores.loc[11, "score"] = 1.7
    bad_scores.loc[12, "score"] = -0.2
    # pandas would store NaN as a missing value; keep NaN a real NaN, and row 20 missing
    columns = {name: pa.array(bad_scores[name].to_numpy()) for name in bad_scores.columns}
    columns["score"] = pa.array(bad_scores["score"].to_numpy(), mask=bad_scores.index == 20)
    pq.write_table(pa.table(columns), path("bad_scores.parquet"))

    duplicates = scored_log()
    duplicates.loc[5, "request_id"] = duplicates.loc[4, "request_id"]  # both v1: a real duplicate
    duplicates.loc[25, "request_id"] = duplicates.loc[0, "request_id"]  # v2 vs v1: shadow traffic
    duplicates.to_parquet(path("duplicate_ids.parquet"))
    write_capture_cases(folder, path)
    write_cut_gzip_cases(path)
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "bad"
    for name, where in write_bad_inputs(target).items():
        print(f"{name}: {where}")
