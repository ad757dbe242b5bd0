"""Authorization in keystone mode, as Octavia and Neutron do it: project isolation (other
projects' objects are 404), Octavia's roles and the admin/member/reader personas, quotas,
failover, shared networks usable by every project but changed only by owners and admins,
and provider attributes for admins only.

One world (projects, personas, networks, a load balancer of project A) is built once for
the module; tests that change or delete things make their own objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from keystone_helpers import LBAAS, NET, V3, Cloud, keystone_cloud, neutron_error

LB_URL = f"{LBAAS}/loadbalancers"
DENIED = "Policy does not allow this request to be performed."
PERSONAS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (project, roles)
    "a_member": ("A", ("member",)),
    "a_lbmember": ("A", ("load-balancer_member",)),
    "a_reader": ("A", ("reader",)),
    "a_observer": ("A", ("load-balancer_observer",)),
    "b_member": ("B", ("member",)),
    "b_reader": ("B", ("reader",)),
    "global_observer": ("B", ("load-balancer_global_observer",)),
    "global_observer_member": ("B", ("load-balancer_global_observer", "member")),
    "quota_admin": ("B", ("load-balancer_quota_admin",)),
    "lb_admin": ("B", ("load-balancer_admin",)),
    "q_member": ("Q", ("member",)),
}


@dataclass
class World:
    cloud: Cloud
    h: dict[str, dict[str, str]] = field(default_factory=dict)  # persona -> headers
    ids: dict[str, str] = field(default_factory=dict)

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        headers = self.cloud.admin() if who == "admin" else self.h[who]
        return self.cloud.client.request(method, url, headers=headers, **kw)

    def ok(self, who: str, method: str, url: str, status: int, **kw: Any) -> Any:
        resp = self.call(who, method, url, **kw)
        assert resp.status_code == status, (who, method, url, resp.text)
        return resp.json() if resp.content else None

    def lb(self, who: str, subnet: str, **attrs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.ok(who, "POST", LB_URL, 201, json={"loadbalancer": {
            "vip_subnet_id": self.ids[subnet], **attrs}})["loadbalancer"]
        self.cloud.worker.drain()
        return body

    @property
    def a(self) -> str:
        return self.cloud.projects["A"]

    @property
    def b(self) -> str:
        return self.cloud.projects["B"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with keystone_cloud(tmp_path_factory.mktemp("authz")) as cloud:
        for name in ("A", "B", "Q"):
            cloud.project(name)
        w = World(cloud)
        for persona, (project, roles) in PERSONAS.items():
            w.h[persona] = cloud.persona(persona, project, *roles)
        public = w.ok("admin", "POST", f"{NET}/networks", 201, json={"network": {
            "name": "public", "shared": True, "provider:network_type": "flat",
            "provider:physical_network": "physnet1"}})["network"]
        w.ids["public"] = public["id"]
        w.ids["public-subnet"] = w.ok("admin", "POST", f"{NET}/subnets", 201, json={
            "subnet": {"network_id": public["id"], "cidr": "10.10.0.0/16",
                       "ip_version": 4}})["subnet"]["id"]
        a_net = w.ok("a_member", "POST", f"{NET}/networks", 201,
                     json={"network": {"name": "a-net"}})["network"]
        w.ids["a-net"] = a_net["id"]
        w.ids["a-subnet"] = w.ok("a_member", "POST", f"{NET}/subnets", 201, json={
            "subnet": {"network_id": a_net["id"], "cidr": "10.20.0.0/24",
                       "ip_version": 4}})["subnet"]["id"]
        w.ids["a-lb"] = w.lb("a_member", "a-subnet", name="a-lb")["id"]
        w.ids["b-lb"] = w.lb("b_member", "public-subnet", name="b-lb")["id"]
        yield w


def names(resp_json: dict[str, Any], key: str = "loadbalancers") -> set[str]:
    return {item["name"] for item in resp_json[key]}


def octavia_fault(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    text: str = body["faultstring"]
    return text


# --- Octavia: project isolation ------------------------------------------------------


def test_other_projects_load_balancer_is_404(world: World) -> None:
    lb = world.ids["a-lb"]
    for method, url, body in (
        ("GET", f"{LB_URL}/{lb}", None),
        ("GET", f"{LB_URL}/{lb}/status", None),
        ("GET", f"{LB_URL}/{lb}/stats", None),
        ("PUT", f"{LB_URL}/{lb}", {"loadbalancer": {"name": "mine"}}),
        ("DELETE", f"{LB_URL}/{lb}", None),
        ("DELETE", f"{LB_URL}/{lb}?cascade=true", None),
    ):
        resp = world.call("b_member", method, url, json=body)
        assert octavia_fault(resp, 404) == f"Load Balancer {lb} not found.", (method, url)
    listed = world.ok("b_member", "GET", LB_URL, 200)
    assert names(listed) == {"b-lb"}
    filtered = world.ok("b_member", "GET", f"{LB_URL}?project_id={world.a}", 200)
    assert filtered["loadbalancers"] == []
    listener = world.call("b_member", "POST", f"{LBAAS}/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}})
    assert listener.status_code == 404, listener.text
    # still there, unchanged
    assert world.ok("a_member", "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"]["name"] == "a-lb"


def test_children_of_other_projects_are_404(world: World) -> None:
    lb = world.lb("a_member", "a-subnet", name="kids")
    listener = world.ok("a_member", "POST", f"{LBAAS}/listeners", 201, json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})["listener"]
    world.cloud.worker.drain()
    url = f"{LBAAS}/listeners/{listener['id']}"
    octavia_fault(world.call("b_member", "GET", url), 404)
    octavia_fault(world.call("b_member", "DELETE", url), 404)
    assert world.ok("b_member", "GET", f"{LBAAS}/listeners", 200)["listeners"] == []
    assert world.ok("a_reader", "GET", url, 200)["listener"]["id"] == listener["id"]
    world.ok("a_member", "DELETE", f"{LB_URL}/{lb['id']}?cascade=true", 204)
    world.cloud.worker.drain()


def test_creating_in_another_project_needs_admin(world: World) -> None:
    for who in ("b_member", "global_observer_member", "quota_admin"):
        resp = world.call(who, "POST", LB_URL, json={"loadbalancer": {
            "vip_subnet_id": world.ids["public-subnet"], "project_id": world.a}})
        assert octavia_fault(resp, 403) == DENIED, who
    made = world.lb("admin", "public-subnet", name="for-a", project_id=world.a)
    assert made["project_id"] == world.a
    assert "for-a" in names(world.ok("a_reader", "GET", LB_URL, 200))
    made_by_lb_admin = world.lb("lb_admin", "public-subnet", name="for-a-2",
                                project_id=world.a)
    assert made_by_lb_admin["project_id"] == world.a
    for lb in (made, made_by_lb_admin):
        world.ok("a_member", "DELETE", f"{LB_URL}/{lb['id']}", 204)
    world.cloud.worker.drain()


def test_non_shared_subnet_of_another_project_is_not_a_vip_subnet(world: World) -> None:
    resp = world.call("b_member", "POST", LB_URL, json={"loadbalancer": {
        "vip_subnet_id": world.ids["a-subnet"]}})
    assert octavia_fault(resp, 400) == (f"Validation failure: Subnet "
                                        f"{world.ids['a-subnet']} not found.")


# --- Octavia: roles ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["a_reader", "a_observer"])
def test_readers_read_but_cannot_write(world: World, who: str) -> None:
    lb = world.ids["a-lb"]
    assert "a-lb" in names(world.ok(who, "GET", LB_URL, 200))
    assert world.ok(who, "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"]["id"] == lb
    world.ok(who, "GET", f"{LB_URL}/{lb}/status", 200)
    world.ok(who, "GET", f"{LBAAS}/quotas/{world.a}", 200)
    for method, url, body in (
        ("POST", LB_URL, {"loadbalancer": {"vip_subnet_id": world.ids["a-subnet"]}}),
        ("PUT", f"{LB_URL}/{lb}", {"loadbalancer": {"name": "x"}}),
        ("DELETE", f"{LB_URL}/{lb}", None),
        ("POST", f"{LBAAS}/listeners", {"listener": {"loadbalancer_id": lb,
                                                     "protocol": "TCP",
                                                     "protocol_port": 81}}),
        ("PUT", f"{LBAAS}/quotas/{world.a}", {"quota": {"loadbalancer": 5}}),
        ("PUT", f"{LB_URL}/{lb}/failover", None),
        ("POST", f"{NET}/networks", {"network": {"name": "x"}}),
    ):
        resp = world.call(who, method, url, json=body)
        assert resp.status_code == 403, (who, method, url, resp.text)
        assert DENIED in resp.text
    assert world.ok("a_member", "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"]["name"] == "a-lb"


@pytest.mark.parametrize("who", ["a_member", "a_lbmember"])
def test_members_write(world: World, who: str) -> None:
    lb = world.lb(who, "a-subnet", name=f"{who}-lb")
    assert lb["project_id"] == world.a
    updated = world.ok(who, "PUT", f"{LB_URL}/{lb['id']}", 200,
                       json={"loadbalancer": {"description": "changed"}})
    assert updated["loadbalancer"]["description"] == "changed"
    world.cloud.worker.drain()
    world.ok(who, "DELETE", f"{LB_URL}/{lb['id']}", 204)
    world.cloud.worker.drain()
    octavia_fault(world.call(who, "GET", f"{LB_URL}/{lb['id']}"), 404)


def test_global_observer_reads_every_project_and_writes_nothing_elsewhere(
        world: World) -> None:
    lb = world.ids["a-lb"]
    for who in ("global_observer", "global_observer_member"):
        assert {"a-lb", "b-lb"} <= names(world.ok(who, "GET", LB_URL, 200))
        only_a = world.ok(who, "GET", f"{LB_URL}?project_id={world.a}", 200)
        assert {i["project_id"] for i in only_a["loadbalancers"]} == {world.a}
        assert world.ok(who, "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"]["name"] == "a-lb"
        world.ok(who, "GET", f"{LB_URL}/{lb}/stats", 200)
    octavia_fault(world.call("global_observer", "PUT", f"{LB_URL}/{lb}",
                             json={"loadbalancer": {"name": "x"}}), 403)
    octavia_fault(world.call("global_observer", "DELETE", f"{LB_URL}/{lb}"), 403)
    # seeing everything is no licence to change other projects' objects: Octavia's 403
    # (the object is visible to this caller, so a 404 would hide nothing)
    for method, body in (("PUT", {"loadbalancer": {"name": "x"}}), ("DELETE", None)):
        resp = world.call("global_observer_member", method, f"{LB_URL}/{lb}", json=body)
        assert octavia_fault(resp, 403) == "Policy does not allow this request to be performed."
    listener = world.call("global_observer_member", "POST", f"{LBAAS}/listeners", json={
        "listener": {"loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 82}})
    octavia_fault(listener, 403)
    # a plain member of another project still cannot tell the object exists
    octavia_fault(world.call("b_member", "PUT", f"{LB_URL}/{lb}",
                             json={"loadbalancer": {"name": "x"}}), 404)
    assert world.ok("a_member", "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"]["name"] == "a-lb"
    # but it writes in its own project
    own = world.lb("global_observer_member", "public-subnet", name="gom")
    assert own["project_id"] == world.b
    world.ok("global_observer_member", "DELETE", f"{LB_URL}/{own['id']}", 204)
    world.cloud.worker.drain()


def test_global_observer_changing_any_child_of_another_project_is_403(world: World) -> None:
    """Listener, pool, member and health monitor changes by a global observer (with a
    member role in its own project) on project A's tree: 403 each, nothing changed."""
    lb = world.ids["a-lb"]
    drain = world.cloud.worker.drain
    li = world.ok("a_member", "POST", f"{LBAAS}/listeners", 201, json={"listener": {
        "loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 8081}})["listener"]
    drain()
    pool = world.ok("a_member", "POST", f"{LBAAS}/pools", 201, json={"pool": {
        "listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})["pool"]
    drain()
    members = f"{LBAAS}/pools/{pool['id']}/members"
    member = world.ok("a_member", "POST", members, 201, json={"member": {
        "address": "10.20.0.50", "protocol_port": 80}})["member"]
    drain()
    hm = world.ok("a_member", "POST", f"{LBAAS}/healthmonitors", 201, json={"healthmonitor": {
        "pool_id": pool["id"], "type": "TCP", "delay": 3, "timeout": 2,
        "max_retries": 2}})["healthmonitor"]
    drain()
    changes = [
        ("PUT", f"{LBAAS}/listeners/{li['id']}", {"listener": {"name": "x"}}),
        ("DELETE", f"{LBAAS}/listeners/{li['id']}", None),
        ("PUT", f"{LBAAS}/pools/{pool['id']}", {"pool": {"name": "x"}}),
        ("POST", f"{LBAAS}/pools", {"pool": {"loadbalancer_id": lb, "protocol": "TCP",
                                             "lb_algorithm": "ROUND_ROBIN"}}),
        ("POST", members, {"member": {"address": "10.20.0.51", "protocol_port": 80}}),
        ("PUT", f"{members}/{member['id']}", {"member": {"weight": 5}}),
        ("PUT", members, {"members": []}),
        ("DELETE", f"{members}/{member['id']}", None),
        ("PUT", f"{LBAAS}/healthmonitors/{hm['id']}", {"healthmonitor": {"delay": 9}}),
        ("DELETE", f"{LBAAS}/healthmonitors/{hm['id']}", None),
    ]
    for method, url, body in changes:
        resp = world.call("global_observer_member", method, url, json=body)
        assert octavia_fault(resp, 403) == "Policy does not allow this request to be " \
            "performed.", (method, url)
    shown = world.ok("a_member", "GET", f"{members}/{member['id']}", 200)["member"]
    assert (shown["weight"], shown["provisioning_status"]) == (1, "ACTIVE")
    assert world.ok("a_member", "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"][
        "provisioning_status"] == "ACTIVE"
    world.ok("a_member", "DELETE", f"{LBAAS}/listeners/{li['id']}", 204)
    drain()
    world.ok("a_member", "DELETE", f"{LBAAS}/pools/{pool['id']}", 204)
    drain()


@pytest.mark.parametrize("who", ["admin", "lb_admin"])
def test_admins_see_all_and_filter_by_project(world: World, who: str) -> None:
    everything = names(world.ok(who, "GET", LB_URL, 200))
    assert {"a-lb", "b-lb"} <= everything
    only_a = world.ok(who, "GET", f"{LB_URL}?project_id={world.a}", 200)["loadbalancers"]
    assert "a-lb" in {i["name"] for i in only_a}
    assert {i["project_id"] for i in only_a} == {world.a}
    only_b = world.ok(who, "GET", f"{LB_URL}?project_id={world.b}", 200)["loadbalancers"]
    assert {i["project_id"] for i in only_b} == {world.b}
    assert world.ok(who, "GET", f"{LB_URL}/{world.ids['a-lb']}", 200)


def test_admin_changes_and_deletes_other_projects_objects(world: World) -> None:
    lb = world.lb("a_member", "a-subnet", name="victim")
    changed = world.ok("lb_admin", "PUT", f"{LB_URL}/{lb['id']}", 200,
                       json={"loadbalancer": {"name": "renamed"}})
    assert changed["loadbalancer"]["project_id"] == world.a
    world.cloud.worker.drain()
    world.ok("admin", "DELETE", f"{LB_URL}/{lb['id']}", 204)
    world.cloud.worker.drain()


def test_failover_is_admin_only(world: World) -> None:
    lb = world.ids["a-lb"]
    for who in ("a_member", "a_lbmember", "quota_admin", "global_observer"):
        assert octavia_fault(world.call(who, "PUT", f"{LB_URL}/{lb}/failover"),
                             403) == DENIED
    world.ok("admin", "PUT", f"{LB_URL}/{lb}/failover", 202)
    world.cloud.worker.drain()
    world.ok("lb_admin", "PUT", f"{LB_URL}/{lb}/failover", 202)
    world.cloud.worker.drain()
    assert world.ok("a_member", "GET", f"{LB_URL}/{lb}", 200)["loadbalancer"][
        "provisioning_status"] == "ACTIVE"


def test_amphorae_and_flavor_admin_are_admin_only(world: World) -> None:
    octavia_fault(world.call("a_member", "GET", "/v2/octavia/amphorae"), 403)
    octavia_fault(world.call("a_member", "POST", f"{LBAAS}/flavors",
                             json={"flavor": {"name": "f", "flavor_profile_id": "x"}}), 403)


def test_unscoped_token_may_not_use_the_apis(world: World) -> None:
    resp = world.cloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "a_member", "domain": {"id": "default"}, "password": "a_member-pw"}}},
        "scope": "unscoped"}})
    headers = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
    for url in (LB_URL, f"{NET}/networks"):
        assert world.cloud.client.get(url, headers=headers).status_code == 403


# --- quotas --------------------------------------------------------------------------


def test_quota_writes_need_quota_admin_or_admin(world: World) -> None:
    q = world.cloud.projects["Q"]
    url = f"{LBAAS}/quotas/{q}"
    for who in ("q_member", "a_member", "a_lbmember", "global_observer"):
        octavia_fault(world.call(who, "PUT", url, json={"quota": {"loadbalancer": 9}}), 403)
        octavia_fault(world.call(who, "DELETE", url), 403)
    for who in ("quota_admin", "lb_admin", "admin"):
        world.ok(who, "PUT", url, 202, json={"quota": {"loadbalancer": 9}})
    # reading: one's own project, or a global reader / quota admin
    for who in ("a_member", "a_reader", "b_member"):
        octavia_fault(world.call(who, "GET", url), 403)
    for who in ("quota_admin", "global_observer", "lb_admin", "admin", "q_member"):
        assert world.ok(who, "GET", url, 200)["quota"]["loadbalancer"] == 9, who
    world.ok("admin", "PUT", url, 202, json={"quota": {"loadbalancer": 1}})
    assert world.ok("q_member", "GET", url, 200)["quota"]["loadbalancer"] == 1
    first = world.lb("q_member", "public-subnet", name="q1")
    resp = world.call("q_member", "POST", LB_URL, json={"loadbalancer": {
        "vip_subnet_id": world.ids["public-subnet"]}})
    assert octavia_fault(resp, 403) == "Quota has been met for resources: Load Balancer"
    # an admin creating for Q counts against Q's quota too
    resp = world.call("admin", "POST", LB_URL, json={"loadbalancer": {
        "vip_subnet_id": world.ids["public-subnet"], "project_id": q}})
    octavia_fault(resp, 403)
    world.ok("quota_admin", "DELETE", url, 202)
    second = world.lb("q_member", "public-subnet", name="q2")
    for lb in (first, second):
        world.ok("q_member", "DELETE", f"{LB_URL}/{lb['id']}", 204)
    world.cloud.worker.drain()


# --- Neutron -------------------------------------------------------------------------


def test_non_shared_network_is_invisible_to_other_projects(world: World) -> None:
    net, sub = world.ids["a-net"], world.ids["a-subnet"]
    for url, kind in ((f"{NET}/networks/{net}", "Network"), (f"{NET}/subnets/{sub}",
                                                              "Subnet")):
        for method in ("GET", "PUT", "DELETE"):
            body = ({"network": {"name": "x"}} if kind == "Network" else
                    {"subnet": {"name": "x"}}) if method == "PUT" else None
            err = neutron_error(world.call("b_member", method, url, json=body), 404)
            assert err["type"] == f"{kind}NotFound", (method, url)
    nets = world.ok("b_member", "GET", f"{NET}/networks", 200)["networks"]
    assert {n["name"] for n in nets} == {"public"}
    subnets = world.ok("b_member", "GET", f"{NET}/subnets", 200)["subnets"]
    assert {s["id"] for s in subnets} == {world.ids["public-subnet"]}
    # the owner's readers see it; a subnet cannot be added to it by others
    assert world.ok("a_reader", "GET", f"{NET}/networks/{net}", 200)["network"]["name"] == (
        "a-net")
    resp = world.call("b_member", "POST", f"{NET}/subnets", json={"subnet": {
        "network_id": net, "cidr": "10.30.0.0/24", "ip_version": 4}})
    assert neutron_error(resp, 404)["type"] == "NetworkNotFound"
    admin_view = world.ok("admin", "GET", f"{NET}/networks", 200)["networks"]
    assert {"public", "a-net"} <= {n["name"] for n in admin_view}


def test_shared_network_is_usable_by_every_project(world: World) -> None:
    for who in ("b_member", "a_member", "q_member"):
        nets = world.ok(who, "GET", f"{NET}/networks?shared=true", 200)["networks"]
        assert [n["id"] for n in nets] == [world.ids["public"]], who
        sub = world.ok(who, "GET", f"{NET}/subnets/{world.ids['public-subnet']}", 200)
        assert sub["subnet"]["network_id"] == world.ids["public"]
    b_lb = world.ok("b_member", "GET", f"{LB_URL}/{world.ids['b-lb']}", 200)["loadbalancer"]
    assert b_lb["project_id"] == world.b
    assert b_lb["vip_subnet_id"] == world.ids["public-subnet"]
    assert b_lb["vip_network_id"] == world.ids["public"]
    # a port of B's own on the shared network
    port = world.ok("b_member", "POST", f"{NET}/ports", 201, json={"port": {
        "network_id": world.ids["public"], "name": "b-port"}})["port"]
    assert port["project_id"] == world.b
    neutron_error(world.call("a_member", "DELETE", f"{NET}/ports/{port['id']}"), 404)
    world.ok("b_member", "DELETE", f"{NET}/ports/{port['id']}", 204)


def test_only_owner_or_admin_changes_a_shared_network(world: World) -> None:
    net = world.ok("a_member", "POST", f"{NET}/networks", 201,
                   json={"network": {"name": "a-owned"}})["network"]
    sub = world.ok("a_member", "POST", f"{NET}/subnets", 201, json={"subnet": {
        "network_id": net["id"], "cidr": "10.40.0.0/24", "ip_version": 4}})["subnet"]
    world.ok("admin", "PUT", f"{NET}/networks/{net['id']}", 200,
             json={"network": {"shared": True}})
    for url, body in ((f"{NET}/networks/{net['id']}", {"network": {"name": "hijack"}}),
                      (f"{NET}/subnets/{sub['id']}", {"subnet": {"name": "hijack"}})):
        for who in ("b_member", "global_observer_member"):
            err = neutron_error(world.call(who, "PUT", url, json=body), 403)
            assert err["type"] == "PolicyNotAuthorized"
            neutron_error(world.call(who, "DELETE", url), 403)
    resp = world.call("b_member", "POST", f"{NET}/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.41.0.0/24", "ip_version": 4}})
    assert neutron_error(resp, 403)["type"] == "PolicyNotAuthorized"
    # the owner and admins may
    world.ok("a_member", "PUT", f"{NET}/subnets/{sub['id']}", 200,
             json={"subnet": {"name": "renamed"}})
    world.ok("a_member", "PUT", f"{NET}/networks/{net['id']}", 200,
             json={"network": {"name": "renamed"}})
    world.ok("admin", "PUT", f"{NET}/networks/{net['id']}", 200,
             json={"network": {"description": "by admin"}})
    world.ok("admin", "DELETE", f"{NET}/subnets/{sub['id']}", 204)
    world.ok("a_member", "DELETE", f"{NET}/networks/{net['id']}", 204)
    # the shared public network belongs to the admin project
    neutron_error(world.call("b_member", "DELETE", f"{NET}/networks/{world.ids['public']}"),
                  403)
    neutron_error(world.call("b_member", "DELETE",
                             f"{NET}/subnets/{world.ids['public-subnet']}"), 403)
    assert world.ok("b_member", "GET", f"{NET}/networks/{world.ids['public']}", 200)


@pytest.mark.parametrize("attrs", [
    {"shared": True},
    {"provider:network_type": "vlan"},
    {"provider:physical_network": "physnet2"},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet2",
     "provider:segmentation_id": 3000},
])
def test_shared_and_provider_attributes_need_admin(world: World, attrs: dict[str, Any]
                                                   ) -> None:
    resp = world.call("a_member", "POST", f"{NET}/networks",
                      json={"network": {"name": "p", **attrs}})
    err = neutron_error(resp, 403)
    assert err["type"] == "PolicyNotAuthorized"
    assert "disallowed by policy" in err["message"]
    assert not [n for n in world.ok("admin", "GET", f"{NET}/networks?name=p", 200)[
        "networks"]]


def test_shared_flag_changes_need_admin(world: World) -> None:
    net = world.ok("a_member", "POST", f"{NET}/networks", 201,
                   json={"network": {"name": "flags", "shared": False}})["network"]
    assert net["shared"] is False
    url = f"{NET}/networks/{net['id']}"
    vlan = world.ok("admin", "GET", url, 200)["network"]["provider:segmentation_id"]
    for body in ({"shared": True}, {"shared": False}, {"provider:segmentation_id": vlan}):
        err = neutron_error(world.call("a_member", "PUT", url, json={"network": body}), 403)
        assert err["type"] == "PolicyNotAuthorized", body
    shared = world.ok("admin", "PUT", url, 200, json={"network": {"shared": True}})
    assert shared["network"]["shared"] is True
    world.ok("a_member", "DELETE", url, 204)
    # admins create provider networks for any project
    made = world.ok("admin", "POST", f"{NET}/networks", 201, json={"network": {
        "name": "prov", "project_id": world.b, "provider:network_type": "vlan",
        "provider:physical_network": "physnet2", "provider:segmentation_id": 3001}})
    assert made["network"]["project_id"] == world.b
    assert world.ok("b_member", "GET", f"{NET}/networks/{made['network']['id']}", 200)
    world.ok("admin", "DELETE", f"{NET}/networks/{made['network']['id']}", 204)


def test_creating_networks_for_another_project_needs_admin(world: World) -> None:
    resp = world.call("b_member", "POST", f"{NET}/networks",
                      json={"network": {"name": "x", "project_id": world.a}})
    assert resp.status_code == 403, resp.text


def test_provider_attributes_are_shown_to_admins_only(world: World) -> None:
    """Neutron's policy: the physical plumbing of a network is an admin's business."""
    url = f"{NET}/networks/{world.ids['public']}"
    seen = world.ok("b_member", "GET", url, 200)["network"]
    assert not [k for k in seen if k.startswith("provider:")]
    listed = world.ok("b_member", "GET", f"{NET}/networks?shared=true", 200)["networks"]
    assert not [k for n in listed for k in n if k.startswith("provider:")]
    admin = world.ok("admin", "GET", url, 200)["network"]
    assert admin["provider:network_type"] == "flat"
    assert admin["provider:physical_network"] == "physnet1"


def test_quota_defaults_follow_octavias_read_quota_rule(world: World) -> None:
    """Octavia answers /quotas/defaults as the quota of a project named "defaults": a global
    reader or quota admin may read it, a project member may not; a project's own
    /quotas/{id}/default is readable by its members (read-quota on that project)."""
    for who in ("global_observer", "quota_admin", "lb_admin", "admin"):
        assert world.ok(who, "GET", f"{LBAAS}/quotas/defaults", 200)["quota"][
            "project_id"] == "defaults"
    for who in ("a_member", "a_reader", "b_member"):
        octavia_fault(world.call(who, "GET", f"{LBAAS}/quotas/defaults"), 403)
    own = world.ok("a_member", "GET", f"{LBAAS}/quotas/{world.a}/default", 200)["quota"]
    assert (own["project_id"], own["loadbalancer"]) == (world.a, -1)
    octavia_fault(world.call("b_member", "GET", f"{LBAAS}/quotas/{world.a}/default"), 403)


def test_concurrent_lists_of_two_projects_never_share(world: World) -> None:
    """Identical list requests waiting together share one read (api/coalesce.py); two
    projects' requests are never identical, however they interleave."""
    from concurrent.futures import ThreadPoolExecutor

    def listed(who: str) -> set[str]:
        return names(world.ok(who, "GET", LB_URL, 200))

    whos = ["a_member", "b_member", "a_reader", "b_reader"] * 15
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(listed, whos))
    for who, got in zip(whos, seen, strict=True):
        assert "a-lb" in got if who.startswith("a_") else "a-lb" not in got, (who, got)
        assert "b-lb" in got if who.startswith("b_") else "b-lb" not in got, (who, got)
