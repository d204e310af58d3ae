"""Wide logs (one score/prediction column per version): recognised, shown one row per version,
compared paired exactly as the same log written long; normal and multiclass logs untouched."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.compare.report import compare_report
from analysis.dataset import Column
from analysis.data.open_log import load_log
from analysis.data.loading import close_dataset, wide_view_name
from analysis.data.wide import detect_wide
from analysis.scope import Scope
from app.cli import main


def _long_log(n=3000, seed=3):
    """A shadow log: every request scored by v1 and v2; v2 is worse where segment = 'c'."""
    rng = np.random.default_rng(seed)
    requests = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="min"),
        "segment": rng.choice(["a", "b", "c"], n),
        "x": rng.normal(size=n),
        "label": (rng.random(n) < 0.3).astype(int),
    })
    frames = []
    for version, noise in (("v1", 0.3), ("v2", 0.2)):
        frame = requests.copy()
        spread = np.where(frame["segment"] == "c", 0.6, noise) if version == "v2" else noise
        frame["model_version"] = version
        frame["score"] = np.clip(frame["label"] * 0.6 + 0.2 + rng.normal(0, 1, n) * spread, 0, 1)
        frame["prediction"] = (frame["score"] >= 0.5).astype(int)
        frames.append(frame)
    return pd.concat(frames).sort_values(["request_id", "model_version"], kind="stable").reset_index(drop=True)


def _wide(long: pd.DataFrame) -> pd.DataFrame:
    """The same log with one row per request and ``score_<v>``, ``pred_<v>`` columns."""
    keys = ["request_id", "ts", "segment", "x", "label"]
    wide = long.pivot(index=keys, columns="model_version", values=["score", "prediction"])
    wide.columns = [f"{'score' if what == 'score' else 'pred'}_{version}" for what, version in wide.columns]
    return wide.reset_index()


def _load(store, tmp_path, frame, name):
    path = tmp_path / name
    frame.to_parquet(path, index=False)
    return load_log(store, [str(path)], check=False), path


def test_wide_log_is_shown_long_with_roles_and_a_report_sentence(store, tmp_path):
    loaded, _ = _load(store, tmp_path, _wide(_long_log(200)), "wide.parquet")
    assert loaded.dataset.row_count == 400
    assert (loaded.roles.id, loaded.roles.model_version) == ("request_id", "model_version")
    assert loaded.roles.scores == ("score",) and loaded.roles.prediction == "prediction"
    assert set(loaded.roles.features) == {"segment", "x"}
    assert ("wide log: 2 versions (v1, v2) from columns score_v1, score_v2, pred_v1, pred_v2; "
            "shown one row per version") in loaded.dataset.report.warnings
    first = store.df(f'SELECT * FROM "{loaded.dataset.view}" WHERE request_id = \'r0\' ORDER BY _sleuth_row')
    assert list(first["model_version"]) == ["v1", "v2"] and list(first["_sleuth_row"]) == [0, 1]


def test_wide_log_compares_exactly_as_the_long_log(store, tmp_path):
    long = _long_log()
    long_loaded, _ = _load(store, tmp_path, long, "long.parquet")
    wide_loaded, _ = _load(store, tmp_path, _wide(long), "wide.parquet")
    from_long = compare_report(Scope(store, long_loaded.dataset, long_loaded.roles), "v1", "v2")
    from_wide = compare_report(Scope(store, wide_loaded.dataset, wide_loaded.roles), "v1", "v2")
    assert from_wide["paired"] and from_wide["rows"] == from_long["rows"] == 3000
    assert from_wide["flips"] == from_long["flips"]
    for mine, theirs in zip(from_wide["overall"], from_long["overall"]):
        assert mine["metric"] == theirs["metric"]
        assert (mine["diff"], *mine["ci"]) == pytest.approx((theirs["diff"], *theirs["ci"]), abs=1e-12)
    assert [(s["predicate"], s["rows"]) for s in from_wide["regressed_slices"]] == \
        [(s["predicate"], s["rows"]) for s in from_long["regressed_slices"]]
    assert from_wide["regressed_slices"][0]["predicate"] == "segment = 'c'"


def test_wide_log_without_an_id_pairs_by_row(store, tmp_path):
    wide = _wide(_long_log(500)).drop(columns=["request_id"])
    loaded, _ = _load(store, tmp_path, wide, "wide.parquet")
    report = compare_report(Scope(store, loaded.dataset, loaded.roles), "v1", "v2")
    assert report["paired"] and report["rows"] == 500
    labelled = wide.dropna(subset=["label"])
    negative = ((labelled["pred_v1"] == labelled["label"]) & (labelled["pred_v2"] != labelled["label"])).sum()
    assert report["flips"]["negative"] == negative


def test_cli_compares_a_wide_log_paired(tmp_path, capsys):
    path = tmp_path / "wide.parquet"
    _wide(_long_log(400)).to_parquet(path, index=False)
    assert main(["compare", str(path), "--base", "v1", "--candidate", "v2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["paired"] is True and report["rows"] == 400


@pytest.mark.parametrize("names", [
    ["request_id", "label", "score", "score_calibrated"],
    ["request_id", "label", "proba_cat", "proba_dog", "proba_bird"],
    ["request_id", "label", "proba_0", "proba_1", "proba_2"],
    ["request_id", "model_version", "label", "score_v1", "score_v2"],
    ["request_id", "label", "score", "score_v2"],
])
def test_detection_leaves_normal_and_multiclass_logs_alone(names):
    assert detect_wide(tuple(Column(n, "DOUBLE") for n in names)) is None


def test_detection_reads_named_versions_and_suffixes():
    layout = detect_wide(tuple(Column(n, "DOUBLE") for n in ["id", "champion_score", "challenger_score", "label"]))
    assert layout.versions == ("champion", "challenger") and layout.id_column == "id"
    assert layout.outcomes == {"score": ("champion_score", "challenger_score")}


def test_multiclass_log_keeps_its_class_probabilities(store, tmp_path):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(300)],
                          "label": rng.choice(["cat", "dog", "bird"], 300)})
    probabilities = rng.dirichlet([1, 1, 1], 300)
    for k, animal in enumerate(["cat", "dog", "bird"]):
        frame[f"proba_{animal}"] = probabilities[:, k]
    loaded, _ = _load(store, tmp_path, frame, "multi.parquet")
    assert loaded.dataset.row_count == 300 and loaded.dataset.report.warnings == ()
    assert loaded.roles.scores == ("proba_cat", "proba_dog", "proba_bird")


def test_closing_a_wide_log_drops_both_views(store, tmp_path):
    loaded, _ = _load(store, tmp_path, _wide(_long_log(50)), "wide.parquet")
    close_dataset(store, loaded.dataset)
    views = {name for (name,) in store.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal")}
    assert not views & {loaded.dataset.view, wide_view_name(loaded.dataset.view)}
