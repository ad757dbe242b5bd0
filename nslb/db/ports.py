"""Ports and their addresses: the repository the load balancer code allocates VIPs and
member ports through, and the network API reuses.

Double allocation is prevented by the ip_allocation primary key (subnet_id, ip_address),
not by reading first: two writers that pick the same address collide on insert, and the
loser retries or reports AddressInUse. Each attempt runs in a SAVEPOINT so a collision
never spoils the caller's transaction. The caller commits.

Addresses are stored in their canonical spelling only (nslb.model.ipam parses every one
through nslb.model.addresses), so the key compares values, not texts: `FD88:0::1:77` is
`fd88::1:77`, and a scoped `fd88::1:77%x` never gets this far.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import delete, false, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.elements import ColumnElement

from nslb.db.lb_ports import MEMBER_OWNER, member_port_name, ports_of_device
from nslb.db.tables import ip_allocation, network, table_of
from nslb.model import addresses
from nslb.model.ipam import (
    AddressInUse,
    AddressOutsideSubnet,
    GatewayAddress,
    IpamError,
    NoFreeAddress,
    check_address,
    next_free,
    parse_address,
)
from nslb.model.resources import Network, Port, Subnet

_ATTEMPTS = 8


def get_network(session: Session, network_id: str) -> Network | None:
    return session.get(Network, network_id)


def get_subnet(session: Session, subnet_id: str) -> Subnet | None:
    return session.get(Subnet, subnet_id)


def get_port(session: Session, port_id: str) -> Port | None:
    return session.get(Port, port_id)


def subnets_of(session: Session, network_id: str) -> list[Subnet]:
    """The network's subnets, IPv4 first, then oldest first (the order ports draw from)."""
    stmt = (select(Subnet).where(Subnet.network_id == network_id)  # type: ignore[arg-type]
            .order_by(Subnet.ip_version, Subnet.created_at, Subnet.id))  # type: ignore[arg-type]
    return list(session.scalars(stmt))


def visible(obj: Any, project_id: str | None, is_admin: bool) -> bool:
    """Whether a caller may see `obj`: admins see all, owners see theirs, and everyone
    sees shared networks and, as in Neutron, the subnets of shared networks (looked up
    through the session `obj` is attached to; a detached subnet counts as not shared)."""
    if is_admin or (project_id and obj.project_id == project_id):
        return True
    if isinstance(obj, Network):
        return obj.shared
    if isinstance(obj, Subnet):
        session = object_session(obj)
        network = session.get(Network, obj.network_id) if session is not None else None
        return bool(network and network.shared)
    return False


def visible_clause(cls: type, project_id: str | None) -> ColumnElement[bool]:
    """visible() as SQL for a non-admin caller, so lists (and their pagination markers)
    are scoped in the query itself rather than filtered afterwards."""
    table = table_of(cls)
    owned = table.c.project_id == project_id if project_id else false()
    shared_networks = select(network.c.id).where(network.c.shared.is_(True))
    if cls is Network:
        return or_(owned, network.c.shared.is_(True))
    if cls is Subnet:
        return or_(owned, table.c.network_id.in_(shared_networks))
    return owned


def member_ports(session: Session, lb_id: str, project_id: str) -> list[Port]:
    """The member-network ports nslb created for LB `lb_id` itself: its owner, the LB as
    device, the LB's project and nslb's name. A port that merely claims the owner and
    device id (planted by hand, or through the API of an older version) is never plugged
    into the LB (probe 2026-12-03, F3)."""
    return [p for p in ports_of_device(session, lb_id, MEMBER_OWNER)
            if p.project_id == project_id and p.name == member_port_name(lb_id)
            and len(p.fixed_ips) == 1]


def random_mac() -> str:
    """A MAC under OpenStack's locally administered fa:16:3e prefix."""
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def used_addresses(session: Session, subnet_id: str) -> set[str]:
    """The subnet's allocated addresses, canonical. Rows an older version stored with an
    IPv6 scope id (`fd88::1:77%x`) count as the address without it, and rows that are not
    addresses at all are skipped, so they can neither break nor double an allocation."""
    stmt = select(ip_allocation.c.ip_address).where(ip_allocation.c.subnet_id == subnet_id)
    used = set()
    for stored in session.scalars(stmt):
        try:
            used.add(addresses.canonical_ip(stored.partition("%")[0]))
        except addresses.AddressError:
            continue
    return used


def allocate_port(session: Session, *, network: Network, subnet: Subnet | None,
                  ip_address: str | None, project_id: str, device_owner: str,
                  device_id: str, name: str = "", allow_gateway: bool = False) -> Port:
    """Create a port with one fixed IP on `network`, in the caller's transaction.

    `subnet` None: the first subnet (IPv4 first) holding `ip_address`, or with a free
    address. `ip_address` None: the next free pool address; an explicit one need only be
    inside the subnet (as in Neutron) and free, and it may be the subnet's gateway only
    with `allow_gateway` (an admin's request). Raises the nslb.model.ipam errors.
    """
    port = Port(project_id=project_id, network_id=network.id, name=name,
                mac_address=random_mac(), device_owner=device_owner, device_id=device_id)
    if ip_address is not None:
        target = subnet or _subnet_holding(session, network, ip_address)
        _check_on_network(network, target)
        address = check_address(target.cidr, ip_address)
        if not allow_gateway and target.gateway_ip and \
                address == addresses.canonical_ip(target.gateway_ip):
            raise GatewayAddress(f"IP address {address} is the gateway of subnet "
                                 f"{target.id}; only an admin may assign it to a port.")
        if address in used_addresses(session, target.id):  # also catches legacy spellings
            raise _in_use(target, address)
        _insert(session, port, target, address)
        return port
    candidates = [subnet] if subnet is not None else subnets_of(session, network.id)
    for candidate in candidates:
        _check_on_network(network, candidate)
        try:
            return _insert_next_free(session, port, candidate)
        except NoFreeAddress:
            continue
    raise NoFreeAddress(f"No more IP addresses available on network {network.id}.")


def release_port(session: Session, port_id: str) -> None:
    """Delete the port and free its addresses; a missing port is not an error."""
    session.execute(delete(ip_allocation).where(ip_allocation.c.port_id == port_id))
    port = get_port(session, port_id)
    if port is not None:
        session.delete(port)
        session.flush()


def _check_on_network(network: Network, subnet: Subnet) -> None:
    if subnet.network_id != network.id:
        raise IpamError(f"Invalid input for operation: Failed to create port on network "
                        f"{network.id}, because fixed_ips included invalid subnet "
                        f"{subnet.id}.")


def _subnet_holding(session: Session, network: Network, address: str) -> Subnet:
    ip = parse_address(address)
    for subnet in subnets_of(session, network.id):
        if ip in addresses.parse_network(subnet.cidr):
            return subnet
    raise AddressOutsideSubnet(f"IP address {ip} is not a valid IP for any subnet "
                               f"on network {network.id}.")


def _insert_next_free(session: Session, port: Port, subnet: Subnet) -> Port:
    """Retry on collisions: another writer may take the address we picked."""
    lost: set[str] = set()
    for _ in range(_ATTEMPTS):
        address = next_free(subnet.cidr, subnet.allocation_pools,
                            used_addresses(session, subnet.id), lost)
        try:
            _insert(session, port, subnet, address)
            return port
        except AddressInUse:
            lost.add(address)
    raise NoFreeAddress(f"No more IP addresses available on network {subnet.network_id}.")


def _insert(session: Session, port: Port, subnet: Subnet, address: str) -> None:
    port.fixed_ips = [{"subnet_id": subnet.id, "ip_address": address}]
    try:
        with session.begin_nested():
            session.add(port)
            session.flush()
            session.execute(insert(ip_allocation).values(
                subnet_id=subnet.id, ip_address=address, port_id=port.id))
    except IntegrityError:
        raise _in_use(subnet, address) from None


def _in_use(subnet: Subnet, address: str) -> AddressInUse:
    return AddressInUse(f"Unable to complete operation for network {subnet.network_id}. "
                        f"The IP address {address} is in use.")
