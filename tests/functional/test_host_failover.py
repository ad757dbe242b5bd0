"""Host failover with agents over real mutual TLS on loopback (agents wrap the noop
driver): the heartbeat key handed over at join, hosts' UP/DOWN from heartbeats, the
delete of an amphora on a dead host deferred to its return, and drain's order."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from nslb.agent.join import join
from nslb.agent.run import AgentServer
from nslb.agent.state import AgentFiles
from nslb.amphora.base import Observation
from nslb.amphora.remote import RemoteDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora, amphora_health, host
from nslb.health.hoststate import HostWatch, drain_order, judge
from nslb.heartbeat.keys import read_key
from nslb.heartbeat.observation import heartbeat_of
from nslb.heartbeat.store import HeartbeatStore, Received
from nslb.heartbeat.watch import unwatch, watch_new_amphorae
from nslb.model.enums import AmphoraRole
from nslb.model.resources import Amphora
from nslb.pki.controller import ControllerPki
from nslb.pki.endpoint import JoinListener
from tests.functional import test_agents as agents
from tests.functional.conftest import PHYSNETS, PROJECT
from tests.functional.octavia_helpers import active_lb
from tests.functional.test_agents import (
    LOOPBACK,
    Agent,
    Controller,
    free_port,
    start_agent,
    stop_agent,
    wait_listening,
)

# the agents' fixtures: a controller's join listener, two joined agents, the remote driver
# (which the worker of conftest drives)
controller = agents.controller
two_agents = agents.two_agents
remote = agents.remote
driver = agents.driver

KEY = "6f" * 32


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def host_ids(agents: list[Agent]) -> list[str]:
    return [a.files.registration().host_id for a in agents]


def placed(db: Database, lb_id: str) -> dict[str, str]:
    """amphora id -> host id of an LB's live amphorae."""
    with db.read() as session:
        rows = session.execute(select(amphora.c.id, amphora.c.compute_id).where(
            amphora.c.loadbalancer_id == lb_id, amphora.c.status != "DELETED")).all()
    return {r.id: r.compute_id for r in rows}


def restart(agent: Agent) -> Agent:
    """The same host back (same state, same port): a new server over the same driver."""
    server = AgentServer(agent.files, agent.driver, LOOPBACK, agent.port, refresh=3600)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_listening(agent.port)
    return Agent(agent.files, server, agent.driver, agent.port, thread)


# --- the key at join ------------------------------------------------------------------------


@pytest.fixture
def beating(tmp_path: Path, db: Database) -> Iterator[Controller]:
    """A controller whose join listener hands out a heartbeat key, listening everywhere."""
    pki = ControllerPki(tmp_path / "controller", db, (LOOPBACK,))
    port = free_port()
    listener = JoinListener(pki, db, LOOPBACK, port,
                            heartbeat={"key": KEY, "host": "", "port": 5599})
    listener.start()
    wait_listening(port)
    yield Controller(pki, f"https://{LOOPBACK}:{port}", listener)
    listener.stop()


def test_an_agent_gets_the_heartbeat_key_and_target_at_join(
        tmp_path: Path, beating: Controller) -> None:
    files = AgentFiles(tmp_path / "agent")
    registration = join(beating.url, beating.token(), files, LOOPBACK, free_port(),
                        name="hf-1")
    assert registration.heartbeat_to == (f"{LOOPBACK}:5599",)  # the join URL's host
    assert files.registration().heartbeat_to == (f"{LOOPBACK}:5599",)
    assert read_key(files.heartbeat_key) == KEY.encode()
    assert stat.S_IMODE(files.heartbeat_key.stat().st_mode) == 0o600


def test_without_heartbeats_at_the_controller_the_agent_sends_none(
        agent: Agent) -> None:
    assert agent.files.registration().heartbeat_to == ()
    assert agent.server.sender is None
    assert not agent.files.heartbeat_key.exists()


@pytest.fixture
def agent(tmp_path: Path, controller: Controller) -> Iterator[Agent]:
    one = start_agent(tmp_path / "agent", controller, "hf-host-1")
    yield one
    stop_agent(one)


# --- UP / DOWN from heartbeats --------------------------------------------------------------


def test_judge_is_up_within_the_timeout() -> None:
    assert judge({"a": 100.0, "b": 89.0}, now=100.0, timeout=10) == {"a": "UP", "b": "DOWN"}


def test_a_host_is_down_when_nothing_of_it_is_heard_and_up_again_when_heard(
        db: Database, remote: RemoteDriver, two_agents: list[Agent]) -> None:
    first, second = host_ids(two_agents)
    clock = Clock(2_000_000_000.0)
    store = HeartbeatStore(db)
    watch = HostWatch(db, remote, store, timeout=5, clock=clock)
    watch.run_once()  # inserts each host's own heartbeat row
    with db.read() as session:
        assert {r for r in session.scalars(select(amphora_health.c.amphora_id))} == \
            {first, second}

    def beat(amphora_id: str, seq: int) -> None:
        store.store({amphora_id: Received(
            heartbeat_of(amphora_id, seq, clock.now, Observation(running=True)), clock.now)})

    clock.now += 4
    beat(first, 1)  # the first host's own heartbeat; nothing of the second
    clock.now += 3
    watch.run_once()
    with db.read() as session:
        states = {h.id: h.state for h in hosts.all_hosts(session)}
    assert states == {first: "UP", second: "DOWN"}
    beat(second, 2)
    watch.run_once()
    with db.read() as session:
        assert hosts.get(session, second).state == "UP"  # type: ignore[union-attr]


def test_an_amphora_heartbeat_keeps_its_host_up(
        tmp_path: Path, db: Database, remote: RemoteDriver, two_agents: list[Agent],
        worker: Any) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS))
    watch_new_amphorae(db)  # as nslb serve does with --agents remote and heartbeats on
    try:
        with TestClient(create_app(settings, db),
                        headers={"X-Project-Id": PROJECT}) as client:
            lb = active_lb(client, worker)
    finally:
        unwatch(db)
    ((amphora_id, host_id),) = placed(db, lb["id"]).items()
    clock = Clock(2_000_000_000.0)
    store = HeartbeatStore(db)
    watch = HostWatch(db, remote, store, timeout=5, clock=clock)
    watch.run_once()
    clock.now += 6
    store.store({amphora_id: Received(
        heartbeat_of(amphora_id, 1, clock.now, Observation(running=True)), clock.now)})
    watch.run_once()
    with db.read() as session:
        states = {h.id: h.state for h in hosts.all_hosts(session)}
    assert states[host_id] == "UP"
    assert [s for h, s in states.items() if h != host_id] == ["DOWN"]


# --- failover off a dead host ---------------------------------------------------------------


def test_failover_off_a_dead_host_defers_the_delete_until_it_returns(
        tmp_path: Path, db: Database, remote: RemoteDriver, two_agents: list[Agent],
        worker: Any) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS))
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        lb = active_lb(client, worker)
        ((old, dead_id),) = placed(db, lb["id"]).items()
        dead = next(a for a in two_agents if a.files.registration().host_id == dead_id)
        alive = next(a for a in two_agents if a is not dead)
        stop_agent(dead)
        assert client.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
        worker.drain()
        assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()[
            "loadbalancer"]["provisioning_status"] == "ACTIVE"
    ((new, new_host),) = placed(db, lb["id"]).items()
    assert new != old and new_host == alive.files.registration().host_id
    assert set(alive.driver.bundles) == {new}
    with db.read() as session:
        assert hosts.deferred(session) == {dead_id: [old]}
        assert hosts.get(session, dead_id).state == "DOWN"  # type: ignore[union-attr]
    assert set(dead.driver.bundles) == {old}  # its data plane outlived the agent

    back = restart(dead)
    try:
        watch = HostWatch(db, remote, None)
        with db.write() as session:  # what the driver's next successful call records
            hosts.set_state(session, dead_id, "UP")
        watch.run_once()
        assert dead.driver.bundles == {}  # the stale amphora is gone from the old host
        assert set(alive.driver.bundles) == {new}  # the replacement is untouched
        with db.read() as session:
            assert hosts.deferred(session) == {}
    finally:
        stop_agent(back)


def test_an_unreachable_host_gets_no_new_amphora(
        tmp_path: Path, db: Database, remote: RemoteDriver, two_agents: list[Agent],
        worker: Any) -> None:
    first, second = host_ids(two_agents)
    remote.heartbeat_states = True  # the host's state is its heartbeats' (none here)
    with db.write() as session:
        hosts.set_state(session, first, "DOWN")
    remote.hosts_changed()
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS))
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        lbs = [active_lb(client, worker) for _ in range(2)]
    assert {h for lb in lbs for h in placed(db, lb["id"]).values()} == {second}


# --- drain ----------------------------------------------------------------------------------


def test_drain_order_is_standby_first_master_last() -> None:
    rows = [Amphora(id="m", role=AmphoraRole.MASTER), Amphora(id="s", role=None),
            Amphora(id="b", role=AmphoraRole.BACKUP)]
    assert [a.id for a in drain_order(rows)] == ["b", "s", "m"]


def drain_steps(db: Database, remote: RemoteDriver, worker: Any, host_id: str) -> list[str]:
    """Four rounds of the hosts loop's drain step, each followed by the worker's work;
    the amphorae whose failover the drain asked."""
    watch = HostWatch(db, remote, None, max_concurrent=1)
    moved = []
    for _ in range(4):
        moved += watch.drain_host(host_id)
        worker.drain()
    return moved


@pytest.fixture
def three_agents(tmp_path: Path, controller: Controller) -> Iterator[list[Agent]]:
    """Three hosts: a pair's amphorae never share one, so draining one needs a third."""
    all_three = [start_agent(tmp_path / f"agent{i}", controller, f"ag-host-{i}")
                 for i in (1, 2, 3)]
    yield all_three
    for one in all_three:
        stop_agent(one)


def test_drain_moves_a_pairs_amphora_off_the_host_then_allows_remove(
        tmp_path: Path, db: Database, remote: RemoteDriver, three_agents: list[Agent],
        worker: Any) -> None:
    first, second, spare = host_ids(three_agents)
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with db.write() as session:  # the spare takes no new amphorae for now
        hosts.set_admin_state(session, spare, hosts.DRAINED)
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT},
                    raise_server_exceptions=True) as client:
        lb = active_lb(client, worker)
        assert sorted(placed(db, lb["id"]).values()) == sorted([first, second])
        with db.write() as session:
            hosts.set_admin_state(session, spare, hosts.ACTIVE)
        resp = client.post(f"/v2/lbaas/hosts/{first}/drain")
        assert resp.status_code == 202 and resp.json()["host"]["admin_state"] == "DRAINING"
        assert client.delete(f"/v2/lbaas/hosts/{first}").status_code == 409

        moved = drain_steps(db, remote, worker, first)
        assert len(moved) == 1  # the pair's amphora on the drained host, once
        shown = client.get(f"/v2/lbaas/hosts/{first}").json()["host"]
        assert shown["admin_state"] == "DRAINED" and shown["amphora_count"] == 0
        assert sorted(placed(db, lb["id"]).values()) == sorted([second, spare])
        assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()[
            "loadbalancer"]["provisioning_status"] == "ACTIVE"
        assert client.delete(f"/v2/lbaas/hosts/{first}").status_code == 204
    with db.read() as session:
        assert session.scalar(select(host.c.id).where(host.c.id == first)) is None


def test_a_draining_host_gets_no_new_amphora(
        tmp_path: Path, db: Database, two_agents: list[Agent], worker: Any) -> None:
    first, second = host_ids(two_agents)
    with db.write() as session:
        session.execute(update(host).where(host.c.id == first).values(admin_state="DRAINING"))
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS))
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        lbs = [active_lb(client, worker) for _ in range(2)]
    assert {h for lb in lbs for h in placed(db, lb["id"]).values()} == {second}


@pytest.mark.parametrize("broken", ["ERROR", "FAILOVER_STOPPED"])
def test_drain_moves_broken_amphorae_too(
        tmp_path: Path, db: Database, remote: RemoteDriver, three_agents: list[Agent],
        worker: Any, broken: str) -> None:
    """An amphora the automatic failover leaves alone (ERROR, FAILOVER_STOPPED) on a
    draining host is failed over as well, else the host stays DRAINING forever."""
    first, second, spare = host_ids(three_agents)
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with db.write() as session:
        hosts.set_admin_state(session, spare, hosts.DRAINED)
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT},
                    raise_server_exceptions=True) as client:
        lb = active_lb(client, worker)
        on_first = next(a for a, h in placed(db, lb["id"]).items() if h == first)
        with db.write() as session:
            hosts.set_admin_state(session, spare, hosts.ACTIVE)
            session.execute(update(amphora).where(amphora.c.id == on_first)
                            .values(status=broken))
        assert client.post(f"/v2/lbaas/hosts/{first}/drain").status_code == 202

        assert drain_steps(db, remote, worker, first) == [on_first]
        shown = client.get(f"/v2/lbaas/hosts/{first}").json()["host"]
        assert (shown["admin_state"], shown["amphora_count"]) == ("DRAINED", 0)
        assert sorted(placed(db, lb["id"]).values()) == sorted([second, spare])
        assert on_first not in placed(db, lb["id"])
        assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()[
            "loadbalancer"]["provisioning_status"] == "ACTIVE"


def test_drain_waits_for_an_amphora_being_built(
        tmp_path: Path, db: Database, remote: RemoteDriver, three_agents: list[Agent],
        worker: Any) -> None:
    """One still PENDING_CREATE on the host is not failed over mid-build: the host stays
    DRAINING until it is up, then it moves."""
    first, _, _ = host_ids(three_agents)
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT},
                    raise_server_exceptions=True) as client:
        lb = active_lb(client, worker)
        on_first = next(a for a, h in placed(db, lb["id"]).items() if h == first)
        with db.write() as session:
            session.execute(update(amphora).where(amphora.c.id == on_first)
                            .values(status="PENDING_CREATE"))
        client.post(f"/v2/lbaas/hosts/{first}/drain")
        watch = HostWatch(db, remote, None, max_concurrent=1)
        assert watch.drain_host(first) == []
        assert client.get(f"/v2/lbaas/hosts/{first}").json()["host"][
            "admin_state"] == "DRAINING"
