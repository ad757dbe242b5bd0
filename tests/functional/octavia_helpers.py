"""Helpers for the Octavia v2 functional tests: a VIP subnet, resource creation, fault bodies
and status assertions."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

API = "/v2/lbaas"
NET = "/networking/v2.0"

LB_URL = f"{API}/loadbalancers"
LISTENER_URL = f"{API}/listeners"
POOL_URL = f"{API}/pools"
HM_URL = f"{API}/healthmonitors"


def members_url(pool_id: str) -> str:
    return f"{POOL_URL}/{pool_id}/members"


def fault(resp: Any, status: int) -> str:
    """Assert the status and Octavia's WSME fault shape; return the faultstring."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    assert body["debuginfo"] is None
    text: str = body["faultstring"]
    return text


def immutable(resp: Any, lb_id: str) -> None:
    assert fault(resp, 409) == f"Load Balancer {lb_id} is immutable and cannot be updated."


def vip_subnet(client: TestClient, cidr: str = "10.0.0.0/24") -> dict[str, Any]:
    net = client.post(f"{NET}/networks", json={"network": {"name": "vip-net"}})
    assert net.status_code == 201, net.text
    version = 6 if ":" in cidr else 4
    sub = client.post(f"{NET}/subnets", json={"subnet": {
        "network_id": net.json()["network"]["id"], "cidr": cidr, "ip_version": version}})
    assert sub.status_code == 201, sub.text
    subnet: dict[str, Any] = sub.json()["subnet"]
    return subnet


def post(client: TestClient, url: str, root: str, status: int = 201,
         **attrs: Any) -> dict[str, Any]:
    resp = client.post(url, json={root: attrs})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body[root] if status == 201 else body


def create_lb(client: TestClient, subnet_id: str, status: int = 201,
              **attrs: Any) -> dict[str, Any]:
    return post(client, LB_URL, "loadbalancer", status, vip_subnet_id=subnet_id, **attrs)


def create_listener(client: TestClient, lb_id: str, status: int = 201,
                    **attrs: Any) -> dict[str, Any]:
    attrs = {"protocol": "HTTP", "protocol_port": 80, **attrs}
    return post(client, LISTENER_URL, "listener", status, loadbalancer_id=lb_id, **attrs)


def create_pool(client: TestClient, status: int = 201, **attrs: Any) -> dict[str, Any]:
    attrs = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **attrs}
    return post(client, POOL_URL, "pool", status, **attrs)


def create_member(client: TestClient, pool_id: str, status: int = 201,
                  **attrs: Any) -> dict[str, Any]:
    attrs = {"address": "10.0.0.50", "protocol_port": 8080, **attrs}
    return post(client, members_url(pool_id), "member", status, **attrs)


def create_hm(client: TestClient, pool_id: str, status: int = 201,
              **attrs: Any) -> dict[str, Any]:
    attrs = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2, **attrs}
    return post(client, HM_URL, "healthmonitor", status, pool_id=pool_id, **attrs)


def get(client: TestClient, url: str, root: str) -> dict[str, Any]:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()[root]
    return body


def lb(client: TestClient, lb_id: str) -> dict[str, Any]:
    return get(client, f"{LB_URL}/{lb_id}", "loadbalancer")


def listener(client: TestClient, ident: str) -> dict[str, Any]:
    return get(client, f"{LISTENER_URL}/{ident}", "listener")


def pool(client: TestClient, ident: str) -> dict[str, Any]:
    return get(client, f"{POOL_URL}/{ident}", "pool")


def member(client: TestClient, pool_id: str, ident: str) -> dict[str, Any]:
    return get(client, f"{members_url(pool_id)}/{ident}", "member")


def hm(client: TestClient, ident: str) -> dict[str, Any]:
    return get(client, f"{HM_URL}/{ident}", "healthmonitor")


def prov(obj: dict[str, Any]) -> str:
    status: str = obj["provisioning_status"]
    return status


def active_lb(client: TestClient, worker: Any, **attrs: Any) -> dict[str, Any]:
    """An ACTIVE load balancer on a fresh VIP subnet."""
    subnet = vip_subnet(client)
    body = create_lb(client, subnet["id"], **attrs)
    worker.drain()
    return lb(client, body["id"])


def active_tree(client: TestClient, worker: Any, hm_too: bool = True) -> dict[str, str]:
    """LB -> HTTP listener -> pool -> one member (+ an HTTP health monitor), all ACTIVE."""
    lb_body = active_lb(client, worker)
    li = create_listener(client, lb_body["id"])
    worker.drain()
    p = create_pool(client, listener_id=li["id"])
    worker.drain()
    m = create_member(client, p["id"])
    worker.drain()
    ids = {"lb": lb_body["id"], "listener": li["id"], "pool": p["id"], "member": m["id"],
           "subnet": lb_body["vip_subnet_id"]}
    if hm_too:
        ids["hm"] = create_hm(client, p["id"])["id"]
        worker.drain()
    return ids


def statuses(client: TestClient, ids: dict[str, str]) -> dict[str, str]:
    """Provisioning status of every object in an `active_tree`."""
    out = {"lb": prov(lb(client, ids["lb"])),
           "listener": prov(listener(client, ids["listener"])),
           "pool": prov(pool(client, ids["pool"])),
           "member": prov(member(client, ids["pool"], ids["member"]))}
    if "hm" in ids:
        out["hm"] = prov(hm(client, ids["hm"]))
    return out


def all_active(client: TestClient, ids: dict[str, str]) -> bool:
    return set(statuses(client, ids).values()) == {"ACTIVE"}
