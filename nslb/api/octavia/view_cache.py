"""API views of listed rows kept between requests, keyed by the row itself.

A list of 1,000 load balancers rebuilt 1,000 view dicts on every request (a third of its
CPU, bench/lists.py). Here each kind of collection keeps, per object id, the inputs a view
was built from (the row as a read-only record with every column, and the ids of its
children) beside the view. A later page reuses the view only when the new inputs are equal
to the kept ones, column for column. So a view never outlives a change, whoever made it:
another request, the worker, the health loop, or another controller on the same database.
No invalidation is needed, and none is relied upon: the database row is the key.

Only plain records (db/page_reads.py: named tuples, fresh per query) are cached. An ORM
object is compared by identity, and one changed in place would compare equal to itself,
so the show and update paths render without the cache.

The views handed out are shared between requests: callers only read them (list_response
copies before selecting `fields=`; orjson reads). The cache is bounded: past `bound`
entries the oldest are dropped, so deleted objects' views go in time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

BOUND = 8192  # views per kind: eight full pages of 1,000; about 2 kB each

Child = tuple[Mapping[str, Any], Any]  # parent id -> value, and the value when absent


class ViewCache:
    """The views of one kind of object (one per collection)."""

    def __init__(self, bound: int = BOUND) -> None:
        self.bound = bound
        self._entries: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()  # writers only: lookups are single dict reads

    def __len__(self) -> int:
        return len(self._entries)

    def render(self, rows: Sequence[Any], make: Callable[..., dict[str, Any]],
               *children: Child) -> list[dict[str, Any]]:
        """`make(row, *child values)` for each row, reusing the kept view when the row and
        its child values equal those it was made from. `rows` are plain records
        (`is_record`), never ORM objects."""
        entries = self._entries
        out = []
        for row in rows:
            ident = row.id
            inputs = (row, *[mapping.get(ident, absent) for mapping, absent in children])
            kept = entries.get(ident)
            if kept is not None and kept[0] == inputs:
                out.append(kept[1])
                continue
            view = make(*inputs)
            self._keep(ident, inputs, view)
            out.append(view)
        return out

    def _keep(self, ident: str, inputs: tuple[Any, ...], view: dict[str, Any]) -> None:
        with self._lock:
            entries = self._entries
            entries.pop(ident, None)  # re-inserted last: the oldest go first
            while len(entries) >= self.bound:
                del entries[next(iter(entries))]
            entries[ident] = (inputs, view)


def is_record(rows: Sequence[Any]) -> bool:
    """The rows are plain records (named tuples), which the cache may key on."""
    return bool(rows) and isinstance(rows[0], tuple)
