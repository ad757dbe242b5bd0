"""What the health loop saw last, kept in memory for the dashboard.

Per load balancer: the traffic counters of the amphora serving it and the state of each
of its amphorae (running, VRRP), as of the latest round; and the operating-status changes
the loop wrote, newest last. None of it goes to the database: the counters move every
second and a graph that polls needs only the current value (it keeps its own history),
and writing them would cost a transaction per busy listener per second. The status
changes are what this process saw since it started, until the events outbox records
them durably.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from nslb.amphora.base import Observation, Traffic

EVENTS_PER_LB = 50


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


@dataclass(frozen=True)
class StatusChange:
    """An operating status the health loop changed: `kind` is the object's class name
    (LoadBalancer, Listener, Pool, Member, HealthMonitor, ...)."""

    at: float
    object_id: str
    kind: str
    name: str
    old: str
    new: str


class LiveBoard:
    """Written by the health thread, read by API threads."""

    def __init__(self, events_per_lb: int = EVENTS_PER_LB) -> None:
        self.events_per_lb = events_per_lb
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}
        self._changes: dict[str, deque[StatusChange]] = {}

    def record(self, lb_id: str, at: float, serving: Observation,
               amphorae: dict[str, Observation]) -> None:
        seen = Seen(at, serving.traffic,
                    {a: AmphoraSeen(o.running, o.vrrp) for a, o in amphorae.items()})
        with self._lock:
            self._seen[lb_id] = seen

    def changed(self, lb_id: str, changes: list[StatusChange]) -> None:
        with self._lock:
            ring = self._changes.setdefault(lb_id, deque(maxlen=self.events_per_lb))
            ring.extend(changes)

    def keep_only(self, lb_ids: set[str]) -> None:
        """Forget LBs the health loop no longer observes (deleted, or being deleted)."""
        with self._lock:
            for gone in set(self._seen) - lb_ids:
                del self._seen[gone]
            for gone in set(self._changes) - lb_ids:
                del self._changes[gone]

    def seen(self, lb_id: str) -> Seen | None:
        with self._lock:
            return self._seen.get(lb_id)

    def changes(self, lb_id: str) -> list[StatusChange]:
        """The LB's recorded status changes, oldest first."""
        with self._lock:
            return list(self._changes.get(lb_id, ()))
