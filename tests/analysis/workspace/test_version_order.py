"""One order of versions (the card order) and card names in a slice's text."""

from analysis.slices import Compare, InSet, Not, Range, to_text
from analysis.workspace.version_cards import VersionCard, card_position, in_card_order, with_card_names


def test_versions_follow_the_card_order_whatever_order_they_come_in():
    order = ("v-old", "v-new")
    assert in_card_order(["v-new", "v-old"], order) == ["v-old", "v-new"]
    assert in_card_order(["v-new"], order) == ["v-new"]
    assert in_card_order([None, "zz", "v-new", "aa"], order) == ["v-new", "aa", "zz", None]


def test_a_version_keeps_its_place_alone():
    order = ("v-old", "v-new")
    assert card_position("v-new", order) == 1
    assert card_position("unlisted", order) == 2


def test_slice_text_names_versions_by_their_cards_and_leaves_the_rest():
    cards = {"fraud-gbm": VersionCard("fraud-gbm", name="challenger")}
    predicate = (Compare("model_version", "=", "fraud-gbm") & Range("amount", 100, None)
                 & Not(InSet("model_version", ("fraud-gbm", "fraud-lr"))) & Compare("region", "=", "fraud-gbm"))
    shown = to_text(with_card_names(predicate, "model_version", cards))
    assert "model_version = 'challenger'" in shown
    assert "'challenger', 'fraud-lr'" in shown  # an uncarded version keeps its raw string
    assert "region = 'fraud-gbm'" in shown  # another column's equal value is not a version
    assert with_card_names(predicate, None, cards) == predicate
