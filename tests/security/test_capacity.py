"""Probe F5: the API accepted 240 (or 1,000) health-checked members that HAProxy could not
hold within its descriptor limit; the reload failed, the pool went to ERROR and 503 followed.
Now what cannot fit is refused up front with a 409 that says why, and nothing changes.
(The data plane side, 1,000 checked members in one pool, is tests/integration.)"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from nslb.lbaas import capacity
from nslb.render.limits import capacity as room_for
from nslb.worker.loop import Worker
from tests.functional.octavia_helpers import (
    LB_URL,
    LISTENER_URL,
    active_tree,
    fault,
    members_url,
    prov,
    statuses,
)

LIMIT = 3100  # a host whose haproxy may open 3,100 files


@pytest.fixture(autouse=True)
def small_host(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(capacity, "fd_limit", lambda: LIMIT)
    return room_for(LIMIT)


def _members(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"address": f"10.0.{(start + i) // 200}.{(start + i) % 200 + 20}",
             "protocol_port": 80} for i in range(n)]


def test_a_batch_that_cannot_fit_is_refused_and_changes_nothing(
        client: TestClient, worker: Worker, small_host: int) -> None:
    ids = active_tree(client, worker)  # one listener, one member so far
    before = client.get(members_url(ids["pool"])).json()["members"]
    too_many = _members(small_host - 1, start=1)  # with the listener and member: room + 1
    message = fault(client.put(members_url(ids["pool"]), json={"members": too_many}), 409)
    assert f"cannot hold more than {small_host} listeners and members" in message
    assert "file descriptor" in message
    assert client.get(members_url(ids["pool"])).json()["members"] == before
    assert set(statuses(client, ids).values()) == {"ACTIVE"}
    # exactly what fits is accepted (the old member is replaced by the list)
    fits = _members(small_host - 1, start=1)
    resp = client.put(members_url(ids["pool"]) + "?additive_only=true",
                      json={"members": fits[:-1]})
    assert resp.status_code == 202, resp.text
    worker.drain()
    assert len(client.get(members_url(ids["pool"])).json()["members"]) == small_host - 1


def test_single_member_and_listener_creates_are_bounded_too(
        client: TestClient, worker: Worker, small_host: int) -> None:
    ids = active_tree(client, worker)
    resp = client.put(members_url(ids["pool"]) + "?additive_only=true",
                      json={"members": _members(small_host - 2, start=1)})
    assert resp.status_code == 202, resp.text
    worker.drain()
    for resp in (client.post(members_url(ids["pool"]), json={"member": {
                     "address": "10.9.9.9", "protocol_port": 80}}),
                 client.post(LISTENER_URL, json={"listener": {
                     "loadbalancer_id": ids["lb"], "protocol": "TCP", "protocol_port": 81}})):
        assert "cannot hold more than" in fault(resp, 409)
    assert prov(client.get(f"{LB_URL}/{ids['lb']}").json()["loadbalancer"]) == "ACTIVE"


def test_a_tree_create_that_cannot_fit_is_refused(client: TestClient, small_host: int) -> None:
    subnet = client.post("/networking/v2.0/networks", json={"network": {"name": "n"}}).json()
    sub = client.post("/networking/v2.0/subnets", json={"subnet": {
        "network_id": subnet["network"]["id"], "cidr": "10.0.0.0/16",
        "ip_version": 4}}).json()["subnet"]
    body = {"loadbalancer": {"vip_subnet_id": sub["id"], "listeners": [{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": _members(small_host)}}]}}
    assert "cannot hold more than" in fault(client.post(LB_URL, json=body), 409)
    assert client.get(LB_URL).json()["loadbalancers"] == []
