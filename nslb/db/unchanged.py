"""Answers of periodic reads kept while the database saw no write.

The health loop and the worker's planner read the same rows every second; on an idle host
of 1,000 load balancers those reads were a good part of the idle CPU and nothing in them
had changed. Every write of this process goes through Database.write(), which counts
them, so a read whose count did not move would return what it returned before.

Other writers: on PostgreSQL every write transaction of every controller ends with a
NOTIFY, and db/changes.py counts the other controllers' ones into the same count as they
commit, so with several controllers on one database an answer is still read again after
any write. Writers that do not announce themselves (an operator's psql, a notification
lost while the listening connection was down) are seen within `max_age` seconds: the
answer is read again at least that often whatever the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from nslb.db.engine import Database

T = TypeVar("T")
MAX_AGE = 5.0  # seconds


class UnlessWritten(Generic[T]):
    """`get(read)`: the last answer of `read` while no write ended since it was made and
    it is younger than `max_age` seconds; otherwise `read()` again."""

    def __init__(self, db: Database, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.max_age = max_age
        self.clock = clock
        self._answer: tuple[int, float, T] | None = None

    def get(self, read: Callable[[], T]) -> T:
        writes, now = self.db.writes, self.clock()  # before reading: a write that ends
        known = self._answer                        # during the read is read again next time
        if known is not None and known[0] == writes and now - known[1] < self.max_age:
            return known[2]
        answer = read()
        self._answer = (writes, now, answer)
        return answer

    def forget(self) -> None:
        """Read again next time (something outside the database changed what it means)."""
        self._answer = None
