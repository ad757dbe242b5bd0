"""Is a namespace still plumbed as planned? Answered from the host without entering it.

The converged resync of an amphora asks this every resync interval; only when something
differs does the driver take the full path (nslb.netns.ports.plug, which enters the
namespace and repairs). Checked per port: both veth ends exist and are up, the host end is
enslaved to the port's bridge with the planned MTU, its peer is the planned interface in
*this* namespace with the planned MTU and MAC, the planned addresses are there and no
others (floating ones, which keepalived moves, may come and go), and the gateway and host
routes exist. Interfaces of ports no longer planned count as differences too. Bridge VLAN
membership of a filtered access port is left to the full path (plug re-adds it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from nslb.netns.inspect import Link, Netlink, routes_of
from nslb.netns.names import host_ifname, ns_ifname, port_key, vlan_bridge_name
from nslb.netns.namespaces import NETNS_DIR
from nslb.netns.ports import PortPlan

PORT_PREFIX = "nsv"


@dataclass(frozen=True)
class NamespaceView:
    """The links, addresses and (through a process living there) routes of a namespace."""

    nsid: int
    links: dict[str, Link]
    addresses: dict[int, set[str]]
    routes: set[tuple[str, str, str]] | None


def look(nl: Netlink, namespace: str, pid: int | None) -> NamespaceView | None:
    """The namespace as the host sees it; None when it does not exist or the host has no
    id for it (nothing of ours was ever plugged into it)."""
    nsid = nl.nsid(f"{NETNS_DIR}/{namespace}")
    if nsid is None:
        return None
    links = {link.name: link for link in nl.links(nsid)}
    return NamespaceView(nsid=nsid, links=links, addresses=nl.addresses(nsid),
                         routes=routes_of(pid) if pid is not None else None)


def differences(nl: Netlink, namespace: str, plans: Sequence[PortPlan],
                pid: int | None) -> list[str]:
    """What differs from `plans` in `namespace`, in words for the log; empty when every
    port is as planned. `pid`: a process in the namespace, through which its routes are
    read (without one, ports with routes count as different)."""
    view = look(nl, namespace, pid)
    if view is None:
        return [f"namespace {namespace} is missing or has no plugged port"]
    problems: list[str] = []
    bridges: dict[str, int | None] = {}
    for plan in plans:
        problems.extend(_port(nl, view, plan, bridges))
    wanted = {port_key(plan.port_id) for plan in plans}
    stale = sorted(name for name in view.links
                   if name.startswith(PORT_PREFIX) and name[len(PORT_PREFIX):] not in wanted)
    problems.extend(f"{name} is not planned any more" for name in stale)
    return problems


def _bridge_index(nl: Netlink, name: str, cache: dict[str, int | None]) -> int | None:
    if name not in cache:
        link = nl.link(name)
        cache[name] = link.index if link is not None else None
    return cache[name]


def _port(nl: Netlink, view: NamespaceView, plan: PortPlan,
          bridges: dict[str, int | None]) -> list[str]:
    host_name, inside_name = host_ifname(plan.port_id), ns_ifname(plan.port_id)
    host = nl.link(host_name)
    inside = view.links.get(inside_name)
    if host is None or inside is None:
        return [f"veth {host_name}/{inside_name} is missing"]
    masters = {_bridge_index(nl, plan.bridge, bridges)}
    if plan.vlan is not None:  # on the physnet bridge (VLAN filtering) or its segment's
        masters.add(_bridge_index(nl, vlan_bridge_name(plan.bridge, plan.vlan), bridges))
    problems = []
    if host.master is None or host.master not in masters:
        problems.append(f"{host_name} is not on bridge {plan.bridge}")
    if host.peer_netnsid != view.nsid or host.peer_index != inside.index:
        problems.append(f"{host_name} is not the peer of {inside_name}")
    if not (host.up and inside.up):
        problems.append(f"veth {host_name}/{inside_name} is down")
    if host.mtu != plan.mtu or inside.mtu != plan.mtu:
        problems.append(f"veth {host_name}/{inside_name} has MTU {host.mtu}/{inside.mtu}")
    if plan.mac and inside.mac != plan.mac.lower():
        problems.append(f"{inside_name} has MAC {inside.mac}")
    have = view.addresses.get(inside.index, set())
    missing = set(plan.addresses) - have
    extra = have - set(plan.addresses) - set(plan.floating)
    if missing:
        problems.append(f"{inside_name} lost {', '.join(sorted(missing))}")
    if extra:
        problems.append(f"{inside_name} holds {', '.join(sorted(extra))}")
    problems.extend(_routes(view, plan, inside_name))
    return problems


def planned_routes(plan: PortPlan) -> set[tuple[str, str, str]]:
    """(interface, destination, gateway) of every route plug() adds for the port."""
    ifname = ns_ifname(plan.port_id)
    out = set()
    if plan.gateway:
        gateway = ipaddress.ip_address(plan.gateway)
        default = "::/0" if gateway.version == 6 else "0.0.0.0/0"
        out.add((ifname, default, str(gateway)))
    for destination, nexthop in plan.host_routes:
        out.add((ifname, str(ipaddress.ip_network(destination, strict=False)),
                 str(ipaddress.ip_address(nexthop))))
    return out


def _routes(view: NamespaceView, plan: PortPlan, ifname: str) -> list[str]:
    wanted = planned_routes(plan)
    if not wanted:
        return []
    if view.routes is None:
        return [f"routes of {ifname} cannot be read"]
    missing = wanted - view.routes
    return [f"route to {dst} via {gw} on {ifname} is missing"
            for _, dst, gw in sorted(missing)]
