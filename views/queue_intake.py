"""Adding failures to the queue from anywhere in the window: the one helper behind each panel's
"add to the queue" action (the table's selection, compare's negative flips, a finding's rows, a
traced row, the current slice).

The failures are read and grouped on a worker (discovery and blame can take a minute), with
progress and cancel; what was found is written to the workspace on the GUI thread, which owns
it, so a cancelled intake leaves the queue as it was. Rows that are not failures are left out,
and a request already queued is not queued again. A version whose card names a training
snapshot and a model has its failures grouped by the training batch trace blames
(:func:`~app.queue_commands.session_traces`).

A model file that can run code is never opened here, and the person is not asked here either:
intake is started by clicks that expect no question (and by the window tour, which nobody
answers). It is opened only once trusted in the trace panel, which asks; until then its
version is grouped without blame and the intake's notes say why.
"""

from __future__ import annotations

from typing import Sequence

from analysis.queue.intake import kept_findings, needs_check
from analysis.scope import Scope
from analysis.slices import Predicate
from analysis.slicing.role_leaves import slice_sql
from app.commands import SetFindings
from app.queue_commands import FoundToQueue, QueueFailures, find_failures_to_queue, queue_refusal, session_traces
from app.tasks import HEAVY
from views.panel import Panel


def add_to_queue(panel: Panel, predicate: Predicate | None, findings: Sequence = (), what: str = "rows",
                 dataset: str | None = None) -> None:
    """Queue the failures among ``predicate``'s rows of the open log ``dataset`` (the active one
    when None; a None predicate means the current slice's rows), grouped first by ``findings``
    when they are a check's findings on those rows, else by the log's last check kept in the
    workspace (see :func:`analysis.queue.intake.kept_findings`), else by a check the worker runs
    first and the workspace then keeps: failures are never grouped by failing slice alone when
    a check would name their cause."""
    session = panel.session
    opened = session.datasets.get(dataset) if dataset is not None else session.active
    if opened is None:
        return
    workspace = session.workspace
    if not findings and workspace is not None:
        findings = kept_findings(workspace, opened.name)
    check_first = not findings and (workspace is None or needs_check(workspace, opened.name))
    condition = slice_sql(predicate, opened.dataset, opened.roles) if predicate is not None else session.condition()
    panel.run_job("add to queue", find_failures_to_queue, queue_refusal(session),
                  Scope(session.store, opened.dataset, opened.roles, condition), tuple(findings),
                  session_traces(session, opened.name), check_first,
                  workspace.profile(opened.name) if check_first and workspace is not None else None,
                  session.discoveries, session.influence, lane=HEAVY,
                  label=f"Adding the failures of {what} to the queue",
                  on_done=lambda found: _queue_found(session, found))


def _queue_found(session, found: FoundToQueue) -> None:
    """On the GUI thread: keep and show the check the intake ran first, then queue its failures."""
    checked = found.checked
    if checked is not None:
        session.run(SetFindings(checked.findings, checked.dataset.name, checked.profile_json, checked.reference,
                                checked.choice))
    session.run(QueueFailures(found.failed))
