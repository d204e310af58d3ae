"""The Session: the one source of application state. Qt-free, observed through one signal.

Open datasets with their roles, which one is active, the selected row and the open workspace
live here. Panels read it and change it only through :meth:`Session.run` with a command (see
``commands.py``); every change is published once as a :class:`Changes` record so a panel
refreshes only when its inputs changed (Anki's ``OpChanges``, glue's ``Hub``). Mutate only on
the GUI thread; workers get immutable values (``Dataset``, ``RoleMap``) and return new ones.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Iterable, Iterator

from psygnal import Signal

from analysis.dataset import Dataset
from analysis.query import ROW_ID, Sql
from analysis.data.roles import Role, RoleMap, chosen_roles
from analysis.errors import SchemaError
from analysis.queue.discoveries import DiscoveryCache
from analysis.trace.tracer import InfluenceCache
from analysis.slices import Everything, Slice, role_leaves
from analysis.slicing.role_leaves import RoleContext, slice_sql
from analysis.slicing.version_names import VersionNames
from analysis.store import Store
from analysis.workspace.version_cards import VersionCard, card_position, display_name, in_card_order
from analysis.workspace.workspace_file import DatasetEntry, SparkSource, Workspace

if TYPE_CHECKING:
    from app.commands import Command

UNDO_LIMIT = 100
HISTORY_LIMIT = 50
ALL_ROWS = Slice(Everything)
RESULTS_KEPT = 32
"""Panel results a Session keeps (the least recently used goes first): a few slices of each
panel, a few hundred kilobytes at most (a metric series is a row per version and time bucket)."""


@dataclass(frozen=True)
class Changes:
    """What a command changed; panels test the flags they depend on."""

    datasets: bool = False
    active: bool = False
    roles: bool = False
    selection: bool = False
    workspace: bool = False
    slice: bool = False
    saved_slices: bool = False
    issues: bool = False
    cards: bool = False
    findings: bool = False
    queue: bool = False

    def __or__(self, other: "Changes") -> "Changes":
        return Changes(**{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)})

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def touches(self, names: Iterable[str]) -> bool:
        """True when any of the fields ``names`` changed (what a panel declares it listens to)."""
        return any(getattr(self, name) for name in names)

    @classmethod
    def everything(cls) -> "Changes":
        """Every field set: a full refresh, as when a panel is first shown."""
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))


@dataclass(frozen=True)
class PulledLog:
    """Rows pulled from Spark that the window works on in place of the table: how to pull them
    again, and what they are in words ("computed on a 1,000,000-row sample of 3,200,000,000
    rows on sc://host"), which every panel header repeats. ``cluster``: the table on Spark with
    its session kept open (an :class:`app.spark_table.ClusterTable`), which the table pages
    over; None when the session is gone (a workspace reopened, a test's stand-in pull)."""

    source: SparkSource
    sentence: str
    cluster: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OpenDataset:
    """A loaded dataset, the roles in force for it and what checking it found."""

    dataset: Dataset
    roles: RoleMap
    kind: str = "log"
    issues: tuple = ()
    labels: tuple[str, ...] = ()  # labels files joined to the log, kept in its registration
    labels_on: str | None = None
    pulled: PulledLog | None = None  # its files are a temporary pull from Spark

    @property
    def name(self) -> str:
        return self.dataset.name

    def entry(self) -> DatasetEntry:
        """Its registration; a pulled log is registered by its Spark source, not its temporary file."""
        paths = () if self.pulled is not None else self.dataset.paths
        return DatasetEntry(self.name, paths, self.dataset.format, self.roles, self.kind, self.labels, self.labels_on,
                            self.pulled.source if self.pulled is not None else None)


class KeptResults:
    """What panels computed, by the function and the arguments that decide it (a :class:`Scope`
    first), so that a Change back to inputs already seen shows them again instead of reading the
    log again: a filter cleared (all rows again), back and forward in the slice history, a role
    edit undone, another log opened beside the active one (which changes the open datasets, not
    the rows shown). A key names the dataset's view, made once per load and never reused by its
    store, so a file opened again is read again. GUI thread only, as the Session is."""

    def __init__(self, kept: int = RESULTS_KEPT) -> None:
        self.kept = kept
        self._results: OrderedDict[tuple, object] = OrderedDict()

    @staticmethod
    def key(fn, args: tuple) -> tuple | None:
        """What a result of ``fn(*args)`` is kept under; None when an argument cannot be keyed
        (a condition's list of rows), so that result is computed each time."""
        key = (fn, args)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def get(self, key: tuple | None, default=None):
        if key is None or key not in self._results:
            return default
        self._results.move_to_end(key)
        return self._results[key]

    def put(self, key: tuple | None, result) -> None:
        if key is None:
            return
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self.kept:
            self._results.popitem(last=False)

    def clear(self) -> None:
        self._results.clear()


@dataclass
class _History:
    done: list = field(default_factory=list)
    undone: list = field(default_factory=list)


class Session:
    """Application state. ``changed`` fires once per command (or once per ``batch()``)."""

    changed = Signal(object)  # Changes

    def __init__(self, store: Store | None = None, discoveries: DiscoveryCache | None = None,
                 influence: InfluenceCache | None = None) -> None:
        self.store = store or Store()
        # what intakes searched and prepared, for the next intake of the same rows or model: the
        # failing slices (most of an intake's CPU) and the models' influence preparations (seconds
        # each, for blame); the Session owns them for its life. The trace panel and the meeting
        # trace through the same influence cache, so the window prepares each model once
        self.discoveries = DiscoveryCache() if discoveries is None else discoveries
        self.influence = InfluenceCache() if influence is None else influence
        self.results = KeptResults()  # what panels computed, by their inputs (see KeptResults)
        self.workspace: Workspace | None = None
        self.datasets: dict[str, OpenDataset] = {}
        self.active_name: str | None = None
        self.selected_row: int | None = None
        self.current_slice: Slice = ALL_ROWS
        self.saved_slices: dict[str, Slice] = {}
        self.slice_back: list[Slice] = []
        self.slice_forward: list[Slice] = []
        self.version_cards: dict[str, VersionCard] = {}
        self.version_orders: dict[str, tuple[str, ...]] = {}  # per dataset: its versions in the card order
        self.findings: tuple = ()  # the last check's findings, for the active dataset
        self.decisions: tuple = ()  # every decision taken on findings (analysis.triage.decisions.Decision)
        self.profiles: dict[str, str] = {}  # dataset name -> reference profile JSON of its last check
        # dataset name -> its last check run here: (reference in words, findings, reference chosen),
        # so *Save workspace as* writes the findings a log shows when it reopens
        self.checks: dict[str, tuple[str, tuple, dict | None]] = {}
        self.trusted_models: frozenset[str] = frozenset()  # model files the person chose to unpickle
        self._history = _History()
        self._pending: Changes | None = None

    @property
    def active(self) -> OpenDataset | None:
        return self.datasets.get(self.active_name) if self.active_name else None

    def condition(self) -> Sql | None:
        """The current slice as a WHERE fragment for the active dataset; None for all rows.

        A slice naming a column the active dataset lacks, or a role leaf its roles cannot
        resolve (``wrong`` without a label column), is not applied (the slice bar says so),
        rather than failing every panel's query. Role leaves are resolved here, the one place
        the window turns the current slice into SQL.
        """
        if self.current_slice.predicate is Everything or not self.slice_applies():
            return None
        return slice_sql(self.current_slice.predicate, self.active.dataset, self.active.roles)

    def slice_applies(self) -> bool:
        return self.active is not None and not self.missing_slice_columns() and not self.unresolved_slice_leaf()

    def unresolved_slice_leaf(self) -> str:
        """Why a role leaf of the current slice means nothing for the active dataset (its
        roles lack a label, an id...), as a sentence; "" when every leaf resolves."""
        opened = self.active
        if opened is None:
            return ""
        context = RoleContext(opened.dataset, opened.roles)
        for leaf in role_leaves(self.current_slice.predicate):
            try:
                context.check(leaf)
            except SchemaError as exc:
                return str(exc)
        return ""

    def missing_slice_columns(self) -> list[str]:
        """Columns the current slice reads that the active dataset lacks (row ids always exist)."""
        opened = self.active
        present = set(opened.dataset.column_names) | {ROW_ID} if opened else {ROW_ID}
        return sorted(self.current_slice.columns - present)

    def chosen_snapshot_roles(self, snapshot: str) -> dict[Role, str]:
        """The label and id a person set in the roles dialog for the open dataset read from the
        file ``snapshot`` (empty when it is not open or nobody set them): what trace and suspects
        use for that training snapshot instead of what the model file or the names say."""
        wanted = [str(Path(snapshot).resolve())]
        for opened in self.datasets.values():
            if [str(Path(p).resolve()) for p in opened.dataset.paths] == wanted:
                return chosen_roles(opened.roles, (Role.LABEL, Role.ID))
        return {}

    def version_name(self, version: str | None) -> str:
        """What to call a model version everywhere: its card's name, else the raw string."""
        return display_name(self.version_cards, version)

    def version_names(self) -> VersionNames:
        """How a version typed for the active log is read: its raw string or its card's name,
        checked against the log's versions once they are listed."""
        column = self.active.roles.model_version if self.active is not None else None
        return VersionNames(column, self.version_cards, self.version_order() or None)

    def version_order(self) -> tuple[str, ...]:
        """The active log's versions in the card order (empty until they have been listed)."""
        return self.version_orders.get(self.active_name, ()) if self.active_name else ()

    def in_card_order(self, versions: Iterable[str | None]) -> list[str | None]:
        """``versions`` in the one order every panel shows them in (see ``in_card_order``)."""
        return in_card_order(versions, self.version_order())

    def version_position(self, version: str | None) -> int:
        """The place of ``version`` in the active log's card order: what its colour is keyed by."""
        return card_position(version, self.version_order())

    def unique_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted (2)``... so two logs called ``predictions`` can both be open.

        A closed log's name stays taken while Undo can bring it back: the history's commands
        name their dataset, so a log opened meanwhile under that name was replaced by the undone
        close (dropped without a word), and a redo of the close then closed it instead."""
        held = {name for command in self._history.done + self._history.undone
                for name in command.dataset_names_held()}
        name, n = wanted, 2
        while name in self.datasets or name in held:
            name, n = f"{wanted} ({n})", n + 1
        return name

    def run(self, command: "Command") -> Changes:
        """Apply a command, remember it for undo, and publish what changed."""
        changes = command.do(self)
        if command.undoable:
            self._history.done.append(command)
            del self._history.done[:-UNDO_LIMIT]
            self._history.undone.clear()
        self.publish(changes)
        return changes

    def undo(self) -> str | None:
        """Undo the last undoable command; returns its label, or None when there is none."""
        if not self._history.done:
            return None
        command = self._history.done.pop()
        self.publish(command.undo(self))
        self._history.undone.append(command)
        return command.label

    def redo(self) -> str | None:
        if not self._history.undone:
            return None
        command = self._history.undone.pop()
        self.publish(command.do(self))
        self._history.done.append(command)
        return command.label

    @property
    def can_undo(self) -> bool:
        return bool(self._history.done)

    @property
    def can_redo(self) -> bool:
        return bool(self._history.undone)

    def publish(self, changes: Changes) -> None:
        if not changes:
            return
        if self._pending is not None:
            self._pending = self._pending | changes
        else:
            self.changed.emit(changes)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Coalesce the notifications of several commands into one (glue's delay_callbacks)."""
        outer = self._pending is None
        if outer:
            self._pending = Changes()
        try:
            yield
        finally:
            if outer:
                pending, self._pending = self._pending, None
                if pending:
                    self.changed.emit(pending)

    def close(self) -> None:
        """Release the workspace file and the database (the app is quitting)."""
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None
        self.results.clear()
        self.store.close()

    def clear_history(self) -> None:
        self._history = _History()
