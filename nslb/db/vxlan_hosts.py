"""Which hosts have a port on a VXLAN network: what head-end replication floods to.

A host has a port on a network when an amphora placed on it (`amphora.compute_id`) plugs
a port of that network: its own ports (VRRP and member ports of a pair member, device_id =
the amphora) or its LB's (the VIP port, device_id `lb-<id>` as in Octavia, and member
ports of a STANDALONE amphora, device_id = the LB). Only hosts whose agent reported an
underlay address count; in the embedded default (no agents) the answer is empty, and a
network stays on its one host.
"""

from __future__ import annotations

from sqlalchemy import literal, or_, select
from sqlalchemy.orm import Session

from nslb.db.tables import amphora, host, network, port
from nslb.model.enums import AmphoraStatus


def vxlan_hosts(session: Session, network_ids: set[str]) -> dict[str, dict[str, str]]:
    """network id -> {host id: underlay address}, one query for all of an LB's networks."""
    if not network_ids:
        return {}
    rows = session.execute(
        select(port.c.network_id, host.c.id, host.c.underlay_address)
        .select_from(port)
        .join(amphora, or_(amphora.c.id == port.c.device_id,
                           amphora.c.loadbalancer_id == port.c.device_id,
                           literal("lb-") + amphora.c.loadbalancer_id == port.c.device_id))
        .join(host, host.c.id == amphora.c.compute_id)
        .where(port.c.network_id.in_(sorted(network_ids)),
               amphora.c.status != AmphoraStatus.DELETED,
               host.c.underlay_address.is_not(None))
        .distinct()).all()
    found: dict[str, dict[str, str]] = {}
    for network_id, host_id, address in rows:
        found.setdefault(network_id, {})[host_id] = address
    return found


def vxlan_version(session: Session) -> int:
    """A digest of every VXLAN network's hosts (one query; 0 without VXLAN networks): the
    worker renders its LBs again when it moves, so bundles flood to the hosts that have a
    port on the network now, not those that had one when they were rendered."""
    overlays = select(network.c.id).where(network.c.network_type == "vxlan")
    if session.execute(overlays.limit(1)).first() is None:
        return 0
    found = vxlan_hosts(session, set(session.scalars(overlays)))
    return hash(tuple(sorted((n, h, a) for n, hosts in found.items()
                             for h, a in hosts.items())))
