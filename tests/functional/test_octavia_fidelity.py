"""Field for field as Octavia 19 answers the same requests (issue 15 §3): updated_at on
every provisioning status change, keys Octavia leaves out, quota and provider shapes,
the order of Octavia's validation before the provider's 501s, unset names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import PROJECT
from octavia_helpers import (
    API,
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_lb,
    active_tree,
    create_hm,
    create_listener,
    create_pool,
    fault,
    hm,
    lb,
    listener,
    member,
    pool,
    prov,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.octavia import versions
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

QUOTA_LIMITS = {"loadbalancer", "load_balancer", "listener", "member", "pool",
                "healthmonitor", "health_monitor", "l7policy", "l7rule"}


def everything(client: TestClient, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {"lb": lb(client, ids["lb"]), "listener": listener(client, ids["listener"]),
            "pool": pool(client, ids["pool"]),
            "member": member(client, ids["pool"], ids["member"]), "hm": hm(client, ids["hm"])}


def stamp(obj: dict[str, Any]) -> datetime:
    value = obj["updated_at"]
    assert value is not None, obj
    return datetime.fromisoformat(value)


# --- updated_at --------------------------------------------------------------------------


def test_updated_at_is_set_when_each_object_goes_active(client: TestClient,
                                                        worker: Worker) -> None:
    subnet = vip_subnet(client)
    created = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
    assert created.json()["loadbalancer"]["updated_at"] is None  # Octavia: null on create
    worker.drain()
    assert stamp(lb(client, created.json()["loadbalancer"]["id"])) >= datetime.fromisoformat(
        created.json()["loadbalancer"]["created_at"])
    ids = active_tree(client, worker)
    for name, obj in everything(client, ids).items():
        assert prov(obj) == "ACTIVE", name
        assert stamp(obj) >= datetime.fromisoformat(obj["created_at"]), name


def test_updated_at_is_set_when_a_change_fails(client: TestClient, worker: Worker,
                                               driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    pool_id = create_pool(client, loadbalancer_id=ids["lb"])["id"]
    driver.fail_next[ids["lb"]] = "refused"
    worker.drain()
    failed = pool(client, pool_id)
    assert prov(failed) == "ERROR"
    assert stamp(failed) >= datetime.fromisoformat(failed["created_at"])


# --- keys Octavia leaves out -------------------------------------------------------------


def test_pool_without_health_monitor_has_no_healthmonitor_id(client: TestClient,
                                                              worker: Worker) -> None:
    """Octavia's PoolResponse sets healthmonitor_id only when there is one; WSME leaves an
    unset attribute out of the JSON."""
    ids = active_tree(client, worker, hm_too=False)
    created = create_pool(client, loadbalancer_id=ids["lb"], protocol="TCP")
    assert "healthmonitor_id" not in created
    worker.drain()
    assert "healthmonitor_id" not in pool(client, ids["pool"])
    listed = client.get(POOL_URL).json()["pools"]
    assert all("healthmonitor_id" not in p for p in listed)
    hm_id = create_hm(client, ids["pool"])["id"]
    assert pool(client, ids["pool"])["healthmonitor_id"] == hm_id


# --- unset name and description ----------------------------------------------------------


def test_unset_name_and_description_are_empty_strings(client: TestClient,
                                                      worker: Worker) -> None:
    """BaseType.from_db_obj turns a null name/description into "" (members and health
    monitors have no description)."""
    ids = active_tree(client, worker)
    objs = everything(client, ids)
    for name, obj in objs.items():
        assert obj["name"] == "", name
    for name in ("lb", "listener", "pool"):
        assert objs[name]["description"] == "", name
    assert "description" not in objs["member"] and "description" not in objs["hm"]
    resp = client.put(f"{LISTENER_URL}/{ids['listener']}",
                      json={"listener": {"name": None, "description": None}})
    assert (resp.json()["listener"]["name"], resp.json()["listener"]["description"]) == ("", "")
    tree = client.get(f"{LB_URL}/{ids['lb']}/status").json()["statuses"]["loadbalancer"]
    assert tree["name"] == "" and tree["listeners"][0]["name"] == ""


# --- quotas ------------------------------------------------------------------------------


def test_quota_defaults_are_octavias_quota_response(client: TestClient) -> None:
    """Octavia routes /quotas/defaults as the quota of a project called "defaults"."""
    body = client.get(f"{API}/quotas/defaults").json()["quota"]
    assert body == {"project_id": "defaults", "tenant_id": "defaults",
                    **dict.fromkeys(QUOTA_LIMITS, -1)}
    mine = client.get(f"{API}/quotas/{PROJECT}/default").json()["quota"]
    assert mine == {**body, "project_id": PROJECT, "tenant_id": PROJECT}


def test_quota_show_update_and_list_shapes(client: TestClient) -> None:
    resp = client.put(f"{API}/quotas/{PROJECT}", json={"quota": {"loadbalancer": 5}})
    assert resp.status_code == 202
    updated = resp.json()["quota"]
    assert (updated["project_id"], updated["tenant_id"]) == (PROJECT, PROJECT)
    assert (updated["loadbalancer"], updated["load_balancer"], updated["pool"]) == (5, 5, -1)
    shown = client.get(f"{API}/quotas/{PROJECT}").json()["quota"]
    assert shown == updated
    # the list shows stored rows: null where the deployment default applies
    listed = client.get(f"{API}/quotas").json()["quotas"]
    assert listed == [{"project_id": PROJECT, "tenant_id": PROJECT,
                       **dict.fromkeys(QUOTA_LIMITS), "loadbalancer": 5, "load_balancer": 5}]


# --- providers ---------------------------------------------------------------------------


def test_providers_fields_and_capability_filters(client: TestClient) -> None:
    names = client.get(f"{API}/providers?fields=name").json()["providers"]
    assert names == [{"name": "amphora"}, {"name": "octavia"}]
    caps = client.get(f"{API}/providers/octavia/availability_zone_capabilities?name=x")
    assert caps.json() == {"availability_zone_capabilities": []}
    text = fault(client.get(f"{API}/providers/{'p' * 300}/flavor_capabilities"), 400)
    assert len(text) < 120  # never echoes a whole user value


# --- Octavia validates before the provider ------------------------------------------------


@pytest.mark.parametrize(("listener_protocol", "pool_protocol"), [
    ("HTTP", "UDP"), ("HTTP", "SCTP"), ("HTTP", "TCP"), ("TCP", "UDP"), ("HTTPS", "HTTP"),
])
def test_pool_protocol_that_does_not_fit_its_listener_is_400(
        client: TestClient, worker: Worker, listener_protocol: str, pool_protocol: str) -> None:
    body = active_lb(client, worker)
    li = create_listener(client, body["id"], protocol=listener_protocol)
    worker.drain()
    resp = client.post(POOL_URL, json={"pool": {"listener_id": li["id"],
                                                "protocol": pool_protocol,
                                                "lb_algorithm": "ROUND_ROBIN"}})
    assert fault(resp, 400) == (f"Validation failure: The pool protocol '{pool_protocol}' is "
                                f"invalid while the listener protocol is "
                                f"'{listener_protocol}'.")
    assert prov(lb(client, body["id"])) == "ACTIVE"


def test_listener_default_pool_is_checked_before_the_listener_protocol(
        client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    http_pool = create_pool(client, loadbalancer_id=body["id"])
    worker.drain()
    resp = client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": body["id"], "protocol": "UDP", "protocol_port": 53,
        "default_pool_id": http_pool["id"]}})
    assert fault(resp, 400) == ("Validation failure: The pool protocol 'HTTP' is invalid "
                                "while the listener protocol is 'UDP'.")
    other = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    resp = client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": body["id"], "protocol": "HTTP", "protocol_port": 80,
        "default_pool_id": other}})
    assert fault(resp, 404) == f"Pool {other} not found."


def test_single_call_create_checks_octavias_rules_before_the_providers(
        client: TestClient) -> None:
    """A tree create is refused with Octavia's 400 for a listener/pool misfit or a monitor
    type the pool cannot take, even where a field would otherwise be the provider's 501."""
    subnet = vip_subnet(client)["id"]
    pools = [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet, "pools": pools, "listeners": [{
            "protocol": "SCTP", "protocol_port": 9, "default_pool": {"name": "web"}}]}})
    assert fault(resp, 400) == ("Validation failure: The pool protocol 'HTTP' is invalid "
                                "while the listener protocol is 'SCTP'.")
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet, "pools": [{**pools[0], "healthmonitor": {
            "type": "UDP-CONNECT", "delay": 5, "timeout": 3, "max_retries": 3}}]}})
    assert fault(resp, 400) == ("Validation failure: The UDP-CONNECT type is only "
                                "supported for pools of type UDP/SCTP.")
    assert client.get(LB_URL).json()["loadbalancers"] == []


# --- health monitors under the noop driver ------------------------------------------------


def test_new_health_monitor_becomes_online(client: TestClient, worker: Worker,
                                           health: HealthMonitor) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_hm(client, ids["pool"])
    assert created["operating_status"] == "OFFLINE"  # Octavia: OFFLINE while pending
    worker.drain()
    health.run_once()
    shown = hm(client, created["id"])
    assert (prov(shown), shown["operating_status"]) == ("ACTIVE", "ONLINE")
    disabled = client.put(f"{HM_URL}/{created['id']}",
                          json={"healthmonitor": {"admin_state_up": False}})
    assert disabled.status_code == 200
    worker.drain()
    health.run_once()
    assert hm(client, created["id"])["operating_status"] == "OFFLINE"


# --- the version document ----------------------------------------------------------------


def test_version_rule_stops_at_the_first_minor_whose_endpoints_are_missing() -> None:
    everything_real = {need for _, _, needs in versions.MINORS.values() for need in needs}
    assert versions.highest(everything_real, set()) == max(versions.MINORS)
    # flavor and availability zone placeholders (api/octavia/unsupported.py) do not count
    assert versions.highest(everything_real, {"/lbaas/flavors"}) == 5
    assert versions.highest(everything_real, {"/lbaas/availabilityzones"}) == 13
    assert versions.highest(everything_real - {("PUT", "/octavia/amphorae/{id}/config")},
                            set()) == 6
    assert versions.highest(set(), set()) == 0


def test_claimed_versions_are_served(client: TestClient) -> None:
    """Every endpoint a claimed minor adds answers for real: no 501 placeholder, no 405."""
    docs = client.get("/").json()["versions"]
    current = int(docs[-1]["id"].removeprefix("v2."))
    assert docs[-1]["status"] == "CURRENT" and current == versions.max_minor()
    assert [d["id"] for d in docs] == [f"v2.{m}" for m in range(current + 1)]
    assert all(d["updated"] == versions.MINORS[int(d["id"].removeprefix("v2."))][0]
               for d in docs)  # Octavia's own dates
    for minor in range(current + 1):
        for method, path in versions.MINORS[minor][2]:
            url = "/v2" + path.replace("{id}", "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f")
            resp = client.request(method, url, json={})
            assert resp.status_code not in (405, 501), (minor, method, path, resp.text)
    if current < 6:  # flavors are still placeholders: 2.6 must not be claimed
        assert client.post(f"{API}/flavors", json={"flavor": {"name": "f"}}).status_code == 501
