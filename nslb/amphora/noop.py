"""The noop driver: remembers snapshots in memory and reports everything healthy.

For the fast test tiers and for API benchmarks; never a stand-in for the real data plane
in integration tests.
"""

from __future__ import annotations

import threading
from collections import Counter

from nslb.amphora.base import ApplyError, ConfigRejected, ListenerCounters, Observation
from nslb.model.snapshot import LoadBalancerSnapshot


class NoopDriver:
    name = "noop"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.applied: dict[str, LoadBalancerSnapshot] = {}
        # Fault injection for tests. fail_next[lb_id] = reason: the data plane refuses the
        # LB's next desired state (the generation of the next apply) with ApplyError, on
        # every attempt, like haproxy refusing a config; a later generation applies again.
        self.fail_next: dict[str, str] = {}
        self._refused: dict[str, int] = {}
        # broken[lb_id] = exception: apply() and delete() of the LB raise it until the entry
        # is removed (a driver failing in ways it did not foresee: OSError, RuntimeError...).
        self.broken: dict[str, BaseException] = {}
        # How often apply()/delete() was called per (operation, lb_id), failures included.
        self.calls: Counter[tuple[str, str]] = Counter()

    def apply(self, snapshot: LoadBalancerSnapshot) -> None:
        lb_id = snapshot.lb.id
        with self._lock:
            self.calls["apply", lb_id] += 1
            self._inject(lb_id)
            self._refuse(lb_id, snapshot.generation)
        problems = snapshot.problems()
        if problems:
            raise ConfigRejected("; ".join(problems))
        with self._lock:
            self.applied[lb_id] = snapshot

    def delete(self, lb_id: str) -> None:
        with self._lock:
            self.calls["delete", lb_id] += 1
            self._inject(lb_id)
            self.applied.pop(lb_id, None)

    def attempts(self, operation: str, lb_id: str) -> int:
        """How often `operation` was called for the LB."""
        with self._lock:
            return self.calls[operation, lb_id]

    def _inject(self, lb_id: str) -> None:
        fault = self.broken.get(lb_id)
        if fault is not None:
            raise fault.with_traceback(None)

    def _refuse(self, lb_id: str, generation: int) -> None:
        reason = self.fail_next.get(lb_id)
        if not reason:
            self._refused.pop(lb_id, None)
            return
        refused = self._refused.setdefault(lb_id, generation)
        if refused == generation:
            raise ApplyError(reason)
        del self.fail_next[lb_id], self._refused[lb_id]  # the next desired state is fine

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
