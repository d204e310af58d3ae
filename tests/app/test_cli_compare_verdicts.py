"""``sleuth compare --workspace`` keeps the verdict and ``sleuth report`` lists it: which
versions, the verdict, the metric's difference with its interval and the flips, as the
comparison computed them (checked against pandas on the same rows)."""

import json
from functools import partial

import markupsafe
import numpy as np
import pandas as pd
import pytest

from analysis.report.formatting import interval, signed
from tests.app.run_cli import sleuth_in_process

_sleuth = partial(sleuth_in_process, check=True)


@pytest.fixture(scope="module")
def shadow_log(tmp_path_factory):
    """Shadow traffic: every request scored by v1 and by v2, whose scores are much noisier."""
    rng = np.random.default_rng(3)
    n = 3000
    label = (rng.random(n) < 0.3).astype(int)
    frames = []
    for version, noise in (("v1", 0.2), ("v2", 0.45)):
        score = np.clip(label * 0.6 + 0.2 + rng.normal(0, noise, n), 0, 1)
        frames.append(pd.DataFrame({"id": [f"r{i}" for i in range(n)], "model_version": version,
                                    "segment": rng.choice(["a", "b"], n), "label": label, "score": score,
                                    "prediction": (score >= 0.5).astype(int)}))
    frame = pd.concat(frames, ignore_index=True)
    path = tmp_path_factory.mktemp("compare") / "shadow.parquet"
    frame.to_parquet(path)
    return path, frame


def test_the_report_lists_each_kept_verdict_with_its_numbers(shadow_log, tmp_path):
    path, frame = shadow_log
    workspace = tmp_path / "review.sleuth"
    worse = json.loads(_sleuth("compare", path, "--base", "v1", "--candidate", "v2", "--workspace", workspace,
                               "--json").stdout)
    _sleuth("compare", path, "--base", "v2", "--candidate", "v1", "--workspace", workspace)
    right = frame.assign(ok=frame["prediction"] == frame["label"]).pivot(index="id", columns="model_version",
                                                                        values="ok")
    negative = int((right["v1"] & ~right["v2"]).sum())
    assert worse["flips"]["negative"] == negative > 0
    accuracy = next(m for m in worse["overall"] if m["metric"] == "accuracy")
    assert accuracy["diff"] == pytest.approx(right["v2"].mean() - right["v1"].mean())

    _sleuth("report", workspace, "--out", tmp_path / "r.md")
    _sleuth("report", workspace, "--out", tmp_path / "r.html")
    markdown, html = (tmp_path / "r.md").read_text(), (tmp_path / "r.html").read_text()
    lines = [line for line in markdown.splitlines() if " vs v" in line]
    assert len(lines) == 2
    first, second = lines
    assert "v2 vs v1" in first and "**worse**" in first and "v1 vs v2" in second and "**better**" in second
    assert f"accuracy {signed(accuracy['diff'])} {interval(*accuracy['ci'], with_sign=True)}" in first
    assert f"flips {negative} negative" in first and f"{negative} positive" in second
    assert str(markupsafe.escape("v2 vs v1")) in html and "<td>worse" in html and "<td>better" in html


def test_a_report_since_after_the_comparisons_lists_none(shadow_log, tmp_path):
    path, _ = shadow_log
    workspace = tmp_path / "review.sleuth"
    _sleuth("compare", path, "--base", "v1", "--candidate", "v2", "--workspace", workspace)
    _sleuth("report", workspace, "--since", "2999-01-01", "--out", tmp_path / "r.md")
    assert "No comparison in the period." in (tmp_path / "r.md").read_text()
