"""Failover in the control plane (noop driver): LB failover replaces every amphora (a SINGLE
LB in place, a pair's standby before the active one), amphora failover replaces one, with
Octavia's statuses and errors; and the amphora admin API's shapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PHYSNETS, PROJECT
from octavia_helpers import LB_URL, active_tree, create_lb, fault, vip_subnet
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db import amphorae
from nslb.db.engine import Database
from nslb.health.autofailover import AutoFailover
from nslb.health.monitor import HealthMonitor
from nslb.model.resources import Amphora
from nslb.worker.loop import Worker

AMPHORAE = "/v2/octavia/amphorae"
FIELDS = {"id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
          "vrrp_port_id", "ha_port_id", "cert_expiration", "cert_busy", "role", "status",
          "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone", "created_at",
          "updated_at", "image_id", "compute_flavor"}


@pytest.fixture
def pair_client(tmp_path: Path, db: Database) -> Iterator[TestClient]:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        yield client


def _amphorae(db: Database, lb_id: str) -> list[Amphora]:
    with db.read() as session:
        return amphorae.of_lb(session, lb_id)


def _status(client: TestClient, lb_id: str) -> str:
    return str(client.get(f"{LB_URL}/{lb_id}").json()["loadbalancer"]["provisioning_status"])


def test_a_single_lb_failover_rebuilds_its_amphora_in_place(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    ids = active_tree(client, worker)
    (old,) = _amphorae(db, ids["lb"])
    assert client.put(f"{LB_URL}/{ids['lb']}/failover").status_code == 202
    assert _status(client, ids["lb"]) == "PENDING_UPDATE"
    worker.drain()
    (new,) = _amphorae(db, ids["lb"])
    assert new.id != old.id and new.role == "STANDALONE" and new.status == "ALLOCATED"
    # the old one went first: it held the VIP port its replacement plugs
    steps = driver.history[driver.history.index(("delete", old.id)):]
    assert steps[:2] == [("delete", old.id), ("apply", new.id)]
    assert _status(client, ids["lb"]) == "ACTIVE"
    assert set(driver.bundles) == {new.id}


def test_a_pair_failover_builds_the_new_pair_then_removes_the_standby_first(
        pair_client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    lb = create_lb(pair_client, vip_subnet(pair_client)["id"])
    worker.drain()
    old = {a.role: a for a in _amphorae(db, lb["id"])}
    start = len(driver.history)
    assert pair_client.put(f"{LB_URL}/{lb['id']}/failover").status_code == 202
    worker.drain()
    new = {a.role: a for a in _amphorae(db, lb["id"])}
    assert set(new) == {"MASTER", "BACKUP"}
    assert not {a.id for a in new.values()} & {a.id for a in old.values()}
    deletes = [a for op, a in driver.history[start:] if op == "delete"]
    assert deletes == [old["BACKUP"].id, old["MASTER"].id]
    first_delete = driver.history.index(("delete", old["BACKUP"].id), start)
    built = {a for op, a in driver.history[start:first_delete] if op == "apply"}
    assert {a.id for a in new.values()} <= built, "the new pair serves before the old goes"
    assert set(driver.bundles) == {a.id for a in new.values()}
    for amphora in new.values():  # the survivors know only each other
        other = next(a for a in new.values() if a.id != amphora.id)
        config = driver.bundles[amphora.id].files["keepalived.conf"]
        assert f"        {other.vrrp_ip}\n" in config
        assert all(f"        {a.vrrp_ip}\n" not in config for a in old.values())
    assert {a.vrrp_id for a in new.values()} == {a.vrrp_id for a in old.values()}
    assert _status(pair_client, lb["id"]) == "ACTIVE"
    vrrp = [p for p in pair_client.get("/networking/v2.0/ports").json()["ports"]
            if p["device_owner"] == "nslb:vrrp"]
    assert {p["device_id"] for p in vrrp} == {a.id for a in new.values()}


def test_an_amphora_failover_replaces_one_and_needs_an_active_lb(
        pair_client: TestClient, worker: Worker, db: Database) -> None:
    lb = create_lb(pair_client, vip_subnet(pair_client)["id"])
    worker.drain()
    backup = next(a for a in _amphorae(db, lb["id"]) if a.role == "BACKUP")
    master = next(a for a in _amphorae(db, lb["id"]) if a.role == "MASTER")
    assert pair_client.put(f"{AMPHORAE}/{backup.id}/failover").status_code == 202
    assert fault(pair_client.put(f"{AMPHORAE}/{master.id}/failover"), 409) == \
        f"Load Balancer {lb['id']} is immutable and cannot be updated."
    worker.drain()
    now = {a.role: a for a in _amphorae(db, lb["id"])}
    assert now["MASTER"].id == master.id and now["BACKUP"].id != backup.id
    assert fault(pair_client.get(f"{AMPHORAE}/{backup.id}"), 404) == \
        f"Amphora {backup.id} not found."


def test_failover_of_an_lb_in_error_is_allowed_pending_is_not(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    lb = create_lb(client, vip_subnet(client)["id"])
    driver.fail_next[lb["id"]] = "boom"
    worker.drain()
    assert _status(client, lb["id"]) == "ERROR"
    del driver.fail_next[lb["id"]]
    assert client.put(f"{LB_URL}/{lb['id']}/failover").status_code == 202
    assert fault(client.put(f"{LB_URL}/{lb['id']}/failover"), 409).endswith(
        "is immutable and cannot be updated.")
    worker.drain()
    assert _status(client, lb["id"]) == "ACTIVE"


def test_the_amphora_api_shapes(pair_client: TestClient, worker: Worker, db: Database) -> None:
    lb = create_lb(pair_client, vip_subnet(pair_client)["id"])
    worker.drain()
    listed = pair_client.get(f"{AMPHORAE}?loadbalancer_id={lb['id']}").json()
    assert set(listed) == {"amphorae", "amphorae_links"}
    assert len(listed["amphorae"]) == 2
    for item in listed["amphorae"]:
        assert set(item) == FIELDS
        assert item["loadbalancer_id"] == lb["id"] and item["ha_ip"] == lb["vip_address"]
        assert item["status"] == "ALLOCATED" and item["vrrp_interface"].startswith("nsv")
    one = pair_client.get(f"{AMPHORAE}/{listed['amphorae'][0]['id']}").json()["amphora"]
    assert one == listed["amphorae"][0]
    roles = pair_client.get(f"{AMPHORAE}?role=BACKUP").json()["amphorae"]
    assert [a["role"] for a in roles] == ["BACKUP"]
    fields = pair_client.get(f"{AMPHORAE}?fields=id,role").json()["amphorae"]
    assert all(set(a) == {"id", "role"} for a in fields)
    assert fault(pair_client.get(f"{AMPHORAE}/{one['id']}/stats"), 404) == \
        f"Amphora stats for {one['id']} not found."
    assert pair_client.put(f"{AMPHORAE}/{one['id']}/config").status_code == 202
    assert fault(pair_client.delete(f"{AMPHORAE}/{one['id']}"), 409) == \
        f"amphora {one['id']} is immutable and cannot be updated."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_amphora_repair_cannot_fix_is_failed_over_after_the_timeout(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    clock = Clock()
    health = HealthMonitor(db, driver, on_down=worker.resync, clock=clock,
                           failover=AutoFailover(timeout=10.0, max_concurrent=1))
    ids = active_tree(client, worker)
    (old,) = _amphorae(db, ids["lb"])
    driver.bundles.pop(old.id)  # its data plane is gone...
    driver.broken[old.id] = OSError("disk full")  # ...and repairing it in place fails
    health.run_once()
    worker.drain()  # the repair fails (a resync is retried, never settled to ERROR)
    assert _status(client, ids["lb"]) == "ACTIVE"
    clock.now += 9
    health.run_once()
    assert [a.id for a in _amphorae(db, ids["lb"])] == [old.id]  # not yet
    clock.now += 2
    health.run_once()
    assert _status(client, ids["lb"]) == "PENDING_UPDATE"
    del driver.broken[old.id]
    worker.drain()
    (new,) = _amphorae(db, ids["lb"])
    assert new.id != old.id and new.status == "ALLOCATED"
    assert _status(client, ids["lb"]) == "ACTIVE"
    health.run_once()
    assert client.get(f"{LB_URL}/{ids['lb']}").json()["loadbalancer"][
        "operating_status"] == "ONLINE"


def test_an_amphora_in_error_is_not_failed_over_automatically(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    clock = Clock()
    health = HealthMonitor(db, driver, clock=clock, failover=AutoFailover(timeout=1.0))
    ids = active_tree(client, worker)
    (amphora,) = _amphorae(db, ids["lb"])
    with db.write() as session:
        row = session.get(Amphora, amphora.id)
        assert row is not None
        row.status = "ERROR"
    driver.bundles.pop(amphora.id)
    health.run_once()
    clock.now += 100
    health.run_once()
    assert _status(client, ids["lb"]) == "ACTIVE"
    assert [a.id for a in _amphorae(db, ids["lb"])] == [amphora.id]
