"""Opening logs and workspaces: the jobs behind File > Open, drag-and-drop and the CLI.

Loading runs on the heavy lane; the result becomes a command on the GUI thread. Reopening a
workspace never reads heavy files synchronously at start-up: each registration is loaded as
its own job, so the window is up at once and a missing file only costs that one dataset.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from psygnal import Signal

from analysis.dataset import Dataset
from analysis.triage.decisions import Decision
from analysis.errors import InputError, SchemaError
from analysis.data.labels import join_labels
from analysis.data.open_log import NO_OPTIONS, LoadedLog, LogOptions, load_log, recheck
from analysis.data.loading import close_dataset
from analysis.data.log_sanity import Severity
from analysis.data.roles import Role, RoleMap
from analysis.metrics.per_version import model_versions
from analysis.rules.rule_set import RuleSet
from analysis.rules.rule_store import rule_sets
from analysis.scope import Scope
from analysis.slicing.parser import parse_slice
from analysis.slicing.role_leaves import RoleContext
from analysis.slices import Everything, Predicate, Slice
from analysis.workspace.workspace_file import SparkSource, Workspace, with_workspace_suffix

from app.commands import (
    AddDataset,
    AttachWorkspace,
    LoadDecisions,
    LoadProfiles,
    LoadSavedSlices,
    LoadVersionCards,
    RemoveDataset,
    SetActive,
    SetIssues,
    SetRoles,
    SetSlice,
    SetVersionOrder,
)
from app.state import OpenDataset, PulledLog, Session
from app.tasks import HEAVY, TaskRunner
from app.workspace_models import label_from_cards, load_log_reading_cards


class AppController:
    """Turns "open this" into jobs and commands; reports problems through ``message``."""

    message = Signal(str, str)  # level ("error", "warning", "info"), text
    pull_offered = Signal(object)  # DatasetEntry: a workspace's log pulled from Spark, to pull again

    def __init__(self, session: Session, tasks: TaskRunner) -> None:
        self.session = session
        self.tasks = tasks
        self._closed: list[Dataset] = []  # closed but undoable: their views are dropped with the workspace
        self._pulls: tempfile.TemporaryDirectory | None = None  # rows pulled from Spark, gone at exit
        self._clusters: dict[str, object] = {}  # each pull's ClusterTable by name, its session open
        session.changed.connect(self._cards_changed)

    def open_paths(self, specs: Sequence[str], name: str | None = None, kind: str = "log",
                   roles: RoleMap | None = None, persist: bool = True, activate: bool = True,
                   options: LogOptions = NO_OPTIONS, rule_sets: Sequence[RuleSet] = (),
                   pulled: PulledLog | None = None, fixed: Mapping[Role, str] | None = None) -> None:
        """Load files/folders/globs as one dataset in the background; a log gets the latest of
        ``rule_sets`` on its versions as derived versions (``BASE+rules``). ``options``: labels
        joined (kept in the dataset's registration), a lakehouse version (a dataset read at one
        is not saved in the workspace, which keeps tables as they are now). ``pulled``: the
        files are rows pulled from Spark (registered by their source, named in every header).
        ``fixed``: columns whose role the user named (``sleuth open --label COL``); detection
        fills the other roles around them."""
        specs = [str(s) for s in specs]
        if not specs:
            return
        wanted = name or _default_name(specs)
        label = f"Opening {wanted}"
        self.tasks.submit(
            load_log_reading_cards, self.session.store, specs, rule_sets,
            self.session.version_cards if kind == "log" and roles is None else {}, self.session.trusted_models,
            name=wanted, roles=roles, fixed=fixed, check=False, options=options,
            lane=HEAVY, label=label,
            on_result=lambda loaded: self._add(loaded, kind, persist and options.as_of is None, activate,
                                               options.labels, options.on, pulled),
            on_error=lambda exc: self.message.emit("error", f"Could not open {', '.join(specs)}: {exc}"),
        )

    def show_rows(self, name: str, predicate: Predicate, label: str = "") -> None:
        """Make the open dataset ``name`` active with ``predicate`` as the current slice."""
        with self.session.batch():
            self.session.run(SetActive(name))
            self.session.run(SetSlice(Slice(predicate, label)))

    def open_rows(self, specs: Sequence[str], predicate: Predicate, label: str = "",
                  kind: str = "training") -> None:
        """Show ``predicate``'s rows of the dataset read from ``specs`` (a training snapshot a
        trace points into), opening it first when it is not open yet."""
        wanted = [str(Path(s).resolve()) for s in specs]
        for name, opened in self.session.datasets.items():
            if [str(Path(p).resolve()) for p in opened.dataset.paths] == wanted:
                self.show_rows(name, predicate, label)
                return
        self.tasks.submit(
            load_log, self.session.store, list(specs), name=_default_name(specs), check=False,
            lane=HEAVY, label=f"Opening {_default_name(specs)}",
            on_result=lambda loaded: self.show_rows(self._add(loaded, kind, True, True), predicate, label),
            on_error=lambda exc: self.message.emit("error", f"Could not open {', '.join(specs)}: {exc}"),
        )

    def _add(self, loaded: LoadedLog, kind: str, persist: bool, activate: bool,
             labels: tuple[str, ...] = (), labels_on: str | None = None, pulled: PulledLog | None = None) -> str:
        dataset = loaded.dataset
        unique = self.session.unique_name(dataset.name)
        if unique != dataset.name:
            dataset = _renamed(dataset, unique)
        opened = OpenDataset(dataset, loaded.roles, kind, loaded.issues, tuple(labels), labels_on, pulled)
        self.session.run(AddDataset(opened, persist=persist, activate=activate))
        if not dataset.report.clean:
            self.message.emit("warning", f"{dataset.name}: {dataset.report.summary()}")
        if loaded.label_note:
            self.message.emit("info", f"{dataset.name}: {loaded.label_note}")
        self._list_versions(dataset.name)
        self._check(dataset.name)
        return dataset.name

    def _list_versions(self, name: str) -> None:
        """List the log's versions in the card order, which keys every panel's order and colours."""
        opened = self.session.datasets[name]
        self.tasks.submit(model_versions, Scope(self.session.store, opened.dataset, opened.roles),
                          key=f"versions:{name}", label=f"Listing the versions of {name}",
                          on_result=lambda versions: self.session.run(SetVersionOrder(name, tuple(versions))))

    def _check(self, name: str) -> None:
        """Run the log checks in the background once the panels' numbers are in (they would
        share the cores with the metrics and AUC of a log just opened); findings land in the sidebar."""
        opened = self.session.datasets[name]
        self.tasks.submit(recheck, Scope(self.session.store, opened.dataset, opened.roles), key=f"recheck:{name}",
                          label=f"Checking {name}", lane=HEAVY, after_interactive=True, background=True,
                          on_result=lambda issues: self._checked(name, issues))

    def _checked(self, name: str, issues: tuple) -> None:
        self.session.run(SetIssues(name, issues))
        errors = [i.message for i in issues if i.severity is Severity.ERROR]
        if errors:
            self.message.emit("error", f"{name}: {errors[0]}" + (f" (+{len(errors) - 1} more in the sidebar)" if len(errors) > 1 else ""))

    def close_dataset(self, name: str) -> None:
        """Close ``name`` as an undoable command: undo brings back the dataset, its registration
        and its hand-set roles. Its view stays in the store until the workspace is replaced, so
        undo needs no reload and a job still reading it finishes instead of failing; the jobs
        the panels started for it are cancelled quietly (they ask again for what is active)."""
        opened = self.session.datasets.get(name)
        if opened is None:
            return
        self._closed.append(opened.dataset)
        for task in self.tasks.running():
            if task.lane != HEAVY or task.key == f"recheck:{name}":
                task.cancel()
        self.session.run(RemoveDataset(name))

    def _close_everything(self) -> None:
        """Drop every open dataset and its view (a new workspace replaces them; no undo).

        The datasets leave the session first and the jobs are cancelled after: removing one
        makes the next one active, and the panels start jobs on it; cancelled, those end
        quietly when its view is dropped under them instead of failing "unexpectedly"."""
        opened_datasets = [opened.dataset for opened in self.session.datasets.values()]
        for name in list(self.session.datasets):
            self.session.run(RemoveDataset(name))
        self.tasks.cancel_all()
        for dataset in opened_datasets:
            close_dataset(self.session.store, dataset)
        for dataset in self._closed:
            close_dataset(self.session.store, dataset)
        self._closed.clear()
        self.session.clear_history()

    def pull_from_spark(self, url: str, source: SparkSource, name: str | None = None,
                        roles: RoleMap | None = None, options: LogOptions = NO_OPTIONS) -> None:
        """Pull ``source``'s rows from the Spark Connect server at ``url`` (whose token, if any,
        serves this pull only) and open them as a log the way File > Open does, with ``options``
        (labels files joined to it before): what is open stays open and active until the pulled
        log has loaded. A newer pull of the same name replaces this one."""
        from app.spark_pull import pull_table  # Spark's client and SQLGlot load when first used

        if self._pulls is None:
            self._pulls = tempfile.TemporaryDirectory(prefix="sleuth-pulled-")
        self.tasks.submit(
            pull_table, url, source.table, self._pulls.name, source.rows, source.where,
            key=f"spark-pull:{name or source.table}", lane=HEAVY, label=f"Pulling {source.table} from {source.url}",
            on_result=lambda sample: self.open_paths(
                [str(sample.path)], name=name or source.table, roles=roles, options=options,
                pulled=PulledLog(source, sample.sentence(), self._keep_cluster(name or source.table, sample))),
            on_error=lambda exc: self.message.emit("error", f"Could not pull {source.table}: {exc}"),
        )

    def _keep_cluster(self, name: str, sample) -> object | None:
        """The pull's table on the cluster, its session kept open for the table's pages; the
        session of an earlier pull of the same name is stopped (its table is replaced)."""
        cluster = getattr(sample, "cluster", None)
        previous = self._clusters.pop(name, None)
        if previous is not None:
            previous.close()
        if cluster is not None:
            self._clusters[name] = cluster
        return cluster

    def close_clusters(self) -> None:
        """Stop every Spark session kept for the table (at exit: the cluster drops their views)."""
        clusters, self._clusters = list(self._clusters.values()), {}
        for cluster in clusters:
            cluster.close()

    def join_labels(self, name: str, labels_path: str, on: str | None = None) -> None:
        """Join a labels file to the open log ``name`` in the background; the labelled log opens
        next to it as "<name> + labels", registered in the workspace with its labels file, so
        it reopens joined."""
        opened = self.session.datasets[name]
        self.tasks.submit(
            join_labels, self.session.store, opened.dataset, opened.roles, [labels_path], on,
            lane=HEAVY, label=f"Joining labels to {name}",
            on_result=lambda result: self._add(
                LoadedLog(_renamed(result[0], f"{name} + labels"), result[1], (), result[2]), opened.kind, True, True,
                (labels_path,), on, opened.pulled),
            on_error=lambda exc: self.message.emit("error", f"Could not join {labels_path}: {exc}"),
        )

    def _cards_changed(self, changes) -> None:
        """A card's model file may tell the label of an open log that has none (and whose label
        nobody set by hand), or show that its label is one of the model's inputs: read it in the
        background, as opening the log would have.

        Background work on the heavy lane, not a user's job: the app starts it, so it must not
        preempt the log's checks (a preempted check runs again from its start, 30 s of a 10M-row
        log, whether the label then changes or not); queued behind them, the checks run again only
        when the label did change (the new roles re-run them)."""
        if not changes.cards:
            return
        for name, opened in self.session.datasets.items():
            if opened.kind != "log" or Role.LABEL.value in opened.roles.chosen:
                continue
            self.tasks.submit(
                label_from_cards, Scope(self.session.store, opened.dataset, opened.roles),
                dict(self.session.version_cards), self.session.trusted_models, key=f"card-label:{name}", lane=HEAVY,
                background=True, label=f"Reading the label of {name} from the version cards' model",
                on_result=lambda found, name=name: self._labelled_by_cards(name, found),
                on_error=lambda exc, name=name: self.message.emit("warning", f"{name}: {exc}"),
            )

    def _labelled_by_cards(self, name: str, found: tuple[RoleMap, str] | None) -> None:
        opened = self.session.datasets.get(name)
        if found is None or opened is None or Role.LABEL.value in opened.roles.chosen:
            return
        roles, note = found
        self.set_roles(name, roles)
        self.message.emit("info", f"{name}: {note}")

    def set_roles(self, name: str, roles: RoleMap) -> None:
        """Apply new roles at once, then re-run the log checks in the background."""
        self.session.run(SetRoles(name, roles))
        self._list_versions(name)
        self._check(name)

    def open_workspace(self, path: str | Path, on_opened: Callable[[], None] | None = None) -> bool:
        """Close what is open, open ``path`` and load its datasets; False if it cannot be opened."""
        try:
            workspace = Workspace.open(path)
        except InputError as exc:
            self.message.emit("error", str(exc))
            return False
        for note in workspace.notes:
            self.message.emit("warning", note)
        self.session.run(AttachWorkspace(None))  # what was open stays in the workspace it came from
        self._close_everything()
        self.session.run(AttachWorkspace(workspace, carry=False))
        saved, problems = workspace.slices()
        for problem in problems:
            self.message.emit("warning", problem)
        self.session.run(LoadSavedSlices(saved, _current_slice(workspace)))
        self.session.run(LoadVersionCards(workspace.version_cards()))
        self.session.run(LoadDecisions(tuple(_read_decisions(workspace))))
        self.session.run(LoadProfiles(workspace.profiles()))
        entries = workspace.datasets()
        try:
            rules = rule_sets(workspace)
        except SchemaError as exc:
            rules = []
            self.message.emit("warning", f"{exc}; the workspace's rules are not shown")
        logs = [e.name for e in entries if e.kind == "log"]
        preferred = workspace.meta("active_dataset") or (logs[0] if logs else None)
        for entry in entries:
            if entry.spark is not None:
                self.pull_offered.emit(entry)  # its files were a temporary pull: the person decides
                continue
            if not entry.paths:
                self.message.emit("error", f"{entry.name}: the workspace does not say where its rows are "
                                           f"(the registration is kept)")
                continue
            missing = [p for p in entry.paths + entry.labels if not _exists(p)]
            if missing:
                self.message.emit("error", f"{entry.name}: file not found: {missing[0]} (the registration is kept)")
                continue
            self.open_paths(list(entry.paths), name=entry.name, kind=entry.kind, roles=entry.roles, persist=False,
                            activate=entry.name == preferred or preferred is None,
                            options=LogOptions(labels=entry.labels, on=entry.labels_on),
                            rule_sets=rules if entry.kind == "log" else ())
        if on_opened is not None:
            on_opened()
        return True

    def apply_filter(self, text: str) -> None:
        """Parse a typed filter against the active dataset's columns and make it the current slice.

        Raises :class:`SliceParseError` (with the character position) for the slice bar to show,
        also for a role leaf (``wrong``, ``flip(...)``) that the dataset's roles cannot resolve
        and for a version the log does not hold, in a flip or compared with the version column
        (checked against the versions listed when the log opened, so typing never waits on a
        query). A version may be typed by its card's name; the slice holds its raw string.
        """
        opened = self.session.active
        if opened is None:
            return
        types = {c.name: c.dtype for c in opened.dataset.columns}
        check = RoleContext(opened.dataset, opened.roles, self.session.version_order() or None).check
        predicate = parse_slice(text, types, check, self.session.version_names()) if text.strip() else Everything
        self.session.run(SetSlice(Slice(predicate)))

    def save_workspace_as(self, path: str | Path) -> bool:
        """Write everything of the workspace (or, without one, everything open) to ``path``,
        which then receives every later edit. The file is written complete beside ``path`` and
        replaces it at once; saving onto the open workspace changes nothing. The caller has
        asked before replacing another file (``path`` gets ``.sleuth`` if it lacks it)."""
        target = with_workspace_suffix(path)
        current = self.session.workspace
        try:
            workspace = current.save_as(target) if current is not None else Workspace.new(target)
        except InputError as exc:
            self.message.emit("error", str(exc))
            return False
        if workspace is not current:
            self.session.run(AttachWorkspace(workspace))
        return True


def _read_decisions(workspace: Workspace) -> list[Decision]:
    decisions = []
    for document in workspace.decisions():
        try:
            decisions.append(Decision.from_dict(document))
        except (KeyError, ValueError, TypeError):
            continue  # a record this version cannot read is skipped, never fatal
    return decisions


def _current_slice(workspace: Workspace) -> Slice | None:
    document = workspace.meta("current_slice")
    try:
        return Slice.from_dict(document) if document else None
    except SchemaError:
        return None


def _default_name(specs: Sequence[str]) -> str:
    first = Path(specs[0])
    if len(specs) == 1 and "*" not in specs[0]:
        return first.stem if first.suffix else first.name
    return first.parent.name or first.stem


def _exists(path: str) -> bool:
    return any(ch in path for ch in "*?[") or Path(path).exists()


def _renamed(dataset: Dataset, name: str) -> Dataset:
    return replace(dataset, name=name)
