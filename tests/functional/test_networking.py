"""The Neutron-compatible registry through the real app: wire shapes, ML2-like segment
rules, subnet validation, address allocation and in-use protection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.api.context import Context
from nslb.config import Settings
from nslb.db import ports as repo
from nslb.db.engine import Database
from nslb.model.ipam import AddressInUse, NoFreeAddress

API = "/networking/v2.0"
PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"  # the client fixture's X-Project-Id
OTHER_PROJECT = "aa1c8f1e4b5a4c6d9e0f112233445599"

NETWORK_KEYS = {
    "id", "name", "description", "tenant_id", "project_id", "admin_state_up", "status",
    "subnets", "shared", "mtu", "provider:network_type", "provider:physical_network",
    "provider:segmentation_id", "router:external", "port_security_enabled",
    "availability_zones", "tags", "created_at", "updated_at", "revision_number",
}
SUBNET_KEYS = {
    "id", "name", "description", "network_id", "tenant_id", "project_id", "ip_version",
    "cidr", "gateway_ip", "allocation_pools", "host_routes", "dns_nameservers", "enable_dhcp",
    "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "tags", "created_at", "updated_at",
    "revision_number",
}
PORT_KEYS = {
    "id", "name", "description", "network_id", "tenant_id", "project_id", "mac_address",
    "admin_state_up", "status", "fixed_ips", "device_owner", "device_id", "security_groups",
    "allowed_address_pairs", "binding:vnic_type", "tags", "created_at", "updated_at",
    "revision_number",
}


def make_network(client: TestClient, status: int = 201, **attrs: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/networks", json={"network": {"name": "net", **attrs}})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body["network"] if status == 201 else body


def make_subnet(client: TestClient, network_id: str, cidr: str = "10.0.0.0/24",
                status: int = 201, **attrs: Any) -> dict[str, Any]:
    version = 6 if cidr and ":" in cidr else 4
    attrs = {"network_id": network_id, "cidr": cidr, "ip_version": version, **attrs}
    resp = client.post(f"{API}/subnets", json={"subnet": attrs})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body["subnet"] if status == 201 else body


def make_port(client: TestClient, network_id: str, status: int = 201,
              **attrs: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/ports", json={"port": {"network_id": network_id, **attrs}})
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    return body["port"] if status == 201 else body


def error(body: dict[str, Any]) -> dict[str, Any]:
    """The Neutron fault body, asserting its shape on the way."""
    assert set(body) == {"NeutronError"}
    fault: dict[str, Any] = body["NeutronError"]
    assert set(fault) == {"type", "message", "detail"}
    return fault


def db_of(client: TestClient) -> Database:
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    return database


# --- documents ---------------------------------------------------------------------------


def test_version_and_resource_documents(client: TestClient) -> None:
    versions = client.get("/networking/").json()["versions"]
    assert versions[0]["id"] == "v2.0"
    assert versions[0]["links"][0]["href"].endswith("/networking/v2.0/")
    names = {r["collection"] for r in client.get(API).json()["resources"]}
    assert names == {"networks", "subnets", "ports", "floatingips"}
    aliases = {e["alias"] for e in client.get(f"{API}/extensions").json()["extensions"]}
    assert {"provider", "net-mtu"} <= aliases
    assert client.get(f"{API}/extensions/provider").json()["extension"]["alias"] == "provider"
    assert client.get(f"{API}/extensions/dvr").status_code == 404


# --- networks ----------------------------------------------------------------------------


def test_network_wire_shape_and_tenant_vlan_allocation(client: TestClient) -> None:
    first = make_network(client)
    assert set(first) >= NETWORK_KEYS
    assert first["project_id"] == first["tenant_id"] == PROJECT
    assert first["provider:network_type"] == "vlan"
    assert first["provider:physical_network"] == "physnet1"
    assert first["provider:segmentation_id"] == 1
    assert first["mtu"] == 1500 and first["status"] == "ACTIVE" and first["shared"] is False
    assert first["router:external"] is False and first["port_security_enabled"] is True
    assert first["created_at"].endswith("Z") and first["updated_at"].endswith("Z")
    assert first["subnets"] == [] and first["availability_zones"] == []
    assert make_network(client)["provider:segmentation_id"] == 2


def test_explicit_vlan_is_unique_per_physnet(client: TestClient) -> None:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": "physnet2",
             "provider:segmentation_id": 100}
    net = make_network(client, **attrs)
    assert net["provider:segmentation_id"] == 100
    fault = error(make_network(client, 409, **attrs))
    assert fault["type"] == "VlanIdInUse"
    assert fault["message"] == ("Unable to create the network. The VLAN 100 on physical "
                                "network physnet2 is in use.")
    other = make_network(client, **{**attrs, "provider:physical_network": "physnet1"})
    assert other["provider:segmentation_id"] == 100


def test_vlan_without_id_takes_lowest_free(client: TestClient) -> None:
    make_network(client, **{"provider:network_type": "vlan",
                            "provider:physical_network": "physnet2",
                            "provider:segmentation_id": 1})
    net = make_network(client, **{"provider:network_type": "vlan",
                                  "provider:physical_network": "physnet2"})
    assert net["provider:segmentation_id"] == 2


def test_flat_network_one_per_physnet(client: TestClient) -> None:
    attrs = {"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    net = make_network(client, **attrs)
    assert net["provider:segmentation_id"] is None
    fault = error(make_network(client, 409, **attrs))
    assert fault["message"] == ("Unable to create the flat network. Physical network "
                                "physnet1 is in use.")
    make_network(client, **{**attrs, "provider:physical_network": "physnet2"})


@pytest.mark.parametrize(("attrs", "words"), [
    ({"provider:network_type": "vlan", "provider:physical_network": "nope"},
     "physical_network 'nope' unknown for vlan provider network. Known physical networks: "
     "physnet1, physnet2."),
    ({"provider:network_type": "geneve"}, "network_type value 'geneve' not supported"),
    ({"provider:network_type": "vlan"}, "provider:physical_network is required"),
    ({"provider:network_type": "vlan", "provider:physical_network": "physnet1",
      "provider:segmentation_id": 4095}, "segmentation_id out of range (1 through 4094)"),
    ({"provider:network_type": "flat", "provider:physical_network": "physnet1",
      "provider:segmentation_id": 5}, "segmentation_id not allowed for flat"),
    ({"mtu": 9001}, "mtu"),
    ({"mtu": 1000}, "mtu"),
    ({"router:external": "maybe"}, "router:external"),
    ({"bogus": 1}, "Unrecognized attribute(s) 'bogus'"),
])
def test_bad_network_requests_are_400(client: TestClient, attrs: dict[str, Any],
                                      words: str) -> None:
    fault = error(make_network(client, 400, **attrs))
    assert words in fault["message"]


def test_single_physnet_is_the_default(tmp_path: Any, db: Database) -> None:
    settings = Settings(state_dir=tmp_path, physnet=["only:br-only"])
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as single:
        net = make_network(single, **{"provider:network_type": "flat"})
    assert net["provider:physical_network"] == "only"


def test_project_comes_from_body_or_header(client: TestClient, db: Database) -> None:
    assert make_network(client, project_id=OTHER_PROJECT)["project_id"] == OTHER_PROJECT
    assert make_network(client, tenant_id=OTHER_PROJECT)["tenant_id"] == OTHER_PROJECT
    with TestClient(client.app) as anonymous:
        resp = anonymous.post(f"{API}/networks", json={"network": {"name": "x"}})
    assert resp.status_code == 400
    assert "project" in error(resp.json())["message"].lower()


def test_network_show_update_delete(client: TestClient) -> None:
    net = make_network(client, description="d", shared=True)
    url = f"{API}/networks/{net['id']}"
    shown = client.get(url).json()["network"]
    assert shown == net
    assert client.get(url, params={"fields": ["id", "mtu"]}).json() == {
        "network": {"id": net["id"], "mtu": 1500}}
    resp = client.put(url, json={"network": {"name": "renamed", "mtu": 9000,
                                             "shared": False}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["network"]
    assert (updated["name"], updated["mtu"], updated["shared"]) == ("renamed", 9000, False)
    assert updated["description"] == "d"
    bad = client.put(url, json={"network": {"provider:segmentation_id": 99}})
    assert bad.status_code == 400
    assert client.put(url, json={"network": {"id": "x"}}).status_code == 400
    assert client.delete(url).status_code == 204
    missing = client.get(url)
    assert missing.status_code == 404
    fault = error(missing.json())
    assert fault["message"] == f"Network {net['id']} could not be found."
    assert fault["type"] == "NetworkNotFound"


def test_unknown_route_under_networking_is_a_neutron_error(client: TestClient) -> None:
    resp = client.get(f"{API}/routers")
    assert resp.status_code == 404
    error(resp.json())


# --- subnets -----------------------------------------------------------------------------


def test_subnet_wire_shape_defaults_and_network_link(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"], name="s1", dns_nameservers=["8.8.8.8"],
                      host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}])
    assert set(sub) >= SUBNET_KEYS
    assert sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert sub["enable_dhcp"] is True and sub["ipv6_ra_mode"] is None
    assert sub["host_routes"] == [{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}]
    shown = client.get(f"{API}/networks/{net['id']}").json()["network"]
    assert shown["subnets"] == [sub["id"]]
    assert client.get(f"{API}/subnets/{sub['id']}").json()["subnet"] == sub


def test_ipv6_subnet_and_no_gateway(client: TestClient) -> None:
    net = make_network(client)
    v6 = make_subnet(client, net["id"], "2001:DB8::/64")
    assert v6["cidr"] == "2001:db8::/64" and v6["ip_version"] == 6
    assert v6["gateway_ip"] == "2001:db8::1"
    assert v6["allocation_pools"] == [{"start": "2001:db8::2",
                                       "end": "2001:db8::ffff:ffff:ffff:ffff"}]
    v4 = make_subnet(client, net["id"], "10.1.0.0/29", gateway_ip=None)
    assert v4["gateway_ip"] is None
    assert v4["allocation_pools"] == [{"start": "10.1.0.1", "end": "10.1.0.6"}]


@pytest.mark.parametrize(("attrs", "words"), [
    ({"cidr": "10.0.0.1/24"}, "'10.0.0.0/24' is recommended"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, "incompatible"),
    ({"gateway_ip": "10.5.0.1"}, "Gateway IP 10.5.0.1"),
    ({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"},
                           {"start": "10.0.0.15", "end": "10.0.0.30"}]}, "overlapping"),
    ({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.20"}]},
     "Gateway ip 10.0.0.1 conflicts with allocation pool"),
    ({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.1.20"}]}, "spans beyond"),
    ({"dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, "Duplicate nameserver"),
    ({"host_routes": [{"destination": "nope", "nexthop": "10.0.0.1"}]}, "host route"),
    ({"ipv6_ra_mode": "slaac"}, "ipv6_ra_mode is not supported"),
    ({"ip_version": 5}, "ip_version"),
    ({"cidr": None}, "subnetpool must be specified"),
])
def test_bad_subnets_are_400(client: TestClient, attrs: dict[str, Any], words: str) -> None:
    net = make_network(client)
    fault = error(make_subnet(client, net["id"], status=400, **attrs))
    assert words in fault["message"]


def test_subnet_needs_an_existing_network_and_no_overlap(client: TestClient) -> None:
    fault = error(make_subnet(client, "no-such-net", status=404))
    assert fault["message"] == "Network no-such-net could not be found."
    net = make_network(client)
    make_subnet(client, net["id"], "10.0.0.0/24")
    fault = error(make_subnet(client, net["id"], "10.0.0.128/25", status=400))
    assert "overlaps with another subnet" in fault["message"]
    other = make_network(client)
    make_subnet(client, other["id"], "10.0.0.0/24")  # another network may reuse it


def test_subnet_update(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"])
    url = f"{API}/subnets/{sub['id']}"
    pools = [{"start": "10.0.0.100", "end": "10.0.0.200"}]
    resp = client.put(url, json={"subnet": {"name": "n", "allocation_pools": pools}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["subnet"]["allocation_pools"] == pools
    into_pool = client.put(url, json={"subnet": {"gateway_ip": "10.0.0.150"}})
    assert into_pool.status_code == 400
    moved = client.put(url, json={"subnet": {"gateway_ip": "10.0.0.254"}}).json()["subnet"]
    assert moved["gateway_ip"] == "10.0.0.254" and moved["name"] == "n"
    assert client.put(url, json={"subnet": {"cidr": "10.1.0.0/24"}}).status_code == 400


# --- ports and in-use protection ---------------------------------------------------------


def test_port_reservation_and_in_use_conflicts(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"], "10.0.0.0/29")
    port = make_port(client, net["id"], name="p")
    assert set(port) >= PORT_KEYS
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]
    assert port["mac_address"].startswith("fa:16:3e:")
    assert port["binding:vnic_type"] == "normal" and port["security_groups"] == []
    explicit = make_port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.1"}])
    assert explicit["fixed_ips"][0] == {"subnet_id": sub["id"], "ip_address": "10.0.0.1"}
    taken = error(make_port(client, net["id"], 409,
                            fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]))
    assert taken["type"] == "IpAddressInUse"
    outside = error(make_port(client, net["id"], 400, fixed_ips=[{"ip_address": "10.7.0.1"}]))
    assert "not a valid IP" in outside["message"]

    sub_in_use = client.delete(f"{API}/subnets/{sub['id']}")
    assert sub_in_use.status_code == 409
    assert error(sub_in_use.json())["message"] == (
        f"Unable to complete operation on subnet {sub['id']}: One or more ports have an IP "
        f"allocation from this subnet.")
    net_in_use = client.delete(f"{API}/networks/{net['id']}")
    assert net_in_use.status_code == 409
    assert error(net_in_use.json())["message"] == (
        f"Unable to complete operation on network {net['id']}. There are one or more ports "
        f"still in use on the network.")

    for p in (port, explicit):
        assert client.delete(f"{API}/ports/{p['id']}").status_code == 204
    assert client.get(f"{API}/ports/{port['id']}").status_code == 404
    assert client.delete(f"{API}/networks/{net['id']}").status_code == 204
    assert client.get(f"{API}/subnets/{sub['id']}").status_code == 404  # went with it


def test_exhaustion_is_ip_address_generation_failure(client: TestClient) -> None:
    net = make_network(client)
    make_subnet(client, net["id"], "10.0.0.0/30")  # one pool address: 10.0.0.2
    make_port(client, net["id"])
    fault = error(make_port(client, net["id"], 409))
    assert fault["type"] == "IpAddressGenerationFailure"
    assert fault["message"] == f"No more IP addresses available on network {net['id']}."


def test_nslb_owned_ports_are_not_deleted_by_hand(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"])
    lb = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": sub["id"]}}).json()["loadbalancer"]
    [vip] = client.get(f"{API}/ports", params={"device_id": f"lb-{lb['id']}"}).json()["ports"]
    assert vip["device_owner"] == "Octavia" and vip["id"] == lb["vip_port_id"]
    assert client.delete(f"{API}/ports/{vip['id']}").status_code == 409
    assert client.get(f"{API}/ports/{vip['id']}").json()["port"] == vip


@pytest.mark.parametrize("owner", ["Octavia", "nslb:member", "nslb:anything", "octavia",
                                   "NSLB:member"])
def test_nslb_owners_are_never_set_through_the_api(client: TestClient, owner: str) -> None:
    """Only nslb creates ports with its owners, not even an admin by hand (probe F3)."""
    net = make_network(client)
    make_subnet(client, net["id"])
    fault = error(make_port(client, net["id"], 403, device_owner=owner, device_id="lb-1"))
    assert fault["type"] == "PolicyNotAuthorized"
    assert client.get(f"{API}/ports", params={"device_id": "lb-1"}).json()["ports"] == []


def test_allocate_port_repository(client: TestClient) -> None:
    net = make_network(client)
    v6 = make_subnet(client, net["id"], "2001:db8::/64")
    v4 = make_subnet(client, net["id"], "10.0.0.0/30")
    db = db_of(client)
    with db.write() as session:
        network = repo.get_network(session, net["id"])
        assert network is not None
        kwargs: dict[str, Any] = {"network": network, "project_id": PROJECT,
                                  "device_owner": "nslb:member", "device_id": "m1"}
        first = repo.allocate_port(session, subnet=None, ip_address=None, **kwargs)
        # IPv4 first; when it is full the next subnet serves
        second = repo.allocate_port(session, subnet=None, ip_address=None, **kwargs)
        explicit = repo.allocate_port(session, subnet=repo.get_subnet(session, v6["id"]),
                                      ip_address="2001:DB8::0:10", **kwargs)
        with pytest.raises(AddressInUse):
            repo.allocate_port(session, subnet=None, ip_address="2001:db8::10", **kwargs)
        v4_subnet = repo.get_subnet(session, v4["id"])
        with pytest.raises(NoFreeAddress):
            repo.allocate_port(session, subnet=v4_subnet, ip_address=None, **kwargs)
        ids = (first.id, second.id, explicit.id)
    assert first.fixed_ips == [{"subnet_id": v4["id"], "ip_address": "10.0.0.2"}]
    assert second.fixed_ips == [{"subnet_id": v6["id"], "ip_address": "2001:db8::2"}]
    assert explicit.fixed_ips[0]["ip_address"] == "2001:db8::10"  # canonical spelling
    listed = client.get(f"{API}/ports", params={"network_id": net["id"]}).json()["ports"]
    assert sorted(p["id"] for p in listed) == sorted(ids)
    with db.write() as session:
        repo.release_port(session, first.id)
        repo.release_port(session, "missing")  # no-op
        again = repo.allocate_port(session, subnet=None, ip_address=None, **kwargs)
    assert again.fixed_ips[0]["ip_address"] == "10.0.0.2"  # freed address is reused


def test_failed_allocation_leaves_the_transaction_usable(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"])
    db = db_of(client)
    with db.write() as session:
        network, subnet = repo.get_network(session, net["id"]), repo.get_subnet(session, sub["id"])
        assert network is not None and subnet is not None
        kwargs: dict[str, Any] = {"network": network, "subnet": subnet, "project_id": PROJECT,
                                  "device_owner": "x", "device_id": "y"}
        repo.allocate_port(session, ip_address="10.0.0.9", **kwargs)
        with pytest.raises(AddressInUse):
            repo.allocate_port(session, ip_address="10.0.0.9", **kwargs)
        repo.allocate_port(session, ip_address="10.0.0.10", **kwargs)
    ports = client.get(f"{API}/ports").json()["ports"]
    assert sorted(p["fixed_ips"][0]["ip_address"] for p in ports) == ["10.0.0.10", "10.0.0.9"]


# --- lists -------------------------------------------------------------------------------


def test_filters_fields_sorting(client: TestClient) -> None:
    a = make_network(client, name="a", shared=True)
    b = make_network(client, name="b", **{"provider:network_type": "flat",
                                          "provider:physical_network": "physnet2"})

    def names(**params: Any) -> list[str]:
        resp = client.get(f"{API}/networks", params={"sort_key": "name", **params})
        assert resp.status_code == 200, resp.text
        return [n["name"] for n in resp.json()["networks"]]

    assert names(name="a") == ["a"]
    assert names(shared="true") == ["a"]
    assert names(**{"provider:network_type": "flat"}) == ["b"]
    assert names(**{"provider:physical_network": "physnet1"}) == ["a"]
    assert names(**{"router:external": "False"}) == ["a", "b"]
    assert names(**{"router:external": "True"}) == []
    assert names(tenant_id=PROJECT, sort_dir="desc") == ["b", "a"]
    assert names(id=b["id"]) == ["b"]
    resp = client.get(f"{API}/networks", params={"fields": "name", "sort": "name:asc"})
    assert resp.json()["networks"] == [{"name": "a"}, {"name": "b"}]
    bad = client.get(f"{API}/networks", params={"colour": "red"})
    assert bad.status_code == 400
    error(bad.json())
    assert "networks_links" not in client.get(f"{API}/networks").json()
    make_subnet(client, a["id"])
    make_subnet(client, b["id"], "10.1.0.0/24")
    subs = client.get(f"{API}/subnets", params={"network_id": b["id"]}).json()["subnets"]
    assert [s["cidr"] for s in subs] == ["10.1.0.0/24"]
    assert client.get(f"{API}/subnets", params={"ip_version": "6"}).json()["subnets"] == []


def walk(client: TestClient, url: str | None) -> list[dict[str, Any]]:
    """Every item of a collection, following `networks_links` next links page by page."""
    seen: list[dict[str, Any]] = []
    while url:
        body = client.get(url).json()
        assert len(body["networks"]) <= 2
        seen += body["networks"]
        nxt = [link["href"] for link in body["networks_links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    return seen


def test_pagination_follows_next_links(client: TestClient) -> None:
    created = [make_network(client, name=f"n{i}")["id"] for i in range(5)]
    by_default = [n["id"] for n in walk(client, f"{API}/networks?limit=2")]
    assert sorted(by_default) == sorted(created) and len(by_default) == 5
    by_name = walk(client, f"{API}/networks?limit=2&sort_key=name&sort_dir=desc")
    assert [n["name"] for n in by_name] == ["n4", "n3", "n2", "n1", "n0"]


def test_unknown_marker_is_neutrons_not_found(client: TestClient) -> None:
    """Neutron looks the marker up as the caller (_get_<resource>): an unknown one is the
    resource's 404, whatever the collection."""
    make_network(client, name="n0")
    for plural, kind in (("networks", "Network"), ("subnets", "Subnet"), ("ports", "Port")):
        resp = client.get(f"{API}/{plural}", params={"limit": 1, "marker": "nope"})
        assert resp.status_code == 404
        fault = error(resp.json())
        assert fault == {"type": f"{kind}NotFound", "message": f"{kind} nope could not be found.",
                         "detail": ""}


@pytest.mark.parametrize(("attrs", "message"), [
    ({"project_id": ["p"]}, "Invalid input for project_id. Reason: '['p']' is not a valid "
                            "string."),
    ({"tenant_id": 5}, "Invalid input for tenant_id. Reason: '5' is not a valid string."),
    ({"project_id": "p" * 256}, f"Invalid input for project_id. Reason: '{'p' * 64}...' "
                                "exceeds maximum length of 255."),
])
def test_project_id_is_a_bounded_string(client: TestClient, attrs: dict[str, Any],
                                        message: str) -> None:
    net = make_network(client)
    for kind, body in (("network", {}), ("subnet", {"network_id": net["id"],
                                                    "cidr": "10.0.0.0/24"}),
                       ("port", {"network_id": net["id"]})):
        resp = client.post(f"{API}/{kind}s", json={kind: {**body, **attrs}})
        assert resp.status_code == 400
        assert error(resp.json())["message"] == message


# --- non-admin visibility ----------------------------------------------------------------


def _member_context(request: Request) -> Context:
    return Context(project_id=request.headers.get("x-project-id"), roles=frozenset({"member"}))


@pytest.fixture
def member_client(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """A non-admin of OTHER_PROJECT on the same database as `client` (an admin)."""
    app = create_app(settings, db_of(client), context_for=_member_context)
    with TestClient(app, headers={"X-Project-Id": OTHER_PROJECT}) as member:
        yield member


def test_non_admins_see_own_and_shared(client: TestClient, member_client: TestClient) -> None:
    private = make_network(client, name="private")
    shared = make_network(client, name="shared", shared=True)
    make_subnet(client, private["id"], "10.0.0.0/24")
    shared_sub = make_subnet(client, shared["id"], "10.1.0.0/24")
    own = make_network(member_client, name="own")
    paged = walk(member_client, f"{API}/networks?limit=1&sort_key=name")
    assert [n["name"] for n in paged] == ["own", "shared"]
    all_names = {n["name"] for n in member_client.get(f"{API}/networks").json()["networks"]}
    assert all_names == {"shared", "own"}
    assert member_client.get(f"{API}/networks/{private['id']}").status_code == 404
    subs = member_client.get(f"{API}/subnets").json()["subnets"]
    assert [s["id"] for s in subs] == [shared_sub["id"]]
    assert member_client.get(f"{API}/networks/{own['id']}").status_code == 200
    with db_of(client).read() as session:
        net = repo.get_network(session, private["id"])
        sub = repo.get_subnet(session, shared_sub["id"])
        assert net is not None and sub is not None
        assert not repo.visible(net, OTHER_PROJECT, False)
        assert repo.visible(net, PROJECT, False)
        assert repo.visible(net, None, True)
        assert repo.visible(sub, OTHER_PROJECT, False)


# --- concurrency -------------------------------------------------------------------------


def _allocate(db: Database, network_id: str, owner: str) -> str:
    with db.write() as session:
        network = repo.get_network(session, network_id)
        assert network is not None
        port = repo.allocate_port(session, network=network, subnet=None, ip_address=None,
                                  project_id=PROJECT, device_owner="nslb:member",
                                  device_id=owner)
        return port.fixed_ips[0]["ip_address"]


def test_parallel_allocations_never_share_an_address(client: TestClient) -> None:
    net = make_network(client)
    make_subnet(client, net["id"], "10.0.0.0/27")  # 29 pool addresses
    db = db_of(client)
    results: list[str] = []
    failures: list[Exception] = []

    def worker(i: int) -> None:
        try:
            results.append(_allocate(db, net["id"], f"w{i}"))
        except NoFreeAddress as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 29 and len(set(results)) == 29
    assert len(failures) == 3


def test_collision_on_insert_retries_with_the_next_address(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale view of the used addresses (another writer won) is caught by the key."""
    net = make_network(client)
    make_subnet(client, net["id"], "10.0.0.0/29")
    db = db_of(client)
    assert _allocate(db, net["id"], "first") == "10.0.0.2"
    monkeypatch.setattr(repo, "used_addresses", lambda _session, _subnet_id: set())
    assert _allocate(db, net["id"], "second") == "10.0.0.3"
    ports = client.get(f"{API}/ports", params={"device_id": "second"}).json()["ports"]
    assert ports[0]["fixed_ips"][0]["ip_address"] == "10.0.0.3"


def test_adopted_vip_port_matches_the_address_by_value(client: TestClient) -> None:
    net = make_network(client)
    sub = make_subnet(client, net["id"], "fd88::/64")
    port = make_port(client, net["id"], fixed_ips=[{"subnet_id": sub["id"],
                                                    "ip_address": "fd88::1:99"}])
    resp = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_port_id": port["id"], "vip_address": "FD88:0::1:99"}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["loadbalancer"]["vip_address"] == "fd88::1:99"
