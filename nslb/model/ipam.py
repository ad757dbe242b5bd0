"""IP address management for the network registry: pure functions over `ipaddress`.

Subnets are validated the way Neutron validates them, so a definition that Neutron would
refuse is refused here too, with Neutron's wording where clients or users may see it.
Allocation walks the pools with integer arithmetic and a set of used addresses, so a /64
costs no more than a /30: nothing is ever materialised beyond the addresses in use.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from nslb.model import addresses

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class IpamError(ValueError):
    """A subnet or address request that cannot be honoured; `message` is user-facing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSubnet(IpamError):
    """The subnet definition itself is wrong (HTTP 400)."""


class AddressOutsideSubnet(IpamError):
    """An explicit address is not a usable address of the subnet (HTTP 400)."""


class AddressInUse(IpamError):
    """An explicit address is already allocated (HTTP 409)."""


class NoFreeAddress(IpamError):
    """The pools are exhausted (HTTP 409, Neutron's IpAddressGenerationFailure)."""


class GatewayAddress(IpamError):
    """A non-admin asked for the subnet's gateway address (HTTP 403): a port holding it
    would answer ARP/ND for the router of everyone on the network (probe F3)."""


class Default(enum.Enum):
    """Marks an omitted gateway_ip, which differs from an explicit null (no gateway)."""

    AUTO = "auto"


@dataclass(frozen=True)
class Pool:
    """An inclusive address range, kept as integers for cheap arithmetic."""

    first: int
    last: int

    def as_dict(self, version: int) -> dict[str, str]:
        return {"start": str(_addr(self.first, version)), "end": str(_addr(self.last, version))}


@dataclass(frozen=True)
class SubnetPlan:
    """A validated subnet: normalised cidr, gateway and allocation pools."""

    cidr: str
    ip_version: int
    gateway_ip: str | None
    allocation_pools: list[dict[str, str]]


def _addr(value: int, version: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def parse_cidr(cidr: str, ip_version: int | None = None) -> IPNetwork:
    """The network of `cidr`; host bits must be zero (Neutron rejects 10.0.0.1/24)."""
    try:
        net = addresses.parse_network(cidr)
    except addresses.AddressError:
        raise InvalidSubnet(f"'{_short(cidr)}' is not a valid IP subnet.") from None
    if "/" not in str(cidr) or str(net) != _canonical(str(cidr), net):
        raise InvalidSubnet(f"'{cidr}' isn't a recognized IP subnet cidr, "
                            f"'{net}' is recommended")
    if ip_version is not None and net.version != ip_version:
        raise InvalidSubnet("Invalid input for operation: "
                            "Cidr and IP version are incompatible.")
    return net


def _canonical(text: str, net: IPNetwork) -> str:
    """`text` re-spelled canonically, or '' when it has host bits set."""
    addr, _, prefix = text.partition("/")
    try:
        same_addr = ipaddress.ip_address(addr) == net.network_address
    except ValueError:
        return ""
    return str(net) if same_addr and prefix.isdigit() else ""


def parse_address(address: str) -> IPAddress:
    """A plain address (no IPv6 scope id: see nslb.model.addresses)."""
    try:
        return addresses.parse_ip(address)
    except addresses.AddressError:
        raise IpamError(f"'{_short(address)}' is not a valid IP address.") from None


def _value(address: str) -> int:
    """parse_address(address) as an integer (kept per spelling: see nslb.model.addresses)."""
    try:
        return addresses.ip_value(address)
    except addresses.AddressError:
        raise IpamError(f"'{_short(address)}' is not a valid IP address.") from None


def _short(value: object, limit: int = 64) -> str:
    """A user's value quoted back in a message, cut so a huge input is never echoed."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."



def _usable_bounds(net: IPNetwork) -> tuple[int, int]:
    """First and last host address: IPv4 skips network and broadcast, IPv6 skips the
    subnet-router anycast address; point-to-point prefixes use every address."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, last
    return first, last


def _check_gateway(net: IPNetwork, gateway: str) -> IPAddress:
    gw = parse_address(gateway)
    first, last = _usable_bounds(net)
    if gw.version != net.version or not first <= int(gw) <= last:
        raise InvalidSubnet(f"Invalid input for operation: Gateway IP {gateway} is not a "
                            f"valid host address of subnet {net}.")
    return gw


def _default_pools(net: IPNetwork, gateway: IPAddress | None) -> list[Pool]:
    """The whole usable range minus the gateway (which may split it in two)."""
    first, last = _usable_bounds(net)
    if gateway is None:
        return [Pool(first, last)]
    gw = int(gateway)
    return [p for p in (Pool(first, gw - 1), Pool(gw + 1, last)) if p.first <= p.last]


def _parse_pool(net: IPNetwork, raw: dict[str, str]) -> Pool:
    try:
        start, end = parse_address(raw["start"]), parse_address(raw["end"])
    except (KeyError, TypeError, IpamError):
        raise InvalidSubnet(f"Invalid input for operation: "
                            f"Invalid allocation pool {_short(raw)}.") from None
    lo, hi = int(start), int(end)
    if lo > hi:
        raise InvalidSubnet(f"Invalid input for operation: Start IP ({start}) is greater "
                            f"than end IP ({end}).")
    first, last = _usable_bounds(net)
    if start.version != net.version or end.version != net.version or lo < first or hi > last:
        raise InvalidSubnet(f"The allocation pool {start}-{end} spans beyond the subnet "
                            f"cidr {net}.")
    return Pool(lo, hi)


def _explicit_pools(net: IPNetwork, raws: Iterable[dict[str, str]],
                    gateway: IPAddress | None) -> list[Pool]:
    pools = sorted((_parse_pool(net, raw) for raw in raws), key=lambda p: p.first)
    for prev, cur in zip(pools, pools[1:], strict=False):
        if cur.first <= prev.last:
            raise InvalidSubnet(
                f"Found overlapping allocation pools: {prev.as_dict(net.version)} and "
                f"{cur.as_dict(net.version)} for subnet {net}.")
    if gateway is not None:
        for pool in pools:
            if pool.first <= int(gateway) <= pool.last:
                raise InvalidSubnet(f"Gateway ip {gateway} conflicts with allocation pool "
                                    f"{_range_text(pool, net.version)}")
    return pools


def _range_text(pool: Pool, version: int) -> str:
    return f"{_addr(pool.first, version)}-{_addr(pool.last, version)}"


def plan_subnet(cidr: str, ip_version: int | None = None,
                gateway_ip: str | None | Literal[Default.AUTO] = Default.AUTO,
                allocation_pools: Iterable[dict[str, str]] | None = None) -> SubnetPlan:
    """Validate a subnet definition and fill in Neutron's defaults.

    An omitted gateway is the first host; `None` means no gateway. Omitted pools cover
    every usable address but the gateway. Raises InvalidSubnet.
    """
    net = parse_cidr(cidr, ip_version)
    if gateway_ip is Default.AUTO:
        first, last = _usable_bounds(net)
        gateway = _addr(first, net.version) if first < last else None
    else:
        gateway = None if gateway_ip is None else _check_gateway(net, gateway_ip)
    pools = (_default_pools(net, gateway) if allocation_pools is None
             else _explicit_pools(net, allocation_pools, gateway))
    return SubnetPlan(cidr=str(net), ip_version=net.version,
                      gateway_ip=None if gateway is None else str(gateway),
                      allocation_pools=[p.as_dict(net.version) for p in pools])


def check_address(cidr: str, address: str) -> str:
    """The canonical spelling of `address` if it is a usable host address of `cidr`.

    Canonical spelling matters: allocations are unique by (subnet, address) text, so the
    text must stand for the value (`FD88:0::1:77` is stored as `fd88::1:77`; a scope id,
    `fd88::1:77%x`, is refused by the strict parser).
    """
    net = parse_cidr(cidr)
    ip = parse_address(address)
    first, last = _usable_bounds(net)
    if ip.version != net.version or not first <= int(ip) <= last:
        raise AddressOutsideSubnet(f"IP address {address} is not a valid IP for the "
                                   f"specified subnet.")
    return str(ip)


def next_free(cidr: str, allocation_pools: Iterable[dict[str, str]],
              used: Collection[str], exclude: Collection[str] = ()) -> str:
    """The lowest address of the pools (in pool order) not in `used` or `exclude`.

    Costs O(len(used)) whatever the subnet size. Raises NoFreeAddress.
    """
    net = parse_cidr(cidr)
    taken = {_value(a) for a in (*used, *exclude)}
    for raw in allocation_pools:
        pool = _parse_pool(net, raw)
        candidate = pool.first
        while candidate <= pool.last:
            if candidate not in taken:
                return str(_addr(candidate, net.version))
            candidate += 1
    raise NoFreeAddress(f"No more IP addresses available on subnet {net}.")


def overlaps(cidr: str, others: Iterable[str]) -> str | None:
    """The first of `others` that overlaps `cidr`, if any (one network, no overlaps)."""
    net = parse_cidr(cidr)
    for other in others:
        other_net = ipaddress.ip_network(other, strict=False)
        if other_net.version == net.version and net.overlaps(other_net):
            return other
    return None
