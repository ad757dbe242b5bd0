"""Where a load balancer's VIP comes from: an existing port, a subnet or a network.

Runs in the API's write transaction, so a failed create leaves no port behind.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from nslb.db import bridge_room, ports
from nslb.db.lb_ports import MEMBER_OWNER, VIP_OWNER, member_port_name, vip_port_name
from nslb.db.query import short
from nslb.lbaas.errors import Conflict, DomainError, Forbidden, Invalid, ValidationFailure
from nslb.model import ipam
from nslb.model.resources import Network, Port, Subnet


class Caller(Protocol):
    """Who asks: a project sees its own networks and the shared ones, an admin all, and
    only an admin may take a subnet's gateway address (the API's Context is one)."""

    @property
    def project_id(self) -> str | None: ...

    @property
    def is_admin(self) -> bool: ...


class VipRequest(Protocol):
    """Where the VIP should come from, as Octavia's load balancer create names it."""

    @property
    def vip_port_id(self) -> str | None: ...

    @property
    def vip_subnet_id(self) -> str | None: ...

    @property
    def vip_network_id(self) -> str | None: ...

    @property
    def vip_address(self) -> str | None: ...


def ipam_error(exc: ipam.IpamError) -> DomainError:
    """Neutron's codes: an address in use or an exhausted subnet is 409, a gateway address
    asked for by a non-admin 403 (as the port API answers), the rest 400."""
    if isinstance(exc, ipam.AddressInUse | ipam.NoFreeAddress):
        return Conflict(str(exc))
    if isinstance(exc, ipam.GatewayAddress):
        return Forbidden(str(exc))
    return Invalid(f"Validation failure: {exc}")


def _network(session: Session, network_id: str, ctx: Caller) -> Network:
    network = ports.get_network(session, network_id)
    if network is None or not ports.visible(network, ctx.project_id, ctx.is_admin):
        raise ValidationFailure(f"Network {short(network_id)} not found.")
    return network


def _subnet(session: Session, subnet_id: str, ctx: Caller) -> tuple[Subnet, Network]:
    """The subnet and its network if the caller may use them; a subnet of another project
    answers exactly like a missing one, before anything else is looked at (F9)."""
    subnet = ports.get_subnet(session, subnet_id)
    network = ports.get_network(session, subnet.network_id) if subnet else None
    if subnet is None or network is None or not ports.visible(network, ctx.project_id,
                                                              ctx.is_admin):
        raise ValidationFailure(f"Subnet {short(subnet_id)} not found.")
    return subnet, network


def _adopt(session: Session, data: VipRequest, ctx: Caller,
           lb_id: str) -> tuple[Port, Subnet, Network]:
    assert data.vip_port_id is not None
    port = ports.get_port(session, data.vip_port_id)
    if port is None or not ports.visible(port, ctx.project_id, ctx.is_admin):
        raise ValidationFailure(f"Port {short(data.vip_port_id)} not found.")
    if port.device_id:
        raise Conflict(f"Port {port.id} is already in use by {short(port.device_owner)} "
                       f"{short(port.device_id)}.")
    if not port.fixed_ips:
        raise ValidationFailure(f"Port {port.id} has no fixed IP to use as the VIP.")
    chosen = port.fixed_ips[0]
    if data.vip_address:
        try:  # by value: fixed IPs are stored canonical, the request may spell it otherwise
            wanted = str(ipam.parse_address(data.vip_address))
        except ipam.IpamError as exc:
            raise ValidationFailure(exc.message) from None
        match = [ip for ip in port.fixed_ips if ip["ip_address"] == wanted]
        if not match:
            raise ValidationFailure(f"vip_address {wanted} is not on port {port.id}.")
        chosen = match[0]
    subnet, network = _subnet(session, chosen["subnet_id"], ctx)
    port.device_owner, port.device_id = VIP_OWNER, f"lb-{lb_id}"
    port.fixed_ips = [chosen]
    return port, subnet, network


def allocate_vip(session: Session, data: VipRequest, ctx: Caller, project_id: str,
                 lb_id: str) -> tuple[Port, Subnet, Network]:
    """Resolve or create the VIP port; returns (port, subnet, network). Refused (Conflict)
    when the host bridge behind the network has no room for it (db/bridge_room.py): a 201
    followed by ERROR is all the driver could do later."""
    port, subnet, network = _vip_port(session, data, ctx, project_id, lb_id)
    session.flush()
    if (full := bridge_room.overflow(session, network)) is not None:
        raise Conflict(full)
    return port, subnet, network


def _vip_port(session: Session, data: VipRequest, ctx: Caller, project_id: str,
              lb_id: str) -> tuple[Port, Subnet, Network]:
    if data.vip_port_id:
        return _adopt(session, data, ctx, lb_id)
    subnet: Subnet | None = None
    if data.vip_subnet_id:
        subnet, network = _subnet(session, data.vip_subnet_id, ctx)
        if data.vip_network_id and data.vip_network_id != network.id:
            raise ValidationFailure(
                f"vip_subnet_id {subnet.id} is not on vip_network_id {data.vip_network_id}.")
    elif data.vip_network_id:
        network = _network(session, data.vip_network_id, ctx)
    else:
        raise ValidationFailure(
            "VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    try:
        port = ports.allocate_port(session, network=network, subnet=subnet,
                                   ip_address=data.vip_address, project_id=project_id,
                                   device_owner=VIP_OWNER, device_id=f"lb-{lb_id}",
                                   name=vip_port_name(lb_id), allow_gateway=ctx.is_admin)
    except ipam.IpamError as exc:
        raise ipam_error(exc) from None
    chosen_subnet = ports.get_subnet(session, port.fixed_ips[0]["subnet_id"])
    assert chosen_subnet is not None
    return port, chosen_subnet, network


def ensure_member_port(session: Session, lb_id: str, project_id: str, vip_subnet_id: str,
                       subnet: Subnet, network: Network) -> None:
    """Give the LB a port on a member's subnet (as Octavia plugs member networks). Only a
    port nslb made for this LB counts as one (ports.member_ports)."""
    if subnet.id == vip_subnet_id:
        return
    for port in ports.member_ports(session, lb_id, project_id):
        if port.fixed_ips[0]["subnet_id"] == subnet.id:
            return
    try:
        ports.allocate_port(session, network=network, subnet=subnet, ip_address=None,
                            project_id=project_id, device_owner=MEMBER_OWNER,
                            device_id=lb_id, name=member_port_name(lb_id))
    except ipam.IpamError as exc:
        raise ipam_error(exc) from None


def plug_member_subnet(session: Session, lb_id: str, vip_subnet_id: str, address: str,
                       subnet_id: str | None, ctx: Caller, project_id: str) -> None:
    """A member on a subnet must have its address in it, and the LB gets a port there.
    Visibility is checked first: whether the address is inside another project's subnet
    must not change the answer (the CIDR oracle of F9)."""
    if subnet_id is None:
        return
    subnet, network = _subnet(session, subnet_id, ctx)
    try:
        ipam.check_address(subnet.cidr, address)
    except ipam.IpamError as exc:
        raise ValidationFailure(f"Member address {short(address)} is not on subnet "
                                f"{subnet.id}: {exc}") from None
    ensure_member_port(session, lb_id, project_id, vip_subnet_id, subnet, network)
