"""Listeners: Octavia's status cascade, the LB lock, failures, validation and 501s."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    LB_URL,
    LISTENER_URL,
    active_lb,
    active_tree,
    create_listener,
    create_pool,
    fault,
    immutable,
    lb,
    listener,
    pool,
    prov,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.loop import Worker

LISTENER_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "protocol", "protocol_port",
    "connection_limit", "default_pool_id", "default_tls_container_ref", "sni_container_refs",
    "l7policies", "insert_headers", "loadbalancers", "timeout_client_data",
    "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect",
    "client_ca_tls_container_ref", "client_authentication", "client_crl_container_ref",
    "allowed_cidrs", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload", "connection_logging",
}


def test_create_update_delete_cascade(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    created = create_listener(client, body["id"], name="web", connection_limit=100,
                              insert_headers={"X-Forwarded-For": "true"},
                              allowed_cidrs=["192.0.2.0/24"])
    assert set(created) == LISTENER_KEYS
    assert prov(created) == "PENDING_CREATE" and created["operating_status"] == "OFFLINE"
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    assert created["loadbalancers"] == [{"id": body["id"]}]
    assert (created["timeout_client_data"], created["timeout_member_connect"],
            created["timeout_member_data"], created["timeout_tcp_inspect"]) == \
        (50000, 5000, 50000, 0)
    assert created["insert_headers"] == {"X-Forwarded-For": "true"}
    assert created["allowed_cidrs"] == ["192.0.2.0/24"]
    worker.drain()
    assert prov(listener(client, created["id"])) == "ACTIVE"
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert lb(client, body["id"])["listeners"] == [{"id": created["id"]}]

    resp = client.put(f"{LISTENER_URL}/{created['id']}", json={"listener": {
        "name": "renamed", "connection_limit": None, "timeout_client_data": 1000}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["listener"]
    assert prov(updated) == "PENDING_UPDATE"
    assert (updated["name"], updated["connection_limit"], updated["timeout_client_data"]) == \
        ("renamed", -1, 1000)
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    worker.drain()
    assert prov(listener(client, created["id"])) == "ACTIVE"
    assert prov(lb(client, body["id"])) == "ACTIVE"

    assert client.delete(f"{LISTENER_URL}/{created['id']}").status_code == 204
    assert prov(listener(client, created["id"])) == "PENDING_DELETE"
    assert prov(lb(client, body["id"])) == "PENDING_UPDATE"
    worker.drain()
    fault(client.get(f"{LISTENER_URL}/{created['id']}"), 404)
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert lb(client, body["id"])["listeners"] == []


def test_lb_pending_locks_every_listener_change(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    first = create_listener(client, body["id"], name="first")
    lb_id = body["id"]
    immutable(client.post(LISTENER_URL, json={"listener": {
        "protocol": "TCP", "protocol_port": 22, "loadbalancer_id": lb_id}}), lb_id)
    immutable(client.put(f"{LISTENER_URL}/{first['id']}", json={"listener": {"name": "x"}}),
              lb_id)
    immutable(client.delete(f"{LISTENER_URL}/{first['id']}"), lb_id)
    listed = client.get(LISTENER_URL).json()["listeners"]
    assert [(li["id"], li["name"], prov(li)) for li in listed] == \
        [(first["id"], "first", "PENDING_CREATE")]
    worker.drain()
    assert prov(listener(client, first["id"])) == "ACTIVE"


def test_failed_apply_sets_listener_error_and_lb_active(client: TestClient, worker: Worker,
                                                        driver: NoopDriver) -> None:
    body = active_lb(client, worker)
    created = create_listener(client, body["id"])
    driver.fail_next[body["id"]] = "haproxy -c failed"
    worker.drain()
    assert prov(listener(client, created["id"])) == "ERROR"
    assert prov(lb(client, body["id"])) == "ACTIVE"
    # An ERROR listener can be updated (Octavia sets listeners without testing them) ...
    resp = client.put(f"{LISTENER_URL}/{created['id']}", json={"listener": {"name": "fixed"}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert prov(listener(client, created["id"])) == "ACTIVE"
    # ... and deleted.
    driver.fail_next[body["id"]] = "again"
    client.put(f"{LISTENER_URL}/{created['id']}", json={"listener": {"name": "broken"}})
    worker.drain()
    assert prov(listener(client, created["id"])) == "ERROR"
    assert client.delete(f"{LISTENER_URL}/{created['id']}").status_code == 204
    worker.drain()
    fault(client.get(f"{LISTENER_URL}/{created['id']}"), 404)


def test_duplicate_port_is_409(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    create_listener(client, body["id"], protocol_port=8080)
    worker.drain()
    message = fault(client.post(LISTENER_URL, json={"listener": {
        "protocol": "TCP", "protocol_port": 8080, "loadbalancer_id": body["id"]}}), 409)
    assert message == ("Another Listener on this Load Balancer is already using protocol HTTP "
                       "and protocol_port 8080")
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert len(client.get(LISTENER_URL).json()["listeners"]) == 1


LISTENER_RULES: list[tuple[dict[str, Any], str]] = [
    ({"protocol": "TCP", "insert_headers": {"X-Forwarded-For": "true"}}, "insert_headers"),
    ({"insert_headers": {"X-Bogus": "true"}}, "X-Bogus"),
    ({"insert_headers": {"X-SSL-Client-CN": "true"}}, "TERMINATED_HTTPS"),
    ({"allowed_cidrs": ["2001:db8::/64"]}, "IP version"),
]


def test_listener_option_rules_are_400(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    for attrs, words in LISTENER_RULES:
        assert words in fault(client.post(LISTENER_URL, json={"listener": {
            "protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": body["id"],
            **attrs}}), 400)
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert client.get(LISTENER_URL).json()["listeners"] == []


def test_allowed_cidrs_v6_vip(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client, "2001:db8::/64")
    created = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
    lb_id = created.json()["loadbalancer"]["id"]
    worker.drain()
    assert "IP version" in fault(client.post(LISTENER_URL, json={"listener": {
        "protocol": "TCP", "protocol_port": 80, "loadbalancer_id": lb_id,
        "allowed_cidrs": ["10.0.0.0/8"]}}), 400)
    create_listener(client, lb_id, allowed_cidrs=["2001:db8::/32"])


def test_update_rules(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    url = f"{LISTENER_URL}/{ids['listener']}"
    assert "IP version" in fault(client.put(url, json={"listener": {
        "allowed_cidrs": ["2001:db8::/64"]}}), 400)
    assert "Unknown attribute" in fault(client.put(url, json={"listener": {
        "protocol_port": 81}}), 400)
    tcp = create_pool(client, loadbalancer_id=ids["lb"], protocol="TCP")
    worker.drain()
    assert "protocol" in fault(client.put(url, json={"listener": {
        "default_pool_id": tcp["id"]}}), 400)
    assert listener(client, ids["listener"])["default_pool_id"] == ids["pool"]
    assert prov(lb(client, ids["lb"])) == "ACTIVE"
    # Clearing the default pool is allowed.
    resp = client.put(url, json={"listener": {"default_pool_id": None}})
    assert resp.status_code == 200 and resp.json()["listener"]["default_pool_id"] is None
    worker.drain()
    assert pool(client, ids["pool"])["listeners"] == []


UNSUPPORTED: list[tuple[dict[str, Any], str]] = [
    ({"protocol": "SCTP"}, "listener protocol SCTP (the kernel of this host has no SCTP"),
]


def test_unsupported_options_are_501(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    for attrs, option in UNSUPPORTED:
        resp = client.post(LISTENER_URL, json={"listener": {
            "protocol": "HTTP", "protocol_port": 443, "loadbalancer_id": body["id"], **attrs}})
        assert fault(resp, 501).startswith(
            f"Provider 'amphora' does not support a requested option: {option}")
    assert prov(lb(client, body["id"])) == "ACTIVE"
    assert client.get(LISTENER_URL).json()["listeners"] == []


def test_listener_on_missing_lb_is_404(client: TestClient) -> None:
    missing = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    resp = client.post(LISTENER_URL, json={"listener": {
        "protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": missing}})
    assert fault(resp, 404) == f"Load Balancer {missing} not found."
