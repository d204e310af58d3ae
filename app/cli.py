"""The command line: ``sleuth open|demo|info|slices|check|compare|trace|suspects|queue|report``.

Headless commands never import Qt, so they run in CI and cron; ``open`` and ``demo`` hand over
to :mod:`app.launch`, which starts the window. Each command's text rendering lives next to its
capability's report (``analysis.<capability>.report``), so the CLI only parses and dispatches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from app.cli_queue import add_queue_commands, run_queue_command

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
    _add_slices_command(sub)
    _add_check_command(sub)
    _add_compare_command(sub)
    _add_trace_commands(sub)
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
    query = trace.add_mutually_exclusive_group(required=True)
    query.add_argument("--row", metavar="ID", help="the id of the logged prediction to trace")
    query.add_argument("--slice", metavar="PREDICATE",
                       help="trace the failed predictions of this slice together (slice bar syntax, e.g. "
                            "\"merchant_category = 'electronics'\"); the worst 500 are summed")
    trace.add_argument("--version", help="which version's prediction, when several scored the id")
    _add_model_arguments(trace)
    trace.add_argument("--top", type=_positive_int, default=20, help="how many harmful and helpful rows (default 20)")
    trace.add_argument("--json", action="store_true", help="print one JSON object")
    suspects = sub.add_parser(
        "suspects", help="training rows whose label is probably wrong, and the batches they come from",
        description="Rank training rows by how likely their label is wrong: cleanlab's confident learning on "
                    "out-of-fold probabilities, combined with self-influence; then where the suspects "
                    "concentrate by source, batch and date.")
    suspects.add_argument("--train", nargs="+", required=True, metavar="SNAPSHOT", help="the training snapshot")
    _add_model_arguments(suspects)
    suspects.add_argument("--top", type=_positive_int, default=20, help="how many suspects to list (default 20)")
    suspects.add_argument("--json", action="store_true", help="print one JSON object")


def _add_model_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", metavar="FILE", help="the model trained on the snapshot (skops preferred)")
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
    compare.add_argument("--base", required=True, help="the version in production (raw version string)")
    compare.add_argument("--candidate", required=True, help="the version to promote (raw version string)")
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


def _add_check_command(sub) -> None:
    check = sub.add_parser(
        "check", help="check a log's inputs and outputs against a reference; ranked findings, no window",
        description="Profile a reference (another log, a time window of this one, or an expectations file; "
                    "default: the log's first 20%% of time), check every column per time bucket and per "
                    "source/client/region group, and print the findings ranked by evidence that they broke "
                    "predictions. Exit code 1 when a finding at or above --fail-on exists.")
    check.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs, read as one log")
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
    slices.add_argument("--version", help="only this model version's rows (for --error disagree: the first version)")
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


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be in (0, 1]")
    return value


def _add_screenshot(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--screenshot", metavar="FILE.png",
                     help="render the main window to a PNG once loading is done, then exit")
    cmd.add_argument("--size", default="1440x900", help="window size for --screenshot (default 1440x900)")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    from app.launch import prepare_demo, run_window

    args = build_parser().parse_args(argv)
    try:
        if args.command == "info":
            return run_info(args.paths)
        if args.command == "slices":
            return run_slices(args)
        if args.command == "check":
            return run_check_command(args)
        if args.command == "compare":
            return run_compare_command(args)
        if args.command in ("trace", "suspects"):
            return run_trace_command(args)
        if args.command in ("queue", "report"):
            return run_queue_command(args)
        if args.command == "demo":
            workspace = prepare_demo(Path(args.out), rows=args.rows, seed=args.seed, incidents=not args.clean)
            if args.no_window:
                print(workspace)
                return 0
            return run_window([str(workspace)], screenshot=args.screenshot, size=args.size)
        if args.command == "open":
            return run_window(args.paths, screenshot=args.screenshot, size=args.size)
        return run_window([], screenshot=None, size="1440x900")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI says what went wrong in one line
        from analysis.errors import SleuthError

        if not isinstance(exc, SleuthError):
            raise
        sys.stderr.write(f"sleuth: error: {exc}\n")
        return 2


def run_info(paths: Sequence[str]) -> int:
    from analysis.data.info_report import describe_log
    from analysis.data.open_log import load_log
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, paths)
    print(json.dumps(describe_log(store, loaded), indent=2, default=str))
    return 0


def run_slices(args: argparse.Namespace) -> int:
    from analysis.discovery.failing_slices import DiscoverySettings, failing_slices
    from analysis.data.open_log import load_log
    from analysis.data.roles import TaskType
    from analysis.slicing.parser import parse_slice
    from analysis.slices import to_sql
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, args.paths, check=False)
    dataset, roles = loaded.dataset, loaded.roles
    error = args.error or ("abs" if roles.task is TaskType.REGRESSION else "misclass")
    condition = None
    if args.where:
        condition = to_sql(parse_slice(args.where, {c.name: c.dtype for c in dataset.columns}))
    settings = DiscoverySettings(
        error=error, version=args.version, other_version=args.against, k=args.top, max_level=args.max_level,
        min_support=args.min_support, alpha=args.alpha, significant_only=not args.all,
    )
    found = failing_slices(store, dataset, roles, settings, condition)
    rows = [
        {"predicate": s.text, "size": s.size, "error": s.error_rate, "score": s.score,
         "ci": [s.ci_low, s.ci_high], "p_value": s.p_value, "p_adjusted": s.p_adjusted}
        for s in found
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{len(rows)} slice(s) of {dataset.name} by {error}" + (f", version {args.version}" if args.version else ""))
    for rank, row in enumerate(rows, 1):
        print(f"{rank:>2}. {row['predicate']}\n    rows {row['size']:,}  error {row['error']:.4f} "
              f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}]  score {row['score']:.3f}  p_adj {row['p_adjusted']:.2g}")
    return 0


def run_check_command(args: argparse.Namespace) -> int:
    from analysis.triage.check_report import check_report, fails, report_text, run_check
    from analysis.store import APP_MEMORY_LIMIT, Store

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    run = run_check(store, args.paths, reference=args.reference, reference_window=args.reference_window,
                    expect=args.expect, since=args.since, write_expect=args.write_expect)
    if args.json:
        print(json.dumps(check_report(store, run.dataset, run.roles, run.findings, run.reference), indent=2,
                         default=str))
    else:
        print(report_text(run))
    return 1 if args.fail_on and fails(run.findings, args.fail_on) else 0


def run_compare_command(args: argparse.Namespace) -> int:
    from analysis.compare.report import compare_report, is_regression, report_text
    from analysis.data.open_log import load_log
    from analysis.metrics.per_version import time_window
    from analysis.slicing.parser import parse_slice
    from analysis.slices import to_sql
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.workspace.workspace_file import Workspace

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    loaded = load_log(store, args.paths, check=False)
    dataset, roles = loaded.dataset, loaded.roles
    condition = to_sql(parse_slice(args.where, {c.name: c.dtype for c in dataset.columns})) if args.where else None
    saved = []
    if args.slices:
        workspace = Workspace.open(args.slices, create=False)
        saved, problems = workspace.slices()
        workspace.close()
        for problem in problems:
            sys.stderr.write(f"sleuth: {problem}\n")
    windows = [None if w is None else time_window(roles, *w) for w in (args.base_window, args.candidate_window)]
    report = compare_report(store, dataset, roles, args.base, args.candidate, metric=args.metric,
                            saved_slices=saved, max_level=args.max_level, min_support=args.min_support,
                            tolerance=args.tolerance, condition=condition, threshold=args.threshold,
                            column=args.column, base_window=windows[0], candidate_window=windows[1])
    print(json.dumps(report, indent=2, default=str) if args.json else report_text(report))
    return 1 if args.fail_on_regression and is_regression(report, args.tolerance) else 0


def run_trace_command(args: argparse.Namespace) -> int:
    from analysis.store import APP_MEMORY_LIMIT, Store
    from analysis.trace.report_text import report_text
    from analysis.trace.tracer import suspects_for, trace_prediction, trace_slice

    store = Store(memory_limit=APP_MEMORY_LIMIT)
    if args.command == "trace" and args.slice is not None:
        report = trace_slice(store, args.train, args.log, args.slice, args.model, args.trust, args.version,
                             k=args.top)
    elif args.command == "trace":
        report = trace_prediction(store, args.train, args.log, args.row, args.model, args.trust, args.version,
                                  k=args.top)
    else:
        report = suspects_for(store, args.train, args.model, args.trust, top=args.top)
    print(json.dumps(report, indent=2, default=str) if args.json else report_text(args.command, report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
