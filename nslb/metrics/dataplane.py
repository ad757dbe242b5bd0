"""Per-load-balancer data-plane metrics, from what the health loop already observes.

The health loop reads the amphorae's `show stat` (every round for an amphora that moved
or is unhealthy, otherwise as often as its health monitors look, at least every few
seconds: health/monitor.py); it hands this store the observation of the amphora serving an
LB together with the LB's tree, only when something moved, and a scrape reads the store.
So a scrape never touches the data plane and costs the same however often it comes; its
readings are as old as the health loop's last look at that LB.

Listeners report connections, HTTP requests, bytes, errors and 5xx answers (the frontend
row); members report the same from haproxy's side of the pool (the server row: sessions,
bytes, connection and response errors, 5xx) and whether they take traffic.

Series are labelled with Octavia's ids (loadbalancer_id, listener_id, pool_id, member_id)
and the LB's project_id, taken from the tree, never from haproxy: a proxy or server
haproxy reports that the tree does not hold is left out. Counters are folded like
/stats (db/stats.fold): a reload, a restart or a failover to the peer amphora starts
haproxy's counters again at zero, and the totals here carry on, so they only go down
when nslb itself restarts (a counter reset Prometheus' rate() expects).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from nslb.amphora.base import ListenerCounters, MemberCounters, Observation
from nslb.db.stats import fold
from nslb.db.tree import Tree

# Folded listener counters: ListenerCounters field -> metric name (without _total).
COUNTERS = {
    "total_connections": ("nslb_listener_connections",
                          "Connections accepted by the listener"),
    "requests": ("nslb_listener_requests", "HTTP requests received by the listener"),
    "bytes_in": ("nslb_listener_bytes_in", "Bytes received from clients"),
    "bytes_out": ("nslb_listener_bytes_out", "Bytes sent to clients"),
    "request_errors": ("nslb_listener_request_errors",
                       "Requests that were invalid or failed before reaching a member"),
    "responses_5xx": ("nslb_listener_responses_5xx",
                      "HTTP responses with a 5xx status sent to clients"),
}
FOLDED = tuple(COUNTERS)
# Folded member counters: MemberCounters field -> metric name (without _total).
MEMBER_COUNTERS = {
    "sessions": ("nslb_member_sessions",
                 "Sessions haproxy sent to the member (one per HTTP request or TCP connection)"),
    "bytes_in": ("nslb_member_bytes_in", "Bytes sent to the member"),
    "bytes_out": ("nslb_member_bytes_out", "Bytes received from the member"),
    "connection_errors": ("nslb_member_connection_errors",
                          "Connections to the member that failed"),
    "response_errors": ("nslb_member_response_errors",
                        "Responses from the member that failed (aborted, invalid)"),
    "responses_5xx": ("nslb_member_responses_5xx",
                      "HTTP responses with a 5xx status from the member"),
}
MEMBER_FOLDED = tuple(MEMBER_COUNTERS)
# haproxy server states in which a member takes traffic (or would, were it not drained)
MEMBER_UP = frozenset({"UP", "no check", "DRAIN", "NOLB"})
LISTENER_UP = frozenset({"OPEN", "FULL"})
LB_LABELS = ["loadbalancer_id", "project_id"]
LISTENER_LABELS = ["loadbalancer_id", "listener_id", "project_id"]
POOL_LABELS = ["loadbalancer_id", "pool_id", "project_id"]
MEMBER_LABELS = ["loadbalancer_id", "pool_id", "member_id", "project_id"]
AMPHORA_LABELS = ["loadbalancer_id", "amphora_id", "project_id"]
# amphora id -> (up, holds the VIP)
Amphorae = dict[str, tuple[bool, bool]]


def amphora_states(observations: dict[str, Observation]) -> Amphorae:
    """Per amphora of an LB: up (haproxy answers and, in a pair, keepalived runs and
    passes its check) and whether it holds the VIP (VRRP MASTER, or a running STANDALONE
    amphora). A standby that died shows here while the LB keeps serving."""
    return {amphora_id: (o.running and o.vrrp not in ("STOPPED", "FAULT"),
                         o.running and o.vrrp in ("MASTER", ""))
            for amphora_id, o in observations.items()}


@dataclass(frozen=True)
class ListenerReading:
    listener_id: str
    up: bool
    active_connections: int
    totals: dict[str, int]  # FOLDED -> total since nslb first saw the listener


@dataclass(frozen=True)
class MemberReading:
    pool_id: str
    member_id: str
    up: bool
    active_sessions: int
    totals: dict[str, int]  # MEMBER_FOLDED -> total since nslb first saw the member


@dataclass(frozen=True)
class LbReading:
    """One LB's data plane as last observed; never changed once made (scrapes read it
    without a lock while the health loop makes the next one)."""

    loadbalancer_id: str
    project_id: str
    up: bool
    listeners: tuple[ListenerReading, ...]
    pools: tuple[tuple[str, bool], ...]              # (pool id, up)
    members: tuple[MemberReading, ...]
    amphorae: Amphorae


@dataclass
class _Fold:
    raw: dict[str, int]
    process_start: float
    totals: dict[str, int]


class DataPlane:
    """The store and its Prometheus collector. `update` and `retain` are called by the
    health loop's thread only; `collect` by scrapes, from any thread."""

    def __init__(self) -> None:
        self._lbs: dict[str, LbReading] = {}
        self._folds: dict[str, _Fold] = {}   # listener or member id -> its counters so far
        self._lock = threading.Lock()

    def __contains__(self, lb_id: object) -> bool:
        return lb_id in self._lbs

    def current(self, lb_id: str, amphorae: Amphorae) -> bool:
        """The store holds the LB, with its amphorae in these states."""
        reading = self._lbs.get(lb_id)
        return reading is not None and reading.amphorae == amphorae

    def update(self, tree: Tree, obs: Observation, amphorae: Amphorae | None = None) -> None:
        """Take the observation of the amphora serving the LB of `tree`, and the states of
        all its amphorae (amphora_states)."""
        listeners = tuple(self._listener(li.id, obs) for li in tree.listeners)
        pools = tuple((p.id, obs.pools.get(p.id) == "UP") for p in tree.pools)
        members = tuple(self._member(m.pool_id, m.id, obs) for m in tree.members)
        reading = LbReading(tree.lb.id, tree.lb.project_id, obs.running, listeners, pools,
                            members, dict(amphorae or {}))
        with self._lock:
            previous = self._lbs.get(tree.lb.id)
            self._lbs[tree.lb.id] = reading
        if previous is not None:  # listeners and members deleted from the tree
            for gone in _ids(previous) - _ids(reading):
                self._folds.pop(gone, None)

    def _listener(self, listener_id: str, obs: Observation) -> ListenerReading:
        counters = obs.counters.get(listener_id)
        totals = self._fold(listener_id, counters, obs.process_start, FOLDED)
        if counters is None:  # not served now (an LB down, a listener not rendered yet)
            return ListenerReading(listener_id, False, 0, totals)
        return ListenerReading(listener_id, obs.listeners.get(listener_id) in LISTENER_UP,
                               counters.active_connections, totals)

    def _member(self, pool_id: str, member_id: str, obs: Observation) -> MemberReading:
        raw = obs.member_stats.get(member_id)
        counters = None if raw is None else MemberCounters.parse(raw)
        totals = self._fold(member_id, counters, obs.process_start, MEMBER_FOLDED)
        return MemberReading(pool_id, member_id, obs.members.get(member_id) in MEMBER_UP,
                             counters.active_sessions if counters is not None else 0, totals)

    def _fold(self, object_id: str, counters: ListenerCounters | MemberCounters | None,
              process_start: float, keys: tuple[str, ...]) -> dict[str, int]:
        """The totals of one object after this reading (db/stats.fold); an object not
        served now keeps the totals it had."""
        known = self._folds.get(object_id)
        if counters is None:
            return known.totals if known is not None else dict.fromkeys(keys, 0)
        raw = {key: getattr(counters, key) for key in keys}
        if known is None:
            known = _Fold(raw, process_start, fold({}, None, raw, keys))
        elif known.raw != raw or known.process_start != process_start:
            restarted = known.process_start != process_start
            known = _Fold(raw, process_start,
                          fold(known.totals, None if restarted else known.raw, raw, keys))
        self._folds[object_id] = known
        return known.totals

    def retain(self, lb_ids: Collection[str]) -> None:
        """Forget the LBs not in `lb_ids` (deleted, or no longer observed)."""
        gone = [lb_id for lb_id in self._lbs if lb_id not in lb_ids]
        if not gone:
            return
        with self._lock:
            readings = [self._lbs.pop(lb_id) for lb_id in gone]
        for reading in readings:
            for object_id in _ids(reading):
                self._folds.pop(object_id, None)

    def readings(self) -> list[LbReading]:
        with self._lock:
            return list(self._lbs.values())

    # --- the collector -------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        yield from _families().values()

    def collect(self) -> Iterator[Metric]:
        families = _families()
        lb_up, listener_up = families["lb_up"], families["listener_up"]
        active, pool_up = families["active"], families["pool_up"]
        member_up = families["member_up"]
        for lb in self.readings():
            lb_up.add_metric([lb.loadbalancer_id, lb.project_id], 1.0 if lb.up else 0.0)
            for li in lb.listeners:
                labels = [lb.loadbalancer_id, li.listener_id, lb.project_id]
                listener_up.add_metric(labels, 1.0 if li.up else 0.0)
                active.add_metric(labels, li.active_connections)
                for key, value in li.totals.items():
                    families[key].add_metric(labels, value)
            for pool_id, up in lb.pools:
                pool_up.add_metric([lb.loadbalancer_id, pool_id, lb.project_id],
                                   1.0 if up else 0.0)
            for amphora_id, (up, holder) in lb.amphorae.items():
                labels = [lb.loadbalancer_id, amphora_id, lb.project_id]
                families["amphora_up"].add_metric(labels, 1.0 if up else 0.0)
                families["amphora_vip"].add_metric(labels, 1.0 if holder else 0.0)
            for m in lb.members:
                labels = [lb.loadbalancer_id, m.pool_id, m.member_id, lb.project_id]
                member_up.add_metric(labels, 1.0 if m.up else 0.0)
                families["member_active"].add_metric(labels, m.active_sessions)
                for key, value in m.totals.items():
                    families[f"member_{key}"].add_metric(labels, value)
        yield from families.values()


def _ids(reading: LbReading) -> set[str]:
    """The listener and member ids whose counters a reading holds."""
    return {li.listener_id for li in reading.listeners} | {m.member_id for m in reading.members}


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        "lb_up": GaugeMetricFamily(
            "nslb_loadbalancer_up", "1 when an amphora of the load balancer serves (its "
            "haproxy answers; in a pair, the one holding the VIP)", labels=LB_LABELS),
        "listener_up": GaugeMetricFamily(
            "nslb_listener_up", "1 when haproxy reports the listener open (OPEN or FULL)",
            labels=LISTENER_LABELS),
        "active": GaugeMetricFamily(
            "nslb_listener_active_connections", "Connections open on the listener now",
            labels=LISTENER_LABELS),
        "pool_up": GaugeMetricFamily(
            "nslb_pool_up", "1 when haproxy reports the pool (backend) UP",
            labels=POOL_LABELS),
        "member_up": GaugeMetricFamily(
            "nslb_member_up", "1 when haproxy sends the member traffic or would (UP, no "
            "check, DRAIN); 0 when it is DOWN or in maintenance (admin_state_up false)",
            labels=MEMBER_LABELS),
    }
    for key, (name, doc) in COUNTERS.items():
        families[key] = CounterMetricFamily(name, doc, labels=LISTENER_LABELS)
    families["amphora_up"] = GaugeMetricFamily(
        "nslb_amphora_up", "1 when the amphora's haproxy answers and, in an ACTIVE_STANDBY "
        "pair, its keepalived runs and passes its check", labels=AMPHORA_LABELS)
    families["amphora_vip"] = GaugeMetricFamily(
        "nslb_amphora_holds_vip", "1 when the amphora holds the VIP (VRRP MASTER, or a "
        "running STANDALONE amphora)", labels=AMPHORA_LABELS)
    families["member_active"] = GaugeMetricFamily(
        "nslb_member_active_sessions", "Sessions open on the member now",
        labels=MEMBER_LABELS)
    for key, (name, doc) in MEMBER_COUNTERS.items():
        families[f"member_{key}"] = CounterMetricFamily(name, doc, labels=MEMBER_LABELS)
    return families
