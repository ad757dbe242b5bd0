"""Render one amphora's bundle from its load balancer's snapshot. Pure, like the rest of
render/: the same snapshot, amphora and host facts always give the same bundle."""

from __future__ import annotations

import ipaddress

from nslb.model.addresses import canonical_ip
from nslb.model.bundle import Bundle, HostFacts, Manifest, NetworkPort, Peer
from nslb.model.resources import VRRP_PRIORITY, Amphora
from nslb.model.snapshot import Attachment, LoadBalancerSnapshot
from nslb.render.handover import render_handover
from nslb.render.haproxy import log_socket_path, render_files
from nslb.render.keepalived import render_keepalived
from nslb.render.udp import build_view as build_udp_view
from nslb.render.udp import render_udp, udp_listeners, udp_pools
from nslb.render.views import rendered_listeners, rendered_pools

# The UDP part of a bundle: the view the amphora's UDP agent serves (and health-checks),
# and the rules it renders with every member up (what `nft -c` checks before an apply).
UDP_VIEW = "udp.json"
UDP_RULES = "udp.nft"


class InconsistentSnapshot(ValueError):
    """The snapshot references something it does not hold; nothing is rendered."""


def build_bundle(snapshot: LoadBalancerSnapshot, amphora: Amphora, facts: HostFacts) -> Bundle:
    """Everything `amphora` needs to serve `snapshot` on the host described by `facts`.
    Raises InconsistentSnapshot, or values.UnsafeValue for a value outside its grammar."""
    problems = snapshot.problems()
    if problems:
        raise InconsistentSnapshot("; ".join(problems))
    files = render_files(snapshot, state_dir=facts.state_dir, fd_limit=facts.fd_limit,
                         user=facts.haproxy_user, amphora_id=amphora.id,
                         access_logs=facts.access_logs)
    udp = build_udp_view(snapshot, log_socket=str(log_socket_path(facts.state_dir))
                         if facts.access_logs else None)
    if udp is not None:
        files[UDP_VIEW] = udp.to_json()
        files[UDP_RULES] = render_udp(udp)
    if amphora.role in VRRP_PRIORITY:  # one of an ACTIVE_STANDBY pair
        # The pair's VIP is not plugged statically: keepalived adds it on the VRRP port of
        # whichever amphora it elects.
        own = snapshot.amphora_ports.get(amphora.id)
        if not own:
            raise InconsistentSnapshot(f"amphora {amphora.id} has no VRRP port yet")
        files["keepalived.conf"] = render_keepalived(snapshot, amphora, facts,
                                                     udp=udp is not None)
        files["handover.nft"] = render_handover(snapshot.vip.address)
        vip = f"{snapshot.vip.address}/{_prefix(snapshot.vip)}"
        ports = tuple(_port(a, with_gateway=i == 0, floating=(vip,) if i == 0 else (),
                            flood=_flood(snapshot, a, amphora),
                            peers=_peers(snapshot, a, amphora))
                      for i, a in enumerate(own))
    else:
        listening = gated_ports(snapshot)
        if listening:
            files["handover.nft"] = render_handover(snapshot.vip.address, listening)
        ports = tuple(_port(a, with_gateway=a is snapshot.vip,
                            flood=_flood(snapshot, a, amphora))
                      for a in snapshot.attachments())
    return Bundle(
        amphora_id=amphora.id,
        loadbalancer_id=snapshot.lb.id,
        generation=snapshot.generation,
        files=files,
        ports=ports,
        manifest=manifest(snapshot),
    )


def gated_ports(snapshot: LoadBalancerSnapshot) -> tuple[int, ...]:
    """The TCP ports a STANDALONE amphora's haproxy listens on (enabled listeners of an
    enabled LB): its VIP's gate holds new connections to them back until haproxy listens
    (a replacement) and while the amphora goes (nslb.render.handover)."""
    if not snapshot.lb.admin_state_up:
        return ()
    return tuple(sorted({li.protocol_port for li in rendered_listeners(snapshot)
                         if li.admin_state_up}))


def _prefix(attachment: Attachment) -> int:
    return ipaddress.ip_network(attachment.subnet.cidr, strict=False).prefixlen


def _flood(snapshot: LoadBalancerSnapshot, attachment: Attachment,
           amphora: Amphora) -> tuple[str, ...]:
    """The underlay addresses of the other hosts on the port's VXLAN network, sorted."""
    if attachment.network.network_type != "vxlan":
        return ()
    hosts = snapshot.vxlan_hosts.get(attachment.network.id, {})
    return tuple(sorted({address for host, address in hosts.items()
                         if host != amphora.compute_id}))


def _peers(snapshot: LoadBalancerSnapshot, attachment: Attachment,
           amphora: Amphora) -> tuple[Peer, ...]:
    """On a VXLAN network, the other amphorae of the pair's ports on the same subnet:
    address, MAC and the underlay address of their host ("" on this host, or when that
    host reported none: then only the neighbour entry is made, and frames find the peer
    by flooding)."""
    if attachment.network.network_type != "vxlan":
        return ()
    hosts = snapshot.vxlan_hosts.get(attachment.network.id, {})
    found = []
    for other in snapshot.amphorae:
        if other.id == amphora.id:
            continue
        for theirs in snapshot.amphora_ports.get(other.id, ()):
            if theirs.subnet.id != attachment.subnet.id:
                continue
            elsewhere = other.compute_id is not None and other.compute_id != amphora.compute_id
            found.append(Peer(address=canonical_ip(theirs.address),
                              mac=theirs.port.mac_address.lower(),
                              underlay=hosts.get(other.compute_id or "", "") if elsewhere
                              else ""))
    return tuple(sorted(found, key=lambda p: (p.address, p.mac)))


def _port(attachment: Attachment, with_gateway: bool, floating: tuple[str, ...] = (),
          flood: tuple[str, ...] = (), peers: tuple[Peer, ...] = ()) -> NetworkPort:
    """A port as plain data (routes only on the VIP's subnet)."""
    subnet, network = attachment.subnet, attachment.network
    prefix = _prefix(attachment)
    return NetworkPort(
        port_id=attachment.port.id,
        physical_network=network.physical_network or "",
        network_type=network.network_type,
        segmentation_id=(network.segmentation_id if network.network_type in ("vlan", "vxlan")
                         else None),
        mtu=network.mtu,
        mac=attachment.port.mac_address,
        addresses=(f"{attachment.address}/{prefix}",),
        gateway=subnet.gateway_ip if with_gateway else None,
        host_routes=tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes),
        floating=floating,
        flood=flood,
        peers=peers,
    )


def manifest(snapshot: LoadBalancerSnapshot) -> Manifest:
    """The ids of what the rendered config serves, for checking what the amphora reports."""
    listeners = rendered_listeners(snapshot) + udp_listeners(snapshot)
    pools = rendered_pools(snapshot) + udp_pools(snapshot)
    pool_ids = {p.id for p in pools}
    members = [m for m in snapshot.members if m.pool_id in pool_ids]
    monitored = {p.id for p in pools if (hm := snapshot.healthmonitor_of(p.id)) is not None
                 and hm.admin_state_up}
    return Manifest(
        listeners=tuple(li.id for li in listeners),
        pools=tuple(p.id for p in pools),
        members=tuple(m.id for m in members),
        monitored_members=tuple(m.id for m in members if m.pool_id in monitored),
        disabled_members=tuple(m.id for m in members if not m.admin_state_up),
        disabled_listeners=tuple(li.id for li in listeners
                                 if not (li.admin_state_up and snapshot.lb.admin_state_up)),
    )
