"""Slice discovery: SliceLine over binned codes, its statistics, and the DuckDB binning."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.slicing.binning import IN, IS_NULL, OTHER, RANGE, bin_features
from analysis.dataset import Column
from analysis.discovery.sliceline import (
    _Search,
    default_min_support,
    searched_slices,
    find_slices,
    slice_scores,
    slice_statistics,
)
from analysis.progress import CancelToken, Cancelled
from analysis.query import Sql
from analysis.slices import to_sql


def planted_codes(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8 features; a 2-predicate slice at 60% error and a 3-predicate one at 90%, 5% elsewhere."""
    rng = np.random.default_rng(seed)
    codes = np.column_stack(
        [rng.integers(0, 5, n_rows) for _ in range(2)]
        + [rng.integers(0, 3, n_rows) for _ in range(3)]
        + [rng.integers(0, 4, n_rows) for _ in range(3)]
    )
    rate = np.full(n_rows, 0.05)
    rate[(codes[:, 0] == 1) & (codes[:, 1] == 2)] = 0.6
    rate[(codes[:, 2] == 0) & (codes[:, 3] == 1) & (codes[:, 4] == 2)] = 0.9
    return codes, (rng.random(n_rows) < rate).astype(float)


def rows_of(codes: np.ndarray, predicates) -> np.ndarray:
    inside = np.ones(codes.shape[0], dtype=bool)
    for feature, code in predicates:
        inside &= codes[:, feature] == code
    return inside


def test_planted_slices_are_found_at_the_top():
    codes, errors = planted_codes(20_000, seed=1)
    found = find_slices(codes, errors, k=5, max_level=3)
    assert [s.predicates for s in found[:2]] == [((2, 0), (3, 1), (4, 2)), ((0, 1), (1, 2))]
    for s in found:
        inside = rows_of(codes, s.predicates)
        assert s.size == inside.sum() >= default_min_support(20_000)
        assert s.error_sum == errors[inside].sum()
        assert s.error_mean == pytest.approx(errors[inside].mean())
        expected = 0.95 * (errors[inside].mean() / errors.mean() - 1) - 0.05 * (20_000 / inside.sum() - 1)
        assert s.score == pytest.approx(expected)
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert found[0].p_adjusted < 1e-6 and found[1].p_adjusted < 1e-6


def test_a_slice_repeating_a_shorter_one_is_not_reported():
    codes, errors = planted_codes(20_000, seed=2)
    planted = (codes[:, 0] == 1) & (codes[:, 1] == 2)
    codes[planted, 6] = 0  # feature 6 = 0 holds on every row of the planted slice
    codes[:, 7] = 3  # a constant feature: its only slice is every row
    repeated = ((0, 1), (1, 2), (6, 0))
    assert rows_of(codes, repeated).sum() == planted.sum()

    found = find_slices(codes, errors, k=50, max_level=3, alpha=0.99, min_support=32)

    listed = {s.predicates for s in found}
    assert ((0, 1), (1, 2)) in listed
    assert repeated not in listed
    assert not any(7 in {f for f, _ in s.predicates} for s in found)
    for s in found:
        for shorter in itertools.combinations(s.predicates, len(s.predicates) - 1):
            assert rows_of(codes, shorter).sum() > s.size


def sliceline_top(codes, errors, *, k, max_level, alpha, min_support):
    """The ``sliceline`` package's top slices without those that repeat a shorter one."""
    from sliceline.slicefinder import Slicefinder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = Slicefinder(alpha=alpha, k=k, max_l=max_level, min_sup=min_support, verbose=False)
        finder.fit(codes, errors)
    kept = []
    for row, statistics in zip(finder.top_slices_, finder.top_slices_statistics_):
        predicates = tuple((j, int(v)) for j, v in enumerate(row) if v is not None)
        size = rows_of(codes, predicates).sum()
        shorter = itertools.combinations(predicates, len(predicates) - 1)
        if size < codes.shape[0] and all(rows_of(codes, p).sum() > size for p in shorter):
            kept.append((predicates, statistics["slice_score"]))
    return kept


@pytest.mark.parametrize(
    "seed, continuous, max_level, alpha, min_support",
    [(0, False, 3, 0.95, 32), (1, True, 3, 0.99, 20), (2, False, 2, 0.99, 60), (3, True, 3, 0.95, 10)],
)
def test_top_slices_equal_the_sliceline_package(seed, continuous, max_level, alpha, min_support):
    pytest.importorskip("sliceline")
    rng = np.random.default_rng(seed)
    n_rows = 3000
    codes = rng.integers(0, 4, (n_rows, 7))
    codes[:, 6] = np.where(codes[:, 0] == 0, 0, codes[:, 6])  # some slices repeat shorter ones
    rate = np.where((codes[:, 0] == 1) & (codes[:, 1] == 0), 0.5, 0.1)
    errors = (rng.random(n_rows) < rate).astype(float)
    if continuous:
        errors = errors * rng.exponential(1.0, n_rows) + rng.exponential(0.1, n_rows)
    k = 8
    theirs = sliceline_top(codes, errors, k=k + 20, max_level=max_level, alpha=alpha, min_support=min_support)

    ours = find_slices(codes, errors, k=k, max_level=max_level, alpha=alpha, min_support=min_support)

    assert len(ours) == min(k, len(theirs)) >= 4
    assert [s.score for s in ours] == pytest.approx([score for _, score in theirs[:k]], rel=1e-12)
    last = ours[-1].score  # slices tied with the k-th may come in either order
    assert [s.predicates for s in ours if s.score > last + 1e-12] == [p for p, sc in theirs if sc > last + 1e-12]
    tied = {p for p, score in theirs if score == pytest.approx(last, rel=1e-12)}
    assert {s.predicates for s in ours if s.score <= last + 1e-12} <= tied


def test_wide_features_counted_in_several_passes_equal_the_sliceline_package(monkeypatch):
    """Twelve features of 14 codes: no pass can count all of a level's combinations (14^6 cells
    are over the budget), so they come from several blocks' marginals, and must still be exact."""
    pytest.importorskip("sliceline")
    rng = np.random.default_rng(4)
    n_rows = 4000
    codes = rng.integers(0, 14, (n_rows, 12))
    errors = (rng.random(n_rows) < np.where((codes[:, 2] < 7) & (codes[:, 9] < 7), 0.3, 0.1)).astype(float)
    passes = []
    count_block = _Search._count_block
    monkeypatch.setattr(_Search, "_count_block", lambda search, block, wanted: (
        passes.append(block), count_block(search, block, wanted))[1])
    theirs = sliceline_top(codes, errors, k=30, max_level=2, alpha=0.99, min_support=20)

    ours = find_slices(codes, errors, k=10, max_level=2, alpha=0.99, min_support=20)

    assert 1 < len(passes) < len(list(itertools.combinations(range(12), 2)))
    assert [s.score for s in ours] == pytest.approx([score for _, score in theirs[:10]], rel=1e-12)
    assert [s.predicates for s in ours] == [p for p, _ in theirs[:10]]


def test_wilson_interval_covers_the_true_error_rate():
    rng = np.random.default_rng(7)
    covered, rejected = 0, 0
    for _ in range(400):
        inside = (rng.random(150) < 0.3).astype(float)
        outside = (rng.random(600) < 0.3).astype(float)
        low, high, p_value = slice_statistics(inside, outside, binary=True)
        covered += low <= 0.3 <= high
        rejected += p_value < 0.05
    assert 0.92 <= covered / 400 <= 0.98
    assert rejected / 400 <= 0.07  # no difference: a 5% test rejects about 5% (Fisher: less)


def test_t_interval_covers_the_true_mean_error():
    rng = np.random.default_rng(8)
    covered, rejected = 0, 0
    for _ in range(400):
        inside = rng.exponential(0.5, 200)
        outside = rng.exponential(0.5, 800)
        low, high, p_value = slice_statistics(inside, outside, binary=False)
        covered += low <= 0.5 <= high
        rejected += p_value < 0.05
    assert 0.92 <= covered / 400 <= 0.98
    assert 0.02 <= rejected / 400 <= 0.08


def test_tests_and_adjustment_match_scipy():
    codes, errors = planted_codes(5_000, seed=3)
    found = find_slices(codes, errors, k=5, max_level=2, min_support=50)
    top = found[0]
    inside = rows_of(codes, top.predicates)
    a, b = int(errors[inside].sum()), int(errors[~inside].sum())
    table = [[a, inside.sum() - a], [b, (~inside).sum() - b]]
    assert top.p_value == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue)
    interval = stats.binomtest(a, int(inside.sum())).proportion_ci(0.95, method="wilson")
    assert (top.ci_low, top.ci_high) == pytest.approx((interval.low, interval.high))
    only_reported = stats.false_discovery_control([s.p_value for s in found], method="by")
    assert all(s.p_adjusted >= bound - 1e-15 for s, bound in zip(found, only_reported))

    single = find_slices(codes, errors, k=5, max_level=1, min_support=50)
    by_predicates = {s.predicates: s for s in find_slices(codes, errors, k=30, max_level=2, min_support=50)}
    common = [s for s in single if s.predicates in by_predicates]
    assert common  # the same slice, adjusted over more evaluated slices, gets a larger p
    for s in common:
        assert by_predicates[s.predicates].p_value == s.p_value
        assert by_predicates[s.predicates].p_adjusted > s.p_adjusted


def test_noise_gives_no_significant_slice():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, (4000, 6))
    errors = (rng.random(4000) < 0.2).astype(float)
    found = find_slices(codes, errors, k=10, max_level=3, alpha=0.99, min_support=32)
    assert found  # alpha near 1 reports even noise-level differences...
    assert min(s.p_adjusted for s in found) > 0.05  # ...but none survives the adjustment


def test_scores_follow_the_paper():
    scores = slice_scores(np.array([100, 50]), np.array([20.0, 5.0]), n_rows=1000, mean_error=0.1, alpha=0.9)
    assert scores == pytest.approx([0.9 * (0.2 / 0.1 - 1) - 0.1 * 9, 0.9 * 0 - 0.1 * 19])


def test_cancel_stops_the_search():
    codes, errors = planted_codes(20_000, seed=5)
    token = CancelToken()

    def cancel_on_first_report(fraction, message=""):
        token.cancel()

    with pytest.raises(Cancelled):
        find_slices(codes, errors, progress=cancel_on_first_report, cancel=token)


def test_progress_reaches_the_last_level():
    codes, errors = planted_codes(5_000, seed=6)
    seen = []
    find_slices(codes, errors, max_level=3, min_support=32, progress=lambda f, m="": seen.append((f, m)))
    assert seen[0][0] == pytest.approx(1 / 3)
    assert seen[-1] == (pytest.approx(1.0), "Slices of 3 predicates")
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)


def test_missing_codes_and_bad_input():
    codes, errors = planted_codes(5_000, seed=7)
    codes[:600, 5] = -1
    errors[:600] = 1.0
    found = find_slices(codes, errors, k=3, max_level=2)
    assert found[0].predicates == ((5, -1),)
    with pytest.raises(ValueError):
        find_slices(codes, -errors)
    with pytest.raises(ValueError):
        find_slices(codes, errors[:10])
    assert find_slices(codes, np.zeros(5_000)) == []


# --- DuckDB side ---------------------------------------------------------------------------


def count_where(store, condition: Sql) -> int:
    return store.scalar(Sql(f"SELECT count(*) FROM log WHERE {condition.text}", condition.params))


def assert_bins_select_their_rows(store, binned) -> None:
    """Each bin's SQL, and its slice predicate, select exactly the rows given its code."""
    for position, feature in enumerate(binned.features):
        counts = np.bincount(binned.codes[:, position], minlength=len(feature.bins))
        for code, bin_ in enumerate(feature.bins):
            assert count_where(store, bin_.sql()) == counts[code]
            assert count_where(store, to_sql(bin_.to_predicate())) == counts[code]


def make_table(store, frame: pd.DataFrame, name: str = "log") -> list[Column]:
    cur = store.cursor()
    cur.register("frame_", frame)
    cur.execute(f"CREATE TABLE {name} AS SELECT * FROM frame_")
    cur.close()
    return [Column(c, t) for c, t in store.rows(f"SELECT column_name, column_type FROM (DESCRIBE {name})")]


def test_quantile_bins_match_pandas_qcut_and_null_has_its_own_code(store):
    rng = np.random.default_rng(0)
    n_rows = 5000
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 1, n_rows),
        "count": rng.integers(0, 1000, n_rows),
        "mostly_zero": np.where(rng.random(n_rows) < 0.3, 0.0, rng.random(n_rows)),
    })
    frame.loc[rng.random(n_rows) < 0.05, "amount"] = np.nan
    columns = make_table(store, frame)

    binned = bin_features(store, "log", columns, n_bins=5)

    for position, name in enumerate(frame.columns):
        feature = binned.features[position]
        codes = binned.codes[:, position].astype(int)
        values = frame[name]
        present = values.notna().to_numpy()
        expected = pd.qcut(values[present], 5, labels=False, duplicates="drop").to_numpy()
        np.testing.assert_array_equal(codes[present], expected)
        kinds = [b.kind for b in feature.bins]
        if present.all():
            assert IS_NULL not in kinds
        else:
            assert set(codes[~present]) == {kinds.index(IS_NULL)}
        assert kinds.count(RANGE) == expected.max() + 1
    assert len(binned.features[2].bins) == 4  # 30% zeros: duplicate edges dropped, as qcut does
    assert_bins_select_their_rows(store, binned)


def test_categories_other_and_null_codes_agree_with_their_sql(store):
    rng = np.random.default_rng(1)
    n_rows = 3000
    names = [f"c{i:02d}" for i in range(15)]
    frame = pd.DataFrame({
        "shop": rng.choice(names, n_rows, p=np.linspace(2, 0.2, 15) / np.linspace(2, 0.2, 15).sum()),
        "kids": rng.integers(0, 3, n_rows),
        "vip": rng.random(n_rows) < 0.2,
    })
    frame.loc[rng.random(n_rows) < 0.1, "shop"] = None
    columns = make_table(store, frame)

    binned = bin_features(store, "log", columns, max_categories=10)

    shop = binned.features[0]
    kinds = [b.kind for b in shop.bins]
    assert kinds == [IN] * 10 + [OTHER, IS_NULL]
    top10 = frame["shop"].value_counts().index[:10].tolist()
    assert [b.values[0] for b in shop.bins[:10]] == top10
    assert [b.kind for b in binned.features[1].bins] == [IN] * 3
    assert {b.values[0] for b in binned.features[2].bins} == {True, False}
    assert_bins_select_their_rows(store, binned)


def test_searched_slices_on_a_log(store):
    rng = np.random.default_rng(2)
    n_rows = 30_000
    frame = pd.DataFrame({
        "region": rng.choice(["EU-West", "US", "APAC"], n_rows, p=[0.3, 0.4, 0.3]),
        "amount": rng.exponential(100, n_rows),
        "channel": rng.choice(["web", "app"], n_rows),
        "age": rng.integers(18, 80, n_rows),
    })
    bad = (frame["region"] == "EU-West") & (frame["amount"] > frame["amount"].quantile(0.6))
    frame["label"] = np.where(rng.random(n_rows) < 0.2, None, "fraud")
    frame["prediction"] = np.where(rng.random(n_rows) < np.where(bad, 0.6, 0.1), "ok", "fraud")
    columns = make_table(store, frame)
    features = [c for c in columns if c.name not in ("label", "prediction")]
    error = "CASE WHEN label IS NULL THEN NULL WHEN label = prediction THEN 0 ELSE 1 END"
    seen = []

    found = searched_slices(store, "log", features, error, k=5, progress=lambda f, m="": seen.append(f)).slices

    top = found[0]
    assert top.text.startswith("region = 'EU-West' AND amount > ")
    labelled = frame["label"].notna()
    expected_rows = labelled & (frame["region"] == "EU-West") & (frame["amount"] > top.predicates[1].low)
    assert top.size == expected_rows.sum()
    assert top.error_rate == pytest.approx((frame.loc[expected_rows, "prediction"] != "fraud").mean())
    assert top.ci_low < top.error_rate < top.ci_high and top.p_adjusted < 1e-6
    for s in found:
        for condition in (s.sql(), to_sql(s.to_slice().predicate)):
            query = Sql(f"SELECT count(*) FROM log WHERE label IS NOT NULL AND ({condition.text})", condition.params)
            assert store.scalar(query) == s.size
    assert seen and seen[-1] == pytest.approx(1.0)


def test_searched_slices_can_be_cancelled(store):
    frame = pd.DataFrame({"region": ["a", "b"] * 50, "error": [0, 1] * 50})
    columns = make_table(store, frame)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        searched_slices(store, "log", columns[:1], "error", cancel=token).slices


def test_searched_slices_without_labels_finds_nothing(store):
    frame = pd.DataFrame({"region": ["a", "b"] * 50, "label": [None] * 100})
    columns = make_table(store, frame)
    assert searched_slices(store, "log", columns[:1], "CAST(label AS INTEGER)").slices == []


def test_block_marginals_equal_summing_the_whole_table():
    """Every marginal of a block's table, summed from smaller ones, equals numpy's sum of the
    whole table over the dropped axes (counts exactly, error sums to rounding)."""
    from analysis.discovery.sliceline import _block_marginals

    rng = np.random.default_rng(5)
    shape = (3, 4, 2, 5, 3)
    sizes, errors = rng.integers(0, 40, shape), rng.random(shape)
    kept = {combo: combo for level in (1, 2, 3, 5) for combo in itertools.combinations(range(len(shape)), level)}
    got = _block_marginals(sizes, errors, kept)
    assert set(got) == set(kept)
    for combo, (got_sizes, got_errors) in got.items():
        dropped = tuple(axis for axis in range(len(shape)) if axis not in combo)
        np.testing.assert_array_equal(got_sizes, sizes.sum(axis=dropped))
        np.testing.assert_allclose(got_errors, errors.sum(axis=dropped), rtol=1e-12)


def test_blocks_no_larger_than_the_rows_find_what_the_cell_budget_alone_finds(monkeypatch):
    """A pass's block of features is bounded by the rows read as well as by the cell budget
    (summing a mostly empty table's marginals costs more than reading the rows again): on a
    log of a few thousand rows every block has at most one cell per row, more passes are made,
    and the slices, their sizes and error sums are those of blocks bounded by the budget alone."""
    from analysis.discovery import sliceline

    codes, errors = planted_codes(6000, seed=9)
    errors = errors * np.random.default_rng(9).exponential(1.0, errors.size)  # sums that are not counts
    blocks = []
    count_block = _Search._count_block
    monkeypatch.setattr(_Search, "_count_block", lambda search, block, wanted: (
        blocks.append(int(np.prod(search.cards[block]))), count_block(search, block, wanted))[1])
    bounded = find_slices(codes, errors, k=15, max_level=3, alpha=0.95, min_support=20)
    bounded_blocks, blocks[:] = list(blocks), []
    monkeypatch.setattr(sliceline, "CELLS_PER_ROW", 10**9)
    budget_only = find_slices(codes, errors, k=15, max_level=3, alpha=0.95, min_support=20)

    assert max(bounded_blocks) <= 6000 < max(blocks) and len(bounded_blocks) > len(blocks)
    assert len(bounded) == 15
    assert [(s.predicates, s.size) for s in bounded] == [(s.predicates, s.size) for s in budget_only]
    assert [s.error_sum for s in bounded] == pytest.approx([s.error_sum for s in budget_only], rel=1e-12)
    assert [s.score for s in bounded] == pytest.approx([s.score for s in budget_only], rel=1e-12)
