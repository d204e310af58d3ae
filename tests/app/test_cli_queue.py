"""``sleuth queue`` and ``sleuth report`` from the command line, on the demo log: the JSON
shapes, the decision recorded, and a report that renders (PDF pages not blank, every group
named in its text)."""

import base64
import json
import re
import shutil
import subprocess
import unicodedata
from functools import partial
from xml.etree import ElementTree

import markupsafe
import pandas as pd
import pytest

from analysis.queue.discoveries import DiscoveryCache
from analysis.trace.influence_linear import LinearInfluence
from tests.app.pdf_pages import DARK_PIXELS_OF_A_LINE, dark_pixels_per_page
from tests.app.run_cli import ReusedCheck, sleuth_in_process

# One discovery cache for the module's commands, as one long-lived caller of main() would keep:
# several tests queue the same rows (the 200k month whole, its first weeks twice), and the
# search is most of an intake's CPU. Each test still reads what its own command printed.
_sleuth = partial(sleuth_in_process, check=True, discoveries=DiscoveryCache())


@pytest.fixture
def demo_checker(demo_files, demo_check):
    """What a new workspace's first ``queue add`` of the 200k demo checks, the session's check
    (the check's own findings are tested in tests/analysis/triage)."""
    return ReusedCheck(demo_files, demo_check)


@pytest.fixture
def window_checker(window_demo_files, window_demo_check):
    """The same for the 20k demo."""
    return ReusedCheck(window_demo_files, window_demo_check)


@pytest.fixture(scope="module")
def reviewed(window_demo_files, window_demo_check, tmp_path_factory):
    """A workspace created by ``queue add`` (sampled), with one decision: on the 20k-row demo,
    whose largest groups still hold more failures than the sample keeps."""
    workspace = tmp_path_factory.mktemp("cli") / "review.sleuth"
    added = json.loads(_sleuth("queue", "add", workspace, window_demo_files.log, "--sample", "25", "--json",
                               checker=ReusedCheck(window_demo_files, window_demo_check)).stdout)
    group = added["groups"][0]["id"]
    _sleuth("queue", "decide", workspace, group, "--decision", "collect", "--note", "kiosk unseen", "--owner", "ana",
            "--user", "bo")
    return workspace, added, group


def test_add_creates_the_workspace_and_reports_its_groups(reviewed):
    _, added, _ = reviewed
    assert added["added"] > 0 and added["duplicates"] == 0 and added["counted"] > 0  # the sample left some out
    assert all(g["items"] <= 25 for g in added["groups"])
    assert added["added"] + added["counted"] == sum(g["impact"]["failures"] for g in added["groups"])
    assert set(added["groups"][0]) >= {"id", "title", "slice", "items", "impact", "status", "tags", "owner", "decision"}


def _demo_failures(demo_files, since, until) -> int:
    """Failed predictions (labelled, wrong class) of the demo log in [since, until), by pandas."""
    log = pd.read_parquet(demo_files.log, columns=["timestamp", "is_fraud", "prediction"])
    inside = (log["timestamp"] >= since) & (log["timestamp"] < until)
    return int((inside & log["is_fraud"].notna() & (log["is_fraud"] != log["prediction"])).sum())


def test_the_same_log_added_twice_with_a_sample_counts_its_failures_once(window_demo_files, window_checker,
                                                                         tmp_path):
    """Issue 16: reading the same rows again with ``--sample`` changes no group's count; a later
    week adds exactly its failures."""
    workspace, start = tmp_path / "weekly.sleuth", pd.Timestamp("2026-10-01")
    week, two_weeks = start + pd.Timedelta(days=7), start + pd.Timedelta(days=14)

    def add(until):
        return json.loads(_sleuth("queue", "add", workspace, window_demo_files.log, "--where",
                                  f"timestamp < '{until.date()}'", "--sample", "25", "--json",
                                  checker=window_checker).stdout)

    def counts():
        listed = json.loads(_sleuth("queue", "list", workspace, "--json").stdout)
        return listed["failures"], {g["id"]: (g["impact"]["failures"], g["items"]) for g in listed["groups"]}

    first = add(week)
    assert first["counted"] > 0
    assert counts()[0] == first["added"] + first["counted"] == _demo_failures(window_demo_files, start, week)
    before = counts()
    again = add(week)
    assert (again["added"], again["counted"], again["duplicates"]) == (0, 0, first["added"] + first["counted"])
    assert counts() == before
    later = add(two_weeks)
    assert later["added"] + later["counted"] == _demo_failures(window_demo_files, week, two_weeks)
    assert counts()[0] == _demo_failures(window_demo_files, start, two_weeks)


def test_list_shows_the_decision_and_filters_by_status(reviewed):
    workspace, added, group = reviewed
    listed = json.loads(_sleuth("queue", "list", workspace, "--json").stdout)
    assert listed["items"] == added["added"]
    decided = json.loads(_sleuth("queue", "list", workspace, "--status", "decided", "--json").stdout)["groups"]
    assert [(g["id"], g["decision"], g["owner"]) for g in decided] == [(group, "collect", "ana")]


def test_the_history_names_who_decided(reviewed):
    from analysis.queue.failure_queue import FailureQueue
    from analysis.workspace.workspace_file import Workspace

    workspace, _, group = reviewed
    opened = Workspace.open(workspace, create=False)
    decided = [h for h in FailureQueue(opened).history() if h.target == f"group {group}" and h.what.startswith("Decide")]
    opened.close()
    assert [(h.who, h.after["decision"], h.after["rationale"]) for h in decided] == [("bo", "collect", "kiosk unseen")]


def test_bad_group_and_bad_decision_are_one_line_errors(reviewed):
    workspace, _, _ = reviewed
    missing = _sleuth("queue", "decide", workspace, 999, "--decision", "fix", check=False)
    assert missing.returncode == 2 and "no group 999" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert _sleuth("queue", "decide", workspace, 1, "--decision", "pray", check=False).returncode == 2


def test_relabel_without_a_snapshot_is_a_one_line_error(reviewed, tmp_path):
    workspace, _, group = reviewed
    result = _sleuth("queue", "export", workspace, group, "--as", "relabel", "--out", tmp_path / "r", check=False)
    assert result.returncode == 2 and "--train" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_collect_export_writes_the_request(reviewed, tmp_path):
    workspace, _, group = reviewed
    _sleuth("queue", "export", workspace, group, "--as", "collect", "--out", tmp_path / "request")
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["predicate"] and request["examples"]
    assert (tmp_path / "request.csv").read_text().count("\n") == len(request["examples"]) + 1


def _squeezed(text):
    """Text without ligatures, spaces, hyphens and page numbers (PDF text joins "fi", wraps,
    hyphenates and breaks long titles across pages, where Qt prints the page number)."""
    text = unicodedata.normalize("NFKC", text)
    lines = [line for line in text.replace("\f", "\n").splitlines() if not line.strip().isdigit()]
    return re.sub(r"[\s\-]", "", "".join(lines))


def test_html_and_markdown_reports_name_every_group(reviewed, tmp_path):
    workspace, _, _ = reviewed
    titles = [g["title"] for g in json.loads(_sleuth("queue", "list", workspace, "--json").stdout)["groups"]]
    _sleuth("report", workspace, "--out", tmp_path / "r.html")
    _sleuth("report", workspace, "--out", tmp_path / "r.md")
    html, markdown = (tmp_path / "r.html").read_text(), (tmp_path / "r.md").read_text()
    charts = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert charts and "src=\"http" not in html
    drawn = [ElementTree.fromstring(base64.b64decode(chart)) for chart in charts]
    assert drawn[0].find(".//{http://www.w3.org/2000/svg}rect[@data-value]") is not None  # failures per group
    assert any(svg.find(".//{http://www.w3.org/2000/svg}polyline") is not None for svg in drawn)  # error over time
    for title in titles:
        assert title in markdown
        assert str(markupsafe.escape(title)) in html
    assert "| " in markdown and "collect | ana" in markdown


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext, pdftoppm)")
def test_pdf_report_has_ink_on_every_page_and_names_every_group(reviewed, tmp_path, qapp):
    """In this process, on the test session's Qt application (``write_pdf`` takes the one that
    exists, as tests/app/test_report_pdf.py does): a fresh interpreter would only add its start
    and imports; tests/app/test_cli.py's screenshot test runs the command line in one."""
    workspace, _, _ = reviewed
    titles = [g["title"] for g in json.loads(_sleuth("queue", "list", workspace, "--json").stdout)["groups"]]
    pdf = tmp_path / "r.pdf"
    _sleuth("report", workspace, "--out", pdf)
    text = subprocess.run(["pdftotext", "-raw", pdf, "-"], capture_output=True, text=True, check=True).stdout
    for title in titles:
        assert _squeezed(title) in _squeezed(text), title
    inked = dark_pixels_per_page(pdf, tmp_path)
    assert inked and all(dark > DARK_PIXELS_OF_A_LINE for dark in inked), inked


def test_train_on_a_two_version_log_needs_the_models_version(window_demo_files, window_checker, tmp_path):
    """A model file whose name names no version cannot be matched to one of the log's versions:
    tracing another version's failures through it would blame the wrong training rows."""
    model = tmp_path / "model.skops"
    shutil.copy(window_demo_files.models["fraud-lr-2026.09"], model)
    result = _sleuth("queue", "add", tmp_path / "w.sleuth", window_demo_files.log, "--train",
                     window_demo_files.training, "--model", model, check=False, checker=window_checker)
    assert result.returncode == 2 and "--version" in result.stderr and "fraud-lr-2026.09" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# On the 200k demo: the 20k demo's first week has too few of the category's failures for blame to
# single out the flipped batch (no batch group at all).
def test_train_groups_the_flipped_categorys_failures_under_the_blamed_batch(demo_files, demo_checker, tmp_path,
                                                                           monkeypatch):
    """``--train``/``--model`` reach the intake: the linear version's failures in the category whose
    training labels the manifest says were flipped form a group blaming the flipped batch. The
    intake's blame and each slice group's blame test the same model, so each training batch is
    refitted once, not once per blame."""
    refitted = []
    refit_without = LinearInfluence.refit_without
    monkeypatch.setattr(LinearInfluence, "refit_without",
                        lambda state, removed: refitted.append(removed.sum()) or refit_without(state, removed))
    manifest = json.loads(demo_files.manifest.read_text())
    incident = next(i for i in manifest["incidents"] if i["kind"] == "label_noise")
    added = json.loads(_sleuth(
        "queue", "add", tmp_path / "w.sleuth", demo_files.log, "--where",
        f"merchant_category = '{incident['category']}' AND timestamp < '2026-10-08'",
        "--train", demo_files.training, "--model", demo_files.models["fraud-lr-2026.09"], "--json",
        checker=demo_checker).stdout)
    batches = [g for g in added["groups"] if g["reason"] == "batch"]
    assert batches and all(g["version"] == "fraud-lr-2026.09" for g in batches)
    largest = max(batches, key=lambda g: g["impact"]["failures"])
    assert f"source = {incident['source']}" in largest["title"], largest["title"]
    assert added["blamed"]  # the groups' blame ran after the intake's
    training_batches = pd.read_parquet(demo_files.training, columns=["source"])["source"].value_counts()
    assert sorted(refitted) == sorted(training_batches), refitted  # each batch's rows removed once


def test_trace_at_most_caps_the_failures_blame_traces_and_says_so(window_demo_files, window_checker, tmp_path):
    """``--trace-at-most N`` reaches the intake: N of the version's failures are traced, and the
    output says how many of how many (the rest join the batch's group only when the model without
    it gets them right)."""
    added = json.loads(_sleuth(
        "queue", "add", tmp_path / "w.sleuth", window_demo_files.log, "--where", "timestamp < '2026-10-03'",
        "--version", "fraud-lr-2026.09", "--train", window_demo_files.training, "--model",
        window_demo_files.models["fraud-lr-2026.09"], "--trace-at-most", "20", "--json", checker=window_checker).stdout)
    failures = sum(g["impact"]["failures"] for g in added["groups"])
    assert failures > 20
    # before the new version scored any request: the other note says no regression group was formed
    traced = [note for note in added["notes"] if "regression groups were not formed" not in note]
    assert traced == [f"version fraud-lr-2026.09: traced 20 of {failures:,} failures to training batches "
                              "(a uniform sample, at most 20 per version); the rest join a blamed batch's group when "
                              "the model without it gets them right, else their slice's"]
    batches = [g for g in added["groups"] if g["reason"] == "batch"]
    assert sum(g["impact"]["failures"] - g["blamed_batch"]["untraced_fixed"] for g in batches) <= 20
    assert all(g["blamed_batch"]["traced_failures"] == 20 for g in batches)
    assert all(g["impact"]["failures"] == g["blamed_batch"]["failures"] for g in batches)


# On the 200k demo: on 20k rows the check names the swapped client's finding a unit change, not a swap.
def test_check_keeps_its_findings_for_the_meeting_and_the_next_intake(demo_files, demo_checker, tmp_path):
    """``queue add --check`` keeps the check's findings in the workspace: the swapped client's
    finding group finds its sentence there (what the meeting shows), and a later intake without
    ``--check`` still groups the client's new failures under that finding."""
    from analysis.queue.failure_queue import FailureQueue
    from analysis.queue.group_evidence import group_finding
    from analysis.workspace.workspace_file import Workspace

    workspace = tmp_path / "checked.sleuth"
    first = json.loads(_sleuth("queue", "add", workspace, demo_files.log, "--where", "timestamp < '2026-10-25'",
                               "--check", "--sample", "5", "--json", checker=demo_checker).stdout)
    swap = next(g for g in first["groups"] if g["reason"] == "finding" and "swap" in g["title"]
                and g["version"] == "fraud-lr-2026.09")
    later = json.loads(_sleuth("queue", "add", workspace, demo_files.log, "--where", "timestamp >= '2026-10-25'",
                               "--sample", "5", "--json", checker=demo_checker).stdout)  # the next week's rows
    assert later["added"] + later["counted"] > 0
    assert demo_checker.reused == 1  # checked by --check; the next intake used the kept findings
    opened = Workspace.open(workspace)
    try:
        queue = FailureQueue(opened)
        kept = group_finding(queue, queue.group(swap["id"]))
        assert kept is not None and sorted(kept["columns"]) == ["amount", "distance_from_home_km"]
        assert "swapped" in kept["sentence"]
        assert queue.group(swap["id"]).failures > swap["impact"]["failures"]
    finally:
        opened.close()


def _stationary_log(path, rows=6000, seed=21):
    """A month of predictions with nothing planted: every column drawn from the same
    distribution all month (no nulls, swaps, drift or new values), one model version wrong on
    15% of rows at random. The demo's clean month needs 200k rows for its checks to stay
    silent (its 20k-row cut raises seven findings); this log is silent at 6,000 and costs a
    fraction of generating and checking the demo."""
    import numpy as np

    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 30 * 86400, rows))
    segment = rng.choice(["web", "mobile", "kiosk"], rows, p=[0.5, 0.3, 0.2])
    label = (rng.random(rows) < 0.1 + 0.2 * (segment == "kiosk")).astype(int)
    wrong = rng.random(rows) < 0.15
    pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)],
                  "timestamp": pd.Timestamp("2026-10-01") + pd.to_timedelta(seconds, unit="s"),
                  "model_version": "v1", "amount": rng.gamma(2.0, 40.0, rows).round(2), "segment": segment,
                  "is_fraud": label, "prediction": np.where(wrong, 1 - label, label)}).to_parquet(path)
    return path


def test_a_clean_check_is_kept_and_not_run_again_at_the_next_intake(tmp_path):
    """A log whose check finds nothing: the first ``queue add`` checks it and the workspace keeps
    "checked, no findings" with the check's reference and time; the next intake uses that (the
    time is unchanged) instead of checking again, and ``--check`` checks again."""
    from analysis.workspace.workspace_file import Workspace

    workspace, log = tmp_path / "clean.sleuth", _stationary_log(tmp_path / "clean.parquet")

    def last_check() -> dict:
        opened = Workspace.open(workspace)
        try:
            name = opened.datasets()[0].name
            return opened.last_check(name)
        finally:
            opened.close()

    added = json.loads(_sleuth("queue", "add", workspace, log, "--json").stdout)
    assert added["added"] > 0
    first = last_check()
    assert first["findings"] == 0 and first["reference"] and first["checked_at"] is not None
    _sleuth("queue", "add", workspace, log, "--json")
    assert last_check() == first
    _sleuth("queue", "add", workspace, log, "--check", "--json")
    assert last_check()["checked_at"] > first["checked_at"]


# On the 200k demo: on 20k rows the swap is found as a unit change (see above).
def test_a_first_queue_add_without_check_still_groups_the_swap_by_its_finding(demo_files, demo_checker, tmp_path):
    """Issue 16's swap split, on the user's default path: a new workspace (no check kept) and a
    plain ``queue add``. The checks run first and are kept, so the swapped client's failures
    are one pure finding group, not the two failing slices discovery alone would give."""
    from analysis.queue.failure_queue import FailureQueue
    from analysis.workspace.workspace_file import Workspace
    from tests.analysis.queue.test_grouping import _purity_and_recall

    workspace = tmp_path / "fresh.sleuth"
    _sleuth("queue", "add", workspace, demo_files.log, "--json", checker=demo_checker)
    assert demo_checker.reused == 1  # no check kept: the log was checked first
    incidents = {i["id"]: i for i in json.loads(demo_files.manifest.read_text())["incidents"]}
    opened = Workspace.open(workspace)
    try:
        group, purity, recall = _purity_and_recall(FailureQueue(opened), demo_files, incidents, "b",
                                                   "fraud-lr-2026.09")
        assert group.reason == "finding" and "swap" in group.title, group.title
        assert purity >= 0.9 and recall >= 0.8, (purity, recall)
        assert any(f["kind"] == "swap" for f in opened.findings(group.dataset)[1])
    finally:
        opened.close()


def test_queue_add_and_golden_add_take_the_label_they_are_told(tmp_path):
    """Issue 13: every command that reads a log takes role overrides; ``--label`` names the
    ground truth where the column detection would pick (named ``label``) is not it."""
    import numpy as np

    rng = np.random.default_rng(13)
    rows = 600
    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)],
                        "timestamp": pd.date_range("2026-05-01", periods=rows, freq="2h"),
                        "model_version": "v1", "amount": rng.gamma(2.0, 30.0, rows).round(2),
                        "prediction": rng.integers(0, 2, rows)})
    log["label"] = rng.integers(0, 2, rows)
    log["reviewed"] = np.where(rng.random(rows) < 0.9, log["prediction"], 1 - log["prediction"])
    log.loc[::7, "reviewed"] = None
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    added = json.loads(_sleuth("queue", "add", tmp_path / "q.sleuth", path, "--label", "reviewed", "--json").stdout)
    wrong = int((log["reviewed"].notna() & (log["reviewed"] != log["prediction"])).sum())
    assert added["added"] + added["counted"] == wrong != int((log["label"] != log["prediction"]).sum())
    golden = json.loads(_sleuth("golden", "add", tmp_path / "g.sleuth", path, "--where", "amount > 50",
                                "--label", "reviewed", "--json").stdout)
    assert golden["unlabelled"] == int((log["amount"] > 50).sum() - log.loc[log["amount"] > 50, "reviewed"].notna().sum())
