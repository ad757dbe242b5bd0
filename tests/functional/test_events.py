"""Notifications in the control plane (noop driver, no broker): every change through the API
leaves Octavia's `octavia.<kind>.<action>.end` in the outbox, in the transaction that
settles it, in order per LB and in oslo.messaging's envelope; a failed change, a failover
and operating-status changes leave nslb's own events."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    API,
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_tree,
    create_hm,
    create_lb,
    create_listener,
    create_member,
    create_pool,
    members_url,
    vip_subnet,
)
from sqlalchemy import select
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.db.engine import Database
from nslb.db.tables import event_outbox
from nslb.events import envelope
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

L7_URL = f"{API}/l7policies"


def events(db: Database, lb_id: str | None = None) -> list[dict[str, Any]]:
    """The outbox's events (of one LB), in seq order, as consumers read them."""
    stmt = select(event_outbox).order_by(event_outbox.c.seq)
    if lb_id is not None:
        stmt = stmt.where(event_outbox.c.loadbalancer_id == lb_id)
    with db.read() as session:
        return [envelope.deserialize(row.body) for row in session.execute(stmt)]


def types(db: Database, lb_id: str, prefix: str = "") -> list[str]:
    return [e["event_type"] for e in events(db, lb_id) if e["event_type"].startswith(prefix)]


def change(client: TestClient, worker: Worker, method: str, url: str,
           body: dict[str, Any] | None = None) -> Any:
    resp = client.request(method, url, json=body)
    assert resp.status_code in (200, 201, 202, 204), resp.text
    worker.drain()
    return resp.json() if resp.content else None


def test_every_api_change_is_told_once_with_octavias_name_in_the_order_it_happened(
        client: TestClient, worker: Worker, db: Database) -> None:
    subnet = vip_subnet(client)
    lb = create_lb(client, subnet["id"], name="web")
    assert types(db, lb["id"]) == []  # nothing before the change is applied
    worker.drain()
    lb_id = lb["id"]
    change(client, worker, "PUT", f"{LB_URL}/{lb_id}", {"loadbalancer": {"name": "web2"}})
    li = create_listener(client, lb_id)
    worker.drain()
    change(client, worker, "PUT", f"{LISTENER_URL}/{li['id']}",
           {"listener": {"connection_limit": 100}})
    pool = create_pool(client, listener_id=li["id"])
    worker.drain()
    change(client, worker, "PUT", f"{POOL_URL}/{pool['id']}", {"pool": {"name": "p2"}})
    member = create_member(client, pool["id"])
    worker.drain()
    change(client, worker, "PUT", f"{members_url(pool['id'])}/{member['id']}",
           {"member": {"weight": 5}})
    hm = create_hm(client, pool["id"])
    worker.drain()
    change(client, worker, "PUT", f"{HM_URL}/{hm['id']}", {"healthmonitor": {"delay": 7}})
    policy = change(client, worker, "POST", L7_URL, {"l7policy": {
        "listener_id": li["id"], "action": "REJECT"}})["l7policy"]
    change(client, worker, "PUT", f"{L7_URL}/{policy['id']}", {"l7policy": {"position": 1}})
    rule = change(client, worker, "POST", f"{L7_URL}/{policy['id']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}})["rule"]
    change(client, worker, "PUT", f"{L7_URL}/{policy['id']}/rules/{rule['id']}",
           {"rule": {"value": "/y"}})
    change(client, worker, "DELETE", f"{L7_URL}/{policy['id']}/rules/{rule['id']}")
    change(client, worker, "DELETE", f"{L7_URL}/{policy['id']}")
    change(client, worker, "DELETE", f"{HM_URL}/{hm['id']}")
    change(client, worker, "DELETE", f"{members_url(pool['id'])}/{member['id']}")
    change(client, worker, "DELETE", f"{POOL_URL}/{pool['id']}")
    change(client, worker, "DELETE", f"{LISTENER_URL}/{li['id']}")
    change(client, worker, "DELETE", f"{LB_URL}/{lb_id}")

    assert types(db, lb_id, "octavia.") == [
        f"octavia.{kind}.{action}.end" for kind, action in [
            ("loadbalancer", "create"), ("loadbalancer", "update"),
            ("listener", "create"), ("listener", "update"), ("pool", "create"),
            ("pool", "update"), ("member", "create"), ("member", "update"),
            ("healthmonitor", "create"), ("healthmonitor", "update"),
            ("l7policy", "create"), ("l7policy", "update"), ("l7rule", "create"),
            ("l7rule", "update"), ("l7rule", "delete"), ("l7policy", "delete"),
            ("healthmonitor", "delete"), ("member", "delete"), ("pool", "delete"),
            ("listener", "delete"), ("loadbalancer", "delete")]]
    told = events(db, lb_id)
    # the amphora is told confirmed serving just before the LB it serves goes ACTIVE
    assert [e["event_type"] for e in told[:2]] == ["nslb.amphora.create.end",
                                                   "octavia.loadbalancer.create.end"]
    created = told[1]
    assert created["publisher_id"].startswith("nslb.") and created["priority"] == "INFO"
    assert created["_context"]["project_id"] == lb["project_id"]
    assert created["_context"]["auth_token"] is None
    assert created["payload"]["loadbalancer_id"] == lb_id
    assert created["payload"]["name"] == "web"
    assert created["payload"]["vip_address"] == lb["vip_address"]
    updated = next(e for e in told if e["event_type"] == "octavia.member.update.end")
    assert updated["payload"]["member_id"] == member["id"]
    assert updated["payload"]["pool_id"] == pool["id"]
    assert updated["payload"]["weight"] == 5
    assert "provisioning_status" not in updated["payload"]
    assert len({e["message_id"] for e in told}) == len(told)


def test_a_tree_create_and_a_cascade_delete_are_told_by_the_lb_alone(
        client: TestClient, worker: Worker, db: Database) -> None:
    subnet = vip_subnet(client)
    lb = create_lb(client, subnet["id"], listeners=[{
        "protocol": "HTTP", "protocol_port": 80,
        "default_pool": {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                         "members": [{"address": "10.0.0.9", "protocol_port": 80}]}}])
    worker.drain()
    change(client, worker, "DELETE", f"{LB_URL}/{lb['id']}?cascade=true")
    assert types(db, lb["id"], "octavia.") == ["octavia.loadbalancer.create.end",
                                              "octavia.loadbalancer.delete.end"]


def test_a_failed_change_is_an_nslb_error_event_with_its_reason_never_octavias_end(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database) -> None:
    ids = active_tree(client, worker, hm_too=False)
    before = types(db, ids["lb"], "octavia.")
    driver.fail_next[ids["lb"]] = "haproxy said no"
    resp = client.put(f"{members_url(ids['pool'])}/{ids['member']}",
                      json={"member": {"weight": 3}})
    assert resp.status_code == 200
    worker.drain()
    assert types(db, ids["lb"], "octavia.") == before
    (failed,) = [e for e in events(db, ids["lb"]) if e["event_type"].endswith(".error")]
    assert failed["event_type"] == "nslb.member.update.error"
    assert failed["priority"] == "ERROR"
    assert failed["payload"]["id"] == ids["member"]
    assert failed["payload"]["provisioning_status"] == "ERROR"
    assert "haproxy said no" in failed["payload"]["reason"]


def test_a_failover_is_told_from_start_to_end_with_the_amphorae_it_replaced(
        client: TestClient, worker: Worker, db: Database) -> None:
    ids = active_tree(client, worker, hm_too=False)
    old = client.get(f"/v2/octavia/amphorae?loadbalancer_id={ids['lb']}").json()["amphorae"]
    assert client.put(f"{LB_URL}/{ids['lb']}/failover").status_code == 202
    worker.drain()
    new = client.get(f"/v2/octavia/amphorae?loadbalancer_id={ids['lb']}").json()["amphorae"]
    told = [e for e in events(db, ids["lb"])
            if "failover" in e["event_type"] or e["event_type"].startswith("nslb.amphora.")]
    assert [e["event_type"] for e in told][-4:] == [
        "nslb.loadbalancer.failover.start", "nslb.amphora.delete.end",
        "nslb.amphora.create.end", "nslb.loadbalancer.failover.end"]
    start = told[-4]["payload"]
    assert start["amphorae"] == [{"id": old[0]["id"], "role": "STANDALONE",
                                  "replacement_id": new[0]["id"]}]
    assert told[-3]["payload"]["id"] == old[0]["id"]
    assert told[-3]["payload"]["status"] == "DELETED"
    assert told[-2]["payload"]["id"] == new[0]["id"]
    # a failover is not an update the user asked for
    assert "octavia.loadbalancer.update.end" not in types(db, ids["lb"])


def test_operating_status_changes_are_told_once_each(
        client: TestClient, worker: Worker, driver: NoopDriver, db: Database,
        health: HealthMonitor) -> None:
    ids = active_tree(client, worker)
    health.run_once()
    first = [e for e in events(db, ids["lb"])
             if e["event_type"].endswith("operating_status.change")]
    by_id = {e["payload"]["id"]: e for e in first}
    assert by_id[ids["member"]]["event_type"] == "nslb.member.operating_status.change"
    assert by_id[ids["member"]]["payload"]["operating_status"] == "ONLINE"
    assert by_id[ids["lb"]]["payload"]["previous_operating_status"] == "OFFLINE"
    health.run_once()  # nothing moved: nothing told
    again = [e for e in events(db, ids["lb"])
             if e["event_type"].endswith("operating_status.change")]
    assert len(again) == len(first)
    driver.forget(ids["lb"])  # the data plane vanished: everything goes down
    health.run_once()
    down = [e for e in events(db, ids["lb"])
            if e["event_type"].endswith("operating_status.change")][len(first):]
    lb_down = [e for e in down if e["payload"]["id"] == ids["lb"]]
    assert lb_down and lb_down[0]["payload"]["operating_status"] == "ERROR"
    assert lb_down[0]["priority"] == "WARN"
