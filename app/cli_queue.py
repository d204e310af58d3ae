"""``sleuth queue add|list|decide|export`` and ``sleuth report``: the failure queue for cron and
scripts. Each command opens (or creates) the workspace, does one thing and closes it, so a
window holding the same workspace is never written behind its back: DuckDB refuses the second
writer and the command says the workspace is read-only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.queue.schema import DECISIONS, STATUSES
from analysis.scope import Scope
from app.cli_roles import (
    LOG_ROLE_FLAGS, add_role_arguments, cards_model_columns, named_roles, say_label_note,
)

EXPORTS = ("collect", "relabel", "ticket")


def add_queue_commands(sub, positive_int, timestamp) -> None:
    """Register ``queue`` (with its subcommands) and ``report`` on the CLI's subparsers."""
    queue = sub.add_parser("queue", help="the failure queue in a workspace: add failures, list groups, decide",
                           description="Keep failed predictions in a workspace, grouped by the check finding or failing slice "
                                       "that explains them, for the weekly review.")
    commands = queue.add_subparsers(dest="queue_command", metavar="SUBCOMMAND", required=True,
                                    parser_class=type(queue))
    add = commands.add_parser("add", help="queue the failures of a log (and follow up decided groups on it)")
    add.add_argument("workspace", metavar="WORKSPACE", help="the .sleuth workspace (created when missing)")
    add.add_argument("paths", nargs="+", metavar="LOG", help="files, folders or globs, read as one log")
    add.add_argument("--where", metavar="FILTER", help="only failures matching a slice, e.g. \"region = 'EU'\"")
    add.add_argument("--version", help="only this model version's failures; regression groups still read the "
                                       "partner version's outcomes on the same requests (as with --where), "
                                       "as evidence, never queued; a note says when a restriction leaves no partner")
    add.add_argument("--since-last-review", action="store_true",
                     help="only predictions after those read by the last intake")
    add.add_argument("--check", action="store_true",
                     help="run the input checks again first and group failures by the findings whose rows they are "
                          "(against the reference profile saved in the workspace, else the log's first 20%% of time); "
                          "the findings are kept; without --check the log's last kept check is used (one that found "
                          "nothing too), and when none is kept the checks run first anyway")
    add.add_argument("--sample", type=positive_int, help="keep at most N items per group; count the rest")
    _add_training_arguments(add, "trace each group's failures to the training batch they come from (slow)")
    add.add_argument("--trace-at-most", type=positive_int, metavar="N",
                     help="trace at most N failures per version to a training batch, a uniform sample "
                          "(default 500; the rest join a blamed batch's group when the model without it gets them right)")
    add.add_argument("--json", action="store_true",
                     help="print {added, duplicates, counted, groups, followup, blamed, notes}")
    add_role_arguments(add, LOG_ROLE_FLAGS)
    listing = commands.add_parser("list", help="list the queue's groups, largest impact first")
    listing.add_argument("workspace", metavar="WORKSPACE")
    listing.add_argument("--status", choices=STATUSES, help="only groups with this status")
    listing.add_argument("--json", action="store_true", help="print {items, groups: [...]}")
    decide = commands.add_parser("decide", help="record the review's decision on a group")
    decide.add_argument("workspace", metavar="WORKSPACE")
    decide.add_argument("group", type=positive_int, metavar="GROUP", help="the group's id (see queue list)")
    decide.add_argument("--decision", required=True, choices=DECISIONS)
    decide.add_argument("--note", help="the rationale")
    decide.add_argument("--owner", help="who acts on it")
    for command in (add, decide):
        command.add_argument("--user", help="who makes the change, for the history (default: the OS user name)")
    export = commands.add_parser("export", help="what a decision hands over: data request, relabel list (JSON + CSV) or ticket (Markdown)")
    export.add_argument("workspace", metavar="WORKSPACE")
    export.add_argument("group", type=positive_int, metavar="GROUP")
    export.add_argument("--as", dest="kind", choices=EXPORTS, required=True,
                        help="collect: data request FILE.json and FILE.csv; relabel: the suspect labels of the "
                             "training batch trace blames, FILE.json and FILE.csv; ticket: Markdown for retrain/fix")
    export.add_argument("--out", required=True, metavar="FILE", help="where to write (.json / .md)")
    _add_training_arguments(export, "relabel: the training snapshot")
    report = sub.add_parser("report", help="the review report (postmortem style) as HTML, PDF or Markdown",
                            description="Write the failure review's report: impact, cause, detection, action "
                                        "items with owners, then every group with its evidence and follow-up.")
    report.add_argument("workspace", metavar="WORKSPACE")
    report.add_argument("--since", type=timestamp, metavar="DATE", help="only activity from this date on")
    report.add_argument("--out", required=True, metavar="FILE", help="FILE.html, FILE.pdf or FILE.md")


def _add_training_arguments(command: argparse.ArgumentParser, purpose: str) -> None:
    command.add_argument("--train", nargs="+", metavar="SNAPSHOT", help=purpose)
    command.add_argument("--model", metavar="FILE", help="the model trained on the snapshot (skops preferred)")
    command.add_argument("--trust", action="store_true",
                         help="load a pickle/joblib file or a skops file with types outside Sleuth's allow-list "
                              "(unpickling runs code: only for files you trust)")


def run_queue_command(args: argparse.Namespace, discoveries=None, checker=None) -> int:
    from analysis.queue.failure_queue import FailureQueue
    from analysis.workspace.workspace_file import Workspace

    workspace = Workspace.open(args.workspace, create=args.command == "queue")
    try:
        if workspace.read_only_reason:
            sys.stderr.write(f"sleuth: {workspace.path}: {workspace.read_only_reason}\n")
        queue = FailureQueue(workspace, user=getattr(args, "user", None))
        if args.command == "report":
            return _report(queue, args)
        if args.queue_command == "add":
            return _add(queue, args, discoveries, checker)
        return {"list": _list, "decide": _decide, "export": _export}[args.queue_command](queue, args)
    finally:
        workspace.close()


def _add(queue, args, discoveries=None, checker=None) -> int:
    from analysis.data.open_log import load_log
    from analysis.queue.blame import TRACE_AT_MOST, attach_blame, blame_text
    from analysis.trace.tracer import InfluenceCache, TrainingFiles
    from analysis.queue.followup import follow_up
    from analysis.queue.group_evidence import attach_version_evidence
    from analysis.queue.grouping import version_scope
    from analysis.queue.intake import intake_log, kept_findings, needs_check
    from analysis.slicing.role_leaves import where_sql
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.triage.check_report import check_dataset, finding_to_dict
    from analysis.workspace.workspace_file import DatasetEntry

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, args.paths, fixed=named_roles(args), check=False,
                      model=cards_model_columns(queue.workspace.version_cards()))
    say_label_note(loaded.label_note)
    dataset, roles = loaded.dataset, loaded.roles
    queue.workspace.save_dataset(DatasetEntry(dataset.name, dataset.paths, dataset.format, roles))
    condition = where_sql(Scope(store, dataset, roles), args.where) if args.where else None
    if args.version:
        condition = version_scope(roles, args.version) & condition
    followed = follow_up(queue, Scope(store, dataset, roles))
    findings = () if args.check else kept_findings(queue.workspace, dataset.name)
    # grouped by failing slice alone, a swapped client's failures would be two groups
    if args.check or needs_check(queue.workspace, dataset.name):
        checked = (checker or check_dataset)(Scope(store, dataset, roles), queue.workspace.profile(dataset.name))
        queue.workspace.save_findings(dataset.name, checked.reference, [finding_to_dict(f) for f in checked.findings])
        findings = checked.findings
    influence = InfluenceCache()  # the model intake's blame prepares is the one attach_blame tests each group with
    result = intake_log(queue, Scope(store, dataset, roles, condition), since_last_review=args.since_last_review,
                        sample=args.sample, findings=findings, traces=_traces(queue, store, dataset, roles, args),
                        trace_at_most=args.trace_at_most or TRACE_AT_MOST, discoveries=discoveries,
                        influence=influence)
    attach_version_evidence(queue, Scope(store, dataset, roles), result.groups)
    blamed = (attach_blame(queue, Scope(store, dataset, roles), result.groups,
                           TrainingFiles(tuple(args.train), args.model, args.trust), influence) if args.train else [])
    total = queue.total_failures()
    groups = [queue.group(g).to_dict(total) for g in dict.fromkeys(result.groups)]
    summary = {"added": result.added, "duplicates": result.duplicates, "counted": result.counted,
               "groups": groups, "followup": followed, "blamed": blamed, "notes": list(result.notes)}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(f"{result.added} failure(s) queued, {result.duplicates} already in the queue or counted, {result.counted} counted "
              f"beyond the sample, in {len(groups)} group(s)")
        for note in result.notes:
            print(f"note: {note}")
        for f in followed:
            print(f"follow-up: group {f['group']} {f['title']}: {f['status']} (p = {f['p_value']:.3g})")
        for b in blamed:
            print(f"group {b['group']} {b['title']}: {blame_text(b)}")
    return 0


def _traces(queue, store, dataset, roles, args) -> dict:
    """What each version's failures are traced through to group them by blamed training batch:
    the version cards that name a snapshot and a model, and ``--train``/``--model`` for the
    version named by ``--version``, by the model file's name, or the log's only version."""
    from analysis.errors import InputError
    from analysis.metrics.per_version import model_versions
    from analysis.queue.blame import traces_from_cards
    from analysis.trace.tracer import TrainingFiles
    from analysis.trace.tracer import version_of_model

    traces = traces_from_cards(queue.workspace.version_cards())
    if not args.train:
        return traces
    versions = model_versions(Scope(store, dataset, roles))
    version = args.version or version_of_model(versions, args.model) or (versions[0] if len(versions) == 1 else None)
    if versions and version is None:
        raise InputError(f"--train: say which version the model was trained for with --version "
                         f"(the log has {', '.join(versions)})")
    traces[version] = TrainingFiles(tuple(args.train), args.model, args.trust)
    return traces


def _list(queue, args) -> int:
    total = queue.total_failures()
    groups = [g.to_dict(total) for g in queue.groups(status=args.status)]
    if args.json:
        print(json.dumps({"items": queue.item_count(), "failures": total, "groups": groups}, indent=2, default=str))
        return 0
    from analysis.queue.regressions import regression_text

    print(f"{queue.item_count()} item(s), {total} failure(s), {len(groups)} group(s)")
    for g in groups:
        impact = g["impact"]
        print(f"{g['id']:>4}. {g['title']}\n      {impact['failures']} failures ({100 * impact['share']:.1f}%), "
              f"status {g['status']}, owner {g['owner'] or '-'}, decision {g['decision'] or '-'}")
        if g["regression"]:
            print(f"      regression: {regression_text(g['regression'])}")
    return 0


def _decide(queue, args) -> int:
    from analysis.queue.edits import apply, decide

    queue.group(args.group)
    apply(queue, decide(args.group, args.decision, rationale=args.note, owner=args.owner))
    group = queue.group(args.group)
    print(f"group {group.id} ({group.title}): {group.decision}, status {group.status}, owner {group.owner or '-'}")
    return 0


def _export(queue, args) -> int:
    from analysis.queue.exports import data_request, data_request_csv, relabel_csv, ticket_markdown

    group, out = queue.group(args.group), Path(args.out)
    if args.kind == "ticket":
        out.write_text(ticket_markdown(queue, group), encoding="utf-8")
        print(f"wrote {out}")
        return 0
    if args.kind == "collect":
        request = data_request(queue, group)
        table = data_request_csv(request)
    else:
        request = _relabel(queue, group, args)
        table = relabel_csv(request)
    out.with_suffix(".json").write_text(json.dumps(request, indent=2, default=str), encoding="utf-8")
    out.with_suffix(".csv").write_text(table, encoding="utf-8")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.csv')}")
    return 0


def _relabel(queue, group, args) -> dict:
    """The relabel request of a group, its log reopened from the workspace's registration."""
    from analysis.data.open_log import load_log
    from analysis.errors import InputError
    from analysis.queue.exports import relabel_request
    from analysis.store import APP_MEMORY_LIMIT, Store

    if not args.train:
        raise InputError("--as relabel needs the training snapshot (--train SNAPSHOT)")
    entries = {entry.name: entry for entry in queue.workspace.datasets()}
    if group.dataset not in entries:
        raise InputError(f"the log of group {group.id} ('{group.dataset}') is not registered in the workspace",
                         file=str(queue.workspace.path))
    entry = entries[group.dataset]
    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, list(entry.paths), name=entry.name, roles=entry.roles, check=False)
    return relabel_request(Scope(store, loaded.dataset, loaded.roles), group, args.train, args.model, args.trust)


def _report(queue, args) -> int:
    from analysis.errors import InputError
    from analysis.queue.report import chart_images, render_html, render_markdown, report_document

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf", ".md"):
        raise InputError("write the report as .html, .pdf or .md", file=str(out))
    document = report_document(queue, since=args.since)
    if suffix == ".pdf":
        from app.report_pdf import write_pdf

        write_pdf(render_markdown(document, images=True), out, chart_images(document))
    else:
        out.write_text(render_html(document) if suffix != ".md" else render_markdown(document), encoding="utf-8")
    print(f"wrote {out}")
    return 0
