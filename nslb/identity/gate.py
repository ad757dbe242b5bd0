"""A bound on concurrent password checks, so a login flood cannot take every CPU.

argon2 is slow on purpose (~50 ms of CPU and 19 MiB each). Login requests from many
sources pass the per-source throttle, so without a bound N parallel floods would run N
hashes at once and starve the load-balancer API and HAProxy. At most `slots` checks run
at once; a few more may wait briefly for a slot; anything beyond that is refused at once
(`Busy`), so no request is ever parked for long and shutdown is never held up.

The gate works in the worker thread that runs the check (threading primitives), so it
does not depend on which event loop called it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(Exception):
    """Every slot is taken and the queue is full (or the wait ran out): try again soon."""


def default_slots() -> int:
    """Half of the CPUs, at least one: the rest stays for the API and the data plane."""
    return max(1, (os.cpu_count() or 2) // 2)


class VerifyGate:
    def __init__(self, slots: int | None = None, queue: int = 16, wait: float = 1.0) -> None:
        self.slots = slots or default_slots()
        self.queue, self.wait = queue, wait
        self._sem = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one check slot for the block; Busy when none comes free in time."""
        if not self._sem.acquire(blocking=False):
            self._wait_for_slot()
        try:
            yield
        finally:
            self._sem.release()

    def _wait_for_slot(self) -> None:
        with self._lock:
            if self._waiting >= self.queue:
                raise Busy()
            self._waiting += 1
        try:
            if not self._sem.acquire(timeout=self.wait):
                raise Busy()
        finally:
            with self._lock:
                self._waiting -= 1
