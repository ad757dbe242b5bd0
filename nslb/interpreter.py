"""CPython tuned for a long-running `nslb serve`: garbage collection and the GIL.

CPython 3.11 runs a young collection every 700 allocations of container objects, and a
full one, over every object of the process, once enough objects survived into the old
generation. A list of 1,000 load balancers allocates some 60,000 objects that live as long
as the request, so many of them survive a few young collections and are promoted; with the
health loop's 1,000 LB trees in memory, about one list request in ten then paid a full
collection: 88 ms of CPU at p90 against 16 ms at p50 (in-process, 1,000 LBs). The loops
pay the same collections while the host is idle.

Young collections every 20,000 allocations (by then most of a request's objects are gone
again) and the heap built at start frozen out of collection (imports, the app, the
tables): p50 14 ms, p90 15 ms. Memory held by garbage cycles waits a little longer; nothing
here turns collection off.

The same list then still took 130 ms through a real `nslb serve` with 1,000 namespace LBs on
a busy 2-core host: a request thread that holds the GIL is asked to give it up after every
switch interval (5 ms) whenever one of the loop threads (observations, health, resync)
woke up, and on a loaded host each hand-over waits for the other thread to be scheduled.
A 20 ms interval lets a request finish most of its work in one go; the loop threads do
I/O and give the GIL up on their own.
"""

from __future__ import annotations

import gc
import sys
import time

YOUNG_THRESHOLD = 20_000  # allocations between two young collections (CPython: 700)
OLDER_THRESHOLDS = (20, 20)  # collections of one generation before the next (CPython: 10, 10)
SWITCH_INTERVAL = 0.02  # seconds a thread may hold the GIL while others wait (CPython: 0.005)
# A loop over many items (the health round's LBs, their `show stat` answers) lets other
# threads run after this many, for this long: with a 20 ms interval, 200 answers parsed
# (~15 ms of pure Python) would otherwise keep an apply (a new LB) waiting for the GIL.
# A sleep of 0 releases the GIL but may take it straight back before a waiting thread wakes.
YIELD_EVERY = 16
YIELD_SLEEP = 0.0005


def tune_for_serving() -> None:
    """Collect once, freeze what survived (it lives as long as the process), and collect
    less often from now on. Call once the service is built, before its threads start."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)


def let_others_run(done: int) -> None:
    """Called with the number of items a loop has done so far: every YIELD_EVERY of them,
    give the GIL to a waiting thread for a moment."""
    if done and done % YIELD_EVERY == 0:
        time.sleep(YIELD_SLEEP)
