"""Suspect training labels: the demo's flipped labels rank high, their batch stands out."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.demo.world import FEATURES
from analysis.errors import SchemaError
from analysis.trace.suspects import (
    SnapshotColumns,
    SuspectSettings,
    find_suspects,
    influence_by_source,
    out_of_fold_probabilities,
    suspects_report,
)

LABEL = "is_fraud"
OLD_MODEL = "fraud-lr-2026.09"
NEW_MODEL = "fraud-gbm-2026.10"
SOURCE_COLUMNS = ("source", "snapshot_date", "merchant_category")


def _label_noise_incident(manifest_path):
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return next(incident for incident in manifest["incidents"] if incident["id"] == "c")


def _load(path):
    from analysis.trace.model_files import load_model

    return load_model(path)


@pytest.fixture(scope="module")
def ranked_by_family(demo_files):
    """Every training row of the demo ranked with each demo model (logistic, boosted trees)."""
    frame = pd.read_parquet(demo_files.training)
    return {version: find_suspects(frame, SnapshotColumns(list(FEATURES), LABEL, "row_id", SOURCE_COLUMNS),
                                   _load(demo_files.models[version]), SuspectSettings(k=len(frame)))
            for version in (OLD_MODEL, NEW_MODEL)}


@pytest.fixture(scope="module")
def demo_suspects(ranked_by_family, demo_files):
    """The old (logistic) model's ranking, and the truth."""
    return ranked_by_family[OLD_MODEL], _label_noise_incident(demo_files.manifest)


def _precision(ranked_ids, flipped, n):
    return float(np.isin(np.asarray(ranked_ids)[:n], list(flipped)).mean())


@pytest.mark.parametrize("version", [OLD_MODEL, NEW_MODEL], ids=["logistic", "boosted-trees"])
def test_flipped_labels_rank_high_and_the_combination_is_never_below_cleanlab(ranked_by_family, demo_files,
                                                                             version):
    suspects = ranked_by_family[version]
    flipped = set(_label_noise_incident(demo_files.manifest)["flipped_row_ids"])
    assert "self-influence" in suspects.method
    cleanlab_order = suspects.rows.sort_values("cleanlab_score", kind="stable")["row_id"]
    figures = {}
    for n in (100, 200, len(flipped), suspects.flagged):
        combined = _precision(suspects.rows["row_id"], flipped, n)
        alone = _precision(cleanlab_order, flipped, n)
        figures[n] = (round(combined, 3), round(alone, 3))
        assert combined >= alone
    print(f"{version} precision@N (combined, cleanlab alone): {figures}")
    # At cleanlab's own count the suspects are exactly cleanlab's rows, only re-ordered.
    flagged = suspects.rows[suspects.rows["flagged"]]
    assert len(flagged) == suspects.flagged and suspects.rows["flagged"].head(suspects.flagged).all()
    assert set(flagged["row_id"]) == set(cleanlab_order.head(suspects.flagged))
    # 0.5 of the top-N: the rest are real frauds the features cannot explain.
    assert figures[len(flipped)][0] >= 0.5
    # A random ranking would reach the flipped share of the snapshot, under 1%.
    assert len(flipped) / len(suspects.rows) < 0.01


def test_suspect_rows_carry_the_label_and_the_out_of_fold_suggestion(demo_suspects, demo_files):
    suspects, _ = demo_suspects
    frame = pd.read_parquet(demo_files.training, columns=["row_id", LABEL]).set_index("row_id")
    top = suspects.rows.head(100)
    assert (top["label"].to_numpy() == frame.loc[top["row_id"], LABEL].to_numpy()).all()
    assert (top["suggested_label"] != top["label"]).mean() > 0.9
    assert top["score"].is_monotonic_decreasing
    assert np.isfinite(top["self_influence"]).all()
    assert 0 < suspects.flagged < len(frame)


def test_the_flipped_batch_and_category_have_the_highest_lift(demo_suspects):
    suspects, incident = demo_suspects
    table = suspects.by_source
    first = table.groupby("column", sort=False).head(1).set_index("column")
    assert first.loc["source", "value"] == incident["source"]
    assert str(first.loc["snapshot_date", "value"]) == incident["source"].removeprefix("batch-")
    assert first.loc["merchant_category", "value"] == incident["category"]
    assert (first["p_value"] < 1e-6).all()
    assert (first["lift"] > 1.25).all()  # above anything a clean snapshot's batches show (test below)
    per_column = table.groupby("column")
    assert (per_column["rows"].sum() == len(suspects.rows)).all()
    assert per_column["disputed"].sum().nunique() == 1  # every row counted once in each column
    assert np.allclose(per_column["share"].sum(), 1.0)


def test_a_clean_snapshot_has_no_batch_standing_out(clean_demo_files):
    """The run's clean demo (tests/conftest.py, which the checks' tests generate anyway): its
    training snapshot and models are those of any clean demo of its seed, whatever its rows."""
    files = clean_demo_files
    frame = pd.read_parquet(files.training)
    suspects = find_suspects(frame, SnapshotColumns(list(FEATURES), LABEL, "row_id"), _load(files.models[OLD_MODEL]),
                             SuspectSettings(k=20, folds=3))
    table = suspects.by_source
    assert set(table["column"]) == {"source", "snapshot_date"}
    assert suspects.flagged > 0
    assert (table["p_value"] > 0.05).all()
    assert table["lift"].max() < 1.25


def test_without_self_influence_the_score_is_cleanlabs_ranking(demo_files, monkeypatch):
    import analysis.trace.influence

    monkeypatch.setattr(analysis.trace.influence, "self_influence", lambda prep: None)
    frame = pd.read_parquet(demo_files.training).head(6_000)
    suspects = find_suspects(frame, SnapshotColumns(list(FEATURES), LABEL), _load(demo_files.models[OLD_MODEL]),
                             SuspectSettings(k=30, folds=3))
    assert "self-influence" not in suspects.method
    assert np.allclose(suspects.rows["score"], 1.0 - suspects.rows["cleanlab_score"])
    assert suspects.rows["self_influence"].isna().all()
    assert suspects.rows["row_id"].between(0, len(frame) - 1).all()


def test_without_a_model_a_surrogate_is_fitted_and_named(demo_files):
    frame = pd.read_parquet(demo_files.training).head(2_000)
    suspects = find_suspects(frame, SnapshotColumns(list(FEATURES), LABEL), settings=SuspectSettings(k=10, folds=3))
    assert suspects.surrogate
    assert "surrogate" in suspects.method
    assert suspects_report(suspects)["surrogate"] is True
    assert len(suspects.rows) == 10


def test_a_missing_feature_is_named():
    frame = pd.DataFrame({"x": np.arange(60.0), LABEL: [0, 1] * 30})
    with pytest.raises(SchemaError, match="no such column") as raised:
        find_suspects(frame, SnapshotColumns(["x", "amount"], LABEL), model=object())
    assert raised.value.column == "amount"


def test_out_of_fold_probabilities_equal_cross_val_predict():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = make_classification(n_samples=400, n_features=6, n_classes=3, n_informative=4,
                               random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    model = LogisticRegression(max_iter=500, C=0.3)
    ours = out_of_fold_probabilities(model, frame, y, folds=4, seed=3)
    theirs = cross_val_predict(model, frame, y, method="predict_proba",
                               cv=StratifiedKFold(4, shuffle=True, random_state=3))
    assert np.allclose(ours, theirs)


def test_a_cancel_lands_between_two_fits():
    from sklearn.linear_model import LogisticRegression

    from analysis.progress import CancelToken, Cancelled

    token = CancelToken()
    fits = []

    def cancel_after_first_fit(fraction, message=""):
        fits.append(message)
        if len(fits) == 2:
            token.cancel()

    frame = pd.DataFrame({"x": np.arange(100.0)})
    with pytest.raises(Cancelled):
        out_of_fold_probabilities(LogisticRegression(), frame, np.arange(100) % 2, folds=5,
                                  progress=cancel_after_first_fit, cancel=token)
    assert fits == ["Out-of-fold fit 1 of 5", "Out-of-fold fit 2 of 5"]


def test_influence_by_source_sums_equal_a_pandas_group_by():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({
        "source": rng.choice(["a", "b", "c"], size=1_000),
        "snapshot_date": pd.to_datetime("2026-08-01")
        + pd.to_timedelta(rng.integers(0, 4, size=1_000), unit="D")
        + pd.to_timedelta(rng.integers(0, 86_400, size=1_000), unit="s"),
    })
    scores = rng.normal(size=1_000)
    table = influence_by_source(frame, scores, ("source", "batch", "snapshot_date"))
    assert list(table["column"].unique()) == ["source", "snapshot_date"]

    by_source = table[table["column"] == "source"].set_index("value")
    expected = pd.Series(scores).groupby(frame["source"]).agg(["sum", "mean", "size"])
    assert np.allclose(by_source.loc[expected.index, "sum"], expected["sum"])
    assert np.allclose(by_source.loc[expected.index, "mean"], expected["mean"])
    assert (by_source.loc[expected.index, "rows"] == expected["size"]).all()

    harmful = pd.Series(np.clip(scores, 0, None)).groupby(frame["snapshot_date"].dt.date).sum()
    by_day = table[table["column"] == "snapshot_date"]
    assert len(by_day) == 4
    assert np.allclose(sorted(by_day["harmful_share"]), sorted(harmful / harmful.sum()))
    assert by_day["harmful_share"].is_monotonic_decreasing


def test_influence_concentration_is_a_one_sided_welch_test_adjusted_over_every_value():
    """A batch carrying extra harmful influence is found; batches that do not are not, and each
    p-value is scipy's Welch test of the batch's harmful scores against the rest, BH-adjusted."""
    from scipy.stats import false_discovery_control, ttest_ind

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"batch": rng.choice(["a", "b", "c", "d"], size=2_000)})
    scores = rng.normal(size=2_000)
    scores[frame["batch"].eq("c").to_numpy()] += 0.3
    table = influence_by_source(frame, scores, ("batch",)).set_index("value")

    harmful = np.clip(scores, 0, None)
    raw = [ttest_ind(harmful[frame["batch"].eq(v).to_numpy()], harmful[frame["batch"].ne(v).to_numpy()],
                     equal_var=False, alternative="greater").pvalue for v in "abcd"]
    assert np.allclose(table.loc[list("abcd"), "p_value"], false_discovery_control(raw, method="bh"))
    assert table.loc["c", "p_value"] < 0.05 and table.loc["c", "lift"] > 1
    assert (table.drop(index="c")["p_value"] > 0.05).all()
    row_share = frame["batch"].value_counts(normalize=True)
    assert np.allclose(table["lift"], table["harmful_share"] / row_share[table.index])


def test_influence_by_source_rejects_scores_of_another_length():
    frame = pd.DataFrame({"source": ["a", "b"]})
    with pytest.raises(SchemaError, match="3 influence scores for 2 training rows"):
        influence_by_source(frame, np.zeros(3), ("source",))


def test_the_report_is_plain_json_with_the_top_suspects(demo_suspects):
    suspects, _ = demo_suspects
    report = json.loads(json.dumps(suspects_report(suspects, top=5)))
    assert report["method"] == suspects.method
    assert [row["row_id"] for row in report["suspects"]] == suspects.rows["row_id"][:5].tolist()
    assert set(report["suspects"][0]) == {"row_id", "score", "label", "suggested_label"}
    dates = [row["value"] for row in report["by_source"] if row["column"] == "snapshot_date"]
    assert dates[0] == "2026-09-15"


@pytest.mark.parametrize("labels, message", [
    ([0.1, 0.2, 0.3] * 10 + [float(i) for i in range(30)], "looks continuous"),
    ([1] * 60, "same label"),
    ([0] * 57 + [1] * 3, "class 1 has 3 rows"),
    ([0, 1] * 29 + [None, None], "2 training rows have no label"),
])
def test_unusable_labels_get_a_message_naming_the_column(labels, message):
    frame = pd.DataFrame({"x": np.arange(60.0), LABEL: labels})
    with pytest.raises(SchemaError, match=message) as raised:
        find_suspects(frame, SnapshotColumns(["x"], LABEL), model=object())
    assert raised.value.column == LABEL


def test_tracing_the_flipped_categorys_failures_singles_out_the_bad_batch(demo_files, store):
    """The flipped labels teach the boosted model the wrong class in one category: its failures
    there that went the flipped way are caused by the bad batch, which the aggregate shows."""
    from analysis.trace.tracer import TraceSettings, TrainingFiles, trace_slice

    incident = _label_noise_incident(demo_files.manifest)
    frame = pd.read_parquet(demo_files.training, columns=["row_id", LABEL])
    flipped = set(incident["flipped_row_ids"])
    wrong_label = int(frame.loc[frame["row_id"].isin(flipped), LABEL].mode()[0])
    report = trace_slice(store, TrainingFiles([str(demo_files.training)], demo_files.models[NEW_MODEL]),
                         [str(demo_files.log)],
                         f"merchant_category = '{incident['category']}' AND prediction = {wrong_label}",
                         TraceSettings(version=NEW_MODEL, k=100))
    assert report["method"] == "BoostIn (Brophy et al. 2023)" and report["traced"] == report["failures"] > 20
    sources = [b for b in report["by_source"] if b["column"] == "source"]
    share_of_rows = sources[0]["rows"] / sum(b["rows"] for b in sources)
    print(f"{sources[0]['value']}: {sources[0]['harmful_share']:.3f} of harmful influence, "
          f"{share_of_rows:.3f} of rows")
    assert sources[0]["value"] == incident["source"]
    assert sources[0]["harmful_share"] > 1.3 * share_of_rows
    in_top = np.mean([row["row_id"] in flipped for row in report["harmful"]])
    assert in_top > 50 * len(flipped) / len(frame)  # far above their 0.6% share of the snapshot
    assert all(row["source"] for row in report["harmful"])
    json.dumps(report)


@pytest.mark.parametrize("path, expected", [
    ("models/fraud-gbm-2026.10.skops", "fraud-gbm-2026.10"),
    ("/srv/registry/v2/model.json", None),
    ("exports/fraud-v1.2-final.ubj", "fraud-v1.2"),  # the longest name wins over "fraud-v1"
    (None, None),
])
def test_the_model_files_name_picks_the_version_it_traces(path, expected):
    from analysis.trace.tracer import version_of_model

    assert version_of_model(["fraud-v1", "fraud-v1.2", "fraud-gbm-2026.10"], path) == expected


def test_a_window_ranks_through_its_influence_cache_and_without_it_where_the_log_does_not_fit(tmp_path, store):
    """``suspects_for`` with a window's cache and open log: the same report as the command's, the
    model prepared once into the cache; a log lacking the model's features still gets the
    snapshot's ranking (the cache's preparation needs the log's columns, the ranking does not)."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    from analysis.data.open_log import load_log
    from analysis.data.roles import Role
    from analysis.trace.tracer import InfluenceCache, TrainingFiles, suspects_for

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["label"] = (frame.x + rng.normal(0, 0.7, 400) > 0).astype(int)
    frame.to_parquet(tmp_path / "snapshot.parquet")
    skops.io.dump(LogisticRegression().fit(frame[["x", "z"]], frame.label), tmp_path / "model.skops")
    frame.head(50).to_parquet(tmp_path / "fits.parquet")
    frame.head(50).drop(columns=["z"]).to_parquet(tmp_path / "lacks_z.parquet")
    files = TrainingFiles([str(tmp_path / "snapshot.parquet")], str(tmp_path / "model.skops"),
                          roles={Role.LABEL: "label"})
    alone = suspects_for(store, files, top=10)
    cache = InfluenceCache()
    fits = load_log(store, [str(tmp_path / "fits.parquet")], check=False)
    assert suspects_for(store, files, top=10, cache=cache, log=fits) == alone
    assert InfluenceCache.key(files.snapshot_paths, files.model_path, files.roles) in cache
    lacks = load_log(store, [str(tmp_path / "lacks_z.parquet")], check=False)
    assert suspects_for(store, files, top=10, cache=InfluenceCache(), log=lacks) == alone
