"""Is a namespace still plumbed as planned? Answered from the host without entering it.

The converged resync of an amphora asks this every resync interval; only when something
differs does the driver take the full path (nslb.netns.ports.plug, which enters the
namespace and repairs). Checked per port: both veth ends exist and are up, the host end is
enslaved to the port's bridge with the planned MTU, its peer is the planned interface in
*this* namespace with the planned MTU and MAC, the planned addresses are there and no
others (floating ones, which keepalived moves, may come and go), and the gateway and host
routes exist.

A VXLAN port's vxlan device must be up on the network's bridge with the planned MTU.
Left to the full path: interfaces of ports that are no longer planned (a plan only drops a
port in a new bundle, whose hash differs, so that apply takes the full path anyway) and
the bridge VLAN membership of a filtered access port (plug re-adds it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from nslb.netns.inspect import Netlink, routes_of
from nslb.netns.names import host_ifname, ns_ifname, vlan_bridge_name
from nslb.netns.namespaces import NETNS_DIR
from nslb.netns.ports import PortPlan


def differences(nl: Netlink, namespace: str, plans: Sequence[PortPlan],
                pid: int | None) -> list[str]:
    """What differs from `plans` in `namespace`, in words for the log; empty when every
    port is as planned. `pid`: a process in the namespace, through which its routes are
    read (without one, ports with routes count as different)."""
    nsid = nl.nsid(f"{NETNS_DIR}/{namespace}")
    if nsid is None:
        return [f"namespace {namespace} is missing or has no plugged port"]
    addresses = nl.addresses(nsid) if plans else {}
    routes = _routes(plans, pid)
    problems: list[str] = []
    for plan in plans:
        problems.extend(_port(nl, nsid, addresses, routes, plan))
    return problems


# bridge name -> its index, as last looked up (bridges outlive thousands of checks; a
# recreated one is looked up again before anything is called different)
_BRIDGES: dict[str, int] = {}


def _bridge_indexes(nl: Netlink, names: list[str], fresh: bool = False) -> set[int]:
    out = set()
    for name in names:
        if fresh or name not in _BRIDGES:
            link = nl.link(name)
            if link is None:
                _BRIDGES.pop(name, None)
                continue
            _BRIDGES[name] = link.index
        out.add(_BRIDGES[name])
    return out


def _port(nl: Netlink, nsid: int, addresses: dict[int, set[str]],
          routes: set[tuple[str, str, str]] | None, plan: PortPlan) -> list[str]:
    host_name, inside_name = host_ifname(plan.port_id), ns_ifname(plan.port_id)
    host = nl.link(host_name)
    inside = nl.link(inside_name, nsid)
    if host is None or inside is None:
        return [f"veth {host_name}/{inside_name} is missing"]
    names = [plan.bridge]
    if plan.vlan is not None:  # on the physnet bridge (VLAN filtering) or its segment's
        names.append(vlan_bridge_name(plan.bridge, plan.vlan))
    problems = []
    if host.master is None or (host.master not in _bridge_indexes(nl, names)
                               and host.master not in _bridge_indexes(nl, names, fresh=True)):
        problems.append(f"{host_name} is not on bridge {plan.bridge}")
    if host.peer_netnsid != nsid or host.peer_index != inside.index:
        problems.append(f"{host_name} is not the peer of {inside_name}")
    if not (host.up and inside.up):
        problems.append(f"veth {host_name}/{inside_name} is down")
    if host.mtu != plan.mtu or inside.mtu != plan.mtu:
        problems.append(f"veth {host_name}/{inside_name} has MTU {host.mtu}/{inside.mtu}")
    if plan.mac and inside.mac != plan.mac.lower():
        problems.append(f"{inside_name} has MAC {inside.mac}")
    if plan.vxlan is not None:
        problems.extend(_segment(nl, plan))
    have = addresses.get(inside.index, set())
    missing = set(plan.addresses) - have
    extra = have - set(plan.addresses) - set(plan.floating)
    if missing:
        problems.append(f"{inside_name} lost {', '.join(sorted(missing))}")
    if extra:
        problems.append(f"{inside_name} holds {', '.join(sorted(extra))}")
    wanted = planned_routes(plan)
    if wanted and routes is None:
        problems.append(f"routes of {inside_name} cannot be read")
    elif wanted and routes is not None:
        problems.extend(f"route to {dst} via {gw} on {inside_name} is missing"
                        for _, dst, gw in sorted(wanted - routes))
    return problems


def _segment(nl: Netlink, plan: PortPlan) -> list[str]:
    """A VXLAN port's host segment: its vxlan device is up on the network's bridge with
    the network's MTU (its flood entries are set by every full apply on this host)."""
    assert plan.vxlan is not None
    device = nl.link(plan.vxlan.device)
    if device is None:
        return [f"vxlan device {plan.vxlan.device} is missing"]
    names = [plan.vxlan.bridge]
    if device.master is None or (device.master not in _bridge_indexes(nl, names)
                                 and device.master not in _bridge_indexes(nl, names, True)):
        return [f"{plan.vxlan.device} is not on bridge {plan.vxlan.bridge}"]
    if not device.up or device.mtu != plan.vxlan.mtu:
        return [f"{plan.vxlan.device} is down or has MTU {device.mtu}"]
    return []


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


def _routes(plans: Sequence[PortPlan], pid: int | None) -> set[tuple[str, str, str]] | None:
    """The namespace's gateway routes of the IP versions the plans route; None when they
    cannot be read (no process to read them through)."""
    versions = {ipaddress.ip_network(dst, strict=False).version
                for plan in plans for _, dst, _ in planned_routes(plan)}
    if not versions:
        return set()
    if pid is None:
        return None
    return routes_of(pid, families=tuple(sorted(versions)))
