"""What the slice bar offers at the cursor: every offer, once accepted, reads back as a filter."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data.open_log import load_log
from analysis.slices import Flip, Outcome
from analysis.slicing.completion import category_values, resolvable_leaves, suggest
from analysis.slicing.parser import parse_slice

COLUMNS = ["region", "amount", "my col", "flagged"]
VALUES = {"region": ["EU-West", "EU-East", "O'Brien"], "flagged": [True, False]}
SAVED = {"kiosks": "device = 'kiosk'"}


def offered(text: str, cursor: int | None = None):
    completion = suggest(text, len(text) if cursor is None else cursor, COLUMNS, VALUES,
                         [Outcome("wrong"), Flip("v1", "v2", "negative")], SAVED)
    return completion.start, [s.text for s in completion.suggestions], completion.values_of


@pytest.mark.parametrize("text, expected", [
    ("", (0, ["(device = 'kiosk')", "region", "amount", '"my col"', "flagged", "wrong",
              "flip('v1' -> 'v2', negative)"], None)),
    ("RE", (0, ["region"], None)),
    ('"my', (0, ['"my col"'], None)),
    ("amount > 5 AND (wr", (16, ["wrong"], None)),
    ("NOT fl", (4, ["flagged", "flip('v1' -> 'v2', negative)"], None)),
    ("kio", (0, ["(device = 'kiosk')"], None)),
    ("region = ", (9, ["'EU-West'", "'EU-East'", "'O''Brien'"], "region")),
    ("region <> 'eu", (10, ["'EU-West'", "'EU-East'"], "region")),
    ("region = 'O''", (9, ["'O''Brien'"], "region")),
    ("region IN ('EU-West', 'E", (22, ["'EU-West'", "'EU-East'"], "region")),
    ("flagged = t", (10, ["TRUE"], "flagged")),
    ("amount = ", (9, [], "amount")),  # no values read for it: nothing yet
    ("region = 'EU-West' AND am", (23, ["amount"], None)),
    ("region = 'a AND re", (9, [], "region")),  # inside a text, AND is text
    ("region = 'EU-West'", (18, [], None)),  # a finished value
    ("region ", (7, [], None)),  # an operator comes next: nothing offered
])
def test_offers_at_the_cursor(text, expected):
    assert offered(text) == expected


def test_the_cursor_inside_the_text_completes_the_word_before_it():
    assert offered("amo > 5", 3) == (0, ["amount"], None)


def test_every_offer_taken_makes_a_filter_the_parser_reads():
    types = {"region": "VARCHAR", "amount": "DOUBLE", "my col": "VARCHAR", "flagged": "BOOLEAN"}
    for text in ("", "region = ", "flagged = ", '"my col" = \'a\' AND '):
        start, offers, _ = offered(text)
        for offer in offers:
            if offer == "wrong" or offer.startswith(("flip", "(device")):
                continue  # role leaves and saved slices need a dataset; the window checks them
            completed = text[:start] + offer
            if offer in ("region", "amount", '"my col"', "flagged"):
                completed += " IS NULL"
            parse_slice(completed, types)


@pytest.fixture(scope="module")
def demo(demo_files):
    from analysis.store import Store

    store = Store(memory_limit="1GB")
    yield store, load_log(store, [str(demo_files.log)], check=False)
    store.close()


def test_category_values_are_the_columns_values_most_frequent_first(demo, demo_files):
    store, loaded = demo
    frame = pd.read_parquet(demo_files.log, columns=["region", "request_id", "amount"])
    counts = frame.region.value_counts()
    assert category_values(store, loaded.dataset, "region") == list(counts.index)
    assert category_values(store, loaded.dataset, "region", limit=len(counts) - 1) == []  # too many to list
    assert category_values(store, loaded.dataset, "request_id") == []  # an id: more values than a list shows
    assert category_values(store, loaded.dataset, "amount") == []  # a number is compared, not picked


def test_resolvable_leaves_follow_the_roles_and_versions(demo, demo_files):
    from dataclasses import replace

    store, loaded = demo
    versions = ["v-old", "v-new"]
    leaves = resolvable_leaves(loaded.dataset, loaded.roles, versions)
    assert Outcome("wrong") in leaves and Outcome("unlabelled") in leaves
    assert {leaf for leaf in leaves if isinstance(leaf, Flip)} == {
        Flip(a, b, d) for a in versions for b in versions if a != b for d in ("negative", "positive")}
    unlabelled_roles = replace(loaded.roles, label=None)
    assert resolvable_leaves(loaded.dataset, unlabelled_roles, versions) == []
