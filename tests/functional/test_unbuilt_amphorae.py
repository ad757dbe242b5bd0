"""An amphora that was never built goes to ERROR with its load balancer (issue 11: an
impossible placement): Octavia's reverted create leaves its amphora ERROR, and an
amphora shown PENDING_CREATE forever would look like work still in progress. Only the
LB's own failed change does this; a failed child change leaves built amphorae alone."""

from __future__ import annotations

from typing import Any

from octavia_helpers import LB_URL, active_lb, create_lb, create_listener, vip_subnet
from starlette.testclient import TestClient

from nslb.amphora.base import ConfigRejected
from nslb.amphora.noop import NoopDriver
from nslb.db.engine import Database
from nslb.events import outbox
from nslb.worker.loop import Worker

AMPHORAE = "/v2/octavia/amphorae"
REFUSAL = "No valid host for amphora x: AvailabilityZone rejected 3 (h1: in zone edge)"


def amphorae(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    resp = client.get(AMPHORAE, params={"loadbalancer_id": lb_id})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["amphorae"])


def test_a_failed_create_leaves_its_amphora_error_not_pending(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    subnet = vip_subnet(client, "10.239.9.0/24")
    lb = create_lb(client, subnet["id"])
    assert [a["status"] for a in amphorae(client, lb["id"])] == ["PENDING_CREATE"]
    driver.broken[lb["id"]] = ConfigRejected(REFUSAL)
    worker.drain()
    shown = client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ERROR"
    assert [a["status"] for a in amphorae(client, lb["id"])] == ["ERROR"]
    with db.read() as session:
        told = {e["event_type"]: e["payload"] for e in outbox.recent(
            session, None, loadbalancer_id=lb["id"])}
    assert told["nslb.amphora.create.error"]["status"] == "ERROR"
    assert told["nslb.loadbalancer.create.error"]["reason"].startswith("No valid host")
    del driver.broken[lb["id"]]
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    worker.drain()
    assert amphorae(client, lb["id"]) == []


def test_a_failed_child_change_leaves_built_amphorae_alone(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    lb = active_lb(client, worker)
    (built,) = amphorae(client, lb["id"])
    assert built["status"] == "ALLOCATED"
    driver.fail_next[lb["id"]] = "haproxy refused it"
    create_listener(client, lb["id"], protocol="HTTP", protocol_port=80)
    worker.drain()
    shown = client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ACTIVE"
    assert [a["status"] for a in amphorae(client, lb["id"])] == ["ALLOCATED"]
