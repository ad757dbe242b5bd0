"""Associating a floating IP with a fixed IPv4 address of a port, with Neutron's rules.

Neutron associates a floating IP only through a router that has a gateway on the floating
IP's external network and an interface on the fixed address's subnet. nslb keeps one
implicit router per internal subnet (FloatingRouter): the first association on a subnet
creates it, with a registry port holding the subnet's gateway address (the load balancers'
default route, so replies to outside clients come back through the NAT), and it keeps one
external network while any floating IP uses it, as a Neutron router keeps one gateway.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nslb.api.context import Context
from nslb.api.faults import ApiError, BadRequest, NotFound
from nslb.api.neutron import common as neutron
from nslb.db import floating as repo
from nslb.db import ports
from nslb.db.query import short
from nslb.model import ipam
from nslb.model.resources import FloatingIP, FloatingRouter, Network, Port, Subnet


def bad_request(message: str) -> BadRequest:
    return BadRequest(f"Bad floatingip request: {message}")


def unreachable(fip: FloatingIP, subnet_id: str, port_id: str, why: str = "") -> NotFound:
    """Neutron's ExternalGatewayForFloatingIPNotFound (a 404), with nslb's reason."""
    fault = NotFound(f"External network {fip.floating_network_id} is not reachable from "
                     f"subnet {subnet_id}.  Therefore, cannot associate Port {port_id} with "
                     f"a Floating IP.{' ' + why if why else ''}")
    fault.neutron_type = "ExternalGatewayForFloatingIPNotFound"
    return fault


def canonical(address: str, attribute: str) -> str:
    """An address from the request in the one spelling stored and compared."""
    try:
        return str(ipam.parse_address(address))
    except ipam.IpamError:
        raise neutron.invalid_input(attribute, f"'{short(address)}' is not a valid IP "
                                               f"address") from None


def _port(session: Session, port_id: str, fip: FloatingIP, ctx: Context) -> Port:
    """The port to associate: one the caller may see (another project's port answers as a
    missing one), of the floating IP's project unless the caller is an admin."""
    port: Port = neutron.find(session, Port, port_id, ctx, "Port")
    if not ctx.is_admin and port.project_id != fip.project_id:
        raise bad_request(f"Cannot process floating IP association with Port {port.id}, "
                          f"since that port is owned by a different project.")
    if port.device_owner.startswith("network:"):
        raise bad_request(f"Port {port.id} is a network device ({short(port.device_owner)}) "
                          f"and cannot have a floating IP.")
    return port


def _fixed(port: Port, requested: str | None) -> dict[str, str]:
    """The fixed IP entry of `port` to NAT to: the requested address, else the only IPv4."""
    if requested is not None:
        address = canonical(requested, "fixed_ip_address")
        if ":" in address:
            raise bad_request(f"Cannot process floating IP association with {address}, "
                              f"since that is not an IPv4 address.")
        for entry in port.fixed_ips:
            if entry["ip_address"] == address:
                return entry
        raise bad_request(f"Port {port.id} does not have fixed ip {address}.")
    ipv4 = [e for e in port.fixed_ips if ":" not in e["ip_address"]]
    if not ipv4:
        raise bad_request(f"Cannot add floating IP to port {port.id} that has no fixed IPv4 "
                          f"addresses.")
    if len(ipv4) > 1:
        raise bad_request(f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a "
                          f"specific IPv4 address when assigning a floating IP.")
    return ipv4[0]


def _check_free(session: Session, fip: FloatingIP, port: Port, address: str) -> None:
    other = repo.on_fixed_address(session, port.id, address)
    if other is not None and other.id != fip.id:
        raise already_associated(fip, port.id, address, other.floating_network_id)


def already_associated(fip: FloatingIP, port_id: str, address: str,
                       network_id: str) -> ApiError:
    return neutron.conflict(
        f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
        f"{port_id} using fixed IP {address}, as that fixed IP already has a floating IP on "
        f"external network {network_id}.", "FloatingIPPortAlreadyAssociated")


def associate(session: Session, fip: FloatingIP, port_id: str, fixed_ip_address: str | None,
              ctx: Context) -> None:
    """Point `fip` at a fixed address (status DOWN until the router applied it)."""
    port = _port(session, port_id, fip, ctx)
    entry = _fixed(port, fixed_ip_address)
    address = entry["ip_address"]
    if (fip.fixed_port_id, fip.fixed_ip_address) == (port.id, address):
        return
    _check_free(session, fip, port, address)
    subnet = session.get(Subnet, entry["subnet_id"])
    network = session.get(Network, port.network_id)
    if subnet is None or network is None or repo.is_external(session, network.id):
        raise unreachable(fip, entry["subnet_id"], port.id)
    router = _router(session, fip, subnet, network, port.id)
    fip.fixed_port_id, fip.fixed_ip_address, fip.router_id = port.id, address, router.id
    repo.touch(fip)
    fip.status = repo.DOWN
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another writer associated the same fixed IP meanwhile
        raise already_associated(fip, port.id, address, fip.floating_network_id) from None


def _router(session: Session, fip: FloatingIP, subnet: Subnet, network: Network,
            port_id: str) -> FloatingRouter:
    """The subnet's router, created on first use, with its gateway on the floating IP's
    external network."""
    router = repo.router_of_subnet(session, subnet.id)
    if router is None:
        router = _new_router(session, fip, subnet, network, port_id)
    if router.external_network_id != fip.floating_network_id:
        if repo.router_users(session, router.id, besides=fip.id):
            raise unreachable(fip, subnet.id, port_id, "Its router has its gateway on "
                              f"external network {router.external_network_id}.")
        router.external_network_id = fip.floating_network_id
    return router


def _new_router(session: Session, fip: FloatingIP, subnet: Subnet, network: Network,
                port_id: str) -> FloatingRouter:
    if subnet.gateway_ip is None or subnet.ip_version != 4:
        raise unreachable(fip, subnet.id, port_id, "The subnet has no IPv4 gateway_ip for "
                          "the router to take.")
    router = FloatingRouter(subnet_id=subnet.id, network_id=network.id,
                            external_network_id=fip.floating_network_id)
    try:
        gateway = ports.allocate_port(
            session, network=network, subnet=subnet, ip_address=subnet.gateway_ip,
            project_id="", device_owner=repo.ROUTER_INTERFACE_OWNER, device_id=router.id,
            allow_gateway=True)
    except ipam.AddressInUse:
        # A router created by a concurrent association took the address: use it.
        concurrent = repo.router_of_subnet(session, subnet.id)
        if concurrent is not None:
            return concurrent
        raise neutron.conflict(
            f"Unable to complete operation for network {network.id}. The IP address "
            f"{subnet.gateway_ip} is in use: the gateway address of subnet {subnet.id} "
            f"belongs to another port, and the router of a floating IP needs it.",
            "IpAddressInUse") from None
    router.port_id = gateway.id
    session.add(router)
    session.flush()
    return router
