"""VXLAN segments on a host: one vxlan device per network, enslaved to its own bridge.

A VXLAN network reaches every host that has a port on it over the hosts' underlay
addresses. On each host nslb keeps, per network (VNI), a bridge the amphora veths plug
into and a vxlan device on that bridge (local = this host's underlay address, UDP 4789).
Broadcast and unknown unicast go to every other host of the network by head-end
replication: one static all-zeros fdb entry per remote underlay address
(`bridge fdb append 00:00:00:00:00:00 dev <vxlan> dst <remote>`). The device learns which
host a remote MAC sits behind from the frames that come back (learning on), so known
unicast goes to that host alone; no multicast group is needed in the underlay. The MACs
of a pair's peers on other hosts are not left to learning: each gets a static entry
(`bridge fdb replace <mac> dev <vxlan> dst <remote> self permanent`), so VRRP adverts and
the first packets between the pair go straight to the right host, and a learned entry
can never send them elsewhere (the kernel does not move a permanent entry).

`segment_plan()` is pure (what should exist); `ensure_segment()` converges the host to it
and is idempotent like the bridge/VLAN plumbing; `prune_segments()` removes the segments
that no amphora port uses any more.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from nslb.model.vxlan import BadSegment, check_address, check_mac, check_vni
from nslb.netns.bridges import BRIDGE_LOCK, EEXIST, IFF_UP, BridgeRegistry, ensure_bridge

VXLAN_PORT = 4789  # IANA
FLOOD_MAC = "00:00:00:00:00:00"
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
NTF_SELF = 0x02  # the entry is the vxlan device's own (`self`), not its bridge's
BRIDGE_PREFIX = "nsvxb"
DEVICE_PREFIX = "nsvx"


def bridge_name(vni: int) -> str:
    """The host bridge of VNI `vni` (at most 13 chars: 'nsvxb' + 8 digits)."""
    return f"{BRIDGE_PREFIX}{check_vni(vni)}"


def device_name(vni: int) -> str:
    """The vxlan device of VNI `vni` on its bridge."""
    return f"{DEVICE_PREFIX}{check_vni(vni)}"


@dataclass(frozen=True)
class SegmentPlan:
    """What one VXLAN network needs on one host, as plain data."""

    vni: int
    local: str  # this host's underlay address
    mtu: int
    flood: tuple[str, ...]  # underlay addresses of the other hosts, sorted, no duplicates
    # (MAC, underlay address of its host): the peers' MACs on other hosts, sorted
    static: tuple[tuple[str, str], ...] = ()

    @property
    def bridge(self) -> str:
        return bridge_name(self.vni)

    @property
    def device(self) -> str:
        return device_name(self.vni)

    def fdb(self) -> list[tuple[str, str]]:
        """The head-end replication entries: (MAC, remote underlay address)."""
        return [(FLOOD_MAC, remote) for remote in self.flood]


def segment_plan(vni: int, local: str, mtu: int, remotes: tuple[str, ...] | list[str],
                 static: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()
                 ) -> SegmentPlan:
    """The validated plan: local address excluded from the flood list, which is sorted;
    `static`: (MAC, remote underlay address) of peers on other hosts (entries towards this
    host itself are dropped; one MAC named with two hosts is refused)."""
    local = check_address(local)
    fixed = sorted({(check_mac(mac), check_address(remote)) for mac, remote in static
                    if check_address(remote) != local})
    if len({mac for mac, _ in fixed}) != len(fixed):
        raise BadSegment(f"VNI {vni}: a peer MAC behind two hosts: {fixed}")
    flood = sorted({check_address(r) for r in remotes} - {local},
                   key=ipaddress.ip_address)
    versions = {ipaddress.ip_address(a).version for a in (local, *flood)}
    if len(versions) > 1:
        raise BadSegment(f"VNI {vni}: underlay addresses mix IPv4 and IPv6: {local}, {flood}")
    if not 68 <= mtu <= 65535:
        raise BadSegment(f"VNI {vni}: MTU {mtu} out of range")
    versions |= {ipaddress.ip_address(remote).version for _, remote in fixed}
    if len(versions) > 1:
        raise BadSegment(f"VNI {vni}: underlay addresses mix IPv4 and IPv6: {fixed}")
    return SegmentPlan(vni=check_vni(vni), local=local, mtu=mtu, flood=tuple(flood),
                       static=tuple(fixed))


def ensure_segment(ipr: IPRoute, plan: SegmentPlan, registry: BridgeRegistry) -> int:
    """Converge the bridge and vxlan device of `plan`; returns the bridge's index.

    Callers hold BRIDGE_LOCK (ports.plug does)."""
    bridge = ensure_bridge(ipr, plan.bridge, registry)
    device = _ensure_device(ipr, plan)
    link = ipr.get_links(device)[0]
    if (link.get_attr("IFLA_MASTER") != bridge or link.get_attr("IFLA_MTU") != plan.mtu
            or not link["flags"] & IFF_UP):
        ipr.link("set", index=device, master=bridge, mtu=plan.mtu, state="up")
    converge_flood(ipr, device, plan.flood)
    converge_static(ipr, device, plan.static)
    return bridge


def _ensure_device(ipr: IPRoute, plan: SegmentPlan) -> int:
    """The vxlan device, (re)created when missing or when its VNI/local/port differ. It is
    not recorded in the registry (which holds bridges): it goes with its bridge."""
    found = ipr.link_lookup(ifname=plan.device)
    if found and _device_matches(ipr, int(found[0]), plan):
        return int(found[0])
    if found:
        ipr.link("del", index=found[0])
    local = ("vxlan_local6" if ipaddress.ip_address(plan.local).version == 6
             else "vxlan_local")
    try:
        ipr.link("add", ifname=plan.device, kind="vxlan", vxlan_id=plan.vni,
                 vxlan_port=VXLAN_PORT, vxlan_learning=1, **{local: plan.local})
    except NetlinkError as exc:
        if exc.code != EEXIST:
            raise
    return int(ipr.link_lookup(ifname=plan.device)[0])


def _device_matches(ipr: IPRoute, index: int, plan: SegmentPlan) -> bool:
    info = ipr.get_links(index)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    if info is None:
        return False
    local = info.get_attr("IFLA_VXLAN_LOCAL") or info.get_attr("IFLA_VXLAN_LOCAL6")
    return bool(info.get_attr("IFLA_VXLAN_ID") == plan.vni
                and info.get_attr("IFLA_VXLAN_PORT") == VXLAN_PORT
                and info.get_attr("IFLA_VXLAN_LEARNING") == 1
                and local is not None and check_address(local) == plan.local)


def flood_entries(ipr: IPRoute, device: int) -> set[str]:
    """Remote underlay addresses of the device's all-zeros fdb entries."""
    found: set[str] = set()
    for entry in ipr.fdb("dump", ifindex=device):
        if entry["ifindex"] != device:
            continue
        if entry.get_attr("NDA_LLADDR") == FLOOD_MAC and entry.get_attr("NDA_DST"):
            found.add(check_address(entry.get_attr("NDA_DST")))
    return found


def converge_flood(ipr: IPRoute, device: int, wanted: tuple[str, ...]) -> None:
    """Exactly one all-zeros entry per remote host: missing ones appended, stale removed."""
    have = flood_entries(ipr, device)
    for remote in sorted(set(wanted) - have):
        ipr.fdb("append", ifindex=device, lladdr=FLOOD_MAC, dst=remote)
    for remote in sorted(have - set(wanted)):
        ipr.fdb("del", ifindex=device, lladdr=FLOOD_MAC, dst=remote)


def static_entries(ipr: IPRoute, device: int) -> dict[str, str]:
    """MAC -> remote underlay address of the device's permanent unicast entries (the
    ones converge_static keeps; learned entries are not permanent)."""
    found: dict[str, str] = {}
    for entry in ipr.fdb("dump", ifindex=device):
        mac, dst = entry.get_attr("NDA_LLADDR"), entry.get_attr("NDA_DST")
        if entry["ifindex"] != device or not dst or not mac or mac == FLOOD_MAC:
            continue
        if entry["state"] & NUD_PERMANENT:
            found[mac.lower()] = check_address(dst)
    return found


def converge_static(ipr: IPRoute, device: int, wanted: tuple[tuple[str, str], ...]) -> None:
    """Exactly the planned permanent entries for peers' MACs: missing or misdirected ones
    replaced (a learned entry for the MAC becomes the static one), stale ones removed."""
    have = static_entries(ipr, device)
    plan = dict(wanted)
    for mac, remote in sorted(plan.items()):
        if have.get(mac) != remote:
            # pyroute2 fills in state and flags for add/append/del only
            ipr.fdb("replace", ifindex=device, lladdr=mac, dst=remote,
                    state=NUD_PERMANENT | NUD_NOARP, flags=NTF_SELF)
    for mac, remote in sorted(have.items()):
        if mac not in plan:
            ipr.fdb("del", ifindex=device, lladdr=mac, dst=remote)


def bridge_ports(ipr: IPRoute, bridge: int) -> list[str]:
    """Names of the bridge's ports (a kernel-filtered dump: only this bridge's links)."""
    return [link.get_attr("IFLA_IFNAME") for link in ipr.link("dump", master=bridge)]


def prune_segments(registry: BridgeRegistry) -> list[int]:
    """Remove the VXLAN segments nslb made whose bridge holds nothing but its vxlan device
    (the last amphora port on this host left the network); returns their VNIs."""
    removed: list[int] = []
    with BRIDGE_LOCK, IPRoute() as ipr:
        for name in sorted(registry.owned()):
            if not name.startswith(BRIDGE_PREFIX):
                continue
            vni = int(name[len(BRIDGE_PREFIX):])
            found = ipr.link_lookup(ifname=name)
            if found and set(bridge_ports(ipr, int(found[0]))) - {device_name(vni)}:
                continue
            for item in (device_name(vni), name):
                index = ipr.link_lookup(ifname=item)
                if index:
                    ipr.link("del", index=index[0])
                registry.discard(item)
            removed.append(vni)
    return removed


__all__ = ["SegmentPlan", "bridge_name", "device_name", "ensure_segment", "prune_segments",
           "segment_plan"]
