"""Small files of each kind the issue's held-out corpus found mishandled, made here (the corpus
stays unseen): files that raised, valid files that were refused, garbage accepted as data, and
files whose rows were miscounted. ``write_tricky_inputs(folder)`` returns {case: path}.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

ROWS = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=6, freq="h"),
                     "score": [0.1, 0.25, 0.5, 0.75, 0.9, 0.3], "label": [0, 1, 0, 1, 1, 0]})
HTML_PAGE = ("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
             "<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>\n")
TITLED = "Prediction export 2026-01-01\nid,score,label\n1,0.1,0\n2,0.2,1\n3,0.3,0\n4,0.4,1\n"
COMMENTED = "# exported by the serving system\n# model fraud-v3\nid,score,label\n1,0.1,0\n2,0.2,1\n3,0.3,0\n"
EXCEL_HINT = "sep=;\nid;score;label\n1;0,1;0\n2;0,25;1\n3;0,5;0\n"


def write_tricky_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}

    def path(name: str) -> Path:
        cases[name.replace(".", "_")] = folder / name
        return folder / name

    table = pa.Table.from_pandas(ROWS, preserve_index=False)
    # raised a traceback
    path("nul_header.csv").write_bytes(b"id,na\x00me,label\n1,a,0\n2,b,1\n")
    path("invalid_utf8.csv").write_bytes(b"id,name,label\n1,caf\xe9\xff\xfe,0\n2,ok,1\n")
    tags = pa.array([["x"], ["y"], ["x"]]).cast(pa.list_(pa.dictionary(pa.int32(), pa.string())))
    feather.write_feather(pa.table({"id": [1, 2, 3], "tags": tags}), path("nested_dictionary.arrow"))
    # valid files that were refused
    pq.write_table(table, path("int96.parquet"), use_deprecated_int96_timestamps=True)
    with ipc.new_stream(path("stream.arrows"), table.schema) as writer:
        writer.write_table(table)
    with ipc.new_file(path("lz4.arrow"), table.schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    # garbage accepted as data
    path("error_page.csv").write_text(HTML_PAGE)
    # wrong row counts
    path("title_row.csv").write_text(TITLED)
    path("comment_preamble.csv").write_text(COMMENTED)
    path("excel_hint.csv").write_text(EXCEL_HINT)
    path("footer.csv").write_text("id,score,label\n1,0.1,0\n2,0.2,1\n3,0.3,0\n4,0.4,1\nTotal,4 rows,\n")
    path("missing_last_score.csv").write_text("id,score,label\n1,0.1,0\n2,0.2,1\n3,0.3,0\n4,n/a,1\n")
    # valid, refused: Windows and Unix line endings in one file
    path("mixed_line_endings.csv").write_bytes(b"id,score,label\r\n1,0.1,0\n2,0.2,1\r\n3,0.3,0\n4,0.4,1\r\n")
    # JSON that DuckDB refused, and whitespace accepted as data
    path("cr_separated.ndjson").write_bytes(b'{"id": 1, "label": 0}\r{"id": 2, "label": 1}\r{"id": 3, "label": 0}\r')
    path("latin1.jsonl").write_bytes('{"id": 1, "city": "Z\u00fcrich"}\n{"id": 2, "city": "S\u00e3o Paulo"}\n'
                                     .encode("latin-1"))
    path("duplicate_keys.jsonl").write_text('{"id": 1, "label": 0, "label": 1}\n{"id": 2, "label": 1}\n')
    path("type_changes.jsonl").write_text("".join(f'{{"id": {i}, "code": {i}}}\n' for i in range(30_000))
                                          + '{"id": 30000, "code": "A-17"}\n')
    path("two_arrays.json").write_text('[{"id": 1, "label": 0}, {"id": 2, "label": 1}]\n[{"id": 3, "label": 0}]\n')
    path("whitespace.json").write_text("   \n\n\t  \n")
    # silent guesses: two timestamp formats, epoch seconds mixed with milliseconds
    path("mixed_timestamp_formats.csv").write_text(
        "ts,score,label\n2026-01-01 10:00:00,0.1,0\n02/01/2026 11:00,0.2,1\n2026-01-03T12:00:00,0.3,0\n")
    seconds = 1_767_225_600  # 2026-01-01 00:00 UTC
    path("mixed_epoch_units.csv").write_text(
        f"ts,score,label\n{seconds},0.1,0\n{(seconds + 3600) * 1000},0.2,1\n{seconds + 7200},0.3,0\n")
    # bad values: one text cell in a score column; three malformed lines (two with two errors
    # each) under a title line; a quote opened mid-file and never closed
    scores = [f"{i},{i / 200:.3f},{i % 2}" for i in range(200)]
    path("score_with_text.csv").write_text("id,score,label\n" + "\n".join(
        scores[:49] + ["49,not-a-number,1"] + scores[50:]) + "\n")
    path("three_bad_lines.csv").write_text("Prediction export\nid,score,label\n" + "\n".join(
        scores[:10] + ["10,0.5"] + scores[11:100] + ["100,0.1,1,extra,more"] + scores[101:150]
        + ['150,"oops'] + scores[151:]) + "\n")
    path("unterminated_quote.csv").write_text("id,name,score,label\n" + "\n".join(
        [f'{i},"n{i}",{i / 200:.3f},{i % 2}' for i in range(99)] + ['99,"broken,0.5,1']
        + [f'{i},"n{i}",{i / 200:.3f},{i % 2}' for i in range(100, 200)]) + "\n")
    write_corrupt_list_levels(path("corrupt_list_levels.parquet"))
    return cases


def write_corrupt_list_levels(target: Path) -> None:
    """A Parquet file whose list column's levels were damaged by one flipped bit, chosen so that
    DuckDB still reads it, into other lists (garbage accepted as data): the first bit in the
    column's pages, from its start, whose flip gives lists of another total length."""
    import duckdb

    lists = pa.table({"id": list(range(200)), "tags": [[i, i + 1, i + 2][: i % 4] for i in range(200)]})
    pq.write_table(lists, target, compression="NONE", use_dictionary=False, data_page_version="1.0")
    data = target.read_bytes()
    chunk = pq.ParquetFile(target).metadata.row_group(0).column(1)
    read = f"SELECT count(*), sum(len(tags)) FROM read_parquet('{target}')"
    for position in range(chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size):
        target.write_bytes(data[:position] + bytes([data[position] ^ 1]) + data[position + 1:])
        try:
            if duckdb.sql(read).fetchall() not in ([(200, 300)], []):
                return
        except duckdb.Error:
            continue
    raise RuntimeError("no single bit flip makes DuckDB read other lists from this file")


FUZZ_RECORDS = 20


def write_fuzzed_json(folder: Path, seed: int = 15) -> dict[str, Path]:
    """What a fuzzer makes of a JSON log of FUZZ_RECORDS records, as .jsonl and as a .json array:
    random bytes, truncations, flipped bytes, and nesting deeper than any reader recurses."""
    import json
    import random

    rng = random.Random(seed)
    records = [{"id": i, "score": i / 10, "label": i % 2, "meta": {"a": [i, {"b": "x"}]}} for i in range(FUZZ_RECORDS)]
    texts = {".jsonl": "".join(json.dumps(r) + "\n" for r in records).encode(), ".json": json.dumps(records).encode()}
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, bytes] = {}
    for ext, text in texts.items():
        made[f"random{ext}"] = bytes(rng.randrange(256) for _ in range(2000))
        made[f"truncated{ext}"] = text[: rng.randrange(len(text) // 4, len(text) * 3 // 4)]
        flipped = bytearray(text)
        for _ in range(10):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        made[f"flipped{ext}"] = bytes(flipped)
        made[f"deep_objects{ext}"] = b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n"
        made[f"deep_unclosed{ext}"] = b"[" * 50_000
    cases = {}
    for name, data in made.items():
        (folder / name).write_bytes(data)
        cases[name] = folder / name
    return cases


def write_folder_with_strays(folder: Path, data_format: str) -> list[Path]:
    """A log in two files of ``data_format`` (csv, csv.gz, parquet or jsonl.gz) beside what
    folders also hold: a README.txt, and for gzip a third part cut off inside its first line. Returns the
    parts that are data, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    halves = (ROWS.iloc[:3], ROWS.iloc[3:])
    parts = [folder / f"part-{i}.{data_format}" for i in range(2)]
    for part, rows in zip(parts, halves):
        if data_format.startswith("csv"):
            rows.to_csv(part, index=False)
        elif data_format == "parquet":
            rows.to_parquet(part, index=False)
        else:
            rows.to_json(part, orient="records", lines=True, date_format="iso", compression="gzip")
    if data_format.endswith(".gz"):  # cut inside its first line: nothing of it is a row
        whole = gzip.compress(gzip.decompress(parts[0].read_bytes()) * 2000)
        (folder / f"part-2.{data_format}").write_bytes(whole[:14])
    (folder / "README.txt").write_text("Prediction logs of the fraud model, exported nightly\n"
                                       "Ask the data team before deleting.\n")
    return parts


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "tricky"
    for name, where in write_tricky_inputs(target).items():
        print(f"{name}: {where}")
