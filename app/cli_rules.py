"""``sleuth rule ...`` and ``sleuth golden ...``: decisions that act, from cron and scripts.

Rules put in front of a model make derived versions (``BASE+rules``, ``BASE+rules@N``) that
``compare`` reads from the workspace named by ``--rules`` (or ``--slices``); the golden set
grows from production requests and gates candidate models (``golden test`` exits 1 on a
significant regression on any golden group). Every command creates its workspace when missing,
except those that only read one.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from analysis.scope import Scope
from app.cli_roles import (
    LOG_ROLE_FLAGS, add_role_arguments, cards_model_columns, named_roles, say_label_note,
)

RULE_LOG_ROLE_FLAGS = ("label", "id", "time", "version_column", "prediction")
"""``rule add``'s role overrides for its ``--log``: all but ``--score``, which is the rule's own answer."""


def add_commands(sub) -> None:
    """Register ``rule`` and ``golden`` on the CLI's sub-command parser."""
    rule = sub.add_parser("rule", help="rules in front of a model: derived versions V+rules (add, list, export)",
                          description="A rule maps a slice to a fixed prediction or routes it to another version. "
                                      "The rules on a base version make the derived version 'BASE+rules' (the "
                                      "latest rule set) or 'BASE+rules@N', accepted by compare like any version.")
    rule_sub = rule.add_subparsers(dest="rule_command", metavar="ACTION", required=True)
    add = rule_sub.add_parser("add", help="add a rule: makes the next rule-set version of the base")
    add.add_argument("workspace", metavar="WORKSPACE", help="the .sleuth workspace (created when missing)")
    add.add_argument("--base", required=True, help="the version the rules are put in front of")
    add.add_argument("--where", required=True, metavar="FILTER", help="the rows the rule answers (slice syntax)")
    action = add.add_mutually_exclusive_group(required=True)
    action.add_argument("--route", metavar="VERSION", help="answer with this version's output for the same request")
    action.add_argument("--predict", metavar="VALUE", help="answer with this prediction")
    add.add_argument("--score", type=_probability, help="with --predict: the score to answer with (default: 1 for "
                                                         "the predicted class)")
    add.add_argument("--name", help="the rule's name (default: the filter)")
    add.add_argument("--log", nargs="+", metavar="PATH",
                     help="the log whose columns the filter reads (default: the workspace's first log)")
    add.add_argument("--json", action="store_true", help="print the new rule set as JSON")
    add_role_arguments(add, RULE_LOG_ROLE_FLAGS, "roles of the --log's columns, when detection gets them wrong "
                                                  "(--score above is the rule's answer, not a role)")
    listing = rule_sub.add_parser("list", help="every rule-set version, oldest first")
    listing.add_argument("workspace", metavar="WORKSPACE")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    export = rule_sub.add_parser("export", help="write rule sets as JSON")
    export.add_argument("workspace", metavar="WORKSPACE")
    export.add_argument("--out", required=True, metavar="FILE.json")
    export.add_argument("--version", metavar="BASE+rules[@N]", help="one rule set (default: each base's latest)")

    golden = sub.add_parser("golden", help="the golden set: requests with known answers that gate candidates",
                            description="Grow a versioned golden set from production requests and test candidate "
                                        "models on it (exit 1 on a significant regression on any golden group).")
    golden_sub = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    gadd = golden_sub.add_parser("add", help="copy a log's labelled requests into a new golden-set version")
    gadd.add_argument("workspace", metavar="WORKSPACE", help="the .sleuth workspace (created when missing)")
    gadd.add_argument("log", nargs="+", metavar="LOG", help="files, folders or globs, read as one log")
    gadd.add_argument("--where", required=True, metavar="FILTER", help="which requests (slice syntax)")
    gadd.add_argument("--version", help="link the requests to this version's predictions")
    gadd.add_argument("--group", help="the golden group the requests join (default: the filter)")
    gadd.add_argument("--json", action="store_true", help="print {version, added, duplicates, unlabelled}")
    add_role_arguments(gadd, LOG_ROLE_FLAGS)
    gexport = golden_sub.add_parser("export", help="write a golden-set version as Parquet")
    gexport.add_argument("workspace", metavar="WORKSPACE")
    gexport.add_argument("--out", required=True, metavar="FILE.parquet")
    gexport.add_argument("--golden-version", type=int, help="which version (default: the latest)")
    gtest = golden_sub.add_parser("test", help="score a model on the golden set; exit 1 if worse on a group")
    gtest.add_argument("workspace", metavar="WORKSPACE")
    gtest.add_argument("--model", required=True, metavar="FILE", help="the candidate model (skops preferred)")
    gtest.add_argument("--trust", action="store_true",
                       help="load a pickle/joblib file or a skops file with types outside Sleuth's allow-list "
                            "(unpickling runs code: only for files you trust)")
    gtest.add_argument("--golden-version", type=int, help="which version (default: the latest)")
    gtest.add_argument("--json", action="store_true", help="print the report as one JSON object")


def add_rules_option(cmd: argparse.ArgumentParser, default: str = "") -> None:
    """``--rules WORKSPACE``: where the rule sets behind ``BASE+rules`` versions are read."""
    cmd.add_argument("--rules", metavar="WORKSPACE",
                     help="the workspace whose rule sets define BASE+rules[@N] versions" + default)


def add_compare_options(compare: argparse.ArgumentParser) -> None:
    """``compare --rules`` and ``--golden``."""
    add_rules_option(compare, " (default: --slices)")
    compare.add_argument("--golden", metavar="WORKSPACE",
                         help="compare only on the golden requests of this workspace present in the log")


def run_command(args: argparse.Namespace) -> int:
    if args.command == "rule":
        return {"add": run_rule_add, "list": run_rule_list, "export": run_rule_export}[args.rule_command](args)
    return {"add": run_golden_add, "export": run_golden_export, "test": run_golden_test}[args.golden_command](args)


def run_rule_add(args: argparse.Namespace) -> int:
    from analysis.errors import InputError, SchemaError
    from analysis.rules.derived import check_rule_set, fixed_values, logged_versions, typed_output
    from analysis.rules.rule_set import FixedOutput, Route, Rule, parse_derived
    from analysis.rules.rule_store import add_rule, latest_rule_set
    from analysis.slices import Slice
    from analysis.slicing.parser import parse_slice
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.workspace.workspace_file import Workspace

    if parse_derived(args.base) is not None or (args.route and parse_derived(args.route) is not None):
        raise SchemaError("rules go in front of a logged version and route to a logged version, not a '+rules' one")
    if args.score is not None and args.predict is None:
        raise InputError("--score goes with --predict")
    store = Store(memory_limit=APP_MEMORY_LIMIT)
    workspace = Workspace.open(args.workspace)
    try:
        dataset, roles = _rule_log(store, workspace, args.log, named_roles(args, RULE_LOG_ROLE_FLAGS))
        types = {c.name: c.dtype for c in dataset.columns}
        where = Slice(parse_slice(args.where, types, _refuse_role_leaf), args.name or args.where)
        if args.route:
            rule = Rule(where, Route(args.route))
        else:
            rule = Rule(where, FixedOutput(typed_output(args.predict, dataset, roles), args.score))
            fixed_values(Scope(store, dataset, roles), rule.action)
        check_rule_set(dataset, roles, latest_rule_set(workspace, args.base).with_rule(rule),
                       logged_versions(Scope(store, dataset, roles)))
        made = add_rule(workspace, args.base, rule)
    finally:
        workspace.close()
    if args.json:
        print(json.dumps(made.to_dict(), indent=2))
    else:
        print(f"{made.name}: {len(made.rules)} rule(s); '{args.base}+rules' now means this rule set")
    return 0


def _refuse_role_leaf(leaf) -> None:
    """A rule answers a request before its label exists, so it cannot test right, wrong or flips."""
    from analysis.errors import SchemaError
    from analysis.slices import to_text

    raise SchemaError(f"a rule decides before the label is known, so its --where cannot use '{to_text(leaf)}'")


def _rule_log(store, workspace, paths: list[str] | None, fixed: dict):
    """The log a new rule is checked against: ``--log`` (with the roles the user ``fixed``),
    else the workspace's first log (with the roles kept for it)."""
    from analysis.data.open_log import load_log
    from analysis.errors import InputError

    if paths:
        loaded = load_log(store, paths, fixed=fixed, check=False,
                          model=cards_model_columns(workspace.version_cards()))
        say_label_note(loaded.label_note)
        return loaded.dataset, loaded.roles
    logs = [entry for entry in workspace.datasets() if entry.kind == "log"]
    if not logs:
        raise InputError("the workspace has no log to check the rule's filter against: add --log PATH",
                         file=str(workspace.path))
    loaded = load_log(store, list(logs[0].paths), name=logs[0].name, roles=logs[0].roles, check=False)
    return loaded.dataset, loaded.roles


def run_rule_list(args: argparse.Namespace) -> int:
    from analysis.rules.rule_store import rule_sets

    saved = read_workspace(args.workspace, rule_sets)
    if args.json:
        print(json.dumps([r.to_dict() for r in saved], indent=2))
        return 0
    if not saved:
        print("no rule sets")
    for rule_set in saved:
        print(rule_set.name)
        for position, rule in enumerate(rule_set.rules, 1):
            print(f"  {position}. {rule.name}: {rule.action.describe()}")
    return 0


def run_rule_export(args: argparse.Namespace) -> int:
    from analysis.errors import InputError
    from analysis.rules.rule_store import resolve, rule_sets

    saved = read_workspace(args.workspace, rule_sets)
    if args.version:
        chosen = [resolve(saved, args.version)]
        if chosen[0] is None:
            raise InputError(f"'{args.version}' is not a rule set's version; write BASE+rules or BASE+rules@N")
    else:
        chosen = list({r.base: r for r in saved}.values())
    document = {"rule_sets": [r.to_dict() for r in chosen]}
    _write_text(args.out, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} rule set(s) written to {args.out}")
    return 0


def run_golden_add(args: argparse.Namespace) -> int:
    from analysis.data.open_log import load_log
    from analysis.golden.golden_set import add_to_golden
    from analysis.slicing.role_leaves import where_sql
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.workspace.workspace_file import Workspace

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, args.log, fixed=named_roles(args), check=False,
                      model=cards_model_columns(existing_cards(args.workspace)))
    say_label_note(loaded.label_note)
    dataset, roles = loaded.dataset, loaded.roles
    condition = where_sql(Scope(store, dataset, roles), args.where)
    if args.version is not None:
        condition = condition & _version_condition(roles, args.version)
    workspace = Workspace.open(args.workspace)
    try:
        source = f"{', '.join(dataset.paths)} where {args.where}" + (f" (version {args.version})" if args.version else "")
        added = add_to_golden(Scope(store, dataset, roles, condition), workspace, args.group or args.where, source)
    finally:
        workspace.close()
    result = {"version": added.version, "added": added.added, "duplicates": added.duplicates,
              "unlabelled": added.unlabelled}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"golden set v{added.version}: {added.added:,} request(s) added, {added.duplicates:,} already there, "
              f"{added.unlabelled:,} without a label left out")
    return 0


def _version_condition(roles, version: str):
    from analysis.errors import SchemaError
    from analysis.query import Sql, ident

    if roles.model_version is None:
        raise SchemaError("--version needs a model version column, and this log has none")
    return Sql(f"CAST({ident(roles.model_version)} AS VARCHAR) = ?", (version,))


def run_golden_export(args: argparse.Namespace) -> int:
    from analysis.golden.golden_set import export_golden

    rows = read_workspace(args.workspace, lambda ws: export_golden(ws, args.out, args.golden_version))
    print(f"{rows:,} golden request(s) written to {args.out}")
    return 0


def run_golden_test(args: argparse.Namespace) -> int:
    from analysis.golden.gate import gate_text, golden_gate
    from analysis.golden.golden_set import golden_requests
    from analysis.trace.model_files import load_model

    requests = read_workspace(args.workspace, lambda ws: golden_requests(ws, args.golden_version))
    report = golden_gate(requests, load_model(args.model, trust=args.trust))
    print(json.dumps(report, indent=2) if args.json else gate_text(report))
    return 1 if report["regressed"] else 0


def existing_cards(path: str) -> dict:
    """The version cards of the workspace ``path``, none when it does not exist yet."""
    from pathlib import Path

    return read_workspace(path, lambda workspace: workspace.version_cards()) if Path(path).is_file() else {}


def read_workspace(path: str, read) -> Any:
    """``read(workspace)`` on an existing workspace, closed afterwards."""
    from analysis.workspace.workspace_file import Workspace

    workspace = Workspace.open(path, create=False)
    try:
        return read(workspace)
    finally:
        workspace.close()


def _write_text(path: str, text: str) -> None:
    from analysis.errors import InputError

    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write the file ({exc.strerror})", file=path) from None


def with_named_rules(store, rules_at: str | None, dataset, roles, versions):
    """The dataset with the derived versions among ``versions`` (``BASE+rules[@N]``) added,
    their rule sets read from the workspace ``rules_at``."""
    from analysis.errors import InputError
    from analysis.rules.derived import with_rule_versions
    from analysis.rules.rule_set import parse_derived
    from analysis.rules.rule_store import resolve, rule_sets

    named = [v for v in versions if v and parse_derived(v) is not None]
    if not named:
        return dataset
    if not rules_at:
        raise InputError("a '+rules' version is read from a workspace: name it with --rules WORKSPACE")
    saved = read_workspace(rules_at, rule_sets)
    return with_rule_versions(Scope(store, dataset, roles), {name: resolve(saved, name) for name in named})


def compare_inputs(store, args: argparse.Namespace, dataset, roles, condition):
    """The dataset with the derived versions compare names, and the condition restricted to
    the golden requests when ``--golden`` is given."""
    from analysis.errors import InputError
    from analysis.golden.golden_set import golden_condition, golden_requests

    dataset = with_named_rules(store, args.rules or args.slices, dataset, roles, [args.base, args.candidate])
    if args.golden:
        requests = read_workspace(args.golden, golden_requests)
        if requests.empty:
            raise InputError("the golden set is empty: add requests with `sleuth golden add` first",
                             file=args.golden)
        golden = golden_condition(Scope(store, dataset, roles), requests["request_id"].tolist())
        condition = golden if condition is None else condition & golden
    return dataset, condition


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a score is a probability in [0, 1]")
    return value
