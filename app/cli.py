"""The command line: ``sleuth open|demo|info|slices|check|compare|trace|suspects|rule|golden|queue|report``.

Headless commands never import Qt, so they run in CI and cron; ``open`` and ``demo`` hand over
to :mod:`app.launch`, which starts the window. Each command's text rendering lives next to its
capability's report (``analysis.<capability>.report``), so the CLI only parses and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Sequence

from analysis.errors import InputError
from analysis.scope import Scope
from analysis.triage import CHECK_SHARE_ROWS
from analysis.triage.share import SHARE_SUBJECT
from app import cli_rules
from app.cli_engine import SAMPLED_COMMANDS, SPARK_COMMANDS, add_sample_option, check_sample_option, refuse_local_options
from app.cli_queue import add_queue_commands, run_queue_command
from app.cli_roles import (
    LOG_ROLE_FLAGS, SNAPSHOT_ROLE_FLAGS, add_role_arguments, cards_model_columns, named_roles, say_label_note,
)

DEFAULT_DEMO_DIR = "sleuth-demo"


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="sleuth",
        description="Debug ML models in production: open prediction logs, see metrics per model "
                    "version over time, and find what broke.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser, metavar="COMMAND")
    open_cmd = sub.add_parser("open", help="open logs (files, folders, globs) or a .sleuth workspace in the window",
                              description="Open prediction logs in the window. Several files, a folder or a "
                                          "glob such as 'logs/2026-*.parquet' open as one log; a .sleuth file "
                                          "opens a workspace.")
    open_cmd.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, globs, or one .sleuth workspace")
    _add_log_options(open_cmd)
    add_role_arguments(open_cmd, LOG_ROLE_FLAGS, "roles of the opened log's columns (kept in the workspace; "
                                                 "Data > Roles changes them later)")
    _add_screenshot(open_cmd)
    demo = sub.add_parser("demo", help="generate the demo data (fraud model with known bugs) and open it",
                          description="Generate a card-fraud prediction log with injected, documented "
                                      "incidents (see manifest.json) and open it as a workspace.")
    demo.add_argument("--rows", type=_positive_int, default=200_000, help="log rows to generate (default 200000)")
    demo.add_argument("--out", default=DEFAULT_DEMO_DIR, help=f"output folder (default ./{DEFAULT_DEMO_DIR})")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--clean", action="store_true", help="generate a log without injected incidents")
    demo.add_argument("--no-window", action="store_true", help="only generate the files and the workspace")
    _add_screenshot(demo)
    info = sub.add_parser("info", help="print a log's schema, roles, row count and checks as JSON (no window)",
                          description="Load the files as one log and print what Sleuth detected as JSON.")
    info.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs, read as one log")
    add_role_arguments(info, LOG_ROLE_FLAGS)
    _add_log_options(info)
    _add_slices_command(sub)
    _add_check_command(sub)
    _add_compare_command(sub)
    _add_trace_commands(sub)
    cli_rules.add_commands(sub)
    add_queue_commands(sub, _positive_int, _timestamp)
    return parser


def _add_trace_commands(sub) -> None:
    trace = sub.add_parser(
        "trace", help="the training rows that pushed the model to one prediction (influence), no window",
        description="Find the training rows most responsible for one logged prediction: exact influence "
                    "functions for linear models, BoostIn / leaf co-membership for tree ensembles, nearest "
                    "neighbours otherwise. Without --model a surrogate is fitted on the snapshot (and says so).")
    trace.add_argument("--train", nargs="+", required=True, metavar="SNAPSHOT", help="the training snapshot")
    trace.add_argument("--log", nargs="+", required=True, metavar="PATH", help="the prediction log")
    _add_log_options(trace)
    query = trace.add_mutually_exclusive_group(required=True)
    query.add_argument("--row", metavar="ID", help="the id of the logged prediction to trace")
    query.add_argument("--slice", metavar="PREDICATE",
                       help="trace the failed predictions of this slice together (slice bar syntax, e.g. "
                            "\"merchant_category = 'electronics'\"); the worst 500 are summed")
    trace.add_argument("--version", help="which version's prediction, when several scored the id")
    _add_model_arguments(trace)
    trace.add_argument("--top", type=_positive_int, default=20, help="how many harmful and helpful rows (default 20)")
    trace.add_argument("--json", action="store_true", help="print one JSON object")
    add_sample_option(trace, _positive_int)
    add_role_arguments(trace, LOG_ROLE_FLAGS, "--label names the snapshot's label (and the log's, which Sleuth "
                                               "matches by that name); the other roles are the log's columns")
    suspects = sub.add_parser(
        "suspects", help="training rows whose label is probably wrong, and the batches they come from",
        description="Rank training rows by how likely their label is wrong: cleanlab's confident learning on "
                    "out-of-fold probabilities, combined with self-influence; then where the suspects "
                    "concentrate by source, batch and date.")
    suspects.add_argument("--train", nargs="+", required=True, metavar="SNAPSHOT", help="the training snapshot")
    _add_model_arguments(suspects)
    suspects.add_argument("--top", type=_positive_int, default=20, help="how many suspects to list (default 20)")
    suspects.add_argument("--json", action="store_true", help="print one JSON object")
    _add_engine_option(suspects)
    add_sample_option(suspects, _positive_int)
    add_role_arguments(suspects, SNAPSHOT_ROLE_FLAGS)


LOG_MODEL_HELP = ("the model file that made the log's predictions (skops preferred): when no column name says "
                  "which is the label, the label is the column the model does not read, holding its classes, "
                  "that its score agrees with beyond chance")
"""``--model`` of a command that reads a log (check, compare): what the model file is for there."""
def _add_model_arguments(cmd: argparse.ArgumentParser,
                         what: str = "the model trained on the snapshot (skops preferred)") -> None:
    cmd.add_argument("--model", metavar="FILE", help=what)
    cmd.add_argument("--trust", action="store_true",
                     help="load a pickle/joblib file or a skops file with types outside Sleuth's allow-list "
                          "(unpickling runs code: only for files you trust)")


def _add_compare_command(sub) -> None:
    compare = sub.add_parser(
        "compare", help="compare two model versions: metrics with intervals, flips, regressed slices; a CI gate",
        description="Compare a candidate version with a base on the same log: paired when they scored the same "
                    "requests (same id), else unpaired. Prints every metric with the difference, its 95% interval "
                    "and p-value, the flips (paired), and the slices where the candidate is worse (saved slices, "
                    "groups of --column, discovered slices), worst first, with Benjamini-Yekutieli adjusted "
                    "p-values.")
    compare.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs, read as one log")
    _add_log_options(compare)
    compare.add_argument("--base", required=True, help="the version in production (raw version string, or BASE+rules)")
    compare.add_argument("--candidate", required=True, help="the version to promote (raw version string, or BASE+rules)")
    compare.add_argument("--metric", help="the metric the gate and the slices judge (default accuracy, or MAE)")
    compare.add_argument("--slices", metavar="WORKSPACE", help="also test every slice saved in this .sleuth workspace")
    compare.add_argument("--column", help="also test every group of this column (binned like the breakdown)")
    compare.add_argument("--where", metavar="FILTER", help="compare only rows matching a slice")
    compare.add_argument("--base-window", metavar="START..END", type=_time_window,
                         help="only the base's rows in this time window, e.g. 2026-10-01..2026-10-08; with "
                              "--candidate-window, one version before and after a deploy (unpaired)")
    compare.add_argument("--candidate-window", metavar="START..END", type=_time_window,
                         help="only the candidate's rows in this time window")
    compare.add_argument("--threshold", type=_unit_float, help="decision threshold on the score (default: roles')")
    compare.add_argument("--max-level", type=_positive_int, default=3, help="most conditions in a discovered slice")
    compare.add_argument("--min-support", type=_positive_int, default=None, help="fewest rows in a discovered slice")
    compare.add_argument("--tolerance", type=float, default=0.0,
                         help="a drop of the metric up to this much is not a regression (default 0)")
    compare.add_argument("--fail-on-regression", action="store_true",
                         help="exit 1 when the candidate is significantly worse beyond --tolerance, overall or "
                              "on any tested slice")
    compare.add_argument("--json", action="store_true", help="print the report as one JSON object")
    compare.add_argument("--workspace", metavar="WORKSPACE",
                         help="keep the verdict in this .sleuth workspace (created when missing) for its report")
    _add_cards_option(compare)
    _add_model_arguments(compare, LOG_MODEL_HELP)
    add_role_arguments(compare, LOG_ROLE_FLAGS)
    cli_rules.add_compare_options(compare)


def _add_check_command(sub) -> None:
    check = sub.add_parser(
        "check", help="check a log's inputs and outputs against a reference; ranked findings, no window",
        description="Profile a reference (another log, a time window of this one, or an expectations file; "
                    "default: the log's first 20%% of time), check every column per time bucket and per "
                    "source/client/region group, and print the findings ranked by evidence that they broke "
                    "predictions. Exit code 1 when a finding at or above --fail-on exists.")
    check.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs, read as one log")
    _add_log_options(check)
    reference = check.add_mutually_exclusive_group()
    reference.add_argument("--reference", nargs="+", metavar="PATH", help="a reference log or training snapshot")
    reference.add_argument("--reference-window", metavar="START..END", type=_time_window,
                           help="a time window of the log itself, e.g. 2026-10-01..2026-10-08")
    reference.add_argument("--expect", metavar="FILE", help="an expectations file written by --write-expect")
    check.add_argument("--write-expect", metavar="FILE",
                       help="also write the reference profile as an expectations file (for CI or cron)")
    check.add_argument("--since", type=_timestamp, metavar="T", help="only check rows from this time on")
    check.add_argument("--fail-on", choices=["alert", "warning"], help="exit 1 when a finding this severe exists")
    check.add_argument("--json", action="store_true", help="print {reference, findings: [...]} as JSON")
    add_sample_option(check, _positive_int,
                      f"; a log of more than N rows has its {SHARE_SUBJECT} computed on a share of about N rows, "
                      f"whole requests chosen by a salted hash of the id, each engine its own (without --engine "
                      f"default {CHECK_SHARE_ROWS:,}; the nulls, zeros, ranges and other counts still over every row)")
    _add_model_arguments(check, LOG_MODEL_HELP)
    add_role_arguments(check, LOG_ROLE_FLAGS, "roles of the checked log's columns; a reference's label is "
                                               "matched to the log's by role")


def _timestamp(text: str):
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None


def _time_window(text: str):
    start, sep, end = text.partition("..")
    if not sep:
        raise argparse.ArgumentTypeError(f"write the window as START..END, not {text!r}")
    return _timestamp(start), _timestamp(end)


def _add_slices_command(sub) -> None:
    slices = sub.add_parser(
        "slices", help="find the slices where the model fails most (SliceLine), no window",
        description="Discover conjunctions of up to --max-level conditions on binned features where the "
                    "error is highest relative to their size (SliceLine scoring), with intervals and "
                    "Benjamini-Yekutieli adjusted p-values. Only significant slices are listed unless --all.")
    slices.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs, read as one log")
    _add_log_options(slices)
    slices.add_argument("--version", help="only this model version's rows (for --error disagree: the first version); "
                                            "BASE+rules with --rules")
    slices.add_argument("--against", help="with --error disagree: the version whose predictions to compare with")
    slices.add_argument("--error", choices=["misclass", "logloss", "abs", "disagree"], default=None,
                        help="per-row error: misclass (default for classification), logloss, abs (default for "
                             "regression), disagree (prediction differs between --version and --against)")
    slices.add_argument("--where", metavar="FILTER", help="restrict to rows matching a slice, e.g. \"region = 'EU'\"")
    slices.add_argument("--top", type=_positive_int, default=10, help="how many slices (default 10)")
    slices.add_argument("--max-level", type=_positive_int, default=3, help="most conditions in a slice (default 3)")
    slices.add_argument("--min-support", type=_positive_int, default=None,
                        help="fewest rows in a slice (default max(32, rows/100))")
    slices.add_argument("--alpha", type=_unit_float, default=0.95,
                        help="weight of error against size in the score, in (0, 1] (default 0.95)")
    slices.add_argument("--all", action="store_true", help="also list slices that are not significant")
    slices.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    _add_cards_option(slices)
    add_role_arguments(slices, LOG_ROLE_FLAGS)
    cli_rules.add_rules_option(slices)


def _add_cards_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--cards", metavar="WORKSPACE",
                     help="name versions in the text by this .sleuth workspace's version cards (JSON keeps the "
                          "raw version strings)")


def _version_cards(path: str | None) -> dict:
    """The version cards of the workspace ``path`` (none without one): the names text output uses."""
    return cli_rules.read_workspace(path, lambda workspace: workspace.version_cards()) if path else {}


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be in (0, 1]")
    return value


def _add_log_options(cmd: argparse.ArgumentParser) -> None:
    """The options of every command that reads a log: late labels and a lakehouse version."""
    cmd.add_argument("--labels", metavar="PATH",
                     help="join labels that arrived later from this file, folder or glob (any supported format, "
                          "SageMaker ground-truth records included) by request id")
    cmd.add_argument("--on", metavar="COLUMN",
                     help="the labels file's request-id column (default: the column whose values match the log's ids)")
    cmd.add_argument("--as-of", metavar="VERSION|TIME",
                     help="read a Delta or Iceberg table at this version (Iceberg: snapshot id) or ISO time")
    _add_engine_option(cmd)


def _add_engine_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--engine", metavar="sc://HOST:PORT[/;token=...]",
                     help="run the passes on a Spark cluster through Spark Connect (e.g. a Databricks "
                          "workspace); PATH is then a table name (catalog.schema.table) or a path Spark reads "
                          f"({', '.join(SAMPLED_COMMANDS)} run on rows pulled from it, see --sample-rows). "
                          "Default: DuckDB on this machine")


@contextlib.contextmanager
def command_log(args: argparse.Namespace, paths: Sequence[str], check: bool = False, model=None):
    """The store and the loaded log a command works on, closed when it is done: DuckDB over
    local files by default, a Spark Connect session over a table or path with ``--engine``
    (where the log checks, ``check``, count on the cluster),
    stopped so the cluster drops its views and cached tables at once. ``model`` (see
    :func:`model_columns_of`) finds the log's label when no name says it; not on Spark yet."""
    from analysis.data.open_log import load_log
    from analysis.store import APP_MEMORY_LIMIT, Store

    if args.engine is None:
        store = Store(memory_limit=APP_MEMORY_LIMIT)
    else:
        from analysis.engine.spark_store import SparkStore

        refuse_local_options(args, joins_labels=True)
        if model is not None:
            raise InputError("--model is not read with --engine yet; name the label with --label")
        store = SparkStore(args.engine)
    with contextlib.closing(store):
        if args.engine is None:
            loaded = load_log(store, paths, fixed=named_roles(args), check=check, options=_log_options(args),
                              model=model)
            say_label_note(loaded.label_note)
            yield store, loaded
        else:
            from analysis.engine.spark_log import checked_spark_log, load_spark_log

            loaded = load_spark_log(store, paths, fixed=named_roles(args),
                                    labels=(args.labels,) if getattr(args, "labels", None) else (),
                                    on=getattr(args, "on", None))
            yield store, checked_spark_log(store, loaded) if check else loaded


def model_columns_of(args: argparse.Namespace, cards: dict | None = None):
    """What tells a log's label beyond its column names: ``--model FILE`` (its inputs and
    classes) when given, else the model files of the version cards of the workspace the
    command was given (``cards``, or the workspace its options name; see
    :mod:`app.workspace_models`); None when there is neither."""
    if getattr(args, "model", None) is None:
        if getattr(args, "engine", None) is not None:
            return None  # a log on Spark names its label by name or --label
        return cards_model_columns(cards if cards is not None else _version_cards(given_workspace(args)))
    from analysis.trace.model_files import load_model
    from analysis.trace.snapshot_label import model_columns

    columns = model_columns(load_model(args.model, trust=args.trust))
    if columns is None:
        raise InputError("the model names none of the columns it reads (it was fitted on a bare array), so it "
                         "cannot tell the log's label; name it with --label", file=args.model)
    return columns


WORKSPACE_OPTIONS = ("workspace", "cards", "slices", "rules", "golden")
"""The arguments through which a command is given a workspace (positional or ``--...``)."""


def given_workspace(args: argparse.Namespace) -> str | None:
    """The existing workspace file a command was given, if any (``compare --workspace`` may
    name one it is about to create)."""
    from pathlib import Path

    named = (getattr(args, option, None) for option in WORKSPACE_OPTIONS)
    return next((path for path in named if isinstance(path, str) and Path(path).is_file()), None)


def refuse_engine(args: argparse.Namespace) -> None:
    """One sentence for a command whose passes do not run on Spark yet."""
    if getattr(args, "engine", None) is not None and args.command not in (*SPARK_COMMANDS, *SAMPLED_COMMANDS):
        raise InputError(f"sleuth {args.command} does not run on --engine yet; {', '.join(SPARK_COMMANDS)} "
                         f"run on the cluster and {', '.join(SAMPLED_COMMANDS)} on rows pulled from it")


def _log_options(args: argparse.Namespace):
    from analysis.data.open_log import LogOptions

    return LogOptions(labels=(args.labels,) if args.labels else (), on=args.on, as_of=args.as_of)


def _add_screenshot(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--screenshot", metavar="FILE.png",
                     help="render the main window to a PNG once loading is done, then exit")
    cmd.add_argument("--screenshots", metavar="FOLDER",
                     help="bring each panel forward in turn, start its result and render the window to "
                          "FOLDER/<panel>.png, then exit")
    cmd.add_argument("--size", default="1440x900", help="window size for --screenshot(s) (default 1440x900)")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def main(argv: Sequence[str] | None = None, discoveries=None, checker=None) -> int:
    """Run one command. ``discoveries`` (an :class:`analysis.queue.discoveries.DiscoveryCache`)
    is where ``slices`` and ``queue add`` keep the failing slices they searched: a run makes its
    own (``slices`` none), and a caller running several commands on the same log in one process
    may hand one to each (``slices`` printed as JSON and as text searches once).
    ``checker`` is what ``queue add`` checks a log with before grouping its failures (called as
    :func:`analysis.triage.check_report.check_dataset`, which it is by default): a caller that
    has already checked the same log the same way may hand one returning that check, since
    checking a month is seconds of CPU each time."""
    from app.launch import prepare_demo, run_window

    args = build_parser().parse_args(argv)
    try:
        refuse_engine(args)
        check_sample_option(args)
        if args.command == "info":
            return run_info(args)
        if args.command == "slices":
            return run_slices(args, discoveries)
        if args.command == "check":
            return run_check_command(args)
        if args.command == "compare":
            return run_compare_command(args)
        if args.command in ("trace", "suspects"):
            return run_trace_command(args)
        if args.command in ("rule", "golden"):
            return cli_rules.run_command(args)
        if args.command in ("queue", "report"):
            return run_queue_command(args, discoveries, checker)
        if args.command == "demo":
            workspace = prepare_demo(Path(args.out), rows=args.rows, seed=args.seed, incidents=not args.clean)
            if args.no_window:
                print(workspace)
                return 0
            return run_window([str(workspace)], screenshot=args.screenshot, size=args.size,
                              screenshots=args.screenshots)
        if args.command == "open":
            return run_window(args.paths, screenshot=args.screenshot, size=args.size, options=_log_options(args),
                              screenshots=args.screenshots, fixed=named_roles(args))
        return run_window([], screenshot=None, size="1440x900")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI says what went wrong in one line
        from analysis.errors import SleuthError

        if not isinstance(exc, SleuthError):
            raise
        sys.stderr.write(f"sleuth: error: {exc}\n")
        return 2


def run_info(args: argparse.Namespace) -> int:
    from analysis.data.info_report import describe_log

    with command_log(args, args.paths, check=True) as (store, loaded):
        report = describe_log(store, loaded)
        if args.engine is not None:  # which log checks ran on the cluster, and which did not
            from analysis.engine.spark_log import checks_json

            report["checks"] = checks_json(store)
        print(json.dumps(report, indent=2, default=str))
        return 0


def run_slices(args: argparse.Namespace, discoveries=None) -> int:
    """``sleuth slices``; the search is ``discoveries``' when given (see :func:`main`)."""
    from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
    from analysis.data.roles import TaskType
    from analysis.slicing.role_leaves import where_sql
    from analysis.report.formatting import count, interval, json_value, number, p_value
    from analysis.slices import to_text
    from analysis.workspace.version_cards import display_name, with_card_names

    cards = _version_cards(args.cards)  # read first: an unreadable workspace is reported before any log is loaded
    with command_log(args, args.paths, model=model_columns_of(args)) as (store, loaded):
        dataset, roles = loaded.dataset, loaded.roles
        dataset = cli_rules.with_named_rules(store, args.rules, dataset, roles, [args.version, args.against])
        error = args.error or ("abs" if roles.task is TaskType.REGRESSION else "misclass")
        condition = None
        if args.where:
            condition = where_sql(Scope(store, dataset, roles), args.where, cards=cards)
        settings = DiscoverySettings(
            error=error, version=args.version, other_version=args.against, k=args.top, max_level=args.max_level,
            min_support=args.min_support, alpha=args.alpha, significant_only=not args.all,
        )
        search = failing_slices if discoveries is None else discoveries.failing_slices
        found = search(Scope(store, dataset, roles, condition), settings)
        rows = [
            {"predicate": s.text, "size": s.size, "error": s.error_rate, "score": s.score,
             "ci": [s.ci_low, s.ci_high], "p_value": s.p_value, "p_adjusted": s.p_adjusted}
            for s in found
        ]
        if args.json:
            print(json.dumps(json_value(rows), indent=2))
            return 0
        version = f", version {display_name(cards, args.version)}" if args.version else ""
        against = f" against {display_name(cards, args.against)}" if args.against else ""
        print(f"{len(rows)} slice(s) of {dataset.name} by {error}{version}{against}")
        for rank, (row, slice_) in enumerate(zip(rows, found), 1):
            shown = to_text(with_card_names(slice_.to_slice().predicate, roles.model_version, cards)) if cards else row["predicate"]
            print(f"{rank:>2}. {shown}\n    rows {count(row['size'])}  error {number(row['error'])} "
                  f"{interval(*row['ci'])}  score {number(row['score'], 3)}  p_adj {p_value(row['p_adjusted'])}")
        return 0


def run_check_command(args: argparse.Namespace) -> int:
    """``sleuth check``; with ``--engine``, on rows pulled from the cluster (the log's and the reference's)."""
    if args.engine is None:
        return _check(args, args.paths, args.reference, {})
    from analysis.triage.check_report import CountedOn
    from app.cli_engine import row_puller

    with row_puller(args) as puller:
        table, log, share = puller.table_and_share(args.paths, named_roles(args))
        other, reference = puller.table_and_pull(args.reference) if args.reference else (None, None)
        return _check(args, [str(log.path)], [str(reference.path)] if reference else None,
                      {"sample": None if share else log, "reference_sample": reference},
                      CountedOn(puller.store, table, other, share))


def _check(args: argparse.Namespace, paths: Sequence[str], reference: Sequence[str] | None, samples: dict,
           counted_on=None) -> int:
    """The check of ``paths``; with ``counted_on`` (``--engine``), ``paths`` are pulled rows
    and the reference profile and cells are counted on the cluster's tables."""
    from analysis.triage.check_report import CheckSettings, check_report, fails, report_text, run_check
    from analysis.store import APP_MEMORY_LIMIT, Store
    from app.cli_engine import CHECK_SUBJECTS, counted_line, sample_lines, with_samples

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    settings = CheckSettings(reference=reference, reference_window=args.reference_window, expect=args.expect,
                             since=args.since, write_expect=args.write_expect, fixed=named_roles(args),
                             options=_log_options(args), counted_on=counted_on,
                             share_rows=args.sample_rows or CHECK_SHARE_ROWS)
    run = run_check(store, paths, settings, model=model_columns_of(args))
    say_label_note(run.label_note)
    counted = [] if counted_on is None else [counted_line(counted_on.log, counted_on.reference, counted_on.store.url)]
    if args.json:
        report = check_report(Scope(store, run.dataset, run.roles), run.findings, run.reference, run.skipped,
                              run.share)
        if counted_on is not None:
            report["counted"] = {"rows": counted_on.log.row_count, "engine": counted_on.store.url,
                                 "reference_rows": counted_on.reference.row_count if counted_on.reference else None}
        print(json.dumps(with_samples(report, samples), indent=2, default=str))
    else:
        print("\n".join([*counted, *sample_lines(samples, CHECK_SUBJECTS), report_text(run)]))
    return 1 if args.fail_on and fails(run.findings, args.fail_on) else 0


def run_compare_command(args: argparse.Namespace) -> int:
    from analysis.compare.regressed_slices import SliceSettings
    from analysis.compare.report import ReportSettings, compare_report, is_regression, report_text
    from analysis.data.time import time_window
    from analysis.slicing.role_leaves import where_sql
    from analysis.workspace.workspace_file import Workspace

    cards = _version_cards(args.cards)  # read first: an unreadable workspace is reported before any log is loaded
    saved = []
    if args.slices:
        workspace = Workspace.open(args.slices, create=False)
        saved, problems = workspace.slices()
        workspace.close()
        for problem in (*workspace.notes, *problems):
            sys.stderr.write(f"sleuth: {problem}\n")
    with command_log(args, args.paths, model=model_columns_of(args)) as (store, loaded):
        dataset, roles = loaded.dataset, loaded.roles
        condition = where_sql(Scope(store, dataset, roles), args.where, cards=cards) if args.where else None
        dataset, condition = cli_rules.compare_inputs(store, args, dataset, roles, condition)
        windows = [None if w is None else time_window(roles, *w) for w in (args.base_window, args.candidate_window)]
        slices = SliceSettings(saved=saved, column=args.column, max_level=args.max_level,
                               min_support=args.min_support, tolerance=args.tolerance)
        settings = ReportSettings(metric=args.metric, slices=slices, threshold=args.threshold,
                                  base_window=windows[0], candidate_window=windows[1],
                                  version_names={version: card.display_name for version, card in cards.items()})
        report = compare_report(Scope(store, dataset, roles, condition), args.base, args.candidate, settings)
        if args.workspace:
            _keep_verdict(args.workspace, dataset.name, report)
        print(json.dumps(report, indent=2, default=str) if args.json else report_text(report))
        return 1 if args.fail_on_regression and is_regression(report, args.tolerance) else 0


def _keep_verdict(path: str, dataset_name: str, report: dict) -> None:
    """Append the comparison's verdict to the workspace ``path``, for ``sleuth report``."""
    from analysis.compare.verdicts import verdict_record
    from analysis.workspace.workspace_file import Workspace

    workspace = Workspace.open(path)
    try:  # a workspace open elsewhere is read-only: keeping the verdict then says so in one sentence
        workspace.add_compare_verdict(dataset_name, verdict_record(report))
    finally:
        workspace.close()


def run_trace_command(args: argparse.Namespace) -> int:
    """``sleuth trace`` / ``sleuth suspects``; with ``--engine``, on rows pulled from the cluster:
    a sample of the training snapshot, and the traced request's (or slice's) rows of the log."""
    snapshot_roles = named_roles(args, SNAPSHOT_ROLE_FLAGS if args.command == "suspects" else ("label",))
    log_roles = {role: column for role, column in named_roles(args).items() if role.value != "label"}
    if args.engine is None:
        report = _trace_report(args, args.train, getattr(args, "log", None), snapshot_roles, log_roles)
        print(json.dumps(report, indent=2, default=str) if args.json else _trace_text(args, report, {}))
        return 0
    from app.cli_engine import row_puller, with_samples

    with row_puller(args) as puller:
        train = puller.table(args.train)
        log = None
        if args.command == "trace":
            log, log_roles = puller.traced_log(args.log, log_roles, args.row, args.slice)
        report = _trace_report(args, [str(train.path)], [str(log.path)] if log else None, snapshot_roles, log_roles)
    samples = {"sample": train, "log_sample": log}
    print(json.dumps(with_samples(report, samples), indent=2, default=str) if args.json
          else _trace_text(args, report, samples))
    return 0


def _trace_report(args: argparse.Namespace, train: Sequence[str], log: Sequence[str] | None,
                  snapshot_roles: dict, log_roles: dict) -> dict:
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.trace.tracer import TraceSettings, TrainingFiles, suspects_for, trace_prediction, trace_slice

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    training = TrainingFiles(train, args.model, args.trust, snapshot_roles)
    if args.command == "suspects":
        return suspects_for(store, training, top=args.top)
    settings = TraceSettings(version=args.version, k=args.top, log_roles=log_roles, log_options=_log_options(args))
    if args.slice is not None:
        return trace_slice(store, training, log, args.slice, settings)
    return trace_prediction(store, training, log, args.row, settings)


def _trace_text(args: argparse.Namespace, report: dict, samples: dict) -> str:
    from analysis.trace.report_text import report_text
    from app.cli_engine import sample_lines

    return "\n".join([*sample_lines(samples, {"sample": "training snapshot", "log_sample": "log"}),
                      report_text(args.command, report)])


if __name__ == "__main__":
    raise SystemExit(main())
