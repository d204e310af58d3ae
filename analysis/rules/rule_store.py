"""Rule sets in the workspace: append-only, one row per rule-set version.

A change never rewrites a rule set: it adds the next number, so ``BASE+rules@2`` means the
same rules forever and the history of what was put in front of a model is kept.
"""

from __future__ import annotations

import datetime as _dt

from analysis.errors import SchemaError
from analysis.query import Sql
from analysis.rules.rule_set import Rule, RuleSet, empty_rule_set, latest_name, parse_derived
from analysis.workspace.workspace_file import Workspace

def rule_sets(workspace: Workspace) -> list[RuleSet]:
    """Every saved rule set, by base and then number."""
    rows = workspace.fetch(Sql("SELECT base, number, document FROM rule_sets ORDER BY base, number"))
    found = []
    for base, number, document in rows:
        try:
            found.append(RuleSet.from_json(document))
        except SchemaError as exc:
            raise SchemaError(f"rule set {number} on '{base}' cannot be read: {exc}",
                              file=str(workspace.path)) from None
    return found


def latest_rule_set(workspace: Workspace, base: str) -> RuleSet:
    """The newest rule set on ``base`` (number 0, no rules, when there is none)."""
    mine = [r for r in rule_sets(workspace) if r.base == base]
    return mine[-1] if mine else empty_rule_set(base)


def add_rule(workspace: Workspace, base: str, rule: Rule, note: str = "") -> RuleSet:
    """Save the next rule set on ``base``: the latest one's rules and ``rule`` after them."""
    made = latest_rule_set(workspace, base).with_rule(rule, note)
    workspace.edit([
        Sql("INSERT INTO rule_sets VALUES (?, ?, ?, ?)", (made.base, made.number, made.to_json(), _dt.datetime.now())),
    ])
    return made


def resolve(saved: list[RuleSet], version: str) -> RuleSet | None:
    """The rule set a derived version name means, None for a plain version.

    Raises SchemaError for a derived name with no such rule set, naming what exists.
    """
    parsed = parse_derived(version)
    if parsed is None:
        return None
    base, number = parsed
    mine = [r for r in saved if r.base == base]
    if not mine:
        raise SchemaError(f"there is no rule set on '{base}', so '{version}' does not exist; add one with "
                          f"`sleuth rule add WORKSPACE --base {base} ...`")
    if number is None:
        return mine[-1]
    for rule_set in mine:
        if rule_set.number == number:
            return rule_set
    raise SchemaError(f"'{base}' has rule sets 1 to {mine[-1].number}, not {number}; "
                      f"'{latest_name(base)}' is the latest")
