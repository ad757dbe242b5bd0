"""`nslb serve`'s garbage collection settings (nslb/heap.py): the start-up heap is frozen
and young collections run every YOUNG_THRESHOLD allocations, so a 1,000-row list does not
drag the whole heap through a full collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nslb import heap


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_serving_freezes_the_start_up_heap_and_collects_less_often(restored: None) -> None:
    heap.tune_for_serving()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *heap.OLDER_THRESHOLDS)
    assert gc.isenabled()  # less often, never off: cycles are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
