"""Octavia's PROMETHEUS listener: accepted and rendered as haproxy's own exporter on the
VIP port, with Octavia's rules (no children of any kind, a 400 checked before anything
else; allowed_cidrs, connection_limit and timeouts as on any listener)."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_lb,
    create_listener,
    create_pool,
    fault,
    listener,
    prov,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

NO_CHILDREN = "Protocol PROMETHEUS listeners cannot have child objects."
MISSING_POOL = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"


def _prometheus(client: TestClient, worker: Worker, **attrs: Any) -> dict[str, Any]:
    lb_body = active_lb(client, worker)
    created = create_listener(client, lb_body["id"], protocol="PROMETHEUS",
                              protocol_port=9100, **attrs)
    worker.drain()
    return created


def test_a_prometheus_listener_serves_haproxys_exporter(
        client: TestClient, worker: Worker, driver: NoopDriver, health: HealthMonitor) -> None:
    created = _prometheus(client, worker, connection_limit=20,
                          allowed_cidrs=["10.0.0.0/24"], timeout_client_data=7000)
    assert created["protocol"] == "PROMETHEUS" and created["default_pool_id"] is None
    shown = listener(client, created["id"])
    assert prov(shown) == "ACTIVE"
    config = driver.applied[created["loadbalancers"][0]["id"]].files["haproxy.cfg"]
    frontend = config.split(f"frontend {created['id']}\n", 1)[1].split("\n\n", 1)[0]
    assert [line.strip() for line in frontend.splitlines()] == [
        "maxconn 20", "bind 10.0.0.2:9100", "mode http", "option idle-close-on-response",
        "tcp-request connection reject unless { src 10.0.0.0/24 }",
        "http-request use-service prometheus-exporter if { path /metrics }",
        "http-request return status 404", "timeout client 7000"]
    assert "backend" not in config
    health.run_once()
    assert listener(client, created["id"])["operating_status"] == "ONLINE"


def test_no_default_pool_checked_before_the_pool_is_looked_up(client: TestClient,
                                                              worker: Worker) -> None:
    lb_body = active_lb(client, worker)
    resp = client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": lb_body["id"], "protocol": "PROMETHEUS", "protocol_port": 9100,
        "default_pool_id": MISSING_POOL}})
    assert fault(resp, 400) == NO_CHILDREN
    assert client.get(LISTENER_URL).json()["listeners"] == []


def test_no_pool_no_default_pool_update_no_l7policy(client: TestClient,
                                                    worker: Worker) -> None:
    created = _prometheus(client, worker)
    lb_id = created["loadbalancers"][0]["id"]
    resp = client.post(POOL_URL, json={"pool": {
        "listener_id": created["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    assert fault(resp, 400) == NO_CHILDREN
    spare = create_pool(client, loadbalancer_id=lb_id)
    worker.drain()
    resp = client.put(f"{LISTENER_URL}/{created['id']}",
                      json={"listener": {"default_pool_id": spare["id"]}})
    assert fault(resp, 400) == NO_CHILDREN
    resp = client.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": created["id"], "action": "REJECT"}})
    assert fault(resp, 400) == NO_CHILDREN
    # what may change does
    resp = client.put(f"{LISTENER_URL}/{created['id']}",
                      json={"listener": {"allowed_cidrs": ["10.0.0.0/28"], "name": "m"}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert prov(listener(client, created["id"])) == "ACTIVE"


def test_tree_create_rules(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    metrics = {"protocol": "PROMETHEUS", "protocol_port": 9100}
    with_pool = {"loadbalancer": {"vip_subnet_id": subnet["id"], "listeners": [
        {**metrics, "default_pool": {"name": "p"}}],
        "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]}}
    assert fault(client.post(LB_URL, json=with_pool), 400) == NO_CHILDREN
    with_policy = {"loadbalancer": {"vip_subnet_id": subnet["id"], "listeners": [
        {**metrics, "l7policies": [{"action": "REJECT"}]}]}}
    assert fault(client.post(LB_URL, json=with_policy), 400) == NO_CHILDREN
    assert client.get(LB_URL).json()["loadbalancers"] == []
    plain = {"loadbalancer": {"vip_subnet_id": subnet["id"], "listeners": [
        metrics, {"protocol": "HTTP", "protocol_port": 9100}]}}
    resp = client.post(LB_URL, json=plain)
    assert fault(resp, 409).startswith("Another Listener on this Load Balancer is already "
                                       "using protocol PROMETHEUS and protocol_port 9100")
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "listeners": [metrics]}})
    assert resp.status_code == 201, resp.text
    worker.drain()


def test_options_a_prometheus_listener_refuses(client: TestClient, worker: Worker) -> None:
    lb_body = active_lb(client, worker)
    base = {"loadbalancer_id": lb_body["id"], "protocol": "PROMETHEUS", "protocol_port": 9100}
    resp = client.post(LISTENER_URL, json={"listener": {
        **base, "insert_headers": {"X-Forwarded-For": "true"}}})
    assert fault(resp, 400).startswith("Validation failure: The insert_headers option")
    resp = client.post(LISTENER_URL, json={"listener": {
        **base, "default_tls_container_ref": "https://barbican/secret"}})
    assert fault(resp, 501) == ("Provider 'amphora' does not support a requested option: "
                                "default_tls_container_ref on a PROMETHEUS listener")
    assert client.get(LISTENER_URL).json()["listeners"] == []
