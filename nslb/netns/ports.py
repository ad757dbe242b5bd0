"""Plug a port of a load balancer into its namespace: veth to a bridge, VLAN, addresses, routes.

`plug()` converges: it inspects what exists and only changes what differs, so calling it on
every reconcile both is a no-op on a healthy port and repairs one that someone broke.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from nslb.netns.bridges import (
    BRIDGE_LOCK,
    EXFULL,
    BridgeFull,
    BridgeRegistry,
    check_room,
    ensure_bridge,
    vlan_filtering,
)
from nslb.netns.garp import announce
from nslb.netns.names import host_ifname, ns_ifname, port_key, vlan_bridge_name
from nslb.netns.namespaces import host_route, ns_route
from nslb.netns.vxlan import SegmentPlan, ensure_segment

IFF_UP = 1
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
DEFAULT_VLAN = 1


@dataclass(frozen=True)
class PortPlan:
    """Everything needed to plug one port; built by the driver from an Attachment."""

    port_id: str
    bridge: str
    mtu: int
    addresses: tuple[str, ...]  # "address/prefixlen"
    mac: str = ""
    vlan: int | None = None
    gateway: str | None = None
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination cidr, nexthop)
    # Addresses another program moves in and out (keepalived's VIP): never added or
    # removed here, so converging the port never takes the VIP from its holder.
    floating: tuple[str, ...] = ()
    # A port on a VXLAN network: the segment the host needs (its bridge is `bridge`).
    vxlan: SegmentPlan | None = None
    # (address, MAC) of peers on the port's network: PERMANENT neighbour entries in the
    # namespace, so a pair's VRRP adverts never wait for ARP across the overlay.
    neighbours: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Announcement:
    """A gratuitous ARP (or unsolicited neighbour advertisement) owed for a new address."""

    namespace: str
    ifname: str
    index: int
    mac: str
    address: str

    def send(self) -> None:
        announce(self.namespace, self.ifname, self.index, self.mac, self.address)


def plug(namespace: str, plan: PortPlan, registry: BridgeRegistry) -> list[str]:
    """Make the port exist as planned and announce each newly added address; returns
    those addresses."""
    owed = plug_quietly(namespace, plan, registry)
    for item in owed:
        item.send()
    return [item.address for item in owed]


def plug_quietly(namespace: str, plan: PortPlan, registry: BridgeRegistry
                 ) -> list[Announcement]:
    """plug() without sending the announcements: the caller sends them when it suits it
    (the amphora driver, once haproxy listens: ~30 ms of a new LB's path at 1,000 LBs)."""
    with ns_route(namespace) as nsr:
        inside = bool(nsr.link_lookup(ifname=ns_ifname(plan.port_id)))
    with BRIDGE_LOCK, host_route() as ipr:
        bridge, name, filtered = _segment_bridge(ipr, plan, registry)
        host, fresh = _ensure_veth(ipr, namespace, plan, bridge, name, inside)
        if not fresh:
            _attach_host_end(ipr, host, bridge, name, plan)
        _filter_vlan(ipr, host, plan, filtered)
    with ns_route(namespace) as nsr:
        index = _ensure_ns_link(nsr, plan)
        added = _converge_addresses(nsr, index, plan.addresses, plan.floating)
        _converge_routes(nsr, index, plan)
        converge_neighbours(nsr, index, plan.neighbours)
        mac = nsr.get_links(index)[0].get_attr("IFLA_ADDRESS")
    return [Announcement(namespace, ns_ifname(plan.port_id), index, mac, address)
            for address in added]


def unplug(namespace: str, key: str) -> None:
    """Remove the interfaces of the port whose key (see names.port_key) is `key`."""
    with host_route() as ipr:
        _delete_if_present(ipr, f"nsh{key}")
    try:
        with ns_route(namespace) as nsr:
            _delete_if_present(nsr, f"nsv{key}")
    except FileNotFoundError:
        pass


def plugged_port_prefixes(namespace: str) -> set[str]:
    """Keys of the ports currently plugged into the namespace (empty if it does not exist)."""
    try:
        with ns_route(namespace) as nsr:
            names = [link.get_attr("IFLA_IFNAME") for link in nsr.get_links()]
    except FileNotFoundError:
        return set()
    return {n[3:] for n in names if n.startswith("nsv")}


def port_is_healthy(namespace: str, plan: PortPlan) -> bool:
    """True when both veth ends exist, are up and the addresses are in place."""
    with host_route() as ipr:
        found = ipr.link_lookup(ifname=host_ifname(plan.port_id))
        if not found or not ipr.get_links(found[0])[0]["flags"] & IFF_UP:
            return False
    try:
        with ns_route(namespace) as nsr:
            found = nsr.link_lookup(ifname=ns_ifname(plan.port_id))
            if not found:
                return False
            have = _addresses(nsr, found[0])
    except FileNotFoundError:
        return False
    return set(plan.addresses) <= have


def drop_addresses(namespace: str, port_id: str, addresses: tuple[str, ...]) -> None:
    """Remove `addresses` ("address/prefix") from the port's interface if present: a VIP
    left behind by a keepalived that was killed (it withdraws its VIP only on a clean stop)."""
    try:
        with ns_route(namespace) as nsr:
            found = nsr.link_lookup(ifname=ns_ifname(port_id))
            if not found:
                return
            have = _addresses(nsr, found[0])
            for item in set(addresses) & have:
                address, prefix = item.split("/")
                nsr.addr("del", index=found[0], address=address, prefixlen=int(prefix))
    except FileNotFoundError:
        return


def _delete_if_present(ipr: IPRoute, name: str) -> None:
    found = ipr.link_lookup(ifname=name)
    if found:
        ipr.link("del", index=found[0])


def _segment_bridge(ipr: IPRoute, plan: PortPlan,
                    registry: BridgeRegistry) -> tuple[int, str, bool]:
    """The bridge to enslave the host end to (index and name), and whether it filters
    VLANs itself.

    VLAN networks use the physnet bridge with VLAN filtering when the kernel has it, and
    otherwise a separate bridge per segment (see names.vlan_bridge_name). A VXLAN network
    has its own bridge with the network's vxlan device on it (netns.vxlan).
    """
    if plan.vxlan is not None:
        return ensure_segment(ipr, plan.vxlan, registry), plan.vxlan.bridge, False
    bridge = ensure_bridge(ipr, plan.bridge, registry)
    if plan.vlan is None:
        return bridge, plan.bridge, False
    if vlan_filtering(ipr, bridge):
        return bridge, plan.bridge, True
    name = vlan_bridge_name(plan.bridge, plan.vlan)
    return ensure_bridge(ipr, name, registry), name, False


def _ensure_veth(ipr: IPRoute, namespace: str, plan: PortPlan, bridge: int,
                 bridge_name: str, peer_inside: bool) -> tuple[int, bool]:
    """Index of the host end, and whether the pair is new. A host end whose peer is not in
    the namespace (gone, or in an orphaned namespace) is deleted first. A new pair is made
    by one request, as planned: its peer already in the namespace with its MTU and MAC,
    the host end on the bridge and up (each request is ~1 ms of pyroute2 on a new LB's
    path; the kernel undoes the whole pair when the bridge refuses the port)."""
    host_name = host_ifname(plan.port_id)
    found = ipr.link_lookup(ifname=host_name)
    if found and not peer_inside:
        ipr.link("del", index=found[0])
        found = []
    if found:
        return int(found[0]), False
    check_room(bridge_name)  # refused before anything is made, not half-way
    peer: dict[str, object] = {"ifname": ns_ifname(plan.port_id), "net_ns_fd": namespace,
                               "mtu": plan.mtu}
    if plan.mac:
        peer["address"] = plan.mac.lower()
    try:
        ipr.link("add", ifname=host_name, kind="veth", mtu=plan.mtu, master=bridge,
                 state="up", peer=peer)
    except NetlinkError as exc:
        if exc.code == EXFULL:  # filled up since check_room (another bridge user)
            raise BridgeFull(bridge_name) from exc
        raise
    return int(ipr.link_lookup(ifname=host_name)[0]), True


def _attach_host_end(ipr: IPRoute, host: int, bridge: int, name: str,
                     plan: PortPlan) -> None:
    """An existing host end back on its bridge, up, with the planned MTU."""
    link = ipr.get_links(host)[0]
    if (link.get_attr("IFLA_MASTER") != bridge or link.get_attr("IFLA_MTU") != plan.mtu
            or not link["flags"] & IFF_UP):
        try:
            ipr.link("set", index=host, master=bridge, mtu=plan.mtu, state="up")
        except NetlinkError as exc:
            if exc.code == EXFULL:  # filled up since check_room (another bridge user)
                ipr.link("del", index=host)
                raise BridgeFull(name) from exc
            raise


def _filter_vlan(ipr: IPRoute, host: int, plan: PortPlan, filtered: bool) -> None:
    if filtered and plan.vlan is not None:
        # Access port: frames enter untagged and are tagged with the segmentation id.
        ipr.vlan_filter("add", index=host,
                        vlan_info={"vid": plan.vlan, "flags": ["pvid", "untagged"]})
        if plan.vlan != DEFAULT_VLAN:
            with contextlib.suppress(NetlinkError):  # already removed
                ipr.vlan_filter("del", index=host, vlan_info={"vid": DEFAULT_VLAN})


def _ensure_ns_link(nsr: IPRoute, plan: PortPlan) -> int:
    """Index of the addressed interface in the namespace, with MTU, MAC and state as planned."""
    index = int(nsr.link_lookup(ifname=ns_ifname(plan.port_id))[0])
    _set_link(nsr, index, plan)
    return index


def _set_link(nsr: IPRoute, index: int, plan: PortPlan) -> None:
    link = nsr.get_links(index)[0]
    changes: dict[str, object] = {}
    if link.get_attr("IFLA_MTU") != plan.mtu:
        changes["mtu"] = plan.mtu
    if plan.mac and link.get_attr("IFLA_ADDRESS") != plan.mac.lower():
        changes["address"] = plan.mac.lower()
    if not link["flags"] & IFF_UP:
        changes["state"] = "up"
    if changes:
        nsr.link("set", index=index, **changes)


def _addresses(nsr: IPRoute, index: int) -> set[str]:
    have: set[str] = set()
    for msg in nsr.get_addr(index=index):
        address = msg.get_attr("IFA_ADDRESS")
        if ipaddress.ip_address(address).is_link_local:
            continue
        have.add(f"{address}/{msg['prefixlen']}")
    return have


def _converge_addresses(nsr: IPRoute, index: int, wanted: tuple[str, ...],
                        floating: tuple[str, ...] = ()) -> list[str]:
    have = _addresses(nsr, index)
    for stale in have - set(wanted) - set(floating):
        address, prefix = stale.split("/")
        nsr.addr("del", index=index, address=address, prefixlen=int(prefix))
    added: list[str] = []
    for item in wanted:
        if item in have:
            continue
        address, prefix = item.split("/")
        # NODAD: the VIP must answer at once, and the NA we send needs a usable source.
        nsr.addr("add", index=index, address=address, prefixlen=int(prefix), flags=IFA_F_NODAD)
        added.append(address)
    return added


def permanent_neighbours(nsr: IPRoute, index: int) -> dict[str, str]:
    """address -> MAC of the interface's PERMANENT neighbour entries (only nslb makes
    them in an amphora namespace; what ARP resolves is never permanent)."""
    found: dict[str, str] = {}
    for msg in nsr.get_neighbours(ifindex=index):
        address, mac = msg.get_attr("NDA_DST"), msg.get_attr("NDA_LLADDR")
        if msg["ifindex"] == index and msg["state"] & NUD_PERMANENT and address and mac:
            found[address] = mac.lower()
    return found


def converge_neighbours(nsr: IPRoute, index: int,
                        wanted: tuple[tuple[str, str], ...]) -> None:
    """Exactly the planned PERMANENT entries on the interface: missing or changed ones
    replaced (over whatever ARP had resolved), stale ones (a replaced peer) removed."""
    have = permanent_neighbours(nsr, index)
    plan = dict(wanted)
    for address, mac in sorted(plan.items()):
        if have.get(address) != mac:
            nsr.neigh("replace", dst=address, lladdr=mac, ifindex=index, state=NUD_PERMANENT)
    for address in sorted(set(have) - set(plan)):
        nsr.neigh("del", dst=address, ifindex=index)


def _converge_routes(nsr: IPRoute, index: int, plan: PortPlan) -> None:
    if plan.gateway:
        default = "::/0" if ipaddress.ip_address(plan.gateway).version == 6 else "0.0.0.0/0"
        nsr.route("replace", dst=default, gateway=plan.gateway, oif=index)
    for destination, nexthop in plan.host_routes:
        nsr.route("replace", dst=destination, gateway=nexthop, oif=index)


__all__ = ["PortPlan", "drop_addresses", "plug", "plugged_port_prefixes", "port_is_healthy",
           "port_key", "unplug"]
