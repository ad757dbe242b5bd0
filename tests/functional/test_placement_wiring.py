"""The scheduler wired to the database (nslb/amphora/placement.py, the remote driver's
placement): hosts from the `host` table, zones and metadata from the aggregates, the
LB's availability zone (profile `compute_zone`) and compute flavor (flavor profile
`compute_flavor`), pair anti-affinity, failover's ignored host, and an impossible
placement refused with the scheduler's explanation (ConfigRejected, no retry)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from octavia_helpers import API, LB_URL, create_lb, vip_subnet
from sqlalchemy import delete as sa_delete
from starlette.testclient import TestClient

from nslb.amphora import placement
from nslb.amphora.base import ConfigRejected
from nslb.amphora.remote import RemoteDriver
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import compute_flavor
from nslb.model.resources import utcnow
from nslb.placement.scheduler import NoValidHost, Scheduler
from nslb.worker.loop import Worker

V = "/compute/v2.1"
AMPHORAE_URL = "/v2/octavia/amphorae"


def add_host(db: Database, name: str) -> str:
    with db.write() as session:
        return hosts.add_host(session, hosts.Joining(name, "127.0.0.1", 9443, 10, 4, 4096),
                              f"serial-{name}", utcnow() + timedelta(days=1))


def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body


def aggregate(client: TestClient, name: str, zone: str, members: list[str],
              **meta: str) -> None:
    agg = ok(client.post(f"{V}/os-aggregates", json={"aggregate": {
        "name": name, "availability_zone": zone}}))["aggregate"]
    url = f"{V}/os-aggregates/{agg['id']}/action"
    if meta:
        ok(client.post(url, json={"set_metadata": {"metadata": meta}}))
    for host in members:
        ok(client.post(url, json={"add_host": {"host": host}}))


@pytest.fixture
def cloud(client: TestClient, db: Database) -> dict[str, str]:
    """Zone az-a: pl-a1 and pl-a2 with ssd, pl-a3 without; zone az-b: pl-b1 with ssd. A
    compute flavor `gold` needs ssd; an ACTIVE_STANDBY Octavia flavor uses it; Octavia
    zones `zone-a` and `zone-b` map to the compute zones."""
    ids = {name: add_host(db, name) for name in ("pl-a1", "pl-a2", "pl-a3", "pl-b1")}
    aggregate(client, "ssd-a", "az-a", ["pl-a1", "pl-a2"], ssd="true")
    aggregate(client, "plain-a", "az-a", ["pl-a3"])
    aggregate(client, "ssd-b", "az-b", ["pl-b1"], ssd="true")
    ok(client.post(f"{V}/flavors", json={"flavor": {
        "name": "amp.gold", "id": "gold", "ram": 256, "vcpus": 1, "disk": 0}}))
    ok(client.post(f"{V}/flavors/gold/os-extra_specs", json={"extra_specs": {
        "aggregate_instance_extra_specs:ssd": "true"}}))
    fp = ok(client.post(f"{API}/flavorprofiles", json={"flavorprofile": {
        "name": "gold-pair", "provider_name": "amphora", "flavor_data": json.dumps({
            "loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "gold"})}}), 201)
    ids["flavor"] = ok(client.post(f"{API}/flavors", json={"flavor": {
        "name": "gold", "flavor_profile_id": fp["flavorprofile"]["id"]}}), 201)["flavor"]["id"]
    for zone in ("a", "b"):
        azp = ok(client.post(f"{API}/availabilityzoneprofiles", json={
            "availability_zone_profile": {"name": f"p-{zone}", "provider_name": "amphora",
                                          "availability_zone_data": json.dumps(
                                              {"compute_zone": f"az-{zone}"})}}), 201)
        ok(client.post(f"{API}/availabilityzones", json={"availability_zone": {
            "name": f"zone-{zone}", "availability_zone_profile_id":
                azp["availability_zone_profile"]["id"]}}), 201)
    return ids


def amphorae_of(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(AMPHORAE_URL, params={
        "loadbalancer_id": lb_id}))["amphorae"]
    return sorted(found, key=lambda a: a["role"])


def test_pair_lands_on_the_ssd_hosts_of_its_zone(client: TestClient, db: Database,
                                                 worker: Worker,
                                                 cloud: dict[str, str]) -> None:
    subnet = vip_subnet(client, "10.239.1.0/24")
    lb = create_lb(client, subnet["id"], flavor_id=cloud["flavor"], availability_zone="zone-a")
    with db.write() as session:
        placed = placement.place(session, lb["id"], Scheduler())
    assert sorted(p.host_id for p in placed) == sorted([cloud["pl-a1"], cloud["pl-a2"]])
    amps = amphorae_of(client, lb["id"])
    assert {a["compute_id"] for a in amps} == {cloud["pl-a1"], cloud["pl-a2"]}
    assert [(a["cached_zone"], a["compute_flavor"]) for a in amps] == [("az-a", "gold")] * 2
    names = {cloud[n]: n for n in ("pl-a1", "pl-a2")}
    on = {a["role"]: names[a["compute_id"]] for a in amps}
    assert on == {"MASTER": "pl-a1", "BACKUP": "pl-a2"}  # the master first, ties by name
    # a second placement changes nothing: every amphora has its host
    with db.write() as session:
        assert placement.place(session, lb["id"], Scheduler()) == []
    # failover of the MASTER: no other ssd host in the zone (pl-a2 holds the BACKUP,
    # pl-a3 has no ssd, pl-b1 is in zone b), so the replacement goes back to pl-a1:
    # leaving the replaced host is a preference, not a refusal
    worker.drain()
    master = next(a for a in amps if a["role"] == "MASTER")
    assert client.put(f"{AMPHORAE_URL}/{master['id']}/failover").status_code == 202
    with db.write() as session:
        [back] = placement.place(session, lb["id"], Scheduler())
    assert back.host_id == cloud["pl-a1"]
    worker.drain()
    # with a new ssd host in the zone, the next failover of the MASTER leaves pl-a1
    add_host(db, "pl-a4")
    aggs = ok(client.get(f"{V}/os-aggregates"))["aggregates"]
    ssd_a = next(a for a in aggs if a["name"] == "ssd-a")
    ok(client.post(f"{V}/os-aggregates/{ssd_a['id']}/action",
                   json={"add_host": {"host": "pl-a4"}}))
    master = next(a for a in amphorae_of(client, lb["id"]) if a["role"] == "MASTER")
    assert master["compute_id"] == cloud["pl-a1"]
    assert client.put(f"{AMPHORAE_URL}/{master['id']}/failover").status_code == 202
    with db.write() as session:
        [moved] = placement.place(session, lb["id"], Scheduler())
    assert (moved.zone, moved.compute_flavor) == ("az-a", "gold")
    with db.read() as session:
        assert hosts.get(session, moved.host_id).name == "pl-a4"  # type: ignore[union-attr]


def test_a_failover_with_nowhere_to_go_tells_every_filter(client: TestClient, db: Database,
                                                          worker: Worker,
                                                          cloud: dict[str, str]) -> None:
    """pl-a2 down: the MASTER's replacement has no host, even back on its own; the
    refusal names what stopped each host with the replaced host left."""
    subnet = vip_subnet(client, "10.239.4.0/24")
    lb = create_lb(client, subnet["id"], flavor_id=cloud["flavor"], availability_zone="zone-a")
    with db.write() as session:
        placement.place(session, lb["id"], Scheduler())
    worker.drain()
    amps = amphorae_of(client, lb["id"])
    master = next(a for a in amps if a["role"] == "MASTER")
    backup = next(a for a in amps if a["role"] == "BACKUP")
    assert client.put(f"{AMPHORAE_URL}/{master['id']}/failover").status_code == 202
    with db.write() as session:
        hosts.set_state(session, master["compute_id"], hosts.DOWN)
    with db.write() as session, pytest.raises(NoValidHost) as refused:
        placement.place(session, lb["id"], Scheduler())
    text = str(refused.value)
    names = {cloud[n]: n for n in ("pl-a1", "pl-a2")}
    assert f"HostUp rejected 1 ({names[master['compute_id']]}: host is down or draining)" in text
    assert (f"AntiAffinity rejected 1 ({names[backup['compute_id']]}: holds another amphora "
            "of the load balancer)") in text
    assert "AvailabilityZone rejected 1 (pl-b1: in zone az-b, asked az-a)" in text
    assert "pl-a3: no aggregate of the host sets ssd" in text


def test_an_impossible_pair_is_refused_with_the_reason(client: TestClient, db: Database,
                                                       cloud: dict[str, str]) -> None:
    """Zone b has one ssd host: the second amphora of the pair has nowhere to go. The
    remote driver turns that into ConfigRejected (the worker settles it as ERROR at once,
    its message the reason) and writes no host for either amphora."""
    subnet = vip_subnet(client, "10.239.2.0/24")
    lb = create_lb(client, subnet["id"], flavor_id=cloud["flavor"], availability_zone="zone-b")
    amps = amphorae_of(client, lb["id"])
    driver = RemoteDriver(db, pki=None)  # type: ignore[arg-type]  # placing calls no agent
    with pytest.raises(ConfigRejected) as refused:
        driver._placed(amps[0]["id"], lb["id"])
    text = str(refused.value)
    assert text.startswith("No valid host for amphora ")
    assert "AntiAffinity rejected 1 (pl-b1: holds another amphora of the load balancer)" \
        in text
    assert "AvailabilityZone rejected 3" in text
    assert {a["compute_id"] for a in amphorae_of(client, lb["id"])} == {None}
    shown = ok(client.get(f"{LB_URL}/{lb['id']}"))["loadbalancer"]
    assert shown["availability_zone"] == "zone-b"


def test_a_deleted_compute_flavor_is_refused_not_ignored(client: TestClient, db: Database,
                                                         cloud: dict[str, str]) -> None:
    subnet = vip_subnet(client, "10.239.3.0/24")
    lb = create_lb(client, subnet["id"], flavor_id=cloud["flavor"], availability_zone="zone-a")
    # the API keeps a flavor a profile names (409); a row gone anyway (a database from
    # before that guard, a hand edit) is still refused at placement, not ignored
    assert client.delete(f"{V}/flavors/gold").status_code == 409
    with db.write() as session:
        session.execute(sa_delete(compute_flavor).where(compute_flavor.c.id == "gold"))
    amps = amphorae_of(client, lb["id"])
    with pytest.raises(ConfigRejected) as refused:
        RemoteDriver(db, pki=None)._placed(amps[0]["id"], lb["id"])  # type: ignore[arg-type]
    assert "the compute flavor gold of the load balancer's flavor does not exist" in str(
        refused.value)


def test_a_silent_host_is_down_for_placement_before_its_row_says_so(
        client: TestClient, db: Database, worker: Worker, cloud: dict[str, str]) -> None:
    """The MASTER's host stopped sending heartbeats, and the host watch has not marked it
    DOWN yet: its replacement must not go back there (the remote driver asks its
    heartbeat watch); without heartbeats the row alone decides, as before."""
    subnet = vip_subnet(client, "10.239.5.0/24")
    lb = create_lb(client, subnet["id"], flavor_id=cloud["flavor"], availability_zone="zone-a")
    with db.write() as session:
        placement.place(session, lb["id"], Scheduler())
    worker.drain()
    master = next(a for a in amphorae_of(client, lb["id"]) if a["role"] == "MASTER")
    assert client.put(f"{AMPHORAE_URL}/{master['id']}/failover").status_code == 202
    lost = master["compute_id"]
    driver = RemoteDriver(db, pki=None)  # type: ignore[arg-type]  # placing calls no agent
    driver.heartbeat_states = True
    driver.host_silent = lambda host_id: host_id == lost
    with pytest.raises(ConfigRejected) as refused:
        driver.place(lb["id"])
    name = next(n for n in ("pl-a1", "pl-a2") if cloud[n] == lost)
    assert f"HostUp rejected 1 ({name}: host is down or draining)" in str(refused.value)
    driver.heartbeat_states = False  # the host row (UP) decides: back on its own host
    with db.write() as session:
        (placed,) = placement.place(session, lb["id"], Scheduler())
    assert placed.host_id == lost
