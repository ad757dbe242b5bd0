"""/v2.0/ports: read every port, and let users reserve an address (POST) and release it
(DELETE). Ports nslb made for its load balancers are released by nslb, never by hand.

Creating a port follows Neutron's default policy where a port could otherwise speak for
someone else on a shared network (probe 2026-12-03, F3): `network:` and `neutron:` owners
need an admin or the network's owner, nslb's own owners (VIPs, member plugs) are made by
nslb only, a non-owner of the network may not choose the address, and only an admin may
take a subnet's gateway address.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api.context import Context
from nslb.api.faults import Conflict, Forbidden
from nslb.api.http import context, parse, read_root, respond
from nslb.api.neutron import common as neutron
from nslb.api.neutron.common import Ident, Tags, Text
from nslb.db import floating
from nslb.db import ports as repo
from nslb.db.floating import FLOATING_OWNER, ROUTER_INTERFACE_OWNER
from nslb.db.lb_ports import VIP_OWNER
from nslb.db.query import short
from nslb.model import ipam
from nslb.model.resources import Amphora, LoadBalancer, Network, Port, Subnet

CREATABLE = {"network_id", "name", "description", "admin_state_up", "fixed_ips",
             "device_owner", "device_id", "tags", "project_id", "tenant_id"}
CONSTANTS = {"binding:vnic_type": "normal"}
NSLB_OWNERS = (VIP_OWNER, "nslb:")  # ports nslb made: VIPs and member plugs
NETWORK_OWNERS = ("network:", "neutron:")  # Neutron's network devices: router, DHCP, ...


class FixedIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subnet_id: Ident | None = None
    ip_address: Ident | None = None  # parsed by nslb.model.addresses through ipam


class PortBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network_id: Ident
    name: Text = ""
    description: Text = ""
    admin_state_up: bool = True
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=1)
    device_owner: Text = ""
    device_id: Text = ""
    tags: Tags = Field(default_factory=list)


def to_wire(port: Port) -> dict[str, Any]:
    return {
        **neutron.standard_attrs(port),
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "fixed_ips": [dict(f) for f in port.fixed_ips],
        "device_owner": port.device_owner,
        "device_id": port.device_id,
        "security_groups": [],
        "allowed_address_pairs": [],
        "binding:vnic_type": "normal",
    }


def wire_many(_session: Session, ports: list[Port]) -> list[dict[str, Any]]:
    return [to_wire(p) for p in ports]


COLLECTION = neutron.Collection(Port, "port", "ports", wire_many, constants=CONSTANTS)


def _subnet(session: Session, fixed: FixedIp | None, ctx: Context) -> Subnet | None:
    """The subnet a fixed IP names. One the caller may not see answers exactly like one
    that does not exist (no existence oracle on other projects' subnets, F9)."""
    if fixed is None or fixed.subnet_id is None:
        return None
    sub: Subnet = neutron.find(session, Subnet, fixed.subnet_id, ctx, "Subnet")
    return sub


def _owns_network(ctx: Context, network: Network) -> bool:
    return ctx.is_admin or (ctx.project_id is not None and network.project_id == ctx.project_id)


def check_device_owner(ctx: Context, network: Network, owner: str) -> None:
    """nslb's owners are nslb's alone (the snapshot plugs such ports into an LB);
    Neutron's `network:` owners need the network's owner or an admin."""
    if owner.lower().startswith(tuple(o.lower() for o in NSLB_OWNERS)):
        raise Forbidden(f"device_owner '{short(owner)}' is reserved for the ports nslb "
                        f"creates for its load balancers.")
    if owner.startswith(NETWORK_OWNERS) and not _owns_network(ctx, network):
        raise neutron.policy_denied("rule:create_port and rule:create_port:device_owner")


def check_fixed_ip(ctx: Context, network: Network, fixed: FixedIp | None) -> None:
    """Neutron's create_port:fixed_ips:ip_address: only the network's owner (or an admin)
    chooses an address; on a shared network everyone else takes the next free one."""
    if fixed is not None and fixed.ip_address is not None and not _owns_network(ctx, network):
        raise neutron.policy_denied(
            "rule:create_port and rule:create_port:fixed_ips:ip_address")


async def create(request: Request) -> Response:
    raw = await read_root(request, "port")
    neutron.check_attributes(raw, CREATABLE)
    body = parse(PortBody, raw, "port")
    ctx = context(request)
    project = neutron.project_for(ctx, raw)
    fixed = body.fixed_ips[0] if body.fixed_ips else None
    with request.app.state.db.write() as session:
        network: Network = neutron.find(session, Network, body.network_id, ctx, "Network")
        check_device_owner(ctx, network, body.device_owner)
        check_fixed_ip(ctx, network, fixed)
        subnet = _subnet(session, fixed, ctx)
        try:
            port = repo.allocate_port(
                session, network=network, subnet=subnet,
                ip_address=fixed.ip_address if fixed else None, project_id=project,
                device_owner=body.device_owner, device_id=body.device_id, name=body.name,
                allow_gateway=ctx.is_admin)
        except ipam.IpamError as exc:
            raise neutron.ipam_fault(exc) from None
        port.description, port.admin_state_up = body.description, body.admin_state_up
        port.tags = body.tags
        session.flush()
        item = to_wire(port)
    return respond({"port": item}, 201)


index = neutron.index_endpoint(COLLECTION)


def _load(session: Session, request: Request) -> Port:
    port: Port = neutron.find(session, Port, request.path_params["port_id"],
                              context(request), "Port")
    return port


async def get(request: Request) -> Response:
    with request.app.state.db.read() as session:
        item = to_wire(_load(session, request))
    return respond(neutron.show(request, item, "port"))


def held_by_a_load_balancer(session: Session, port: Port) -> bool:
    """Whether nslb serves a load balancer through `port`: an LB's VIP port, or a member
    port nslb made for an LB. A port that only carries nslb's owner (planted before the
    owners were reserved) is not, so its project can delete it."""
    if not port.device_owner.startswith(NSLB_OWNERS):
        return False
    if port.device_owner == VIP_OWNER:
        lb = session.get(LoadBalancer, port.device_id.removeprefix("lb-"))
        return lb is not None and lb.vip_port_id == port.id
    amphora = session.get(Amphora, port.device_id)
    if amphora is not None:  # a port of one amphora of an ACTIVE_STANDBY pair
        lb = session.get(LoadBalancer, amphora.loadbalancer_id or "")
        return lb is not None and (amphora.vrrp_port_id == port.id or any(
            p.id == port.id for p in repo.member_ports(session, amphora.id, lb.project_id)))
    lb = session.get(LoadBalancer, port.device_id)
    return lb is not None and any(
        p.id == port.id for p in repo.member_ports(session, lb.id, lb.project_id))


# Neutron's floating IP and router ports go with their floating IP or router, never alone.
ROUTER_OWNED = frozenset({FLOATING_OWNER, ROUTER_INTERFACE_OWNER})


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        port = _load(session, request)
        if held_by_a_load_balancer(session, port):
            raise Conflict(f"Port {port.id} belongs to {short(port.device_owner)} "
                           f"{short(port.device_id)} and is released with it.")
        if port.device_owner in ROUTER_OWNED:
            raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: "
                           f"has device owner {port.device_owner}.")
        floating.disassociate_port(session, port.id)
        repo.release_port(session, port.id)
    return respond(None, 204)
