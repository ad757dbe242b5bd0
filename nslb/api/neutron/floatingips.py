"""/v2.0/floatingips: Neutron's floating IPs, in Neutron's shapes, errors and policy.

A floating IP is an IPv4 address of an external network (`router:external`), held by a
registry port (device_owner network:floatingip, no project, as in Neutron) so the IPAM's
ip_allocation key keeps it unique by value. Associated with a fixed IP of a port
(fip_association.py), it is NATed by the router of that port's subnet; nslb.floating makes
the data plane follow and reports ACTIVE once the router applied it (DOWN before, and
whenever it is not associated; ERROR when the router could not be built).

Projects see and change their own floating IPs only; a port of another project answers as
a missing one. Choosing the address is admin-only (Neutron's
create_floatingip:floating_ip_address).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api.context import Context
from nslb.api.faults import NotFound
from nslb.api.http import context, parse, read_root, respond
from nslb.api.neutron import common as neutron
from nslb.api.neutron.common import Ident, Text
from nslb.api.neutron.fip_association import associate, bad_request, canonical
from nslb.db import floating as repo
from nslb.db import ports
from nslb.db.query import short
from nslb.model import ipam
from nslb.model.resources import FloatingIP, Network, Subnet, utcnow

Address = Annotated[str, StringConstraints(max_length=64)]  # parsed by nslb.model.addresses
UPDATABLE = {"port_id", "fixed_ip_address", "description"}
CREATABLE = UPDATABLE | {"floating_network_id", "floating_ip_address", "subnet_id",
                         "project_id", "tenant_id"}
ADMIN_ONLY = ("floating_ip_address",)


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    floating_network_id: Ident | None = None
    floating_ip_address: Address | None = None
    subnet_id: Ident | None = None
    port_id: Ident | None = None
    fixed_ip_address: Address | None = None
    description: Text = ""


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    port_id: Ident | None = None
    fixed_ip_address: Address | None = None
    description: Text = ""


def to_wire(fip: FloatingIP) -> dict[str, Any]:
    return {
        "id": fip.id,
        "tenant_id": fip.project_id,
        "project_id": fip.project_id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "description": fip.description,
        "tags": list(fip.tags),
        "created_at": neutron.iso(fip.created_at),
        "updated_at": neutron.iso(fip.updated_at or fip.created_at),
        "revision_number": neutron.REVISION,
    }


def wire_many(_session: Session, fips: list[FloatingIP]) -> list[dict[str, Any]]:
    return [to_wire(f) for f in fips]


COLLECTION = neutron.Collection(FloatingIP, "floatingip", "floatingips", wire_many,
                                columns={"port_id": "fixed_port_id",
                                         "subnet_id": "floating_subnet_id"})


def not_found(ident: str) -> NotFound:
    fault = NotFound(f"Floating IP {short(ident)} could not be found")
    fault.neutron_type = "FloatingIPNotFound"
    return fault


def _external_network(session: Session, network_id: str, ctx: Context) -> Network:
    """The floating network: visible to the caller (every project sees external ones),
    else Neutron's 404; visible but not external, a 400."""
    net = session.get(Network, network_id)
    external = net is not None and repo.is_external(session, net.id)
    if net is None or not (external or ports.visible(net, ctx.project_id, ctx.is_admin)):
        raise neutron.not_found("Network", network_id)
    if not external:
        raise bad_request(f"Network {net.id} is not a valid external network.")
    return net


def _ipv4_subnets(session: Session, net: Network, subnet_id: str | None) -> list[Subnet]:
    """The subnets a floating address may come from: the one asked for, or every IPv4
    subnet of the network (Neutron's floating IPs are IPv4)."""
    if subnet_id is not None:
        subnet = session.get(Subnet, subnet_id)
        if subnet is None or subnet.network_id != net.id:
            raise bad_request(f"Subnet {short(subnet_id)} is not on network {net.id}.")
        candidates = [subnet]
    else:
        candidates = ports.subnets_of(session, net.id)
    ipv4 = [s for s in candidates if s.ip_version == 4]
    if not ipv4:
        raise bad_request(f"Network {net.id} does not contain any IPv4 subnet.")
    return ipv4


def _allocate(session: Session, fip: FloatingIP, net: Network, body: CreateBody) -> None:
    """Take the floating address: the requested one, or the next free one."""
    subnets = _ipv4_subnets(session, net, body.subnet_id)
    wanted = None
    if body.floating_ip_address is not None:
        wanted = canonical(body.floating_ip_address, "floating_ip_address")
        if ":" in wanted:
            raise bad_request(f"Floating IP {wanted} is not an IPv4 address.")
    last: ipam.IpamError | None = None
    for subnet in subnets:
        if wanted is not None and ipam.parse_address(wanted) not in ipam.parse_cidr(subnet.cidr):
            continue
        try:
            port = ports.allocate_port(session, network=net, subnet=subnet, ip_address=wanted,
                                       project_id="", device_owner=repo.FLOATING_OWNER,
                                       device_id=fip.id)
        except ipam.NoFreeAddress as exc:
            last = exc
            continue
        except ipam.GatewayAddress:
            raise bad_request(f"IP address {wanted} is the gateway of subnet {subnet.id} "
                              f"and cannot be a floating IP.") from None
        except ipam.IpamError as exc:
            raise neutron.ipam_fault(exc) from None
        fixed = port.fixed_ips[0]
        fip.floating_port_id, fip.floating_subnet_id = port.id, fixed["subnet_id"]
        fip.floating_ip_address = fixed["ip_address"]
        return
    if wanted is not None:
        raise bad_request(f"IP address {wanted} is not a valid IP for any IPv4 subnet on "
                          f"network {net.id}.")
    raise neutron.ipam_fault(last or ipam.NoFreeAddress(
        f"No more IP addresses available on network {net.id}."))


def _check_fixed_without_port(raw: dict[str, Any]) -> None:
    if raw.get("fixed_ip_address") is not None and raw.get("port_id") is None:
        raise bad_request("fixed_ip_address cannot be specified without a port_id.")


async def create(request: Request) -> Response:
    raw = await read_root(request, "floatingip")
    neutron.check_attributes(raw, CREATABLE)
    body = parse(CreateBody, raw, "floatingip")
    ctx = context(request)
    neutron.check_admin_attributes(ctx, raw, "create_floatingip", ADMIN_ONLY)
    project = neutron.project_for(ctx, raw)
    if not body.floating_network_id:
        raise neutron.invalid_input("floating_network_id", "'None' is not a valid UUID")
    _check_fixed_without_port(raw)
    with request.app.state.db.write() as session:
        net = _external_network(session, body.floating_network_id, ctx)
        fip = FloatingIP(project_id=project, description=body.description,
                         floating_network_id=net.id)
        _allocate(session, fip, net, body)
        session.add(fip)
        session.flush()
        if body.port_id is not None:
            associate(session, fip, body.port_id, body.fixed_ip_address, ctx)
        item = to_wire(fip)
    request.app.state.kick(None)
    return respond({"floatingip": item}, 201)


index = neutron.index_endpoint(COLLECTION)


def _load(session: Session, request: Request) -> FloatingIP:
    ident, ctx = request.path_params["floatingip_id"], context(request)
    fip = session.get(FloatingIP, ident)
    if fip is None or not ports.visible(fip, ctx.project_id, ctx.is_admin):
        raise not_found(ident)
    return fip


async def get(request: Request) -> Response:
    with request.app.state.db.read() as session:
        item = to_wire(_load(session, request))
    return respond(neutron.show(request, item, "floatingip"))


def _change_association(session: Session, fip: FloatingIP, raw: dict[str, Any],
                        body: UpdateBody, ctx: Context) -> None:
    """Neutron's update: `port_id` null disassociates, a port associates; a fixed address
    alone re-points an associated floating IP within its port."""
    if "port_id" in raw:
        if body.port_id is None:
            if fip.router_id is not None or fip.fixed_port_id is not None:
                repo.disassociate(fip)
            return
        associate(session, fip, body.port_id, body.fixed_ip_address, ctx)
    elif body.fixed_ip_address is not None:
        if fip.fixed_port_id is None:
            raise bad_request("fixed_ip_address cannot be specified without a port_id.")
        associate(session, fip, fip.fixed_port_id, body.fixed_ip_address, ctx)


async def update(request: Request) -> Response:
    raw = await read_root(request, "floatingip")
    neutron.check_attributes(raw, CREATABLE)
    neutron.check_read_only(raw, UPDATABLE)
    body = parse(UpdateBody, raw, "floatingip")
    ctx = context(request)
    with request.app.state.db.write() as session:
        fip = _load(session, request)
        neutron.check_owner(ctx, fip.project_id, "update_floatingip")
        _change_association(session, fip, raw, body, ctx)
        if "description" in raw:
            fip.description = body.description
        fip.updated_at = utcnow()
        session.flush()
        item = to_wire(fip)
    request.app.state.kick(None)
    return respond({"floatingip": item})


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        fip = _load(session, request)
        neutron.check_owner(context(request), fip.project_id, "delete_floatingip")
        ports.release_port(session, fip.floating_port_id)
        session.delete(fip)
    request.app.state.kick(None)
    return respond(None, 204)

