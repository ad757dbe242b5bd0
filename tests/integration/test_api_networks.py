"""Networks through a real `nslb serve`: VLAN isolation, IPv6 VIPs, members on another network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nslb.netns.names import host_ifname
from tests.integration.api_env import Api, flat_subnet, http_lb, serving, url
from tests.integration.conftest import Lab, sh


@dataclass
class Env:
    api: Api
    lab: Lab
    v4: str  # 10.250.12.0/24 on the flat network of physnet1
    v6: str  # fd00:250:12::/64 on the same network
    other: str  # 10.250.14.0/24 on the flat network of physnet2


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving(extra_bridges=("b2",)) as (api, lab):
        v4 = flat_subnet(api, "physnet1", "10.250.12.0/24", "10.250.12.100", "10.250.12.199")
        network = api.call("GET", f"/networking/v2.0/subnets/{v4}", 200)["subnet"]["network_id"]
        v6 = api.subnet(network, "fd00:250:12::/64", gateway_ip=None, allocation_pools=[
            {"start": "fd00:250:12::100", "end": "fd00:250:12::1ff"}])["id"]
        other = flat_subnet(api, "physnet2", "10.250.14.0/24", "10.250.14.100",
                            "10.250.14.199")
        yield Env(api, lab, v4, v6, other)


def test_vlan_client_on_another_segment_cannot_reach_the_vip(env: Env, hosts: Lab) -> None:
    api = env.api
    net = api.network("it-vlan100", **{"provider:network_type": "vlan",
                                       "provider:physical_network": "physnet1",
                                       "provider:segmentation_id": 100})
    subnet = api.subnet(net["id"], "10.250.13.0/24", gateway_ip=None,
                        allocation_pools=[{"start": "10.250.13.100", "end": "10.250.13.199"}])
    lb = api.create_lb(http_lb(subnet["id"], [{"address": "10.250.13.21"}]))
    seg100 = hosts.segment(100, env.lab.bridge)
    seg200 = hosts.segment(200, env.lab.bridge)
    hosts.serve(hosts.host("be1", ["10.250.13.21/24"], bridge=seg100), "be1")
    inside = hosts.host("cl", ["10.250.13.50/24"], bridge=seg100)
    outside = hosts.host("cx", ["10.250.13.51/24"], bridge=seg200)
    untagged = hosts.host("cu", ["10.250.13.52/24"])  # on the physnet bridge itself
    vip = url(lb["vip_address"])
    assert hosts.names(inside, vip, 2) == ["be1", "be1"]
    for other in (outside, untagged):
        answers = hosts.probe(other, vip, 1, timeout=1.0)
        assert "error" in answers[0], answers


def test_ipv6_vip_to_ipv6_member(env: Env, hosts: Lab) -> None:
    hosts.serve(hosts.host("be1", ["fd00:250:12::21/64"]), "be1")
    client = hosts.host("cl", ["fd00:250:12::50/64"])
    lb = env.api.create_lb(http_lb(env.v6, [{"address": "fd00:250:12::21"}],
                                   listener={"insert_headers": {"X-Forwarded-For": "true"}}))
    assert lb["vip_address"].startswith("fd00:250:12::")
    answers = hosts.probe(client, url(lb["vip_address"]), 3)
    assert [a.get("name") for a in answers] == ["be1"] * 3, answers
    assert answers[0]["headers"]["x-forwarded-for"] == "fd00:250:12::50"


def test_ipv6_vip_to_ipv4_member_on_its_subnet(env: Env, hosts: Lab) -> None:
    hosts.serve(hosts.host("be1", ["10.250.12.21/24"]), "be1")
    client = hosts.host("cl", ["fd00:250:12::50/64"])
    lb = env.api.create_lb(http_lb(env.v6, []))
    env.api.change(lb["id"], "POST", f"/v2/lbaas/pools/{env.api.pool_id(lb['id'])}/members",
                   {"member": {"address": "10.250.12.21", "protocol_port": 8080,
                               "subnet_id": env.v4}})
    answers = hosts.probe(client, url(lb["vip_address"]), 3)
    assert [a.get("name") for a in answers] == ["be1"] * 3, answers


def test_single_call_create_with_a_member_on_another_subnet(env: Env, hosts: Lab) -> None:
    hosts.serve(hosts.host("be1", ["10.250.12.21/24"]), "be1")
    client = hosts.host("cl", ["fd00:250:12::50/64"])
    lb = env.api.create_lb(http_lb(env.v6, [{"address": "10.250.12.21",
                                             "subnet_id": env.v4}]))
    answers = hosts.probe(client, url(lb["vip_address"]), 3)
    assert [a.get("name") for a in answers] == ["be1"] * 3, answers


def test_member_on_a_second_network_gets_its_own_port(env: Env, hosts: Lab) -> None:
    api = env.api
    hosts.serve(hosts.host("be1", ["10.250.12.21/24"]), "be1")
    far_bridge = api.physnets["physnet2"]
    hosts.serve(hosts.host("be2", ["10.250.14.21/24"], bridge=far_bridge), "be2")
    client = hosts.host("cl", ["10.250.12.50/24"])
    lb = api.create_lb(http_lb(env.v4, [{"address": "10.250.12.21"}]))
    pool = api.pool_id(lb["id"])
    api.change(lb["id"], "POST", f"/v2/lbaas/pools/{pool}/members",
               {"member": {"address": "10.250.14.21", "protocol_port": 8080,
                           "subnet_id": env.other}})
    ports = api.call("GET", "/networking/v2.0/ports", 200)["ports"]
    mine = [p for p in ports if lb["id"] in p["device_id"]]
    on_other = [p for p in mine if p["fixed_ips"][0]["subnet_id"] == env.other]
    assert len(mine) == 2 and len(on_other) == 1, mine
    # the LB's second port is plugged into the bridge of physnet2
    assert host_ifname(on_other[0]["id"]) in sh("ip", "-o", "link", "show", "master",
                                                 far_bridge)
    names = hosts.names(client, url(lb["vip_address"]), 6)
    assert sorted(names) == ["be1"] * 3 + ["be2"] * 3, names
