"""Subnet validation and address selection, IPv4 and IPv6."""

from __future__ import annotations

import time

import pytest

from nslb.model.ipam import (
    AddressOutsideSubnet,
    InvalidSubnet,
    IpamError,
    NoFreeAddress,
    check_address,
    next_free,
    overlaps,
    plan_subnet,
)


def test_v4_defaults_gateway_first_host_and_pool_is_the_rest() -> None:
    plan = plan_subnet("10.0.0.0/24", 4)
    assert plan.cidr == "10.0.0.0/24"
    assert plan.ip_version == 4
    assert plan.gateway_ip == "10.0.0.1"
    assert plan.allocation_pools == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


def test_v4_host_bits_rejected_with_recommendation() -> None:
    with pytest.raises(InvalidSubnet, match="'10.0.0.0/24' is recommended"):
        plan_subnet("10.0.0.1/24", 4)


@pytest.mark.parametrize("cidr", ["banana", "10.0.0.0/33", "", "10.0.0.0/x"])
def test_garbage_cidr_rejected(cidr: str) -> None:
    with pytest.raises(InvalidSubnet):
        plan_subnet(cidr)


def test_cidr_without_prefix_is_not_accepted() -> None:
    with pytest.raises(InvalidSubnet, match="'10.0.0.0/32' is recommended"):
        plan_subnet("10.0.0.0")


@pytest.mark.parametrize(("cidr", "version"), [("10.0.0.0/24", 6), ("2001:db8::/64", 4)])
def test_ip_version_must_match(cidr: str, version: int) -> None:
    with pytest.raises(InvalidSubnet, match="incompatible"):
        plan_subnet(cidr, version)


def test_ip_version_inferred_when_omitted() -> None:
    assert plan_subnet("2001:db8::/64").ip_version == 6


def test_gateway_in_the_middle_splits_default_pool() -> None:
    plan = plan_subnet("192.168.1.0/28", 4, gateway_ip="192.168.1.5")
    assert plan.gateway_ip == "192.168.1.5"
    assert plan.allocation_pools == [{"start": "192.168.1.1", "end": "192.168.1.4"},
                                     {"start": "192.168.1.6", "end": "192.168.1.14"}]


def test_gateway_last_host() -> None:
    plan = plan_subnet("192.168.1.0/29", 4, gateway_ip="192.168.1.6")
    assert plan.allocation_pools == [{"start": "192.168.1.1", "end": "192.168.1.5"}]


def test_null_gateway_means_no_gateway_and_whole_range() -> None:
    plan = plan_subnet("10.1.0.0/29", 4, gateway_ip=None)
    assert plan.gateway_ip is None
    assert plan.allocation_pools == [{"start": "10.1.0.1", "end": "10.1.0.6"}]


@pytest.mark.parametrize("gateway", ["10.9.0.1", "10.0.0.0", "10.0.0.255", "2001:db8::1", "x"])
def test_gateway_outside_or_not_a_host_rejected(gateway: str) -> None:
    with pytest.raises(IpamError):
        plan_subnet("10.0.0.0/24", 4, gateway_ip=gateway)


def test_explicit_pools_normalised_and_sorted() -> None:
    plan = plan_subnet("10.0.0.0/24", 4, allocation_pools=[
        {"start": "10.0.0.100", "end": "10.0.0.110"},
        {"start": "10.0.0.10", "end": "10.0.0.20"}])
    assert plan.allocation_pools == [{"start": "10.0.0.10", "end": "10.0.0.20"},
                                     {"start": "10.0.0.100", "end": "10.0.0.110"}]


@pytest.mark.parametrize("pool", [
    {"start": "10.0.1.1", "end": "10.0.1.5"},      # outside
    {"start": "10.0.0.200", "end": "10.0.1.5"},    # spills over
    {"start": "10.0.0.0", "end": "10.0.0.5"},      # network address
    {"start": "10.0.0.250", "end": "10.0.0.255"},  # broadcast
    {"start": "10.0.0.9", "end": "10.0.0.5"},      # reversed
    {"start": "10.0.0.9"},                         # no end
    {"start": "2001:db8::1", "end": "2001:db8::5"},
])
def test_bad_pools_rejected(pool: dict[str, str]) -> None:
    with pytest.raises(InvalidSubnet):
        plan_subnet("10.0.0.0/24", 4, allocation_pools=[pool])


def test_overlapping_pools_rejected() -> None:
    with pytest.raises(InvalidSubnet, match="overlapping"):
        plan_subnet("10.0.0.0/24", 4, allocation_pools=[
            {"start": "10.0.0.10", "end": "10.0.0.20"},
            {"start": "10.0.0.20", "end": "10.0.0.30"}])


def test_pool_containing_gateway_rejected() -> None:
    with pytest.raises(InvalidSubnet, match="Gateway ip 10.0.0.1 conflicts"):
        plan_subnet("10.0.0.0/24", 4, allocation_pools=[
            {"start": "10.0.0.1", "end": "10.0.0.20"}])


def test_explicit_pool_without_gateway_may_start_at_first_host() -> None:
    plan = plan_subnet("10.0.0.0/24", 4, gateway_ip=None, allocation_pools=[
        {"start": "10.0.0.1", "end": "10.0.0.20"}])
    assert plan.allocation_pools == [{"start": "10.0.0.1", "end": "10.0.0.20"}]


def test_v6_defaults() -> None:
    plan = plan_subnet("2001:DB8::/64", 6)
    assert plan.cidr == "2001:db8::/64"
    assert plan.gateway_ip == "2001:db8::1"
    assert plan.allocation_pools == [
        {"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}]


def test_v6_gateway_elsewhere_pool_starts_at_first_host() -> None:
    plan = plan_subnet("fd00::/120", 6, gateway_ip="fd00::ff")
    assert plan.allocation_pools == [{"start": "fd00::1", "end": "fd00::fe"}]


def test_v6_subnet_router_anycast_is_not_a_gateway() -> None:
    with pytest.raises(InvalidSubnet):
        plan_subnet("fd00::/64", 6, gateway_ip="fd00::")


def test_point_to_point_v4_uses_both_addresses() -> None:
    plan = plan_subnet("10.0.0.0/31", 4, gateway_ip=None)
    assert plan.allocation_pools == [{"start": "10.0.0.0", "end": "10.0.0.1"}]


def test_next_free_takes_lowest_unused_in_pool_order() -> None:
    pools = [{"start": "10.0.0.10", "end": "10.0.0.12"},
             {"start": "10.0.0.2", "end": "10.0.0.3"}]
    assert next_free("10.0.0.0/24", pools, set()) == "10.0.0.10"
    assert next_free("10.0.0.0/24", pools, {"10.0.0.10"}) == "10.0.0.11"
    assert next_free("10.0.0.0/24", pools, {"10.0.0.10", "10.0.0.11", "10.0.0.12"}) \
        == "10.0.0.2"
    assert next_free("10.0.0.0/24", pools, {"10.0.0.10"}, exclude={"10.0.0.11"}) \
        == "10.0.0.12"


def test_next_free_ignores_used_addresses_outside_pools() -> None:
    pools = [{"start": "10.0.0.2", "end": "10.0.0.3"}]
    assert next_free("10.0.0.0/24", pools, {"10.0.0.200"}) == "10.0.0.2"


def test_exhaustion_raises_no_free_address() -> None:
    plan = plan_subnet("10.0.0.0/30", 4)
    assert plan.allocation_pools == [{"start": "10.0.0.2", "end": "10.0.0.2"}]
    first = next_free(plan.cidr, plan.allocation_pools, set())
    with pytest.raises(NoFreeAddress):
        next_free(plan.cidr, plan.allocation_pools, {first})


def test_next_free_v6_compares_canonical_addresses() -> None:
    plan = plan_subnet("2001:db8::/64", 6)
    assert next_free(plan.cidr, plan.allocation_pools, {"2001:DB8:0::2"}) == "2001:db8::3"


def test_big_v6_subnet_is_fast() -> None:
    plan = plan_subnet("2001:db8::/48", 6)
    used = {f"2001:db8::{i:x}" for i in range(2, 2002)}
    started = time.perf_counter()
    assert next_free(plan.cidr, plan.allocation_pools, used) == "2001:db8::7d2"
    # a /48 has 2**80 addresses: anything that materialised the range would never return
    assert time.perf_counter() - started < 1.0


def test_check_address_canonicalises_and_bounds() -> None:
    assert check_address("2001:db8::/64", "2001:DB8:0:0::10") == "2001:db8::10"
    assert check_address("10.0.0.0/24", "10.0.0.1") == "10.0.0.1"  # gateway/out of pool ok
    for bad in ("10.0.1.1", "10.0.0.0", "10.0.0.255", "2001:db8::1"):
        with pytest.raises(AddressOutsideSubnet):
            check_address("10.0.0.0/24", bad)
    with pytest.raises(IpamError):
        check_address("10.0.0.0/24", "not-an-ip")


def test_overlaps_finds_same_family_overlap_only() -> None:
    assert overlaps("10.0.0.0/16", ["2001:db8::/64", "10.0.5.0/24"]) == "10.0.5.0/24"
    assert overlaps("10.1.0.0/16", ["10.0.0.0/16"]) is None


@pytest.mark.parametrize("spelling", ["fd88::1:77", "FD88:0::1:77", "fd88:0:0:0:0:0:1:77",
                                      "FD88::0001:0077"])
def test_every_spelling_of_an_address_is_one_value(spelling: str) -> None:
    """Allocations are unique by (subnet, text): the text must be the canonical one
    (probe F13: `fd88::1:77` and `fd88::1:77%x` were both allocated)."""
    assert check_address("fd88::/64", spelling) == "fd88::1:77"
    with pytest.raises(NoFreeAddress):  # a used spelling blocks the value
        next_free("fd88::/64", [{"start": "fd88::1:77", "end": "fd88::1:77"}], {spelling})


@pytest.mark.parametrize("scoped", ["fd88::1:77%x", "fd88::1:77%", "fe80::1%lo]:80\n#",
                                    "fd88::1:77%25eth0", " fd88::1:77", "fd88::1:77\n"])
def test_scoped_or_padded_addresses_are_refused(scoped: str) -> None:
    with pytest.raises(IpamError) as caught:
        check_address("fd88::/64", scoped)
    assert not isinstance(caught.value, AddressOutsideSubnet | NoFreeAddress)
    assert len(caught.value.message) < 100
