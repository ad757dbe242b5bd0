"""ACTIVE_STANDBY in the control plane (noop driver): two amphorae per LB, each with its own
VRRP port on the VIP subnet and its own member ports, one VRRP router id per LB on the VIP
network, bundles with keepalived.conf, and everything released with the LB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PHYSNETS, PROJECT
from octavia_helpers import (
    LB_URL,
    NET,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db import amphorae
from nslb.db.engine import Database
from nslb.model.resources import Amphora, LoadBalancer
from nslb.worker.loop import Worker


@pytest.fixture
def pair_client(tmp_path: Path, db: Database) -> Iterator[TestClient]:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        yield client


def _amphorae(db: Database, lb_id: str) -> list[Amphora]:
    with db.read() as session:
        return amphorae.of_lb(session, lb_id)


def _ports(client: TestClient) -> list[dict[str, object]]:
    return list(client.get(f"{NET}/ports").json()["ports"])


def test_an_active_standby_lb_gets_a_pair_with_their_own_vrrp_ports(
        pair_client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    subnet = vip_subnet(pair_client)
    lb = create_lb(pair_client, subnet["id"])
    worker.drain()
    pair = _amphorae(db, lb["id"])
    assert sorted(a.role or "" for a in pair) == ["BACKUP", "MASTER"]
    assert {a.status for a in pair} == {"ALLOCATED"}
    assert len({a.vrrp_ip for a in pair}) == 2 and lb["vip_address"] not in {
        a.vrrp_ip for a in pair}
    assert {a.vrrp_id for a in pair} == {1}
    assert {a.vrrp_priority for a in pair} == {100, 90}
    vrrp = [p for p in _ports(pair_client) if p["device_owner"] == "nslb:vrrp"]
    assert {p["device_id"] for p in vrrp} == {a.id for a in pair}
    for amphora in pair:
        bundle = driver.bundles[amphora.id]
        assert "keepalived.conf" in bundle.files
        assert f"unicast_src_ip {amphora.vrrp_ip}" in bundle.files["keepalived.conf"]
        assert [p.port_id for p in bundle.ports] == [amphora.vrrp_port_id]
        assert bundle.ports[0].addresses == (f"{amphora.vrrp_ip}/24",)
        assert "localpeer" in bundle.files["haproxy.cfg"]
        # the VIP's gate the amphora loads (render/handover.py)
        assert f"ip daddr {lb['vip_address']} tcp flags syn / syn,ack jump gate" in \
            bundle.files["handover.nft"]
    with db.read() as session:
        row = session.get(LoadBalancer, lb["id"])
        assert row is not None and row.provisioning_status == "ACTIVE"


def test_two_pairs_on_one_network_get_distinct_router_ids(
        pair_client: TestClient, worker: Worker, db: Database) -> None:
    subnet = vip_subnet(pair_client)
    first = create_lb(pair_client, subnet["id"])
    second = create_lb(pair_client, subnet["id"])
    worker.drain()
    ids = [{a.vrrp_id for a in _amphorae(db, lb["id"])} for lb in (first, second)]
    # one id per pair, shared by its two amphorae; which pair the worker builds first
    # (and so gets 1) is up to its thread pool
    assert sorted(ids, key=min) == [{1}, {2}]


def test_members_on_another_subnet_get_a_port_in_each_amphora(
        pair_client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    subnet = vip_subnet(pair_client)
    other = vip_subnet(pair_client, "10.1.0.0/24")
    lb = create_lb(pair_client, subnet["id"])
    worker.drain()
    listener = create_listener(pair_client, lb["id"])
    worker.drain()
    pool = create_pool(pair_client, listener_id=listener["id"])
    worker.drain()
    create_member(pair_client, pool["id"], address="10.1.0.20", subnet_id=other["id"])
    worker.drain()
    for amphora in _amphorae(db, lb["id"]):
        ports = driver.bundles[amphora.id].ports
        assert ports[0].port_id == amphora.vrrp_port_id
        assert [p.addresses[0].split(".")[:2] for p in ports[1:]] == [["10", "1"]]


def test_deleting_the_lb_releases_ports_and_router_id(
        pair_client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    subnet = vip_subnet(pair_client)
    lb = create_lb(pair_client, subnet["id"])
    worker.drain()
    assert pair_client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    worker.drain()
    assert [p for p in _ports(pair_client) if p["device_owner"].startswith(
        ("nslb:", "Octavia"))] == []
    assert _amphorae(db, lb["id"]) == [] and driver.bundles == {}
    with db.read() as session:
        assert amphorae.vrid_of(session, lb["id"]) is None
    again = create_lb(pair_client, subnet["id"])
    worker.drain()
    assert {a.vrrp_id for a in _amphorae(db, again["id"])} == {1}  # the id was freed
