"""Benchmark: ``sleuth compare`` on a 10M-row shadow log against the notebook route.

The log: 5M requests, each scored by two versions (10M rows x 30 columns: id, timestamp,
version, label with 10% missing, score, prediction, 24 features); v2 is better overall and
worse where ``country = 'NG'``. Built once by DuckDB into the bench cache.

Sleuth route: ``load_log`` + ``run_comparison`` (pairing, every metric with its test, flips,
discovered slices; what ``sleuth compare --json`` prints), timed when the verdict (everything
but ROC AUC and the slices) is handed over and when the whole report is done. The verdict's
time is split into opening the log (the file probe's child process, the roles' profile) and
comparing until the verdict (what the compare panel waits for, its log already open), with
its CPU seconds beside (the load's probe child included), which a loaded machine stretches
far less than wall time. Notebook route: ``read_parquet``,
join the two versions on the id, accuracy per version and the flip counts. Each route runs in
a fresh process (median of ``--repeats``); the table gives time and peak RSS and checks that
both routes count the same flips. A third route times the per-slice comparison over 50 saved
slices (country x device, each merchant category, each channel, returning customers): the
paired table with the columns they test, and every slice's paired test in one pass.

A fourth route is the floor: the same join, accuracies and flips in plain DuckDB SQL, no
Sleuth, run in the same turns so the verdict can be read against it under any load.

Run: ``.venv/bin/python tests/bench/bench_compare.py [--rows 10000000] [--repeats 3]``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import duckdb  # noqa: E402

from tests.bench.common import (  # noqa: E402
    CACHE_DIR, _normal, _uniform, budget_verdict, load_range, machine_note, markdown_table, median_spread,
    medians, megabytes, parse_args, ratio, run_child_if_asked, runs_in_turns, seconds,
)
from analysis.scope import Scope

SHADOW_SCHEMA_VERSION = 1


def shadow_log(rows: int) -> Path:
    """The cached shadow log of ``rows`` rows (``rows / 2`` requests x 2 versions)."""
    path = CACHE_DIR / f"shadow-{rows}-v{SHADOW_SCHEMA_VERSION}.parquet"
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    requests = rows // 2
    numeric = ", ".join(f"{_normal('i', 10 + 2 * k)} * {k + 1} AS f_num_{k:02d}" for k in range(13))
    counts = ", ".join(f"CAST(floor(-ln(1 - {_uniform('i', 40 + k)}) * {3 * (k + 1)}) AS INTEGER) AS f_int_{k:02d}"
                       for k in range(6))
    score = ("1 / (1 + exp(-(-1.2 + (0.9 + 0.3 * k * (country <> 'NG')::INT - 0.6 * k * (country = 'NG')::INT) * f_num_00 "
             "+ 0.35 * f_num_01 + 0.4 * (noise_b * (1 - k) + noise_c * k))))")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"""
COPY (
WITH base AS (
  SELECT i, {numeric}, {counts},
    ['US','GB','DE','FR','IN','BR','JP','NG'][1 + CAST(floor({_uniform('i', 60)} * 8) AS INTEGER)] AS country,
    ['ios','android','web'][1 + CAST(floor({_uniform('i', 61)} * 3) AS INTEGER)] AS device,
    ['organic','ads','email','partner','referral'][1 + CAST(floor({_uniform('i', 62)} * 5) AS INTEGER)] AS channel,
    'mcc_' || CAST(CAST(floor({_uniform('i', 63)} * 20) AS INTEGER) AS VARCHAR) AS merchant_category,
    {_uniform('i', 64)} < 0.4 AS is_returning,
    {_uniform('i', 66)} AS u_label, {_uniform('i', 67)} AS u_missing,
    {_normal('i', 70)} AS noise_b, {_normal('i', 72)} AS noise_c,
    1 / (1 + exp(-(-1.2 + 1.2 * f_num_00 + 0.35 * f_num_01))) AS p_true
  FROM range({requests}) AS t(i)
),
scored AS (SELECT *, {score} AS s FROM base CROSS JOIN (VALUES (0), (1)) AS v(k))
SELECT printf('req-%012d', i) AS request_id,
  TIMESTAMP '2026-01-01' + to_seconds(CAST(i * 2592000 // {requests} AS BIGINT)) AS timestamp,
  ['v1', 'v2'][k + 1] AS model_version,
  CASE WHEN u_missing < 0.1 THEN NULL ELSE CAST(u_label < p_true AS INTEGER) END AS label,
  s AS score, CAST(s >= 0.5 AS INTEGER) AS prediction,
  f_num_00, f_num_01, f_num_02, f_num_03, f_num_04, f_num_05, f_num_06, f_num_07, f_num_08, f_num_09,
  f_num_10, f_num_11, f_num_12, f_int_00, f_int_01, f_int_02, f_int_03, f_int_04, f_int_05,
  country, device, channel, merchant_category, is_returning
FROM scored ORDER BY i, k
) TO '{partial}' (FORMAT parquet)""")
    finally:
        con.close()
    partial.rename(path)
    return path


def sleuth_route(log: Path) -> dict:
    from analysis.compare.report import run_comparison
    from analysis.data.open_log import load_log
    from analysis.store import Store

    started = time.perf_counter()
    from analysis.store import APP_MEMORY_LIMIT as DUCKDB_MEMORY_LIMIT

    cpu_at_start = cpu_seconds()
    store = Store(memory_limit=DUCKDB_MEMORY_LIMIT)  # as `sleuth compare` runs it
    loaded = load_log(store, [str(log)], check=False)
    loaded_at = time.perf_counter() - started
    verdict_at, verdict_cpu = [], []

    def verdict_handed_over(_verdict) -> None:
        verdict_at.append(time.perf_counter() - started)
        verdict_cpu.append(cpu_seconds() - cpu_at_start)

    report = run_comparison(Scope(store, loaded.dataset, loaded.roles), "v1", "v2",
                            partial=verdict_handed_over).report
    return {"seconds": time.perf_counter() - started, "verdict_seconds": verdict_at[0],
            "load_seconds": loaded_at, "compared_seconds": verdict_at[0] - loaded_at,
            "verdict_cpu_s": verdict_cpu[0], "negative": report["flips"]["negative"],
            "positive": report["flips"]["positive"], "top_slice": report["regressed_slices"][0]["predicate"]
            if report["regressed_slices"] else ""}


def cpu_seconds() -> float:
    """CPU seconds of this process and its ended children (the load's file probe runs in one):
    the verdict's work, which the machine's load stretches in wall time far less."""
    spent = os.times()
    return spent.user + spent.system + spent.children_user + spent.children_system


def saved_slices() -> list:
    """50 saved slices over the shadow log's categorical columns."""
    from analysis.slices import Compare, Slice

    countries = ['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'NG']
    predicates = [Compare("country", "=", c) & Compare("device", "=", d) for c in countries for d in ("ios", "android", "web")]
    predicates += [Compare("merchant_category", "=", f"mcc_{k}") for k in range(20)]
    predicates += [Compare("channel", "=", c) for c in ("organic", "ads", "email", "partner", "referral")]
    predicates.append(Compare("is_returning", "=", True))
    return [Slice(p) for p in predicates]


def slices_route(log: Path) -> dict:
    from analysis.compare.regressed_slices import SliceSettings, regressed_slices
    from analysis.data.open_log import load_log
    from analysis.store import Store
    from analysis.store import APP_MEMORY_LIMIT as DUCKDB_MEMORY_LIMIT

    store = Store(memory_limit=DUCKDB_MEMORY_LIMIT)
    loaded = load_log(store, [str(log)], check=False)
    saved = saved_slices()
    started = time.perf_counter()
    found = regressed_slices(Scope(store, loaded.dataset, loaded.roles), "v1", "v2",
                             SliceSettings(saved=saved, discover=False))
    return {"seconds": time.perf_counter() - started, "slices": len(saved), "regressed": len(found),
            "top_slice": found[0].predicate_text if found else ""}


def floor_route(log: Path) -> dict:
    """Plain DuckDB SQL on the file, no Sleuth: join the versions on the id, accuracy of each,
    the flips. What the verdict cannot beat, measured under the same load as the rest."""
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        negative, positive, _, _ = con.execute(f"""
WITH v AS (SELECT request_id, model_version, label, prediction FROM read_parquet('{log}')),
pairs AS (SELECT c.label AS y, b.prediction = c.label AS b_ok, c.prediction = c.label AS c_ok
          FROM v AS c JOIN v AS b ON c.request_id = b.request_id
          WHERE c.model_version = 'v2' AND b.model_version = 'v1' AND c.label IS NOT NULL)
SELECT COUNT(*) FILTER (WHERE b_ok AND NOT c_ok), COUNT(*) FILTER (WHERE c_ok AND NOT b_ok), AVG(b_ok::INT),
       AVG(c_ok::INT) FROM pairs""").fetchone()
    finally:
        con.close()
    return {"seconds": time.perf_counter() - started, "negative": int(negative), "positive": int(positive)}


def notebook_route(log: Path) -> dict:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(log)
    base = frame[frame.model_version == "v1"]
    cand = frame[frame.model_version == "v2"]
    pairs = cand.merge(base, on="request_id", suffixes=("_c", "_b"))
    pairs = pairs[pairs.label_c.notna()]
    base_ok = pairs.prediction_b == pairs.label_c
    cand_ok = pairs.prediction_c == pairs.label_c
    _ = base_ok.mean(), cand_ok.mean()
    return {"seconds": time.perf_counter() - started, "negative": int((base_ok & ~cand_ok).sum()),
            "positive": int((~base_ok & cand_ok).sum())}


ROUTES = {"sleuth": sleuth_route, "notebook": notebook_route, "floor": floor_route, "slices": slices_route}


VERDICT_BUDGET_S = 2.0
PEAK_BUDGET_MB = 1536


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    log = shadow_log(args.rows)
    script = str(Path(__file__).resolve())
    runs = runs_in_turns(script, ("sleuth", "notebook", "floor", "slices"), log, args.repeats)
    for sleuth_run, notebook_run in zip(runs["sleuth"], runs["notebook"]):
        sleuth_run["share_of_notebook"] = sleuth_run["seconds"] / notebook_run["seconds"]
    sleuth, notebook, slices = (medians(runs[route]) for route in ("sleuth", "notebook", "slices"))
    print(machine_note(args.rows, args.repeats))
    print(markdown_table(
        ["route", "time", "peak RSS", "load before the runs"],
        [["Sleuth compare: the verdict (pairing, metrics but AUC, flips)",
          median_spread(runs["sleuth"], "verdict_seconds", seconds), "", ""],
         ["  of it, opening the log (file probe, roles)", median_spread(runs["sleuth"], "load_seconds", seconds), "", ""],
         ["  of it, comparing until the verdict (the panel's wait, the log open)",
          median_spread(runs["sleuth"], "compared_seconds", seconds), "", ""],
         ["  the verdict's CPU (load included, with the probe child)",
          median_spread(runs["sleuth"], "verdict_cpu_s", seconds), "", ""],
         ["Sleuth compare (full report)", median_spread(runs["sleuth"], "seconds", seconds),
          median_spread(runs["sleuth"], "peak_rss_mb", megabytes), load_range(runs["sleuth"])],
         ["Notebook (pandas join, accuracy, flips)", median_spread(runs["notebook"], "seconds", seconds),
          median_spread(runs["notebook"], "peak_rss_mb", megabytes), load_range(runs["notebook"])],
         ["Floor: plain DuckDB SQL (join, accuracy, flips)", median_spread(runs["floor"], "seconds", seconds),
          median_spread(runs["floor"], "peak_rss_mb", megabytes), load_range(runs["floor"])],
         ["ratio notebook / Sleuth (medians)", ratio(notebook["seconds"], sleuth["seconds"]),
          ratio(notebook["peak_rss_mb"], sleuth["peak_rss_mb"]), ""]],
    ))
    print(f"\nBudgets, judged on every run: verdict < {VERDICT_BUDGET_S:.0f} s: "
          f"{budget_verdict(runs['sleuth'], 'verdict_seconds', VERDICT_BUDGET_S)}; whole report <= half the "
          f"notebook's time in the same turn: {budget_verdict(runs['sleuth'], 'share_of_notebook', 0.5)}; "
          f"peak < {PEAK_BUDGET_MB} MB: {budget_verdict(runs['sleuth'], 'peak_rss_mb', PEAK_BUDGET_MB)}.")
    same = all((s["negative"], s["positive"]) == (n["negative"], n["positive"]) == (f["negative"], f["positive"])
               for s, n, f in zip(runs["sleuth"], runs["notebook"], runs["floor"]))
    print(f"Per-slice comparison over {slices['slices']} saved slices (pairing, paired table, tests): "
          f"{median_spread(runs['slices'], 'seconds', seconds)}, "
          f"{median_spread(runs['slices'], 'peak_rss_mb', megabytes)} peak, {load_range(runs['slices'])}; "
          f"{slices['regressed']} worse, worst: {slices['top_slice']}")
    print(f"Flip counts equal in every run: {'yes' if same else 'NO'} ({sleuth['negative']:,} negative, "
          f"{sleuth['positive']:,} positive); top regressed slice: {sleuth['top_slice']}")


if __name__ == "__main__":
    if not run_child_if_asked(ROUTES):
        main()
