"""What an analysis looks at: one dataset on one store, read through its roles, within a condition.

Nearly every analysis needs the same four things: the store that runs the SQL, the dataset's
view, the roles that say which column is the label, the prediction or the version, and the
rows in play. Passed loose they made signatures of ten or more parameters that every caller
had to repeat in the right order. A :class:`Scope` is that one thing to pass. The condition is
part of it because a slice is part of what is analysed, not an option of one function: the
metrics, breakdown, discovery and triage of a slice all read the same rows.

A function that takes no slice (the log checks, the list of model versions, parsing a filter's
text, the review queue's follow-up measures) takes a scope too and reads only its store, dataset
and roles: one shape for every entry point, so a caller never has to remember which is which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from analysis.dataset import Dataset
from analysis.query import Sql

if TYPE_CHECKING:  # for annotations only; the layers contract ignores the edge to the data layer
    from analysis.data.roles import RoleMap
    from analysis.store import Store


@dataclass(frozen=True)
class Scope:
    """A dataset on a store, its roles, and the rows in play (``condition``; None is all rows)."""

    store: Store
    dataset: Dataset
    roles: RoleMap
    condition: Sql | None = None

    def narrowed(self, extra: Sql | None) -> Scope:
        """The rows of this scope that also meet ``extra`` (both conditions hold)."""
        if extra is None:
            return self
        return replace(self, condition=extra if self.condition is None else self.condition & extra)

    def with_condition(self, condition: Sql | None) -> Scope:
        """The same dataset and roles over other rows, e.g. a reference window or the whole log."""
        return replace(self, condition=condition)

    def with_roles(self, roles: RoleMap) -> Scope:
        """The same rows read through other roles, e.g. with a rule's output as the prediction."""
        return replace(self, roles=roles)
