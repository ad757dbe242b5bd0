"""Floating IPs through the real app (noauth: the caller is an admin) and the reconciler
with the noop router driver: Neutron's wire shape, filters, association rules and errors,
the implicit router's gateway port, statuses, and the reconciler's convergence and cleanup.
Project isolation and policy are in test_floating_ip_policy.py (keystone mode)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from octavia_helpers import LB_URL, active_lb
from starlette.testclient import TestClient
from test_networking import API, PROJECT, error, make_network, make_port
from test_networking import make_subnet as subnet

from nslb.db import floating as repo
from nslb.db.engine import Database
from nslb.floating.reconciler import FloatingReconciler
from nslb.floating.routers import NoopRouters
from nslb.model.resources import FloatingIP, FloatingRouter, Port
from nslb.worker.loop import Worker

FIP_KEYS = {"id", "tenant_id", "project_id", "floating_ip_address", "floating_network_id",
            "router_id", "port_id", "fixed_ip_address", "status", "description", "tags",
            "created_at", "updated_at", "revision_number"}


def external(client: TestClient, physnet: str = "physnet2", cidr: str = "203.0.113.0/24",
             **subnet_attrs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    net = make_network(client, name="public", **{"router:external": True,
                                                 "provider:network_type": "flat",
                                                 "provider:physical_network": physnet})
    sub = subnet(client, net["id"], cidr, allocation_pools=[
        {"start": cidr.replace("0/24", "10"), "end": cidr.replace("0/24", "12")}],
        **subnet_attrs)
    return net, sub


def internal(client: TestClient, cidr: str = "10.0.0.0/24",
             **attrs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    net = make_network(client, name="private")
    return net, subnet(client, net["id"], cidr, **attrs)


def fip(client: TestClient, status: int = 201, **attrs: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/floatingips", json={"floatingip": attrs})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body["floatingip"] if status == 201 else error(body)


def put(client: TestClient, fip_id: str, status: int = 200, **attrs: Any) -> dict[str, Any]:
    resp = client.put(f"{API}/floatingips/{fip_id}", json={"floatingip": attrs})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body["floatingip"] if status == 200 else error(body)


def show(client: TestClient, fip_id: str) -> dict[str, Any]:
    resp = client.get(f"{API}/floatingips/{fip_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()["floatingip"]
    return body


def listed(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    resp = client.get(f"{API}/floatingips", params=params)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["floatingips"]
    return items


@pytest.fixture
def routers() -> NoopRouters:
    return NoopRouters()


@pytest.fixture
def reconciler(db: Database, routers: NoopRouters) -> Iterator[FloatingReconciler]:
    rec = FloatingReconciler(db, routers, resync_interval=3600)
    yield rec
    rec.stop()


def test_external_networks_are_flagged_and_filtered(client: TestClient) -> None:
    net, _ = external(client)
    plain = make_network(client, name="plain")
    assert net["router:external"] is True and plain["router:external"] is False
    names = {n["name"] for n in client.get(f"{API}/networks",
                                           params={"router:external": "True"}).json()["networks"]}
    assert names == {"public"}
    names = {n["name"] for n in client.get(f"{API}/networks",
                                           params={"router:external": "false"}).json()["networks"]}
    assert names == {"plain"}
    resp = client.get(f"{API}/networks", params={"router:external": "maybe"})
    assert resp.status_code == 400
    resp = client.put(f"{API}/networks/{plain['id']}", json={"network": {"router:external": True}})
    assert resp.json()["network"]["router:external"] is True


def test_create_allocates_from_the_external_subnet(client: TestClient, db: Database) -> None:
    net, sub = external(client)
    first = fip(client, floating_network_id=net["id"], description="web")
    assert set(first) == FIP_KEYS
    assert first["floating_ip_address"] == "203.0.113.10"
    assert first["status"] == "DOWN" and first["port_id"] is None
    assert first["router_id"] is None and first["fixed_ip_address"] is None
    assert first["project_id"] == first["tenant_id"] == PROJECT
    assert first["description"] == "web"
    with db.read() as session:
        held = session.get(FloatingIP, first["id"])
        assert held is not None
        port = session.get(Port, held.floating_port_id)
        assert port is not None and port.device_owner == "network:floatingip"
        assert port.device_id == first["id"] and port.project_id == ""
        assert port.fixed_ips == [{"subnet_id": sub["id"], "ip_address": "203.0.113.10"}]
    chosen = fip(client, floating_network_id=net["id"], floating_ip_address="203.0.113.12")
    assert chosen["floating_ip_address"] == "203.0.113.12"
    taken = fip(client, 409, floating_network_id=net["id"], floating_ip_address="203.0.113.12")
    assert taken["type"] == "IpAddressInUse"
    assert fip(client, floating_network_id=net["id"])["floating_ip_address"] == "203.0.113.11"
    exhausted = fip(client, 409, floating_network_id=net["id"])
    assert exhausted["type"] == "IpAddressGenerationFailure"


EXT = "the external network"


@pytest.mark.parametrize(("attrs", "status", "kind", "words"), [
    ({}, 400, "BadRequest", "floating_network_id"),
    ({"floating_network_id": "nope"}, 404, "NetworkNotFound", "Network nope could not be found"),
    ({"floating_network_id": EXT, "bogus": 1}, 400, "BadRequest",
     "Unrecognized attribute(s) 'bogus'"),
    ({"floating_network_id": EXT, "floating_ip_address": "x" * 64}, 400, "BadRequest",
     "not a valid IP address"),
    ({"floating_network_id": EXT, "floating_ip_address": "203.0.113.10%eth0"}, 400,
     "BadRequest", "not a valid IP address"),
    ({"floating_network_id": EXT, "floating_ip_address": "198.51.100.7"}, 400, "BadRequest",
     "not a valid IP for any"),
    ({"floating_network_id": EXT, "fixed_ip_address": "10.0.0.5"}, 400, "BadRequest",
     "without a port_id"),
    ({"floating_network_id": EXT, "floating_ip_address": "203.0.113.1"}, 400, "BadRequest",
     "is the gateway of subnet"),
])
def test_bad_creates(client: TestClient, attrs: dict[str, Any], status: int, kind: str,
                     words: str) -> None:
    net, _ = external(client)
    body = {k: net["id"] if v == EXT else v for k, v in attrs.items()}
    fault = fip(client, status, **body)
    assert fault["type"] == kind and words in fault["message"]


def test_an_internal_network_is_not_a_floating_network(client: TestClient) -> None:
    net, _ = internal(client)
    fault = fip(client, 400, floating_network_id=net["id"])
    assert "is not a valid external network" in fault["message"]


def test_associate_disassociate_and_router_lifecycle(client: TestClient, db: Database,
                                                     reconciler: FloatingReconciler,
                                                     routers: NoopRouters) -> None:
    ext, _ = external(client)
    net, sub = internal(client)
    target = make_port(client, net["id"], name="vip")
    address = target["fixed_ips"][0]["ip_address"]
    made = fip(client, floating_network_id=ext["id"], port_id=target["id"])
    assert made["port_id"] == target["id"] and made["fixed_ip_address"] == address
    assert made["status"] == "DOWN" and made["router_id"] is not None
    with db.read() as session:
        router = session.get(FloatingRouter, made["router_id"])
        assert router is not None and router.subnet_id == sub["id"]
        gateway = session.get(Port, router.port_id)
        assert gateway is not None and gateway.device_owner == "network:router_interface"
        assert gateway.fixed_ips[0]["ip_address"] == sub["gateway_ip"]

    done = reconciler.run_once()
    assert done.applied == [made["router_id"]]
    spec = routers.applied[made["router_id"]]
    assert [(r.floating, r.fixed) for r in spec.rules] == [(made["floating_ip_address"],
                                                             address)]
    assert spec.external.addresses == (f"{made['floating_ip_address']}/24",)
    assert spec.internal.addresses == (f"{sub['gateway_ip']}/24",)
    assert spec.external.physical_network == "physnet2"
    assert show(client, made["id"])["status"] == "ACTIVE"
    assert reconciler.run_once().applied == []  # converged: nothing to do

    found = listed(client, port_id=target["id"], fixed_ip_address=address)
    assert found == [show(client, made["id"])]
    assert listed(client, port_id=target["id"], fixed_ip_address="10.0.0.99") == []
    assert [f["id"] for f in listed(client, status="ACTIVE")] == [made["id"]]
    assert [f["id"] for f in listed(client, router_id=made["router_id"])] == [made["id"]]
    assert [f["id"] for f in listed(client, floating_network_id=ext["id"])] == [made["id"]]
    assert listed(client, floating_ip_address=made["floating_ip_address"])[0]["id"] == made["id"]

    gone = put(client, made["id"], port_id=None, fixed_ip_address=None)
    assert (gone["port_id"], gone["fixed_ip_address"], gone["router_id"], gone["status"]) == (
        None, None, None, "DOWN")
    done = reconciler.run_once()
    assert done.deleted == [made["router_id"]] and done.dropped == [made["router_id"]]
    assert routers.applied == {}
    with db.read() as session:
        assert session.get(FloatingRouter, made["router_id"]) is None
        assert session.get(Port, router.port_id) is None  # the gateway address is free again
    assert show(client, made["id"])["status"] == "DOWN"


def test_association_errors(client: TestClient) -> None:
    ext, _ = external(client)
    other_ext, _ = external(client, physnet="physnet1", cidr="198.51.100.0/24")
    net, _ = internal(client)
    nogw_net, nogw = internal(client, cidr="10.9.0.0/24", gateway_ip=None)
    target = make_port(client, net["id"])
    first = fip(client, floating_network_id=ext["id"], port_id=target["id"])
    second = fip(client, floating_network_id=ext["id"])

    fault = put(client, second["id"], 409, port_id=target["id"])
    assert fault["type"] == "FloatingIPPortAlreadyAssociated"
    fault = put(client, second["id"], 404, port_id="nope")
    assert fault["type"] == "PortNotFound"
    fault = put(client, second["id"], 400, port_id=target["id"], fixed_ip_address="10.0.0.250")
    assert "does not have fixed ip 10.0.0.250" in fault["message"]
    fault = put(client, second["id"], 400, fixed_ip_address="10.0.0.250")
    assert "without a port_id" in fault["message"]
    fault = put(client, second["id"], 400, floating_network_id=other_ext["id"])
    assert "read-only" in fault["message"]
    # a subnet without a gateway has no router to NAT through
    fault = put(client, second["id"], 404, port_id=make_port(client, nogw_net["id"])["id"])
    assert fault["type"] == "ExternalGatewayForFloatingIPNotFound"
    assert nogw["id"] in fault["message"]
    # the subnet's router keeps its gateway on the first external network
    other = fip(client, floating_network_id=other_ext["id"])
    fault = put(client, other["id"], 404, port_id=make_port(client, net["id"])["id"])
    assert fault["type"] == "ExternalGatewayForFloatingIPNotFound"
    # a floating IP's own port, or another network device, is not a target
    with_owner = make_port(client, net["id"], device_owner="network:dhcp")
    fault = put(client, second["id"], 400, port_id=with_owner["id"])
    assert "network device" in fault["message"]
    assert put(client, first["id"], description="kept")["port_id"] == target["id"]


def test_the_gateway_address_held_by_a_port_is_a_conflict(client: TestClient) -> None:
    ext, _ = external(client)
    net, sub = internal(client)
    make_port(client, net["id"], fixed_ips=[{"ip_address": sub["gateway_ip"]}])
    fault = fip(client, 409, floating_network_id=ext["id"],
                port_id=make_port(client, net["id"])["id"])
    assert fault["type"] == "IpAddressInUse" and sub["gateway_ip"] in fault["message"]


def test_delete_releases_the_address_and_network_deletes_are_guarded(client: TestClient,
                                                                    db: Database) -> None:
    ext, sub = external(client)
    made = fip(client, floating_network_id=ext["id"])
    resp = client.delete(f"{API}/networks/{ext['id']}")
    assert resp.status_code == 409 and error(resp.json())["type"] == "NetworkInUse"
    resp = client.put(f"{API}/networks/{ext['id']}", json={"network": {"router:external": False}})
    assert resp.status_code == 409 and error(resp.json())["type"] == "ExternalNetworkInUse"
    assert client.delete(f"{API}/floatingips/{made['id']}").status_code == 204
    resp = client.get(f"{API}/floatingips/{made['id']}")
    assert resp.status_code == 404 and error(resp.json())["type"] == "FloatingIPNotFound"
    assert fip(client, floating_network_id=ext["id"])["floating_ip_address"] == "203.0.113.10"
    assert client.delete(f"{API}/floatingips/{made['id']}").status_code == 404


def test_a_deleted_port_disassociates_its_floating_ip(client: TestClient, db: Database,
                                                      reconciler: FloatingReconciler,
                                                      routers: NoopRouters) -> None:
    ext, _ = external(client)
    net, _ = internal(client)
    target = make_port(client, net["id"])
    made = fip(client, floating_network_id=ext["id"], port_id=target["id"])
    reconciler.run_once()
    assert client.delete(f"{API}/ports/{target['id']}").status_code == 204
    # disassociated in the port's own transaction, as Neutron does
    assert show(client, made["id"])["port_id"] is None
    done = reconciler.run_once()
    assert done.deleted == [made["router_id"]]
    after = show(client, made["id"])
    assert (after["port_id"], after["status"]) == (None, "DOWN")
    assert routers.applied == {}


def test_floating_ip_and_router_ports_cannot_be_deleted_alone(
        client: TestClient, db: Database, reconciler: FloatingReconciler) -> None:
    ext, _ = external(client)
    net, _ = internal(client, gateway_ip="10.0.0.1")
    target = make_port(client, net["id"])
    made = fip(client, floating_network_id=ext["id"], port_id=target["id"])
    reconciler.run_once()
    with db.read() as session:
        owned = [(p.id, p.device_owner) for p in session.query(Port)
                 if p.device_owner in ("network:floatingip", "network:router_interface")]
    assert {owner for _, owner in owned} == {"network:floatingip", "network:router_interface"}
    for port_id, owner in owned:
        resp = client.delete(f"{API}/ports/{port_id}")
        assert resp.status_code == 409, resp.text
        assert owner in error(resp.json())["message"]
    assert show(client, made["id"])["port_id"] == target["id"]


def test_disassociate_port_helper_for_lb_deletion(client: TestClient, db: Database) -> None:
    """db.floating.disassociate_port: what the LB deletion calls for the VIP port."""
    ext, _ = external(client)
    net, _ = internal(client)
    target = make_port(client, net["id"])
    made = fip(client, floating_network_id=ext["id"], port_id=target["id"])
    with db.write() as session:
        assert repo.disassociate_port(session, target["id"]) == 1
    assert show(client, made["id"])["port_id"] is None


def test_a_router_that_cannot_be_built_shows_error_then_recovers(
        client: TestClient, db: Database, reconciler: FloatingReconciler,
        routers: NoopRouters) -> None:
    ext, _ = external(client)
    net, _ = internal(client)
    made = fip(client, floating_network_id=ext["id"],
               port_id=make_port(client, net["id"])["id"])
    with db.write() as session:  # a row written by hand (or an older version)
        row = session.get(FloatingIP, made["id"])
        assert row is not None
        row.fixed_ip_address = "10.0.0.5%x"
    with db.write() as session:  # keep it an orphan-free association for the test
        row = session.get(FloatingIP, made["id"])
        assert row is not None
        port = session.get(Port, row.fixed_port_id)
        assert port is not None
        port.fixed_ips = [{**port.fixed_ips[0], "ip_address": "10.0.0.5%x"}]
    done = reconciler.run_once()
    assert made["router_id"] in done.failed and routers.applied == {}
    assert show(client, made["id"])["status"] == "ERROR"
    with db.write() as session:
        row = session.get(FloatingIP, made["id"])
        port = session.get(Port, row.fixed_port_id) if row else None
        assert row is not None and port is not None
        row.fixed_ip_address = "10.0.0.5"
        port.fixed_ips = [{**port.fixed_ips[0], "ip_address": "10.0.0.5"}]
    assert reconciler.run_once().applied == [made["router_id"]]
    assert show(client, made["id"])["status"] == "ACTIVE"


def test_orphaned_routers_on_the_host_are_removed(client: TestClient, db: Database,
                                                  reconciler: FloatingReconciler,
                                                  routers: NoopRouters) -> None:
    """A router left on the host with no row asking for it (a crash between deleting the
    rows and deleting the namespace) goes in the next round."""
    ext, _ = external(client)
    net, _ = internal(client)
    made = fip(client, floating_network_id=ext["id"],
               port_id=make_port(client, net["id"])["id"])
    reconciler.run_once()
    stale = routers.applied[made["router_id"]]
    routers.applied["0b0b0b0b-0000-4000-8000-000000000000"] = stale
    assert reconciler.run_once().deleted == ["0b0b0b0b-0000-4000-8000-000000000000"]
    assert set(routers.applied) == {made["router_id"]}


def test_an_lb_deletion_disassociates_its_floating_ip_at_once(client: TestClient,
                                                              worker: Worker) -> None:
    ext, _ = external(client)
    lb = active_lb(client, worker)
    made = fip(client, floating_network_id=ext["id"], port_id=lb["vip_port_id"])
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    worker.drain()
    assert client.get(f"{LB_URL}/{lb['id']}").status_code == 404
    assert show(client, made["id"])["port_id"] is None  # no reconciler round needed


def test_an_idle_reconciler_reads_orphans_again_only_after_a_write(
        client: TestClient, db: Database, reconciler: FloatingReconciler,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs every second: on a host of 1,000 LBs its query cost ~3 % of a core
    while nothing had changed (db/unchanged.py)."""
    from nslb.floating import reconciler as module

    reads: list[int] = []
    real = module.repo.orphans
    monkeypatch.setattr(module.repo, "orphans", lambda session: reads.append(1) or real(session))
    reconciler.run_once(full=True)
    reads.clear()
    for _ in range(3):
        assert reconciler._due() is False
    assert len(reads) == 1
    ext, _ = external(client)  # a write
    assert reconciler._due() is False
    assert len(reads) == 2
