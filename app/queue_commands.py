"""The failure queue's edits as Session commands, so Edit > Undo undoes them like any other.

A :class:`~analysis.queue.edits.QueueEdit` already knows how to apply and revert itself inside
one workspace transaction with its history line; :class:`EditQueue` only puts it on the
Session's undo history and publishes ``Changes(queue=True)`` so the queue panel and meeting
mode redraw. Adding failures (intake) is not undoable: the queue's history is append-only and
adding the same request again never duplicates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from analysis.errors import InputError
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.queue.blame import traces_from_cards
from analysis.queue.discoveries import DiscoveryCache
from analysis.trace.tracer import InfluenceCache, TrainingFiles
from analysis.queue.edits import QueueEdit, apply, revert
from analysis.queue.failure_queue import FailureQueue
from analysis.queue.intake import FoundFailures, IntakeResult, find_failures, queue_failures
from analysis.scope import Scope
from analysis.triage.check_report import CheckRun, check_dataset

from app.commands import Command
from app.state import Changes, Session


NO_WORKSPACE = "the failure queue lives in a workspace: save or open one first (File > Save workspace as…)"


def session_queue(session: Session) -> FailureQueue:
    """The failure queue of the session's workspace; a sentence when no workspace is open."""
    if session.workspace is None:
        raise InputError(NO_WORKSPACE)
    return FailureQueue(session.workspace)


def queue_refusal(session: Session) -> str | None:
    """Why failures cannot be queued now (no workspace, or one open elsewhere), or None."""
    if session.workspace is None:
        return NO_WORKSPACE
    reason = session.workspace.read_only_reason
    return f"the workspace is read-only ({reason}), so nothing can be queued" if reason else None


def session_traces(session: Session, dataset_name: str) -> dict[str, TrainingFiles]:
    """What the window's intake traces the failures of the log ``dataset_name`` through: the
    cards of its versions that name a training snapshot and a model (choosing them in the
    trace panel edits the card), trusted only when the person trusted that model file in this
    session (the trace panel asks, :class:`~app.commands.TrustModel`); a model that needs trust
    and has none is refused by the worker, which groups that version without blame and says why.
    The snapshot's label and id are those the person chose for it, as the trace panel and the
    meeting read it: the same preparation in the Session's influence cache, not a second one
    under another label."""
    versions = set(session.version_orders.get(dataset_name, ()))
    return {version: replace(source, trust=source.model_path in session.trusted_models,
                             roles=session.chosen_snapshot_roles(source.snapshot_paths[0]) or None)
            for version, source in traces_from_cards(session.version_cards).items()
            if not versions or version in versions}


@dataclass(frozen=True)
class FoundToQueue:
    """What the intake's worker hands back: the failures found and grouped, and the check it ran
    first when the log had no findings kept (for the GUI thread to keep and show)."""

    failed: FoundFailures
    checked: CheckRun | None = None


def find_failures_to_queue(refusal: str | None, scope: Scope, findings: Sequence = (),
                           traces: Mapping[str, TrainingFiles] | None = None, check_first: bool = False,
                           saved_profile: str | None = None, discoveries: DiscoveryCache | None = None,
                           influence: InfluenceCache | None = None, cancel: CancelToken = NEVER_CANCELLED,
                           progress: Progress = no_progress) -> FoundToQueue:
    """The worker half of adding failures to the queue; ``refusal`` (from :func:`queue_refusal`)
    is raised first, so it reaches the window's notification area like any failed job. With
    ``check_first`` (the log has no check kept) the log's input checks run first, against the
    reference profile the workspace kept (``saved_profile``) or the default reference, and the
    failures are grouped by their findings: a swapped client's failures are one finding, where
    failing slices alone would split them in two (:func:`analysis.queue.intake.kept_findings`).
    ``discoveries`` and ``influence`` are the Session's (:attr:`app.state.Session.discoveries`,
    :attr:`~app.state.Session.influence`): a worker reads and fills them, and the next intake of
    the same rows searches no slices again, of the same model prepares no influence again."""
    if refusal:
        raise InputError(refusal)
    checked = None
    if check_first:
        checked = check_dataset(Scope(scope.store, scope.dataset, scope.roles), saved_profile,
                                progress=scaled(progress, 0.0, CHECK_SHARE), cancel=cancel)
        findings = checked.findings
        progress = scaled(progress, CHECK_SHARE, 1.0)
    return FoundToQueue(find_failures(scope, findings, cancel, traces, cache=influence, progress=progress,
                                      discoveries=discoveries), checked)


CHECK_SHARE = 0.3
"""Part of an intake's progress given to the input checks it runs first."""


@dataclass
class EditQueue(Command):
    """One person's change to the queue (status, owner, tags, decision, note, merge, split, move)."""

    edit: QueueEdit
    label: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.label = self.edit.label

    def do(self, session: Session) -> Changes:
        apply(session_queue(session), self.edit)
        return Changes(queue=True)

    def undo(self, session: Session) -> Changes:
        revert(session_queue(session), self.edit)
        return Changes(queue=True)


@dataclass
class QueueFailures(Command):
    """The GUI-thread half of adding failures: write what a worker found into the queue (not
    undoable: the queue's history is append-only, and adding them again duplicates nothing)."""

    failed: FoundFailures
    undoable = False
    label: str = "Queue failures"
    result: IntakeResult | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self.result = queue_failures(session_queue(session), self.failed)
        return Changes(queue=True)


@dataclass
class QueueChanged(Command):
    """Say that the queue changed outside a person's edit (an intake job added failures)."""

    undoable = False
    label: str = "Queue failures"

    def do(self, session: Session) -> Changes:
        return Changes(queue=True)
