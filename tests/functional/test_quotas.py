"""Quotas: defaults, PUT (202) then enforcement with 403, DELETE resets."""

from __future__ import annotations

from conftest import OTHER_PROJECT, PROJECT
from octavia_helpers import (
    API,
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_tree,
    create_hm,
    create_listener,
    create_member,
    create_pool,
    fault,
    members_url,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.worker.loop import Worker

QUOTA_KEYS = {"loadbalancer", "load_balancer", "listener", "member", "pool", "healthmonitor",
              "health_monitor", "l7policy", "l7rule"}


def set_quota(client: TestClient, **values: int) -> dict[str, int]:
    resp = client.put(f"{API}/quotas/{PROJECT}", json={"quota": values})
    assert resp.status_code == 202, resp.text
    body: dict[str, int] = resp.json()["quota"]
    return body


def test_defaults_and_show(client: TestClient) -> None:
    defaults = client.get(f"{API}/quotas/defaults").json()["quota"]
    assert set(defaults) == QUOTA_KEYS | {"project_id", "tenant_id"}
    assert {defaults[k] for k in QUOTA_KEYS} == {-1}
    shown = client.get(f"{API}/quotas/{PROJECT}").json()["quota"]
    assert {k: shown[k] for k in QUOTA_KEYS} == {k: defaults[k] for k in QUOTA_KEYS}


def test_put_then_enforced_for_each_resource(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    body = set_quota(client, loadbalancer=1, listener=1, pool=1, member=1, healthmonitor=1)
    assert (body["loadbalancer"], body["load_balancer"], body["healthmonitor"],
            body["health_monitor"], body["l7policy"]) == (1, 1, 1, 1, -1)
    shown = client.get(f"{API}/quotas/{PROJECT}").json()["quota"]
    assert shown["listener"] == 1

    subnet = vip_subnet(client, "10.1.0.0/24")
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
    assert fault(resp, 403) == "Quota has been met for resources: Load Balancer"
    resp = client.post(LISTENER_URL, json={"listener": {
        "protocol": "TCP", "protocol_port": 81, "loadbalancer_id": ids["lb"]}})
    assert fault(resp, 403) == "Quota has been met for resources: Listener"
    resp = client.post(POOL_URL, json={"pool": {
        "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": ids["lb"]}})
    assert fault(resp, 403) == "Quota has been met for resources: Pool"
    resp = client.post(members_url(ids["pool"]), json={"member": {
        "address": "10.0.0.99", "protocol_port": 80}})
    assert fault(resp, 403) == "Quota has been met for resources: Member"
    resp = client.put(members_url(ids["pool"]), params={"additive_only": "true"},
                      json={"members": [{"address": "10.0.0.99", "protocol_port": 80}]})
    assert fault(resp, 403) == "Quota has been met for resources: Member"
    # Nothing was created and nothing was locked.
    assert len(client.get(LB_URL).json()["loadbalancers"]) == 1
    assert len(client.get(LISTENER_URL).json()["listeners"]) == 1
    assert len(client.get(members_url(ids["pool"])).json()["members"]) == 1
    assert client.get(f"{LB_URL}/{ids['lb']}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"

    # The HM quota (1) is used by the tree's HM: a second pool cannot get one.
    set_quota(client, pool=2)
    other_pool = create_pool(client, loadbalancer_id=ids["lb"], protocol="TCP")
    worker.drain()
    resp = client.post(HM_URL, json={"healthmonitor": {
        "pool_id": other_pool["id"], "type": "TCP", "delay": 1, "timeout": 1,
        "max_retries": 1}})
    assert fault(resp, 403) == "Quota has been met for resources: Health Monitor"

    # A single-call create counts its children too.
    set_quota(client, loadbalancer=5)
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet["id"],
        "listeners": [{"protocol": "HTTP", "protocol_port": 80}]}})
    assert fault(resp, 403) == "Quota has been met for resources: Listener"

    # DELETE resets to the defaults; creation works again.
    assert client.delete(f"{API}/quotas/{PROJECT}").status_code == 202
    assert client.get(f"{API}/quotas/{PROJECT}").json()["quota"]["listener"] == -1
    create_listener(client, ids["lb"], protocol_port=81)
    worker.drain()
    create_member(client, ids["pool"], address="10.0.0.99")
    worker.drain()
    create_hm(client, other_pool["id"], type="TCP")


def test_quota_is_per_project(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    set_quota(client, loadbalancer=0)
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
    fault(resp, 403)
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "project_id": OTHER_PROJECT}})
    assert resp.status_code == 201, resp.text


def test_list_and_aliases(client: TestClient) -> None:
    set_quota(client, load_balancer=3, health_monitor=4)
    quotas = client.get(f"{API}/quotas").json()["quotas"]
    assert [(q["project_id"], q["loadbalancer"], q["healthmonitor"]) for q in quotas] == \
        [(PROJECT, 3, 4)]
    fault(client.put(f"{API}/quotas/{PROJECT}", json={"quota": {"pool": -2}}), 400)
    fault(client.put(f"{API}/quotas/{PROJECT}", json={"quota": {"widgets": 1}}), 400)
