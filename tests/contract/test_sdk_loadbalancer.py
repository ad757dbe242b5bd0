"""openstacksdk's load-balancer and network proxies against a real `nslb serve` process.

Only the SDK's public calls are used, the way a user script would: the LB endpoint
override is unversioned (`<nslb>/load-balancer`, the SDK discovers v2 from the version
document), the network override names the version (`<nslb>/networking/v2.0`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.server import PROJECT, NslbServer

openstack = pytest.importorskip("openstack")
from openstack import exceptions as sdk_exc  # noqa: E402
from openstack import resource as sdk_resource  # noqa: E402

pytestmark = [pytest.mark.contract, pytest.mark.timeout(120)]
POLL = 0.1  # seconds between the SDK's status polls
WAIT = 20  # seconds before the SDK's wait helpers give up


@pytest.fixture
def conn(nslb_server: NslbServer) -> Iterator[Any]:
    connection = openstack.connect(
        auth_type="none",
        load_balancer_endpoint_override=f"{nslb_server.url}/load-balancer",
        network_endpoint_override=f"{nslb_server.url}/networking/v2.0",
    )
    # The network proxy takes the project from the header; load-balancer calls pass
    # project_id= explicitly (additional_headers on connect() do not reach the proxies).
    connection.network.additional_headers = {"X-Project-Id": PROJECT}
    try:
        yield connection
    finally:
        connection.close()


def _wait_active(conn: Any, lb_id: str) -> Any:
    lb = conn.load_balancer.wait_for_load_balancer(lb_id, status="ACTIVE", failures=["ERROR"],
                                                   interval=POLL, wait=WAIT)
    assert lb.provisioning_status == "ACTIVE"
    return lb


def _provoke_conflict(conn: Any, lb_id: str, attempts: int = 40) -> Any:
    """Two updates back to back: the second one meets the LB still PENDING_UPDATE unless
    the (fast) noop worker won the race, so try a bounded number of times."""
    lbp = conn.load_balancer
    for i in range(attempts):
        first = lbp.update_load_balancer(lb_id, description=f"first {i}")
        assert first.provisioning_status == "PENDING_UPDATE"
        try:
            lbp.update_load_balancer(lb_id, description=f"second {i}")
        except sdk_exc.ConflictException as exc:
            _wait_active(conn, lb_id)
            return exc
        _wait_active(conn, lb_id)
    pytest.fail(f"no 409 in {attempts} back-to-back updates")


def _network(conn: Any, name: str = "lb-net", vlan: int = 100) -> tuple[Any, Any]:
    net = conn.network.create_network(name=name, provider_network_type="vlan",
                                      provider_physical_network="physnet1",
                                      provider_segmentation_id=vlan)
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="198.51.100.0/24",
                                     name=f"{name}-sub", gateway_ip="198.51.100.1")
    return net, sub


def test_full_scenario_through_the_sdk(conn: Any) -> None:
    lbp = conn.load_balancer
    net, sub = _network(conn)

    lb = lbp.create_load_balancer(name="web", vip_subnet_id=sub.id, project_id=PROJECT,
                                  description="sdk contract", tags=["sdk", "web"])
    assert lb.provisioning_status == "PENDING_CREATE"
    assert lb.project_id == PROJECT and lb.vip_subnet_id == sub.id
    assert lb.vip_network_id == net.id and lb.vip_address.startswith("198.51.100.")
    # The VIP port exists in the network registry, allocated from the subnet.
    vip_port = conn.network.get_port(lb.vip_port_id)
    assert vip_port.fixed_ips == [{"subnet_id": sub.id, "ip_address": lb.vip_address}]

    # While PENDING_CREATE the LB is a lock: a child create is a 409 with Octavia's text.
    # (The noop driver is fast, so the LB may already be ACTIVE; then the call succeeds.)
    try:
        early = lbp.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=81,
                                    name="early")
    except sdk_exc.ConflictException as exc:
        assert f"Load Balancer {lb.id} is immutable and cannot be updated." in str(exc)
        assert exc.status_code == 409
    else:
        _wait_active(conn, lb.id)
        lbp.delete_listener(early)
    lb = _wait_active(conn, lb.id)
    # The other helper, openstack.resource.wait_for_status, on a resource we hold.
    lb = sdk_resource.wait_for_status(lbp, lb, "ACTIVE", ["ERROR"], POLL, WAIT,
                                      attribute="provisioning_status")
    assert lb.operating_status in ("ONLINE", "OFFLINE")

    listener = lbp.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80,
                                   name="http", connection_limit=1000)
    assert listener.provisioning_status == "PENDING_CREATE"
    _wait_active(conn, lb.id)
    assert lbp.get_listener(listener.id).provisioning_status == "ACTIVE"

    pool = lbp.create_pool(listener_id=listener.id, protocol="HTTP",
                           lb_algorithm="ROUND_ROBIN", name="web-pool")
    _wait_active(conn, lb.id)
    members = []
    for i, address in enumerate(("198.51.100.11", "198.51.100.12")):
        members.append(lbp.create_member(pool.id, address=address, protocol_port=8080,
                                          subnet_id=sub.id, weight=10 + i, name=f"m{i}"))
        _wait_active(conn, lb.id)
    hm = lbp.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3,
                                   max_retries=2, url_path="/health", name="hm")
    _wait_active(conn, lb.id)
    assert lbp.get_health_monitor(hm.id).provisioning_status == "ACTIVE"
    assert lbp.get_pool(pool.id).health_monitor_id == hm.id
    assert {m["id"] for m in lbp.get_pool(pool.id).members} == {m.id for m in members}

    # A duplicate member address:port is a 409 with the Octavia text.
    with pytest.raises(sdk_exc.ConflictException) as dup:
        lbp.create_member(pool.id, address="198.51.100.11", protocol_port=8080)
    assert "already using ip 198.51.100.11 on protocol_port 8080" in str(dup.value)

    stats = lbp.get_load_balancer_statistics(lb.id)
    for field in ("bytes_in", "bytes_out", "active_connections", "total_connections",
                  "request_errors"):
        assert isinstance(getattr(stats, field), int) and getattr(stats, field) >= 0
    assert lbp.get_listener_statistics(listener.id).total_connections >= 0

    # The status tree (no SDK call for it: a raw GET through the proxy's adapter).
    resp = lbp.get(f"/lbaas/loadbalancers/{lb.id}/status")
    assert resp.status_code == 200
    tree = resp.json()["statuses"]["loadbalancer"]
    assert tree["id"] == lb.id and tree["provisioning_status"] == "ACTIVE"
    [tl] = tree["listeners"]
    assert tl["id"] == listener.id
    [tp] = tl["pools"]
    assert tp["id"] == pool.id and tp["health_monitor"]["id"] == hm.id
    assert tp["health_monitor"]["type"] == "HTTP"
    assert sorted((m["address"], m["protocol_port"]) for m in tp["members"]) == [
        ("198.51.100.11", 8080), ("198.51.100.12", 8080)]

    # Listing with filters.
    other = lbp.create_load_balancer(name="other", vip_subnet_id=sub.id, project_id=PROJECT)
    _wait_active(conn, other.id)
    assert {x.name for x in lbp.load_balancers()} == {"web", "other"}
    assert [x.id for x in lbp.load_balancers(name="web")] == [lb.id]
    assert [x.id for x in lbp.load_balancers(tags="sdk")] == [lb.id]
    assert [x.id for x in lbp.load_balancers(vip_address=other.vip_address)] == [other.id]
    assert list(lbp.load_balancers(name="nope")) == []
    assert [x.id for x in lbp.listeners(loadbalancer_id=lb.id)] == [listener.id]
    assert [x.address for x in lbp.members(pool.id, protocol_port=8080,
                                            address="198.51.100.12")] == ["198.51.100.12"]
    assert [x.id for x in lbp.health_monitors(pool_id=pool.id)] == [hm.id]
    assert lbp.find_load_balancer("web", ignore_missing=False).id == lb.id
    # Pagination through the SDK's generator follows the *_links.
    assert len(list(lbp.load_balancers(limit=1))) == 2

    # A change while the LB is PENDING_UPDATE is a 409 surfaced as ConflictException.
    conflict = _provoke_conflict(conn, lb.id)
    assert conflict.status_code == 409
    assert f"Load Balancer {lb.id} is immutable and cannot be updated." in str(conflict)
    assert lbp.get_load_balancer(lb.id).description.startswith("first ")

    # Update a member's weight.
    updated = lbp.update_member(members[0], pool.id, weight=42)
    assert updated.weight == 42 and updated.provisioning_status == "PENDING_UPDATE"
    _wait_active(conn, lb.id)
    got = lbp.get_member(members[0].id, pool.id)
    assert got.weight == 42 and got.provisioning_status == "ACTIVE"

    # Deleting an LB with children needs cascade: 400 otherwise.
    with pytest.raises(sdk_exc.BadRequestException) as bad:
        lbp.delete_load_balancer(lb.id)
    assert "it has children" in str(bad.value)

    # 404s with Octavia's faultstring.
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(sdk_exc.NotFoundException) as nf:
        lbp.get_load_balancer(missing)
    assert f"Load Balancer {missing} not found." in str(nf.value)
    with pytest.raises(sdk_exc.NotFoundException) as nf_pool:
        lbp.get_pool(missing)
    assert f"Pool {missing} not found." in str(nf_pool.value)
    with pytest.raises(sdk_exc.BadRequestException):
        lbp.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=70000)

    lbp.delete_load_balancer(lb, cascade=True)
    with contextlib.suppress(sdk_exc.NotFoundException):  # the noop worker may be done
        assert lbp.get_load_balancer(lb.id).provisioning_status == "PENDING_DELETE"
    lbp.wait_for_delete(lb, interval=POLL, wait=WAIT)
    with pytest.raises(sdk_exc.NotFoundException):
        lbp.get_load_balancer(lb.id)
    with pytest.raises(sdk_exc.NotFoundException):
        lbp.get_listener(listener.id)
    with pytest.raises(sdk_exc.NotFoundException):
        lbp.get_pool(pool.id)
    assert [x.id for x in lbp.load_balancers()] == [other.id]
    # The VIP and member ports went back to the registry.
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.get_port(lb.vip_port_id)

    lbp.delete_load_balancer(other.id)
    lbp.wait_for_delete(other, interval=POLL, wait=WAIT)
    assert list(lbp.load_balancers()) == []
    assert list(conn.network.ports(network_id=net.id)) == []
    conn.network.delete_subnet(sub)
    conn.network.delete_network(net)


def test_single_call_tree_create_and_project_errors(conn: Any) -> None:
    lbp = conn.load_balancer
    _net, sub = _network(conn, "tree-net", vlan=101)
    lb = lbp.create_load_balancer(
        name="tree", vip_subnet_id=sub.id, project_id=PROJECT,
        listeners=[{"name": "l80", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": "p1", "protocol": "HTTP",
                                     "lb_algorithm": "LEAST_CONNECTIONS",
                                     "healthmonitor": {"type": "TCP", "delay": 3,
                                                       "timeout": 2, "max_retries": 3},
                                     "members": [{"address": "198.51.100.21",
                                                  "protocol_port": 80}]}}])
    assert lb.provisioning_status == "PENDING_CREATE"
    _wait_active(conn, lb.id)
    [listener] = list(lbp.listeners(loadbalancer_id=lb.id))
    [pool] = list(lbp.pools(loadbalancer_id=lb.id))
    assert listener.default_pool_id == pool.id and pool.lb_algorithm == "LEAST_CONNECTIONS"
    [member] = list(lbp.members(pool.id))
    assert member.address == "198.51.100.21" and member.provisioning_status == "ACTIVE"

    # noauth without a project anywhere: 400 with Octavia's text.
    with pytest.raises(sdk_exc.BadRequestException) as exc:
        lbp.create_load_balancer(name="orphan", vip_subnet_id=sub.id)
    assert "Missing project ID in request where one is required" in str(exc.value)
    with pytest.raises(sdk_exc.BadRequestException):
        lbp.create_load_balancer(name="nosubnet", project_id=PROJECT)

    lbp.delete_load_balancer(lb.id, cascade=True)
    lbp.wait_for_delete(lb, interval=POLL, wait=WAIT)
    assert list(lbp.load_balancers()) == []
