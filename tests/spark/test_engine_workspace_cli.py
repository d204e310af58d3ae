"""``--rules``, ``--golden`` and ``info``'s log checks with ``--engine``, against the local Spark
Connect server: the same JSON as without ``--engine`` on the same file (floats to the last bits).

The rules' derived version and the golden restriction run on the cluster through the one query
layer (the rules' SQL written once; a view's rename and catalog lookup answered by the Spark store);
the log checks are the same aggregates, counted there.
"""

from __future__ import annotations

import json

import pytest

from app.cli import main
from tests.spark.test_spark_engine import assert_same

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace_demo(window_demo_files, narrow_demo_log, tmp_path_factory):
    """The narrow demo log (Spark's plans grow with the columns: ``narrow_demo_log``), a rule
    routing its weak version's weak slice to the other version, and a golden set of that slice's
    requests: made locally, while the server's JVM starts."""
    folder = tmp_path_factory.mktemp("engine-workspace")
    log = narrow_demo_log
    manifest = json.loads(window_demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["kind"] == "weak_subpopulation")
    weak = incident["versions"][0]
    other = next(v["version"] for v in manifest["versions"] if v["version"] != weak)
    workspace = folder / "team.sleuth"
    assert main(["rule", "add", str(workspace), "--base", weak, "--where", incident["predicate"], "--route", other,
                 "--log", str(log)]) == 0
    assert main(["golden", "add", str(workspace), str(log), "--where", incident["predicate"],
                 "--version", other, "--group", "weak"]) == 0
    return log, workspace, weak, other, incident["predicate"]


def both(capsys, argv, url):
    """The JSON of ``argv`` with ``--engine url`` and without."""
    assert main([*argv, "--engine", url]) == 0, capsys.readouterr().err
    on_spark = json.loads(capsys.readouterr().out)
    assert main(argv) == 0, capsys.readouterr().err
    return on_spark, json.loads(capsys.readouterr().out)


def test_rules_and_golden_run_on_the_engine_as_on_duckdb(workspace_demo, spark_url, capsys):
    log, workspace, weak, other, predicate = workspace_demo
    capsys.readouterr()
    # Slices of one condition, as the rule's is: deeper levels are most of a search's statements on
    # the server (searched there by test_spark_engine's slices and discovery tests), and on this log
    # a part of the rule's slice where the routed version disagrees more often would outrank it.
    level = ["--max-level", "1"]
    argv = ["compare", str(log), "--rules", str(workspace), "--golden", str(workspace), "--base", other,
            "--candidate", f"{weak}+rules", *level, "--json"]
    on_spark, on_duckdb = both(capsys, argv, spark_url)
    assert on_duckdb["candidate"] == f"{weak}+rules" and on_duckdb["paired_rows"] > 0
    assert_same(on_spark, on_duckdb, "compare")
    assert main([*argv[:4], *argv[6:]]) == 0  # without --golden: every paired request, not the golden ones
    assert json.loads(capsys.readouterr().out)["paired_rows"] > on_duckdb["paired_rows"]

    slices = ["slices", str(log), "--version", weak, "--against", f"{weak}+rules", "--error", "disagree",
              "--rules", str(workspace), "--top", "3", *level, "--json"]
    on_spark, on_duckdb = both(capsys, slices, spark_url)
    assert on_duckdb[0]["predicate"] == predicate  # the rule's slice is where the derived version differs
    assert_same(on_spark, on_duckdb, "slices")


def test_info_runs_the_log_checks_on_the_engine_and_says_which(info_on_both, spark_url):
    from analysis.engine.spark_log import CHECKS_ON_ENGINE, NOT_CHECKED

    on_spark, on_duckdb, sent = info_on_both
    assert on_duckdb["issues"], "the demo's planted problems give the checks something to find"
    assert on_spark["issues"] == on_duckdb["issues"]
    assert on_spark["checks"] == {"engine": spark_url, "run": list(CHECKS_ON_ENGINE), "not_run": NOT_CHECKED}
    # the label coverage the checks counted is the report's: counted once on the cluster
    assert sum(text.startswith('SELECT count("is_fraud"), count(*)') for text in sent) == 1
    assert "checks" not in on_duckdb and on_spark["warnings"] == on_duckdb["warnings"] == []
