"""Probe finding F4: one rejected child change took the whole pool out of service while the
LB reported ACTIVE/ONLINE.

The probe's sequence: an LB with listener -> pool (web1, web2) + HTTP monitor; a monitor
update that HAProxy refuses. Before the fix the monitor AND the pool went to ERROR, the
next resync rendered the listener without a backend (503 on every request), the LB still
read ACTIVE/ONLINE, and fixing or deleting the monitor answered 409 "immutable". The
refusal is injected with the noop driver's fail_next (the probe's payload, a `"` in
url_path, is refused by the API now), which makes the data plane refuse that change on
every attempt, like haproxy -c does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.db import snapshots
from nslb.db.engine import Database
from nslb.health.monitor import HealthMonitor
from nslb.model.bundle import Bundle
from nslb.model.resources import LoadBalancer
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.worker.loop import Worker
from tests.functional.octavia_helpers import (
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_lb,
    create_hm,
    create_listener,
    create_member,
    create_pool,
    members_url,
)

pytestmark = pytest.mark.security
REFUSAL = "haproxy rejected the configuration: [ALERT] parsing [haproxy.cfg:31]"


def probe_lb(client: TestClient, worker: Worker) -> dict[str, Any]:
    """LB -> HTTP listener -> pool with web1 and web2 -> HTTP health monitor, all ACTIVE."""
    lb = active_lb(client, worker)
    li = create_listener(client, lb["id"])
    worker.drain()
    pool = create_pool(client, listener_id=li["id"])
    worker.drain()
    web = []
    for address in ("10.0.0.11", "10.0.0.12"):  # the pool is locked until each is applied
        web.append(create_member(client, pool["id"], address=address, protocol_port=80)["id"])
        worker.drain()
    hm = create_hm(client, pool["id"], url_path="/health")
    worker.drain()
    return {"lb": lb["id"], "listener": li["id"], "pool": pool["id"], "hm": hm["id"],
            "members": web}


def show(client: TestClient, url: str, root: str) -> dict[str, Any]:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()[root]
    return body


def provisioning(client: TestClient, ids: dict[str, Any]) -> dict[str, str]:
    out = {"lb": show(client, f"{LB_URL}/{ids['lb']}", "loadbalancer"),
           "listener": show(client, f"{LISTENER_URL}/{ids['listener']}", "listener"),
           "pool": show(client, f"{POOL_URL}/{ids['pool']}", "pool"),
           "hm": show(client, f"{HM_URL}/{ids['hm']}", "healthmonitor")}
    for i, m in enumerate(ids["members"]):
        out[f"web{i + 1}"] = show(client, f"{members_url(ids['pool'])}/{m}", "member")
    return {k: v["provisioning_status"] for k, v in out.items()}


def operating(client: TestClient, ids: dict[str, Any]) -> dict[str, str]:
    tree = client.get(f"{LB_URL}/{ids['lb']}/status").json()["statuses"]["loadbalancer"]
    listener = tree["listeners"][0]
    out = {"lb": tree["operating_status"], "listener": listener["operating_status"]}
    for pool in listener["pools"]:
        out["pool"] = pool["operating_status"]
    return out


def snapshot_from_db(db: Database, lb_id: str) -> LoadBalancerSnapshot:
    with db.read() as session:
        lb = session.get(LoadBalancer, lb_id)
        assert lb is not None
        return snapshots.build(session, lb)


def serves_both(snap: LoadBalancerSnapshot | Bundle, ids: dict[str, Any]) -> bool:
    """The listener still points at the pool and the pool holds web1 and web2 (in a
    snapshot, or in the bundle the data plane serves)."""
    if isinstance(snap, Bundle):
        config = snap.files["haproxy.cfg"]
        return (f"default_backend {ids['pool']}" in config
                and set(snap.manifest.members) == set(ids["members"]))
    (listener,) = snap.listeners
    return (listener.default_pool_id == ids["pool"]
            and {m.id for m in snap.members_of(ids["pool"])} == set(ids["members"]))


def refuse_monitor_update(client: TestClient, worker: Worker, driver: NoopDriver,
                          ids: dict[str, Any]) -> None:
    resp = client.put(f"{HM_URL}/{ids['hm']}",
                      json={"healthmonitor": {"url_path": "/health-v2"}})
    assert resp.status_code == 200, resp.text
    driver.fail_next[ids["lb"]] = REFUSAL
    worker.drain()


def test_a_refused_monitor_update_puts_only_the_monitor_in_error(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database,
        health: HealthMonitor) -> None:
    ids = probe_lb(client, worker)
    refuse_monitor_update(client, worker, driver, ids)

    assert provisioning(client, ids) == {"lb": "ACTIVE", "listener": "ACTIVE",
                                         "pool": "ACTIVE", "hm": "ERROR",
                                         "web1": "ACTIVE", "web2": "ACTIVE"}
    # The data plane kept its last known good config, and what the next resync would
    # render still has the pool with both members (the ERROR monitor included).
    assert serves_both(driver.applied[ids["lb"]], ids)
    snap = snapshot_from_db(db, ids["lb"])
    assert serves_both(snap, ids)
    assert snap.healthmonitor_of(ids["pool"]) is not None

    # A resync once the data plane accepts the config again keeps serving both members.
    del driver.fail_next[ids["lb"]]
    worker.resync(ids["lb"])
    for future in worker.plan_and_submit():
        future.result()
    assert driver.applied[ids["lb"]].generation == snap.generation
    assert serves_both(driver.applied[ids["lb"]], ids)
    health.run_once()
    assert operating(client, ids) == {"lb": "ONLINE", "listener": "ONLINE", "pool": "ONLINE"}


def test_the_monitor_can_be_fixed_and_the_pool_changed_after_a_refusal(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    ids = probe_lb(client, worker)
    refuse_monitor_update(client, worker, driver, ids)

    resp = client.put(f"{HM_URL}/{ids['hm']}", json={"healthmonitor": {"url_path": "/ok"}})
    assert resp.status_code == 200, resp.text  # was 409 "immutable": the pool was stuck
    worker.drain()
    assert set(provisioning(client, ids).values()) == {"ACTIVE"}
    created = create_member(client, ids["pool"], address="10.0.0.13", protocol_port=80)
    worker.drain()
    assert set(driver.applied[ids["lb"]].manifest.members) == {*ids["members"], created["id"]}


def test_the_refused_monitor_can_be_deleted(client: TestClient, worker: Worker,
                                            driver: NoopDriver) -> None:
    ids = probe_lb(client, worker)
    refuse_monitor_update(client, worker, driver, ids)

    assert client.delete(f"{HM_URL}/{ids['hm']}").status_code == 204
    worker.drain()
    assert client.get(f"{HM_URL}/{ids['hm']}").status_code == 404
    served = driver.applied[ids["lb"]]
    assert serves_both(served, ids) and not served.manifest.monitored_members
    assert "httpchk" not in served.files["haproxy.cfg"]


def test_a_refused_member_create_leaves_its_siblings_serving(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    ids = probe_lb(client, worker)
    bad = create_member(client, ids["pool"], address="10.0.0.14", protocol_port=80)
    driver.fail_next[ids["lb"]] = REFUSAL
    worker.drain()
    statuses = provisioning(client, ids)
    assert (statuses["pool"], statuses["listener"], statuses["lb"]) == ("ACTIVE",) * 3
    assert show(client, f"{members_url(ids['pool'])}/{bad['id']}",
                "member")["provisioning_status"] == "ERROR"
    assert serves_both(driver.applied[ids["lb"]], ids)
    assert {m.id for m in snapshot_from_db(db, ids["lb"]).members} == \
        {*ids["members"], bad["id"]}


def test_a_listener_left_without_its_backend_shows_as_an_outage(
        client: TestClient, worker: Worker, driver: NoopDriver,
        health: HealthMonitor) -> None:
    """What the probe saw after the resync: haproxy served the listener with no backend
    (503 on every request) while the LB read ONLINE. Whatever the cause, a pool missing
    from the running data plane must show in the LB's operating status."""
    ids = probe_lb(client, worker)
    health.run_once()
    assert operating(client, ids) == {"lb": "ONLINE", "listener": "ONLINE", "pool": "ONLINE"}

    served = driver.applied[ids["lb"]]
    driver.bundles[served.amphora_id] = dataclasses.replace(
        served, manifest=dataclasses.replace(served.manifest, pools=(), members=(),
                                             monitored_members=()))
    health.run_once()

    assert operating(client, ids) == {"lb": "ERROR", "listener": "ONLINE", "pool": "ERROR"}
