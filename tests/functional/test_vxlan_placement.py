"""Which hosts a VXLAN port floods to, from the database: the hosts of the amphorae with a
port on the network (and an underlay address), kept in step by the worker, which renders
an LB again when its VXLAN networks' hosts change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora
from nslb.db.vxlan_hosts import vxlan_hosts
from nslb.worker.loop import Worker, registry_version
from tests.functional.octavia_helpers import create_lb
from tests.functional.test_networking import API, make_network, make_subnet


def _place(db: Database, lb_id: str, host_id: str) -> None:
    with db.write() as session:
        session.execute(update(amphora).where(amphora.c.loadbalancer_id == lb_id)
                        .values(compute_id=host_id))


def _host(db: Database, name: str, underlay: str | None) -> str:
    with db.write() as session:
        host_id = hosts.add_host(session, hosts.Joining(name, "127.0.0.1", 9443), "1",
                                 hosts.utcnow())
        hosts.set_underlay(session, host_id, underlay)
    return host_id


def _flood(driver: NoopDriver, lb_id: str) -> tuple[str, ...]:
    port = driver.applied[lb_id].ports[0]
    assert port.network_type == "vxlan"
    return port.flood


def test_ports_flood_to_the_other_hosts_on_the_network(client: TestClient, db: Database,
                                                       worker: Worker,
                                                       driver: NoopDriver) -> None:
    net = make_network(client, **{"provider:network_type": "vxlan"})
    subnet = make_subnet(client, net["id"], "10.240.0.0/24")
    other = make_network(client, **{"provider:network_type": "vxlan"})
    make_subnet(client, other["id"], "10.240.1.0/24")
    lbs: list[dict[str, Any]] = [create_lb(client, subnet["id"]) for _ in range(3)]
    worker.drain()
    assert _flood(driver, lbs[0]["id"]) == ()  # no host has an underlay address yet

    host_a = _host(db, "vx-a", "10.241.0.1")
    host_b = _host(db, "vx-b", "10.241.0.2")
    host_c = _host(db, "vx-c", None)  # an agent that reported no underlay address
    with db.read() as session:
        version = registry_version(session)
    _place(db, lbs[0]["id"], host_a)
    _place(db, lbs[1]["id"], host_b)
    _place(db, lbs[2]["id"], host_c)
    with db.read() as session:
        assert vxlan_hosts(session, {net["id"], other["id"]}) == {
            net["id"]: {host_a: "10.241.0.1", host_b: "10.241.0.2"}}
        assert registry_version(session) != version

    for lb in lbs:
        worker.resync(lb["id"])
    worker.drain()
    assert _flood(driver, lbs[0]["id"]) == ("10.241.0.2",)  # A floods to B
    assert _flood(driver, lbs[1]["id"]) == ("10.241.0.1",)  # B floods to A
    assert _flood(driver, lbs[2]["id"]) == ("10.241.0.1", "10.241.0.2")

    # B leaves the network: A no longer floods to it
    client.delete(f"/v2/lbaas/loadbalancers/{lbs[1]['id']}")
    worker.drain()
    worker.resync(lbs[0]["id"])
    worker.drain()
    assert _flood(driver, lbs[0]["id"]) == ()
    assert client.get(f"{API}/networks/{net['id']}").json()["network"]["mtu"] == 1450
