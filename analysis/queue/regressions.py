"""Failures one version makes where another version, on the same requests, was right.

A version's own errors cannot always tell a regression from a weakness both versions share: in
the real-data corpus's Computers case the planted slice (``cd = 'yes' AND price > 2220.6``) and
the expensive computers without a CD fail equally often under gbm-60 (0.60), so no test of
gbm-60's failures splits them (its failing slice is ``price > 2243``); gbm-30, on the same
requests, is right on every planted one and wrong on most of the others. When the queued log
holds a second version that scored the same requests (paired by request id, as compare pairs
them), grouping uses that version's outcome as evidence, through compare's own machinery: the
slices where the version is significantly worse than its partner are compare's regressed slices
(:func:`~analysis.compare.regressed_slices.regressed_slices`: discovery over the negative flips,
exact McNemar per slice, Benjamini-Yekutieli over the slices). Compare's bins may split one
regressed range in two, so each slice's numeric cuts are then moved outwards where the version's
failures that its partner does not share start (:func:`precise`: the refinement failing slices
get, on that signal). Each is a candidate *regression* group, offered before the failing
slices; grouping judges it as any other (its rows not explained by the groups before it fail more
than the rest: Fisher, Bonferroni over the candidates) and by McNemar on the same rows' pairs
(more requests turned wrong than right, at the same level). The failures both versions share
outside the regressed slice are left to the failing slices and findings: a group of their own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Mapping, Sequence

from analysis.compare.comparison import Pairing, pair_versions, paired_rows_sql
from analysis.compare.flips import flip_kind_sql
from analysis.compare.regressed_slices import SliceDiff, SliceSettings, regressed_slices
from analysis.discovery.failing_slices import row_error_sql
from analysis.discovery.refine import refine_each
from analysis.discovery.sliceline import DiscoveredSlice
from analysis.errors import SchemaError
from analysis.progress import NEVER_CANCELLED, CancelToken
from analysis.query import ROW_ID, Sql, ident, literal
from analysis.queue.group_evidence import shadow_version
from analysis.report.formatting import p_value
from analysis.scope import Scope
from analysis.slices import And, Compare, InSet, Predicate, Range, Slice
from analysis.slicing.binning import IN, RANGE, BinPredicate

REGRESSED_AT_MOST = 10
"""Regressed slices offered per version, worst first: as many as failing slices are."""


@dataclass(frozen=True)
class Regression:
    """A slice where ``version`` is significantly worse than ``partner`` on the same requests."""

    version: str
    partner: str
    slice: Slice
    diff: SliceDiff
    pairing: Pairing
    found_as: str | None = None
    """Compare's slice, when its numeric cuts were moved (:func:`precise`)."""

    @property
    def title(self) -> str:
        """What the group is, in the words of the review: the slice, and both versions' outcome."""
        return f"{self.slice.name}: fails under {self.version}, right under {self.partner}"

    def evidence(self) -> dict[str, Any]:
        """Who fails and who is right, and compare's test of the slice it found (its adjusted p)."""
        return {"version": self.version, "partner": self.partner, "slice": self.slice.name,
                "compared": self.found_as or self.slice.name, "compared_p_adjusted": self.diff.p_adjusted}


def regression_text(found: Mapping[str, Any], name: Callable[[str], str] = str) -> str:
    """A regression group's evidence in one sentence (the meeting, the report and ``queue list``
    say it alike): the requests only one version fails, and the test; ``name`` shows a version
    (the window's names from version cards)."""
    version, partner = name(found["version"]), name(found["partner"])
    sentence = (f"on the same requests of this slice, {found['negative']:,} fail under {version} that {partner} got "
                f"right and {found['positive']:,} the reverse (exact McNemar p {p_value(found['p_value'])}); "
                f"failures both versions share elsewhere are grouped apart")
    compared = found.get("compared")
    return sentence + (f"; compare found it as {compared}" if compared and compared != found.get("slice") else "")


def partner_of(scope: Scope, version: str, cancel: CancelToken = NEVER_CANCELLED) -> Pairing | None:
    """The pairing of ``version`` (as candidate) with the other version that scored most of its
    requests, within the scope's rows, or None when there is none or too few requests are
    shared to pair them (compare's rule)."""
    try:
        partner = shadow_version(scope, version)
        pairing = None if partner is None else pair_versions(scope, partner, version, cancel=cancel)
    except SchemaError:
        return None
    return pairing if pairing is not None and pairing.paired else None


def same_requests(scope: Scope) -> Scope:
    """Every version's rows of the requests among the scope's rows: an intake restricted to one
    version (``queue add --version v2``, a slice ``model_version = 'v2'``, a time window) still
    reads its partner's outcome on those requests, the evidence a regression group needs. The
    scope itself when it holds every row or the log has no request id."""
    condition, key = scope.condition, scope.roles.id
    if condition is None or key is None:
        return scope
    request = f"CAST({ident(key)} AS VARCHAR)"
    return scope.with_condition(Sql(f"{request} IN (SELECT {request} FROM {ident(scope.dataset.view)} "
                                    f"WHERE {condition.text})", condition.params))


def unpaired_note(scope: Scope, version: str, cancel: CancelToken = NEVER_CANCELLED) -> str | None:
    """Why ``version`` has no regression group when the intake's restriction is the cause: the
    whole log pairs it with a partner, the restricted rows' requests do not (the partner retired
    before the window read, a filter on the partner's own rows). None when there is no
    restriction or the whole log has no partner either: nothing was lost then."""
    if scope.condition is None:
        return None
    whole = partner_of(scope.with_condition(None), version, cancel)
    if whole is None:
        return None
    partner = whole.base.version
    return (f"version {version}: regression groups were not formed, because the intake's rows hold too few of "
            f"its requests that {partner} also scored (the whole log pairs {whole.pairs:,}) to compare its "
            f"failures with {partner}'s outcome on the same requests")


def regressions(scope: Scope, version: str, cancel: CancelToken = NEVER_CANCELLED,
                pairing: Pairing | None = None) -> list[Regression]:
    """The slices where ``version`` fails significantly more than its partner on the same
    requests (compare's regressed slices by error rate, significant after its adjustment), worst
    first; none when no other version scored the same requests. ``pairing``: the partner's, when
    the caller has it (:func:`partner_of`)."""
    pairing = partner_of(scope, version, cancel) if pairing is None else pairing
    if pairing is None:
        return []
    partner = pairing.base.version
    found = regressed_slices(scope, partner, version, SliceSettings(metric="error_rate"), pairing=pairing,
                             cancel=cancel)
    return [Regression(version, partner, Slice(d.predicate, name=d.predicate_text), d, pairing)
            for d in found if d.significantly_worse()][:REGRESSED_AT_MOST]


@contextlib.contextmanager
def pair_kinds(scope: Scope, pairing: Pairing, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[Callable[[str], Sql]]:
    """A function giving the candidate version's rows whose request's pair is of a kind (a
    compare flip kind: ``negative``, ``positive``, ``both_wrong``) as a condition over the log's
    view: compare's paired join and flip kinds, so a pair means here what it means in compare.
    The pairs' kinds are joined once into a scratch table (dropped on exit): regression groups
    read three kinds (the shared failures their cuts move by, the flips grouping tests them
    by), and the paired join in each was the larger part of the statements reading them."""
    store, row = scope.store, ident(ROW_ID)
    paired, name = paired_rows_sql(scope.dataset, scope.roles, pairing), store.new_name("pair_kinds")
    store.execute(Sql(f"CREATE TABLE {ident(name)} AS SELECT {row}, ({flip_kind_sql(scope.roles)}) AS kind "
                      f"FROM ({paired.text})", paired.params), cancel)
    try:
        yield lambda kind: Sql(f"{row} IN (SELECT {row} FROM {ident(name)} WHERE kind = {literal(kind)})")
    finally:
        store.execute(f"DROP TABLE IF EXISTS {ident(name)}")


def unshared_failure_sql(scope: Scope, kinds: Callable[[str], Sql]) -> str:
    """Each labelled row's 0/1 failure, counting as none a failure the partner shares (both
    wrong on the request, from :func:`pair_kinds`): the signal a regression's cuts are moved by."""
    error = row_error_sql(scope.dataset, scope.roles, "misclass")
    return f"CASE WHEN ({error}) IS NULL THEN NULL WHEN {kinds('both_wrong').text} THEN 0 ELSE ({error}) END"


def _widens(original: DiscoveredSlice, moved: DiscoveredSlice) -> bool:
    """Whether ``moved`` holds every row of ``original`` (no range end moved inwards)."""
    def outward(old: BinPredicate, new: BinPredicate) -> bool:
        if old.kind != RANGE:
            return True
        return ((old.low is None or new.low is None or new.low <= old.low)
                and (old.high is None or new.high is None or new.high >= old.high))
    return all(outward(old, new) for old, new in zip(original.predicates, moved.predicates))


def precise(scope: Scope, found: Sequence[Regression], cancel: CancelToken = NEVER_CANCELLED,
            kinds: Callable[[str], Sql] | None = None) -> list[Regression]:
    """Each regressed slice with its numeric cuts moved where the version's failures its partner
    does not share start (:func:`analysis.discovery.refine.refine_each`, the refinement failing
    slices get, on :func:`unshared_failure_sql`), kept only when the cuts move outwards: the
    rows compare found regressed stay (a cut moved in on failures would give the demo's kiosk
    regression's weaker end to the failing slices), and rows only join them when their failures
    are the version's alone (a cut moved out on every failure would take in Males' shared
    failures of the less schooled). ``scope`` is the version's rows. Compare's bins split one
    regressed range in two (Computers: ``2220.6 < price <= 2610.2 AND cd = 'yes'`` and ``price >
    2610.2 AND cd = 'yes'``); widened, the first is the planted slice, and a later one it holds
    adds nothing when grouping chooses. ``kinds``: the pairs' :func:`pair_kinds`, when the
    caller holds them for its own reading of the flips."""
    if not found:
        return []
    movable = [(i, DiscoveredSlice(b, 0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0))
               for i, b in enumerate(_as_bins(r.slice.predicate) for r in found) if b]
    if kinds is None:
        with pair_kinds(scope, found[0].pairing, cancel) as kinds:
            return precise(scope, found, cancel, kinds)
    signal = unshared_failure_sql(scope, kinds)
    refined = refine_each(scope, [d for _, d in movable], signal, cancel=cancel) if movable else []
    moved = {i: (d, now) for (i, d), now in zip(movable, refined)}
    kept: dict[str, Regression] = {}
    for i, r in enumerate(found):
        original, now = moved.get(i, (None, None))
        if now is not original and _widens(original, now):
            r = replace(r, slice=now.to_slice(), found_as=r.slice.name)
        kept.setdefault(r.slice.name, r)
    return list(kept.values())


def _as_bins(predicate: Predicate) -> tuple[BinPredicate, ...] | None:
    """Compare's slice as discovery's predicates (the form refinement moves), or None when a
    part has no such form (a NULL test, a negated set)."""
    parts = predicate.parts if isinstance(predicate, And) else (predicate,)
    bins = [_as_bin(p) for p in parts]
    return None if any(b is None for b in bins) else tuple(bins)


def _as_bin(part: Predicate) -> BinPredicate | None:
    if isinstance(part, InSet) and not part.negated:
        return BinPredicate(part.column, IN, values=part.values)
    if isinstance(part, Compare) and part.op == "=":
        return BinPredicate(part.column, IN, values=(part.value,))
    if isinstance(part, Compare) and part.op in (">", ">=", "<", "<="):
        above = part.op in (">", ">=")
        return BinPredicate(part.column, RANGE, low=part.value if above else None,
                            high=None if above else part.value, low_inclusive=part.op == ">=",
                            high_inclusive=part.op == "<=")
    if isinstance(part, Range):
        return BinPredicate(part.column, RANGE, low=part.low, high=part.high, low_inclusive=part.low_inclusive,
                            high_inclusive=part.high_inclusive)
    return None
