"""The noop driver: remembers snapshots in memory and reports everything healthy.

For the fast test tiers and for API benchmarks; never a stand-in for the real data plane
in integration tests.
"""

from __future__ import annotations

import threading

from nslb.amphora.base import ApplyError, ListenerCounters, Observation
from nslb.model.snapshot import LoadBalancerSnapshot


class NoopDriver:
    name = "noop"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.applied: dict[str, LoadBalancerSnapshot] = {}
        # Tests set this to make the next apply() of an LB fail with the given reason.
        self.fail_next: dict[str, str] = {}

    def apply(self, snapshot: LoadBalancerSnapshot) -> None:
        problems = snapshot.problems()
        if problems:
            raise ApplyError("; ".join(problems))
        with self._lock:
            reason = self.fail_next.pop(snapshot.lb.id, None)
            if reason:
                raise ApplyError(reason)
            self.applied[snapshot.lb.id] = snapshot

    def delete(self, lb_id: str) -> None:
        with self._lock:
            self.applied.pop(lb_id, None)

    def observe(self, lb_id: str) -> Observation:
        with self._lock:
            snap = self.applied.get(lb_id)
        if snap is None:
            return Observation(running=False)
        listeners = {li.id: "OPEN" if li.admin_state_up else "STOP" for li in snap.listeners}
        members = {}
        for m in snap.members:
            if not m.admin_state_up:
                members[m.id] = "MAINT"
            elif snap.healthmonitor_of(m.pool_id) is None:
                members[m.id] = "no check"
            else:
                members[m.id] = "UP"
        pools = {p.id: "UP" for p in snap.pools}
        counters = {li.id: ListenerCounters() for li in snap.listeners}
        return Observation(running=True, listeners=listeners, pools=pools, members=members,
                           counters=counters)

    def existing(self) -> set[str]:
        with self._lock:
            return set(self.applied)

    def close(self) -> None:
        """Nothing to release."""
