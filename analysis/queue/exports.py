"""What a decision hands to the people who act on it: a data request ("collect more data like
this") as JSON and CSV, the training rows to relabel (the suspect labels of the batch trace
blames), and a ticket in Markdown for "retrain" or "fix the pipeline".

Both carry the evidence the review saw: the slice's predicate, its counts and error with its
interval, and example failures (links to the log rows, with their label and prediction).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Sequence

import pandas as pd

from analysis.errors import InputError
from analysis.queue.failure_queue import FailureQueue, Group
from analysis.queue.blame import blame_text, blamed_batch
from analysis.scope import Scope
from analysis.trace.tracer import TrainingFiles, read_training, suspects_for

EXAMPLES = 20
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def data_request(queue: FailureQueue, group: Group) -> dict[str, Any]:
    """The "collect more data like this" request for a group, as a JSON-ready document."""
    examples = queue.items(group.id).head(EXAMPLES)
    return {
        "group": group.id, "title": group.title, "version": group.version,
        "predicate": group.slice.name if group.slice else None,
        "slice": json.loads(group.slice.to_json()) if group.slice else None,
        "failures": group.failures, "rows": group.evidence.get("rows"),
        "error_rate": group.evidence.get("error_rate"), "ci": group.evidence.get("ci"),
        "rationale": group.rationale, "owner": group.owner,
        "examples": [{k: (None if v != v else v) for k, v in row.items()} for row in
                     examples[["dataset", "row_key", "version", "label", "prediction", "loss"]].to_dict("records")],
    }


def data_request_csv(request: dict[str, Any]) -> str:
    """The request's example rows as CSV, formula-like cells neutralised for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["predicate", "dataset", "row_key", "version", "label", "prediction", "loss"])
    for example in request["examples"]:
        writer.writerow([_cell(request["predicate"])] + [_cell(example[k]) for k in (
            "dataset", "row_key", "version", "label", "prediction", "loss")])
    return out.getvalue()


def ticket_markdown(queue: FailureQueue, group: Group) -> str:
    """A ticket to paste for "retrain" or "fix the pipeline", with the evidence."""
    evidence, request = group.evidence, data_request(queue, group)
    ci = evidence.get("ci") or [None, None]
    lines = [f"## {group.decision or 'Action'}: {group.title}", "",
             f"- **Slice:** `{request['predicate'] or 'no single slice'}`",
             f"- **Version:** {group.version or '-'}",
             f"- **Impact:** {group.failures} failures; error rate {_pct(evidence.get('error_rate'))} "
             f"(95% CI {_pct(ci[0])} to {_pct(ci[1])}) over {evidence.get('rows', 0)} labelled rows",
             f"- **Cause tags:** {', '.join(group.tags) or '-'}",
             f"- **Owner:** {group.owner or 'unassigned'}",
             f"- **Why:** {group.rationale or '-'}", "", "### Example failures", "",
             "| dataset | request | label | prediction | loss |", "|---|---|---|---|---|"]
    lines += [f"| {e['dataset']} | {e['row_key']} | {e['label']} | {e['prediction']} | {_num(e['loss'])} |"
              for e in request["examples"]]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def relabel_request(scope: Scope, group: Group, train_paths: Sequence[str], model_path: str | None = None,
                    trust: bool = False) -> dict[str, Any]:
    """The training rows to relabel for a group: the batch blamed for the group's failures (the
    one its evidence keeps, as the review saw it: a batch group's own, found at intake; else the
    batch whose removal significantly fixes more of them than it breaks, :func:`blamed_batch`),
    and within it the labels confident learning flags as probably wrong, most suspect first.
    A group no batch is blamed for gets a sentence, not another batch's rows."""
    store = scope.store
    source = TrainingFiles(tuple(train_paths), model_path, trust)
    blamed = group.evidence.get("blamed_batch") or blamed_batch(scope, group, source)
    if blamed.get("value") is None:
        raise InputError(f"group {group.id}: {blame_text(blamed)} There is no batch whose labels to relabel.")
    training = read_training(store, train_paths)
    report = suspects_for(store, source, top=len(training.frame))
    ids = (training.frame[training.id_column] if training.id_column else pd.Series(range(len(training.frame))))
    in_batch = set(ids[training.frame[blamed["column"]].astype(str) == str(blamed["value"])].tolist())
    flagged = report["suspects"][: report["flagged"]]
    return {
        "group": group.id, "title": group.title, "method": report["method"], "id_column": training.id_column,
        "blamed": blamed,
        "suspects": [s for s in flagged if s["row_id"] in in_batch],
    }


def relabel_csv(request: dict[str, Any]) -> str:
    """The rows to relabel as CSV: training row id, current label, the label the model suggests."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([request["id_column"] or "row", "label", "suggested_label", "score"])
    for suspect in request["suspects"]:
        writer.writerow([_cell(suspect[k]) for k in ("row_id", "label", "suggested_label", "score")])
    return out.getvalue()
