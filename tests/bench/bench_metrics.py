"""Metrics per model version, with and without ROC AUC, and accuracy over time, on 10M rows.

Sleuth computes them in DuckDB over the Parquet view (``overall_metrics``,
``metric_over_time``); the notebook route uses pandas group-by and scikit-learn on a frame
already in memory, reported both without and with the ``read_parquet`` that made the frame.
Both routes' numbers are compared, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import (
    Clock,
    ensure_log,
    machine_note,
    markdown_table,
    megabytes,
    parse_args,
    ratio,
    repeat_route,
    run_child_if_asked,
    seconds,
)
from analysis.scope import Scope

TOLERANCE = 1e-9


def sleuth(log: Path) -> dict:
    from analysis.data.open_log import load_log
    from analysis.metrics.per_version import metric_over_time, overall_metrics
    from analysis.store import Store

    clock = Clock()
    store = Store()
    loaded = load_log(store, [str(log)], check=False)
    result = {"load_s": clock.mark("loaded")}
    dataset, roles = loaded.dataset, loaded.roles
    result["metrics_s"] = _timed(lambda: overall_metrics(Scope(store, dataset, roles), with_auc=False))[0]
    result["auc_s"], full = _timed(lambda: overall_metrics(Scope(store, dataset, roles), with_auc=True))
    result["over_time_s"], series = _timed(lambda: metric_over_time(Scope(store, dataset, roles), "accuracy"))
    result["check"] = {r.version: [r.metrics["accuracy"], r.metrics["precision"], r.metrics["recall"],
                                   r.metrics["f1"], r.metrics["log_loss"]] for r in full}
    result["auc"] = {r.version: r.metrics["roc_auc"] for r in full}
    result["series"] = {f"{row.version} {row.bucket_start.isoformat()}": float(row.value)
                        for row in series.itertuples(index=False)}
    return result


def notebook(log: Path) -> dict:
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

    from analysis.data.time import choose_bucket

    clock = Clock()
    frame = pd.read_parquet(log)
    result = {"load_s": clock.mark("loaded")}

    def per_version(with_auc: bool) -> tuple[dict, dict]:
        outcome = frame.loc[frame["label"].notna(), ["model_version", "label", "prediction", "score"]]
        values, auc = {}, {}
        for version, rows in outcome.groupby("model_version"):
            y, predicted = rows["label"].astype(int), rows["prediction"]
            values[version] = [accuracy_score(y, predicted), precision_score(y, predicted),
                               recall_score(y, predicted), f1_score(y, predicted), log_loss(y, rows["score"])]
            if with_auc:
                auc[version] = roc_auc_score(y, rows["score"])
        return values, auc

    def accuracy_over_time() -> pd.Series:
        width = choose_bucket(frame["timestamp"].min(), frame["timestamp"].max())
        evaluated = frame.loc[frame["label"].notna() & frame["prediction"].notna(),
                              ["model_version", "timestamp", "label", "prediction"]]
        bucket = evaluated["timestamp"].dt.floor(f"{int(width.seconds)}s")
        correct = evaluated["label"] == evaluated["prediction"]
        return correct.groupby([evaluated["model_version"], bucket]).mean()

    result["metrics_s"] = _timed(lambda: per_version(with_auc=False))[0]
    result["auc_s"], (result["check"], result["auc"]) = _timed(lambda: per_version(with_auc=True))
    result["over_time_s"], series = _timed(accuracy_over_time)
    result["series"] = {f"{version} {start.isoformat()}": float(value) for (version, start), value in series.items()}
    return result


def _timed(compute):
    started = time.perf_counter()
    value = compute()
    return time.perf_counter() - started, value


ROUTES = {"sleuth": sleuth, "notebook": notebook}


def largest_difference(sleuth_result: dict, book: dict) -> float:
    """The largest absolute difference between the routes' metrics but ROC AUC and accuracy
    series (infinite when they do not cover the same versions and buckets)."""
    if sleuth_result["check"].keys() != book["check"].keys() or sleuth_result["series"].keys() != book["series"].keys():
        return float("inf")
    pairs = [(a, b) for v in book["check"] for a, b in zip(sleuth_result["check"][v], book["check"][v])]
    pairs += [(sleuth_result["series"][k], book["series"][k]) for k in book["series"]]
    return max(abs(a - b) for a, b in pairs)


def largest_auc_difference(sleuth_result: dict, book: dict) -> float:
    """The largest absolute difference between the routes' ROC AUC per version."""
    if sleuth_result["auc"].keys() != book["auc"].keys():
        return float("inf")
    return max(abs(sleuth_result["auc"][v] - book["auc"][v]) for v in book["auc"])


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    log = ensure_log(args.rows)
    note = machine_note(args.rows, args.repeats)
    s = repeat_route(__file__, "sleuth", log, args.repeats)
    n = repeat_route(__file__, "notebook", log, args.repeats)
    rows = [
        [label, seconds(s[key]), seconds(n[key]), ratio(n[key], s[key]),
         seconds(n[key] + n["load_s"]), ratio(n[key] + n["load_s"], s[key])]
        for label, key in (("metrics by version, no AUC", "metrics_s"), ("metrics by version, with AUC", "auc_s"),
                           ("accuracy over time (per version, 6-hour buckets)", "over_time_s"))
    ]
    rows.append(["open / read the log", seconds(s["load_s"]), seconds(n["load_s"]), ratio(n["load_s"], s["load_s"]),
                 "", ""])
    rows.append(["peak RSS of the process", megabytes(s["peak_rss_mb"]), megabytes(n["peak_rss_mb"]),
                 ratio(n["peak_rss_mb"], s["peak_rss_mb"]), "", ""])
    print(f"### Metrics by version\n\n{note}\n")
    print(markdown_table(["measure", "Sleuth (DuckDB on Parquet)", "pandas + sklearn (frame in memory)",
                          "ratio", "pandas incl. read_parquet", "ratio incl. read"], rows))
    from analysis.metrics.per_version import AUC_ERROR_BOUND

    difference = largest_difference(s, n)
    auc_difference = largest_auc_difference(s, n)
    print(f"\nSleuth's accuracy, precision, recall, F1, log loss per version and accuracy per "
          f"bucket against pandas/scikit-learn: largest difference {difference:.1e} "
          f"({'agree' if difference <= TOLERANCE else 'DISAGREE'}); ROC AUC per version: largest difference "
          f"{auc_difference:.1e} ({'within' if auc_difference <= AUC_ERROR_BOUND else 'OUTSIDE'} Sleuth's stated "
          f"bound {AUC_ERROR_BOUND:.0e}).")


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
