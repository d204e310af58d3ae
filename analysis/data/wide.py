"""Wide logs: one row per request, one score or prediction column per model version.

A shadow deployment often logs ``request_id, ts, label, score_v1, score_v2`` (or
``pred_champion, pred_challenger``) instead of one row per version. Sleuth reads such a log
through a *long* view with one row per request and version: the version's columns under one
common name (``score``, ``prediction``), a ``model_version`` column holding the version token
taken from the column names, and the request's id (the log's id column, or the wide row's
number when it has none). Metrics per version, paired comparison by id, slices and the table
then work as on any long log.

Recognised: two or more columns sharing an outcome prefix or suffix (``score_``, ``pred_``,
``prediction_``, ``proba_``, ``_score``, ...) whose differing parts look like version names
(``v2``, ``1.4``, ``champion``, ``challenger``, ``baseline``, ``candidate``, ``old``, ``new``...),
in a log without a model-version column. Class-probability columns (``proba_cat``,
``p_0``) do not look like versions, and a plain integer token is read as a class, never a
version, so a multiclass log stays as it is.

The long view replaces the wide one under the dataset's view name; the wide view stays,
renamed to :func:`analysis.data.loading.wide_view_name`, as the long view's source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from analysis.data.column_names import normalize
from analysis.dataset import Column, Dataset, LoadReport
from analysis.data.loading import wide_view_name
from analysis.query import ROW_ID, ident, literal
from analysis.data.roles import ID_NAMES, MODEL_VERSION_NAMES, RoleMap
from analysis.store import Store

VERSION_COLUMN = "model_version"
SYNTHETIC_ID = "request_id"

OUTCOME_PREFIXES = (
    ("probability_", "score"), ("proba_", "score"), ("prob_", "score"), ("score_", "score"),
    ("prediction_", "prediction"), ("predicted_", "prediction"), ("pred_", "prediction"),
)
OUTCOME_SUFFIXES = (
    ("_probability", "score"), ("_proba", "score"), ("_prob", "score"), ("_score", "score"),
    ("_prediction", "prediction"), ("_pred", "prediction"),
)
"""(affix, the common name the versions' columns share in the long view)."""

VERSION_TOKEN = re.compile(
    r"v\d[\w.]*|\d+\.\d+[\w.]*|champion|challenger|baseline|candidate|control|treatment|old|new|"
    r"prod|production|shadow|canary|current|previous|legacy|next|model_[a-z0-9]+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WideLayout:
    """The versions of a wide log and, per common name, each version's column."""

    versions: tuple[str, ...]
    outcomes: dict[str, tuple[str, ...]]
    id_column: str | None

    @property
    def version_columns(self) -> list[str]:
        return [c for columns in self.outcomes.values() for c in columns]

    def describe(self) -> str:
        """The load report's sentence about the layout."""
        return (f"wide log: {len(self.versions)} versions ({', '.join(self.versions)}) from columns "
                f"{', '.join(self.version_columns)}; shown one row per version")


def detect_wide(columns: tuple[Column, ...]) -> WideLayout | None:
    """The wide layout of a log with these columns, or None when it is not one."""
    names = [c.name for c in columns]
    if any(normalize(n) in MODEL_VERSION_NAMES for n in names):
        return None
    families: dict[str, dict[str, str]] = {}
    for name in names:
        found = _outcome_and_version(name)
        if found is not None:
            families.setdefault(found[0], {}).setdefault(found[1], name)
    families = {common: found for common, found in families.items() if len(found) >= 2 and common not in names}
    if not families:
        return None
    versions = [v for v in next(iter(families.values())) if all(v in found for found in families.values())]
    if len(versions) < 2:
        return None
    outcomes = {common: tuple(found[v] for v in versions) for common, found in families.items()}
    id_column = next((n for n in names if normalize(n) in ID_NAMES), None)
    return WideLayout(tuple(versions), outcomes, id_column)


def _outcome_and_version(name: str) -> tuple[str, str] | None:
    """(common name, version token) when ``name`` is one version's score or prediction."""
    word = normalize(name)
    candidates = [(common, word[len(prefix):]) for prefix, common in OUTCOME_PREFIXES if word.startswith(prefix)]
    candidates += [(common, word[:-len(suffix)]) for suffix, common in OUTCOME_SUFFIXES if word.endswith(suffix)]
    for common, token in candidates:
        if VERSION_TOKEN.fullmatch(token):
            return common, _spelled(name, token)
    return None


def _spelled(name: str, token: str) -> str:
    """The token as the column name spells it (``score_V2`` gives ``V2``)."""
    at = name.lower().find(token.lower())
    return name[at:at + len(token)] if at >= 0 else token


def long_view(store: Store, dataset: Dataset, layout: WideLayout) -> Dataset:
    """Replace ``dataset``'s view by the long view of its wide layout (see the module doc).

    Row ``r`` of the wide log becomes rows ``r * n + i`` for its ``n`` versions, so the row
    ids stay dense and a request's versions sit next to each other, as in a shadow log.
    """
    wide = wide_view_name(dataset.view)
    store.execute(f"ALTER VIEW {ident(dataset.view)} RENAME TO {ident(wide)}")
    selects = [_version_select(dataset, layout, i, wide) for i in range(len(layout.versions))]
    store.execute(f"CREATE VIEW {ident(dataset.view)} AS {' UNION ALL '.join(selects)}")
    described = store.rows(f"DESCRIBE {ident(dataset.view)}")
    columns = tuple(Column(name, dtype) for name, dtype, *_ in described if name != ROW_ID)
    report = LoadReport(dataset.report.skipped, dataset.report.warnings + (layout.describe(),))
    return replace(dataset, columns=columns, row_count=dataset.row_count * len(layout.versions), report=report)


def _version_select(dataset: Dataset, layout: WideLayout, index: int, wide: str) -> str:
    n = len(layout.versions)
    firsts = {columns[0]: common for common, columns in layout.outcomes.items()}
    skipped = set(layout.version_columns)
    parts = [] if layout.id_column else [f"{ident(ROW_ID)} AS {ident(SYNTHETIC_ID)}"]
    parts.append(f"{literal(layout.versions[index])} AS {ident(VERSION_COLUMN)}")
    for column in dataset.column_names:
        if column in firsts:
            common = firsts[column]
            parts.append(f"{ident(layout.outcomes[common][index])} AS {ident(common)}")
        elif column not in skipped:
            parts.append(ident(column))
    parts.append(f"{ident(ROW_ID)} * {n} + {index} AS {ident(ROW_ID)}")
    return f"SELECT {', '.join(parts)} FROM {ident(wide)}"


def with_wide_roles(roles: RoleMap, layout: WideLayout) -> RoleMap:
    """Roles detected on the long view, with the id, version and outcome columns the layout
    made (detection could read a shared id as not unique enough, or miss the version)."""
    changes: dict = {"id": layout.id_column or SYNTHETIC_ID, "model_version": VERSION_COLUMN}
    if "score" in layout.outcomes and roles.scores != ("score",) and not roles.score_classes:
        changes["scores"] = ("score",)
    if "prediction" in layout.outcomes:
        changes["prediction"] = "prediction"
    made = {changes["id"], VERSION_COLUMN, *layout.outcomes}
    changes["features"] = tuple(f for f in roles.features if f not in made)
    changes["ignored"] = tuple(f for f in roles.ignored if f not in made)
    return replace(roles, **changes)
