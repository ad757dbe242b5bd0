"""Load balancers through the real app: lifecycle, the PENDING_* lock, failures, cascade
delete, the single-call tree create, the status tree, stats, projects and providers."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import OTHER_PROJECT, PROJECT
from octavia_helpers import (
    API,
    LB_URL,
    LISTENER_URL,
    NET,
    POOL_URL,
    active_lb,
    active_tree,
    all_active,
    create_hm,
    create_lb,
    create_member,
    create_pool,
    fault,
    immutable,
    lb,
    listener,
    members_url,
    pool,
    prov,
    statuses,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

LB_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "vip_address", "vip_port_id",
    "vip_subnet_id", "vip_network_id", "vip_qos_policy_id", "vip_sg_ids", "vip_vnic_type",
    "additional_vips", "listeners", "pools", "provider", "flavor_id", "availability_zone",
    "tags",
}


def ports(client: TestClient) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = client.get(f"{NET}/ports").json()["ports"]
    return body


# --- lifecycle ---------------------------------------------------------------------------


def test_create_show_update_delete(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    created = create_lb(client, subnet["id"], name="web", description="d", tags=["a"])
    assert set(created) == LB_KEYS
    assert (prov(created), created["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert created["project_id"] == created["tenant_id"] == PROJECT
    assert created["vip_subnet_id"] == subnet["id"]
    assert created["vip_network_id"] == subnet["network_id"]
    assert created["provider"] == "amphora" and created["tags"] == ["a"]
    assert created["listeners"] == [] and created["pools"] == []
    vip = [p for p in ports(client) if p["id"] == created["vip_port_id"]]
    assert vip and vip[0]["fixed_ips"][0]["ip_address"] == created["vip_address"]
    assert vip[0]["device_owner"] == "Octavia"

    worker.drain()
    shown = lb(client, created["id"])
    assert prov(shown) == "ACTIVE"
    assert {k: v for k, v in shown.items() if k not in ("provisioning_status",
                                                        "operating_status", "updated_at")} \
        == {k: v for k, v in created.items() if k not in ("provisioning_status",
                                                          "operating_status", "updated_at")}

    resp = client.put(f"{LB_URL}/{created['id']}", json={"loadbalancer": {"name": "renamed",
                                                                          "tags": ["b"]}})
    assert resp.status_code == 200, resp.text
    body = resp.json()["loadbalancer"]
    assert (prov(body), body["name"], body["tags"]) == ("PENDING_UPDATE", "renamed", ["b"])
    worker.drain()
    assert prov(lb(client, created["id"])) == "ACTIVE"

    assert client.delete(f"{LB_URL}/{created['id']}").status_code == 204
    assert prov(lb(client, created["id"])) == "PENDING_DELETE"
    worker.drain()
    fault(client.get(f"{LB_URL}/{created['id']}"), 404)
    assert not [p for p in ports(client) if p["id"] == created["vip_port_id"]]


def test_not_found_is_octavia_fault(client: TestClient) -> None:
    missing = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    assert fault(client.get(f"{LB_URL}/{missing}"), 404) == f"Load Balancer {missing} not found."
    assert fault(client.put(f"{LB_URL}/{missing}", json={"loadbalancer": {}}), 404)
    assert fault(client.delete(f"{LB_URL}/{missing}"), 404)
    assert fault(client.get(f"{LISTENER_URL}/{missing}"), 404) == f"Listener {missing} not found."
    assert fault(client.get(f"{POOL_URL}/{missing}"), 404) == f"Pool {missing} not found."
    fault(client.get(f"{API}/nothing-here"), 404)


def test_pending_lb_is_immutable(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    created = create_lb(client, subnet["id"], name="orig")
    lb_id = created["id"]
    immutable(client.put(f"{LB_URL}/{lb_id}", json={"loadbalancer": {"name": "x"}}), lb_id)
    immutable(client.post(LISTENER_URL, json={"listener": {
        "protocol": "HTTP", "protocol_port": 81, "loadbalancer_id": lb_id}}), lb_id)
    immutable(client.post(POOL_URL, json={"pool": {
        "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": lb_id}}), lb_id)
    immutable(client.delete(f"{LB_URL}/{lb_id}"), lb_id)
    shown = lb(client, lb_id)
    assert (shown["name"], prov(shown), shown["listeners"], shown["pools"]) == \
        ("orig", "PENDING_CREATE", [], [])
    assert client.get(LISTENER_URL).json()["listeners"] == []
    assert client.get(POOL_URL).json()["pools"] == []
    worker.drain()
    assert prov(lb(client, lb_id)) == "ACTIVE"


def test_failed_create_is_error_and_error_can_be_deleted(client: TestClient, worker: Worker,
                                                         driver: NoopDriver) -> None:
    subnet = vip_subnet(client)
    created = create_lb(client, subnet["id"])
    driver.fail_next[created["id"]] = "boom"
    worker.drain()
    assert prov(lb(client, created["id"])) == "ERROR"
    # ERROR is not mutable (Octavia's MUTABLE_STATUSES is ACTIVE only) but is deletable.
    immutable(client.put(f"{LB_URL}/{created['id']}", json={"loadbalancer": {"name": "x"}}),
              created["id"])
    assert client.delete(f"{LB_URL}/{created['id']}").status_code == 204
    worker.drain()
    fault(client.get(f"{LB_URL}/{created['id']}"), 404)
    assert not [p for p in ports(client) if p["id"] == created["vip_port_id"]]


def test_failed_lb_update_is_error(client: TestClient, worker: Worker,
                                        driver: NoopDriver) -> None:
    body = active_lb(client, worker)
    resp = client.put(f"{LB_URL}/{body['id']}", json={"loadbalancer": {"name": "x"}})
    assert resp.status_code == 200
    driver.fail_next[body["id"]] = "boom"
    worker.drain()
    # Octavia's LB update flow reverts with LoadBalancerToErrorOnRevertTask.
    assert prov(lb(client, body["id"])) == "ERROR"
    assert lb(client, body["id"])["name"] == "x"


def test_delete_with_children_needs_cascade(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    message = fault(client.delete(f"{LB_URL}/{ids['lb']}"), 400)
    assert message == (f"Validation failure: Cannot delete Load Balancer {ids['lb']} - "
                       "it has children")
    assert all_active(client, ids)

    resp = client.delete(f"{LB_URL}/{ids['lb']}", params={"cascade": "true"})
    assert resp.status_code == 204
    assert set(statuses(client, ids).values()) == {"PENDING_DELETE"}
    vip_port = lb(client, ids["lb"])["vip_port_id"]
    worker.drain()
    fault(client.get(f"{LB_URL}/{ids['lb']}"), 404)
    fault(client.get(f"{LISTENER_URL}/{ids['listener']}"), 404)
    fault(client.get(f"{POOL_URL}/{ids['pool']}"), 404)
    fault(client.get(f"{API}/healthmonitors/{ids['hm']}"), 404)
    assert client.get(f"{API}/members").status_code == 404  # no such top-level collection
    assert not [p for p in ports(client) if p["id"] == vip_port]
    for collection in ("listeners", "pools", "healthmonitors"):
        assert client.get(f"{API}/{collection}").json()[collection] == []


def test_vip_on_network_and_on_existing_port(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    by_net = client.post(LB_URL, json={"loadbalancer": {"vip_network_id": subnet["network_id"]}})
    assert by_net.status_code == 201, by_net.text
    assert by_net.json()["loadbalancer"]["vip_subnet_id"] == subnet["id"]
    port = client.post(f"{NET}/ports", json={"port": {"network_id": subnet["network_id"]}})
    port_id = port.json()["port"]["id"]
    by_port = client.post(LB_URL, json={"loadbalancer": {"vip_port_id": port_id}})
    assert by_port.status_code == 201, by_port.text
    assert by_port.json()["loadbalancer"]["vip_port_id"] == port_id
    assert fault(client.post(LB_URL, json={"loadbalancer": {"name": "x"}}), 400).startswith(
        "Validation failure")
    explicit = create_lb(client, subnet["id"], vip_address="10.0.0.200")
    assert explicit["vip_address"] == "10.0.0.200"
    fault(client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                     "vip_address": "10.0.0.200"}}), 409)


# --- projects and providers ----------------------------------------------------------------


def test_missing_project_is_400(client: TestClient) -> None:
    subnet = vip_subnet(client)
    with TestClient(client.app) as anonymous:
        resp = anonymous.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
        assert fault(resp, 400) == "Missing project ID in request where one is required"
        resp = anonymous.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                             "project_id": OTHER_PROJECT}})
        assert resp.status_code == 201, resp.text
        assert resp.json()["loadbalancer"]["project_id"] == OTHER_PROJECT
    assert client.get(LB_URL).json()["loadbalancers"][0]["project_id"] == OTHER_PROJECT


@pytest.mark.parametrize("provider", ["amphora", "octavia"])
def test_octavia_provider_names_are_accepted(client: TestClient, provider: str) -> None:
    subnet = vip_subnet(client)
    assert create_lb(client, subnet["id"], provider=provider)["provider"] == provider


def test_unknown_provider_is_400(client: TestClient) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "provider": "ovn"}})
    assert fault(resp, 400) == "Provider 'ovn' is not enabled."
    assert client.get(LB_URL).json()["loadbalancers"] == []


def test_providers_list(client: TestClient) -> None:
    names = {p["name"] for p in client.get(f"{API}/providers").json()["providers"]}
    assert names == {"amphora", "octavia"}
    caps = client.get(f"{API}/providers/amphora/flavor_capabilities")
    assert caps.status_code == 200
    assert all(set(c) == {"name", "description"} for c in caps.json()["flavor_capabilities"])
    assert fault(client.get(f"{API}/providers/ovn/flavor_capabilities"), 400) == \
        "Provider 'ovn' is not enabled."


@pytest.mark.parametrize(("attrs", "option"), [
    ({"vip_qos_policy_id": "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"}, "vip_qos_policy_id"),
])
def test_unsupported_lb_options_are_501(client: TestClient, attrs: dict[str, Any],
                                        option: str) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"], **attrs}})
    assert fault(resp, 501).startswith(
        f"Provider 'amphora' does not support a requested option: {option}")
    assert client.get(LB_URL).json()["loadbalancers"] == []
    assert [p for p in ports(client) if p["device_owner"] == "Octavia"] == []


# --- the single-call tree create ---------------------------------------------------------------


def tree_body(subnet_id: str) -> dict[str, Any]:
    return {"loadbalancer": {
        "vip_subnet_id": subnet_id, "name": "tree",
        "listeners": [
            {"protocol": "HTTP", "protocol_port": 80, "name": "web",
             "default_pool": {"name": "shared"}},
            {"protocol": "TCP", "protocol_port": 443, "name": "inline",
             "default_pool": {"name": "tcp-pool", "protocol": "TCP",
                              "lb_algorithm": "LEAST_CONNECTIONS",
                              "members": [{"address": "10.0.0.30", "protocol_port": 443}]}},
        ],
        "pools": [{
            "name": "shared", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
                              "url_path": "/healthz"},
            "members": [{"address": "10.0.0.10", "protocol_port": 8080, "weight": 5},
                        {"address": "10.0.0.11", "protocol_port": 8080}],
        }],
    }}


def test_tree_create_returns_everything_pending(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json=tree_body(subnet["id"]))
    assert resp.status_code == 201, resp.text
    body = resp.json()["loadbalancer"]
    assert prov(body) == "PENDING_CREATE"
    assert len(body["listeners"]) == 2 and len(body["pools"]) == 2
    listeners = {li["name"]: li for li in body["listeners"]}
    pools = {p["name"]: p for p in body["pools"]}
    assert listeners["web"]["default_pool_id"] == pools["shared"]["id"]
    assert listeners["inline"]["default_pool_id"] == pools["tcp-pool"]["id"]
    shared = pools["shared"]
    assert shared["healthmonitor"]["url_path"] == "/healthz"
    # Octavia's *FullResponse types leave out the back references
    assert "healthmonitor_id" not in shared and "loadbalancers" not in shared
    assert "pools" not in shared["healthmonitor"]
    assert "healthmonitor" not in pools["tcp-pool"]
    assert sorted(m["address"] for m in shared["members"]) == ["10.0.0.10", "10.0.0.11"]
    objs = [*body["listeners"], *body["pools"], shared["healthmonitor"],
            *shared["members"], *pools["tcp-pool"]["members"]]
    assert {prov(o) for o in objs} == {"PENDING_CREATE"}
    assert {o["project_id"] for o in objs} == {PROJECT}

    worker.drain()
    shown = lb(client, body["id"])
    assert prov(shown) == "ACTIVE"
    assert {x["id"] for x in shown["listeners"]} == {li["id"] for li in body["listeners"]}
    for o in body["listeners"]:
        assert prov(listener(client, o["id"])) == "ACTIVE"
    for p in body["pools"]:
        assert prov(pool(client, p["id"])) == "ACTIVE"
    members = client.get(members_url(shared["id"])).json()["members"]
    assert {prov(m) for m in members} == {"ACTIVE"} and len(members) == 2


TREE_ERRORS: list[tuple[Any, int]] = [
    (lambda b: b["pools"][0].pop("name"), 400),
    (lambda b: b["listeners"][1]["default_pool"].pop("name"), 400),
    (lambda b: b["listeners"][0].update(default_pool={"name": "nope"}), 400),
    (lambda b: b["listeners"][1].update(protocol_port=80), 409),
    (lambda b: b["pools"][0]["members"].append({"address": "10.0.0.10",
                                                "protocol_port": 8080}), 409),
    (lambda b: b["listeners"][0].update(default_pool={"name": "tcp", "protocol": "TCP",
                                                       "lb_algorithm": "ROUND_ROBIN"}), 400),
    (lambda b: b["listeners"][0].update(protocol="UDP"), 400),  # an HTTP pool
]


def test_tree_create_errors_leave_nothing(client: TestClient) -> None:
    subnet = vip_subnet(client)
    for mutate, status in TREE_ERRORS:
        body = tree_body(subnet["id"])
        mutate(body["loadbalancer"])
        fault(client.post(LB_URL, json=body), status)
    assert client.get(LB_URL).json()["loadbalancers"] == []
    assert client.get(POOL_URL).json()["pools"] == []
    assert [p for p in ports(client) if p["device_owner"] == "Octavia"] == []


def test_tree_pool_without_name_message(client: TestClient) -> None:
    subnet = vip_subnet(client)
    body = tree_body(subnet["id"])
    body["loadbalancer"]["pools"][0].pop("name")
    assert "named" in fault(client.post(LB_URL, json=body), 400)


# --- status tree, stats, operating statuses ----------------------------------------------------


def test_status_tree_shape(client: TestClient, worker: Worker, health: HealthMonitor) -> None:
    ids = active_tree(client, worker)
    health.run_once()
    resp = client.get(f"{LB_URL}/{ids['lb']}/status")
    assert resp.status_code == 200
    root = resp.json()
    assert set(root) == {"statuses"} and set(root["statuses"]) == {"loadbalancer"}
    tree = root["statuses"]["loadbalancer"]
    assert set(tree) == {"id", "name", "provisioning_status", "operating_status", "listeners"}
    assert tree["id"] == ids["lb"]
    (li,) = tree["listeners"]
    assert set(li) == {"id", "name", "provisioning_status", "operating_status", "pools"}
    (p,) = li["pools"]
    assert set(p) == {"id", "name", "provisioning_status", "operating_status",
                      "health_monitor", "members"}
    assert set(p["health_monitor"]) == {"id", "name", "type", "provisioning_status",
                                        "operating_status"}
    (m,) = p["members"]
    assert set(m) == {"id", "name", "provisioning_status", "operating_status", "address",
                      "protocol_port"}
    assert (li["id"], p["id"], m["id"], p["health_monitor"]["id"]) == \
        (ids["listener"], ids["pool"], ids["member"], ids["hm"])
    statuses_seen = {tree["operating_status"], li["operating_status"], p["operating_status"],
                     m["operating_status"]}
    assert statuses_seen == {"ONLINE"}
    assert {tree["provisioning_status"], li["provisioning_status"]} == {"ACTIVE"}


def test_operating_statuses(client: TestClient, worker: Worker, health: HealthMonitor) -> None:
    ids = active_tree(client, worker, hm_too=False)
    second = create_member(client, ids["pool"], address="10.0.0.51", admin_state_up=False)
    worker.drain()
    health.run_once()
    assert lb(client, ids["lb"])["operating_status"] == "ONLINE"
    assert listener(client, ids["listener"])["operating_status"] == "ONLINE"
    assert pool(client, ids["pool"])["operating_status"] == "ONLINE"
    members = {m["id"]: m["operating_status"]
               for m in client.get(members_url(ids["pool"])).json()["members"]}
    assert members == {ids["member"]: "NO_MONITOR", second["id"]: "OFFLINE"}

    hm = create_hm(client, ids["pool"], type="TCP")
    worker.drain()
    health.run_once()
    members = {m["id"]: m["operating_status"]
               for m in client.get(members_url(ids["pool"])).json()["members"]}
    assert members == {ids["member"]: "ONLINE", second["id"]: "OFFLINE"}
    assert client.get(f"{API}/healthmonitors/{hm['id']}").json()["healthmonitor"][
        "operating_status"] == "ONLINE"

    resp = client.put(f"{LISTENER_URL}/{ids['listener']}",
                      json={"listener": {"admin_state_up": False}})
    assert resp.status_code == 200
    worker.drain()
    health.run_once()
    assert listener(client, ids["listener"])["operating_status"] == "OFFLINE"


def test_stats_shape(client: TestClient, worker: Worker, health: HealthMonitor) -> None:
    ids = active_tree(client, worker)
    health.run_once()
    keys = {"bytes_in", "bytes_out", "active_connections", "total_connections",
            "request_errors"}
    for url in (f"{LB_URL}/{ids['lb']}/stats", f"{LISTENER_URL}/{ids['listener']}/stats"):
        resp = client.get(url)
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"stats"} and set(body["stats"]) == keys
        assert all(isinstance(v, int) and v >= 0 for v in body["stats"].values())
    fault(client.get(f"{LB_URL}/8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f/stats"), 404)


# --- documents and prefixes --------------------------------------------------------------------


def test_version_document(client: TestClient) -> None:
    for prefix in ("", "/load-balancer"):
        resp = client.get(f"{prefix}/")
        assert resp.status_code == 200
        versions = resp.json()["versions"]
        assert versions[0]["id"] == "v2.0"
        current = [v for v in versions if v["status"] == "CURRENT"]
        assert len(current) == 1 and current[0] is versions[-1]
        href = current[0]["links"][0]["href"]
        assert href.endswith(f"{prefix}/v2")
        assert all(set(v) == {"id", "status", "updated", "links"} for v in versions)


def test_aliases_and_prefix_reach_the_same_api(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    for base in ("/v2.0/lbaas", "/load-balancer/v2/lbaas", "/load-balancer/v2.0/lbaas"):
        resp = client.get(f"{base}/loadbalancers/{body['id']}")
        assert resp.status_code == 200, base
        assert resp.json()["loadbalancer"]["id"] == body["id"]
    fault(client.get("/load-balancer/v2/lbaas/loadbalancers/nope"), 404)


def test_non_json_and_unknown_attribute(client: TestClient) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, content=b"vip_subnet_id=x",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "Unknown mimetype" in fault(resp, 415)  # WSME's answer to a non-JSON body
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "colour": "red"}})
    assert "Unknown attribute: colour" in fault(resp, 400)
    assert client.get(LB_URL).json()["loadbalancers"] == []


def test_pool_on_lb_appears_in_lb_body(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    p = create_pool(client, loadbalancer_id=body["id"])
    immutable(client.post(LISTENER_URL, json={"listener": {
        "protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": body["id"]}}), body["id"])
    worker.drain()
    shown = lb(client, body["id"])
    assert shown["pools"] == [{"id": p["id"]}]

