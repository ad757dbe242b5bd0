"""Floating IPs through a real `nslb serve`: a client on the external network's bridge
reaches a load balancer's VIP through its floating IP with real HTTP requests (the router
namespace DNATs, the LB answers through the router, which un-NATs); disassociating stops
it; deleting removes the router namespace, its nft rules and its veths. The router
survives kill -9 of nslb and is rebuilt when its namespace was deleted meanwhile, and a
router whose floating IP went while nslb was down is removed at the next start.

Every router a test makes is recorded; the module removes them through the API, then
directly, and asserts that no router namespace or veth of theirs is left.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nslb.floating.routers import NamespaceRouters
from nslb.netns.names import host_ifname
from nslb.netns.router import router_namespace
from tests.integration.api_env import NET, Api, http_lb, serving, url
from tests.integration.conftest import CREATED_PORTS, Lab, sh, wait_for

FIPS = f"{NET}/floatingips"
XFF = {"insert_headers": {"X-Forwarded-For": "true"}}


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str  # 10.250.40.0/24 on physnet1, gateway 10.250.40.1 (the router takes it)
    external: str  # external network, 10.250.41.0/24 on physnet2
    external_bridge: str
    routers: set[str] = field(default_factory=set)
    router_ports: set[str] = field(default_factory=set)

    def create_fip(self, **attrs: Any) -> dict[str, Any]:
        body = {"floatingip": {"floating_network_id": self.external, **attrs}}
        return self.remember(self.api.call("POST", FIPS, 201, body)["floatingip"])

    def update_fip(self, fip_id: str, **attrs: Any) -> dict[str, Any]:
        body = {"floatingip": attrs}
        return self.remember(self.api.call("PUT", f"{FIPS}/{fip_id}", 200, body)["floatingip"])

    def remember(self, fip: dict[str, Any]) -> dict[str, Any]:
        """Record the router (and its gateway port) for the leak check."""
        if fip["router_id"]:
            self.routers.add(fip["router_id"])
            CREATED_PORTS.add(fip["router_id"])  # the external veth is named after it
            for port in self.api.call("GET", f"{NET}/ports?device_id={fip['router_id']}",
                                      200)["ports"]:
                self.router_ports.add(port["id"])
                CREATED_PORTS.add(port["id"])
        return fip

    def wait_status(self, fip_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        def current() -> dict[str, Any] | None:
            fip: dict[str, Any] = self.api.call("GET", f"{FIPS}/{fip_id}", 200)["floatingip"]
            return fip if fip["status"] == status else None

        found = wait_for(current, timeout, 0.1)
        assert found, f"floating IP {fip_id} not {status}:\n{self.api.tail()}"
        return dict(found)

    def leftovers(self) -> list[str]:
        names = set(sh("ip", "netns", "list", check=False).split())
        links = sh("ip", "-o", "link", "show", check=False)
        out = [router_namespace(r) for r in self.routers if router_namespace(r) in names]
        out += [host_ifname(p) for p in self.routers | self.router_ports
                if f" {host_ifname(p)}:" in links or f" {host_ifname(p)}@" in links]
        return out


def _remove_everything(env: Env) -> list[str]:
    """Delete every floating IP through the API, wait for the routers to go, then remove
    whatever is left directly; returns what had to be removed by hand."""
    problems: list[str] = []
    try:
        if env.api.proc is None or env.api.proc.poll() is not None:
            env.api.start()
        for fip in env.api.call("GET", FIPS, 200)["floatingips"]:
            env.api.call("DELETE", f"{FIPS}/{fip['id']}", (204, 404))
        if not wait_for(lambda: not env.leftovers(), 20, 0.2):
            problems.append(f"not removed through the API: {env.leftovers()}")
    except Exception as exc:  # still remove directly below
        problems.append(f"API cleanup failed: {exc}")
    routers = NamespaceRouters(env.api.state_dir, env.api.physnets)
    for router_id in env.routers | routers.existing():
        routers.delete(router_id)
    return problems


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving(extra_bridges=("ex",)) as (api, lab):
        internal = api.network("it-fip-int", **{"provider:network_type": "flat",
                                                "provider:physical_network": "physnet1"})
        subnet = api.subnet(internal["id"], "10.250.40.0/24", gateway_ip="10.250.40.1",
                            allocation_pools=[{"start": "10.250.40.100",
                                               "end": "10.250.40.199"}])["id"]
        external = api.network("it-fip-ext", **{"provider:network_type": "flat",
                                                "provider:physical_network": "physnet2",
                                                "router:external": True})
        api.subnet(external["id"], "10.250.41.0/24", gateway_ip=None,
                   allocation_pools=[{"start": "10.250.41.100", "end": "10.250.41.150"}])
        the_env = Env(api, lab, subnet, external["id"], api.physnets["physnet2"])
        problems: list[str] = []
        try:
            yield the_env
        finally:
            problems = _remove_everything(the_env)
            left = the_env.leftovers()
        assert not left, f"floating IP routers left behind: {left}"
        assert not problems, problems


def _lb_with_client(env: Env, hosts: Lab) -> tuple[dict[str, Any], str]:
    """An HTTP LB on the internal subnet in front of be1, and a client namespace on the
    external bridge (it has no route to the internal subnet at all)."""
    hosts.serve(hosts.host("be1", ["10.250.40.21/24"]), "be1")
    client = hosts.host("cl", ["10.250.41.50/24"], bridge=env.external_bridge)
    lb = env.api.create_lb(http_lb(env.subnet, [{"address": "10.250.40.21"}], listener=XFF))
    return lb, client


def _answers(hosts: Lab, client: str, address: str, count: int = 3) -> list[dict]:
    return hosts.probe(client, url(address), count, timeout=1.0)


def _serves(hosts: Lab, client: str, address: str) -> bool:
    return all(a.get("name") == "be1" for a in _answers(hosts, client, address, 2))


def _nft_table(router_id: str) -> str:
    return sh("ip", "netns", "exec", router_namespace(router_id), "nft", "list", "table", "ip",
              "nslb_fip", check=False)


def test_floating_ip_reaches_the_vip_and_goes_with_it(env: Env, hosts: Lab) -> None:
    lb, client = _lb_with_client(env, hosts)
    vip = lb["vip_address"]
    assert "error" in _answers(hosts, client, vip, 1)[0]  # no way in without the NAT

    fip = env.create_fip(port_id=lb["vip_port_id"])
    assert (fip["fixed_ip_address"], fip["status"]) == (vip, "DOWN")
    env.wait_status(fip["id"], "ACTIVE")
    floating, router = fip["floating_ip_address"], fip["router_id"]
    answers = _answers(hosts, client, floating)
    assert [a.get("name") for a in answers] == ["be1"] * 3, answers
    # DNAT only: the LB sees the client's own address
    assert answers[0]["headers"]["x-forwarded-for"] == "10.250.41.50"
    rules = _nft_table(router)
    assert f"ip daddr {floating} dnat to {vip}" in rules
    assert f"ip saddr {vip} snat to {floating}" in rules

    env.update_fip(fip["id"], port_id=None)
    env.wait_status(fip["id"], "DOWN")
    assert wait_for(lambda: router_namespace(router) not in sh("ip", "netns", "list"), 20)
    assert "error" in _answers(hosts, client, floating, 1)[0]

    again = env.create_fip(port_id=lb["vip_port_id"])
    env.wait_status(again["id"], "ACTIVE")
    assert wait_for(lambda: _serves(hosts, client, again["floating_ip_address"]), 10)
    env.api.call("DELETE", f"{FIPS}/{again['id']}", 204)
    env.api.call("DELETE", f"{FIPS}/{fip['id']}", 204)
    gone = again["router_id"]
    assert wait_for(lambda: router_namespace(gone) not in sh("ip", "netns", "list"), 20)
    assert not env.leftovers()
    assert "error" in _answers(hosts, client, again["floating_ip_address"], 1)[0]
    ports = env.api.call("GET", f"{NET}/ports?device_owner=network:router_interface",
                         200)["ports"]
    assert ports == []  # the gateway address is released with the router


def test_router_is_rebuilt_after_kill9_and_cleaned_after_a_crash(env: Env,
                                                                 hosts: Lab) -> None:
    lb, client = _lb_with_client(env, hosts)
    fip = env.create_fip(port_id=lb["vip_port_id"])
    env.wait_status(fip["id"], "ACTIVE")
    floating, router = fip["floating_ip_address"], fip["router_id"]
    assert wait_for(lambda: _serves(hosts, client, floating), 10)

    env.api.kill9()  # the router forwards without nslb
    assert _serves(hosts, client, floating)
    sh("ip", "netns", "del", router_namespace(router))
    assert "error" in _answers(hosts, client, floating, 1)[0]
    env.api.start()
    assert wait_for(lambda: _serves(hosts, client, floating), 30), env.api.tail()

    # nslb dies, and the association is gone when it comes back (as if it was killed
    # between committing a disassociation and removing the router)
    env.api.kill9()
    with sqlite3.connect(env.api.state_dir / "nslb.db") as db:
        db.execute("UPDATE floating_ip SET fixed_port_id = NULL, fixed_ip_address = NULL, "
                   "router_id = NULL, status = 'DOWN' WHERE id = ?", (fip["id"],))
    started = time.monotonic()
    env.api.start()
    assert wait_for(lambda: router_namespace(router) not in sh("ip", "netns", "list"), 30)
    assert wait_for(lambda: not (env.api.state_dir / "routers" / router).exists(), 10)
    assert time.monotonic() - started < 30
    assert "error" in _answers(hosts, client, floating, 1)[0]
    env.api.call("DELETE", f"{FIPS}/{fip['id']}", 204)


def test_deleting_the_load_balancer_disassociates_its_floating_ip(env: Env,
                                                                  hosts: Lab) -> None:
    """As Neutron does when a port goes: the floating IP stays, unassociated, and the
    router it needed is removed (the LB deletion releases the VIP port in the worker)."""
    lb, _ = _lb_with_client(env, hosts)
    fip = env.create_fip(port_id=lb["vip_port_id"])
    env.wait_status(fip["id"], "ACTIVE")
    env.api.delete_lb(lb["id"])
    after = env.wait_status(fip["id"], "DOWN")
    assert (after["port_id"], after["router_id"]) == (None, None)
    router = fip["router_id"]
    assert wait_for(lambda: router_namespace(router) not in sh("ip", "netns", "list"), 20)
    env.api.call("DELETE", f"{FIPS}/{fip['id']}", 204)
