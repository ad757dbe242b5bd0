"""A health round costs what changed: an idle round over many LBs issues one query and
writes nothing; a change rereads and rewrites only the LB it touched; a member going down
and counters moving are written, alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from octavia_helpers import LB_URL, members_url, vip_subnet
from sqlalchemy import event
from starlette.testclient import TestClient

from nslb.amphora.base import ListenerCounters, Observation
from nslb.amphora.noop import NoopDriver
from nslb.db.engine import Database
from nslb.health.monitor import INLINE, HealthMonitor
from nslb.model.resources import Member
from nslb.worker.loop import Worker

COUNT = INLINE + 8  # enough to be observed by the thread pool


class ScriptedDriver(NoopDriver):
    """The noop data plane, with members reported DOWN and counters set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.counters: dict[str, ListenerCounters] = {}

    def observe(self, amphora_id: str) -> Observation:
        obs = super().observe(amphora_id)
        members = {m: "DOWN" if m in self.down else s for m, s in obs.members.items()}
        counters = {li: self.counters.get(li, c) for li, c in obs.counters.items()}
        return dataclasses.replace(obs, members=members, counters=counters)


def _trees(client: TestClient, worker: Worker, count: int) -> list[dict[str, Any]]:
    subnet = vip_subnet(client, "10.3.0.0/16")
    lbs = []
    for _ in range(count):
        body = {"loadbalancer": {
            "vip_subnet_id": subnet["id"],
            "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {"name": "web"}}],
            "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"address": "10.3.255.1", "protocol_port": 8080}],
                       "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                         "max_retries": 1}}]}}
        resp = client.post(LB_URL, json=body)
        assert resp.status_code == 201, resp.text
        lbs.append(resp.json()["loadbalancer"])
    worker.drain()
    return lbs


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _member(client: TestClient, lb: dict[str, Any]) -> dict[str, Any]:
    pool_id = lb["pools"][0]["id"]
    members: list[dict[str, Any]] = client.get(members_url(pool_id)).json()["members"]
    return members[0]


def _operating(client: TestClient, lb_id: str) -> str:
    status: str = client.get(f"{LB_URL}/{lb_id}").json()["loadbalancer"]["operating_status"]
    return status


def test_an_idle_round_reads_once_and_writes_nothing(client: TestClient, worker: Worker,
                                                      db: Database) -> None:
    driver = ScriptedDriver()
    worker.driver = driver
    lbs = _trees(client, worker, COUNT)
    health = HealthMonitor(db, driver, threads=4)
    first = health.run_once()
    assert (first.loadbalancers, first.trees_read) == (COUNT, COUNT)
    assert first.statuses_written > 0 and first.stats_written == COUNT
    assert {_operating(client, lb["id"]) for lb in lbs} == {"ONLINE"}

    with statements(db) as seen:
        second = health.run_once()
    assert (second.trees_read, second.statuses_written, second.stats_written) == (0, 0, 0)
    assert len(seen) == 1, seen  # the list of amphorae to observe, nothing per LB
    health.stop()


def test_a_change_rereads_and_rewrites_only_its_lb(client: TestClient, worker: Worker,
                                                   db: Database) -> None:
    driver = ScriptedDriver()
    worker.driver = driver
    lbs = _trees(client, worker, COUNT)
    health = HealthMonitor(db, driver, threads=4)
    health.run_once()
    member = _member(client, lbs[3])
    resp = client.put(f"{members_url(lbs[3]['pools'][0]['id'])}/{member['id']}",
                      json={"member": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    worker.drain()

    report = health.run_once()

    assert report.trees_read == 1
    assert report.statuses_written >= 1 and report.stats_written == 0
    assert _member(client, lbs[3])["operating_status"] == "OFFLINE"
    health.stop()


def test_a_member_going_down_and_moving_counters_are_written_alone(
        client: TestClient, worker: Worker, db: Database) -> None:
    driver = ScriptedDriver()
    worker.driver = driver
    lbs = _trees(client, worker, COUNT)
    health = HealthMonitor(db, driver, threads=4)
    health.run_once()
    victim = lbs[5]
    victim_member = _member(client, victim)["id"]
    with db.write() as session:  # stamps are whole seconds: start from an older one
        session.get(Member, victim_member).updated_at = datetime(2020, 1, 1)
    driver.down.add(victim_member)
    listener_id = victim["listeners"][0]["id"]
    driver.counters[listener_id] = ListenerCounters(total_connections=7, bytes_in=700)

    report = health.run_once()

    assert (report.trees_read, report.derived) == (0, 1)
    # the member ERROR, its pool and the LB DEGRADED; the other LBs untouched
    assert (report.statuses_written, report.stats_written) == (3, 1)
    assert _member(client, victim)["operating_status"] == "ERROR"
    assert _updated_at(db, victim_member).year > 2020  # moved with the status, as in Octavia
    assert _operating(client, victim["id"]) == "DEGRADED"
    assert {_operating(client, lb["id"]) for lb in lbs if lb is not victim} == {"ONLINE"}
    stats = client.get(f"{LB_URL}/{victim['id']}/stats").json()["stats"]
    assert (stats["total_connections"], stats["bytes_in"]) == (7, 700)

    driver.down.clear()
    back = health.run_once()
    assert (back.statuses_written, back.stats_written) == (3, 0)
    assert _operating(client, victim["id"]) == "ONLINE"
    health.stop()


def _updated_at(db: Database, member_id: str) -> datetime:
    """The row's own timestamp (the API shows whole seconds)."""
    with db.read() as session:
        row = session.get(Member, member_id)
        assert row is not None and row.updated_at is not None
        return row.updated_at


class LivenessDriver(ScriptedDriver):
    """A data plane with a cheap liveness probe, as the namespace driver has."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, object] = {}
        self.observed: list[str] = []

    def liveness(self, amphora_ids: list[str]) -> dict[str, object]:
        return {a: self.tokens.get(a, "up") for a in amphora_ids}

    def observe(self, amphora_id: str) -> Observation:
        self.observed.append(amphora_id)
        return super().observe(amphora_id)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_live_amphorae_are_observed_as_often_as_their_monitors_look(
        client: TestClient, worker: Worker, db: Database) -> None:
    driver, clock = LivenessDriver(), Clock()
    worker.driver = driver
    lbs = _trees(client, worker, 3)  # HTTP monitors with delay 1 ...
    pool = lbs[0]["pools"][0]["id"]
    hm = client.get(f"/v2/lbaas/pools/{pool}").json()["pool"]["healthmonitor_id"]
    resp = client.put(f"/v2/lbaas/healthmonitors/{hm}", json={"healthmonitor": {"delay": 4}})
    assert resp.status_code == 200, resp.text  # ... but this one's has delay 4
    worker.drain()
    health = HealthMonitor(db, driver, clock=clock)
    amphora_of = {}
    health.run_once()
    for amphora_id in driver.observed:
        amphora_of[driver.bundles[amphora_id].loadbalancer_id] = amphora_id
    slow = amphora_of[lbs[0]["id"]]

    counts = []
    for _ in range(8):
        clock.now += 1
        driver.observed.clear()
        health.run_once()
        counts.append(slow in driver.observed)
        assert {amphora_of[lb["id"]] for lb in lbs[1:]} <= set(driver.observed)
    assert counts == [False, False, False, True] * 2

    driver.tokens[slow] = "restarted"  # its processes changed: looked at the next round
    clock.now += 1
    driver.observed.clear()
    health.run_once()
    assert slow in driver.observed

    driver.down.add(_member(client, lbs[0])["id"])  # unhealthy members need no new look...
    driver.bundles.pop(slow)  # ...but a data plane that is down is looked at every round
    driver.tokens[slow] = None
    for _ in range(2):
        clock.now += 1
        driver.observed.clear()
        health.run_once()
        assert slow in driver.observed
    assert _operating(client, lbs[0]["id"]) == "ERROR"


def test_the_live_board_keeps_only_fresh_observations(
        client: TestClient, worker: Worker, db: Database) -> None:
    """The dashboard's rates are counter differences over time: an LB whose amphorae were
    not looked at again this round keeps the figures (and time) of its last real look."""
    driver, clock = LivenessDriver(), Clock()
    worker.driver = driver
    lb = _trees(client, worker, 1)[0]
    pool = lb["pools"][0]["id"]
    hm = client.get(f"/v2/lbaas/pools/{pool}").json()["pool"]["healthmonitor_id"]
    resp = client.put(f"/v2/lbaas/healthmonitors/{hm}", json={"healthmonitor": {"delay": 3}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    health = HealthMonitor(db, driver, clock=clock)
    health.run_once()
    first = health.live.seen(lb["id"])
    assert first is not None

    recorded = []
    for _ in range(3):
        clock.now += 1
        driver.observed.clear()
        health.run_once()
        seen = health.live.seen(lb["id"])
        recorded.append((bool(driver.observed), seen is not first))
        first = seen
    assert recorded == [(False, False), (False, False), (True, True)]
