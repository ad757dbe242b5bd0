"""nftables rules of floating IP routers: golden files, each checked by `nft -c -f`, and
the guard that refuses values outside their grammar (nft parses them as root)."""

from __future__ import annotations

import dataclasses

import pytest

from nslb.model.bundle import NetworkPort
from nslb.model.router import NatRule, RouterSpec
from nslb.render.nftables import render_nftables
from nslb.render.values import UnsafeValue
from tests.unit.golden import GOLDEN, assert_golden, assert_nft_accepts, needs_nft

GOLDEN_DIR = GOLDEN / "nftables"
ROUTER = "4d1c2b3a-0000-4000-8000-00000000f1f1"
EXTERNAL = NetworkPort(port_id=ROUTER, physical_network="physnet2", network_type="flat",
                       segmentation_id=None, mtu=1500, mac="",
                       addresses=("203.0.113.10/24", "203.0.113.11/24"), gateway="203.0.113.1")
INTERNAL = NetworkPort(port_id="9a8b7c6d-1111-4222-8333-444455556666",
                       physical_network="physnet1", network_type="vlan", segmentation_id=100,
                       mtu=1500, mac="fa:16:3e:00:00:01", addresses=("10.0.0.1/24",))
FIP1 = "11111111-2222-4333-8444-555555555555"
FIP2 = "66666666-7777-4888-8999-aaaaaaaaaaaa"


def spec(*rules: NatRule) -> RouterSpec:
    return RouterSpec(router_id=ROUTER, external=EXTERNAL, internal=INTERNAL, rules=rules)


CASES = {
    "one": spec(NatRule(FIP1, "203.0.113.10", "10.0.0.5")),
    "two": spec(NatRule(FIP1, "203.0.113.10", "10.0.0.5"),
                NatRule(FIP2, "203.0.113.11", "10.0.0.6")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_golden(name: str) -> None:
    assert_golden(render_nftables(CASES[name]), GOLDEN_DIR / f"{name}.nft")


@needs_nft
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_is_valid_for_nft(name: str) -> None:
    """`nft -c` runs the whole transaction in the kernel and aborts it: nothing changes."""
    assert_nft_accepts(GOLDEN_DIR / f"{name}.nft")


def test_each_floating_address_is_dnated_and_snated_on_the_external_interface() -> None:
    text = render_nftables(CASES["two"])
    external, internal = "nsv4d1c2b3a000", "nsv9a8b7c6d111"
    assert f'iifname "{external}" ip daddr 203.0.113.10 dnat to 10.0.0.5' in text
    assert f'oifname "{external}" ip saddr 10.0.0.6 snat to 203.0.113.11' in text
    assert f'iifname "{internal}" oifname "{external}" ip saddr 10.0.0.5 accept' in text
    assert "policy drop" in text


@pytest.mark.parametrize(("field", "value"), [
    ("floating", "203.0.113.10%eth0"), ("floating", "203.0.113.10\n}"), ("fixed", "fd00::5"),
    ("fixed", "010.0.0.5"), ("floating", " 203.0.113.10"), ("fixed", "10.0.0.5 accept"),
])
def test_addresses_outside_their_grammar_are_refused(field: str, value: str) -> None:
    rule = dataclasses.replace(NatRule(FIP1, "203.0.113.10", "10.0.0.5"), **{field: value})
    with pytest.raises(UnsafeValue):
        render_nftables(spec(rule))


@pytest.mark.parametrize("where", ["router_id", "external", "internal"])
def test_ids_outside_the_uuid_grammar_are_refused(where: str) -> None:
    bad = 'x" accept\ntable ip evil {'
    rule = NatRule(FIP1, "203.0.113.10", "10.0.0.5")
    if where == "router_id":
        broken = dataclasses.replace(spec(rule), router_id=bad)
    else:
        port = dataclasses.replace(getattr(spec(rule), where), port_id=bad)
        broken = dataclasses.replace(spec(rule), **{where: port})
    with pytest.raises(UnsafeValue):
        render_nftables(broken)


def test_one_floating_address_for_two_fixed_addresses_is_refused() -> None:
    with pytest.raises(UnsafeValue, match="two rules"):
        render_nftables(spec(NatRule(FIP1, "203.0.113.10", "10.0.0.5"),
                             NatRule(FIP2, "203.0.113.10", "10.0.0.6")))
