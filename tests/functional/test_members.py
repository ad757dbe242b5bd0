"""Members: the cascade of Octavia's _test_lb_and_listener_and_pool_statuses, the pool lock,
duplicates, subnets, and the batch update."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    LISTENER_URL,
    NET,
    POOL_URL,
    active_tree,
    create_member,
    fault,
    immutable,
    lb,
    listener,
    member,
    members_url,
    pool,
    prov,
    statuses,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.loop import Worker

MEMBER_KEYS = {
    "id", "name", "provisioning_status", "operating_status", "admin_state_up", "project_id",
    "tenant_id", "created_at", "updated_at", "tags", "address", "protocol_port", "weight",
    "backup", "subnet_id", "monitor_address", "monitor_port", "vnic_type",
}


def parents(client: TestClient, ids: dict[str, str]) -> list[str]:
    return [prov(lb(client, ids["lb"])), prov(listener(client, ids["listener"])),
            prov(pool(client, ids["pool"]))]


def test_create_update_delete_cascade(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_member(client, ids["pool"], address="10.0.0.60", protocol_port=80,
                            weight=7, backup=True, name="m2")
    assert set(created) == MEMBER_KEYS
    assert prov(created) == "PENDING_CREATE" and created["operating_status"] == "NO_MONITOR"
    assert (created["weight"], created["backup"]) == (7, True)
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    assert parents(client, ids) == ["ACTIVE"] * 3
    assert prov(member(client, ids["pool"], created["id"])) == "ACTIVE"
    assert {m["id"] for m in pool(client, ids["pool"])["members"]} == {ids["member"],
                                                                       created["id"]}

    url = f"{members_url(ids['pool'])}/{created['id']}"
    resp = client.put(url, json={"member": {"weight": 0, "name": None}})
    assert resp.status_code == 200, resp.text
    assert (prov(resp.json()["member"]), resp.json()["member"]["weight"],
            resp.json()["member"]["name"]) == ("PENDING_UPDATE", 0, "")
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    assert parents(client, ids) == ["ACTIVE"] * 3

    assert client.delete(url).status_code == 204
    assert prov(member(client, ids["pool"], created["id"])) == "PENDING_DELETE"
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    fault(client.get(url), 404)
    assert parents(client, ids) == ["ACTIVE"] * 3


def test_defaults_and_operating_status_with_hm(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    created = create_member(client, ids["pool"], address="10.0.0.61")
    assert created["operating_status"] == "OFFLINE"  # a monitored member starts OFFLINE
    assert (created["weight"], created["backup"], created["admin_state_up"]) == (1, False, True)
    assert created["monitor_address"] is None and created["subnet_id"] is None


def test_locks(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    # The pool is PENDING_UPDATE after a member change: Octavia tests the pool first.
    create_member(client, ids["pool"], address="10.0.0.70")
    message = fault(client.post(members_url(ids["pool"]), json={"member": {
        "address": "10.0.0.71", "protocol_port": 80}}), 409)
    assert message == f"Pool {ids['pool']} is immutable and cannot be updated."
    worker.drain()
    # The LB is PENDING_UPDATE (a listener change) while the pool is ACTIVE: the LB message.
    assert client.put(f"{LISTENER_URL}/{ids['listener']}",
                      json={"listener": {"name": "x"}}).status_code == 200
    url = f"{members_url(ids['pool'])}/{ids['member']}"
    immutable(client.post(members_url(ids["pool"]), json={"member": {
        "address": "10.0.0.71", "protocol_port": 80}}), ids["lb"])
    immutable(client.put(url, json={"member": {"weight": 3}}), ids["lb"])
    immutable(client.delete(url), ids["lb"])
    immutable(client.put(members_url(ids["pool"]), json={"members": []}), ids["lb"])
    assert member(client, ids["pool"], ids["member"])["weight"] == 1
    assert prov(member(client, ids["pool"], ids["member"])) == "ACTIVE"
    assert len(client.get(members_url(ids["pool"])).json()["members"]) == 2
    worker.drain()


def test_duplicate_address_port_is_409(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    resp = client.post(members_url(ids["pool"]), json={"member": {"address": "10.0.0.50",
                                                                  "protocol_port": 8080}})
    assert fault(resp, 409) == ("Another member on this pool is already using ip 10.0.0.50 "
                                "on protocol_port 8080")
    assert parents(client, ids) == ["ACTIVE"] * 3
    create_member(client, ids["pool"], address="10.0.0.50", protocol_port=8081)


def test_failed_apply(client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_member(client, ids["pool"], address="10.0.0.80")
    driver.fail_next[ids["lb"]] = "boom"
    worker.drain()
    assert prov(member(client, ids["pool"], created["id"])) == "ERROR"
    assert prov(lb(client, ids["lb"])) == "ACTIVE"


def test_error_member_can_be_updated_and_deleted(client: TestClient, worker: Worker,
                                                 driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    url = f"{members_url(ids['pool'])}/{ids['member']}"
    client.put(url, json={"member": {"weight": 2}})
    driver.fail_next[ids["lb"]] = "boom"
    worker.drain()
    assert prov(member(client, ids["pool"], ids["member"])) == "ERROR"
    # Octavia puts the parents back to ACTIVE on revert; nslb's worker leaves them in
    # ERROR (see the xfail in test_pools.py), so repair them first if needed.
    for kind, url_ in (("listener", f"{LISTENER_URL}/{ids['listener']}"),
                       ("pool", f"{POOL_URL}/{ids['pool']}")):
        if prov(client.get(url_).json()[kind]) == "ERROR":
            client.put(url_, json={kind: {}})
            worker.drain()
    resp = client.put(url, json={"member": {"weight": 3}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert prov(member(client, ids["pool"], ids["member"])) == "ACTIVE"
    assert client.delete(url).status_code == 204
    worker.drain()
    fault(client.get(url), 404)


def test_member_subnet(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    net = client.post(f"{NET}/networks", json={"network": {"name": "backends"}}).json()
    sub = client.post(f"{NET}/subnets", json={"subnet": {
        "network_id": net["network"]["id"], "cidr": "172.16.0.0/24", "ip_version": 4}}).json()
    sub_id = sub["subnet"]["id"]
    message = fault(client.post(members_url(ids["pool"]), json={"member": {
        "address": "10.9.9.9", "protocol_port": 80, "subnet_id": sub_id}}), 400)
    assert message.startswith("Validation failure")
    assert parents(client, ids) == ["ACTIVE"] * 3
    created = create_member(client, ids["pool"], address="172.16.0.10", protocol_port=80,
                            subnet_id=sub_id)
    assert created["subnet_id"] == sub_id
    worker.drain()
    owned = [p for p in client.get(f"{NET}/ports").json()["ports"]
             if p["network_id"] == net["network"]["id"]]
    assert len(owned) == 1  # the LB got a leg on the member subnet


def test_request_sriov_is_501(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    resp = client.post(members_url(ids["pool"]), json={"member": {
        "address": "10.0.0.90", "protocol_port": 80, "request_sriov": True}})
    assert fault(resp, 501).startswith("Provider 'amphora' does not support a requested option")


# --- batch update ----------------------------------------------------------------------------


def by_address(client: TestClient, pool_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(m["address"], m["protocol_port"]): m
            for m in client.get(members_url(pool_id)).json()["members"]}


def test_batch_update_creates_updates_and_deletes(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    keep = create_member(client, ids["pool"], address="10.0.0.51", protocol_port=8080)
    worker.drain()
    resp = client.put(members_url(ids["pool"]), json={"members": [
        {"address": "10.0.0.51", "protocol_port": 8080, "weight": 9},
        {"address": "10.0.0.52", "protocol_port": 8080, "name": "new"},
    ]})
    assert resp.status_code == 202 and resp.content == b""
    now = by_address(client, ids["pool"])
    assert prov(now[("10.0.0.50", 8080)]) == "PENDING_DELETE"
    assert prov(now[("10.0.0.51", 8080)]) == "PENDING_UPDATE"
    assert now[("10.0.0.51", 8080)]["weight"] == 9
    assert now[("10.0.0.51", 8080)]["id"] == keep["id"]
    assert prov(now[("10.0.0.52", 8080)]) == "PENDING_CREATE"
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    now = by_address(client, ids["pool"])
    assert set(now) == {("10.0.0.51", 8080), ("10.0.0.52", 8080)}
    assert {prov(m) for m in now.values()} == {"ACTIVE"}
    assert parents(client, ids) == ["ACTIVE"] * 3


def test_batch_additive_only_keeps_the_others(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    resp = client.put(members_url(ids["pool"]), params={"additive_only": "true"},
                      json={"members": [{"address": "10.0.0.53", "protocol_port": 8080}]})
    assert resp.status_code == 202
    worker.drain()
    assert set(by_address(client, ids["pool"])) == {("10.0.0.50", 8080), ("10.0.0.53", 8080)}
    assert set(statuses(client, ids).values()) == {"ACTIVE"}


def test_batch_empty_list_deletes_all(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    assert client.put(members_url(ids["pool"]), json={"members": []}).status_code == 202
    worker.drain()
    assert by_address(client, ids["pool"]) == {}


def test_batch_errors_change_nothing(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    dup = [{"address": "10.0.0.54", "protocol_port": 80}] * 2
    fault(client.put(members_url(ids["pool"]), json={"members": dup}), 400)
    fault(client.put(members_url(ids["pool"]), json={"members": [{"address": "x",
                                                                  "protocol_port": 80}]}), 400)
    fault(client.put(members_url(ids["pool"]), json={"member": []}), 400)
    assert set(by_address(client, ids["pool"])) == {("10.0.0.50", 8080)}
    assert parents(client, ids) == ["ACTIVE"] * 3
