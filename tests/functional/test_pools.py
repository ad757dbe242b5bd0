"""Pools: Octavia's status cascade (LB and listener PENDING_UPDATE), locks, validation."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    LISTENER_URL,
    POOL_URL,
    active_lb,
    active_tree,
    create_listener,
    create_pool,
    fault,
    immutable,
    lb,
    listener,
    members_url,
    pool,
    prov,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.loop import Worker

POOL_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "protocol", "lb_algorithm",
    "session_persistence", "loadbalancers", "listeners", "members",
    "tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
    "tls_ciphers", "tls_versions", "alpn_protocols",
}


def test_create_on_listener_cascade(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    li = create_listener(client, body["id"])
    worker.drain()
    created = create_pool(client, listener_id=li["id"], name="p",
                          session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"})
    assert set(created) == POOL_KEYS
    assert prov(created) == "PENDING_CREATE" and created["operating_status"] == "OFFLINE"
    assert created["listeners"] == [{"id": li["id"]}]
    assert created["loadbalancers"] == [{"id": body["id"]}]
    assert created["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "sid",
                                              "persistence_timeout": None,
                                              "persistence_granularity": None}
    assert prov(listener(client, li["id"])) == "PENDING_UPDATE"
    assert listener(client, li["id"])["default_pool_id"] == created["id"]
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    worker.drain()
    assert [prov(x) for x in (lb(client, body["id"]), listener(client, li["id"]),
                              pool(client, created["id"]))] == ["ACTIVE"] * 3

    resp = client.put(f"{POOL_URL}/{created['id']}", json={"pool": {
        "lb_algorithm": "LEAST_CONNECTIONS", "session_persistence": None}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["pool"]
    assert (prov(updated), updated["lb_algorithm"], updated["session_persistence"]) == \
        ("PENDING_UPDATE", "LEAST_CONNECTIONS", None)
    assert prov(listener(client, li["id"])) == "PENDING_UPDATE"
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    worker.drain()
    assert [prov(x) for x in (lb(client, body["id"]), listener(client, li["id"]),
                              pool(client, created["id"]))] == ["ACTIVE"] * 3


def test_delete_takes_members_and_hm(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    assert client.delete(f"{POOL_URL}/{ids['pool']}").status_code == 204
    assert prov(pool(client, ids["pool"])) == "PENDING_DELETE"
    assert prov(listener(client, ids["listener"])) == "PENDING_UPDATE"
    assert prov(lb(client, ids["lb"])) == "PENDING_UPDATE"
    assert listener(client, ids["listener"])["default_pool_id"] is None
    worker.drain()
    fault(client.get(f"{POOL_URL}/{ids['pool']}"), 404)
    fault(client.get(members_url(ids["pool"])), 404)
    fault(client.get(f"/v2/lbaas/healthmonitors/{ids['hm']}"), 404)
    assert prov(listener(client, ids["listener"])) == "ACTIVE"
    assert prov(lb(client, ids["lb"])) == "ACTIVE"


def test_pool_on_lb_only(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    created = create_pool(client, loadbalancer_id=body["id"], protocol="TCP",
                          lb_algorithm="SOURCE_IP")
    assert created["listeners"] == []
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    worker.drain()
    assert prov(pool(client, created["id"])) == "ACTIVE"
    # A listener can then take it as its default pool (TCP listener -> TCP pool).
    li = create_listener(client, body["id"], protocol="TCP", protocol_port=5432,
                         default_pool_id=created["id"])
    assert li["default_pool_id"] == created["id"]
    worker.drain()
    assert pool(client, created["id"])["listeners"] == [{"id": li["id"]}]


def test_locks(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    resp = client.put(f"{LISTENER_URL}/{ids['listener']}", json={"listener": {"name": "x"}})
    assert resp.status_code == 200
    immutable(client.put(f"{POOL_URL}/{ids['pool']}", json={"pool": {"name": "y"}}), ids["lb"])
    immutable(client.delete(f"{POOL_URL}/{ids['pool']}"), ids["lb"])
    immutable(client.post(POOL_URL, json={"pool": {
        "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": ids["lb"]}}),
        ids["lb"])
    assert pool(client, ids["pool"])["name"] == ""
    assert prov(pool(client, ids["pool"])) == "ACTIVE"
    assert len(client.get(POOL_URL).json()["pools"]) == 1
    worker.drain()


def test_failed_apply(client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    body = active_lb(client, worker)
    created = create_pool(client, loadbalancer_id=body["id"])
    driver.fail_next[body["id"]] = "boom"
    worker.drain()
    assert prov(pool(client, created["id"])) == "ERROR"
    assert prov(lb(client, body["id"])) == "ACTIVE"
    resp = client.put(f"{POOL_URL}/{created['id']}", json={"pool": {"name": "retry"}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert prov(pool(client, created["id"])) == "ACTIVE"


def test_failed_apply_leaves_parent_listener_active(client: TestClient, worker: Worker,
                                                    driver: NoopDriver) -> None:
    body = active_lb(client, worker)
    li = create_listener(client, body["id"])
    worker.drain()
    created = create_pool(client, listener_id=li["id"])
    driver.fail_next[body["id"]] = "boom"
    worker.drain()
    assert prov(pool(client, created["id"])) == "ERROR"
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert prov(listener(client, li["id"])) == "ACTIVE"


def test_listener_already_has_default_pool(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    resp = client.post(POOL_URL, json={"pool": {"protocol": "HTTP", "lb_algorithm": "SOURCE_IP",
                                                "listener_id": ids["listener"]}})
    assert fault(resp, 409) == "This listener already has a default pool"
    assert len(client.get(POOL_URL).json()["pools"]) == 1
    assert prov(lb(client, ids["lb"])) == "ACTIVE"


PROTOCOL_MAP = [
    ("HTTP", "HTTP", True), ("HTTP", "PROXY", True), ("HTTP", "PROXYV2", True),
    ("HTTP", "TCP", False), ("HTTP", "HTTPS", False),
    ("HTTPS", "HTTPS", True), ("HTTPS", "TCP", True), ("HTTPS", "HTTP", False),
    ("TCP", "HTTP", True), ("TCP", "TCP", True), ("TCP", "HTTPS", True),
]


def test_listener_pool_protocol_map(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    for port, (listener_protocol, pool_protocol, ok) in enumerate(PROTOCOL_MAP, start=1):
        li = create_listener(client, body["id"], protocol=listener_protocol, protocol_port=port)
        worker.drain()
        resp = client.post(POOL_URL, json={"pool": {"protocol": pool_protocol,
                                                    "lb_algorithm": "ROUND_ROBIN",
                                                    "listener_id": li["id"]}})
        if ok:
            assert resp.status_code == 201, (listener_protocol, pool_protocol, resp.text)
            worker.drain()
        else:
            assert fault(resp, 400) == (f"Validation failure: The pool protocol "
                                        f"'{pool_protocol}' is invalid while the listener "
                                        f"protocol is '{listener_protocol}'.")
            assert prov(listener(client, li["id"])) == "ACTIVE"
            assert listener(client, li["id"])["default_pool_id"] is None
    assert len(client.get(POOL_URL).json()["pools"]) == sum(ok for *_, ok in PROTOCOL_MAP)


POOL_RULES: list[tuple[dict[str, Any], int, str]] = [
    ({"session_persistence": {"type": "APP_COOKIE"}}, 400, "cookie_name"),
    ({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "x"}}, 400, "Cookie"),
    ({"protocol": "TCP", "session_persistence": {"type": "HTTP_COOKIE"}}, 400, "HTTP"),
    ({"lb_algorithm": "SOURCE_IP_PORT"}, 501, "lb_algorithm SOURCE_IP_PORT"),
    ({"protocol": "SCTP"}, 501, "pool protocol SCTP (the kernel of this host has no SCTP"),
    ({"members": [{"address": "10.0.0.9", "protocol_port": 80}]}, 400, "single-call"),
]


def test_pool_rules(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    for attrs, status, words in POOL_RULES:
        resp = client.post(POOL_URL, json={"pool": {
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": body["id"],
            **attrs}})
        message = fault(resp, status)
        assert words in message, attrs
        if status == 501:
            assert message.startswith("Provider 'amphora' does not support a requested option")
    assert client.get(POOL_URL).json()["pools"] == []
    assert prov(lb(client, body["id"])) == "ACTIVE"


def test_pool_update_rules(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    url = f"{POOL_URL}/{ids['pool']}"
    assert "cookie_name" in fault(client.put(url, json={"pool": {
        "session_persistence": {"type": "APP_COOKIE"}}}), 400)
    fault(client.put(url, json={"pool": {"lb_algorithm": "SOURCE_IP_PORT"}}), 501)
    assert "Unknown attribute" in fault(client.put(url, json={"pool": {"protocol": "TCP"}}), 400)
    assert "Mandatory" in fault(client.put(url, json={"pool": {"lb_algorithm": None}}), 400)
    assert prov(pool(client, ids["pool"])) == "ACTIVE"
    assert prov(lb(client, ids["lb"])) == "ACTIVE"
