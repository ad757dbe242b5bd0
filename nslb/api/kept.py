"""List answers kept while the database is unchanged.

A list of 1,000 load balancers costs the serve 25-30 ms on a busy host, most of it
fetching and converting 1,000 rows and their children's ids, and clients (dashboards,
Terraform's refresh, the CLI) ask for the same list again and again while nothing
changes. An answer is kept with the database's data version (db/version.py: it changes
with any commit by anyone) taken before it was read; a request whose key (what the answer
depends on, api/coalesce.py: database, collection, query, the caller's scope, the links)
finds one kept under the current version gets those bytes. So no answer is older than the
database was when the request arrived, as without keeping. Where the database gives no
version (PostgreSQL), nothing is kept.

Bounded: at most `bound` answers, the least recently used go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

BOUND = 32


class Kept:
    """`get(key, version, produce)`: the kept bytes for `key` at `version`, or produce()'s."""

    def __init__(self, bound: int = BOUND) -> None:
        self.bound = bound
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()

    def get(self, key: Hashable, version: int | None, produce: Callable[[], bytes]) -> bytes:
        if version is None:
            return produce()
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[0] == version:
                self._answers.move_to_end(key)
                return kept[1]
        body = produce()  # read after `version` was taken: at least as new as it says
        with self._lock:
            self._answers[key] = (version, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self.bound:
                self._answers.popitem(last=False)
        return body
