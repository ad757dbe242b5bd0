"""Floating IPs in keystone mode, with Neutron's default policy: external networks are
admin-made and visible to every project; a project sees and changes only its own floating
IPs; a port of another project cannot be associated (it answers as a missing one);
choosing the floating address is admin-only; readers cannot change anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from keystone_helpers import NET, Cloud, keystone_cloud, neutron_error

FIPS = f"{NET}/floatingips"


@dataclass
class World:
    cloud: Cloud
    h: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        headers = self.cloud.admin() if who == "admin" else self.h[who]
        return self.cloud.client.request(method, url, headers=headers, **kw)

    def ok(self, who: str, method: str, url: str, status: int, **kw: Any) -> Any:
        resp = self.call(who, method, url, **kw)
        assert resp.status_code == status, (who, method, url, resp.text)
        return resp.json() if resp.content else None

    def fault(self, who: str, method: str, url: str, status: int, **kw: Any) -> dict[str, Any]:
        return neutron_error(self.call(who, method, url, **kw), status)

    def private_port(self, who: str) -> dict[str, Any]:
        """A network, subnet (gateway .1) and port of `who`'s own project."""
        net = self.ok(who, "POST", f"{NET}/networks", 201,
                      json={"network": {"name": f"{who}-net"}})["network"]
        self.ok(who, "POST", f"{NET}/subnets", 201, json={"subnet": {
            "network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4}})
        port: dict[str, Any] = self.ok(who, "POST", f"{NET}/ports", 201, json={
            "port": {"network_id": net["id"]}})["port"]
        return port


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with keystone_cloud(tmp_path_factory.mktemp("fip-policy")) as cloud:
        for name in ("A", "B"):
            cloud.project(name)
        w = World(cloud)
        w.h["a"] = cloud.persona("a", "A", "member")
        w.h["b"] = cloud.persona("b", "B", "member")
        w.h["a_reader"] = cloud.persona("a_reader", "A", "reader")
        public = w.ok("admin", "POST", f"{NET}/networks", 201, json={"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "physnet2"}})["network"]
        w.ids["public"] = public["id"]
        w.ids["public-subnet"] = w.ok("admin", "POST", f"{NET}/subnets", 201, json={
            "subnet": {"network_id": public["id"], "cidr": "203.0.113.0/24",
                       "ip_version": 4}})["subnet"]["id"]
        yield w


def test_every_project_sees_external_networks_but_only_admins_change_them(
        world: World) -> None:
    public = world.ids["public"]
    shown = world.ok("b", "GET", f"{NET}/networks/{public}", 200)["network"]
    assert shown["router:external"] is True and "provider:network_type" not in shown
    names = [n["name"] for n in world.ok("b", "GET", f"{NET}/networks?name=public",
                                         200)["networks"]]
    assert names == ["public"]
    external = world.ok("a", "GET", f"{NET}/networks?router:external=true", 200)["networks"]
    assert [n["id"] for n in external] == [public]
    assert "rule:update_network" in world.fault("a", "PUT", f"{NET}/networks/{public}", 403,
                                                json={"network": {"name": "mine"}})["message"]
    # subnets and ports on it are for admins and floating IPs, not for projects (it is not
    # shared): the subnet and port APIs do not offer it (Neutron answers the subnet with 403)
    world.fault("a", "POST", f"{NET}/subnets", 404, json={"subnet": {
        "network_id": public, "cidr": "198.51.100.0/24", "ip_version": 4}})
    world.fault("a", "POST", f"{NET}/ports", 404, json={"port": {"network_id": public}})


def test_router_external_is_admin_only(world: World) -> None:
    fault = world.fault("a", "POST", f"{NET}/networks", 403, json={"network": {
        "name": "x", "router:external": True}})
    assert "create_network:router:external" in fault["message"]
    own = world.ok("a", "POST", f"{NET}/networks", 201, json={"network": {
        "name": "y", "router:external": False}})["network"]
    fault = world.fault("a", "PUT", f"{NET}/networks/{own['id']}", 403, json={"network": {
        "router:external": True}})
    assert "update_network:router:external" in fault["message"]


def test_projects_see_and_change_only_their_own_floating_ips(world: World) -> None:
    body = {"floatingip": {"floating_network_id": world.ids["public"]}}
    mine = world.ok("a", "POST", FIPS, 201, json=body)["floatingip"]
    assert mine["project_id"] == world.cloud.projects["A"]
    url = f"{FIPS}/{mine['id']}"
    assert world.ok("b", "GET", f"{FIPS}?floating_ip_address={mine['floating_ip_address']}",
                    200)["floatingips"] == []
    assert world.fault("b", "GET", url, 404)["type"] == "FloatingIPNotFound"
    world.fault("b", "PUT", url, 404, json={"floatingip": {"description": "x"}})
    world.fault("b", "DELETE", url, 404)
    world.fault("a_reader", "PUT", url, 403, json={"floatingip": {"description": "x"}})
    world.fault("a_reader", "POST", FIPS, 403, json=body)
    assert [f["id"] for f in world.ok("a_reader", "GET", FIPS, 200)["floatingips"]] == \
        [mine["id"]]
    admin_view = world.ok("admin", "GET", f"{FIPS}?project_id={world.cloud.projects['A']}",
                          200)["floatingips"]
    assert [f["id"] for f in admin_view] == [mine["id"]]
    # the address's registry port belongs to no project: nobody but an admin sees it
    assert world.ok("a", "GET", f"{NET}/ports?device_owner=network:floatingip",
                    200)["ports"] == []
    world.ok("a", "DELETE", url, 204)


def test_a_port_of_another_project_cannot_be_associated(world: World) -> None:
    theirs = world.private_port("a")
    body = {"floatingip": {"floating_network_id": world.ids["public"]}}
    mine = world.ok("b", "POST", FIPS, 201, json=body)["floatingip"]
    fault = world.fault("b", "PUT", f"{FIPS}/{mine['id']}", 404,
                        json={"floatingip": {"port_id": theirs["id"]}})
    assert fault["type"] == "PortNotFound"
    fault = world.fault("b", "POST", FIPS, 404, json={"floatingip": {
        "floating_network_id": world.ids["public"], "port_id": theirs["id"]}})
    assert fault["type"] == "PortNotFound"
    own = world.private_port("b")
    linked = world.ok("b", "PUT", f"{FIPS}/{mine['id']}", 200,
                      json={"floatingip": {"port_id": own["id"]}})["floatingip"]
    assert linked["port_id"] == own["id"] and linked["router_id"]
    # the router's gateway port is nobody's: the project cannot see or delete it
    assert world.ok("b", "GET", f"{NET}/ports?device_owner=network:router_interface",
                    200)["ports"] == []


def test_choosing_the_address_and_another_project_are_admin_only(world: World) -> None:
    fault = world.fault("a", "POST", FIPS, 403, json={"floatingip": {
        "floating_network_id": world.ids["public"], "floating_ip_address": "203.0.113.77"}})
    assert "create_floatingip:floating_ip_address" in fault["message"]
    world.fault("a", "POST", FIPS, 403, json={"floatingip": {
        "floating_network_id": world.ids["public"],
        "project_id": world.cloud.projects["B"]}})
    made = world.ok("admin", "POST", FIPS, 201, json={"floatingip": {
        "floating_network_id": world.ids["public"], "floating_ip_address": "203.0.113.77",
        "project_id": world.cloud.projects["B"]}})["floatingip"]
    assert made["floating_ip_address"] == "203.0.113.77"
    assert world.ok("b", "GET", f"{FIPS}/{made['id']}", 200)["floatingip"]["id"] == made["id"]
