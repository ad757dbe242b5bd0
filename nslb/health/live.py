"""What the health loop saw last, kept in memory for the dashboard.

Per load balancer: the traffic counters of the amphora serving it and the state of each
of its amphorae (running, VRRP), as of the latest round. None of it goes to the database:
the counters move every second and a graph that polls needs only the current value (it
keeps its own history), and writing them would cost a transaction per busy listener per
second. The status changes the loop writes are events in the outbox (events/outbox.py),
which the dashboard reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from nslb.amphora.base import Observation, Traffic


@dataclass(frozen=True)
class AmphoraSeen:
    running: bool
    vrrp: str  # MASTER, BACKUP, FAULT, STOPPED; "" for a STANDALONE amphora


@dataclass(frozen=True)
class Seen:
    """One LB as the latest health round saw it; `at` is wall-clock time (time.time())."""

    at: float
    traffic: dict[str, Traffic]
    amphorae: dict[str, AmphoraSeen]


class LiveBoard:
    """Written by the health thread, read by API threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}

    def record(self, lb_id: str, at: float, serving: Observation,
               amphorae: dict[str, Observation]) -> None:
        seen = Seen(at, serving.traffic,
                    {a: AmphoraSeen(o.running, o.vrrp) for a, o in amphorae.items()})
        with self._lock:
            self._seen[lb_id] = seen

    def keep_only(self, lb_ids: set[str]) -> None:
        """Forget LBs the health loop no longer observes (deleted, or being deleted)."""
        with self._lock:
            for gone in set(self._seen) - lb_ids:
                del self._seen[gone]

    def seen(self, lb_id: str) -> Seen | None:
        with self._lock:
            return self._seen.get(lb_id)
