"""The network side of a trace, read with pyroute2: a namespace's interfaces, addresses and
routes, each veth's host end, the bridge it is a port of, the port's VLANs and the bridge's
uplinks (NIC, 802.1q, VXLAN).

Only reads. A veth's host end is found by the peer index the namespace reports and then
checked from the host side (its own peer must be this interface, in this namespace), so a
name that was reused or a peer moved to another namespace is never taken for the real one.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from nslb.netns.namespaces import NETNS_DIR, ns_route
from nslb.ops.trace_model import Bridge, HostEnd, Interface, Route, Uplink, Vlan

IFF_UP = 0x1
MAIN_TABLE = 254
SYSFS_NET = Path("/sys/class/net")
# IFLA_BRPORT_STATE values (linux/if_bridge.h BR_STATE_*)
STP_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
BRIDGE_VLAN_INFO_PVID, BRIDGE_VLAN_INFO_UNTAGGED = 0x2, 0x4


@dataclass
class HostReads:
    """What one trace read from the host side, so that each is read once however many
    ports of the load balancer it concerns: a physnet bridge may have a thousand ports."""

    bridges: dict[int, Bridge | None] = field(default_factory=dict)
    # port index -> its VLANs; None until needed (the kernel answers only with a dump of
    # every bridge port of the host, so it is asked once)
    vlans: dict[int, list[Vlan]] | None = None


def read_namespace(namespace: str, host: IPRoute, reads: HostReads,
                   ) -> tuple[list[Interface], list[Route]]:
    """Interfaces (with their host ends) and main-table routes of `namespace`."""
    with ns_route(namespace) as nsr:
        links = nsr.get_links()
        # After the dump: the kernel gives the host an id in the namespace when a link
        # with a peer there is dumped, not before.
        host_id = _host_id_in(nsr)
        addresses = _addresses(nsr)
        names = {int(link["index"]): str(link.get_attr("IFLA_IFNAME")) for link in links}
        routes = _routes(nsr, names)
    interfaces = []
    for link in links:
        interface = _interface(link, addresses.get(int(link["index"]), []))
        if interface.kind == "veth":
            _find_peer(host, namespace, interface, link, host_id, reads)
        interfaces.append(interface)
    return interfaces, routes


def _interface(link: Any, addresses: list[str]) -> Interface:
    name = str(link.get_attr("IFLA_IFNAME"))
    kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or (
        "loopback" if name == "lo" else "device")
    return Interface(name=name, index=int(link["index"]), kind=str(kind),
                     up=bool(link["flags"] & IFF_UP), mtu=int(link.get_attr("IFLA_MTU") or 0),
                     mac=str(link.get_attr("IFLA_ADDRESS") or ""), addresses=addresses)


def _find_peer(host: IPRoute, namespace: str, interface: Interface, link: Any,
               host_id: int | None, reads: HostReads) -> None:
    """Fill interface.peer with its host end, or mark the peer as outside the host."""
    peer_index = link.get_attr("IFLA_LINK")
    peer_netns = link.get_attr("IFLA_LINK_NETNSID")
    if peer_index is None or peer_netns is None:
        return  # peer gone (a lone veth end reports no link) or in the same namespace
    if host_id is None or peer_netns != host_id:
        interface.peer_outside_host = True
        return
    try:
        end = host.get_links(int(peer_index))[0]
    except NetlinkError:
        return
    # The host end must name this interface, in this namespace, as its own peer (the
    # namespace's id in the host exists once such an end was dumped).
    if (end.get_attr("IFLA_LINK") != interface.index
            or end.get_attr("IFLA_LINK_NETNSID") != _nsid_in_host(host, namespace)):
        return
    master = end.get_attr("IFLA_MASTER")
    bridge = None
    if master is not None:
        if master not in reads.bridges:
            reads.bridges[master] = _bridge(host, int(master))
        bridge = reads.bridges[master]
    interface.peer = HostEnd(
        name=str(end.get_attr("IFLA_IFNAME")), index=int(end["index"]),
        up=bool(end["flags"] & IFF_UP), mtu=int(end.get_attr("IFLA_MTU") or 0),
        bridge=bridge, stp_state=_stp_state(str(end.get_attr("IFLA_IFNAME"))),
        vlans=bridge_vlans(host, reads).get(int(end["index"]), [])
        if bridge and bridge.vlan_filtering else [])


def _stp_state(name: str, sysfs: Path = SYSFS_NET) -> str | None:
    """The bridge port's state (forwarding, blocking...), None when it is no bridge port."""
    try:
        state = int((sysfs / name / "brport" / "state").read_text())
    except (OSError, ValueError):
        return None
    return STP_STATES.get(state, str(state))


def _bridge(host: IPRoute, index: int) -> Bridge | None:
    try:
        link = host.get_links(index)[0]
    except NetlinkError:
        return None
    if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") != "bridge":
        return None
    data = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    name = str(link.get_attr("IFLA_IFNAME"))
    members = bridge_ports(name)
    return Bridge(name=name, index=index, up=bool(link["flags"] & IFF_UP),
                  vlan_filtering=bool(data is not None
                                      and data.get_attr("IFLA_BR_VLAN_FILTERING") == 1),
                  ports=len(members), uplinks=_uplinks(host, members))


def bridge_ports(bridge: str, sysfs: Path = SYSFS_NET) -> list[str]:
    """Names of the bridge's ports, from sysfs (a netlink dump of a 1,000-port bridge is
    slow through pyroute2)."""
    try:
        return sorted(p.name for p in (sysfs / bridge / "brif").iterdir())
    except FileNotFoundError:
        return []


def port_kind(name: str, sysfs: Path = SYSFS_NET) -> str:
    """"veth", "vxlan", "vlan", "bond", "bridge" or "device" (a NIC), from sysfs. The host
    ends nslb makes (nsh<key>) are veths without a look: a physnet bridge holds hundreds."""
    if name.startswith("nsh"):
        return "veth"
    base = sysfs / name
    with contextlib.suppress(OSError):
        for line in (base / "uevent").read_text().splitlines():
            if line.startswith("DEVTYPE="):
                return line.split("=", 1)[1]
    if (base / "device").exists():
        return "device"
    return "veth" if name.startswith("veth") or _is_veth(base) else "device"


def _is_veth(base: Path) -> bool:
    """A veth has a peer index and no device directory; sysfs does not say more cheaply."""
    with contextlib.suppress(OSError):
        return (base / "iflink").read_text().strip() != (base / "ifindex").read_text().strip()
    return False


def _uplinks(host: IPRoute, members: list[str]) -> list[Uplink]:
    """The bridge's ports that are not veths, with their VXLAN or VLAN details."""
    out = []
    for name in members:
        kind = port_kind(name)
        if kind == "veth":
            continue
        uplink = Uplink(name=name, kind=kind, state=link_state(name))
        if kind in ("vxlan", "vlan"):
            _uplink_details(host, uplink)
        out.append(uplink)
    return out


def link_state(name: str, sysfs: Path = SYSFS_NET) -> str:
    """"up", "admin down", "no carrier", or "" when sysfs does not say. A virtual link
    (VXLAN, 802.1q) that is up reports its operstate as "unknown"; that counts as up."""
    try:
        flags = int((sysfs / name / "flags").read_text(), 16)
        operstate = (sysfs / name / "operstate").read_text().strip()
    except (OSError, ValueError):
        return ""
    if not flags & IFF_UP:
        return "admin down"
    return "no carrier" if operstate in ("down", "lowerlayerdown", "notpresent") else "up"


def _uplink_details(host: IPRoute, uplink: Uplink, sysfs: Path = SYSFS_NET) -> None:
    """The VNI, remote and port of a VXLAN, the id of an 802.1q interface. The link is
    asked for by index: pyroute2 answers a lookup by name by dumping every link of the
    host, thousands on a host full of amphorae."""
    with contextlib.suppress(NetlinkError, IndexError, OSError, ValueError):
        index = int((sysfs / uplink.name / "ifindex").read_text())
        link = host.get_links(index)[0]
        data = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
        if data is None:
            return
        if uplink.kind == "vxlan":
            uplink.vni = data.get_attr("IFLA_VXLAN_ID")
            uplink.remote = (data.get_attr("IFLA_VXLAN_GROUP")
                             or data.get_attr("IFLA_VXLAN_GROUP6"))
            uplink.port = data.get_attr("IFLA_VXLAN_PORT")
        else:
            uplink.vlan_id = data.get_attr("IFLA_VLAN_ID")


def bridge_vlans(host: IPRoute, reads: HostReads) -> dict[int, list[Vlan]]:
    """The VLANs of every port of a VLAN-filtering bridge, by port index (read once)."""
    if reads.vlans is not None:
        return reads.vlans
    reads.vlans = {}
    with contextlib.suppress(NetlinkError):
        for msg in host.get_vlans():
            spec = msg.get_attr("IFLA_AF_SPEC")
            if spec is None:
                continue
            port = reads.vlans.setdefault(int(msg["index"]), [])
            for kind, info in spec["attrs"]:
                if kind == "IFLA_BRIDGE_VLAN_INFO":
                    flags = int(info["flags"])
                    port.append(Vlan(vid=int(info["vid"]),
                                     pvid=bool(flags & BRIDGE_VLAN_INFO_PVID),
                                     untagged=bool(flags & BRIDGE_VLAN_INFO_UNTAGGED)))
    return reads.vlans


def _addresses(nsr: IPRoute) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for msg in nsr.get_addr():
        address = msg.get_attr("IFA_ADDRESS")
        if address is None or address.startswith("fe80:"):
            continue
        out.setdefault(int(msg["index"]), []).append(f"{address}/{msg['prefixlen']}")
    return out


def _routes(nsr: IPRoute, names: dict[int, str]) -> list[Route]:
    out = []
    for family, default in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for msg in nsr.get_routes(family=family, table=MAIN_TABLE):
            destination = msg.get_attr("RTA_DST") or default
            if destination.startswith(("fe80:", "ff00:")):
                continue
            out.append(Route(destination=f"{destination}/{msg['dst_len']}",
                             gateway=msg.get_attr("RTA_GATEWAY"),
                             interface=names.get(int(msg.get_attr("RTA_OIF") or 0), "?")))
    return out


def _nsid_in_host(host: IPRoute, namespace: str) -> int | None:
    """The id the host gave `namespace` (what a host veth end names as its peer's)."""
    return _netnsid(host, f"{NETNS_DIR}/{namespace}")


def _host_id_in(nsr: IPRoute) -> int | None:
    """The id the namespace gave the host (this process's namespace)."""
    return _netnsid(nsr, "/proc/self/ns/net")


def _netnsid(ipr: IPRoute, path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        answer = ipr.get_netnsid(fd=fd)
    except NetlinkError:
        return None
    finally:
        os.close(fd)
    nsid = answer.get("nsid") if isinstance(answer, dict) else None
    return int(nsid) if nsid is not None and nsid >= 0 else None
