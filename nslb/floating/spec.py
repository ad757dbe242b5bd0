"""What one router should be, from the rows that describe it. Pure: no I/O, no session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nslb.model import addresses
from nslb.model.bundle import NetworkPort
from nslb.model.resources import FloatingIP, FloatingRouter, Network, Port, Subnet
from nslb.model.router import NatRule, RouterSpec


class Unbuildable(ValueError):
    """The rows do not describe a router that can be built (a port or subnet is gone)."""


@dataclass(frozen=True)
class RouterRows:
    """A router and everything its spec is made of, as read in one transaction."""

    router: FloatingRouter
    port: Port | None
    subnet: Subnet | None
    network: Network | None
    external: Network | None
    floating: Sequence[tuple[FloatingIP, Subnet | None]]


def _prefix(cidr: str) -> int:
    return addresses.parse_network(cidr).prefixlen


def _port(port_id: str, network: Network, mac: str, cidrs: tuple[str, ...],
          gateway: str | None = None) -> NetworkPort:
    """A port of the router on `network`'s segment."""
    return NetworkPort(port_id=port_id, physical_network=network.physical_network or "",
                       network_type=network.network_type,
                       segmentation_id=network.segmentation_id, mtu=network.mtu, mac=mac,
                       addresses=cidrs, gateway=gateway)


def _internal(rows: RouterRows) -> NetworkPort:
    port, subnet, network = rows.port, rows.subnet, rows.network
    if port is None or subnet is None or network is None or len(port.fixed_ips) != 1:
        raise Unbuildable(f"router {rows.router.id}: its port on subnet "
                          f"{rows.router.subnet_id} is gone")
    address = port.fixed_ips[0]["ip_address"]
    return _port(port.id, network, port.mac_address, (f"{address}/{_prefix(subnet.cidr)}",))


def _external(rows: RouterRows) -> NetworkPort:
    """The floating addresses with their subnets' prefixes (a connected route to the
    external subnet), and the default route through the first external gateway."""
    if rows.external is None:
        raise Unbuildable(f"router {rows.router.id}: its external network is gone")
    subnets = {s.id: s for _, s in rows.floating if s is not None}
    missing = [f.id for f, s in rows.floating if s is None]
    if missing:
        raise Unbuildable(f"router {rows.router.id}: the subnet of floating IP {missing[0]} "
                          f"is gone")
    floating = sorted(f"{f.floating_ip_address}/{_prefix(subnets[f.floating_subnet_id].cidr)}"
                      for f, _ in rows.floating)
    gateways = sorted((s.cidr, s.gateway_ip) for s in subnets.values() if s.gateway_ip)
    return _port(rows.router.id, rows.external, "", tuple(floating),
                 gateways[0][1] if gateways else None)


def router_spec(rows: RouterRows) -> RouterSpec:
    """The spec of a router serving the floating IPs in `rows` (Unbuildable if it can't)."""
    rules = tuple(NatRule(floating_ip_id=f.id, floating=f.floating_ip_address,
                          fixed=f.fixed_ip_address or "")
                  for f, _ in sorted(rows.floating, key=lambda pair: pair[0].floating_ip_address))
    return RouterSpec(router_id=rows.router.id, external=_external(rows),
                      internal=_internal(rows), rules=rules)
