"""Rule sets are append-only versions in the workspace and survive closing and reopening."""

import datetime as dt

import pytest

from analysis.errors import SchemaError
from analysis.rules.rule_set import FixedOutput, Route, Rule, RuleSet, parse_derived
from analysis.rules.rule_store import add_rule, latest_rule_set, resolve, rule_sets
from analysis.slices import Compare, InSet, Range, Slice
from analysis.workspace.workspace_file import Workspace

KIOSK = Rule(Slice(Compare("device_type", "=", "kiosk"), "kiosk"), Route("v1"))
NIGHT = Rule(Slice(Range("timestamp", dt.datetime(2026, 10, 1, 0, 0), dt.datetime(2026, 10, 1, 6, 0)), "night"),
             FixedOutput(True, 0.75))
EU = Rule(Slice(InSet("region", ("EU-West", "EU-North")), "eu"), FixedOutput("fraud"))


def test_rule_set_versions_round_trip_through_the_workspace(tmp_path):
    path = tmp_path / "rules.sleuth"
    workspace = Workspace.open(path)
    assert rule_sets(workspace) == [] and latest_rule_set(workspace, "v2").number == 0
    made = [add_rule(workspace, "v2", KIOSK), add_rule(workspace, "v2", NIGHT, note="nights"),
            add_rule(workspace, "v3", EU)]
    workspace.close()

    reopened = Workspace.open(path, create=False)
    saved = rule_sets(reopened)
    reopened.close()
    assert saved == sorted(made, key=lambda r: (r.base, r.number))
    assert [r.name for r in saved] == ["v2+rules@1", "v2+rules@2", "v3+rules@1"]
    assert saved[1].rules == (KIOSK, NIGHT) and saved[1].note == "nights"
    assert saved[0].rules == (KIOSK,), "an older rule set is never rewritten"
    assert RuleSet.from_json(saved[1].to_json()) == saved[1]


def test_derived_names_resolve_to_rule_sets():
    saved = [RuleSet("v2", 1, (KIOSK,)), RuleSet("v2", 2, (KIOSK, NIGHT)), RuleSet("a+b", 1, (EU,))]
    assert parse_derived("v2+rules@12") == ("v2", 12) and parse_derived("v2") is None
    assert resolve(saved, "v2") is None
    assert resolve(saved, "v2+rules") == saved[1] and resolve(saved, "v2+rules@1") == saved[0]
    assert resolve(saved, "a+b+rules") == saved[2]
    with pytest.raises(SchemaError, match="has rule sets 1 to 2, not 3"):
        resolve(saved, "v2+rules@3")
    with pytest.raises(SchemaError, match="no rule set on 'v7'"):
        resolve(saved, "v7+rules")


@pytest.mark.parametrize("document", [
    "[]", "{}", '{"schema_version": 1, "base": "v", "number": 0, "rules": []}',
    '{"schema_version": 1, "base": "v", "number": 1, "rules": [{"where": {}, "action": {"kind": "exec"}}]}',
    '{"schema_version": 1, "base": "v", "number": 1, "rules": [{"where": {"schema_version": 1, "predicate": '
    '{"kind": "everything"}}, "action": {"kind": "fixed", "prediction": 1, "score": 7}}]}',
    "not json",
])
def test_malformed_rule_sets_are_refused_in_one_sentence(document):
    with pytest.raises(SchemaError):
        RuleSet.from_json(document)
