"""Member networks: the LB gets a port on a member's subnet, and gives it back when the
last member there is gone; the single-call create plugs member subnets too."""

from __future__ import annotations

from typing import Any

from octavia_helpers import create_lb, create_member, create_pool, members_url, vip_subnet
from starlette.testclient import TestClient

from nslb.db import ports as repo
from nslb.db.engine import Database
from nslb.db.lb_ports import MEMBER_OWNER, member_port_name
from nslb.db.snapshots import build
from nslb.model.resources import LoadBalancer
from nslb.worker.loop import Worker

LB_URL = "/v2/lbaas/loadbalancers"


def member_ports(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    ports = client.get("/networking/v2.0/ports?device_owner=nslb:member").json()["ports"]
    return [p for p in ports if p["device_id"] == lb_id]


def test_member_port_is_released_with_the_last_member(client: TestClient,
                                                      worker: Worker) -> None:
    vip = vip_subnet(client, "10.0.0.0/24")
    other = vip_subnet(client, "10.1.0.0/24")
    lb = create_lb(client, vip["id"])
    worker.drain()
    pool = create_pool(client, loadbalancer_id=lb["id"], protocol="HTTP",
                       lb_algorithm="ROUND_ROBIN")
    worker.drain()
    member = create_member(client, pool["id"], address="10.1.0.20", protocol_port=80,
                           subnet_id=other["id"])
    worker.drain()
    [port] = member_ports(client, lb["id"])
    assert port["fixed_ips"][0]["subnet_id"] == other["id"]

    assert client.delete(f"{members_url(pool['id'])}/{member['id']}").status_code == 204
    worker.drain()
    assert member_ports(client, lb["id"]) == []


def test_tree_create_plugs_member_subnets(client: TestClient, worker: Worker) -> None:
    vip = vip_subnet(client, "10.0.0.0/24")
    other = vip_subnet(client, "10.1.0.0/24")
    body = {"loadbalancer": {"vip_subnet_id": vip["id"], "pools": [{
        "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": "10.1.0.20", "protocol_port": 80,
                     "subnet_id": other["id"]}]}]}}
    lb = client.post(LB_URL, json=body).json()["loadbalancer"]
    worker.drain()
    assert client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"
    assert len(member_ports(client, lb["id"])) == 1

    body["loadbalancer"]["pools"][0]["members"][0]["address"] = "10.9.0.20"
    resp = client.post(LB_URL, json=body)
    assert resp.status_code == 400
    assert "is not on subnet" in resp.json()["faultstring"]


def test_only_ports_nslb_created_count_as_the_lbs_member_ports(client: TestClient,
                                                              worker: Worker) -> None:
    """A port that only claims nslb's owner and the LB as device (planted in the database
    by hand or by an older version's API) neither stands in for nslb's own port nor gets
    plugged: nslb makes its own, and the snapshot holds that one alone (probe F3)."""
    vip = vip_subnet(client, "10.0.0.0/24")
    other = vip_subnet(client, "10.1.0.0/24")
    lb = create_lb(client, vip["id"])
    worker.drain()
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    with db.write() as session:
        network = repo.get_network(session, other["network_id"])
        subnet = repo.get_subnet(session, other["id"])
        assert network is not None and subnet is not None
        planted = repo.allocate_port(session, network=network, subnet=subnet,
                                     ip_address="10.1.0.1", project_id="someone-else",
                                     device_owner=MEMBER_OWNER, device_id=lb["id"],
                                     name=member_port_name(lb["id"]), allow_gateway=True)
        planted_id = planted.id
    pool = create_pool(client, loadbalancer_id=lb["id"], protocol="HTTP",
                       lb_algorithm="ROUND_ROBIN")
    worker.drain()
    create_member(client, pool["id"], address="10.1.0.20", protocol_port=80,
                  subnet_id=other["id"])
    worker.drain()
    ours = [p for p in member_ports(client, lb["id"]) if p["id"] != planted_id]
    assert len(ours) == 1 and ours[0]["fixed_ips"][0]["ip_address"] == "10.1.0.2"
    with db.read() as session:
        stored = session.get(LoadBalancer, lb["id"])
        assert stored is not None
        snap = build(session, stored)
        assert [a.port.id for a in snap.member_ports] == [ours[0]["id"]]
