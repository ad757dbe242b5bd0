"""The noop driver: remembers bundles in memory and reports everything healthy.

For the fast test tiers and for API benchmarks; never a stand-in for the real data plane
in integration tests. It receives the same rendered bundles the namespace driver does, so
the fast tiers exercise the renderer and its guard too.
"""

from __future__ import annotations

import resource
import threading
from collections import Counter

from nslb.amphora.base import ApplyError, ListenerCounters, Observation, Traffic, superseded
from nslb.model.bundle import Bundle, HostFacts


class NoopDriver:
    name = "noop"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # amphora id -> the bundle it serves
        self.bundles: dict[str, Bundle] = {}
        # Fault injection for tests, keyed by load balancer id (or amphora id).
        # fail_next[key] = reason: the data plane refuses the LB's next desired state (the
        # generation of the next apply) with ApplyError, on every attempt, like haproxy
        # refusing a config; a later generation applies again.
        self.fail_next: dict[str, str] = {}
        self._refused: dict[str, int] = {}
        # broken[key] = exception: apply() and delete() raise it until the entry is removed
        # (a driver failing in ways it did not foresee: OSError, RuntimeError...).
        self.broken: dict[str, BaseException] = {}
        # How often apply()/delete() was called per (operation, load balancer id),
        # failures included.
        self.calls: Counter[tuple[str, str]] = Counter()
        # Every successful apply()/delete() in order: (operation, amphora id).
        self.history: list[tuple[str, str]] = []
        self._lb_of: dict[str, str] = {}
        # traffic[listener or member id] = what observe() reports as its Traffic (tests of
        # the dashboard's live figures set it; zero for anything not named here).
        self.traffic: dict[str, Traffic] = {}

    @property
    def applied(self) -> dict[str, Bundle]:
        """Load balancer id -> the bundle its (newest) amphora serves."""
        with self._lock:
            return {b.loadbalancer_id: b for b in self.bundles.values()}

    def facts(self) -> HostFacts:
        return HostFacts(host="noop", state_dir="/var/lib/nslb",
                         fd_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[1])

    def apply(self, bundle: Bundle) -> str:
        lb_id = bundle.loadbalancer_id
        with self._lock:
            self._lb_of[bundle.amphora_id] = lb_id
            self.calls["apply", lb_id] += 1
            self._inject(lb_id, bundle.amphora_id)
            self._refuse(lb_id, bundle.generation)
            served = self.bundles.get(bundle.amphora_id)
            stale = superseded(bundle.amphora_id, bundle.generation, bundle.hash,
                               (served.hash, served.generation) if served else None)
            if stale is not None:  # as the real data plane: a newer generation stays
                raise stale
            self.bundles[bundle.amphora_id] = bundle
            self.history.append(("apply", bundle.amphora_id))
        return bundle.hash

    def delete(self, amphora_id: str) -> None:
        with self._lock:
            lb_id = self._lb_of.get(amphora_id, amphora_id)
            self.calls["delete", lb_id] += 1
            self._inject(lb_id, amphora_id)
            self.bundles.pop(amphora_id, None)
            self.history.append(("delete", amphora_id))

    def attempts(self, operation: str, lb_id: str) -> int:
        """How often `operation` was called for the LB."""
        with self._lock:
            return self.calls[operation, lb_id]

    def forget(self, lb_id: str) -> None:
        """Drop what the LB's amphorae serve, as if their data plane vanished."""
        with self._lock:
            for amphora_id in [a for a, b in self.bundles.items() if b.loadbalancer_id == lb_id]:
                del self.bundles[amphora_id]

    def _inject(self, lb_id: str, amphora_id: str) -> None:
        fault = self.broken.get(lb_id) or self.broken.get(amphora_id)
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

    def observe(self, amphora_id: str) -> Observation:
        with self._lock:
            bundle = self.bundles.get(amphora_id)
        if bundle is None:
            return Observation(running=False)
        m = bundle.manifest
        listeners = {li: "STOP" if li in m.disabled_listeners else "OPEN" for li in m.listeners}
        members = {}
        for member in m.members:
            if member in m.disabled_members:
                members[member] = "MAINT"
            elif member in m.monitored_members:
                members[member] = "UP"
            else:
                members[member] = "no check"
        pools = {p: "UP" for p in m.pools}
        counters = {li: ListenerCounters() for li in m.listeners}
        traffic = {obj: self.traffic.get(obj, Traffic()) for obj in (*m.listeners, *members)}
        return Observation(running=True, listeners=listeners, pools=pools, members=members,
                           counters=counters, traffic=traffic)

    def existing(self) -> set[str]:
        with self._lock:
            return set(self.bundles)

    def close(self) -> None:
        """Nothing to release."""
