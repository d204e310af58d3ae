"""freeze_start_up_objects: a full garbage collection on a worker walks only what was made since
start-up, and start-up's own garbage is collected before the rest is frozen."""

import gc
import weakref

import pytest

from app.tasks import freeze_start_up_objects


class _Node:
    """A container the collector tracks (and can put in a reference cycle)."""

    def __init__(self) -> None:
        self.other = None


@pytest.fixture
def frozen():
    """The heap as the window's process has it before freezing: the test run's conftest froze
    it once already (tests/conftest.py), so thaw it; :func:`freeze_start_up_objects` leaves it
    frozen again for the tests after this one."""
    gc.unfreeze()
    return freeze_start_up_objects


def test_a_full_collection_no_longer_walks_the_start_up_objects(frozen):
    gc.collect()  # the tests before may have left cycles behind: freezing collects them first
    before = len(gc.get_objects())  # what a full pass walks now: pandas, pyarrow, Qt, pytest
    assert before > 50_000
    frozen()
    made_since = [_Node() for _ in range(1_000)]
    walked = len(gc.get_objects())
    assert gc.get_freeze_count() > 0.9 * before
    assert len(made_since) <= walked < 0.05 * before


def test_start_up_garbage_is_collected_before_the_rest_is_frozen(frozen):
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the collector can free it
    gone = weakref.ref(a)
    del a, b
    frozen()
    assert gone() is None


def test_objects_made_after_the_freeze_are_still_collected(frozen):
    frozen()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
