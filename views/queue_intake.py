"""Adding failures to the queue from anywhere in the window: the one helper behind each panel's
"add to the queue" action (the table's selection, compare's negative flips, a finding's rows, a
traced row, the current slice).

The failures are read and grouped on a worker (discovery and blame can take a minute), with
progress and cancel; what was found is written to the workspace on the GUI thread, which owns
it, so a cancelled intake leaves the queue as it was. Rows that are not failures are left out,
and a request already queued is not queued again. A version whose card names a training
snapshot and a model has its failures grouped by the training batch trace blames; a model file
that can run code is opened only after the person trusts it (asked here, once per file, as the
trace panel asks), else that version is not traced and the intake says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from analysis.errors import SleuthError
from analysis.queue.blame import TraceSource
from analysis.slices import Predicate
from analysis.slicing.role_leaves import slice_sql
from analysis.trace.model_files import inspect_model
from app.commands import TrustModel
from app.queue_commands import QueueFailures, find_failures_to_queue, queue_refusal, session_traces
from app.tasks import HEAVY
from views.panel import Panel
from views.widgets.model_trust import confirm_trust


def add_to_queue(panel: Panel, predicate: Predicate | None, findings: Sequence = (), what: str = "rows",
                 dataset: str | None = None) -> None:
    """Queue the failures among ``predicate``'s rows of the open log ``dataset`` (the active one
    when None; a None predicate means the current slice's rows), grouped first by ``findings``
    when they are a check's findings on those rows."""
    session = panel.session
    opened = session.datasets.get(dataset) if dataset is not None else session.active
    if opened is None:
        return
    refusal = queue_refusal(session)
    traces, skipped = trusted_traces(panel, opened.name) if refusal is None else ({}, ())
    condition = slice_sql(predicate, opened.dataset, opened.roles) if predicate is not None else session.condition()
    panel.run_job("add to queue", find_failures_to_queue, refusal, session.store, opened.dataset,
                  opened.roles, condition, tuple(findings), traces, skipped, lane=HEAVY,
                  label=f"Adding the failures of {what} to the queue",
                  on_done=lambda failed: session.run(QueueFailures(failed)))


def trusted_traces(panel: Panel, dataset_name: str) -> tuple[dict[str, TraceSource], tuple[str, ...]]:
    """The versions of the log to trace, and a sentence for each one left out: a model file that
    needs trust is asked about once (a "yes" holds for the session); one the person does not
    trust, or that cannot be read, leaves its version untraced (grouped by slice alone)."""
    session = panel.session
    traces: dict[str, TraceSource] = {}
    skipped: list[str] = []
    answers: dict[str, bool | str] = {}  # per model file: trusted, or why it is not traced
    for version, source in session_traces(session, dataset_name).items():
        path = source.model_path
        if not source.trust and path not in answers:
            answers[path] = _ask_trust(panel, path)
        answer = True if source.trust else answers[path]
        if isinstance(answer, str):
            skipped.append(f"version {session.version_name(version)}: failures not traced to training batches: "
                           f"{answer}")
            continue
        traces[version] = replace(source, trust=answer)
    return traces, tuple(skipped)


def _ask_trust(panel: Panel, path: str) -> bool | str:
    """False when the model opens safely, True when the person trusts it now, else why not."""
    try:
        info = inspect_model(path)
    except SleuthError as error:
        return f"its model file could not be opened ({error})"
    if not info.needs_trust:
        return False
    if not confirm_trust(panel, path, info.untrusted_types):
        return f"you did not trust its model file {path} (opening it can run code)"
    panel.session.run(TrustModel(path))
    return True
