"""`nslb serve`'s CPython settings (nslb/interpreter.py): the start-up heap is frozen
and young collections run every YOUNG_THRESHOLD allocations, so a 1,000-row list does not
drag the whole heap through a full collection."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from nslb import interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


def test_serving_freezes_the_start_up_heap_and_collects_less_often(restored: None) -> None:
    interpreter.tune_for_serving()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (interpreter.YOUNG_THRESHOLD, *interpreter.OLDER_THRESHOLDS)
    assert sys.getswitchinterval() == interpreter.SWITCH_INTERVAL
    assert gc.isenabled()  # less often, never off: cycles are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
