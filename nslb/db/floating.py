"""Floating IPs, external networks and the implicit routers: the queries the floating IP
API and the router reconciler share.

The API writes intent (a floating IP, its association, the router of the internal subnet
and that router's port on the subnet's gateway address); the reconciler reads it, makes the
data plane match, and removes what no floating IP needs any more. Every write here runs in
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, insert, select, update
from sqlalchemy.orm import Session

from nslb.db.ports import release_port
from nslb.db.tables import external_network, floating_ip, floating_router, port
from nslb.model.resources import FloatingIP, FloatingRouter, utcnow

# Neutron's device owners for what a floating IP needs in the registry.
FLOATING_OWNER = "network:floatingip"
ROUTER_INTERFACE_OWNER = "network:router_interface"
ACTIVE, DOWN, ERROR = "ACTIVE", "DOWN", "ERROR"


# --- external networks -----------------------------------------------------------------------

def is_external(session: Session, network_id: str) -> bool:
    stmt = select(external_network.c.network_id).where(
        external_network.c.network_id == network_id)
    return session.scalar(stmt) is not None


def external_of(session: Session, network_ids: Iterable[str]) -> set[str]:
    """Which of `network_ids` are external, in one query for a page of networks."""
    ids = list(network_ids)
    if not ids:
        return set()
    stmt = select(external_network.c.network_id).where(external_network.c.network_id.in_(ids))
    return set(session.scalars(stmt))


def set_external(session: Session, network_id: str, external: bool) -> None:
    """Make the network external or internal (idempotent)."""
    if external and not is_external(session, network_id):
        session.execute(insert(external_network).values(network_id=network_id,
                                                        is_default=False))
    elif not external:
        session.execute(delete(external_network).where(
            external_network.c.network_id == network_id))


def external_ids() -> Select[tuple[str]]:
    """The ids of external networks as a subquery (for visibility and filters)."""
    return select(external_network.c.network_id)


def floating_ips_on(session: Session, network_id: str) -> int:
    stmt = select(func.count()).select_from(floating_ip).where(
        floating_ip.c.floating_network_id == network_id)
    return int(session.scalar(stmt) or 0)


# --- floating IPs ----------------------------------------------------------------------------

def on_fixed_address(session: Session, port_id: str, address: str) -> FloatingIP | None:
    """The floating IP associated with `address` of port `port_id`, if any."""
    stmt = select(FloatingIP).where(floating_ip.c.fixed_port_id == port_id,
                                    floating_ip.c.fixed_ip_address == address)
    return session.scalars(stmt).first()


def associated(session: Session) -> list[FloatingIP]:
    """Every floating IP with a router, in a stable order."""
    stmt = (select(FloatingIP).where(floating_ip.c.router_id.is_not(None))
            .order_by(floating_ip.c.router_id, floating_ip.c.floating_ip_address))
    return list(session.scalars(stmt))


def disassociate(fip: FloatingIP) -> None:
    fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
    fip.status = DOWN
    fip.updated_at = utcnow()


def disassociate_port(session: Session, port_id: str) -> int:
    """Disassociate the floating IPs of a port that is going away (Neutron does this when
    a port is deleted); returns how many there were."""
    result = session.execute(
        update(floating_ip).where(floating_ip.c.fixed_port_id == port_id)
        .values(fixed_port_id=None, fixed_ip_address=None, router_id=None, status=DOWN,
                updated_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def orphans(session: Session) -> list[str]:
    """Ids of associated floating IPs whose fixed port is gone or no longer holds the
    fixed address, or whose router is gone (one query of a few columns: it runs every
    second)."""
    stmt = (select(floating_ip.c.id, floating_ip.c.fixed_ip_address, port.c.fixed_ips,
                   floating_router.c.id.label("held"))
            .outerjoin(port, port.c.id == floating_ip.c.fixed_port_id)
            .outerjoin(floating_router, floating_router.c.id == floating_ip.c.router_id)
            .where(floating_ip.c.router_id.is_not(None)))
    found = []
    for fip_id, address, fixed_ips, held in session.execute(stmt):
        if held is None or address not in {ip.get("ip_address") for ip in fixed_ips or ()}:
            found.append(fip_id)
    return found


def disassociate_orphans(session: Session) -> list[str]:
    """Disassociate the orphans (see orphans()); returns their ids."""
    gone = orphans(session)
    for fip_id in gone:
        fip = session.get(FloatingIP, fip_id)
        if fip is not None:
            disassociate(fip)
    session.flush()
    return gone


def set_status(session: Session, fip: FloatingIP, status: str) -> bool:
    """Set the status of `fip` if its association is still the one that was applied;
    False when the row changed meanwhile (the next round settles it)."""
    result = session.execute(
        update(floating_ip).where(
            floating_ip.c.id == fip.id, floating_ip.c.router_id == fip.router_id,
            floating_ip.c.fixed_port_id == fip.fixed_port_id,
            floating_ip.c.fixed_ip_address == fip.fixed_ip_address,
            floating_ip.c.status != status)
        .values(status=status, updated_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- routers ---------------------------------------------------------------------------------

def router_of_subnet(session: Session, subnet_id: str) -> FloatingRouter | None:
    stmt = select(FloatingRouter).where(floating_router.c.subnet_id == subnet_id)
    return session.scalars(stmt).first()


def router_users(session: Session, router_id: str, besides: str | None = None) -> int:
    """How many floating IPs (other than `besides`) a router serves."""
    conditions = [floating_ip.c.router_id == router_id]
    if besides is not None:
        conditions.append(floating_ip.c.id != besides)
    stmt = select(func.count()).select_from(floating_ip).where(and_(*conditions))
    return int(session.scalar(stmt) or 0)


def routers(session: Session) -> list[FloatingRouter]:
    return list(session.scalars(select(FloatingRouter).order_by(floating_router.c.id)))


def unused_routers(session: Session, present: set[str]) -> list[FloatingRouter]:
    """Routers that serve no floating IP and have no data plane left (`present` are the
    routers still on the host)."""
    serving = select(floating_ip.c.router_id).where(floating_ip.c.router_id.is_not(None))
    stmt = select(FloatingRouter).where(floating_router.c.id.not_in(serving))
    return [r for r in session.scalars(stmt) if r.id not in present]


def drop_unused_routers(session: Session, present: set[str]) -> list[str]:
    """Remove the unused routers, releasing their gateway ports; returns their ids."""
    dropped = []
    for router in unused_routers(session, present):
        release_port(session, router.port_id)
        session.delete(router)
        dropped.append(router.id)
    session.flush()
    return dropped


def touch(fip: FloatingIP, when: datetime | None = None) -> None:
    fip.updated_at = when or utcnow()
