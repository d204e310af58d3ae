"""Every user mutation of the Session as a command: do, undo, and what it changed.

A command also writes itself to the open workspace inside ``do``/``undo``, so an edit is
durable the moment it is made (glue's ``CommandStack``, Anki's operations). Commands are
small values; they hold what they need to undo themselves.
"""

from __future__ import annotations

import abc

from dataclasses import dataclass, field, replace

from analysis.compare.verdicts import verdict_record
from analysis.data.roles import RoleMap
from analysis.slices import EditMode, Everything, Predicate, Slice, combine, role_leaves
from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import Workspace

from app.state import ALL_ROWS, HISTORY_LIMIT, Changes, OpenDataset, Session


class Command(abc.ABC):
    label = ""
    undoable = True

    @abc.abstractmethod
    def do(self, session: Session) -> Changes:
        """Apply the change and return what changed."""

    def undo(self, session: Session) -> Changes:
        """Revert :meth:`do`; commands that are not undoable keep this no-op."""
        return Changes()

    def dataset_names_held(self) -> frozenset[str]:
        """Names of closed datasets that undoing this command would bring back under that name:
        a log opened meanwhile must not take one (see :meth:`Session.unique_name`)."""
        return frozenset()


@dataclass
class AddDataset(Command):
    """Register a loaded dataset; it becomes the active one unless ``activate`` is False
    (a workspace reopening several datasets keeps the one that was active).

    Opening is not an edit to undo: Ctrl+Z after opening a workspace used to close its last
    dataset (the training snapshot) and drop its registration from the file at once, with no
    word of what happened. Opening a file is undone, as in an editor, by closing it (Ctrl+W),
    and that close is the undoable command (:class:`RemoveDataset`)."""

    opened: OpenDataset
    persist: bool = True
    activate: bool = True
    undoable = False
    label: str = "Open dataset"

    def do(self, session: Session) -> Changes:
        session.datasets[self.opened.name] = self.opened
        if self.persist and session.workspace is not None:
            session.workspace.save_dataset(self.opened.entry())
        if not self.activate and session.active_name is not None:
            return Changes(datasets=True)
        _activate(session, self.opened.name)
        return Changes(datasets=True, active=True, selection=True)


@dataclass
class RemoveDataset(Command):
    """Close a dataset (its files are untouched); undo reopens the same registration."""

    name: str
    label: str = "Close dataset"
    _removed: OpenDataset | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self._removed = session.datasets[self.name]
        remaining = [n for n in session.datasets if n != self.name]
        fallback = session.active_name if session.active_name != self.name else (remaining[-1] if remaining else None)
        return _remove(session, self.name, fallback)

    def undo(self, session: Session) -> Changes:
        assert self._removed is not None
        return AddDataset(self._removed).do(session)

    def dataset_names_held(self) -> frozenset[str]:
        return frozenset({self.name})


def _remove(session: Session, name: str, new_active: str | None) -> Changes:
    session.datasets.pop(name, None)
    if session.workspace is not None:
        session.workspace.remove_dataset(name)
    session.active_name = new_active if new_active in session.datasets else None
    session.selected_row = None
    return Changes(datasets=True, active=True, selection=True)


@dataclass
class SetRoles(Command):
    """Change the column roles of one dataset (the roles dialog, or a header's context menu)."""

    name: str
    roles: RoleMap
    issues: tuple | None = None
    label: str = "Change column roles"
    _before: OpenDataset | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self._before = session.datasets[self.name]
        issues = self.issues if self.issues is not None else self._before.issues
        return _put(session, replace(self._before, roles=self.roles, issues=issues))

    def undo(self, session: Session) -> Changes:
        assert self._before is not None
        return _put(session, self._before)


def _put(session: Session, opened: OpenDataset) -> Changes:
    """New roles for a dataset; on the active one they also change the rows of a current slice
    on outcomes or flips (``wrong`` reads the label role), so panels showing it refresh."""
    session.datasets[opened.name] = opened
    if session.workspace is not None:
        session.workspace.save_roles(opened.name, opened.roles)
    reads_roles = opened.name == session.active_name and bool(role_leaves(session.current_slice.predicate))
    return Changes(roles=True, slice=reads_roles)


@dataclass
class SetIssues(Command):
    """Replace the findings of the log checks (after roles changed); not an edit to undo."""

    name: str
    issues: tuple
    undoable = False
    label: str = "Check log"

    def do(self, session: Session) -> Changes:
        opened = session.datasets.get(self.name)
        if opened is None:
            return Changes()
        session.datasets[self.name] = replace(opened, issues=self.issues)
        return Changes(issues=True)


@dataclass
class SetActive(Command):
    name: str
    undoable = False
    label: str = "Show dataset"

    def do(self, session: Session) -> Changes:
        if self.name == session.active_name or self.name not in session.datasets:
            return Changes()
        _activate(session, self.name)
        return Changes(active=True, selection=True)


def _activate(session: Session, name: str) -> None:
    session.active_name = name
    session.selected_row = None
    if session.workspace is not None:
        session.workspace.set_meta("active_dataset", name)


@dataclass
class SelectRow(Command):
    row_id: int | None
    undoable = False
    label: str = "Select row"

    def do(self, session: Session) -> Changes:
        if self.row_id == session.selected_row:
            return Changes()
        session.selected_row = self.row_id
        return Changes(selection=True)


@dataclass
class AttachWorkspace(Command):
    """Make ``workspace`` the session's workspace.

    With ``carry`` (saving what is open as a new workspace) everything the session holds that
    the file lacks is written into it: datasets, saved and current slice, version cards,
    findings with their reference, decisions on them and reference profiles, so *Save
    workspace as* loses nothing. A
    workspace being opened (``carry=False``) brings its own content, which the controller
    loads next; nothing of the previous one is written into it.
    """

    workspace: Workspace | None
    carry: bool = True
    undoable = False
    label: str = "Open workspace"

    def do(self, session: Session) -> Changes:
        if session.workspace is not None and session.workspace is not self.workspace:
            session.workspace.close()
        session.workspace = self.workspace
        if self.workspace is not None and self.carry:
            _carry_into(session, self.workspace)
        return Changes(workspace=True)


def _carry_checks(session: Session, workspace: Workspace) -> None:
    """The last check of each open log this session ran, where the file has none: its findings
    (so the reopened log shows them with their decisions) and the reference chosen."""
    from analysis.triage.check_report import finding_to_dict

    for dataset, (reference, findings, choice) in session.checks.items():
        if dataset not in session.datasets or workspace.findings(dataset)[1]:
            continue
        workspace.save_findings(dataset, reference, [finding_to_dict(f) for f in findings])
        if choice is not None:
            workspace.save_check_reference(dataset, choice)


def _carry_into(session: Session, workspace: Workspace) -> None:
    """Write into ``workspace`` what the session holds and it lacks (see :class:`AttachWorkspace`)."""
    known = {entry.name for entry in workspace.datasets()}
    for opened in session.datasets.values():
        if opened.name not in known:
            workspace.save_dataset(opened.entry())
    saved, _problems = workspace.slices()
    known_slices = {s.name for s in saved}
    for kept in session.saved_slices.values():
        if kept.name not in known_slices:
            workspace.save_slice(kept)
    known_cards = workspace.version_cards()
    for card in session.version_cards.values():
        if card.version not in known_cards:
            workspace.save_version_card(card)
    known_decisions = workspace.decisions()
    for decision in session.decisions:
        if decision.to_dict() not in known_decisions:
            workspace.add_decision(decision.check_key, decision.to_dict())
    for dataset, document in session.profiles.items():
        if workspace.profile(dataset) != document:
            workspace.save_profile(dataset, document)
    _carry_checks(session, workspace)
    if session.current_slice != ALL_ROWS:
        workspace.set_meta("current_slice", session.current_slice.to_dict())
    if session.active_name is not None:
        workspace.set_meta("active_dataset", session.active_name)


@dataclass
class SetSlice(Command):
    """Make ``slice`` the current slice; the one it replaces goes on the back history.

    Navigation, like a browser's: Back/Forward walk the history instead of undo.
    """

    slice: Slice
    undoable = False
    label: str = "Set slice"

    def do(self, session: Session) -> Changes:
        if self.slice == session.current_slice:
            return Changes()
        session.slice_back.append(session.current_slice)
        del session.slice_back[:-HISTORY_LIMIT]
        session.slice_forward.clear()
        return _show_slice(session, self.slice)


@dataclass
class EditSlice(Command):
    """Combine ``predicate`` with the current slice in ``mode`` (replace, and, or, and-not,
    narrow): one command for every "open this as the slice" a panel asks for.

    A current slice that does not apply to the active dataset counts as all rows, so an edit
    never keeps conditions on columns the dataset lacks.
    """

    predicate: Predicate
    mode: EditMode = EditMode.NARROW
    name: str = ""
    undoable = False
    label: str = "Edit slice"

    def do(self, session: Session) -> Changes:
        current = session.current_slice.predicate if session.slice_applies() else Everything
        return SetSlice(Slice(combine(current, self.predicate, self.mode), self.name)).do(session)


def _show_slice(session: Session, new: Slice) -> Changes:
    session.current_slice = new
    session.selected_row = None
    if session.workspace is not None:
        session.workspace.set_meta("current_slice", new.to_dict())
    return Changes(slice=True, selection=True)


@dataclass
class SliceBack(Command):
    undoable = False
    label: str = "Back"

    def do(self, session: Session) -> Changes:
        if not session.slice_back:
            return Changes()
        session.slice_forward.append(session.current_slice)
        return _show_slice(session, session.slice_back.pop())


@dataclass
class SliceForward(Command):
    undoable = False
    label: str = "Forward"

    def do(self, session: Session) -> Changes:
        if not session.slice_forward:
            return Changes()
        session.slice_back.append(session.current_slice)
        return _show_slice(session, session.slice_forward.pop())


@dataclass
class SaveSlice(Command):
    """Keep a slice under its name in the workspace (replacing one of the same name)."""

    slice: Slice
    label: str = "Save slice"
    _replaced: Slice | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self._replaced = session.saved_slices.get(self.slice.name)
        _store_slice(session, self.slice)
        return Changes(saved_slices=True)

    def undo(self, session: Session) -> Changes:
        if self._replaced is not None:
            _store_slice(session, self._replaced)
        else:
            _drop_slice(session, self.slice.name)
        return Changes(saved_slices=True)


@dataclass
class DeleteSlice(Command):
    name: str
    label: str = "Delete saved slice"
    _deleted: Slice | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self._deleted = session.saved_slices.get(self.name)
        _drop_slice(session, self.name)
        return Changes(saved_slices=True)

    def undo(self, session: Session) -> Changes:
        if self._deleted is not None:
            _store_slice(session, self._deleted)
        return Changes(saved_slices=True)


def _store_slice(session: Session, saved: Slice) -> None:
    session.saved_slices[saved.name] = saved
    if session.workspace is not None:
        session.workspace.save_slice(saved)


def _drop_slice(session: Session, name: str) -> None:
    session.saved_slices.pop(name, None)
    if session.workspace is not None:
        session.workspace.remove_slice(name)


@dataclass
class LoadSavedSlices(Command):
    """Replace the saved-slice list with a workspace's (on opening it); not an edit to undo."""

    slices: list
    current: Slice | None = None
    undoable = False
    label: str = "Read saved slices"

    def do(self, session: Session) -> Changes:
        session.saved_slices = {s.name: s for s in self.slices}
        session.current_slice = self.current or ALL_ROWS
        session.slice_back.clear()
        session.slice_forward.clear()
        return Changes(saved_slices=True, slice=True)


@dataclass
class SaveVersionCard(Command):
    """Create or edit a version's card (its name, what it serves, where it came from)."""

    card: VersionCard
    label: str = "Edit version card"
    _before: VersionCard | None = field(default=None, init=False)

    def do(self, session: Session) -> Changes:
        self._before = session.version_cards.get(self.card.version)
        return _store_card(session, self.card)

    def undo(self, session: Session) -> Changes:
        return _store_card(session, self._before or VersionCard(self.card.version))


def _store_card(session: Session, card: VersionCard) -> Changes:
    session.version_cards[card.version] = card
    if session.workspace is not None:
        session.workspace.save_version_card(card)
    return Changes(cards=True)


@dataclass
class LoadVersionCards(Command):
    """Take a workspace's cards (on opening it); not an edit to undo."""

    cards: dict
    undoable = False
    label: str = "Read version cards"

    def do(self, session: Session) -> Changes:
        session.version_cards = dict(self.cards)
        return Changes(cards=True)


@dataclass
class SetVersionOrder(Command):
    """Record a log's versions in the card order once they are listed (on opening it, after a
    role edit); not an edit to undo. Published as a cards change: it is how versions look."""

    name: str
    versions: tuple
    undoable = False
    label: str = "List versions"

    def do(self, session: Session) -> Changes:
        if session.version_orders.get(self.name) == tuple(self.versions):
            return Changes()
        session.version_orders[self.name] = tuple(self.versions)
        return Changes(cards=True)


@dataclass
class SetFindings(Command):
    """Show a check's findings. With ``dataset``, a new check's: keep its reference profile
    for the next check (in the session, so *Save workspace as* can carry it), and in the
    workspace its findings, the reference in words, the reference chosen (``choice``) and the
    profile, so the log shows them when it reopens and the next check uses the same reference.
    Without it, findings read back from the workspace: shown only."""

    findings: tuple
    dataset: str | None = None
    profile_json: str | None = None
    reference: str = ""
    choice: dict | None = None
    undoable = False
    label: str = "Check inputs"

    def do(self, session: Session) -> Changes:
        from analysis.triage.check_report import finding_to_dict

        session.findings = tuple(self.findings)
        if self.dataset:
            session.checks[self.dataset] = (self.reference, session.findings, self.choice)
        if self.dataset and self.profile_json:
            session.profiles[self.dataset] = self.profile_json
        workspace = session.workspace
        if workspace is not None and self.dataset:
            if self.profile_json:
                workspace.save_profile(self.dataset, self.profile_json)
            workspace.save_findings(self.dataset, self.reference, [finding_to_dict(f) for f in self.findings])
            if self.choice is not None:
                workspace.save_check_reference(self.dataset, self.choice)
        return Changes(findings=True)


@dataclass
class Decide(Command):
    """Record a decision on a finding (dismissed, snoozed, expected, confirmed) with its note.

    Decisions are history: undo removes it from the session's list, the workspace keeps the
    record of what was said (append-only, so a review meeting's trail is never lost).
    """

    decision: object
    label: str = "Decide on a finding"

    def do(self, session: Session) -> Changes:
        session.decisions = session.decisions + (self.decision,)
        if session.workspace is not None:
            session.workspace.add_decision(self.decision.check_key, self.decision.to_dict())
        return Changes(findings=True)

    def undo(self, session: Session) -> Changes:
        session.decisions = tuple(d for d in session.decisions if d is not self.decision)
        return Changes(findings=True)


@dataclass
class KeepCompareVerdict(Command):
    """Keep a finished comparison's verdict in the workspace, for the review's report.

    A comparison is a fact, not an edit: there is nothing to undo, and a read-only workspace
    (open in another Sleuth) or none at all simply does not keep it."""

    dataset: str
    report: dict
    undoable = False
    label: str = "Keep the comparison's verdict"

    def do(self, session: Session) -> Changes:
        workspace = session.workspace
        if workspace is not None and workspace.read_only_reason is None:
            workspace.add_compare_verdict(self.dataset, verdict_record(self.report))
        return Changes()


@dataclass
class LoadDecisions(Command):
    decisions: tuple
    undoable = False
    label: str = "Read decisions"

    def do(self, session: Session) -> Changes:
        session.decisions = tuple(self.decisions)
        return Changes(findings=True)


@dataclass
class LoadProfiles(Command):
    """Take a workspace's reference profiles (on opening it); not an edit to undo."""

    profiles: dict
    undoable = False
    label: str = "Read reference profiles"

    def do(self, session: Session) -> Changes:
        session.profiles = dict(self.profiles)
        return Changes()


@dataclass
class TrustModel(Command):
    """Remember that the person trusts the model file at ``path`` (it may run code when loaded)
    for the rest of this session; never saved, so a workspace someone sends cannot pre-trust it."""

    path: str
    undoable = False
    label: str = "Trust model file"

    def do(self, session: Session) -> Changes:
        session.trusted_models = session.trusted_models | {self.path}
        return Changes()
