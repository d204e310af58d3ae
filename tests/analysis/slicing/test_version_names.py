"""Versions typed by their card names: the slice holds the raw strings, selects the rows pandas
finds, reads back from the text Sleuth shows, and an unknown version is one sentence."""

import pandas as pd
import pytest

from analysis.query import ROW_ID, Sql, ident
from analysis.scope import Scope
from analysis.slices import Compare, Flip, InSet, Slice, to_text
from analysis.slicing.parser import SliceParseError, parse_slice
from analysis.slicing.role_leaves import parse_where, slice_sql
from analysis.slicing.version_names import VersionNames
from analysis.workspace.version_cards import VersionCard, with_card_names

TYPES = {"model_version": "VARCHAR", "region": "VARCHAR", "amount": "DOUBLE"}
CARDS = {"fraud-lr-2026.09": VersionCard("fraud-lr-2026.09", name="incumbent (logistic)"),
         "fraud-gbm-2026.10": VersionCard("fraud-gbm-2026.10", name="challenger")}
LISTED = VersionNames("model_version", CARDS, ("fraud-lr-2026.09", "fraud-gbm-2026.10"))


def parse(text, versions=LISTED, types=TYPES):
    return parse_slice(text, types, versions=versions)


def test_a_card_name_compared_with_the_version_column_is_its_raw_version():
    assert parse("model_version = 'incumbent (logistic)'") == Compare("model_version", "=", "fraud-lr-2026.09")
    assert parse("model_version <> 'challenger'") == Compare("model_version", "!=", "fraud-gbm-2026.10")
    assert parse("model_version NOT IN ('challenger', 'fraud-lr-2026.09')") == InSet(
        "model_version", ("fraud-gbm-2026.10", "fraud-lr-2026.09"), negated=True)
    assert parse("flip('incumbent (logistic)' -> challenger, positive)") == Flip(
        "fraud-lr-2026.09", "fraud-gbm-2026.10", "positive")


def test_only_the_version_column_and_equality_read_card_names():
    assert parse("region = 'challenger'") == Compare("region", "=", "challenger")
    assert parse("model_version > 'challenger'") == Compare("model_version", ">", "challenger")
    assert parse("model_version = 'challenger'", versions=None) == Compare("model_version", "=", "challenger")


def test_a_raw_version_wins_over_a_card_name_that_spells_it():
    cards = {**CARDS, "fraud-gbm-2026.10": VersionCard("fraud-gbm-2026.10", name="fraud-lr-2026.09")}
    versions = VersionNames("model_version", cards, LISTED.versions)
    assert parse("model_version = 'fraud-lr-2026.09'", versions) == Compare("model_version", "=", "fraud-lr-2026.09")


def test_an_unknown_version_names_the_known_ones_where_it_was_typed():
    text = "amount > 5 AND model_version IN ('challenger', 'incumbent')"
    with pytest.raises(SliceParseError) as caught:
        parse(text)
    message = str(caught.value)
    assert caught.value.position == text.index("'incumbent'")
    assert "no model version 'incumbent'" in message
    assert "'fraud-lr-2026.09' (card: 'incumbent (logistic)')" in message and "'fraud-gbm-2026.10'" in message
    with pytest.raises(SliceParseError, match="no model version 'v9'"):
        parse("flip(challenger -> v9)")


def test_before_the_versions_are_listed_names_resolve_and_other_text_passes():
    unlisted = VersionNames("model_version", CARDS)
    assert parse("model_version = 'challenger'", unlisted) == Compare("model_version", "=", "fraud-gbm-2026.10")
    assert parse("model_version = 'v9'", unlisted) == Compare("model_version", "=", "v9")


def test_one_name_on_two_versions_is_refused_rather_than_guessed():
    cards = {v: VersionCard(v, name="the old one") for v in LISTED.versions}
    with pytest.raises(SliceParseError, match="'the old one' is the card name of the versions"):
        parse("model_version = 'the old one'", VersionNames("model_version", cards, LISTED.versions))


def test_a_numeric_version_column_reads_a_card_name_as_its_number():
    cards = {"3": VersionCard("3", name="fallback")}
    versions = VersionNames("model_version", cards, ("3", "4"))
    types = {**TYPES, "model_version": "BIGINT"}
    assert parse("model_version IN ('fallback', 4)", versions, types) == InSet("model_version", (3, 4))


@pytest.mark.parametrize("raw", [
    "model_version = 'fraud-lr-2026.09' AND region = 'EU-West'",
    "NOT model_version IN ('fraud-lr-2026.09', 'fraud-gbm-2026.10') OR amount > 3",
    "flip('fraud-gbm-2026.10' -> 'fraud-lr-2026.09', negative) AND amount <= 20",
])
def test_the_text_shown_with_card_names_reads_back_as_the_same_slice(raw):
    predicate = parse(raw)
    shown = to_text(with_card_names(predicate, "model_version", CARDS))
    assert "fraud-lr-2026.09" not in shown and "fraud-gbm-2026.10" not in shown
    assert parse(shown) == predicate
    assert Slice.from_json(Slice(parse(shown)).to_json()).predicate == predicate  # saved by raw strings


def test_a_typed_card_name_selects_the_rows_pandas_finds_on_the_demo(demo, demo_files):
    store, dataset, roles, old, new = demo
    cards = {old: VersionCard(old, name="incumbent (logistic)"), new: VersionCard(new, name="challenger")}
    predicate = parse_where(Scope(store, dataset, roles),
                            "model_version IN ('incumbent (logistic)') AND region = 'EU-West'", cards=cards)
    where = slice_sql(predicate, dataset, roles)
    rows = store.df(Sql(f"SELECT {ident(ROW_ID)} AS r FROM {ident(dataset.view)} WHERE {where.text}", where.params))
    log = pd.read_parquet(demo_files.log, columns=["model_version", "region"])
    expected = log.index[(log.model_version == old) & (log.region == "EU-West")]
    assert set(rows.r) == set(expected) and len(expected) > 0
    with pytest.raises(SliceParseError, match=f"no model version 'incumbent'.*'{old}' \\(card: 'incumbent"):
        parse_where(Scope(store, dataset, roles), "model_version = 'incumbent'", cards=cards)
