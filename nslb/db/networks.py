"""Network and subnet queries the network registry API needs beyond plain get/list."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nslb.db.ports import subnets_of
from nslb.db.tables import ip_allocation, network, port, subnet
from nslb.model.resources import Network

VLAN_MIN, VLAN_MAX = 1, 4094


def used_vlans(session: Session, physical_network: str) -> set[int]:
    stmt = select(network.c.segmentation_id).where(
        network.c.physical_network == physical_network,
        network.c.network_type == "vlan")
    return {v for v in session.scalars(stmt) if v is not None}


def lowest_free_vlan(session: Session, physical_network: str) -> int | None:
    used = used_vlans(session, physical_network)
    return next((v for v in range(VLAN_MIN, VLAN_MAX + 1) if v not in used), None)


def vni_in_use(session: Session, vni: int) -> bool:
    stmt = select(network.c.id).where(network.c.network_type == "vxlan",
                                      network.c.segmentation_id == vni)
    return session.execute(stmt).first() is not None


def lowest_free_vni(session: Session, vni_range: tuple[int, int]) -> int | None:
    """The lowest VNI of the range no VXLAN network has (Neutron's tenant allocation)."""
    first, last = vni_range
    stmt = select(network.c.segmentation_id).where(
        network.c.network_type == "vxlan", network.c.segmentation_id.between(first, last))
    used = set(session.scalars(stmt))
    return next((v for v in range(first, last + 1) if v not in used), None)


def flat_network_on(session: Session, physical_network: str) -> str | None:
    """The id of the flat network already on the physnet (the unique key cannot see
    flat networks: their segmentation_id is NULL)."""
    stmt = select(network.c.id).where(network.c.physical_network == physical_network,
                                      network.c.network_type == "flat")
    return session.scalars(stmt).first()


def subnet_ids_by_network(session: Session, network_ids: list[str]) -> dict[str, list[str]]:
    """Subnet ids per network, oldest first, in one query for a whole page."""
    out: dict[str, list[str]] = defaultdict(list)
    if network_ids:
        stmt = (select(subnet.c.network_id, subnet.c.id)
                .where(subnet.c.network_id.in_(network_ids))
                .order_by(subnet.c.created_at, subnet.c.id))
        for network_id, subnet_id in session.execute(stmt):
            out[network_id].append(subnet_id)
    return out


def subnet_cidrs(session: Session, network_id: str) -> list[str]:
    return [s.cidr for s in subnets_of(session, network_id)]


def subnet_in_use(session: Session, subnet_id: str) -> bool:
    stmt = select(func.count()).select_from(ip_allocation).where(
        ip_allocation.c.subnet_id == subnet_id)
    return bool(session.scalar(stmt))


def network_has_ports(session: Session, network_id: str) -> bool:
    stmt = select(func.count()).select_from(port).where(port.c.network_id == network_id)
    return bool(session.scalar(stmt))


def delete_network(session: Session, net: Network) -> None:
    """Delete the network with its subnets, as Neutron does once no ports are left."""
    session.execute(delete(subnet).where(subnet.c.network_id == net.id))
    session.delete(net)
    session.flush()
