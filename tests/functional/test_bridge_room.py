"""A host bridge takes at most 1,023 ports. When the bridge behind a VIP network has none
left, the load balancer is refused at create (409, saying why) instead of answering 201
and going to ERROR half a minute later."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from octavia_helpers import LB_URL, NET, fault
from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

from nslb.db import tables
from nslb.db.bridge_room import MAX_BRIDGE_PORTS
from nslb.db.engine import Database
from nslb.db.lb_ports import MEMBER_OWNER, VIP_OWNER


def _network(client: TestClient, physnet: str, segment: int | None = None) -> tuple[str, str]:
    """(network id, subnet id) of a new provider network on `physnet`."""
    body: dict[str, Any] = {"name": "sc", "provider:physical_network": physnet,
                            "provider:network_type": "flat" if segment is None else "vlan"}
    if segment is not None:
        body["provider:segmentation_id"] = segment
    net = client.post(f"{NET}/networks", json={"network": body})
    assert net.status_code == 201, net.text
    network_id = net.json()["network"]["id"]
    sub = client.post(f"{NET}/subnets", json={"subnet": {
        "network_id": network_id, "cidr": "10.233.0.0/16", "ip_version": 4}})
    assert sub.status_code == 201, sub.text
    return network_id, sub.json()["subnet"]["id"]


def _plugged(db: Database, network_id: str, count: int, owner: str = MEMBER_OWNER) -> None:
    """`count` ports nslb plugs, as rows (what 1,000 load balancers would have left)."""
    now = datetime(2026, 12, 3)
    rows = [{"id": str(uuid.uuid4()), "project_id": "sc", "network_id": network_id,
             "name": f"sc{i}", "description": "", "admin_state_up": True,
             "mac_address": "fa:16:3e:00:00:00", "fixed_ips": [], "device_owner": owner,
             "device_id": f"sc{i}", "status": "ACTIVE", "tags": [], "created_at": now}
            for i in range(count)]
    with db.write() as session:
        session.execute(insert(tables.port), rows)


def _ports(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(tables.port)) or 0)


def test_a_full_bridge_refuses_the_load_balancer_with_the_reason(client: TestClient,
                                                                  db: Database) -> None:
    network_id, subnet_id = _network(client, "physnet1")
    _plugged(db, network_id, MAX_BRIDGE_PORTS - 1)
    assert client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet_id}}
                       ).status_code == 201  # the 1,023rd port still fits
    before = _ports(db)
    message = fault(client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet_id}}),
                    409)
    assert message == (
        f"No room on network {network_id}: the host bridge of physical network physnet1 "
        f"holds at most 1023 load balancer ports and all are in use. Use a network on "
        f"another physical network, or a VLAN network.")
    assert _ports(db) == before  # the VIP port of the refused create was not kept


def test_only_ports_nslb_plugs_count(client: TestClient, db: Database) -> None:
    """A user's own ports (another device owner) are never plugged into the bridge."""
    network_id, subnet_id = _network(client, "physnet1")
    _plugged(db, network_id, MAX_BRIDGE_PORTS - 1, owner=VIP_OWNER)
    _plugged(db, network_id, 5, owner="compute:nova")
    assert client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet_id}}
                       ).status_code == 201
    message = fault(client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet_id}}),
                    409)
    assert "physical network physnet1 holds at most 1023" in message


def test_other_bridges_keep_their_room(client: TestClient, db: Database) -> None:
    full_id, _ = _network(client, "physnet1")
    _plugged(db, full_id, MAX_BRIDGE_PORTS)
    _, elsewhere = _network(client, "physnet2")
    _, segment = _network(client, "physnet1", segment=2330)
    for subnet_id in (elsewhere, segment):
        resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet_id}})
        assert resp.status_code == 201, resp.text
