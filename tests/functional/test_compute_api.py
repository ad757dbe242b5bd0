"""The Nova v2.1 subset at /compute/v2.1: the agent hosts as services and hypervisors,
aggregates with their actions, availability zones, flavors with extra specs, in Nova's
shapes and its fault shape (`{"itemNotFound": {"code": 404, "message": ...}}`); what it
does not implement answers 501 in that shape."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from keystone_helpers import keystone_cloud
from starlette.testclient import TestClient

from nslb.db import hosts
from nslb.db.engine import Database
from nslb.model.resources import utcnow

V = "/compute/v2.1"


def nova_fault(resp: Any, status: int, key: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {key} and body[key]["code"] == status, body
    message: str = body[key]["message"]
    return message


def add_host(db: Database, name: str, state: str = hosts.UP) -> str:
    with db.write() as session:
        host_id = hosts.add_host(session, hosts.Joining(name, "127.0.0.1", 9443, 10, 4, 4096),
                                 f"serial-{name}", utcnow() + timedelta(days=1))
        hosts.set_state(session, host_id, state)
    return host_id


def test_version_document_for_discovery(client: TestClient) -> None:
    doc = client.get(f"{V}/").json()["version"]
    assert (doc["id"], doc["min_version"], doc["version"]) == ("v2.1", "2.53", "2.85")
    assert client.get("/compute/").json()["versions"][0]["id"] == "v2.1"


def test_hosts_are_services_and_hypervisors(client: TestClient, db: Database) -> None:
    up = add_host(db, "pl-host-1")
    add_host(db, "pl-host-2", hosts.DOWN)
    services = client.get(f"{V}/os-services").json()["services"]
    assert sorted((s["host"], s["state"], s["zone"], s["binary"]) for s in services) == [
        ("pl-host-1", "up", "nova", "nslb-agent"), ("pl-host-2", "down", "nova", "nslb-agent")]
    listed = client.get(f"{V}/os-hypervisors").json()["hypervisors"]
    assert sorted((h["hypervisor_hostname"], h["state"]) for h in listed) == [
        ("pl-host-1", "up"), ("pl-host-2", "down")]
    detail = next(h for h in client.get(f"{V}/os-hypervisors/detail").json()["hypervisors"]
                  if h["id"] == up)
    assert (detail["vcpus"], detail["memory_mb"], detail["running_vms"]) == (4, 4096, 0)
    shown = client.get(f"{V}/os-hypervisors/{up}").json()["hypervisor"]
    assert shown["hypervisor_hostname"] == "pl-host-1"
    # 2.53: ids are UUIDs (a name is a 400; the SDK's find then lists by name)
    assert nova_fault(client.get(f"{V}/os-hypervisors/pl-host-1"), 400, "badRequest") == (
        "Invalid uuid pl-host-1")
    ghost = "6f1d0a0e-0000-4000-8000-000000000000"
    assert nova_fault(client.get(f"{V}/os-hypervisors/{ghost}"), 404, "itemNotFound") == (
        f"Hypervisor with ID '{ghost}' could not be found.")
    found = client.get(f"{V}/os-hypervisors?hypervisor_hostname_pattern=host-1").json()
    assert [h["id"] for h in found["hypervisors"]] == [up]
    assert nova_fault(client.get(f"{V}/os-hypervisors?hypervisor_hostname_pattern=zz"),
                      404, "itemNotFound") == "No hypervisor matching 'zz' could be found."


def test_aggregates_with_zone_metadata_and_hosts(client: TestClient, db: Database) -> None:
    add_host(db, "pl-host-1")
    resp = client.post(f"{V}/os-aggregates", json={"aggregate": {
        "name": "fast", "availability_zone": "rack1"}})
    assert resp.status_code == 200, resp.text
    agg = resp.json()["aggregate"]
    assert (agg["name"], agg["availability_zone"], agg["hosts"]) == ("fast", "rack1", [])
    url = f"{V}/os-aggregates/{agg['id']}"
    resp = client.post(f"{url}/action", json={"set_metadata": {"metadata": {"ssd": "true"}}})
    assert resp.json()["aggregate"]["metadata"] == {"ssd": "true", "availability_zone": "rack1"}
    resp = client.post(f"{url}/action", json={"add_host": {"host": "pl-host-1"}})
    assert resp.json()["aggregate"]["hosts"] == ["pl-host-1"]
    assert nova_fault(client.post(f"{url}/action", json={"add_host": {"host": "pl-host-1"}}),
                      409, "conflictingRequest") == f"Aggregate {agg['id']} already has host " \
                                                    "pl-host-1."
    assert nova_fault(client.post(f"{url}/action", json={"add_host": {"host": "ghost"}}),
                      404, "itemNotFound") == "Compute host ghost could not be found."
    assert client.get(url).json()["aggregate"]["hosts"] == ["pl-host-1"]
    assert [a["name"] for a in client.get(f"{V}/os-aggregates").json()["aggregates"]] == [
        "fast"]
    zones = client.get(f"{V}/os-availability-zone").json()["availabilityZoneInfo"]
    assert [(z["zoneName"], z["zoneState"]["available"]) for z in zones] == [("rack1", True)]
    detail = client.get(f"{V}/os-availability-zone/detail").json()["availabilityZoneInfo"]
    assert list(detail[0]["hosts"]) == ["pl-host-1"]
    services = client.get(f"{V}/os-services").json()["services"]
    assert services[0]["zone"] == "rack1"
    assert nova_fault(client.delete(url), 400, "badRequest").endswith("is not empty.")
    client.post(f"{url}/action", json={"remove_host": {"host": "pl-host-1"}})
    client.post(f"{url}/action", json={"set_metadata": {"metadata": {"ssd": None}}})
    assert client.get(url).json()["aggregate"]["metadata"] == {"availability_zone": "rack1"}
    assert client.delete(url).status_code == 200
    assert nova_fault(client.get(url), 404, "itemNotFound") == (
        f"Aggregate {agg['id']} could not be found.")


def test_flavors_with_extra_specs(client: TestClient) -> None:
    client.headers["OpenStack-API-Version"] = "compute 2.61"  # extra_specs inline
    resp = client.post(f"{V}/flavors", json={"flavor": {
        "name": "amp.gold", "ram": 512, "vcpus": 2, "disk": 0, "id": "gold"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["flavor"]["extra_specs"] == {}
    specs = {"aggregate_instance_extra_specs:ssd": "true", "nslb:max_connections": "1000"}
    resp = client.post(f"{V}/flavors/gold/os-extra_specs", json={"extra_specs": specs})
    assert resp.json() == {"extra_specs": specs}
    shown = client.get(f"{V}/flavors/gold").json()["flavor"]
    assert (shown["ram"], shown["vcpus"], shown["extra_specs"]) == (512, 2, specs)
    assert [f["id"] for f in client.get(f"{V}/flavors").json()["flavors"]] == ["gold"]
    assert client.get(f"{V}/flavors/detail").json()["flavors"][0]["ram"] == 512
    assert client.delete(f"{V}/flavors/gold/os-extra_specs/nslb:max_connections"
                         ).status_code == 200
    assert client.get(f"{V}/flavors/gold/os-extra_specs").json() == {"extra_specs": {
        "aggregate_instance_extra_specs:ssd": "true"}}
    assert nova_fault(client.post(f"{V}/flavors", json={"flavor": {
        "name": "amp.gold", "ram": 1, "vcpus": 1}}), 409, "conflictingRequest") == (
        "Flavor with name amp.gold already exists.")
    assert nova_fault(client.post(f"{V}/flavors", json={"flavor": {
        "name": "bad", "ram": -1, "vcpus": 1}}), 400, "badRequest").startswith(
        "Invalid input for field/attribute ram.")
    assert client.delete(f"{V}/flavors/gold").status_code == 202
    assert nova_fault(client.get(f"{V}/flavors/gold"), 404, "itemNotFound") == (
        "Flavor gold could not be found.")


def test_the_rest_is_501_in_novas_shape(client: TestClient) -> None:
    text = nova_fault(client.get(f"{V}/servers"), 501, "notImplemented")
    assert "not implemented" in text
    nova_fault(client.post(f"{V}/os-keypairs", json={}), 501, "notImplemented")


def test_admin_only_and_in_the_catalog(tmp_path: Path) -> None:
    with keystone_cloud(tmp_path) as c:
        c.project("A")
        member = c.persona("member", "A", "member")
        lb_admin = c.persona("lb_admin", "A", "load-balancer_admin")
        for headers in (member, lb_admin):
            for url in (f"{V}/os-hypervisors", f"{V}/flavors", f"{V}/os-aggregates"):
                assert nova_fault(c.client.get(url, headers=headers), 403, "forbidden") == (
                    "Policy doesn't allow this action to be performed.")
        assert c.client.get(f"{V}/os-hypervisors", headers=c.admin()).status_code == 200
        resp = c.client.get("/identity/v3/auth/catalog", headers=c.admin())
        compute = [s for s in resp.json()["catalog"] if s["type"] == "compute"]
        assert compute[0]["endpoints"][0]["url"].endswith("/compute/v2.1")
