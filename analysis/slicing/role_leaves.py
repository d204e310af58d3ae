"""The slice language's role leaves as SQL over one dataset: ``wrong``, ``correct``,
``unlabelled`` and ``flip('base' -> 'candidate', negative|positive)``.

A slice stays a value that names no role columns (see :class:`analysis.slices.RoleLeaf`); a
:class:`RoleContext` resolves its leaves where a query is built for one dataset with its roles:
the Session's current slice, a typed ``--where``, a traced slice. Each leaf means what the rest
of Sleuth means by it, because it is built from the same pieces:

* right and wrong are :mod:`analysis.metrics.outcomes`' ``is_correct`` (binary predictions from
  the score at the roles' threshold when no prediction column is mapped), so ``wrong`` selects
  exactly the rows the error rate counts;
* a flip pairs the two versions' rows on the request id as a paired comparison does
  (:mod:`analysis.compare.comparison`): a request scored twice by one version pairs through its
  first row, the pair's label is the candidate row's, else the base row's, and a pair is judged
  only when it has a label and both versions answered. It is a semi-join (``row IN (SELECT ...)``
  over one grouping of the two versions' rows by id), never a list of row ids, so it costs the
  same at 3M rows as at 3k and stays right when the log grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from analysis.data.roles import RoleMap, TaskType
from analysis.dataset import Dataset
from analysis.errors import SchemaError
from analysis.metrics.outcomes import Outcomes, outcomes
from analysis.metrics.per_version import model_versions
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slices import Flip, Outcome, Predicate, RoleLeaf, role_leaves, to_sql, to_text
from analysis.slicing.parser import parse_slice
from analysis.slicing.version_names import VersionNames
from analysis.workspace.version_cards import VersionCard

ROLES_HINT = "(Data > Column roles in the window, or --label / --id / --version-column on the command line)"


@dataclass(frozen=True)
class RoleContext:
    """Resolves role leaves over ``dataset``'s view with ``roles``. ``versions``, when known,
    are the log's model versions, so a flip naming another one is refused when it is typed
    rather than showing no rows."""

    dataset: Dataset
    roles: RoleMap
    versions: tuple[str, ...] | None = None

    def leaf_sql(self, leaf: RoleLeaf) -> Sql:
        if isinstance(leaf, Outcome):
            return self._outcome_sql(leaf)
        if isinstance(leaf, Flip):
            return self._flip_sql(leaf)
        raise TypeError(f"not a role leaf: {leaf!r}")

    def check(self, leaf: RoleLeaf) -> None:
        """Raise :class:`SchemaError` with a sentence when ``leaf`` means nothing here."""
        self.leaf_sql(leaf)
        if isinstance(leaf, Flip) and self.versions is not None:
            listed = VersionNames(self.roles.model_version, versions=self.versions)
            for version in (leaf.base, leaf.candidate):
                listed.raw(version)

    def _outcomes(self, leaf: RoleLeaf) -> Outcomes:
        if self.roles.label is None:
            raise SchemaError(f"'{to_text(leaf)}' needs the label column, and none is mapped {ROLES_HINT}")
        return outcomes(self.roles, self.dataset.columns)

    def _outcome_sql(self, leaf: Outcome) -> Sql:
        out = self._outcomes(leaf)
        if leaf.outcome == "unlabelled":
            return Sql(f"NOT {out.has_label}")
        if out.is_correct is None:
            if self.roles.task is TaskType.REGRESSION:
                raise SchemaError(f"'{leaf.outcome}' is for a classifier; a regression model's rows are not "
                                  "right or wrong (slice on the error instead)")
            raise SchemaError(f"'{leaf.outcome}' needs a prediction or score column, and none is mapped {ROLES_HINT}")
        return Sql(f"({out.is_correct}) = {0 if leaf.outcome == 'wrong' else 1}")

    def _flip_sql(self, leaf: Flip) -> Sql:
        for role, what in (("id", "a request id to pair the versions' rows by"),
                           ("model_version", "a model version column")):
            if getattr(self.roles, role) is None:
                raise SchemaError(f"'{to_text(leaf)}' needs {what}, and none is mapped {ROLES_HINT}")
        out = self._outcomes(leaf)
        regression = self.roles.task is TaskType.REGRESSION
        answer = out.loss if regression else out.y_pred
        if answer is None:
            raise SchemaError(f"'{to_text(leaf)}' needs a prediction or score column, and none is mapped {ROLES_HINT}")
        row, version = ident(ROW_ID), f"CAST({ident(self.roles.model_version)} AS VARCHAR)"
        first = "arg_min_null(({expr}), {row}) FILTER (WHERE {version} = ?) AS {name}"
        columns = [f"min({row}) FILTER (WHERE {version} = ?) AS _sleuth_c_row"] + [
            first.format(expr=expr, row=row, version=version, name=f"_sleuth_{side}_{what}")
            for side in ("c", "b") for expr, what in ((out.y_true, "true"), (answer, "answer"))]
        params = (leaf.candidate,) * 3 + (leaf.base,) * 2 + (leaf.base, leaf.candidate)
        label = "coalesce(_sleuth_c_true, _sleuth_b_true)"
        judged = f"{label} IS NOT NULL AND _sleuth_b_answer IS NOT NULL AND _sleuth_c_answer IS NOT NULL"
        if regression:
            worse, better = "_sleuth_c_answer > _sleuth_b_answer", "_sleuth_c_answer < _sleuth_b_answer"
        else:
            worse = f"_sleuth_b_answer = {label} AND _sleuth_c_answer <> {label}"
            better = f"_sleuth_b_answer <> {label} AND _sleuth_c_answer = {label}"
        grouped = (f"SELECT {', '.join(columns)} FROM {ident(self.dataset.view)} "
                   f"WHERE {version} IN (?, ?) AND {ident(self.roles.id)} IS NOT NULL "
                   f"GROUP BY CAST({ident(self.roles.id)} AS VARCHAR)")
        flipped = worse if leaf.direction == "negative" else better
        return Sql(f"{row} IN (SELECT _sleuth_c_row FROM ({grouped}) WHERE {judged} AND {flipped})", params)


def slice_sql(predicate: Predicate, dataset: Dataset, roles: RoleMap) -> Sql:
    """``predicate`` as a WHERE fragment over ``dataset``'s view, its role leaves resolved."""
    return to_sql(predicate, RoleContext(dataset, roles))


def parse_where(scope: Scope, text: str, cancel: CancelToken = NEVER_CANCELLED,
                cards: Mapping[str, VersionCard] | None = None) -> Predicate:
    """A typed filter (``--where``, ``trace --slice``) read against ``dataset``: its columns'
    types, its roles for the role leaves and, when it names versions (a flip, or the version
    column compared with a value), its model versions (looked up only then) and the ``cards``
    whose names may stand for them, so every mistake is one sentence before any analysis runs."""
    dataset, roles = scope.dataset, scope.roles
    types = {c.name: c.dtype for c in dataset.columns}
    check = RoleContext(dataset, roles).check
    predicate = parse_slice(text, types, check, VersionNames(roles.model_version, cards or {}))
    names_versions = roles.model_version in predicate.columns or any(
        isinstance(leaf, Flip) for leaf in role_leaves(predicate))
    if names_versions:
        listed = VersionNames(roles.model_version, cards or {}, tuple(model_versions(scope, cancel)))
        predicate = parse_slice(text, types, check, listed)
    return predicate


def where_sql(scope: Scope, text: str, cancel: CancelToken = NEVER_CANCELLED,
              cards: Mapping[str, VersionCard] | None = None) -> Sql:
    """:func:`parse_where` as a WHERE fragment over ``dataset``'s view."""
    return slice_sql(parse_where(scope, text, cancel, cards), scope.dataset, scope.roles)
