"""The router spec built from database rows (pure): ports, prefixes, the default route,
rule order, and rows that cannot make a router."""

from __future__ import annotations

import dataclasses

import pytest

from nslb.floating.spec import RouterRows, Unbuildable, router_spec
from nslb.model.resources import FloatingIP, FloatingRouter, Network, Port, Subnet

EXT_NET = Network(id="e0000000-0000-4000-8000-000000000000", network_type="flat",
                  physical_network="physnet2", mtu=1500)
INT_NET = Network(id="10000000-0000-4000-8000-000000000000", network_type="vlan",
                  physical_network="physnet1", segmentation_id=7, mtu=1450)
EXT_A = Subnet(id="5a000000-0000-4000-8000-000000000000", network_id=EXT_NET.id,
               cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
EXT_B = Subnet(id="5b000000-0000-4000-8000-000000000000", network_id=EXT_NET.id,
               cidr="198.51.100.0/25", gateway_ip=None)
INT = Subnet(id="51000000-0000-4000-8000-000000000000", network_id=INT_NET.id,
             cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
GATEWAY_PORT = Port(id="90000000-0000-4000-8000-000000000000", network_id=INT_NET.id,
                    mac_address="fa:16:3e:00:00:01",
                    fixed_ips=[{"subnet_id": INT.id, "ip_address": "10.0.0.1"}])
ROUTER = FloatingRouter(id="70000000-0000-4000-8000-000000000000", subnet_id=INT.id,
                        network_id=INT_NET.id, port_id=GATEWAY_PORT.id,
                        external_network_id=EXT_NET.id)


def fip(address: str, fixed: str, subnet: Subnet) -> FloatingIP:
    return FloatingIP(floating_ip_address=address, fixed_ip_address=fixed,
                      floating_subnet_id=subnet.id, floating_network_id=EXT_NET.id,
                      router_id=ROUTER.id)


def rows(**changes: object) -> RouterRows:
    base = RouterRows(router=ROUTER, port=GATEWAY_PORT, subnet=INT, network=INT_NET,
                      external=EXT_NET,
                      floating=[(fip("203.0.113.20", "10.0.0.6", EXT_A), EXT_A),
                                (fip("198.51.100.5", "10.0.0.5", EXT_B), EXT_B)])
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_ports_carry_the_segments_prefixes_and_default_route() -> None:
    spec = router_spec(rows())
    assert spec.router_id == ROUTER.id
    assert spec.internal.port_id == GATEWAY_PORT.id and spec.internal.mac == "fa:16:3e:00:00:01"
    assert spec.internal.addresses == ("10.0.0.1/24",) and spec.internal.gateway is None
    assert (spec.internal.physical_network, spec.internal.segmentation_id,
            spec.internal.mtu) == ("physnet1", 7, 1450)
    assert spec.external.port_id == ROUTER.id
    assert spec.external.addresses == ("198.51.100.5/25", "203.0.113.20/24")
    assert spec.external.gateway == "203.0.113.1"  # the only external gateway
    assert [(r.floating, r.fixed) for r in spec.rules] == [("198.51.100.5", "10.0.0.5"),
                                                          ("203.0.113.20", "10.0.0.6")]


def test_the_hash_follows_the_content_not_the_row_order() -> None:
    base = rows()
    swapped = rows(floating=list(reversed(base.floating)))
    assert router_spec(swapped).hash == router_spec(base).hash
    fewer = rows(floating=list(base.floating[:1]))
    assert router_spec(fewer).hash != router_spec(base).hash


@pytest.mark.parametrize("changes", [
    {"port": None}, {"subnet": None}, {"network": None}, {"external": None},
    {"floating": [(fip("203.0.113.20", "10.0.0.6", EXT_A), None)]},
])
def test_rows_that_cannot_make_a_router(changes: dict[str, object]) -> None:
    with pytest.raises(Unbuildable):
        router_spec(rows(**changes))
