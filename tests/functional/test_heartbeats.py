"""Heartbeats end to end on loopback: a Sender over the noop data plane (the "remote
host"), a real UDP Receiver with its HeartbeatStore on the test's SQLite database, and the
health loop judging the amphorae by their heartbeats. The health loop's own driver is
blind: observing a watched amphora through it fails the test."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from octavia_helpers import LB_URL, active_tree, create_lb, vip_subnet
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from starlette.testclient import TestClient

from nslb.amphora.base import Observation
from nslb.amphora.noop import NoopDriver
from nslb.db import amphorae
from nslb.db.engine import Database
from nslb.db.tables import amphora_health
from nslb.health.autofailover import AutoFailover
from nslb.health.heartbeats import HeartbeatWatch
from nslb.health.monitor import HealthMonitor
from nslb.heartbeat.envelope import encode
from nslb.heartbeat.observation import heartbeat_of
from nslb.heartbeat.receiver import HeartbeatMetrics, Receiver
from nslb.heartbeat.sender import Sender
from nslb.heartbeat.store import HeartbeatStore
from nslb.heartbeat.watch import unwatch, watch_new_amphorae
from nslb.metrics.registry import Metrics
from nslb.model.resources import Amphora
from nslb.worker.loop import Worker

KEY = b"f" * 64
TIMEOUT = 10.0


class RemoteHost(NoopDriver):
    """The noop data plane of the host the amphorae run on, with members the test puts
    DOWN."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()

    def observe(self, amphora_id: str) -> Observation:
        obs = super().observe(amphora_id)
        return dataclasses.replace(obs, members={
            m: "DOWN" if m in self.down else s for m, s in obs.members.items()})


class Blind(NoopDriver):
    """The health loop's driver: amphorae on other hosts are not its to observe."""

    def __init__(self, watched: Callable[[str], bool]) -> None:
        super().__init__()
        self.watched = watched
        self.observed: list[str] = []

    def observe(self, amphora_id: str) -> Observation:
        assert not self.watched(amphora_id), "a watched amphora was observed directly"
        self.observed.append(amphora_id)
        return Observation(running=True)


class Clock:
    """The wall clock, for the watch and the loop, that the test moves forward (`skip`):
    heartbeats are stamped with the real time when they arrive."""

    def __init__(self) -> None:
        self.offset = 0.0

    def skip(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclasses.dataclass
class Lab:
    db: Database
    host: RemoteHost
    receiver: Receiver
    watch: HeartbeatWatch
    clock: Clock
    metrics: Metrics

    def monitor(self, failover: AutoFailover | None = None) -> HealthMonitor:
        return HealthMonitor(self.db, Blind(self.watch.watches), failover=failover,
                             clock=self.clock, metrics=self.metrics, heartbeats=self.watch)

    def sender(self, ids: list[str], clock: Callable[[], float] = time.time) -> Sender:
        host, port = self.receiver.address
        return Sender(self.host, [f"{host}:{port}"], KEY, amphorae=lambda: ids, clock=clock)

    def count(self, result: str) -> float:
        value = self.receiver.metrics.registry.get_sample_value(
            "nslb_heartbeats_total", {"result": result})
        return value or 0.0

    def wait_for(self, total: int) -> None:
        """Until the receiver thread has judged `total` datagrams (accepted or not)."""
        deadline = time.monotonic() + 10
        while sum(self.count(r) for r in ("accepted", "forged", "malformed", "replayed",
                                           "stale", "unknown")) < total:
            assert time.monotonic() < deadline, "datagrams were not received"
            time.sleep(0.01)


@pytest.fixture
def driver() -> RemoteHost:
    """The worker applies bundles to this data plane; the sender observes it."""
    return RemoteHost()


@pytest.fixture
def lab(db: Database, driver: RemoteHost) -> Iterator[Lab]:
    watch_new_amphorae(db)
    store = HeartbeatStore(db)
    registry = CollectorRegistry()
    # flushed by the tests themselves: an hour between the receiver's own flushes
    receiver = Receiver("127.0.0.1:0", KEY, store, window=10, flush_interval=3600,
                        metrics=HeartbeatMetrics(registry))
    receiver.start()
    clock = Clock()
    try:
        yield Lab(db, driver, receiver, HeartbeatWatch(db, store, TIMEOUT, clock=clock),
                  clock, Metrics())
    finally:
        receiver.stop()
        unwatch(db)


def amphora_of(db: Database, lb_id: str) -> Amphora:
    with db.read() as session:
        (one,) = amphorae.of_lb(session, lb_id)
        return one


def health_rows(db: Database) -> dict[str, Any]:
    with db.read() as session:
        return {r.amphora_id: r for r in session.execute(select(amphora_health))}


def operating(client: TestClient, lb_id: str) -> dict[str, str]:
    tree = client.get(f"{LB_URL}/{lb_id}/status").json()["statuses"]["loadbalancer"]
    listener = tree["listeners"][0]
    pool = listener["pools"][0]
    return {"lb": tree["operating_status"], "listener": listener["operating_status"],
            "pool": pool["operating_status"], "member": pool["members"][0]["operating_status"]}


def deliver(lab: Lab, sender: Sender) -> None:
    """One round: the receiver learnt the amphorae created meanwhile (its flush thread's
    refresh), the sender beats, everything is received and flushed."""
    lab.receiver.refresh()
    before = sum(lab.count(r) for r in ("accepted", "forged", "malformed", "replayed",
                                         "stale", "unknown"))
    lab.wait_for(int(before) + sender.beat())
    lab.receiver.flush()


def test_statuses_of_a_remote_amphora_come_from_its_heartbeats(
        lab: Lab, client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    amp = amphora_of(lab.db, ids["lb"])
    row = health_rows(lab.db)[amp.id]
    assert (row.last_seq, row.busy) == (0, False)  # watched from its creation
    monitor = lab.monitor()
    sender = lab.sender([amp.id])
    deliver(lab, sender)
    monitor.run_once()
    assert operating(client, ids["lb"]) == {"lb": "ONLINE", "listener": "ONLINE",
                                            "pool": "ONLINE", "member": "ONLINE"}
    lab.host.down.add(ids["member"])
    deliver(lab, sender)
    monitor.run_once()
    assert operating(client, ids["lb"]) == {"lb": "DEGRADED", "listener": "ONLINE",
                                            "pool": "DEGRADED", "member": "ERROR"}
    row = health_rows(lab.db)[amp.id]
    assert row.last_seq == sender.seq and row.last_update > amp.created_at
    assert lab.count("accepted") == 2


def test_forged_replayed_and_old_heartbeats_are_refused_and_counted(
        lab: Lab, client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    amp = amphora_of(lab.db, ids["lb"])
    monitor = lab.monitor()
    sender = lab.sender([amp.id])
    deliver(lab, sender)
    monitor.run_once()
    assert operating(client, ids["lb"])["member"] == "ONLINE"
    # what an attacker on the path sends: each would say the member is down
    lab.host.down.add(ids["member"])
    down = lab.host.observe(amp.id)
    captured = sender.datagram(amp.id)
    forged = encode(heartbeat_of(amp.id, sender.seq + 10, time.time(), down),
                    b"not the key" * 4)
    old = encode(heartbeat_of(amp.id, sender.seq + 20, time.time() - 60, down), KEY)
    target = lab.receiver.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(captured, target)
        sock.sendto(captured, target)    # replayed
        sock.sendto(forged, target)
        sock.sendto(old, target)
    lab.wait_for(5)
    assert {r: lab.count(r) for r in ("accepted", "replayed", "forged", "stale")} == \
        {"accepted": 2, "replayed": 1, "forged": 1, "stale": 1}
    lab.receiver.flush()
    monitor.run_once()  # the one heartbeat accepted is the sender's own, and true
    assert operating(client, ids["lb"])["member"] == "ERROR"
    lab.host.down.clear()
    judged = sum(lab.count(r) for r in ("accepted", "forged", "malformed", "replayed",
                                         "stale", "unknown"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(captured, target)    # replaying the DOWN report after it healed
    # judged before the next round counts what it waits for (else, on a loaded machine,
    # that round took this replay for the sender's beat and flushed too early)
    lab.wait_for(int(judged) + 1)
    deliver(lab, sender)
    monitor.run_once()
    assert lab.count("replayed") == 2
    assert operating(client, ids["lb"])["member"] == "ONLINE"


def test_silence_is_failed_over_after_the_timeout_even_without_a_first_heartbeat(
        lab: Lab, client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)["id"]
    quiet, talked = (create_lb(client, subnet)["id"] for _ in range(2))
    worker.drain()
    quiet_amp, talked_amp = amphora_of(lab.db, quiet), amphora_of(lab.db, talked)
    monitor = lab.monitor(AutoFailover(timeout=30, threshold=None, max_concurrent=4))
    deliver(lab, lab.sender([talked_amp.id]))
    monitor.run_once()
    lab.clock.skip(TIMEOUT - 2)
    monitor.run_once()
    assert {amphora_of(lab.db, lb).status for lb in (quiet, talked)} == {"ALLOCATED"}
    lab.clock.skip(3)  # both silent now: one never spoke, the other stopped
    monitor.run_once()
    rows = health_rows(lab.db)
    for lb_id, amp in ((quiet, quiet_amp), (talked, talked_amp)):
        assert client.get(f"{LB_URL}/{lb_id}").json()["loadbalancer"][
            "provisioning_status"] == "PENDING_UPDATE"
        assert rows[amp.id].busy
    assert lab.metrics.registry.get_sample_value("nslb_failovers_total",
                                                 {"trigger": "health"}) == 2
    worker.drain()
    replacement = amphora_of(lab.db, quiet)
    assert replacement.id != quiet_amp.id and replacement.status == "ALLOCATED"
    rows = health_rows(lab.db)
    assert replacement.id in rows and quiet_amp.id not in rows  # watched, and forgotten


def test_a_whole_host_going_silent_is_stopped_by_the_threshold(
        lab: Lab, client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)["id"]
    lbs = [create_lb(client, subnet)["id"] for _ in range(4)]
    worker.drain()
    amps = [amphora_of(lab.db, lb).id for lb in lbs]
    monitor = lab.monitor(AutoFailover(timeout=30, threshold=2, max_concurrent=2))
    deliver(lab, lab.sender(amps))
    monitor.run_once()
    lab.clock.skip(TIMEOUT + 1)   # the host is gone: all four stop at once
    monitor.run_once()
    assert {amphora_of(lab.db, lb).status for lb in lbs} == {"FAILOVER_STOPPED"}
    assert {client.get(f"{LB_URL}/{lb}").json()["loadbalancer"]["provisioning_status"]
            for lb in lbs} == {"ACTIVE"}
    assert lab.metrics.registry.get_sample_value("nslb_failovers_stopped_total") == 4
    assert lab.metrics.registry.get_sample_value("nslb_failovers_total",
                                                 {"trigger": "health"}) == 0


def test_amphorae_without_a_health_row_are_observed_as_before(
        db: Database, client: TestClient, worker: Worker) -> None:
    """The embedded path: nothing watched, observe() as today, even with a watch."""
    ids = active_tree(client, worker)
    amp = amphora_of(db, ids["lb"])
    assert health_rows(db) == {}
    watch = HeartbeatWatch(db, HeartbeatStore(db), TIMEOUT)
    driver = Blind(watch.watches)
    HealthMonitor(db, driver, heartbeats=watch).run_once()
    assert driver.observed == [amp.id]
